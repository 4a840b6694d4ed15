"""The runner drives the real engine (scripted model, real REPL worker, real library),
scores answers, and resumes from its results file."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from rlm_desktop.bench.runner import Row, Runner, load_rows
from rlm_desktop.bench.tasks.needle import needle_task
from rlm_desktop.rlm.events import RunFinished, RunStats
from rlm_desktop.settings import Settings
from tests.fakes import ScriptedBackend


def oracle(messages) -> str:
    """A model that answers once the needle is in front of it, and searches otherwise."""
    text = "\n".join(m.content for m in messages).replace("[", "").replace("]", "")  # search marks hits
    m = re.search(r"special magic number for \w+ is (\d{7})", text)
    if m:
        return f"```python\nFINAL('{m[1]}')\n```"
    return "```python\nsearch('special magic number')\n```"


def real_engine_factory(settings: Settings):
    from rlm_desktop.rlm.engine import Engine

    def factory(library, sink):
        root, sub = ScriptedBackend("root"), ScriptedBackend("sub")
        root.default = sub.default = oracle
        return Engine(root, sub, library, settings, sink=sink)

    return factory


@pytest.fixture
def needle(essays):
    return needle_task(essays, 8_000, seed=0)


def test_runs_every_method_through_the_real_engine(needle, tmp_path: Path) -> None:
    settings = Settings(max_iterations=4, timeout_s=60)
    results = tmp_path / "results.json"
    runner = Runner(results, real_engine_factory(settings), tmp_path / "work", settings=settings, progress=False)
    rows = runner.run([needle], ("rlm", "rag", "direct"))
    by_method = {r.method: r for r in rows}
    assert set(by_method) == {"rlm", "rag", "direct"}
    for method, row in by_method.items():
        assert row.correct, (method, row.answer, row.status, row.error, row.trace)
        assert row.prompt_tokens > 0 and row.wall_s >= 0  # a scripted rag/direct call can round to 0.00 s
    rlm = by_method["rlm"]
    assert rlm.wall_s > 0  # it started a REPL worker
    # it read the files before answering: the engine's first move (passages) or a search
    assert any("output" in step and ("passages(" in str(step) or "search(" in str(step)) for step in rlm.trace), rlm.trace
    stored = json.loads(results.read_text())
    assert len(stored["results"]) == 3 and stored["results"][0]["task_id"] == needle.id


class CountingEngine:
    def __init__(self, answer: str, calls: list[str]) -> None:
        self.answer, self.calls = answer, calls

    def run(self, question, roots=(), context_text=None, method="rlm") -> RunFinished:
        self.calls.append(method)
        return RunFinished("r", "ok", self.answer, stats=RunStats(sub_calls=2, prompt_tokens=10, completion_tokens=5))


def test_resumes_and_skips_what_is_done(needle, tmp_path: Path) -> None:
    results = tmp_path / "results.json"
    calls: list[str] = []
    first = Runner(results, lambda lib, sink: CountingEngine("0", calls), tmp_path / "w1", progress=False)
    first.run([needle], ("rlm",))
    assert calls == ["rlm"]

    second = Runner(results, lambda lib, sink: CountingEngine(str(int(needle.expected)), calls), tmp_path / "w2", progress=False)
    rows = second.run([needle], ("rlm", "rag"))
    assert calls == ["rlm", "rag"]  # rlm was in the file already
    assert [(r.method, r.correct) for r in rows] == [("rlm", False), ("rag", True)]
    assert rows[1].sub_calls == 2 and rows[1].tokens == 15

    third = Runner(results, lambda lib, sink: pytest.fail("nothing left to run"), tmp_path / "w3", progress=False)
    assert len(third.run([needle], ("rlm", "rag"))) == 2
    # another variant (an ablation) is a separate run of the same task
    fourth = Runner(results, lambda lib, sink: CountingEngine("x", calls), tmp_path / "w4", variant="no-echo", progress=False)
    fourth.run([needle], ("rlm",))
    assert {(r.method, r.variant) for r in load_rows(results)} == {("rlm", "default"), ("rag", "default"), ("rlm", "no-echo")}


def test_a_crash_is_recorded_as_a_wrong_answer(needle, tmp_path: Path) -> None:
    class Broken:
        def run(self, *a, **k):
            raise RuntimeError("worker died")

    rows = Runner(tmp_path / "r.json", lambda lib, sink: Broken(), tmp_path / "w", progress=False).run([needle], ("rlm",))
    assert rows[0].status == "error" and not rows[0].correct and "worker died" in rows[0].error


def test_rows_round_trip(tmp_path: Path) -> None:
    row = Row("t", "f", "8K", 8000, "rlm", "default", "q?", ["a", "b"], "a b", True, "", "ok", 1.0, 3, 4, 0, 1)
    from rlm_desktop.bench.runner import save_rows

    save_rows(tmp_path / "x.json", [row], {"m": 1})
    assert load_rows(tmp_path / "x.json") == [row]


def test_retry_errors_runs_crashed_tasks_again(needle, tmp_path: Path) -> None:
    class Broken:
        def run(self, *a, **k):
            raise RuntimeError("worker died")

    results = tmp_path / "r.json"
    Runner(results, lambda lib, sink: Broken(), tmp_path / "w", progress=False).run([needle], ("rlm",))
    calls: list[str] = []
    kept = Runner(results, lambda lib, sink: CountingEngine("1", calls), tmp_path / "w2", progress=False).run([needle], ("rlm",))
    assert calls == [] and kept[0].status == "error"
    again = Runner(results, lambda lib, sink: CountingEngine("1", calls), tmp_path / "w3", progress=False, retry_errors=True).run([needle], ("rlm",))
    assert calls == ["rlm"] and [r.status for r in again] == ["ok"] and len(load_rows(results)) == 1
