"""The recursion tree model: correct under Qt's model tester while events stream in,
grows by inserts (never a reset) during a run, and stays fast with thousands of nodes."""

from __future__ import annotations

import time

from PySide6.QtCore import QModelIndex

from rlm_desktop.gui.tree_model import ITEM_ROLE, ItemKind, RunTreeModel
from rlm_desktop.rlm import events as ev
from tests.gui.fakes import scripted_events


def titles(model: RunTreeModel, parent: QModelIndex | None = None) -> list[str]:
    parent = parent or QModelIndex()
    return [model.index(r, 0, parent).data() for r in range(model.rowCount(parent))]


def test_model_tester_passes_while_events_stream_in(qtmodeltester):
    model = RunTreeModel()
    qtmodeltester.check(model)  # installs the tester; it keeps checking every change
    for event in scripted_events("r1", "What is the threshold?", sub_calls=23):  # 20 + a page of 3
        model.apply(event)
    qtmodeltester.check(model)
    assert model.node_count() == 24


def test_nodes_turns_and_cells_appear_in_run_order(qtbot):
    model = RunTreeModel()
    for event in scripted_events("r1", "What is the threshold?", sub_calls=2):
        model.apply(event)
    root = model.index(0, 0)
    assert root.data().startswith("Root RLM · root-model")
    assert model.index(0, 1).data() == "✓ done"
    assert titles(model, root) == ["Turn 1", "Turn 2", "Turn 3", "Answer: 42"]
    turn1, turn2 = model.index(0, 0, root), model.index(1, 0, root)
    assert titles(model, turn1) == ["search('threshold')", "Output: notes.md:3: threshold is 42"]
    # sub-calls made while turn 2's cell ran hang under turn 2, before its cell and output
    assert titles(model, turn2) == [
        "Sub-call · sub-model · Summarise chunk 0",
        "Sub-call · sub-model · Summarise chunk 1",
        "llm_batch(prompts)",
        "Output: ['chunk 0 says 42']",
        "Notice: Check the value in the file before answering.",
    ]
    sub = model.index(0, 0, turn2)
    assert titles(model, sub) == ["Prompt: Summarise chunk 0", "Answer: chunk 0 says 42"]
    assert model.index(0, 0, turn1).data(ITEM_ROLE).kind is ItemKind.CODE
    assert model.index(0, 2, root).data() == "312"  # tokens of turn 1


def test_run_grows_by_inserts_not_resets_and_5000_nodes_stay_fast(qtbot):
    model = RunTreeModel()
    inserted = []
    resets = []
    model.rowsInserted.connect(lambda parent, first, last: inserted.append(last - first + 1))
    model.modelReset.connect(lambda: resets.append(1))
    events = scripted_events("big", "Map every file", sub_calls=2500)  # 5000 sub-call events
    assert len(events) > 5000
    model.apply(events[0])  # RunStarted on an empty model: nothing to reset
    start = time.perf_counter()
    for event in events[1:]:
        model.apply(event)
    elapsed = time.perf_counter() - start
    assert resets == []
    assert model.node_count() == 2501
    # every row was announced, event by event (an event adds at most a couple of rows)
    assert sum(inserted) == count_rows(model) > 7500
    assert len(inserted) > 5000 and max(inserted) <= 2
    # ~0.5 s on an idle 2-core machine; the bound leaves room for a machine busy with other work
    assert elapsed < 10.0, f"applying {len(events)} events took {elapsed:.2f} s"


def count_rows(model: RunTreeModel, parent: QModelIndex | None = None) -> int:
    parent = parent or QModelIndex()
    return sum(1 + count_rows(model, model.index(r, 0, parent)) for r in range(model.rowCount(parent)))


def test_a_batch_is_announced_with_one_insert_per_parent_and_sub_calls_are_paged(qtbot):
    model = RunTreeModel()
    events = scripted_events("r", "q", sub_calls=250)
    inserted = []
    model.rowsInserted.connect(lambda parent, first, last: inserted.append((parent.data(), last - first + 1)))
    model.apply_many(events)
    turn2 = model.index(1, 0, model.index(0, 0))
    rows = titles(model, turn2)
    # 20 sub-calls directly under the turn, then pages of 100, then the cell, output and notice
    assert rows[:2] == ["Sub-call · sub-model · Summarise chunk 0", "Sub-call · sub-model · Summarise chunk 1"]
    assert rows[20:23] == ["Sub-calls 21–120", "Sub-calls 121–220", "Sub-calls 221–250"]
    assert model.rowCount(model.index(22, 0, turn2)) == 30
    assert ("Turn 2", 26) in inserted  # all 26 rows of turn 2 in one insert


def test_stopped_run_marks_unfinished_calls(qtbot):
    model = RunTreeModel()
    for event in scripted_events("r1", "q", sub_calls=1)[:-1]:
        model.apply(event)
    model.apply(ev.RunFinished("r1", "cancelled", "partial"))
    assert model.index(0, 1).data() == "■ stopped"


def test_load_shows_a_finished_run_with_one_reset(qtbot):
    model = RunTreeModel()
    resets = []
    model.modelReset.connect(lambda: resets.append(1))
    events = [*scripted_events("r1", "q"), ev.RunFinished("r1", "ok", "42")]
    model.load(events)
    assert resets == [1]
    assert model.question == "q"
    assert model.finished is not None and model.finished.answer == "42"
    assert model.rowCount() == 1


def test_detail_pane_shows_the_model_writing_until_a_row_is_picked(qtbot):
    from rlm_desktop.gui.tree_panel import TreePanel

    model = RunTreeModel()
    panel = TreePanel(model)
    qtbot.addWidget(panel)
    events = scripted_events("r1", "What is the threshold?")
    for event in events[:3]:  # RunStarted, NodeStarted, TokenDelta
        model.apply(event)
    assert "Writing now:\n```python\nsearch(" in panel.detail.toPlainText()
    turn_events = events[3:5]  # the turn and its cell
    for event in turn_events:
        model.apply(event)
    code = model.index(0, 0, model.index(0, 0, model.index(0, 0)))
    panel.view.setCurrentIndex(code)
    assert panel.detail.toPlainText() == "search('threshold')"
    assert panel.detail_title.text() == "<b>Code cell</b>"
