"""``rlm-desktop bench needle``: the RLM beside the ``rag`` and ``direct`` baselines on one
needle question at 64K and 1M tokens, with the default models. Prints the answer time,
iterations, sub-calls and the model tokens processed as a fraction of the corpus, the
figures of "RLM vs baselines" in docs/benchmarks.md."""

from __future__ import annotations

import argparse
import tempfile
from collections.abc import Sequence
from pathlib import Path

from rlm_desktop.bench.common import add_common_flags, bench_settings, results_path
from rlm_desktop.bench.essays import load_essays
from rlm_desktop.bench.runner import METHODS, Row, Runner, default_engine_factory
from rlm_desktop.bench.tasks.needle import needle_task

SIZES = {"8K": 8_000, "64K": 64_000, "256K": 256_000, "1M": 1_000_000}


def register(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser("needle", help="RLM vs rag vs direct on a needle at 64K and 1M tokens")
    parser.add_argument("--sizes", default="64K,1M", help=f"comma-separated, of {', '.join(SIZES)}")
    parser.add_argument("--methods", default=",".join(METHODS), help="comma-separated, of rlm, rag, direct")
    add_common_flags(parser, "needle")
    parser.set_defaults(func=main, timeout=900.0)


def table(rows: Sequence[Row]) -> str:
    lines = [
        "| size | method | correct | answer time | iterations | sub-calls | model tokens | tokens / corpus |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        fraction = r.tokens / r.input_tokens if r.input_tokens else 0.0
        lines.append(
            f"| {r.size} | {r.method} | {'yes' if r.correct else 'no'} | {r.wall_s:.1f} s | {r.iterations} | "
            f"{r.sub_calls} | {r.tokens:,} | {fraction:.2%} |"
        )
    return "\n".join(lines)


def main(args: argparse.Namespace) -> int:
    sizes = [s.strip() for s in args.sizes.split(",") if s.strip()]
    unknown = [s for s in sizes if s not in SIZES]
    if unknown:
        raise SystemExit(f"unknown size {unknown[0]!r}: use {', '.join(SIZES)}")
    methods = [m.strip() for m in args.methods.split(",") if m.strip()]
    settings = bench_settings(args)
    essays = load_essays()
    tasks = [needle_task(essays, SIZES[s], args.seed) for s in sizes]
    results = results_path(args, "needle", False)
    if args.fresh and results.exists():
        results.unlink()
    factory, close = default_engine_factory(settings)
    meta = {"root_model": settings.root_model, "sub_model": settings.sub_model, "timeout_s": settings.timeout_s}
    try:
        with tempfile.TemporaryDirectory(prefix="rlm-needle-") as workdir:
            rows = Runner(results, factory, Path(workdir), settings=settings, meta=meta).run(tasks, methods)
    finally:
        close()
    order = {m: i for i, m in enumerate(methods)}
    rows = sorted(rows, key=lambda r: (r.input_tokens, order.get(r.method, 99)))
    print(f"root {settings.root_model}, sub {settings.sub_model}; results in {results}")
    print(table(rows))
    for r in rows:
        print(f"  {r.size} {r.method}: {r.answer[:100]!r} (expected {r.expected})")
    return 0
