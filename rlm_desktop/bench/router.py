"""``rlm-desktop bench router [--part dev|held-out]``: how often the engine's choice of
strategy (``rlm.strategy.choose_strategy``, the same call and sub model the engine uses)
fits the kind of question, over the yardstick's questions. No RLM run: one short call per
question, so a router change is measured in minutes on a whole part.

The kind each question needs is the bench's knowledge, not the engine's: a question over a
code base is a code question; a private folder's sum, maximum or comparison needs a figure
from every file; a count or list over every file needs code over every file; a reference
followed across files is two steps; the rest is one fact in one place. The dev part prints
each miss; the held-out part prints only the figures."""

from __future__ import annotations

import argparse
import time
from collections import Counter

from rlm_desktop.bench.parts import part_tasks
from rlm_desktop.bench.tasks.base import Task
from rlm_desktop.settings import Settings

CODE_SHAPES = ("click-src", "commander-src", "requests-src", "express-src")
# the private generator's question types (``Task.id`` ends with them) whose answer is an amount
FIGURE_QUESTIONS = frozenset({"client_year_total", "year_total", "largest", "grew", "top_client",
                              "quarter_total", "smallest", "client_total", "paid_total"})


def expected_strategy(task: Task) -> str:
    cid = task.corpus.id
    if any(cid == c for c in CODE_SHAPES) or cid.startswith("stdlib-"):
        return "code_question"
    if task.family in ("aggregate", "compare", "enumerate") and cid.startswith("private-"):
        # amounts to add up or compare need a figure from every file; counts, lists and
        # dates compared need code over every file
        return "whole_folder_map" if task.id.rsplit("-", 1)[-1] in FIGURE_QUESTIONS else "whole_folder_code"
    if task.family == "cross_ref":
        return "multi_step"
    return "lookup"


def folder_makeup(corpus) -> tuple[str, dict[str, int]]:
    """The folder line and kinds the engine's plan would see, from the file names (no
    index needed: the router bench only times the plan call)."""
    from rlm_desktop.library.extract import classify

    names = [p.name for p in corpus.source.rglob("*") if p.is_file()] if corpus.source else [r.rsplit("/", 1)[-1] for r, _ in corpus.files]
    kinds = Counter(k for k in map(classify, names) if k != "binary")
    listed = ", ".join(f"{n} {kind}" for kind, n in kinds.most_common())
    return f"The folder has {sum(kinds.values()):,} files ({listed}).", dict(kinds)


def register(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser("router", help="the strategy router against the kind of each yardstick question")
    parser.add_argument("--part", choices=("dev", "held-out"), default="dev")
    parser.add_argument("--sub-model", default=None, help="the model the router asks (default: the settings' sub model)")
    parser.add_argument("--router", choices=("rules", "plan"), default=Settings().router,
                        help=f"plan: rlm/plan.py; rules: question regexes, then a one-word call (default {Settings().router})")
    parser.add_argument("--threads", type=int, default=None, help="llama.cpp threads (default: the settings')")
    parser.set_defaults(func=main)


def main(args: argparse.Namespace) -> int:
    from rlm_desktop.llm.loader import load_backend
    from rlm_desktop.rlm.strategy import choose_strategy
    from rlm_desktop.settings import Settings

    tasks, missing = part_tasks(args.part)
    for line in missing:
        print(f"not run (corpus unavailable): {line}")
    settings = Settings()
    if args.threads:
        settings = settings.replace(n_threads=args.threads)
    backend = load_backend(args.sub_model or settings.sub_model, settings.replace(n_ctx=2048), role="sub")
    right: Counter[str] = Counter()
    total: Counter[str] = Counter()
    sources: Counter[str] = Counter()
    places: Counter[str] = Counter()
    asked: Counter[str] = Counter()
    misses = []
    makeup = {t.corpus.id: folder_makeup(t.corpus) for t in tasks}
    started = time.monotonic()
    try:
        for t in tasks:
            want = expected_strategy(t)
            folder, kinds = makeup[t.corpus.id]
            got = choose_strategy(t.question, backend, folder=folder, kinds=kinds, rules=args.router == "rules")
            total[want] += 1
            sources[got.source] += 1
            if got.answer:  # the plan's answer kind: a file or place for "which page/file" questions only
                places["locate" if t.family == "locate" else "other"] += got.answer == "file or place"
                asked["locate" if t.family == "locate" else "other"] += 1
            if got.name == want:
                right[want] += 1
            else:
                misses.append((t.id, want, got.name, got.source, t.question))
    finally:
        backend.close()
    n = sum(total.values())
    print(f"router {args.router}, part {args.part}: {sum(right.values())}/{n} fit ({time.monotonic() - started:.0f} s; decided by {dict(sources)})")
    for want in sorted(total):
        print(f"  {want}: {right[want]}/{total[want]}")
    if asked:
        print(f"  answer 'file or place': {places['locate']}/{asked['locate']} locate questions (which page, file or section), "
              f"{places['other']}/{asked['other']} others")
    if args.part == "dev":
        for tid, want, got, source, question in misses:
            print(f"  miss {tid}: wanted {want}, got {got} ({source}): {question}")
    return 0
