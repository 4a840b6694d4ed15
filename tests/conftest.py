"""Shared fixtures. Every test gets its own data dir (``RLM_DESKTOP_DATA``) so none touches
a person's real library or runs. Real-model tests find the installed models through
``RLM_DESKTOP_MODELS`` or the per-user models dir, captured before isolation."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from rlm_desktop import paths
from rlm_desktop.settings import DEFAULT_ROOT_MODEL, TEST_MODEL

_REAL_MODELS_DIR = paths.models_dir()


@pytest.fixture(autouse=True)
def isolated_data(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> Path:
    data = tmp_path_factory.mktemp("data")
    monkeypatch.setenv("RLM_DESKTOP_DATA", str(data))
    monkeypatch.setenv("RLM_DESKTOP_MODELS", str(_REAL_MODELS_DIR))
    return data


@pytest.fixture
def empty_models_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    models = tmp_path / "models"
    models.mkdir()
    monkeypatch.setenv("RLM_DESKTOP_MODELS", str(models))
    return models


def _model_file(name: str) -> Path:
    path = _REAL_MODELS_DIR / f"{name}.gguf"
    if not path.is_file():
        pytest.fail(f"model {name} is not installed in {_REAL_MODELS_DIR}; run `make test` (it installs it)")
    return path


@pytest.fixture(scope="session")
def small_model_path() -> Path:
    """The real 0.5B GGUF. ``make test`` installs it, so its absence is a failure, not a skip."""
    return _model_file(TEST_MODEL)


@pytest.fixture(scope="session")
def root_model_path() -> Path:
    path = _REAL_MODELS_DIR / f"{DEFAULT_ROOT_MODEL}.gguf"
    if not path.is_file():
        pytest.skip("the 1.5B root model is not installed (make run installs it)")
    return path


@pytest.fixture
def scripted_backend():
    from tests.fakes import ScriptedBackend

    return ScriptedBackend()


os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
