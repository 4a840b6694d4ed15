"""Runs benchmark tasks through the core ``ask`` the CLI and the GUI call, one method at a
time (``rlm``, ``rag``, ``direct``), scores each answer and appends a row to a JSON results
file after every run, so a killed benchmark resumes where it stopped.

    runner = Runner(results_path, engine_factory, workdir)
    rows = runner.run(tasks, methods=("rlm", "rag", "direct"))

``engine_factory(library, sink)`` returns an object with ``run(question, roots=..., method=...)
-> RunFinished``; ``default_engine_factory`` gives ``CoreAsk`` over one model pool."""

from __future__ import annotations

import json
import logging
import os
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Protocol

from rlm_desktop.bench.scoring import score
from rlm_desktop.bench.tasks.base import Corpus, Task
from rlm_desktop.rlm.events import CellFinished, Event, EventSink, Notice, RunFinished, TurnFinished
from rlm_desktop.settings import Settings

log = logging.getLogger(__name__)

METHODS = ("rlm", "rag", "direct")
TRACE_CHARS = 500  # per step kept in the results, enough to show a failure in the docs


class EngineLike(Protocol):
    def run(self, question: str, roots: Sequence[str] = (), context_text: str | None = None, method: str = "rlm") -> RunFinished: ...


EngineFactory = Callable[[Any, EventSink], EngineLike]


@dataclass
class Row:
    """One (task, method) run as stored in the results file."""

    task_id: str
    family: str
    size: str
    input_tokens: int
    method: str
    variant: str
    question: str
    expected: Any
    answer: str
    correct: bool
    detail: str
    status: str
    wall_s: float
    prompt_tokens: int
    completion_tokens: int
    sub_calls: int
    iterations: int
    error: str | None = None
    trace: list[dict[str, str]] = field(default_factory=list)
    bin: str = ""  # right | not_found | wrong (bench/scoring.py); "" in results written before bins
    part: str = "legacy"
    corpus: str = ""
    cited: str = ""  # ok | other | none | "" (the task names no file to check against)
    source: str = ""  # where the ground truth stands (file:line or file#page=N)

    @property
    def key(self) -> tuple[str, str, str]:
        return (self.task_id, self.method, self.variant)

    @property
    def tokens(self) -> int:
        return self.prompt_tokens + self.completion_tokens


def load_rows(path: Path) -> list[Row]:
    if not path.is_file():
        return []
    data = json.loads(path.read_text(encoding="utf-8"))
    known = set(Row.__dataclass_fields__)
    return [Row(**{k: v for k, v in r.items() if k in known}) for r in data.get("results", [])]


def save_rows(path: Path, rows: Sequence[Row], meta: dict[str, Any]) -> None:
    """Write atomically: a kill mid-write never leaves a broken results file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(json.dumps({"meta": meta, "results": [asdict(r) for r in rows]}, indent=1), encoding="utf-8")
    os.replace(tmp, path)


class _TraceRecorder:
    """Keeps a short, readable trace of a run: each turn, cell output and notice, cut."""

    def __init__(self) -> None:
        self.steps: list[dict[str, str]] = []

    def __call__(self, event: Event) -> None:
        if isinstance(event, TurnFinished):
            self.steps.append({"node": event.node_id, "turn": event.response[:TRACE_CHARS]})
        elif isinstance(event, CellFinished):
            text = event.output if not event.error else f"{event.output}\n{event.error}"
            self.steps.append({"node": event.node_id, "output": text[:TRACE_CHARS]})
        elif isinstance(event, Notice):
            self.steps.append({"node": event.node_id, "notice": event.text[:TRACE_CHARS]})


def _library_for(corpus: Corpus, workdir: Path, settings: Settings):
    """Write the corpus and index it in its own library database."""
    from rlm_desktop.library.store import Library

    base = workdir / corpus.id
    folder = corpus.write(base)
    lib = Library.open(base / "library.db", max_file_mb=settings.max_file_mb)
    lib.add_folder(folder)
    report = lib.scan()
    if report.failed:
        log.warning("%d files of %s failed to index: %s", len(report.failed), corpus.id, report.failed[:3])
    return lib, folder


class Runner:
    def __init__(
        self,
        results_path: Path,
        engine_factory: EngineFactory,
        workdir: Path,
        *,
        settings: Settings | None = None,
        variant: str = "default",
        meta: dict[str, Any] | None = None,
        progress: bool = True,
        retry_errors: bool = False,
    ) -> None:
        self.results_path = Path(results_path)
        self.engine_factory = engine_factory
        self.workdir = Path(workdir)
        self.settings = settings or Settings()
        self.variant = variant
        self.meta = meta or {}
        self.progress = progress
        self.retry_errors = retry_errors
        self.rows = load_rows(self.results_path)

    def done(self) -> set[tuple[str, str, str]]:
        return {r.key for r in self.rows}

    def run(self, tasks: Sequence[Task], methods: Iterable[str] = METHODS) -> list[Row]:
        """Run every (task, method) not yet in the results file; returns all rows of this
        variant for these tasks (old and new)."""
        methods = tuple(methods)
        return self.run_pairs([(t, m) for t in tasks for m in methods])

    def run_pairs(self, pairs: Sequence[tuple[Task, str]]) -> list[Row]:
        """Like ``run`` for an explicit plan. Runs are grouped by corpus (indexed once) and,
        within a corpus, by method, so consecutive RLM runs keep the root model's cached
        prompt prefix and consecutive ``direct`` runs share the corpus prefix."""
        if self.retry_errors:
            planned = {(t.id, m, self.variant) for t, m in pairs}
            self.rows = [r for r in self.rows if not (r.status == "error" and r.key in planned)]
        done = self.done()
        todo = [(t, m) for t, m in pairs if (t.id, m, self.variant) not in done]
        bar = _progress_bar(len(todo), self.progress)
        by_corpus: dict[str, list[tuple[Task, str]]] = {}
        for task, method in todo:
            by_corpus.setdefault(task.corpus.id, []).append((task, method))
        rank = {m: i for i, m in enumerate(METHODS)}
        try:
            for group in by_corpus.values():
                group.sort(key=lambda p: rank.get(p[1], len(rank)))
                lib, folder = _library_for(group[0][0].corpus, self.workdir, self.settings)
                try:
                    for task, method in group:
                        bar.set_postfix_str(f"{task.id} {method}")
                        _hold()
                        row = self.run_one(task, method, lib, folder)
                        self.rows.append(row)
                        save_rows(self.results_path, self.rows, self.meta)
                        bar.update(1)
                        log.info("%s %s: %s (%.1f s) %r", task.id, method, "ok" if row.correct else "WRONG", row.wall_s, row.answer[:80])
                finally:
                    lib.close()
        finally:
            bar.close()
        wanted = {(t.id, m) for t, m in pairs}
        return [r for r in self.rows if (r.task_id, r.method) in wanted and r.variant == self.variant]

    def run_one(self, task: Task, method: str, library, folder: Path) -> Row:
        recorder = _TraceRecorder()
        start = time.monotonic()
        try:
            engine = self.engine_factory(library, recorder)
            finished = engine.run(task.question, roots=(str(folder),), method=method)
        except Exception as exc:  # a crash is a result too: recorded, not hidden
            log.exception("%s %s crashed", task.id, method)
            return self._row(task, method, "", "error", time.monotonic() - start, None, f"{type(exc).__name__}: {exc}", recorder, folder)
        return self._row(task, method, finished.answer, finished.status, time.monotonic() - start, finished, finished.error, recorder, folder)

    def _row(self, task: Task, method: str, answer: str, status: str, wall: float, finished: RunFinished | None,
             error: str | None, recorder: _TraceRecorder, folder: Path) -> Row:
        cited = tuple(c.path for c in finished.citations) if finished is not None else ()
        verdict = score(task, answer, _relative_to(cited, folder))
        stats = finished.stats if finished is not None else None
        return Row(
            task_id=task.id,
            family=task.family,
            size=task.size,
            input_tokens=task.input_tokens,
            method=method,
            variant=self.variant,
            question=task.question,
            expected=list(task.expected) if isinstance(task.expected, tuple) else task.expected,
            answer=answer,
            correct=verdict.correct,
            detail=verdict.detail,
            status=status,
            wall_s=round(wall, 2),
            prompt_tokens=stats.prompt_tokens if stats else 0,
            completion_tokens=stats.completion_tokens if stats else 0,
            sub_calls=stats.sub_calls if stats else 0,
            iterations=stats.iterations if stats else 0,
            error=error,
            trace=recorder.steps,
            bin=verdict.bin,
            part=task.part,
            corpus=task.corpus.id,
            cited=verdict.cited,
            source=task.source,
        )


def _hold() -> None:
    """Wait between runs while the file named by RLM_DESKTOP_BENCH_HOLD exists (a shared
    machine's other work then never overlaps a timed run)."""
    hold = os.environ.get("RLM_DESKTOP_BENCH_HOLD")
    if not hold:
        return
    held = Path(hold + ".held")
    while os.path.exists(hold):
        held.touch()
        time.sleep(3)
    held.unlink(missing_ok=True)


def _relative_to(cited: Sequence[str], folder: Path) -> tuple[str, ...]:
    """Citation paths relative to the corpus folder where they lie in it."""
    out = []
    for c in cited:
        try:
            out.append(Path(c).resolve().relative_to(folder.resolve()).as_posix())
        except (ValueError, OSError):
            out.append(c)
    return tuple(out)


def _progress_bar(total: int, enabled: bool):
    from tqdm import tqdm

    return tqdm(total=total, unit="run", disable=not enabled, dynamic_ncols=True)


@dataclass
class CoreAsk:
    """The bench's engine: the core ``ask`` the CLI and the window call, over the bench's
    one model pool; its runs stay out of the user's history (``record=False``)."""

    models: Any
    library: Any
    settings: Settings
    sink: EventSink

    def run(self, question: str, roots: Sequence[str] = (), context_text: str | None = None, method: str = "rlm") -> RunFinished:
        from rlm_desktop.rlm.ask import ask

        return ask(question, roots, library=self.library, models=self.models, settings=self.settings, sink=self.sink,
                   method=method, record=False, context_text=context_text)


def default_engine_factory(settings: Settings) -> tuple[EngineFactory, Callable[[], None]]:
    """The real engine over one model pool (each model loaded once for the whole bench).
    Returns the factory and a function that frees the models."""
    from rlm_desktop.llm.loader import BackendPool

    pool = BackendPool(settings)

    def factory(library, sink: EventSink) -> EngineLike:
        return CoreAsk(pool, library, settings, sink)

    return factory, pool.close
