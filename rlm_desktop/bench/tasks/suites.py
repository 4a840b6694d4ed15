"""Which tasks make up ``bench quality`` and ``bench dev``, full and ``--quick``."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from rlm_desktop.bench.essays import Essay
from rlm_desktop.bench.tasks.base import Task
from rlm_desktop.bench.tasks.code import LARGE_MODULES, SMALL_MODULES, code_tasks
from rlm_desktop.bench.tasks.facts import facts_tasks
from rlm_desktop.bench.tasks.figures import figures_tasks
from rlm_desktop.bench.tasks.needle import needle_task
from rlm_desktop.bench.tasks.notes import notes_tasks

QUALITY_FAMILIES = ("needle", "aggregation", "code_qa")
DEV_FAMILIES = ("lookup", "multi_step", "count_list", "numeric", "code", "absent")

NEEDLE_SIZES = (8_000, 32_000, 128_000, 512_000, 1_000_000)
NEEDLE_LARGE = 10_000_000
# the two corpus sizes of the dev set: one inside the 8K window, one far past it
DEV_SMALL_TOKENS = 5_000
DEV_LARGE_TOKENS = 128_000


def quality_tasks(essays: Sequence[Essay], *, quick: bool = False, large: bool = False, seed: int = 0, repeats: int = 3) -> list[Task]:
    """Needle at every size (``repeats`` seeds each), aggregation over 120 notes, code QA
    over ~30 standard-library modules. ``quick`` keeps a few-minute subset."""
    if quick:
        tasks = [needle_task(essays, size, seed) for size in (8_000, 128_000)]
        agg = notes_tasks(essays, 40, seed, "aggregation", n_questions=4)
        tasks += [agg[0], agg[2]]  # the most frequent filer; a count
        tasks += code_tasks(SMALL_MODULES, seed, "code_qa", n_questions=4)[:2]
        return tasks
    sizes = NEEDLE_SIZES + ((NEEDLE_LARGE,) if large else ())
    tasks = [needle_task(essays, size, seed + r) for size in sizes for r in range(repeats)]
    tasks += notes_tasks(essays, 120, seed, "aggregation", n_questions=10)
    tasks += code_tasks(LARGE_MODULES, seed, "code_qa", n_questions=10)
    return tasks


def quality_plan(tasks: Sequence[Task], methods: Sequence[str], *, quick: bool) -> list[tuple[Task, str]]:
    """(task, method) pairs to run. The full run crosses every task with every method.
    ``--quick`` runs the RLM on every task but each baseline once, where it is telling
    (``direct`` on the needle past its window, ``rag`` on a count): a baseline call reads a
    full 8K window, about 4 minutes for the 1.5B model on 2 AVX2 cores, so crossing all
    would not fit the 15-minute budget."""
    if not quick:
        return [(t, m) for t in tasks for m in methods]
    pairs = [(t, "rlm") for t in tasks if "rlm" in methods]
    needles = [t for t in tasks if t.family == "needle"]
    counts = [t for t in tasks if t.family == "aggregation" and t.kind == "number"]
    if "direct" in methods and needles:
        pairs.append((needles[-1], "direct"))
    if "rag" in methods and counts:
        pairs.append((counts[0], "rag"))
    return pairs


def dev_tasks(
    essays: Sequence[Essay], *, families: Iterable[str] | None = None, quick: bool = False, seed: int = 0, per_size: int | None = None
) -> list[Task]:
    """At least ten questions per family at each of the two sizes (``quick``: the first
    three of each; ``per_size``: the first N of each)."""
    wanted = set(families or DEV_FAMILIES)
    unknown = wanted - set(DEV_FAMILIES)
    if unknown:
        raise ValueError(f"unknown dev family {sorted(unknown)}; choose from {', '.join(DEV_FAMILIES)}")
    tasks: list[Task] = []
    if wanted & {"lookup", "multi_step", "absent"}:
        for size in (DEV_SMALL_TOKENS, DEV_LARGE_TOKENS):
            tasks += facts_tasks(essays, size, seed)
    if "count_list" in wanted:
        tasks += notes_tasks(essays, 12, seed, "count_list", body_chars=300)
        tasks += notes_tasks(essays, 200, seed, "count_list", body_chars=1200)
    if "numeric" in wanted:
        tasks += figures_tasks(essays, 8, seed, body_chars=600)
        tasks += figures_tasks(essays, 60, seed, body_chars=2400)
    if "code" in wanted:
        tasks += code_tasks(SMALL_MODULES, seed, "code")
        tasks += code_tasks(LARGE_MODULES, seed, "code")
    tasks = [t for t in tasks if t.family in wanted]
    limit = per_size if per_size is not None else (3 if quick else None)
    return tasks if limit is None else first_per_size(tasks, limit)


def first_per_size(tasks: Sequence[Task], limit: int) -> list[Task]:
    """The first ``limit`` tasks of each family on each corpus (size), in order."""
    kept: list[Task] = []
    per: dict[tuple[str, str], int] = {}
    for t in tasks:
        key = (t.family, t.corpus.id)
        if per.get(key, 0) < limit:
            kept.append(t)
            per[key] = per.get(key, 0) + 1
    return kept
