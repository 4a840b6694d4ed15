"""``rlm-desktop bench retrieval``: is the answer in what the engine reads first?

No model runs. For each question of a yardstick part whose answer stands in one place
(not an absent question, not a whole-folder one), it takes what a one-place run is shown
before any model turn (``passages(question)``, the engine's first move) and what
``--method rag`` puts in its prompt (the top search hits with the lines around them), and
asks two things of each: does a file the answer stands in appear, and does the expected
value itself appear (compared as the scorer compares: numbers as numbers, dates as dates,
words as whole words). A question the first move cannot see cannot be answered by the
reading turn; a miss here is the search's or the passage's, not the model's.

    rlm-desktop bench retrieval --part dev
    rlm-desktop bench retrieval --part dev --k 5 --around 4 --chars 4500   # a model's own passages() call
"""

from __future__ import annotations

import argparse
import tempfile
import time
from collections import Counter
from pathlib import Path

from rlm_desktop.bench.parts import part_tasks
from rlm_desktop.bench.router import expected_strategy
from rlm_desktop.bench.scoring import _contains, _date_matches, normalize, numbers_in
from rlm_desktop.bench.tasks.base import Task
from rlm_desktop.settings import Settings

ONE_PLACE = frozenset({"lookup", "code_question", "multi_step"})


def register(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser("retrieval", help="whether the engine's first move shows the answer (no model)")
    parser.add_argument("--part", choices=("dev", "held-out"), default="dev")
    parser.add_argument("--k", type=int, default=None, help="hits read by passages() (default: the engine's first move's)")
    parser.add_argument("--around", type=int, default=None, help="lines either side of a hit (default: the first move's)")
    parser.add_argument("--chars", type=int, default=None, help="the listing's size in characters (default: the first move's)")
    parser.add_argument("--out", type=Path, default=None, help="where the corpora are written and indexed (default: a temporary folder)")
    parser.add_argument("--misses", action="store_true", help="list the questions whose answer neither move shows (dev only)")
    parser.set_defaults(func=main)


def shows_answer(task: Task, text: str) -> bool:
    """Whether ``text`` contains the task's expected value, as the scorer compares it."""
    if task.kind == "number":
        expected = float(task.expected)  # type: ignore[arg-type]
        return any(abs(n - expected) < 0.005 for n in numbers_in(text))
    if task.kind == "date":
        return _date_matches(str(task.expected), text)
    norm = normalize(text)
    if task.kind == "set":
        return all(_contains(norm, item) for item in task.expected)  # type: ignore[union-attr]
    return any(_contains(norm, form) for form in (str(task.expected), *task.accept))


def shows_file(task: Task, paths: list[str]) -> bool:
    return bool(task.cite) and any(p == c or p.endswith("/" + c) for p in paths for c in task.cite)


def one_place(tasks: list[Task]) -> list[Task]:
    return [t for t in tasks if t.kind != "absent" and expected_strategy(t) in ONE_PLACE]


def measure(tasks: list[Task], workdir: Path, settings: Settings, k: int, around: int, chars: int) -> tuple[dict[str, Counter[str]], list[tuple[str, str]]]:
    """Per corpus: questions, and how many show the answer's file and value in the
    first move's passages, the value in the first or the second move's, and the file and
    value in rag's context (with their sizes in characters); plus the questions whose
    value neither move shows."""
    from rlm_desktop.bench.runner import _library_for
    from rlm_desktop.rlm.baselines import ANSWER_MAX_TOKENS, gather
    from rlm_desktop.rlm.sandbox.library_service import ScopedLibrary
    from rlm_desktop.rlm.tools.passages import (
        SECOND_AROUND,
        SECOND_CHARS,
        SECOND_HITS,
        SECOND_WORDS,
        find_passages,
        rarest_words,
        shown_of,
    )

    seen: dict[str, Counter[str]] = {}
    misses: list[tuple[str, str]] = []
    by_corpus: dict[str, list[Task]] = {}
    for t in tasks:
        by_corpus.setdefault(t.corpus.id, []).append(t)
    for corpus_id, group in by_corpus.items():
        library, folder = _library_for(group[0].corpus, workdir, settings)
        try:
            scoped = ScopedLibrary(library, (str(folder),))
            for t in group:
                found = find_passages(scoped, " ".join(t.question.split()), k, around, chars)
                shown = repr(found)
                # rag's own context, as --method rag builds it (its cut to the model's window aside)
                chunks = gather(library, "rag", t.question, (str(folder),), None, settings.n_ctx - ANSWER_MAX_TOKENS)
                rag_text = "\n\n".join(text for _, text in chunks)
                in_view = shows_answer(t, shown)
                # the engine's second move, run when the reading of the first finds nothing
                rare = " ".join(rarest_words(scoped, t.question, SECOND_WORDS))
                second = find_passages(scoped, rare, SECOND_HITS, SECOND_AROUND, SECOND_CHARS, shown_of(found)) if rare else []
                in_either = in_view or (bool(second) and shows_answer(t, repr(second)))
                tally = seen.setdefault(corpus_id, Counter())
                tally["questions"] += 1
                tally["passages file"] += shows_file(t, [p.path for p in found])
                tally["passages value"] += in_view
                tally["either value"] += in_either
                tally["rag file"] += shows_file(t, [ref.path for ref, _ in chunks])
                tally["rag value"] += shows_answer(t, rag_text)
                tally["passages chars"] += len(shown)
                tally["rag chars"] += len(rag_text)
                if not in_either:
                    misses.append((t.id, t.question))
        finally:
            library.close()
    return seen, misses


def main(args: argparse.Namespace) -> int:
    from rlm_desktop.rlm.baselines import CONTEXT_LINES, SEARCH_HITS
    from rlm_desktop.rlm.tools import passages as tool

    tasks, missing = part_tasks(args.part)
    for line in missing:
        print(f"not run (corpus unavailable): {line}")
    k = args.k or tool.FIRST_HITS
    around = args.around if args.around is not None else tool.FIRST_AROUND
    chars = args.chars or tool.FIRST_CHARS
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="rlm-retrieval-") as tmp:
        seen, misses = measure(one_place(tasks), args.out or Path(tmp), Settings(), k, around, chars)
    print(f"bench retrieval, part {args.part}: passages k={k} around={around} chars={chars}; rag {SEARCH_HITS} hits ±{CONTEXT_LINES} lines "
          f"({time.monotonic() - started:.0f} s)")
    print("| corpus | questions | passages: file | passages: value | with the second move: value | rag: file | rag: value | passages chars | rag chars |")
    print("|---|---|---|---|---|---|---|---|---|")
    total: Counter[str] = Counter()
    for corpus_id, tally in [*seen.items(), ("all", None)]:
        if tally is None:
            tally = total
        else:
            total.update(tally)
        n = tally["questions"]
        print(f"| {corpus_id} | {n} | {tally['passages file']} | {tally['passages value']} | {tally['either value']} | {tally['rag file']} | "
              f"{tally['rag value']} | {tally['passages chars'] // max(n, 1)} | {tally['rag chars'] // max(n, 1)} |")
    if args.misses and args.part == "dev":
        for tid, question in misses:
            print(f"  both moves miss {tid}: {question}")
    return 0
