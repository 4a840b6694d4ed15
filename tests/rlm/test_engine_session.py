"""The engine with the real sandboxed REPL worker (fast: no model): pasted text, a child
RLM in its own worker, a killed cell replaced by a fresh worker, Stop."""

from __future__ import annotations

import threading
import time

from rlm_desktop.llm.backend import CancelToken
from rlm_desktop.rlm import events as ev
from rlm_desktop.rlm.engine import Engine
from rlm_desktop.settings import Settings
from tests.fakes import ScriptedBackend

TEXT = "Chapter one.\nThe sky over the harbor was blue.\nThe vault code is ORCHID-7731.\n"


def code(src: str) -> str:
    return f"```python\n{src}\n```"


def engine(root, sub=None, events=None, cancel=None, **settings) -> Engine:
    return Engine(root, sub or ScriptedBackend("sub"), None, Settings(**settings),
                  sink=events.append if events is not None else None, cancel=cancel)


def test_pasted_text_run_with_real_worker() -> None:
    root = ScriptedBackend()
    root.enqueue([code("print(search('vault code'))"), code("FINAL('The vault code is ORCHID-7731')")])
    finished = engine(root).run("What is the vault code?", context_text=TEXT)
    assert finished.status == "ok" and finished.answer == "The vault code is ORCHID-7731"
    assert "ORCHID-7731" in root.calls[1][-1].content
    assert "pasted text of" in root.calls[0][-1].content and "ORCHID" not in root.calls[0][-1].content


def test_child_rlm_runs_in_its_own_worker() -> None:
    root, sub = ScriptedBackend(), ScriptedBackend("sub")
    sub.enqueue([code("print(context)"), code("FINAL('blue')")])
    root.enqueue([
        code("part = context.splitlines()[1]\nc = rlm_query('What colour is the sky?', part)\nprint(c)"),
        code("FINAL(c)"),
    ])
    events: list = []
    finished = engine(root, sub, events, max_depth=2).run("What colour is the sky?", context_text=TEXT)
    assert finished.answer == "blue"
    nodes = [e for e in events if isinstance(e, ev.NodeStarted)]
    assert [(n.kind, n.depth) for n in nodes] == [("root", 0), ("rlm", 1)]
    # the child saw only the part it was given
    assert "The sky over the harbor was blue." in sub.calls[1][-1].content
    assert "ORCHID" not in sub.calls[1][-1].content


def test_killed_cell_is_reported_and_the_run_goes_on() -> None:
    root = ScriptedBackend()
    root.enqueue([code("while True:\n    pass"), code("print(search('vault'))"), code("FINAL('ORCHID-7731')")])
    events: list = []
    finished = engine(root, events=events, cell_timeout_s=1.0).run("What is the vault code?", context_text=TEXT)
    assert finished.status == "ok" and finished.answer == "ORCHID-7731"
    first = next(e for e in events if isinstance(e, ev.CellFinished))
    assert "timeout" in (first.error or "")
    assert "REPL restarted" in root.calls[1][-1].content


def test_stop_kills_a_busy_worker_at_once() -> None:
    root = ScriptedBackend()
    root.enqueue([code("while True:\n    pass")])
    token = CancelToken()
    timer = threading.Timer(1.0, token.cancel)
    timer.start()
    started = time.monotonic()
    try:
        finished = engine(root, cancel=token, cell_timeout_s=60.0).run("Q?", context_text=TEXT)
    finally:
        timer.cancel()
    assert finished.status == "cancelled"
    assert time.monotonic() - started < 5
