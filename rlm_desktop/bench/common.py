"""What ``bench quality`` and ``bench dev`` share: their common flags, the settings a bench
runs with, and running tasks then writing the results, the table and the plots."""

from __future__ import annotations

import argparse
import logging
import tempfile
from collections.abc import Sequence
from pathlib import Path

from rlm_desktop import paths
from rlm_desktop.bench import report
from rlm_desktop.bench.runner import EngineFactory, Row, Runner, default_engine_factory
from rlm_desktop.bench.tasks import Task
from rlm_desktop.settings import Settings

log = logging.getLogger(__name__)

DEFAULT_TIMEOUT_S = 300.0  # a run's wall-clock budget
# bench dev --quick's: 18 runs (six questions, three methods) stay under 20 minutes here.
# In the held-out baseline's rows, direct's first question on a corpus took 120-300 s (its
# whole 8K-token window evaluated with no prefix to reuse), and a whole-folder rlm run
# used its 300 s; a run cut at this budget ends as its method ends any budget: with its
# best answer, or "not found" naming what it read
QUICK_TIMEOUT_S = 120.0


def add_common_flags(parser: argparse.ArgumentParser, name: str) -> None:
    parser.add_argument("--root-model", default=None, help="root model (catalog name or .gguf path)")
    parser.add_argument("--sub-model", default=None, help="sub-call model (catalog name or .gguf path)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--task", action="append", default=[], metavar="ID", help="only the task with this id, as the results name it (repeatable)")
    parser.add_argument("--results", type=Path, default=None, help=f"results JSON (default: <data dir>/bench/{name}.json); runs already in it are skipped")
    parser.add_argument("--fresh", action="store_true", help="ignore earlier results in the file and start over")
    parser.add_argument("--retry-errors", action="store_true", help="run again what ended in an error (a crash, not a wrong answer)")
    parser.add_argument("--out", type=Path, default=None, help="where to write the Markdown table and the PNG plots (default: beside the results)")
    parser.add_argument("--timeout", type=float, default=None,
                        help=f"wall-clock budget per run, seconds (default {DEFAULT_TIMEOUT_S:.0f}; bench dev --quick: {QUICK_TIMEOUT_S:.0f})")
    parser.add_argument("--threads", type=int, default=None, help="llama.cpp threads per model (default: physical cores; 1 on a machine shared with other jobs)")


def only_tasks(tasks: Sequence[Task], ids: Sequence[str]) -> list[Task]:
    """The tasks ``--task`` names (all of them without it); an unknown id is an error."""
    if not ids:
        return list(tasks)
    known = {t.id for t in tasks}
    unknown = [i for i in ids if i not in known]
    if unknown:
        raise SystemExit(f"no task {', '.join(unknown)} in this set; ids look like {next(iter(sorted(known)), 'none')}")
    return [t for t in tasks if t.id in set(ids)]


def bench_settings(args: argparse.Namespace) -> Settings:
    # the answer cache would replay earlier runs' answers and make times meaningless
    timeout = args.timeout
    if timeout is None:
        timeout = QUICK_TIMEOUT_S if getattr(args, "quick", False) and getattr(args, "part", "") in ("dev", "held-out") else DEFAULT_TIMEOUT_S
    settings = Settings(timeout_s=timeout, max_iterations=12, subcall_cache=False)
    if getattr(args, "threads", None):
        settings = settings.replace(n_threads=args.threads)
    if args.root_model:
        settings = settings.replace(root_model=args.root_model)
    if args.sub_model:
        settings = settings.replace(sub_model=args.sub_model)
    return settings


def results_path(args: argparse.Namespace, name: str, quick: bool) -> Path:
    if args.results:
        return args.results
    return paths.data_dir() / "bench" / f"{name}{'-quick' if quick else ''}.json"


def run_and_report(
    pairs: Sequence[tuple[Task, str]],
    results: Path,
    settings: Settings,
    *,
    variant: str,
    fresh: bool,
    out: Path | None,
    prefix: str,
    group_by: tuple[str, ...],
    engine_factory: EngineFactory | None = None,
    plots: bool = True,
    retry_errors: bool = False,
) -> list[Row]:
    if fresh and results.exists():
        results.unlink()
    close = None
    if engine_factory is None:
        engine_factory, close = default_engine_factory(settings)
    meta = {"root_model": settings.root_model, "sub_model": settings.sub_model, "n_ctx": settings.n_ctx, "timeout_s": settings.timeout_s}
    try:
        with tempfile.TemporaryDirectory(prefix="rlm-bench-") as work:
            runner = Runner(results, engine_factory, Path(work), settings=settings, variant=variant, meta=meta,
                            retry_errors=retry_errors)
            rows = runner.run_pairs(pairs)
            all_rows = runner.rows
    finally:
        if close is not None:
            close()
    out_dir = out or results.parent
    out_dir.mkdir(parents=True, exist_ok=True)
    wanted = {t.id for t, _ in pairs}
    shown = [r for r in all_rows if r.task_id in wanted]
    table = report.summary_table(shown, by=group_by)
    (out_dir / f"{prefix}-table.md").write_text(table + "\nWrong answers:\n\n" + report.failures(shown, limit=40), encoding="utf-8")
    print(table)
    if plots:
        for path in report.plot([r for r in shown if r.variant == variant], out_dir, prefix=prefix):
            print(f"wrote {path}")
    print(f"results: {results}")
    return rows
