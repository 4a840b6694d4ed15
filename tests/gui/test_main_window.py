"""The window with a scripted core: drops, indexing progress, asking, Stop, closing
during a run, history, citations, settings and layout memory."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QMimeData, QPoint, QPointF, Qt, QTimer, QUrl
from PySide6.QtGui import QDragEnterEvent, QDropEvent
from PySide6.QtWidgets import QApplication

from rlm_desktop.gui.main_window import MainWindow
from rlm_desktop.gui.tree_model import ITEM_ROLE, ItemKind
from rlm_desktop.gui.viewer import DocumentViewer
from rlm_desktop.rlm.events import Citation


def drop(window: MainWindow, *paths: Path) -> None:
    mime = QMimeData()
    mime.setUrls([QUrl.fromLocalFile(str(p)) for p in paths])
    target = window.ask_panel.answer.viewport()  # dropped anywhere: here on the answer view
    pos = QPointF(10, 10)
    enter = QDragEnterEvent(QPoint(10, 10), Qt.DropAction.CopyAction, mime, Qt.MouseButton.LeftButton,
                            Qt.KeyboardModifier.NoModifier)
    QApplication.sendEvent(window, enter)
    assert enter.isAccepted()
    event = QDropEvent(pos, Qt.DropAction.CopyAction, mime, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier)
    QApplication.sendEvent(target, event)  # the answer view does not take drops, so the window gets it
    assert event.isAccepted()


def add_and_index(qtbot, window: MainWindow, folder: Path) -> None:
    with qtbot.waitSignal(window.library.scanFinished, timeout=10_000):
        drop(window, folder)


def test_empty_library_offers_the_sample_folder(window):
    panel = window.library_panel
    assert panel.stack.currentWidget() is panel.empty_page
    assert panel.sample_button.isVisible()


def test_dropping_a_folder_adds_and_indexes_it(qtbot, window, services, notes):
    progress = []
    window.library.scanProgress.connect(lambda p: progress.append(p))
    add_and_index(qtbot, window, notes)
    assert [f.path for f in services.library.folders()] == [str(notes.resolve())]
    assert progress and progress[-1].files_done == progress[-1].files_total == 2
    panel = window.library_panel
    assert panel.stack.currentWidget() is panel.folder_list
    row = panel.folder_list.topLevelItem(0)
    assert row.data(0, Qt.ItemDataRole.UserRole) == str(notes.resolve())
    assert row.text(0) == f"notes  ·  {notes.resolve().parent}"
    assert (row.text(1), row.text(4)) == ("2", "indexed")
    assert not panel.progress_box.isVisible()
    assert window.ask_panel.scope.text() == "Scope: all folders"


def test_dropping_a_gguf_registers_a_model_not_a_folder(qtbot, window, services, tmp_path):
    model = tmp_path / "my-model.gguf"
    model.write_bytes(b"GGUF\x03\x00\x00\x00")
    drop(window, model)
    assert services.added_models == [str(model)]
    assert services.library.folders() == []
    assert "my-model" in window.statusBar().currentMessage()


def test_enter_asks_and_shift_enter_starts_a_new_line(qtbot, window, notes):
    add_and_index(qtbot, window, notes)
    box = window.ask_panel.question
    box.setFocus()
    qtbot.keyClicks(box, "first line")
    qtbot.keyClick(box, Qt.Key.Key_Return, Qt.KeyboardModifier.ShiftModifier)
    qtbot.keyClicks(box, "second line")
    assert box.toPlainText() == "first line\nsecond line"
    with qtbot.waitSignal(window.ask_panel.askRequested, timeout=2000) as asked:
        qtbot.keyClick(box, Qt.Key.Key_Return)
    assert asked.args == ["first line\nsecond line", []]
    assert box.toPlainText() == "first line\nsecond line"  # Enter did not insert a newline


def test_asking_fills_the_tree_and_shows_the_answer(qtbot, window, services, notes):
    add_and_index(qtbot, window, notes)
    window.ask_panel.question.setPlainText("What is the threshold?")
    with qtbot.waitSignal(window.runs.runFinished, timeout=10_000):
        window.ask_panel.submit()
    assert services.asked == [("What is the threshold?", ())]
    model = window.tree_model
    root = model.index(0, 0)
    assert root.data().startswith("Root RLM")
    kinds = [model.index(r, 0, root).data(ITEM_ROLE).kind for r in range(model.rowCount(root))]
    assert kinds == [ItemKind.TURN, ItemKind.TURN, ItemKind.TURN, ItemKind.ANSWER]
    answer = window.ask_panel.answer.toPlainText()
    assert "The threshold is 42" in answer
    assert window.ask_panel.ask_button.isEnabled() and not window.ask_panel.stop_button.isEnabled()
    qtbot.waitUntil(lambda: window.history_panel.list.topLevelItemCount() == 1, timeout=5000)


def test_gui_stays_responsive_during_a_long_run_and_stop_ends_it(qtbot, window, services, notes):
    add_and_index(qtbot, window, notes)
    services.hold = True  # the run waits until it is cancelled
    ticks = []
    timer = QTimer(window, interval=10)
    timer.timeout.connect(lambda: ticks.append(1))
    timer.start()
    assert window.runs.ask("slow question")
    qtbot.waitUntil(lambda: services.run_entered.is_set() and len(ticks) >= 10, timeout=5000)
    assert window.ask_panel.stop_button.isEnabled()
    assert window.tree_model.node_count() >= 1  # events streamed in while the run still goes
    with qtbot.waitSignal(window.runs.runFinished, timeout=5000) as finished:
        qtbot.mouseClick(window.ask_panel.stop_button, Qt.MouseButton.LeftButton)
    assert finished.args[0].status == "cancelled"
    assert services.cancelled_runs == 1
    assert "Stopped" in window.ask_panel.answer.toPlainText()
    assert window.tree_model.index(0, 1).data() == "■ stopped"


def test_closing_the_window_during_a_run_cancels_it(qtbot, window, services, notes):
    add_and_index(qtbot, window, notes)
    services.hold = True
    assert window.runs.ask("slow question")
    qtbot.waitUntil(services.run_entered.is_set, timeout=5000)
    window.close()
    assert services.cancelled_runs == 1
    assert not window.runs.running
    assert services.closed


def test_citation_click_opens_the_viewer_at_the_line(qtbot, window, services, notes):
    add_and_index(qtbot, window, notes)
    cited = str((notes / "tool.py").resolve())
    services.citations = (Citation(cited, 5),)
    services.answer = "LIMIT is 42, see tool.py:5."
    with qtbot.waitSignal(window.runs.runFinished, timeout=10_000):
        window.runs.ask("What is LIMIT?")
    browser = window.ask_panel.answer
    assert "cite:" in browser.toMarkdown()
    opened = []
    window.ask_panel.citationClicked.connect(lambda c: opened.append(window.open_citation(c)))
    browser.anchorClicked.emit(QUrl(f"cite:{cited}?line=5"))  # what a click on the link emits
    viewer = opened[0]
    assert isinstance(viewer, DocumentViewer) and viewer.isVisible()
    assert viewer.current_line() == 5
    assert viewer.editor.textCursor().block().text() == "LIMIT = 42"
    assert viewer.editor.isReadOnly()
    viewer.close()


def test_history_reopens_a_past_run(qtbot, window, services, notes):
    add_and_index(qtbot, window, notes)
    with qtbot.waitSignal(window.runs.runFinished, timeout=10_000):
        window.runs.ask("first question")
    window.tree_model.clear()
    window.ask_panel.answer.clear()
    window.ask_panel.question.clear()
    history = window.history_panel
    qtbot.waitUntil(lambda: history.list.topLevelItemCount() == 1, timeout=5000)
    history.list.setCurrentItem(history.list.topLevelItem(0))
    history.open_button.click()
    assert window.ask_panel.question.toPlainText() == "first question"
    assert "The threshold is 42" in window.ask_panel.answer.toPlainText()
    model = window.tree_model
    assert model.rowCount() == 1 and model.rowCount(model.index(0, 0)) == 4
    assert window.tree_panel.view.isExpanded(model.index(0, 0))


def test_history_exports_a_run(qtbot, window, services, notes, tmp_path):
    add_and_index(qtbot, window, notes)
    with qtbot.waitSignal(window.runs.runFinished, timeout=10_000):
        window.runs.ask("q")
    qtbot.waitUntil(lambda: window.history_panel.run_ids() != [], timeout=5000)
    run_id = window.history_panel.run_ids()[0]
    out = tmp_path / "run.md"
    assert window.history_panel.export(run_id, "md", out)
    assert out.read_text(encoding="utf-8") == "# q\n"


def test_missing_model_offers_install_instead_of_running(qtbot, window, services, notes, monkeypatch):
    add_and_index(qtbot, window, notes)
    services.missing = ["tiny"]
    offered = []
    monkeypatch.setattr("rlm_desktop.gui.errors.offer_install", lambda parent, names: offered.append(names) or True)
    assert not window.runs.ask("q")
    assert offered == [["tiny"]]
    dialog = window._models_dialog
    assert dialog is not None
    qtbot.waitUntil(lambda: services.installed == ["tiny"] and dialog._task is None, timeout=5000)
    assert services.asked == []
    dialog.close()


def test_layout_is_remembered(qtbot, services, store):
    first = MainWindow(services, store)
    qtbot.addWidget(first)
    first.show()
    first.resize(760, 600)  # inside the offscreen platform's 800x800 screen
    first.splitter.setSizes([200, 250, 300])
    sizes = first.splitter.sizes()
    first.close()
    second = MainWindow(services, store)
    qtbot.addWidget(second)
    second.show()
    assert second.size() == first.size()
    assert second.splitter.sizes() == sizes


def test_files_that_fail_are_listed_with_the_reason(qtbot, window, notes):
    (notes / "blob.bin").write_bytes(b"\xff\xfe\x00\x81" * 10)
    add_and_index(qtbot, window, notes)
    panel = window.library_panel
    assert not panel.failures.isHidden()
    assert panel.failures.count() == 1
    assert panel.failures.item(0).text() == f"{(notes / 'blob.bin').resolve()}: not text"


def test_a_vanished_folder_is_offered_for_removal(qtbot, window, services, notes, monkeypatch):
    add_and_index(qtbot, window, notes)
    asked = []
    monkeypatch.setattr("rlm_desktop.gui.errors.ask_remove_missing_folder",
                        lambda parent, path: asked.append(path) or True)
    services.library.mark_missing(str(notes.resolve()))
    window.library.refresh()
    assert asked == [str(notes.resolve())]
    assert services.library.folders() == []
    assert window.library_panel.stack.currentWidget() is window.library_panel.empty_page


def test_a_partial_answer_says_which_budget_ran_out(qtbot, window, services, notes):
    add_and_index(qtbot, window, notes)
    services.budget = "iterations"
    with qtbot.waitSignal(window.runs.runFinished, timeout=10_000):
        window.runs.ask("q")
    text = window.ask_panel.answer.toPlainText()
    assert "Partial answer" in text and "iterations budget ran out" in text
    assert "The threshold is 42" in text
