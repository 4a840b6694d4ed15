"""The one entry the CLI, the window and the benches answer through: it hands the engine
the child backend and a cancel token, records the run unless told not to, and says which
model it is loading."""

from __future__ import annotations

import threading

import pytest

from rlm_desktop.errors import Cancelled
from rlm_desktop.llm.backend import CancelToken
from rlm_desktop.rlm import events as ev
from rlm_desktop.rlm import trace
from rlm_desktop.rlm.ask import ask
from rlm_desktop.settings import Settings
from tests.fakes import ScriptedBackend

TEXT = "Minutes.\nThe alarm threshold agreed is 2.35 m.\n"


def code(src: str) -> str:
    return f"```python\n{src}\n```"


class Pool:
    """A model pool of scripted backends that counts what was asked of it."""

    def __init__(self) -> None:
        self.root_backend = ScriptedBackend("root")
        self.sub_backend = ScriptedBackend("sub")
        self.child_backend = ScriptedBackend("child")
        self.asked: list[str] = []

    def root(self) -> ScriptedBackend:
        self.asked.append("root")
        return self.root_backend

    def sub(self) -> ScriptedBackend:
        self.asked.append("sub")
        return self.sub_backend

    def child(self) -> ScriptedBackend:
        self.asked.append("child")
        return self.child_backend


def test_a_child_rlm_runs_on_the_child_backend_and_the_run_is_recorded() -> None:
    pool = Pool()
    pool.child_backend.enqueue([code("print(context)"), code("FINAL('2.35 m')")])
    pool.root_backend.enqueue([code("c = rlm_query('What threshold?', context)\nprint(c)"), code("FINAL(c)")])
    events: list = []
    loading: list[str] = []
    finished = ask("What alarm threshold was agreed?", (), library=None, models=pool,
                   settings=Settings(max_depth=2, root_model="big", sub_model="small"),
                   sink=events.append, context_text=TEXT, loading=loading.append)
    assert finished.answer == "2.35 m"
    assert pool.child_backend.calls and not pool.sub_backend.calls  # the child's turns went to the child backend
    assert loading == ["big", "small"]
    assert any(isinstance(e, ev.RunFinished) for e in events)
    (run,) = [r for r in trace.list_runs() if r.id == finished.run_id]
    assert run.status == "ok"


def test_a_bench_run_stays_out_of_the_history() -> None:
    pool = Pool()
    pool.root_backend.enqueue([code("print(context)"), code("FINAL('2.35 m')")])
    finished = ask("What threshold?", (), library=None, models=pool, settings=Settings(max_depth=1),
                   context_text=TEXT, record=False)
    assert finished.answer == "2.35 m"
    assert finished.run_id not in {r.id for r in trace.list_runs()}
    assert "child" not in pool.asked  # depth 1: no child model is loaded


def test_a_stop_during_loading_ends_before_the_run() -> None:
    pool = Pool()
    stop = CancelToken()
    with pytest.raises(Cancelled):
        ask("What threshold?", (), library=None, models=pool, settings=Settings(), context_text=TEXT,
            cancel=stop, loading=lambda name: stop.cancel())
    assert not pool.root_backend.calls


def test_a_stop_from_another_thread_ends_the_run_cancelled() -> None:
    pool = Pool()
    pool.root_backend.default = code("while True:\n    pass")
    stop = CancelToken(threading.Event())
    events: list = []

    def stop_after_first_cell(event) -> None:
        events.append(event)
        if isinstance(event, ev.TurnFinished):
            threading.Timer(0.3, stop.cancel).start()

    finished = ask("What threshold?", (), library=None, models=pool, settings=Settings(cell_timeout_s=30),
                   context_text=TEXT, cancel=stop, sink=stop_after_first_cell, record=False)
    assert finished.status == "cancelled"
