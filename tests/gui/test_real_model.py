"""End to end: the window, the real library, engine and sandbox, and the real 0.5B model
(root and sub-calls) on a small folder."""

from __future__ import annotations

import pytest
from PySide6.QtCore import QSettings

from rlm_desktop.gui.main_window import MainWindow
from rlm_desktop.gui.services import CoreServices
from rlm_desktop.gui.settings_dialog import save_settings
from rlm_desktop.gui.tree_model import ITEM_ROLE, ItemKind, TreeItem
from rlm_desktop.settings import TEST_MODEL, Settings


def walk(item: TreeItem):
    yield item
    for child in item.children:
        yield from walk(child)


@pytest.mark.model
def test_real_model_answers_in_the_window(qtbot, tmp_path, small_model_path):
    folder = tmp_path / "docs"
    folder.mkdir()
    (folder / "inventory.md").write_text(
        "# Warehouse inventory\n\nShelf A holds 14 boxes of screws.\nShelf B holds 9 boxes of nails.\n",
        encoding="utf-8")
    (folder / "staff.txt").write_text("Opening hours: 8 to 17.\nManager: Rosa Lind.\n", encoding="utf-8")
    store = QSettings(str(tmp_path / "gui.ini"), QSettings.Format.IniFormat)
    save_settings(store, Settings(root_model=TEST_MODEL, sub_model=TEST_MODEL, max_iterations=4, n_ctx=4096,
                                  timeout_s=300))
    window = MainWindow(CoreServices(), store)
    qtbot.addWidget(window)
    window.show()
    window.start()
    with qtbot.waitSignal(window.library.scanFinished, timeout=60_000):
        window.add_paths([str(folder)])
    window.ask_panel.question.setPlainText("Who is the manager?")
    with qtbot.waitSignal(window.runs.runFinished, timeout=600_000) as finished:
        window.ask_panel.submit()
    result = finished.args[0]
    assert result.status in ("ok", "budget_exhausted"), result
    model = window.tree_model
    root = model.index(0, 0).data(ITEM_ROLE)
    assert root.kind is ItemKind.NODE and root.status == result.status
    items = list(walk(root))
    code = [i for i in items if i.kind is ItemKind.CODE]
    outputs = [i for i in items if i.kind is ItemKind.OUTPUT]
    assert code and outputs, "the model ran at least one code cell and its output came back"
    assert window.ask_panel.answer.toPlainText().strip()
    qtbot.waitUntil(lambda: window.history_panel.list.topLevelItemCount() == 1, timeout=10_000)
