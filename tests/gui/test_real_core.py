"""The window over the real core (library, runs DB, engine with the scripted backend):
what the fakes stand in for must fit the real contracts."""

from __future__ import annotations

import pytest
from PySide6.QtCore import QSettings

from rlm_desktop.gui.main_window import MainWindow
from rlm_desktop.gui.services import CoreServices
from rlm_desktop.gui.tree_model import ITEM_ROLE, ItemKind
from rlm_desktop.rlm.cells import read_first_cell


class ScriptedCore(CoreServices):
    """The real library, engine, sandbox and runs DB; only the models are scripted."""

    def __init__(self, backend) -> None:
        super().__init__()
        self.backend = backend

    def _pool_for(self, settings):
        backend = self.backend

        class Pool:
            def root(self):
                return backend

            def sub(self):
                return backend

            def get(self, name, role):
                return backend

        return Pool()

    def missing_models(self, settings):
        return []


@pytest.fixture
def real_window(qtbot, tmp_path, scripted_backend):
    store = QSettings(str(tmp_path / "gui.ini"), QSettings.Format.IniFormat)
    win = MainWindow(ScriptedCore(scripted_backend), store)
    qtbot.addWidget(win)
    win.show()
    win.start()
    return win


def test_real_library_indexes_a_dropped_folder_to_done(qtbot, real_window, notes):
    window = real_window
    progress = []
    window.library.scanProgress.connect(progress.append)
    with qtbot.waitSignal(window.library.scanFinished, timeout=60_000) as done:
        window.add_paths([str(notes)])
    assert done.args[0].added == 2
    assert progress and progress[-1].files_done == progress[-1].files_total
    row = window.library_panel.folder_list.topLevelItem(0)
    assert (row.text(1), row.text(4)) == ("2", "indexed")


def test_scripted_model_run_through_the_real_engine_builds_the_tree(qtbot, real_window, scripted_backend, notes):
    window = real_window
    with qtbot.waitSignal(window.library.scanFinished, timeout=60_000):
        window.add_paths([str(notes)])
    scripted_backend.enqueue([
        "```python\nprint(search('threshold'))\n```",
        "```python\nFINAL('The threshold is 42')\n```",
    ])
    with qtbot.waitSignal(window.runs.runFinished, timeout=60_000) as finished:
        assert window.runs.ask("What is the threshold?")
    result = finished.args[0]
    assert result.answer == "The threshold is 42", result
    model = window.tree_model
    root = model.index(0, 0)
    turn1 = model.index(0, 0, root)
    assert turn1.data() == "Turn 1"
    cells = [model.index(r, 0, turn1).data(ITEM_ROLE) for r in range(model.rowCount(turn1))]
    assert [c.kind for c in cells][:2] == [ItemKind.CODE, ItemKind.OUTPUT]
    # turn 1 is the engine's first move (the passages of the question), shown like a turn
    assert cells[0].text.strip() == read_first_cell("What is the threshold?")
    assert "notes.md" in cells[1].text
    turns = [model.index(r, 0, root).data() for r in range(model.rowCount(root))]
    assert "Turn 3" in turns  # the model's own search came after the engine's reading (turn 2)
    # the run was recorded: history lists it and reopens the same tree
    history = window.history_panel
    qtbot.waitUntil(lambda: len(history.run_ids()) == 1, timeout=10_000)
    run_id = history.run_ids()[0]
    rows_live = model.rowCount(root)
    model.clear()
    window.open_run(run_id)
    assert model.rowCount(model.index(0, 0)) == rows_live
    assert "The threshold is 42" in window.ask_panel.answer.toPlainText()
