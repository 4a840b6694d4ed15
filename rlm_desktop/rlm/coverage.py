"""What a node searched and read, from its cells, in words a user can check: a budget
that runs out ends the run with this statement instead of an empty answer (issue 19:
"a budget ends a run with the best grounded answer and a plain statement of what was not
read"). The calls are read from each cell's code with ``ast``, the files from the
sources its output cited: structured fields, not the printed text."""

from __future__ import annotations

import ast
from collections.abc import Sequence

from rlm_desktop.rlm.citations import CellSources

TOOLS = ("search", "grep", "read", "tally", "ask_numbers")
MAX_SHOWN = 4


def calls_in(code: str) -> list[str]:
    """``search('vault code')``, ``grep('def x')``... as written in the cell: each call of a
    toolbox function whose first argument is a literal string."""
    try:
        tree = ast.parse(code)
    except SyntaxError:
        return []
    out: list[str] = []
    for node in sorted((n for n in ast.walk(tree) if isinstance(n, ast.Call)), key=lambda n: (n.lineno, n.col_offset)):
        if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id in TOOLS):
            continue
        if node.args and isinstance(node.args[0], ast.Constant) and isinstance(node.args[0].value, str):
            text = f"{node.func.id}({node.args[0].value[:60]!r})"
            if text not in out:
                out.append(text)
    return out


def what_was_read(cells: Sequence[CellSources]) -> str:
    """"searched search('x'), grep('y'); saw lines of 3 files (a.txt, b.txt, c.txt)"."""
    calls: list[str] = []
    files: list[str] = []
    for cell in cells:
        calls += [c for c in calls_in(cell.code) if c not in calls]
        files += [r.path for r in cell.sources if r.path not in files]
    parts = []
    if calls:
        shown = ", ".join(calls[:MAX_SHOWN]) + (f" and {len(calls) - MAX_SHOWN} more" if len(calls) > MAX_SHOWN else "")
        parts.append(f"searched with {shown}")
    if files:
        names = ", ".join(f.rsplit("/", 1)[-1] for f in files[:MAX_SHOWN]) + (", ..." if len(files) > MAX_SHOWN else "")
        parts.append(f"saw lines of {len(files)} file{'s' if len(files) != 1 else ''} ({names})")
    return "; ".join(parts)


STATEMENT_HEAD = "Not found: the {budget} budget ran out before an answer the files support"


def not_found_within(budget: str | None, cells: Sequence[CellSources]) -> str:
    """The answer of a run whose budget ran out before a grounded answer."""
    read = what_was_read(cells)
    head = STATEMENT_HEAD.format(budget=budget or "run")
    return f"{head}. I {read}; the rest of the folder was not read." if read else f"{head}, before any search."


def is_statement(answer: str) -> bool:
    """True for the statement above (the CLI exits 1 on it: no answer was found)."""
    before, _, after = STATEMENT_HEAD.partition("{budget}")
    return answer.startswith(before) and after in answer
