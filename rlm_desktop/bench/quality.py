"""``rlm-desktop bench quality [--quick] [--large]``: needle, aggregation and code QA, each
run with ``rlm``, ``rag`` and ``direct`` on the same models and budgets (issue 6)."""

from __future__ import annotations

import argparse

from rlm_desktop.bench.common import (
    add_common_flags,
    bench_settings,
    only_tasks,
    results_path,
    run_and_report,
)
from rlm_desktop.bench.essays import load_essays
from rlm_desktop.bench.runner import METHODS
from rlm_desktop.bench.tasks import QUALITY_FAMILIES, first_per_size, quality_plan, quality_tasks


def register(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser("quality", help="accuracy, time and tokens of rlm vs rag vs direct as the input grows")
    parser.add_argument("--quick", action="store_true", help="a subset that runs in under 15 minutes (rlm on six tasks, each baseline once)")
    parser.add_argument("--large", action="store_true", help="add the 10M-token needle")
    parser.add_argument("--family", action="append", choices=QUALITY_FAMILIES, help="only these families (repeatable)")
    parser.add_argument("--methods", default=",".join(METHODS), help="comma-separated, from rlm,rag,direct")
    parser.add_argument("--repeats", type=int, default=3, help="needles per size (full run)")
    parser.add_argument("--per-size", type=int, metavar="N", help="only the first N tasks of each family and size")
    add_common_flags(parser, "quality")
    parser.set_defaults(func=main)


def main(args: argparse.Namespace) -> int:
    tasks = quality_tasks(load_essays(), quick=args.quick, large=args.large, seed=args.seed, repeats=args.repeats)
    if args.family:
        tasks = [t for t in tasks if t.family in args.family]
    if args.per_size is not None:
        tasks = first_per_size(tasks, args.per_size)
    tasks = only_tasks(tasks, args.task)
    methods = [m.strip() for m in args.methods.split(",") if m.strip()]
    bad = set(methods) - set(METHODS)
    if bad:
        raise SystemExit(f"unknown method {sorted(bad)}; use rlm, rag, direct")
    run_and_report(
        quality_plan(tasks, methods, quick=args.quick),
        results_path(args, "quality", args.quick),
        bench_settings(args),
        variant="default",
        fresh=args.fresh,
        retry_errors=args.retry_errors,
        out=args.out,
        prefix="quality-quick" if args.quick else "quality",
        group_by=("family", "size", "method"),
    )
    return 0
