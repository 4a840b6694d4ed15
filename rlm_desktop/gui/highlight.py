"""Syntax highlighting with pygments for code cells and the document viewer.

Each block (line) is lexed on its own: multi-line strings may be coloured as code, a
fair price for highlighting that never re-lexes the whole document on every change."""

from __future__ import annotations

from functools import lru_cache

from pygments.lexer import Lexer
from pygments.lexers import PythonLexer, TextLexer, get_lexer_for_filename
from pygments.styles import get_style_by_name
from pygments.token import Token, _TokenType
from pygments.util import ClassNotFound
from PySide6.QtGui import QColor, QFont, QGuiApplication, QSyntaxHighlighter, QTextCharFormat, QTextDocument

# Files larger than this are shown without colour: lexing them would hold the GUI thread.
MAX_HIGHLIGHT_CHARS = 2_000_000


def lexer_for(path: str) -> Lexer:
    """The pygments lexer for a file name; plain text when pygments does not know it."""
    try:
        return get_lexer_for_filename(path, stripnl=False, ensurenl=False)
    except ClassNotFound:
        return TextLexer(stripnl=False, ensurenl=False)


def is_dark_palette() -> bool:
    app = QGuiApplication.instance()
    if app is None:
        return False
    return QGuiApplication.palette().base().color().lightness() < 128  # type: ignore[attr-defined]


@lru_cache(maxsize=4)
def _style_formats(style_name: str) -> dict[_TokenType, QTextCharFormat]:
    style = get_style_by_name(style_name)
    formats: dict[_TokenType, QTextCharFormat] = {}
    for token, spec in style:
        fmt = QTextCharFormat()
        if spec["color"]:
            fmt.setForeground(QColor(f"#{spec['color']}"))
        if spec["bold"]:
            fmt.setFontWeight(QFont.Weight.Bold)
        if spec["italic"]:
            fmt.setFontItalic(True)
        formats[token] = fmt
    return formats


class PygmentsHighlighter(QSyntaxHighlighter):
    def __init__(self, document: QTextDocument, lexer: Lexer | None = None) -> None:
        super().__init__(document)
        self._lexer = lexer or PythonLexer(stripnl=False, ensurenl=False)
        self._formats = _style_formats("monokai" if is_dark_palette() else "friendly")

    def set_lexer(self, lexer: Lexer) -> None:
        self._lexer = lexer
        self.rehighlight()

    def _format(self, token: _TokenType) -> QTextCharFormat | None:
        while token is not Token:
            fmt = self._formats.get(token)
            if fmt is not None and fmt.foreground().style() != 0:
                return fmt
            token = token.parent
        return None

    def highlightBlock(self, text: str) -> None:  # noqa: N802 - Qt override
        if not text or self.document().characterCount() > MAX_HIGHLIGHT_CHARS:
            return
        position = 0
        for token, value in self._lexer.get_tokens(text):
            fmt = self._format(token)
            if fmt is not None:
                self.setFormat(position, len(value), fmt)
            position += len(value)
