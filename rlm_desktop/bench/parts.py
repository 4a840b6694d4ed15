"""The parts of the yardstick that ``bench dev --part`` runs.

- ``dev``: real corpora marked dev (Python's HTML docs, git's man pages, Asymptote's PDF
  manuals, click, commander) and the private folders at dev seeds with dev phrasings.
  Traces of this part are read to find what fails.
- ``held-out``: other real corpora (PostgreSQL's HTML docs, R's PDF manuals, requests,
  express) and the private folders at other seeds (100 + seed) with the held-out
  phrasings. Only counted; its failures are not read one by one to add a rule.
- ``legacy``: the old development set (six generated families, issue 10), kept as a part.

The choice of corpora, seeds and phrasings for each part is fixed here and in
``bench/real/corpora/*.toml``; moving a corpus between parts is a change to the yardstick,
not to the engine, and is said so in docs/benchmarks.md."""

from __future__ import annotations

from collections.abc import Sequence

from rlm_desktop.bench.tasks.base import Task

PARTS = ("dev", "held-out", "legacy")
HELD_OUT_SEED_OFFSET = 100
# --quick: one question of each of these families, each from another corpus where it can be
QUICK_FAMILIES = ("lookup", "locate", "enumerate", "aggregate", "cross_ref", "absent")


def part_tasks(part: str, *, seed: int = 0, seeds: int = 1, quick: bool = False) -> tuple[list[Task], list[str]]:
    """The tasks of ``part`` and the real corpora that could not be installed (with why)."""
    if part not in ("dev", "held-out"):
        raise ValueError(f"part_tasks builds dev and held-out, not {part!r} (legacy is bench/tasks.dev_tasks)")
    from rlm_desktop.bench.real import real_tasks
    from rlm_desktop.bench.tasks.private import private_tasks

    tasks, missing = real_tasks(part)
    first = seed + (HELD_OUT_SEED_OFFSET if part == "held-out" else 0)
    for s in range(first, first + seeds):
        tasks += private_tasks(s, part)
    return (quick_slice(tasks) if quick else tasks), missing


def quick_slice(tasks: Sequence[Task]) -> list[Task]:
    """One task per family of ``QUICK_FAMILIES``, each from a corpus not used yet when
    one is left: a few minutes that still touch every shape of question."""
    chosen: list[Task] = []
    used: set[str] = set()
    for family in QUICK_FAMILIES:
        candidates = [t for t in tasks if t.family == family]
        if not candidates:
            continue
        fresh = [t for t in candidates if _corpus_group(t) not in used]
        pick = (fresh or candidates)[0]
        chosen.append(pick)
        used.add(_corpus_group(pick))
    return chosen


def _corpus_group(task: Task) -> str:
    """Private folders of one seed count as one corpus for the quick slice's variety."""
    cid = task.corpus.id
    return cid.rsplit("-", 1)[0] if cid.startswith("private-") else cid


def per_corpus(tasks: Sequence[Task], n: int) -> list[Task]:
    """``n`` tasks of each corpus, taking its families in turn (a lookup, a locate, an
    enumerate, ...), so a sample of a few per corpus still spans the kinds of question."""
    by_corpus: dict[str, list[Task]] = {}
    for t in tasks:
        by_corpus.setdefault(t.corpus.id, []).append(t)
    chosen: list[Task] = []
    for group in by_corpus.values():
        families: dict[str, list[Task]] = {}
        for t in group:
            families.setdefault(t.family, []).append(t)
        queues = list(families.values())
        picked: list[Task] = []
        while len(picked) < n and any(queues):
            for q in queues:
                if q and len(picked) < n:
                    picked.append(q.pop(0))
        chosen += picked
    return chosen
