"""Citations from what code actually read or searched, never from what the model claims.

Each cell reports the ``SourceRef``s it touched. Preferred are the refs whose own text
holds the answer's key values, then refs of cells whose output held them, then the refs of
the last cells that touched the corpus."""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from rlm_desktop.rlm.events import Citation
from rlm_desktop.rlm.grounding import contains_value, key_values
from rlm_desktop.rlm.repl.types import SourceRef

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


def cite(answer: str, cells: Sequence[CellSources], ref_text: RefText | None = None) -> tuple[Citation, ...]:
    values = [v for v in key_values(answer) if len(v) > 1 or v.isdigit()]
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
