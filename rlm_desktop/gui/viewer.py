"""A read-only viewer that opens a cited document at the cited line (or page), with the
line marked and code coloured by pygments."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from PySide6.QtGui import QColor, QFontDatabase, QKeySequence, QShortcut, QTextCursor, QTextFormat
from PySide6.QtWidgets import QDialog, QLabel, QPlainTextEdit, QTextEdit, QVBoxLayout, QWidget

from rlm_desktop.errors import LibraryError
from rlm_desktop.gui.highlight import PygmentsHighlighter, lexer_for
from rlm_desktop.rlm.events import Citation

log = logging.getLogger(__name__)


def document_text(citation: Citation, library: Any) -> tuple[str, int | None]:
    """The text to show and the 1-based line to go to. PDFs show the cited page (the
    library extracts them page by page); other files their whole text, from the index
    when it has them (the same text the model saw), else from disk."""
    if citation.page is not None and library is not None:
        try:
            return library.read(citation.path, citation.page, citation.page), citation.line
        except LibraryError:
            log.debug("page %s of %s not in the library", citation.page, citation.path, exc_info=True)
    if library is not None:
        try:
            return library.text(citation.path), citation.line
        except LibraryError:
            log.debug("%s not in the library; reading from disk", citation.path, exc_info=True)
    try:
        return Path(citation.path).read_text(encoding="utf-8", errors="replace"), citation.line
    except OSError as exc:
        raise LibraryError(f"cannot open {citation.path}: {exc.strerror or exc}. "
                           "The file may have moved; re-scan the folder.") from exc


class DocumentViewer(QDialog):
    def __init__(self, citation: Citation, text: str, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.citation = citation
        name = Path(citation.path).name
        where = f" — page {citation.page}" if citation.page is not None else ""
        where += f" — line {citation.line}" if citation.line is not None else ""
        self.setWindowTitle(f"{name}{where}")
        self.resize(900, 700)
        self.path_label = QLabel(citation.path)
        self.path_label.setWordWrap(True)
        self.editor = QPlainTextEdit()
        self.editor.setReadOnly(True)
        self.editor.setLineWrapMode(QPlainTextEdit.LineWrapMode.NoWrap)
        self.editor.setFont(QFontDatabase.systemFont(QFontDatabase.SystemFont.FixedFont))
        self.editor.setPlainText(text)
        self.highlighter = PygmentsHighlighter(self.editor.document(), lexer_for(citation.path))
        layout = QVBoxLayout(self)
        layout.addWidget(self.path_label)
        layout.addWidget(self.editor)
        QShortcut(QKeySequence.StandardKey.Close, self, self.close)
        if citation.line:
            self.go_to_line(citation.line)

    def current_line(self) -> int:
        return self.editor.textCursor().blockNumber() + 1

    def go_to_line(self, line: int) -> None:
        block = self.editor.document().findBlockByNumber(max(0, line - 1))
        if not block.isValid():
            block = self.editor.document().lastBlock()
        cursor = QTextCursor(block)
        self.editor.setTextCursor(cursor)
        self.editor.centerCursor()
        mark = QTextEdit.ExtraSelection()
        mark.format.setBackground(QColor(255, 214, 0, 90))
        mark.format.setProperty(QTextFormat.Property.FullWidthSelection, True)
        mark.cursor = cursor
        self.editor.setExtraSelections([mark])
