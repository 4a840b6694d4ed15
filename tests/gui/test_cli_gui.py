"""``rlm-desktop gui``: with no display it says so and, with --fallback-sample, answers the
sample question through ``ask``."""

from __future__ import annotations

import pytest

from rlm_desktop import cli, paths
from rlm_desktop.cli import gui as gui_cli


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


def test_samples_hold_the_answer_to_the_sample_question():
    question = (paths.samples_dir() / "QUESTION.txt").read_text(encoding="utf-8")
    assert "Harbor North" in question
    notes = (paths.samples_dir() / "meeting-notes-2024-03-14.md").read_text(encoding="utf-8")
    assert "Harbor North (TW-01): the alarm threshold goes up from 2.20 m to 2.35 m" in notes
