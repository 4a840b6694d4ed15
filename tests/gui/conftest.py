from __future__ import annotations

from pathlib import Path

import pytest
from PySide6.QtCore import QSettings

from tests.gui.fakes import FakeServices


@pytest.fixture
def services() -> FakeServices:
    return FakeServices()


@pytest.fixture
def store(tmp_path: Path) -> QSettings:
    return QSettings(str(tmp_path / "gui-test.ini"), QSettings.Format.IniFormat)


@pytest.fixture
def window(qtbot, services: FakeServices, store: QSettings):
    from rlm_desktop.gui.main_window import MainWindow

    win = MainWindow(services, store)
    qtbot.addWidget(win)
    win.show()
    win.start()
    return win


@pytest.fixture
def notes(tmp_path: Path) -> Path:
    folder = tmp_path / "notes"
    folder.mkdir()
    (folder / "notes.md").write_text("# Notes\n\nthe threshold is 42\nmore text\n", encoding="utf-8")
    (folder / "tool.py").write_text("def f(x):\n    return x * 2\n\n\nLIMIT = 42\n", encoding="utf-8")
    return folder


# The offscreen platform plugin says this about every top-level window it shows; it is
# about the test platform, not about the app.
_PLATFORM_NOISE = pytest.mark.qt_log_ignore(r"This plugin does not support propagateSizeHints")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if "tests/gui/" in item.nodeid:
            item.add_marker(_PLATFORM_NOISE)
