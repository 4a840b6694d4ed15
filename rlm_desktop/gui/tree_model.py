"""The recursion tree as a Qt item model, fed by the engine's live events.

Rows: a node is one model call (root RLM, sub-call, child RLM); an RLM node's children
are its turns; a turn's children are its code cell, the cell's output, notices and the
sub-calls made while the cell ran; every node ends with its answer. The model only
appends (``beginInsertRows``/``endInsertRows``) and updates rows in place while a run
goes on, so a view keeps its scroll position and selection and thousands of rows stay
cheap. Rows that a batch of events added can be announced with one insert per parent
(``apply(event, announce=False)`` then ``flush()``): a tree view re-lays out an expanded parent on every insert, so row-by-row
announcements of a burst of sub-calls would cost quadratic time. A whole reset happens
only when another run is shown."""

from __future__ import annotations

import enum
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from PySide6.QtCore import QAbstractItemModel, QModelIndex, QObject, QPersistentModelIndex, Qt, Signal
from PySide6.QtGui import QBrush, QColor, QFontDatabase

from rlm_desktop.rlm import events as ev

_NO_PARENT = QModelIndex()  # Qt's "top level" parent, as a default argument
ITEM_ROLE = Qt.ItemDataRole.UserRole + 1  # the TreeItem behind an index
COLUMNS = ("Step", "Status", "Tokens", "Time")
_NCOLUMNS = len(COLUMNS)

_STATUS_TEXT = {
    "running": "● running",
    "ok": "✓ done",
    "error": "✗ error",
    "budget_exhausted": "⚠ budget",
    "cancelled": "■ stopped",
}
# The first sub-calls of a turn hang under it directly; later ones in pages of this size.
GROUP_AFTER = 20
GROUP_SIZE = 100

_NODE_TITLE = {"root": "Root RLM", "llm": "Sub-call", "rlm": "Child RLM"}


class ItemKind(enum.Enum):
    NODE = "node"
    PROMPT = "prompt"
    TURN = "turn"
    CODE = "code"
    OUTPUT = "output"
    ERROR = "error"
    NOTICE = "notice"
    ANSWER = "answer"
    GROUP = "group"  # a page of sub-calls, so thousands of them stay cheap to show


@dataclass(eq=False)
class TreeItem:
    kind: ItemKind
    title: str
    text: str = ""  # the full text the detail pane shows
    parent: TreeItem | None = None
    row: int = 0
    depth: int = 0
    children: list[TreeItem] = field(default_factory=list)
    shown: int = 0  # children announced to views (rowCount); the rest wait for a flush
    status: str = ""
    tokens: int | None = None
    elapsed_s: float | None = None
    # NODE items only
    node_id: str = ""
    node_kind: str = ""
    model: str = ""
    live_text: str = ""  # streamed text of the turn being generated
    turns: dict[int, TreeItem] = field(default_factory=dict)
    # containers of sub-calls (turns, nodes)
    subcalls: int = 0
    groups: list[TreeItem] = field(default_factory=list)

    @property
    def node(self) -> TreeItem | None:
        """The model call this row belongs to."""
        item: TreeItem | None = self
        while item is not None and item.kind is not ItemKind.NODE:
            item = item.parent
        return item


def _first_line(text: str, limit: int = 90) -> str:
    line = next((ln.strip() for ln in text.splitlines() if ln.strip()), "")
    return line if len(line) <= limit else line[: limit - 1] + "…"


class RunTreeModel(QAbstractItemModel):
    tokenStreamed = Signal(str)  # node_id whose live text grew
    runChanged = Signal()  # a run started, finished, or another run was loaded

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._root = TreeItem(ItemKind.NODE, "")
        self._nodes: dict[str, TreeItem] = {}
        self.run_id = ""
        self.question = ""
        self.run_status = ""
        self.finished: ev.RunFinished | None = None
        self._mono = QFontDatabase.systemFont(QFontDatabase.SystemFont.FixedFont)
        self._notify = True
        self._dirty: dict[int, TreeItem] = {}  # parents with unannounced children
        self._updated: dict[int, TreeItem] = {}  # rows whose data changed since the last flush

    # --- feeding --------------------------------------------------------------------
    def clear(self) -> None:
        self.beginResetModel()
        self._reset_data()
        self.endResetModel()
        self.runChanged.emit()

    def load(self, events: Iterable[ev.Event]) -> None:
        """Show a finished run at once (history): one reset, not thousands of inserts."""
        self.beginResetModel()
        self._reset_data()
        self._notify = False
        try:
            for event in events:
                self.apply(event)
        finally:
            self._notify = True
            self.endResetModel()
        self.runChanged.emit()

    def _reset_data(self) -> None:
        self._root = TreeItem(ItemKind.NODE, "")
        self._nodes = {}
        self._dirty = {}
        self._updated = {}
        self.run_id = self.question = self.run_status = ""
        self.finished = None

    def apply(self, event: ev.Event, announce: bool = True) -> None:
        """Apply one event. With ``announce=False`` its new rows wait for ``flush()``, so
        a batch of events costs one insert per parent."""
        handler = getattr(self, f"_on_{type(event).__name__}", None)
        if handler is not None:
            handler(event)
        if announce:
            self.flush()

    def apply_many(self, events: Iterable[ev.Event]) -> None:
        for event in events:
            self.apply(event, announce=False)
        self.flush()

    def flush(self) -> None:
        """Announce the rows added and changed since the last flush, one insert per parent."""
        if not self._dirty:
            self._announce_updates()
            return
        parents = sorted(self._dirty.values(), key=lambda item: item.depth)  # a new parent before its children
        self._dirty = {}
        for parent in parents:
            count = len(parent.children)
            if parent.shown < count:
                self.beginInsertRows(self._index_of(parent), parent.shown, count - 1)
                parent.shown = count
                self.endInsertRows()
        self._announce_updates()

    def _on_RunStarted(self, e: ev.RunStarted) -> None:
        if self._root.children and self._notify:
            self.clear()
        self.run_id, self.question, self.run_status = e.run_id, e.question, "running"
        self.runChanged.emit()

    def _on_NodeStarted(self, e: ev.NodeStarted) -> None:
        parent = self._nodes.get(e.parent_id or "", self._root)
        if parent is not self._root:
            if parent.turns:
                parent = parent.turns[max(parent.turns)]  # made while the latest cell ran
            parent = self._subcall_container(parent)
        title = f"{_NODE_TITLE.get(e.kind, e.kind)} · {e.model}"
        if e.kind != "root":
            title += f" · {_first_line(e.prompt, 60)}"
        node = TreeItem(ItemKind.NODE, title, text=e.prompt, status="running", node_id=e.node_id,
                        node_kind=e.kind, model=e.model)
        self._nodes[e.node_id] = node
        self._append(parent, node)
        if e.kind == "llm":
            self._append(node, TreeItem(ItemKind.PROMPT, f"Prompt: {_first_line(e.prompt)}", text=e.prompt))

    def _subcall_container(self, owner: TreeItem) -> TreeItem:
        number = owner.subcalls = owner.subcalls + 1
        if number <= GROUP_AFTER:
            return owner
        page = (number - GROUP_AFTER - 1) // GROUP_SIZE
        if page == len(owner.groups):
            group = TreeItem(ItemKind.GROUP, "", status="")
            owner.groups.append(group)
            self._append(owner, group)
        group = owner.groups[page]
        first = GROUP_AFTER + page * GROUP_SIZE + 1
        group.title = f"Sub-calls {first}–{number}"
        group.text = f"Sub-calls {first} to {number} of this turn (the first {GROUP_AFTER} are listed above)."
        self._changed(group)
        return group

    def _on_TokenDelta(self, e: ev.TokenDelta) -> None:
        node = self._nodes.get(e.node_id)
        if node is not None:
            node.live_text += e.text
            self.tokenStreamed.emit(e.node_id)

    def _on_TurnFinished(self, e: ev.TurnFinished) -> None:
        node = self._nodes.get(e.node_id)
        if node is None:
            return
        node.live_text = ""
        turn = TreeItem(ItemKind.TURN, f"Turn {e.turn}", text=e.response, status="ok",
                        tokens=e.prompt_tokens + e.completion_tokens, elapsed_s=e.elapsed_s)
        node.turns[e.turn] = turn
        node.tokens = (node.tokens or 0) + e.prompt_tokens + e.completion_tokens
        self._append(node, turn)
        self._changed(node)

    def _on_CellFinished(self, e: ev.CellFinished) -> None:
        parent = self._turn_or_node(e.node_id, e.turn)
        if parent is None:
            return
        self._append(parent, TreeItem(ItemKind.CODE, _first_line(e.code) or "(empty cell)", text=e.code,
                                      elapsed_s=e.elapsed_s, status="error" if e.error else "ok"))
        output = e.output if e.output.strip() else "(no output)"
        self._append(parent, TreeItem(ItemKind.OUTPUT, f"Output: {_first_line(output)}", text=output))
        if e.error:
            self._append(parent, TreeItem(ItemKind.ERROR, f"Error: {_first_line(e.error)}", text=e.error,
                                          status="error"))

    def _on_Notice(self, e: ev.Notice) -> None:
        parent = self._turn_or_node(e.node_id, e.turn)
        if parent is not None:
            self._append(parent, TreeItem(ItemKind.NOTICE, f"Notice: {_first_line(e.text)}", text=e.text))

    def _on_NodeFinished(self, e: ev.NodeFinished) -> None:
        node = self._nodes.get(e.node_id)
        if node is None:
            return
        node.status = e.status
        node.tokens = e.prompt_tokens + e.completion_tokens
        node.elapsed_s = e.elapsed_s
        node.live_text = ""
        if e.answer:
            self._append(node, TreeItem(ItemKind.ANSWER, f"Answer: {_first_line(e.answer)}", text=e.answer,
                                        status=e.status))
        if e.error:
            self._append(node, TreeItem(ItemKind.ERROR, f"Error: {_first_line(e.error)}", text=e.error,
                                        status="error"))
        self._changed(node)

    def _on_RunFinished(self, e: ev.RunFinished) -> None:
        self.run_status = e.status
        self.finished = e
        for node in self._nodes.values():
            if node.status == "running":  # a stopped run leaves calls that never finished
                node.status = e.status if e.status != "ok" else "cancelled"
                self._changed(node)
        self.runChanged.emit()

    def _turn_or_node(self, node_id: str, turn: int) -> TreeItem | None:
        node = self._nodes.get(node_id)
        if node is None:
            return None
        return node.turns.get(turn, node)

    def _append(self, parent: TreeItem, child: TreeItem) -> None:
        child.parent = parent
        child.row = len(parent.children)
        child.depth = parent.depth + 1
        parent.children.append(child)
        if self._notify:
            self._dirty[id(parent)] = parent
        else:
            parent.shown = len(parent.children)

    def _changed(self, item: TreeItem) -> None:
        if self._notify:
            self._updated[id(item)] = item  # announced with the next flush

    def _announce_updates(self) -> None:
        updated, self._updated = self._updated, {}
        for item in updated.values():
            if item.parent is not None and item.row < item.parent.shown:
                self.dataChanged.emit(self.createIndex(item.row, 0, item),
                                      self.createIndex(item.row, _NCOLUMNS - 1, item))

    def _index_of(self, item: TreeItem) -> QModelIndex:
        if item is self._root:
            return QModelIndex()
        return self.createIndex(item.row, 0, item)

    # --- lookups for views ------------------------------------------------------------
    def node_index(self, node_id: str) -> QModelIndex:
        node = self._nodes.get(node_id)
        return self._index_of(node) if node is not None else QModelIndex()

    def node_item(self, node_id: str) -> TreeItem | None:
        return self._nodes.get(node_id)

    def index_of(self, item: TreeItem) -> QModelIndex:
        return self._index_of(item)

    def node_count(self) -> int:
        return len(self._nodes)

    def item(self, index: QModelIndex | QPersistentModelIndex) -> TreeItem:
        return index.internalPointer() if index.isValid() else self._root

    # --- QAbstractItemModel -------------------------------------------------------------
    # A view calls these for every visible row on each layout: keep them lean.
    # (flags() is Qt's default: enabled and selectable.)
    def index(self, row: int, column: int, parent: QModelIndex | QPersistentModelIndex = _NO_PARENT) -> QModelIndex:
        if parent.isValid():
            if parent.column() != 0:
                return QModelIndex()
            owner: TreeItem = parent.internalPointer()
        else:
            owner = self._root
        if 0 <= row < owner.shown and 0 <= column < _NCOLUMNS:
            return self.createIndex(row, column, owner.children[row])
        return QModelIndex()

    def parent(self, index: QModelIndex | QPersistentModelIndex | None = None) -> Any:  # type: ignore[override]
        if index is None:
            return super().parent()
        if not index.isValid():
            return QModelIndex()
        owner = index.internalPointer().parent
        if owner is None or owner is self._root:
            return QModelIndex()
        return self.createIndex(owner.row, 0, owner)

    def rowCount(self, parent: QModelIndex | QPersistentModelIndex = _NO_PARENT) -> int:
        if parent.isValid():
            return parent.internalPointer().shown if parent.column() == 0 else 0
        return self._root.shown

    def columnCount(self, parent: QModelIndex | QPersistentModelIndex = _NO_PARENT) -> int:
        return _NCOLUMNS

    def hasChildren(self, parent: QModelIndex | QPersistentModelIndex = _NO_PARENT) -> bool:
        return self.rowCount(parent) > 0

    def headerData(self, section: int, orientation: Qt.Orientation, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if orientation == Qt.Orientation.Horizontal and role == Qt.ItemDataRole.DisplayRole and 0 <= section < _NCOLUMNS:
            return COLUMNS[section]
        return None

    def data(self, index: QModelIndex | QPersistentModelIndex, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if not index.isValid():
            return None
        item: TreeItem = index.internalPointer()
        column = index.column()
        if role == Qt.ItemDataRole.DisplayRole:
            if column == 0:
                return item.title
            if column == 1:
                return _STATUS_TEXT.get(item.status, item.status) if item.kind is ItemKind.NODE else ""
            if column == 2:
                return f"{item.tokens:,}" if item.tokens else ""
            if column == 3:
                return f"{item.elapsed_s:.1f} s" if item.elapsed_s is not None else ""
            return None
        if role == ITEM_ROLE:
            return item
        if role == Qt.ItemDataRole.ToolTipRole and column == 0:
            return item.text[:2000] or None
        if role == Qt.ItemDataRole.FontRole and column == 0 and item.kind is ItemKind.CODE:
            return self._mono
        if role == Qt.ItemDataRole.ForegroundRole:
            if item.status == "error" or item.kind is ItemKind.ERROR:
                return QBrush(QColor("#d9534f"))
            if item.status == "budget_exhausted" or item.kind is ItemKind.NOTICE:
                return QBrush(QColor("#c98a00"))
        return None
