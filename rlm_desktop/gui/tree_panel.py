"""The Recursion tree area: the tree view over ``RunTreeModel`` and a detail pane with
the selected row's full prompt, code, output or answer.

While a run goes on the view follows the newest row, until the user scrolls away or
picks a row; scrolling back to the bottom resumes following."""

from __future__ import annotations

from pygments.lexers import PythonLexer, TextLexer
from PySide6.QtCore import QModelIndex, Qt, QTimer
from PySide6.QtGui import QFontDatabase
from PySide6.QtWidgets import (
    QAbstractItemView,
    QAbstractSlider,
    QHeaderView,
    QLabel,
    QPlainTextEdit,
    QSplitter,
    QTreeView,
    QVBoxLayout,
    QWidget,
)

from rlm_desktop.gui.highlight import PygmentsHighlighter
from rlm_desktop.gui.tree_model import ITEM_ROLE, ItemKind, RunTreeModel, TreeItem

_DETAIL_TITLE = {
    ItemKind.NODE: "Model call",
    ItemKind.PROMPT: "Prompt",
    ItemKind.TURN: "What the model wrote",
    ItemKind.CODE: "Code cell",
    ItemKind.OUTPUT: "Output of the cell",
    ItemKind.ERROR: "Error",
    ItemKind.NOTICE: "Notice sent to the model",
    ItemKind.ANSWER: "Answer",
    ItemKind.GROUP: "Sub-calls",
}


class TreePanel(QWidget):
    def __init__(self, model: RunTreeModel, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.model = model
        self.view = QTreeView()
        self.view.setAccessibleName("recursion tree")
        self.view.setModel(model)
        self.view.setUniformRowHeights(True)
        self.view.setAlternatingRowColors(True)
        self.view.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.view.setToolTip("Every model call of the run: its turns, code cells, outputs and sub-calls")
        header = self.view.header()
        header.setStretchLastSection(False)
        header.setSectionResizeMode(0, QHeaderView.ResizeMode.Stretch)
        for column, width in ((1, 80), (2, 60), (3, 60)):
            header.setSectionResizeMode(column, QHeaderView.ResizeMode.Interactive)
            header.resizeSection(column, width)
        self.detail_title = QLabel()
        self.detail = QPlainTextEdit()
        self.detail.setReadOnly(True)
        self.detail.setFont(QFontDatabase.systemFont(QFontDatabase.SystemFont.FixedFont))
        self.detail.setPlaceholderText("Select a row to see its full text.")
        self._highlighter = PygmentsHighlighter(self.detail.document(), TextLexer())
        self._detail_item: TreeItem | None = None
        detail_box = QWidget()
        detail_layout = QVBoxLayout(detail_box)
        detail_layout.setContentsMargins(0, 0, 0, 0)
        detail_layout.addWidget(self.detail_title)
        detail_layout.addWidget(self.detail)
        self.splitter = QSplitter(Qt.Orientation.Vertical)
        self.splitter.addWidget(self.view)
        self.splitter.addWidget(detail_box)
        self.splitter.setStretchFactor(0, 3)
        self.splitter.setStretchFactor(1, 2)
        layout = QVBoxLayout(self)
        layout.addWidget(QLabel("<b>Recursion tree</b>"))
        layout.addWidget(self.splitter)

        self.following = True
        self._newest: TreeItem | None = None
        self._open_group: TreeItem | None = None
        self._scroll_timer = QTimer(self, singleShot=True, interval=0)  # once per batch of inserts
        self._scroll_timer.timeout.connect(self._scroll_to_newest)
        model.rowsInserted.connect(self._on_rows_inserted)
        model.modelReset.connect(self._on_reset)
        model.tokenStreamed.connect(self._on_token)
        model.dataChanged.connect(self._on_data_changed)
        self.view.selectionModel().currentChanged.connect(self._on_current)
        self.view.verticalScrollBar().actionTriggered.connect(self._on_user_scroll)
        self.view.clicked.connect(lambda _index: self._stop_following())

    # --- follow the newest row ----------------------------------------------------------
    def _on_rows_inserted(self, parent: QModelIndex, first: int, last: int) -> None:
        if not self.following:
            return
        self._newest = self.model.item(parent).children[last]
        if not self._scroll_timer.isActive():
            self._scroll_timer.start()

    def _scroll_to_newest(self) -> None:
        if not self.following or self._newest is None:
            return
        target = self._newest
        if target.parent is not None and target.parent.kind is ItemKind.NODE and target.parent.node_kind == "llm":
            target = target.parent  # a sub-call's prompt or answer: show the sub-call, folded
        index = self.model.index_of(target)
        parent = index.parent()
        while parent.isValid():  # make the new row visible
            if not self.view.isExpanded(parent):
                self.view.expand(parent)
                item = self.model.item(parent)
                if item.kind is ItemKind.GROUP:
                    # fold the page of sub-calls that following opened before
                    if self._open_group is not None and self._open_group is not item:
                        self.view.collapse(self.model.index_of(self._open_group))
                    self._open_group = item
            parent = parent.parent()
        self.view.scrollTo(index, QAbstractItemView.ScrollHint.PositionAtBottom)

    def _on_user_scroll(self, action: int) -> None:
        bar = self.view.verticalScrollBar()
        if action in (QAbstractSlider.SliderAction.SliderToMaximum,):
            self.following = True
            return
        # the value after the action is applied is sliderPosition()
        self.following = bar.sliderPosition() >= bar.maximum()

    def _stop_following(self) -> None:
        self.following = False

    def follow(self) -> None:
        self.following = True
        self._scroll_timer.start()

    def _on_reset(self) -> None:
        self.following = True
        self._newest = None
        self._open_group = None
        self._show_item(None)
        if self.model.rowCount() and self.model.finished is not None:  # a reopened run
            self.view.expandToDepth(1)

    # --- detail pane --------------------------------------------------------------------
    def _on_current(self, current: QModelIndex, _previous: QModelIndex) -> None:
        self._show_item(current.data(ITEM_ROLE) if current.isValid() else None)

    def _on_token(self, node_id: str) -> None:
        item = self._detail_item
        if item is not None and item.kind is ItemKind.NODE and item.node_id == node_id:
            self._show_item(item)
        elif self.following and not self.view.currentIndex().isValid():
            self._show_item(self.model.node_item(node_id))  # watch the model write

    def _on_data_changed(self, top_left: QModelIndex, _bottom_right: QModelIndex) -> None:
        if self._detail_item is not None and top_left.data(ITEM_ROLE) is self._detail_item:
            self._show_item(self._detail_item)

    def _show_item(self, item: TreeItem | None) -> None:
        self._detail_item = item
        if item is None:
            self.detail_title.setText("")
            self.detail.clear()
            return
        title = _DETAIL_TITLE[item.kind]
        if item.kind is ItemKind.NODE:
            text = self._node_text(item)
            title += f" — {item.model}"
        else:
            text = item.text
        is_code = item.kind is ItemKind.CODE
        self._highlighter.set_lexer(PythonLexer(stripnl=False, ensurenl=False) if is_code else TextLexer())
        self.detail_title.setText(f"<b>{title}</b>")
        self.detail.setPlainText(text)

    @staticmethod
    def _node_text(item: TreeItem) -> str:
        parts = [("Question" if item.node_kind != "llm" else "Prompt") + ":\n" + item.text]
        answer = next((c.text for c in reversed(item.children) if c.kind is ItemKind.ANSWER), "")
        if answer:
            parts.append("Answer:\n" + answer)
        if item.live_text:
            parts.append("Writing now:\n" + item.live_text)
        parts.append(f"Status: {item.status}   Tokens: {item.tokens or 0:,}"
                     + (f"   Time: {item.elapsed_s:.1f} s" if item.elapsed_s is not None else ""))
        return "\n\n".join(parts)
