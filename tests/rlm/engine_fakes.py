"""The fakes the engine tests share: a library of a few files, an in-process REPL session
that runs cells with the real toolbox, and ``make_engine`` to wire them to scripted models."""

from __future__ import annotations

import ast
import contextlib
import io
import re
from dataclasses import dataclass
from pathlib import Path

from rlm_desktop.errors import SandboxError
from rlm_desktop.library.types import CorpusStats
from rlm_desktop.rlm.engine import Engine
from rlm_desktop.rlm.sandbox.types import CellResult, LlmRequest, ReplConfig, SourceRef
from rlm_desktop.rlm.tools.facts import ToolFact, figure_fact, grep_fact, tally_fact
from tests.fakes import ScriptedBackend, scripted_settings


@dataclass(frozen=True)
class FakeFile:
    path: str
    text: str


class FakeLibrary:
    """Just what the engine needs from ``Library``: stats, read, text."""

    def __init__(self, files: dict[str, str]) -> None:
        self.texts = files
        self.db_path = Path("/nonexistent/library.db")

    def stats(self, roots=None) -> CorpusStats:
        chars = sum(len(t) for t in self.texts.values())
        return CorpusStats(files=len(self.texts), chars=chars, tokens=chars // 4, kinds={"text": len(self.texts)})

    def read(self, path: str, start=None, end=None) -> str:
        lines = self.texts[path].splitlines()
        return "\n".join(lines[(start or 1) - 1 : end])

    def text(self, path: str) -> str:
        return self.texts[path]


class FakeSession:
    """Runs cells with ``exec`` in this process; enough of the REPL contract for the loop."""

    instances: list[FakeSession] = []

    def __init__(self, config: ReplConfig, on_llm, files: dict[str, str] | None = None) -> None:
        self.config = config
        self.on_llm = on_llm
        self.files = [FakeFile(p, t) for p, t in (files or {}).items()]
        self.started = self.killed = self.closed = False
        self.cells: list[str] = []
        self.crash_next = False
        FakeSession.instances.append(self)

    def start(self) -> None:
        self.started = True

    def kill(self) -> None:
        self.killed = True

    def close(self) -> None:
        self.closed = True

    def run_cell(self, code: str) -> CellResult:
        if self.killed:
            raise SandboxError("worker was killed")
        if self.crash_next:
            self.crash_next = False
            raise SandboxError("worker exited with signal 9")
        self.cells.append(code)
        sources: list[SourceRef] = []
        state: dict = {"answer": None, "ready": False}

        def search(query: str, k: int = 10) -> str:
            words = [w.lower() for w in re.findall(r"\w+", query)]
            lines = []
            for f in self.files:
                for n, line in enumerate(f.text.splitlines(), 1):
                    if any(w in line.lower() for w in words):
                        lines.append(f"{f.path}:{n}: {line}")
                        sources.append(SourceRef(f.path, n, how="search"))
            return f"showing {min(k, len(lines))} of {len(lines)} matching lines\n" + "\n".join(lines[:k])

        def llm(kind, prompts, **kw):
            reply = self.on_llm(LlmRequest(kind, tuple(prompts), **kw))
            if reply.error:
                raise RuntimeError(reply.error)
            return list(reply.answers)

        def final(value):
            state["answer"], state["ready"] = str(value), True

        facts: list[ToolFact] = []

        def read(path: str, start: int | None = None, end: int | None = None) -> str:
            f = next(f for f in self.files if f.path == path or f.path.endswith("/" + path))
            lines = f.text.splitlines()
            first = max(1, start or 1)
            sources.append(SourceRef(f.path, first, how="read"))
            return "\n".join(f"{n:>4} | {t}" for n, t in enumerate(lines[first - 1:end or len(lines)], first))

        namespace = self.namespace = getattr(self, "namespace", {})
        namespace.update(
            files=self.files, context=self.files, search=search, read=read, FINAL=final,
            FINAL_VAR=lambda name: final(namespace[name]),
            llm_query=lambda p: llm("query", [p], has_corpus_text=any(f.text[:20] in p for f in self.files))[0],
            llm_batch=lambda ps: llm("batch", ps, has_corpus_text=True),
            rlm_query=lambda q, text=None: llm("rlm", [q], context_text=text)[0],
            # what the real tally and ask_numbers reductions leave in the cell's result
            TALLY=lambda rows, searched, unmatched=0: facts.append(tally_fact(rows, searched, unmatched)),
            FIGURE=lambda how, value, files=2: facts.append(figure_fact(how, value, files)),
            GREP=lambda hits: facts.append(grep_fact(hits, len(hits))),
        )
        out, error = io.StringIO(), None
        try:
            tree = ast.parse(code)
            last = tree.body.pop() if tree.body and isinstance(tree.body[-1], ast.Expr) else None
            with contextlib.redirect_stdout(out):
                exec(compile(tree, "<cell>", "exec"), namespace)
                if last is not None:
                    value = eval(compile(ast.Expression(last.value), "<cell>", "eval"), namespace)
                    if value is not None:
                        print(value)
        except Exception as exc:  # noqa: BLE001 - the model's error goes back to it
            error = f"{type(exc).__name__}: {exc}"
        return CellResult(out.getvalue(), error, state["answer"], state["ready"], tuple(sources), facts=tuple(facts))


FILES = {
    "/docs/a.txt": "Meeting notes.\nThe vault code is ORCHID-7731.\nNothing else.",
    "/docs/b.txt": "Budget 2024.\nTotal spend was 120 dollars.",
}


def make_engine(root: ScriptedBackend, sub: ScriptedBackend | None = None, files=FILES, events=None, **settings):
    library = FakeLibrary(files)
    FakeSession.instances.clear()
    sub = sub or ScriptedBackend("sub")
    sub.route_from_queue = False  # the engine routes with the sub model; its queue is for sub-calls
    return Engine(
        root, sub, library, scripted_settings(**settings),
        sink=(events.append if events is not None else None),
        session_factory=lambda config, on_llm: FakeSession(config, on_llm, files),
    )


def code(src: str) -> str:
    return f"```python\n{src}\n```"


def last_user(messages) -> str:
    return [m.content for m in messages if m.role == "user"][-1]
