"""What ``ask_numbers`` returns: a row per file (path, value, status) and the figures its
reductions give (``.total()``, ``.max()``, ``.min()``, ``.above(n)``, ``.below(n)``), each
printing like an answer with its sources. Reading and checking the values is
``values.py``; this module only holds and reduces them (as Decimals, never floats)."""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal
from typing import Literal, NamedTuple

from rlm_desktop.rlm.tools.numbers import Number, as_number, format_number, same_value

Status = Literal["ok", "second_pass", "from_text", "from_peers", "unverified", "none"]


class Figure(NamedTuple):
    """A reduced value and the files it came from; prints like an answer with its sources."""

    value: Number | None
    paths: tuple[str, ...]
    how: str = "total"
    left_out: tuple[str, ...] = ()  # files whose value is not in it (unverified or none)
    files: int = 0  # rows it was reduced from

    def __repr__(self) -> str:
        if self.value is None:
            return f"no verified values for the {self.how}"
        if self.how == "total":
            text = f"{format_number(self.value)} ({self.how} of {_files(self.paths)})"
        elif self.how.startswith("files "):  # a count of the files past a number
            how = self.how.replace("files ", "file ", 1) if self.value == 1 else self.how
            text = f"{format_number(self.value)} {how}" + (f" ({_files(self.paths)})" if self.paths else "")
        else:
            text = f"{format_number(self.value)} (from {_files(self.paths)})"
        if self.left_out:
            # a partial total read as the answer was the dev set's numeric failure
            text += (f" -- not counted: {len(self.left_out)} of {self.files or len(self.paths) + len(self.left_out)} files "
                     f"({_files(self.left_out)}) had no verified value: read them, or "
                     f"{self.how}(include_unverified=True)")
        return text

    __str__ = __repr__


def _files(paths: tuple[str, ...]) -> str:
    shown = ", ".join(paths[:8])
    return shown + (f" and {len(paths) - 8} more" if len(paths) > 8 else "")


class Row(NamedTuple):
    path: str
    value: Number | None
    status: Status


class Numbers(list):
    """Rows (path, value, status) from ``ask_numbers``. status: 'ok' (the reply passed the
    checks), 'second_pass' (it did not; the answer to the list of candidates did),
    'from_text' (neither did; the text's figure by the question's words is clear),
    'from_peers' (nor that; the text's figure phrased like the other files' verified
    ones is), 'unverified' (none of these: the value is kept but left out of
    total/max/min), 'none' (no number). ``notes`` says why a row is not 'ok'."""

    SHOWN = 10

    def __init__(self, question: str, rows: list[Row], notes: list[str], files: int) -> None:
        super().__init__(rows)
        self.question = question
        self.notes = notes
        self.files = files
        self.asked: list[str] = []  # the one-period questions a two-period one was split into
        self.on_figure: Callable[[Figure], None] | None = None  # told of each reduction (the cell's facts)

    def _told(self, figure: Figure) -> Figure:
        if self.on_figure is not None:
            self.on_figure(figure)
        return figure

    @classmethod
    def summed(cls, question: str, parts: list[Numbers], asked: list[str]) -> Numbers:
        """One row per file, its values of ``parts`` added: verified when every part is,
        'unverified' when one is, 'none' when one part found no number."""
        rows, notes = [], []
        for i, first in enumerate(parts[0]):
            pieces = [p[i] for p in parts]
            if any(r.value is None for r in pieces):
                status: Status = "none"
            elif any(r.status == "unverified" for r in pieces):
                status = "unverified"
            else:
                status = "ok"
            total = None if status == "none" else as_number(sum(Decimal(str(r.value)) for r in pieces))
            rows.append(Row(first.path, total, status))
            notes.append("; ".join(f"{format_number(r.value) if r.value is not None else '-'} ({r.status})" for r in pieces))
        result = cls(question, rows, notes, parts[0].files)
        result.asked = asked
        return result

    def verified(self, include_unverified: bool = False) -> list[Row]:
        wanted = ("ok", "second_pass", "from_text", "from_peers", "unverified") if include_unverified else ("ok", "second_pass", "from_text", "from_peers")
        return [r for r in self if r.status in wanted and r.value is not None]

    @property
    def unverified(self) -> list[Row]:
        return [r for r in self if r.status == "unverified"]

    def total(self, include_unverified: bool = False) -> Figure:
        """The sum of the verified values, with the files they came from."""
        rows = self.verified(include_unverified)
        if not rows:
            return self._told(Figure(None, (), "total"))
        value = sum(Decimal(str(r.value)) for r in rows)
        return self._told(Figure(as_number(value), tuple(r.path for r in rows), "total", self._left_out(rows), len(self)))

    def _left_out(self, used: list[Row]) -> tuple[str, ...]:
        taken = {r.path for r in used}
        return tuple(r.path for r in self if r.path not in taken)

    def max(self, include_unverified: bool = False) -> Figure:
        """The largest verified value and the file(s) that gave it."""
        return self._extreme(max, include_unverified)

    def min(self, include_unverified: bool = False) -> Figure:
        """The smallest verified value and the file(s) that gave it."""
        return self._extreme(min, include_unverified)

    def above(self, limit: Number, include_unverified: bool = False) -> Figure:
        """How many files have a verified value greater than ``limit``, and which."""
        return self._past(limit, 1, include_unverified)

    def below(self, limit: Number, include_unverified: bool = False) -> Figure:
        """How many files have a verified value less than ``limit``, and which."""
        return self._past(limit, -1, include_unverified)

    def _past(self, limit: Number, side: int, include_unverified: bool) -> Figure:
        rows = self.verified(include_unverified)
        limit = float(limit)
        hits = tuple(r.path for r in rows if (r.value - limit) * side > 0)  # type: ignore[operator]
        how = f"files {'above' if side > 0 else 'below'} {format_number(limit)}"
        return self._told(Figure(len(hits), hits, how, self._left_out(rows), len(self)))

    def _extreme(self, pick, include_unverified: bool) -> Figure:  # noqa: ANN001 - max or min
        rows = self.verified(include_unverified)
        if not rows:
            return self._told(Figure(None, (), pick.__name__))
        value = pick(r.value for r in rows)
        return self._told(Figure(value, tuple(r.path for r in rows if same_value(r.value, value)), pick.__name__, self._left_out(rows), len(self)))

    def __repr__(self) -> str:
        valued = sum(1 for r in self if r.value is not None)
        head = f"{valued} values from {self.files} files"
        if self.unverified:
            head += f" ({len(self.unverified)} unverified: {_files(tuple(r.path for r in self.unverified))})"
        lines = [head]
        if self.asked:
            lines.append("Asked once for each and added per file: " + ", ".join(repr(q) for q in self.asked))
        for row, note in list(zip(self, self.notes, strict=True))[: self.SHOWN]:
            value = "-" if row.value is None else format_number(row.value)
            lines.append(f"  {row.path}: {value} ({row.status}{': ' + note if note else ''})")
        if len(self) > self.SHOWN:
            lines.append(f"  [... {len(self) - self.SHOWN} more rows]")
        lines.append("Use .total(), .max() or .min(), or .above(n) / .below(n) to count the files past a number (verified values, with their files).")
        return "\n".join(lines)

    __str__ = __repr__
