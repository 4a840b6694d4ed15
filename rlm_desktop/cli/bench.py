"""``rlm-desktop bench ...``: every benchmark lives in ``rlm_desktop/bench/`` as a module
with ``register(subparsers)``; this only collects them."""

from __future__ import annotations

import argparse
import importlib

BENCH_MODULES = ("index", "llm", "dev", "router", "retrieval", "quality", "gui", "needle", "repl")


def register(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser("bench", help="measure speed and quality (prints figures against a baseline run in the same process)")
    bench_sub = parser.add_subparsers(dest="bench", metavar="BENCH")
    for name in BENCH_MODULES:
        try:
            module = importlib.import_module(f"rlm_desktop.bench.{name}")
        except ModuleNotFoundError as exc:
            if exc.name == f"rlm_desktop.bench.{name}":
                continue
            raise
        module.register(bench_sub)
    parser.set_defaults(func=lambda args: parser.print_help() or 0)
