"""``rlm-desktop bench dev [--family F] [--quick] [--ablate TECHNIQUE]``: the development set
of issue 10, run with the RLM method; prints accuracy per family and size with median time,
sub-calls and tokens. ``--ablate`` runs the same tasks with one technique switched off
(``Settings.ablate``), stored as its own variant in the same results file, so the table
shows both side by side."""

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
from rlm_desktop.bench.tasks import DEV_FAMILIES, dev_tasks

# The techniques of issue 10 the engine can switch off; "all" is the plain loop.
TECHNIQUES = ("strategy", "echo", "totals", "grounding", "repeats", "bridge", "imports", "tally", "map_helper", "check_values", "all")


def register(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser("dev", help="the development set: six question families at two corpus sizes")
    parser.add_argument("--family", action="append", choices=DEV_FAMILIES, help="only these families (repeatable)")
    parser.add_argument("--quick", action="store_true", help="three questions per family and size")
    parser.add_argument("--per-size", type=int, default=None, help="only the first N questions of each family and size")
    parser.add_argument("--ablate", action="append", choices=TECHNIQUES, default=[], help="switch a technique off (repeatable)")
    parser.add_argument("--method", default="rlm", choices=("rlm", "rag", "direct"))
    add_common_flags(parser, "dev")
    parser.set_defaults(func=main)


def main(args: argparse.Namespace) -> int:
    tasks = dev_tasks(load_essays(), families=args.family, quick=args.quick, seed=args.seed, per_size=args.per_size)
    tasks = only_tasks(tasks, args.task)
    settings = bench_settings(args)
    variant = "default"
    if args.ablate:
        ablate = sorted(set(args.ablate))
        settings = settings.replace(ablate=ablate) if hasattr(settings, "ablate") else settings
        if not hasattr(settings, "ablate"):
            raise SystemExit("this build's Settings has no 'ablate' switch; the engine cannot turn techniques off")
        variant = "no-" + "+".join(ablate)
    run_and_report(
        [(t, args.method) for t in tasks],
        results_path(args, "dev", args.quick),
        settings,
        variant=variant,
        fresh=args.fresh,
        retry_errors=args.retry_errors,
        out=args.out,
        prefix="dev-quick" if args.quick else "dev",
        group_by=("family", "size", "variant"),
        plots=False,
    )
    return 0
