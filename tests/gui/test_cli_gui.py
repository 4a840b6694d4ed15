"""``rlm-desktop gui``: with no display, or an X display whose xcb libraries are missing, it
says so (naming them and the install command) and, with --fallback-sample, answers the
sample question through ``ask``."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from rlm_desktop import cli, paths
from rlm_desktop.cli import gui as gui_cli
from rlm_desktop.gui.platform_check import LIBS_ENV

MISSING_LIB = "libxcb-nothere.so.9:libxcb-nothere9:xcb-util-nothere"


@pytest.mark.parametrize(
    ("env", "expected"),
    [
        ({}, False),
        ({"DISPLAY": ":0"}, True),
        ({"WAYLAND_DISPLAY": "wayland-0"}, True),
        ({"QT_QPA_PLATFORM": "offscreen"}, True),
        ({"QT_QPA_PLATFORM": "xcb"}, False),
    ],
)
def test_display_detection_on_linux(env, expected):
    assert gui_cli.has_display(env, "linux") is expected


def test_no_display_runs_the_sample_question_through_ask(monkeypatch, capsys):
    for name in ("DISPLAY", "WAYLAND_DISPLAY", "QT_QPA_PLATFORM"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setattr(gui_cli.sys, "platform", "linux")
    calls = []
    real_main = cli.main
    monkeypatch.setattr(cli, "main", lambda argv: calls.append(argv) or 0)
    assert real_main(["gui", "--fallback-sample"]) == 0
    question = (paths.samples_dir() / "QUESTION.txt").read_text(encoding="utf-8").strip()
    assert calls == [["ask", "--folder", str(paths.samples_dir()), question]]
    assert "No display found; running the sample question through the CLI instead" in capsys.readouterr().err


def test_no_display_without_fallback_fails_with_a_message(monkeypatch, capsys):
    for name in ("DISPLAY", "WAYLAND_DISPLAY", "QT_QPA_PLATFORM"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setattr(gui_cli.sys, "platform", "linux")
    assert cli.main(["gui"]) == 1
    assert "No display found" in capsys.readouterr().err


@pytest.fixture
def x_display_without_xcb_libraries(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("WAYLAND_DISPLAY", "QT_QPA_PLATFORM"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("DISPLAY", ":99")
    monkeypatch.setenv(LIBS_ENV, MISSING_LIB)
    monkeypatch.setattr(gui_cli.sys, "platform", "linux")


def test_missing_xcb_libraries_are_named_then_the_sample_runs_through_ask(
    x_display_without_xcb_libraries: None, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    calls = []
    real_main = cli.main
    monkeypatch.setattr(cli, "main", lambda argv: calls.append(argv) or 0)
    assert real_main(["gui", "--fallback-sample"]) == 0
    assert calls == [["ask", "--folder", str(paths.samples_dir()), gui_cli.sample_question()]]
    err = capsys.readouterr().err
    assert "libxcb-nothere.so.9 (Debian/Ubuntu: libxcb-nothere9, Fedora: xcb-util-nothere)" in err
    assert "sudo apt-get install libxcb-nothere9" in err and "sudo dnf install xcb-util-nothere" in err
    assert err.rstrip().endswith("Running the sample question through the CLI instead")


def test_missing_xcb_libraries_without_fallback_fail_with_the_install_command(
    x_display_without_xcb_libraries: None, capsys: pytest.CaptureFixture[str]
) -> None:
    assert cli.main(["gui"]) == 1
    assert "sudo apt-get install libxcb-nothere9" in capsys.readouterr().err


def test_make_run_without_xcb_libraries_goes_to_the_command_line(empty_models_dir: Path) -> None:
    """What `make run` runs, in its own process: the message, then ``ask`` over the samples,
    which indexes them and stops at the (here) missing model before loading anything."""
    env = {k: v for k, v in os.environ.items() if k not in ("WAYLAND_DISPLAY", "QT_QPA_PLATFORM")}
    proc = subprocess.run(
        [sys.executable, "-m", "rlm_desktop", "gui", "--fallback-sample"],
        capture_output=True, text=True, timeout=120, env={**env, "DISPLAY": ":99", LIBS_ENV: MISSING_LIB},
    )
    assert proc.returncode == 1, proc.stderr
    assert "libxcb-nothere.so.9" in proc.stderr and "sudo apt-get install libxcb-nothere9" in proc.stderr
    assert "Running the sample question through the CLI instead" in proc.stderr
    assert "indexed:" in proc.stderr  # ask ran over the samples
    assert "rlm-desktop models install" in proc.stderr  # and stopped at the missing model
    assert "Could not load the Qt platform plugin" not in proc.stderr


def test_samples_hold_the_answer_to_the_sample_question():
    question = (paths.samples_dir() / "QUESTION.txt").read_text(encoding="utf-8")
    assert "Harbor North" in question
    notes = (paths.samples_dir() / "meeting-notes-2024-03-14.md").read_text(encoding="utf-8")
    assert "Harbor North (TW-01): the alarm threshold goes up from 2.20 m to 2.35 m" in notes
