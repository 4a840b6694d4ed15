"""The Ask area: the question box (Enter asks, Shift+Enter starts a new line), the scope,
Ask and Stop, and the answer as Markdown whose citations open the document viewer."""

from __future__ import annotations

from collections.abc import Callable, Sequence

from PySide6.QtCore import QUrl, Signal
from PySide6.QtGui import QAction, QDesktopServices, QKeyEvent, QKeySequence, Qt
from PySide6.QtWidgets import (
    QHBoxLayout,
    QLabel,
    QMenu,
    QPlainTextEdit,
    QPushButton,
    QSizePolicy,
    QTextBrowser,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from rlm_desktop.gui.citations import Resolver, answer_markdown, parse_citation_url
from rlm_desktop.rlm.events import Citation, RunFinished


class QuestionEdit(QPlainTextEdit):
    submitted = Signal()

    def keyPressEvent(self, event: QKeyEvent) -> None:  # noqa: N802 - Qt override
        if event.key() in (Qt.Key.Key_Return, Qt.Key.Key_Enter) and not (
            event.modifiers() & Qt.KeyboardModifier.ShiftModifier
        ):
            self.submitted.emit()
            return
        super().keyPressEvent(event)


class ScopeButton(QToolButton):
    """All folders, or a chosen subset."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setPopupMode(QToolButton.ToolButtonPopupMode.InstantPopup)
        self.setToolTip("Which folders the question is about")
        self._menu = QMenu(self)
        self.setMenu(self._menu)
        self._all = QAction("All folders", self, checkable=True, checked=True)
        self._all.toggled.connect(self._on_all)
        self._folders: list[QAction] = []
        self.set_folders([])

    def set_folders(self, folders: Sequence[str]) -> None:
        chosen = set(self.scope())
        self._menu.clear()
        self._menu.addAction(self._all)
        self._menu.addSeparator()
        self._folders = []
        for path in folders:
            action = QAction(path, self, checkable=True, checked=path in chosen)
            action.toggled.connect(self._update_label)
            self._menu.addAction(action)
            self._folders.append(action)
        if not any(a.isChecked() for a in self._folders):
            self._all.setChecked(True)
        self._update_label()

    def scope(self) -> list[str]:
        """The chosen roots; empty means all folders."""
        if self._all.isChecked():
            return []
        return [a.text() for a in self._folders if a.isChecked()]

    def set_scope(self, roots: Sequence[str]) -> None:
        for action in self._folders:
            action.setChecked(action.text() in roots)
        self._all.setChecked(not roots)
        self._update_label()

    def _on_all(self, checked: bool) -> None:
        if checked:
            for action in self._folders:
                action.setChecked(False)
        self._update_label()

    def _update_label(self) -> None:
        chosen = [a for a in self._folders if a.isChecked()]
        if chosen and self._all.isChecked():
            self._all.blockSignals(True)
            self._all.setChecked(False)
            self._all.blockSignals(False)
        if not chosen:
            self._all.blockSignals(True)
            self._all.setChecked(True)
            self._all.blockSignals(False)
        if self._all.isChecked():
            self.setText("Scope: all folders")
        elif len(chosen) == 1:
            self.setText("Scope: " + chosen[0].text().rstrip("/").rsplit("/", 1)[-1])
        else:
            self.setText(f"Scope: {len(chosen)} folders")


class AskPanel(QWidget):
    askRequested = Signal(str, list)  # question, roots ([] = all)
    stopRequested = Signal()
    citationClicked = Signal(object)  # Citation

    def __init__(self, resolver: Callable[[], Resolver | None] = lambda: None, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._resolver = resolver
        self.question = QuestionEdit()
        self.question.setPlaceholderText("Ask a question about your files…  (Enter asks, Shift+Enter for a new line)")
        self.question.setMaximumHeight(90)
        self.question.setTabChangesFocus(True)
        self.scope = ScopeButton()
        self.ask_button = QPushButton("Ask")
        self.ask_button.setDefault(True)
        self.ask_button.setToolTip("Ask the question (Enter or Ctrl+Enter)")
        self.ask_button.setShortcut(QKeySequence("Ctrl+Return"))
        self.stop_button = QPushButton("Stop")
        self.stop_button.setToolTip("Stop the run; you keep what it found so far (Esc)")
        self.stop_button.setShortcut(QKeySequence("Escape"))
        self.stop_button.setEnabled(False)
        self.status = QLabel()
        self.status.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        # a long status line must not widen the panel (the splitter would give way)
        self.status.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
        self.answer = QTextBrowser()
        self.answer.setOpenLinks(False)
        self.answer.setPlaceholderText("The answer appears here, with links to the lines it came from.")
        for widget, name in ((self.question, "question"), (self.ask_button, "ask"), (self.stop_button, "stop"),
                             (self.status, "run status"), (self.answer, "answer")):
            widget.setAccessibleName(name)

        row = QHBoxLayout()
        row.addWidget(self.scope)
        row.addWidget(self.status, 1)
        row.addWidget(self.ask_button)
        row.addWidget(self.stop_button)
        layout = QVBoxLayout(self)
        layout.addWidget(QLabel("<b>Ask</b>"))
        layout.addWidget(self.question)
        layout.addLayout(row)
        layout.addWidget(self.answer, 1)

        self.question.submitted.connect(self.submit)
        self.ask_button.clicked.connect(self.submit)
        self.stop_button.clicked.connect(self.stopRequested)
        self.answer.anchorClicked.connect(self._on_link)

    def submit(self) -> None:
        text = self.question.toPlainText().strip()
        if text and self.ask_button.isEnabled():
            self.askRequested.emit(text, self.scope.scope())

    def set_busy(self, busy: bool) -> None:
        self.ask_button.setEnabled(not busy)
        self.stop_button.setEnabled(busy)
        if busy:
            self.answer.clear()

    def set_status(self, text: str) -> None:
        self.status.setText(text)
        self.status.setToolTip(text)

    def show_answer(self, finished: RunFinished) -> None:
        self.answer.setMarkdown(answer_markdown(finished, self._resolver))
        stats = finished.stats
        self.set_status(
            f"{stats.iterations} turns · {stats.sub_calls} sub-calls · "
            f"{stats.prompt_tokens + stats.completion_tokens:,} tokens · {stats.wall_s:.1f} s"
        )

    def show_message(self, markdown: str) -> None:
        self.answer.setMarkdown(markdown)

    def _on_link(self, url: QUrl) -> None:
        citation: Citation | None = parse_citation_url(url.toString())
        if citation is not None:
            self.citationClicked.emit(citation)
        elif url.scheme() in ("http", "https", "file"):
            QDesktopServices.openUrl(url)
