"""``rlm-desktop selftest``: passes end to end with the real 0.5B model, fails clearly (with
the command that fixes it) when the model is missing, and never writes into the user's
data dir."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from rlm_desktop import cli
from rlm_desktop.cli.selftest import _Failed, check_answer, display_libraries_result
from rlm_desktop.gui.platform_check import LIBS_ENV
from rlm_desktop.settings import TEST_MODEL


@pytest.mark.model
def test_selftest_passes_with_the_real_model(small_model_path: Path, isolated_data: Path) -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "rlm_desktop", "selftest"],
        capture_output=True, text=True, timeout=1200,
        env={**os.environ, "QT_QPA_PLATFORM": "offscreen"},
    )
    lines = proc.stdout.splitlines()
    assert proc.returncode == 0, proc.stdout + proc.stderr[-3000:]
    for check in ("llama.cpp", "model", "index", "sandbox", "answer", "window"):
        assert any(line.startswith(f"PASS {check}:") for line in lines), proc.stdout
    assert "selftest passed" in lines[-1]
    assert not (isolated_data / "library.db").exists()  # ran in its own temporary data dir


def test_missing_model_fails_with_the_install_command(
    empty_models_dir: Path, isolated_data: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code = cli.main(["selftest", "--skip-gui"])
    out = capsys.readouterr().out
    assert code == 1
    model_line = next(line for line in out.splitlines() if line.startswith(("PASS model", "FAIL model")))
    assert model_line.startswith("FAIL model")
    assert f"rlm-desktop models install {TEST_MODEL}" in model_line
    assert "SKIP answer" in out
    assert "PASS index" in out and "PASS sandbox" in out  # what needs no model still runs
    assert any(line.startswith(("PASS display libraries:", "SKIP display libraries:")) for line in out.splitlines())
    assert out.splitlines()[-1] == "selftest FAILED: model, answer"
    assert os.environ["RLM_DESKTOP_DATA"] == str(isolated_data)
    assert not (isolated_data / "library.db").exists()


@pytest.mark.parametrize(
    "result, why",
    [
        ({"answer": "", "status": "ok", "citations": [{"path": "/s/notes.md", "line": 3}]}, "no finished answer"),
        ({"answer": "2.35 m", "status": "ok", "citations": []}, "no citation"),
        ({"answer": "2.35 m", "status": "budget_exhausted", "citations": [{"path": "/s/notes.md", "line": 3}]},
         "no finished answer"),
    ],
)
def test_answer_check_refuses_empty_uncited_or_unfinished_answers(result: dict, why: str) -> None:
    with pytest.raises(_Failed, match=why):
        check_answer({**result, "stats": {}})


def test_answer_check_accepts_a_cited_answer() -> None:
    line = check_answer({"answer": "2.35 m", "status": "ok", "citations": [{"path": "/s/notes.md", "line": 14}],
                         "stats": {"iterations": 2, "wall_s": 9.0}})
    assert "notes.md:14" in line and "mentions the expected" in line


@pytest.mark.parametrize(
    "env, line",
    [
        ({"DISPLAY": ":99"}, "FAIL display libraries: X display :99: missing libxcb-nothere.so.9; install with "
                             "Debian/Ubuntu: sudo apt-get install libxcb-nothere9; Fedora: sudo dnf install xcb-util-nothere"),
        ({"DISPLAY": ":99", "QT_QPA_PLATFORM": "offscreen"},
         "SKIP display libraries: not needed now (QT_QPA_PLATFORM=offscreen); an X display needs them: "
         "missing libxcb-nothere.so.9; install with"),
    ],
)
def test_display_libraries_line_names_what_is_missing(
    env: dict, line: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in ("DISPLAY", "WAYLAND_DISPLAY", "QT_QPA_PLATFORM"):
        monkeypatch.delenv(name, raising=False)
    for name, value in {**env, LIBS_ENV: "libxcb-nothere.so.9:libxcb-nothere9:xcb-util-nothere"}.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setattr(sys, "platform", "linux")
    result = display_libraries_result()
    assert result.line().startswith(line)
    assert result.ok is line.startswith("SKIP")  # only a display that would use xcb fails the selftest


def test_display_libraries_pass_when_they_all_load(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DISPLAY", ":99")
    monkeypatch.delenv("WAYLAND_DISPLAY", raising=False)
    monkeypatch.delenv("QT_QPA_PLATFORM", raising=False)
    monkeypatch.setenv(LIBS_ENV, "libc.so.6:libc6:glibc")
    monkeypatch.setattr(sys, "platform", "linux")
    assert display_libraries_result().line() == (
        "PASS display libraries: the 1 system libraries of Qt's xcb plugin load (X display :99)")
