"""Running one cell (inside the worker) the way a small model needs: persistent namespace,
the value of the last expression echoed like Python's REPL, stdout/stderr captured and
cut with a visible marker, and short tracebacks that show only the model's own lines."""

from __future__ import annotations

import ast
import sys
import time
import traceback
from dataclasses import dataclass
from typing import Any

from rlm_desktop.rlm.tools.namespace import _MISSING, CellRecord, Repl

_CAPTURE_HEAD = 256 * 1024
_CAPTURE_TAIL = 64 * 1024
_MAX_FRAMES = 4
MAX_VARIABLES = 300  # names reported per cell (the pipe carries bounded messages)


@dataclass
class CellOutcome:
    output: str
    error: str | None
    record: CellRecord
    elapsed_s: float
    corpus_seen: bool
    variables: list[str]


class _Capture:
    """A write-only text stream that keeps the head and the tail of what is written and
    counts the rest, so a runaway print loop cannot exhaust memory."""

    def __init__(self) -> None:
        self.head: list[str] = []
        self.head_len = 0
        self.tail = ""
        self.dropped = 0

    def write(self, text: Any) -> int:
        if not isinstance(text, str):
            raise TypeError(f"write() argument must be str, not {type(text).__name__}")
        if self.head_len < _CAPTURE_HEAD:
            take = text[: _CAPTURE_HEAD - self.head_len]
            self.head.append(take)
            self.head_len += len(take)
            text = text[len(take) :]
        if text:
            self.tail += text
            if len(self.tail) > 2 * _CAPTURE_TAIL:
                self.dropped += len(self.tail) - _CAPTURE_TAIL
                self.tail = self.tail[-_CAPTURE_TAIL:]
        return len(text)

    def flush(self) -> None:
        pass

    def isatty(self) -> bool:
        return False

    def value(self) -> tuple[str, int]:
        head = "".join(self.head)
        return head + self.tail, self.dropped


def cut_output(text: str, limit: int, dropped: int = 0) -> str:
    """Keep the start and the end of ``text`` within ``limit`` characters, with a marker
    saying how much was left out."""
    missing = len(text) - limit + dropped
    if missing <= 0:
        return text
    head = max(0, int(limit * 0.75))
    tail = max(0, limit - head)
    marker = f"\n[... {missing:,} more characters ...]\n"
    return text[:head] + marker + (text[-tail:] if tail else "")


def _assigns_answer(tree: ast.Module) -> bool:
    for node in tree.body:
        targets: list[ast.expr] = []
        if isinstance(node, ast.Assign):
            targets = node.targets
        elif isinstance(node, (ast.AugAssign, ast.AnnAssign)):
            targets = [node.target]
        for target in targets:
            for sub in ast.walk(target):
                if isinstance(sub, ast.Name) and sub.id == "answer":
                    return True
    return False


class CellRunner:
    def __init__(self, repl: Repl, output_chars: int, echo: bool = True) -> None:
        self.repl = repl
        self.output_chars = output_chars
        self.echo = echo  # False only for an ablation run: the value is computed, not shown
        self._sources: dict[str, list[str]] = {}

    def run(self, code: str, cell_id: int) -> CellOutcome:
        repl = self.repl
        repl.cell = CellRecord()
        filename = f"<cell-{cell_id}>"
        self._sources[filename] = code.split("\n")
        capture = _Capture()
        error: str | None = None
        started = time.monotonic()
        before = repl.namespace.get("answer", _MISSING)
        assigned = False
        saved = sys.stdout, sys.stderr
        sys.stdout = sys.stderr = capture  # type: ignore[assignment]
        try:
            try:
                tree = ast.parse(code, filename=filename, mode="exec")
            except SyntaxError as exc:
                error = _syntax_error(exc)
            else:
                assigned = _assigns_answer(tree)
                error = self._execute(tree, filename, capture)
        finally:
            sys.stdout, sys.stderr = saved
        repl.check_answer_variable(before, assigned)
        raw, dropped = capture.value()
        output = cut_output(raw, self.output_chars, dropped)
        return CellOutcome(
            output=output,
            error=error,
            record=repl.cell,
            elapsed_s=time.monotonic() - started,
            corpus_seen=repl.memory.found_in(output),
            variables=repl.user_variables()[:MAX_VARIABLES],
        )

    def _execute(self, tree: ast.Module, filename: str, capture: _Capture) -> str | None:
        ns = self.repl.namespace
        last: ast.expr | None = None
        if tree.body and isinstance(tree.body[-1], ast.Expr):
            last = tree.body.pop().value  # type: ignore[attr-defined]
        try:
            if tree.body:
                exec(compile(tree, filename, "exec"), ns)  # noqa: S102 - this is the REPL
            if last is not None:
                value = eval(compile(ast.Expression(last), filename, "eval"), ns)  # noqa: S307
                if value is not None:
                    ns["_"] = value
                if value is not None and self.echo:
                    text = value if isinstance(value, str) else repr(value)
                    capture.write(text if text.endswith("\n") else text + "\n")
        except SystemExit:
            return "SystemExit: exit() is not available here; set the answer with FINAL(...) instead."
        except KeyboardInterrupt:
            return "KeyboardInterrupt"
        except BaseException as exc:  # noqa: BLE001 - report anything the cell raised
            return self._format(exc)
        return None

    def _format(self, exc: BaseException) -> str:
        """Frames of the model's own cells only (the last few), then the exception line."""
        rows: list[str] = []
        tb = exc.__traceback__
        while tb is not None:
            code = tb.tb_frame.f_code
            name = code.co_filename
            if name.startswith("<cell-"):
                lines = self._sources.get(name, [])
                lineno = tb.tb_lineno
                src = lines[lineno - 1].strip() if 0 < lineno <= len(lines) else ""
                where = "" if code.co_name == "<module>" else f", in {code.co_name}"
                rows.append(f"  cell {name[6:-1]}, line {lineno}{where}: {src}")
            tb = tb.tb_next
        if len(rows) > _MAX_FRAMES:
            rows = [f"  [... {len(rows) - _MAX_FRAMES} earlier frames]"] + rows[-_MAX_FRAMES:]
        last = "".join(traceback.format_exception_only(type(exc), exc)).strip()
        qualified = f"{type(exc).__module__}.{type(exc).__qualname__}"
        if last.startswith(qualified):  # "LibraryError: ..." reads better than our module path
            last = type(exc).__name__ + last[len(qualified) :]
        if isinstance(exc, RecursionError):
            rows = rows[-2:]
        return "\n".join(["Traceback (most recent call last):", *rows, last]) if rows else last


def _syntax_error(exc: SyntaxError) -> str:
    line = (exc.text or "").rstrip("\n")
    caret = ""
    if exc.offset and line:
        caret = "\n    " + " " * (exc.offset - 1 - (len(line) - len(line.lstrip()))) + "^"
    return f"SyntaxError: {exc.msg} (line {exc.lineno})\n    {line.strip()}{caret}"
