"""Reading a model turn: the first fenced code block, and answer tags written as text.

The root model may write at most one code block per turn; generation is cut right after
its closing fence (``stop_after_first_block``) so the model can never write its own
"REPL output". Fences tagged ``python``, ``py``, ``repl`` or untagged are accepted."""

from __future__ import annotations

import re
from dataclasses import dataclass

_OPEN = re.compile(r"```[ \t]*(python3?|py|repl)?[ \t]*\n", re.IGNORECASE)
_CLOSE = re.compile(r"\n?[ \t]*```")
_FINAL_VAR = re.compile(r"FINAL_VAR\(\s*['\"]?([A-Za-z_][A-Za-z0-9_]*)['\"]?\s*\)")
_FINAL = re.compile(r"FINAL\((.*)\)", re.DOTALL)


@dataclass(frozen=True)
class Turn:
    """What a model turn contains: its code (or None) and a text answer tag (or None)."""

    code: str | None
    final_text: str | None = None  # FINAL(...) written as text, outside code
    final_var: str | None = None  # FINAL_VAR(name) written as text, outside code


def stop_after_first_block(text: str) -> int | None:
    """``StopFn`` for the backend: cut right after the closing fence of the first block."""
    opened = _OPEN.search(text)
    if opened is None:
        return None
    closed = _CLOSE.search(text, opened.end())
    if closed is None:
        return None
    return closed.end()


PASTE_LINES = 4  # whole lines of the last output that make a cell a paste


def stop_on_paste(shown: set[str], lines: int = PASTE_LINES):
    """``StopFn``: ``stop_after_first_block``, and also a cut once the open block's first
    ``lines`` lines are all whole lines of ``shown`` (``cells.output_lines`` of the last
    output): the 1.5B sent a 40-line listing back as its next cell three turns running,
    about 40 s a turn (dev, click-src-04). The loop then treats the cut cell as a paste."""

    def stop(text: str) -> int | None:
        closed = stop_after_first_block(text)
        if closed is not None or not shown:
            return closed
        opened = _OPEN.search(text)
        if opened is None:
            return None
        body = text[opened.end():]
        done = [line.strip() for line in body.split("\n")[:-1] if line.strip()]  # complete lines only
        if len(done) >= lines and all(line in shown for line in done[:lines]):
            return len(text)
        return None

    return stop


def parse_turn(text: str) -> Turn:
    opened = _OPEN.search(text)
    if opened is not None:
        closed = _CLOSE.search(text, opened.end())
        body = text[opened.end() : closed.start()] if closed else text[opened.end() :]
        if body.strip():
            return Turn(code=body.rstrip() + "\n")
    outside = text if opened is None else text[: opened.start()]
    var = _FINAL_VAR.search(outside)
    if var:
        return Turn(code=None, final_var=var.group(1))
    final = _FINAL.search(outside)
    if final:
        return Turn(code=None, final_text=_strip_quotes(final.group(1)))
    return Turn(code=None)


def parse_forced_answer(text: str) -> str:
    """The answer of a final forced turn: a FINAL(...) tag if there is one, else the text."""
    final = _FINAL.search(text)
    if final:
        return _strip_quotes(final.group(1))
    return text.strip()


def _strip_quotes(value: str) -> str:
    value = value.strip()
    # FINAL(...) may be followed by prose on the same line; keep the balanced part
    depth, end = 0, len(value)
    for i, ch in enumerate(value):
        if ch == "(":
            depth += 1
        elif ch == ")":
            if depth == 0:
                end = i
                break
            depth -= 1
    value = value[:end].strip()
    if len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":
        value = value[1:-1]
    return value.strip()


_HIGHLIGHT = re.compile(r"\[([^\[\]\s]{1,40})\]")


def clean_answer(answer: str) -> str:
    """Drop search-snippet decoration a small model copies into its answer: the ``[word]``
    highlight brackets (when there are several) and the ``…`` cut marks."""
    if len(_HIGHLIGHT.findall(answer)) >= 2:
        answer = _HIGHLIGHT.sub(r"\1", answer)
    return answer.replace("…", " ").strip()
