"""What the tools computed, as data. A ``tally``, a reduction of ``ask_numbers`` rows
(``.total()``, ``.max()``, ...), a ``grep`` and a ``passages`` call each leave a
``ToolFact`` in the cell's record; the worker sends them with the cell's result and the engine's answer rules
read them as fields, never by parsing the text the tool printed."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

FACT_TOOLS = ("tally", "figure", "grep", "passages")
MAX_ROWS = 50  # a tally's rows kept (most frequent first), a grep's hits kept
HIT_CHARS = 300  # of a grep hit's line
MAX_LINES = 400  # the lines of a passages call kept (its listing holds about 6,000 characters)
LINE_CHARS = 1_000  # of a passage's line (passages cut a hit line to 720)


@dataclass(frozen=True)
class ToolFact:
    """``tool``: "tally" (``kind`` "tally"), "figure" (``kind``: "total", "max", "min",
    "above" or "below") or "grep" (``kind`` "grep"; ``hits``: (path, line, the function
    or class the line is in or "", the line's text)) or "passages" (``kind`` "passages";
    ``lines``: (path, line or 0, page or 0, text) for every line the passages showed, in
    their order). ``value``: a figure's value as printed ("" when it had none).
    ``matched``: the files a tally matched, or the files a figure came from.
    ``searched``: the files a tally looked at. ``rows``: a tally's (value, files), most
    first. ``distinct``: a tally's number of distinct values."""

    tool: Literal["tally", "figure", "grep", "passages"]
    kind: str
    value: str = ""
    matched: int = 0
    searched: int = 0
    rows: tuple[tuple[str, int], ...] = ()
    distinct: int = 0
    hits: tuple[tuple[str, int, str, str], ...] = ()
    lines: tuple[tuple[str, int, int, str], ...] = ()

    def to_wire(self) -> dict[str, Any]:
        return {"tool": self.tool, "kind": self.kind, "value": self.value, "matched": self.matched,
                "searched": self.searched, "rows": [[v, n] for v, n in self.rows[:MAX_ROWS]], "distinct": self.distinct,
                "hits": [list(h) for h in self.hits[:MAX_ROWS]], "lines": [list(ln) for ln in self.lines[:MAX_LINES]]}

    @classmethod
    def from_wire(cls, data: dict[str, Any]) -> ToolFact:
        """From a message the wire protocol has already checked field by field."""
        return cls(data["tool"], data["kind"], data["value"], data["matched"], data["searched"],
                   tuple((str(v), int(n)) for v, n in data["rows"]), data["distinct"],
                   tuple((str(p), int(n), str(s), str(t)) for p, n, s, t in data["hits"]),
                   tuple((str(p), int(n), int(g), str(t)) for p, n, g, t in data["lines"]))


def tally_fact(rows: list[tuple[str, int]], searched: int, unmatched: int) -> ToolFact:
    return ToolFact("tally", "tally", matched=searched - unmatched, searched=searched,
                    rows=tuple((str(v), int(n)) for v, n in rows[:MAX_ROWS]), distinct=len(rows))


def figure_fact(how: str, value: str, files: int) -> ToolFact:
    """``how`` as a Figure names it: "total", "max", "min", "files above 1000", ..."""
    kind = how.split()[1] if how.startswith("files ") else how
    return ToolFact("figure", kind, value=value, matched=files)


def grep_fact(hits: list[tuple[str, int, str | None, str]], total: int) -> ToolFact:
    """``hits``: (path, line, scope or None, text) as grep shows them; ``total``: all matches."""
    kept = tuple((path, int(line), scope or "", text[:HIT_CHARS]) for path, line, scope, text in hits[:MAX_ROWS])
    return ToolFact("grep", "grep", matched=total, hits=kept)


def passages_fact(shown: list[tuple[str, int | None, int | None, str]]) -> ToolFact:
    """``shown``: (path, line or None, page or None, text) for each line a ``passages``
    call listed, in its order."""
    kept = tuple((path, line or 0, page or 0, text[:LINE_CHARS]) for path, line, page, text in shown[:MAX_LINES])
    return ToolFact("passages", "passages", matched=len(shown), lines=kept)
