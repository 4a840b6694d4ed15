"""What the loop does with a cell's text around running it: whether it repeats an earlier
cell or pastes the last output back, and mending a ``FINAL`` the model broke (a string cut
at the token limit, a quote inside its own string). Pure functions of text."""

from __future__ import annotations

import ast
import re

from rlm_desktop.rlm.tools.passages import (
    FIRST_AROUND,
    FIRST_CHARS,
    FIRST_HITS,
    SECOND_AROUND,
    SECOND_CHARS,
    SECOND_HITS,
    SECOND_WORDS,
)


def normalized(code: str) -> str:
    """The cell as it runs: blank lines and whole-line comments dropped (the 1.5B re-sends
    the same search under a new comment, "# the answer is in the first file")."""
    return "\n".join(line.rstrip() for line in code.strip().splitlines() if line.strip() and not line.lstrip().startswith("#"))


def output_lines(output: str) -> set[str]:
    """The lines of an output long enough to tell a paste of them from code."""
    return {line.strip() for line in output.splitlines() if len(line.strip()) >= 8}


def pastes_output(code: str, output: str) -> bool:
    """True when most lines of a cell are whole lines of the last output."""
    shown = output_lines(output)
    lines = [line.strip() for line in code.splitlines() if line.strip()]
    if not shown or not lines:
        return False
    return sum(line in shown for line in lines) * 2 >= len(lines)


def first_clause(text: str) -> str:
    """``text`` up to its first ", " or line break, brackets closed."""
    first = re.split(r",\s|\n", text, maxsplit=1)[0].strip()
    return first + ")" * max(0, first.count("(") - first.count(")"))


def cut_final(code: str) -> str | None:
    """The first clause of a ``FINAL('...`` whose string never closes (cut at the token
    limit): up to the first ", " or line end, brackets closed. None without one."""
    m = re.search(r"FINAL\(\s*[rfbu]?(['\"])(.*)", code, re.DOTALL)
    if m is None or m.group(1) in m.group(2):
        return None
    return first_clause(m.group(2)) or None


_FINAL_LINE = re.compile(r"\s*FINAL\((['\"])(.*?)\1((?:\s*,\s*['\"][^'\"]*['\"])*)\)\s*")


def quote_mended(code: str) -> str | None:
    """The cell with its last line's ``FINAL('...')`` string re-quoted when a quote inside
    it broke the cell: FINAL('55991: Olga Petrova's badge number is 55991') is a
    SyntaxError, and the 1.5B lost its way after one. None when nothing needs mending."""
    try:
        ast.parse(code)
        return None
    except SyntaxError:
        pass
    lines = code.rstrip().splitlines()
    m = _FINAL_LINE.fullmatch(lines[-1]) if lines else None
    if m is None:
        return None
    mended = "\n".join([*lines[:-1], f"FINAL({m.group(2)!r}{m.group(3)})"])
    try:
        ast.parse(mended)
    except SyntaxError:
        return None
    return mended


def without_pasted(code: str, output: str) -> str | None:
    """The cell without the lines that are whole lines of the last output, when what is
    left is Python (a pasted grep listing followed by ``FINAL(...)``); else None."""
    shown = output_lines(output)
    rest = "\n".join(line for line in code.splitlines() if line.strip() and line.strip() not in shown)
    if not rest.strip():
        return None
    try:
        ast.parse(rest)
    except SyntaxError:
        return None
    return rest


def last_line(error: str) -> str:
    lines = error.strip().splitlines()
    return lines[-1] if lines else ""


# 'Sofia Rossi' in f.text.lower(): a capitalized literal tested against lowercased text
_CAPS_IN_LOWER = re.compile(r"""(['"])([^'"\n]*[A-Z][^'"\n]*)\1(\s+(?:not\s+)?in\s+[\w.\[\]]+\.lower\(\))""")


def caps_lowered(code: str) -> tuple[str, list[str]]:
    """The cell with every capitalized literal that is tested against ``.lower()`` text
    lowercased, and the literals changed. The 1.5B wrote ``'Maria Lopez' in
    f.text.lower()`` (never true), got "0 of 12 files", and insisted on "none" through a
    hint and a refusal; what it meant is not in doubt."""
    changed: list[str] = []

    def lower(m: re.Match[str]) -> str:
        changed.append(m.group(2))
        return f"{m.group(1)}{m.group(2).lower()}{m.group(1)}{m.group(3)}"

    return _CAPS_IN_LOWER.sub(lower, code), changed


# a statement calling Final(...) or final(...): the answer function has one spelling
_FINAL_CASED = re.compile(r"^(\s*)(?:Final|final)\(", re.MULTILINE)
_DEFINES_FINAL = re.compile(r"^\s*(?:def\s+(?:Final|final)\b|(?:Final|final)\s*=)", re.MULTILINE)


def final_spelled(code: str) -> str | None:
    """The cell with ``Final(...)``/``final(...)`` statements spelled ``FINAL(...)``, or
    None when there is none (or the cell defines such a name itself). The 1.5B wrote
    ``Final('Not found: ...')`` eight times, each a NameError, until its turns ran out."""
    if not _FINAL_CASED.search(code) or _DEFINES_FINAL.search(code):
        return None
    return _FINAL_CASED.sub(r"\1FINAL(", code)


def mended(code: str) -> tuple[str, list[str]]:
    """The cell with the small model's sure slips put right (``caps_lowered``,
    ``final_spelled``, ``quote_mended``), and a line for the trace on each."""
    notes: list[str] = []
    code, lowered = caps_lowered(code)
    if lowered:
        notes.append(f"{', '.join(repr(t) for t in lowered)} compared with lowercased text: ran it lowercased")
    spelled = final_spelled(code)
    if spelled is not None:
        notes.append("Final(...) spelled FINAL(...)")
        code = spelled
    quoted = quote_mended(code)
    if quoted is not None:
        notes.append(f"a quote inside FINAL's string broke the cell: ran {quoted.splitlines()[-1]}")
        code = quoted
    return code, notes


def borrowed_literals(code: str, examples: str, question: str, seen: str) -> list[str]:
    """The string literals of a cell that come from the worked examples: each stands
    quoted in ``examples`` and is in neither the question nor anything the node saw.
    The 1.5B, stuck, greps the example's function name or reads the example's file."""
    try:
        tree = ast.parse(code)
    except SyntaxError:
        return []
    asked, shown = question.lower(), seen.lower()
    found: list[str] = []
    for node in ast.walk(tree):
        if not (isinstance(node, ast.Constant) and isinstance(node.value, str)):
            continue
        lit = node.value.strip()
        if len(lit) < 4 or lit in found or lit.lower() in asked or lit.lower() in shown:
            continue
        if any(f"{q}{lit}{q}" in examples for q in ("'", '"')):
            found.append(lit)
    return found


def read_first_cell(question: str) -> str:
    """The cell the engine runs before a one-place question's first turn: wider than a
    model's own ``passages`` call (``passages.FIRST_HITS``)."""
    return (f"passages({' '.join(question.split())!r}, k={FIRST_HITS}, around={FIRST_AROUND}, "
            f"chars={FIRST_CHARS})")


def second_move_cell(question: str) -> str:
    """The cell the engine runs when the reading of the first move's passages found no
    line stating the answer: passages of the question's rarest words, none shown before."""
    return (f"passages(' '.join(rarest_words({' '.join(question.split())!r}, {SECOND_WORDS})), k={SECOND_HITS}, "
            f"around={SECOND_AROUND}, chars={SECOND_CHARS}, new_only=True)")


PASSAGE_LINES = 3  # lines read either side of an earlier match
PASSAGES_PER_REPEAT = 3
PASSAGE_MARK = "# (the engine) the lines around earlier matches, not yet shown:"


def passage_windows(cells_seen, repeated_code: str, shown: set[tuple[str, int]],
                    limit: int = PASSAGES_PER_REPEAT) -> list[tuple[str, int, int]]:
    """(path, start, end) to read for a repeated cell: the matches of the cell it repeats
    first (the model wanted those results), then those of the other cells, newest first,
    each as a few lines either side; a window already shown is skipped and added to
    ``shown``. A page of a PDF is one window. Nothing when every match was read."""
    wanted = normalized(repeated_code)
    ordered = [c for c in cells_seen if normalized(getattr(c, "code", "")) == wanted]
    ordered += [c for c in reversed(list(cells_seen)) if c not in ordered]
    windows: list[tuple[str, int, int]] = []
    for cell in ordered:
        for ref in cell.sources:
            if ref.how not in ("search", "grep"):
                continue
            at = ref.page if ref.page is not None else ref.line
            if at is None:
                continue
            key = (ref.path, at if ref.page is not None else (at - 1) // (2 * PASSAGE_LINES + 1))
            if key in shown:
                continue
            shown.add(key)
            if ref.page is not None:
                windows.append((ref.path, at, at))
            else:
                windows.append((ref.path, max(1, at - PASSAGE_LINES), at + PASSAGE_LINES))
            if len(windows) >= limit:
                return windows
    return windows


def passages_cell(windows: list[tuple[str, int, int]]) -> str:
    """The cell the engine runs in the REPL for those windows (recorded like any cell, so
    what it reads counts for grounding and citations)."""
    rows = ", ".join(f"({path!r}, {start}, {end})" for path, start, end in windows)
    return (f"{PASSAGE_MARK}\nfor _path, _start, _end in [{rows}]:\n"
            f"    print(f'--- {{_path}} lines {{_start}}-{{_end}}')\n    print(read(_path, _start, _end))")
