"""``extract(question, files)``: one typed record per file, read by the sub model under a
JSON schema (llama.cpp's grammar), then checked against the file's own text.

Each record says whether the file applies to the question at all (an invoice of another
client, a meeting without the person asked about), the value as the text writes it, and
the words of the text that state it. The engine forces the reply to ``RECORD_SCHEMA``, so
a small model cannot answer in prose; this module then keeps a record only when its quote
stands in the file and its value stands in the quote, and reads the value as a number
(money with cents and separators, decimals, number words) when it is one. A file that
does not apply stays out of every total, maximum and count, and is not reported as
missing (issue 19, item 4).

    recs = extract('What is the total of this invoice, and is it for Acme in 2021?', files)
    recs                 # one line per file: applies, value, where the quote stands
    recs.total()         # Decimal sum over the files that apply, with the files it came from
    recs.max(), recs.min(), recs.count(), recs.values()
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Literal

from rlm_desktop.rlm.tools.numbers import Number, format_number, numbers_in, parse_number, same_value
from rlm_desktop.rlm.tools.rows import Figure, Numbers, Row, _files

# the reply of one record call: the engine passes it to the sub model as the JSON schema
# (``LlmRequest`` kind 'record'); bounded strings keep a reply within its token budget
RECORD_SCHEMA = {
    "type": "object",
    "properties": {
        "applies": {"type": "boolean"},
        "value": {"type": "string", "maxLength": 60},
        "quote": {"type": "string", "maxLength": 200},
    },
    "required": ["applies", "value", "quote"],
}
RECORD_MAX_TOKENS = 120

RecordStatus = Literal["ok", "not_applicable", "not_in_text", "no_value", "bad_reply"]
_SPACE = re.compile(r"\s+")


@dataclass(frozen=True)
class Record:
    path: str
    applies: bool
    value: str  # as the text writes it
    number: Number | None  # the value read as a number, when it is one
    quote: str
    line: int | None  # the file's line where the quote starts
    status: RecordStatus

    @property
    def counts(self) -> bool:
        """In totals, maxima, minima and counts: applies, and checked against the text."""
        return self.status == "ok"


def record_prompt(question: str, label: str, text: str) -> str:
    return (
        f"Text from {label}:\n---\n{text}\n---\n"
        f"Question: {question}\n"
        "Reply in JSON. applies: true only if this text is about what the question asks "
        "(the same person, client, date or thing), else false. value: the answer as the text "
        "writes it, or \"\" if the text does not give it. quote: the words of the text that state it."
    )


def _norm(text: str) -> str:
    return _SPACE.sub(" ", text).strip().lower()


def _find_line(text: str, quote: str) -> int | None:
    """The line of ``text`` where ``quote`` starts (spaces and case aside), or None when
    the quote is not in the text; a quote that runs over a line break is still found."""
    want = _norm(quote)
    if not want:
        return None
    flat = _norm(text)
    at = flat.find(want)
    if at < 0:
        return None
    # map the position in the flattened text back to a line of the original
    words_before = len(flat[:at].split())
    seen = 0
    for number, line in enumerate(text.split("\n"), 1):
        seen += len(line.split())
        if seen > words_before:
            return number
    return None


def _value_in(value: str, quote: str) -> bool:
    if _norm(value) in _norm(quote):
        return True
    number = parse_number(value)
    return number is not None and any(same_value(m.value, number) for m in numbers_in(quote))


def parse_record(reply: str, path: str, text: str) -> Record:
    """The checked record of one reply about the file ``path`` whose text was ``text``."""
    try:
        data = json.loads(reply)
    except (TypeError, ValueError):
        return Record(path, False, "", None, "", None, "bad_reply")
    if not isinstance(data, dict):
        return Record(path, False, "", None, "", None, "bad_reply")
    applies = data.get("applies") is True
    value = str(data.get("value") or "").strip()
    quote = str(data.get("quote") or "").strip()
    if not applies:
        return Record(path, False, value, None, quote, None, "not_applicable")
    if not value:
        return Record(path, True, "", None, quote, None, "no_value")
    line = _find_line(text, quote)
    if line is None or not _value_in(value, quote):
        return Record(path, True, value, parse_number(value), quote, line, "not_in_text")
    return Record(path, True, value, parse_number(value), quote, line, "ok")


class Records(Numbers):
    """The records of ``extract``, one per file, and the reductions of ``Numbers`` over
    those that count (applies, quote in the file, value in the quote, a number):
    ``.total()``, ``.max()``, ``.min()``, ``.above(n)``, ``.below(n)``; ``.count()`` the
    files that apply; ``.values()`` their values as written. A file that does not apply is
    left out of every figure and is not named as missing."""

    def __init__(self, question: str, records: list[Record]) -> None:
        rows = [Row(r.path, r.number if r.status in ("ok", "not_in_text") else None, _row_status(r)) for r in records]
        super().__init__(question, rows, [_note(r) for r in records], len(records))
        self.records = records

    def _left_out(self, used: list[Row]) -> tuple[str, ...]:
        taken = {r.path for r in used}
        return tuple(r.path for r in self.records if r.path not in taken and r.status != "not_applicable")

    def applying(self) -> list[Record]:
        return [r for r in self.records if r.counts]

    def count(self) -> Figure:
        """How many files apply and state a checked value, and which."""
        paths = tuple(r.path for r in self.applying())
        return Figure(len(paths), paths, "files that apply", self._left_out([r for r in self if r.path in paths]), len(self))

    def values(self) -> list[tuple[str, str]]:
        """(path, value as written) of every file that applies and was checked."""
        return [(r.path, r.value) for r in self.applying()]

    def __repr__(self) -> str:
        ok = self.applying()
        out = [r for r in self.records if r.status == "not_applicable"]
        unchecked = [r for r in self.records if r.status in ("not_in_text", "no_value", "bad_reply")]
        head = f"{len(ok)} of {len(self.records)} files apply with a checked value; {len(out)} do not apply"
        if unchecked:
            head += f"; {len(unchecked)} unchecked ({_files(tuple(r.path for r in unchecked))})"
        lines = [head]
        for r in self.records[: self.SHOWN]:
            where = f":{r.line}" if r.line else ""
            value = r.value if r.number is None else format_number(r.number)
            lines.append(f"  {r.path}{where}: {value or '-'} ({r.status})")
        if len(self.records) > self.SHOWN:
            lines.append(f"  [... {len(self.records) - self.SHOWN} more files]")
        lines.append("Use .total(), .max(), .min(), .count() or .values() (only the files that apply, checked against their text).")
        return "\n".join(lines)

    __str__ = __repr__


def _row_status(record: Record) -> str:
    """As ``Numbers`` rows: a checked record is 'ok'; one whose quote or value is not in
    the text is 'unverified' (out of the figures unless include_unverified=True)."""
    if record.counts:
        return "ok" if record.number is not None else "none"
    return "unverified" if record.status == "not_in_text" else "none"


def _note(record: Record) -> str:
    return {
        "ok": "",
        "not_applicable": "does not apply",
        "not_in_text": "its quote or value is not in the text",
        "no_value": "applies, but gave no value",
        "bad_reply": "the reply was not a record",
    }[record.status]
