"""``rlm-desktop bench dev [--part dev|held-out|legacy] [--quick] [--method M] [--ablate T]``.

``--part dev`` and ``--part held-out`` run the yardstick of real folders (``bench/parts.py``):
real documentation and code installed from the registries plus generated private folders,
with every method (rlm, rag, direct) by default, and print, per family and method, the
share of answers that are right, an honest "not found", or wrong and confident.
``--part legacy`` (the default) is the development set of issue 10, RLM only, with accuracy
per family and size. ``--ablate`` runs the same tasks with one technique switched off
(``Settings.ablate``), stored as its own variant in the same results file."""

from __future__ import annotations

import argparse

from rlm_desktop.bench import report
from rlm_desktop.bench.common import (
    add_common_flags,
    bench_settings,
    only_tasks,
    results_path,
    run_and_report,
)
from rlm_desktop.bench.essays import load_essays
from rlm_desktop.bench.parts import PARTS, part_tasks, per_corpus
from rlm_desktop.bench.runner import METHODS
from rlm_desktop.bench.tasks import DEV_FAMILIES, dev_tasks
from rlm_desktop.rlm.engine import ABLATABLE
from rlm_desktop.settings import Settings

# What the engine can switch off: its techniques and each answer rule by name
# (rlm/rules.py); "imports" is accepted and does nothing (safety); "all" is the plain loop.
TECHNIQUES = (*sorted(ABLATABLE | {"imports"}), "all")


def register(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser("dev", help="the yardstick: real folders (--part dev|held-out) or the old development set (--part legacy)")
    parser.add_argument("--part", choices=PARTS, default="legacy",
                        help="dev: real and private folders whose traces are read; held-out: other corpora, seeds and phrasings, only counted; legacy: the six generated families")
    parser.add_argument("--family", action="append", help=f"only these families (repeatable; legacy: {', '.join(DEV_FAMILIES)})")
    parser.add_argument("--seeds", type=int, default=1, help="private folders: how many seeds from --seed on (held-out adds 100)")
    parser.add_argument("--quick", action="store_true", help="legacy: three questions per family and size; dev/held-out: one question per kind, every method, "
                             "each run cut at 120 s (under 20 minutes in all)")
    parser.add_argument("--per-size", type=int, default=None, help="legacy: only the first N questions of each family and size")
    parser.add_argument("--per-corpus", type=int, default=None, help="dev/held-out: N questions of each corpus, its families in turn (a sample)")
    parser.add_argument("--ablate", action="append", choices=TECHNIQUES, default=[], help="switch a technique off (repeatable)")
    parser.add_argument("--rescore", action="store_true", help="score the stored answers again with the current scorer; run nothing")
    parser.add_argument("--router", choices=("rules", "plan"), default=Settings().router,
                        help=f"how the root's strategy is chosen (Settings.router, default {Settings().router}); "
                             "the other is its own variant")
    parser.add_argument("--method", action="append", choices=METHODS, default=[],
                        help="repeatable (default: rlm for legacy, all three for dev and held-out)")
    add_common_flags(parser, "dev")
    parser.set_defaults(func=main)


def main(args: argparse.Namespace) -> int:
    if args.part == "legacy":
        tasks = dev_tasks(load_essays(), families=args.family, quick=args.quick, seed=args.seed, per_size=args.per_size)
        missing: list[str] = []
    else:
        tasks, missing = part_tasks(args.part, seed=args.seed, seeds=args.seeds, quick=args.quick)
        if args.family:
            tasks = [t for t in tasks if t.family in set(args.family)]
        if args.per_corpus:
            tasks = per_corpus(tasks, args.per_corpus)
    for line in missing:
        print(f"not run (corpus unavailable): {line}")
    tasks = only_tasks(tasks, args.task)
    if not tasks:
        raise SystemExit("no task to run" + (" (every corpus of this part is unavailable)" if missing else ""))
    methods = tuple(args.method) or (("rlm",) if args.part == "legacy" else METHODS)
    settings = bench_settings(args)
    variant = "default"
    if args.router != settings.router:
        settings = settings.replace(router=args.router)
        variant = f"router-{args.router}"
    if args.ablate:
        ablate = sorted(set(args.ablate))
        settings = settings.replace(ablate=ablate)
        variant = ("" if variant == "default" else variant + "-") + "no-" + "+".join(ablate)
    name = "dev" if args.part == "legacy" else f"dev-{args.part}"
    prefix = name + ("-quick" if args.quick else "")
    results = results_path(args, name, args.quick)
    if args.rescore:
        rows = rescore(results, tasks)
        report_bins(rows, args.part, args.out or results.parent, prefix, missing)
        return 0
    rows = run_and_report(
        [(t, m) for t in tasks for m in methods],
        results,
        settings,
        variant=variant,
        fresh=args.fresh,
        retry_errors=args.retry_errors,
        out=args.out,
        prefix=prefix,
        group_by=("family", "size", "variant") if args.part == "legacy" else ("family", "method", "variant"),
        plots=False,
    )
    if args.part != "legacy":
        report_bins(rows, args.part, args.out or results.parent, prefix, missing)
        if args.quick:
            print(f"quick: {len(tasks)} questions x {len(methods)} methods, each run cut at {settings.timeout_s:.0f} s")
    return 0


def report_bins(rows, part: str, out_dir, prefix: str, missing) -> None:
    """The three-bin tables (overall, per family, per corpus) and the plot per family."""
    bins = report.bins_table(rows, by=("family", "method"))
    by_corpus = report.bins_table(rows, by=("corpus", "method"))
    overall = report.bins_table(rows, by=("part", "method"))
    out_dir.mkdir(parents=True, exist_ok=True)
    refusals = report.refusals_table(rows)
    (out_dir / f"{prefix}-bins.md").write_text(
        f"## {part}: right / not found / wrong and confident\n\n{overall}\n{bins}\n### by corpus\n\n{by_corpus}"
        f"\n### answers sent back, by rule (rlm)\n\n{refusals}",
        encoding="utf-8")
    print(overall)
    print(bins)
    print(refusals)
    print(f"wrote {report.plot_bins(rows, out_dir, prefix)}")
    if missing:
        print(f"{len(missing)} corpora were not run (see above); their questions are not in these figures")


def rescore(results, tasks) -> list:
    """Score the stored answers again with the current scorer (the citation verdict of
    the run is kept: the run's citations are not stored)."""
    import json

    from rlm_desktop.bench.runner import load_rows, save_rows
    from rlm_desktop.bench.scoring import score

    meta = json.loads(results.read_text(encoding="utf-8")).get("meta", {}) if results.is_file() else {}
    rows = load_rows(results)
    by_id = {t.id: t for t in tasks}
    for r in rows:
        task = by_id.get(r.task_id)
        if task is None:
            continue
        verdict = score(task, r.answer, cited=r.cited or None)
        r.correct, r.detail, r.bin, r.cited = verdict.correct, verdict.detail, verdict.bin, verdict.cited
    save_rows(results, rows, meta)
    wanted = set(by_id)
    return [r for r in rows if r.task_id in wanted]
