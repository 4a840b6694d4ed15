"""Where things live: the data dir (library, runs, cache, logs), the models dir, and the
bundled resources (also inside a PyInstaller bundle, where ``sys._MEIPASS`` moves them).

``RLM_DESKTOP_DATA`` and ``RLM_DESKTOP_MODELS`` override the per-user defaults so tests
and scripts stay isolated from a person's real data."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import platformdirs

APP_NAME = "rlm-desktop"


def data_dir() -> Path:
    env = os.environ.get("RLM_DESKTOP_DATA")
    path = Path(env).expanduser() if env else Path(platformdirs.user_data_dir(APP_NAME, appauthor=False))
    path.mkdir(parents=True, exist_ok=True)
    return path


def models_dir() -> Path:
    env = os.environ.get("RLM_DESKTOP_MODELS")
    path = Path(env).expanduser() if env else Path(platformdirs.user_data_dir(APP_NAME, appauthor=False)) / "models"
    path.mkdir(parents=True, exist_ok=True)
    return path


def library_db() -> Path:
    return data_dir() / "library.db"


def runs_db() -> Path:
    return data_dir() / "runs.db"


def cache_db() -> Path:
    return data_dir() / "cache.db"


def log_file() -> Path:
    logs = data_dir() / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    return logs / "rlm-desktop.log"


def _bundle_root() -> Path:
    meipass = getattr(sys, "_MEIPASS", None)
    if meipass:
        return Path(meipass)
    return Path(__file__).resolve().parent.parent


def resources_dir() -> Path:
    """Bundled resources: ``resources/`` beside the package in a checkout, or inside the
    package data when installed from a wheel, or under ``_MEIPASS`` in a bundle."""
    for candidate in (_bundle_root() / "resources", Path(__file__).resolve().parent / "resources"):
        if candidate.is_dir():
            return candidate
    return _bundle_root() / "resources"


def catalog_file() -> Path:
    for candidate in (_bundle_root() / "models" / "catalog.toml", Path(__file__).resolve().parent / "models" / "catalog.toml"):
        if candidate.is_file():
            return candidate
    return _bundle_root() / "models" / "catalog.toml"


def samples_dir() -> Path:
    return resources_dir() / "samples"
