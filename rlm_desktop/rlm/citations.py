"""Citations from what code actually read or searched, never from what the model claims.

Each cell reports the ``SourceRef``s it touched. Preferred are the refs whose own text
holds the answer's key values, then refs of cells whose output held them, then the refs of
the last cells that touched the corpus."""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from rlm_desktop.rlm.events import Citation
from rlm_desktop.rlm.grounding import CITED_LINE, contains_value, key_values
from rlm_desktop.rlm.sandbox.types import SourceRef

log = logging.getLogger(__name__)

MAX_CITATIONS = 5

# Reads the text at a ref (a line, or a page); None when unknown.
RefText = Callable[[SourceRef], "str | None"]


@dataclass(frozen=True)
class CellSources:
    """The refs a cell touched and the output it printed."""

    output: str
    sources: tuple[SourceRef, ...]
    code: str = ""  # the cell that printed it (what a budget's end reports as searched)


def _key(ref: SourceRef) -> tuple[str, int | None, int | None]:
    return (ref.path, ref.line, ref.page)


def cite(answer: str, cells: Sequence[CellSources], ref_text: RefText | None = None, question: str = "") -> tuple[Citation, ...]:
    """``question``: values it names already (the station the question is about) are no
    evidence that a line holds the answer; the answer's other values are, when it has any."""
    values = [v for v in key_values(answer) if len(v) > 1 or v.isdigit()]
    asked = question.lower()
    answering = [v for v in values if v.lower() not in asked]
    values = answering or values
    strong: list[SourceRef] = []
    medium: list[SourceRef] = []
    weak: list[SourceRef] = []
    for cell in reversed(cells):
        cell_has = bool(values) and any(contains_value(cell.output, v) for v in values)
        for ref in cell.sources:
            text = _line_text(ref, cell.output, ref_text)
            if values and text is not None and any(contains_value(text, v) for v in values):
                strong.append(ref)
            elif cell_has:
                medium.append(ref)
            else:
                weak.append(ref)
    chosen = strong or medium or weak
    seen: set[tuple[str, int | None, int | None]] = set()
    result: list[Citation] = []
    for ref in chosen:
        if _key(ref) in seen:
            continue
        seen.add(_key(ref))
        result.append(Citation(ref.path, ref.line, ref.page))
        if len(result) >= MAX_CITATIONS:
            break
    return tuple(result)


def _line_text(ref: SourceRef, output: str, ref_text: RefText | None) -> str | None:
    """The text at a ref: from the library when we can read it, else the output line that
    names ``path:line``."""
    if ref_text is not None:
        try:
            text = ref_text(ref)
        except Exception:  # a vanished file must not lose the answer
            log.debug("could not read %s for a citation", ref, exc_info=True)
            text = None
        if text is not None:
            return text
    if ref.line is None:
        return None
    name = ref.path.rsplit("/", 1)[-1]
    for line in output.splitlines():
        if f"{name}:{ref.line}" in line:
            return line
    return None


def library_ref_text(library) -> RefText:
    """A ``RefText`` over a ``Library``: the cited line with one line either side."""

    def read(ref: SourceRef) -> str | None:
        if ref.line is None and ref.page is None:
            return None
        at = ref.page if ref.page is not None else ref.line
        return library.read(ref.path, max(1, at - 1), at + 1)

    return read


def recite(answer: str, question: str, cells: Sequence[CellSources], ref_text: RefText | None) -> tuple[str, str | None]:
    """An answer's own "file:line", checked against the text there. When the cited line
    (with one line either side) holds none of the answer's values (those the question
    does not already name), and a line the run read does, the answer cites that line
    instead; the note says what changed. The 1.5B wrote "2.35 m (maintenance-log.txt:8)"
    where line 8 says only that the threshold was set; the value stood in the notes."""
    if ref_text is None:
        return answer, None
    asked = question.lower()
    values = [v for v in key_values(answer) if (len(v) > 1 or v.isdigit()) and v.lower() not in asked]
    if not values:
        return answer, None
    refs = [ref for cell in cells for ref in cell.sources if ref.line is not None and ref.page is None]
    for m in list(CITED_LINE.finditer(answer)):
        shown, line = m.group(1), int(m.group(2))
        full = next((r.path for r in refs if r.path == shown or r.path.endswith("/" + shown)), None)
        if full is None:
            continue
        cited = _safe_text(ref_text, SourceRef(full, line))
        if cited is None or any(contains_value(cited, v) for v in values):
            continue
        better = next((r for r in reversed(refs)
                       if (t := _safe_text(ref_text, SourceRef(r.path, r.line))) is not None
                       and any(contains_value(_middle(t), v) for v in values)), None)
        if better is None:
            continue
        prefix = full[: len(full) - len(shown)] if full.endswith(shown) else ""
        new_path = better.path[len(prefix):] if prefix and better.path.startswith(prefix) else better.path
        replacement = f"{new_path}:{better.line}"
        return (answer[: m.start()] + replacement + answer[m.end():],
                f"the answer cited {shown}:{line}, which does not say {values[0]!r}; {replacement} does, and is cited instead")
    return answer, None


def _safe_text(ref_text: RefText, ref: SourceRef) -> str | None:
    try:
        return ref_text(ref)
    except Exception:  # noqa: BLE001 - a vanished file keeps the answer as it is
        return None


def _middle(text: str) -> str:
    """The cited line itself out of ``library_ref_text``'s three lines."""
    lines = text.split("\n")
    return lines[1] if len(lines) == 3 else text
