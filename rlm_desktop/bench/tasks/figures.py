"""Numeric map-and-reduce: one report per branch, each carrying its figures phrased in
varied ways (digits, digits with separators, words; different sentence shapes) with
distractor figures beside them. Questions ask for sums, maxima, minima and counts."""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass

from rlm_desktop.bench.essays import Essay
from rlm_desktop.bench.tasks.base import Corpus, Task, essay_excerpt, number_words, size_label, wrap

BRANCHES = (
    "Aberdeen", "Bergen", "Cork", "Dijon", "Essen", "Faro", "Graz", "Haarlem", "Izmir", "Jena", "Kaunas",
    "Leiden", "Malmo", "Nantes", "Oulu", "Parma", "Riga", "Split", "Tartu", "Utrecht", "Varna", "Wroclaw",
    "Ypres", "Zadar", "Arles", "Bruges", "Como", "Delft", "Evora", "Fulda", "Gent", "Hamar", "Ioannina",
    "Jaen", "Kiel", "Lugano", "Mainz", "Nimes", "Olomouc", "Pecs", "Rouen", "Siena", "Trier", "Uppsala",
    "Vigo", "Wels", "Xanten", "Zwolle", "Aarhus", "Bilbao", "Cluj", "Dresden", "Espoo", "Freiburg", "Genoa",
    "Hull", "Innsbruck", "Jyvaskyla", "Koper", "Linz",
)


@dataclass(frozen=True)
class Branch:
    name: str
    march: int
    february: int
    staff: int


def _fmt(n: int, rng: random.Random) -> str:
    style = rng.randrange(3)
    if style == 0:
        return str(n)
    if style == 1:
        return f"{n:,}"
    return number_words(n)


def _report(branch: Branch, rng: random.Random) -> str:
    m, f, s = _fmt(branch.march, rng), _fmt(branch.february, rng), _fmt(branch.staff, rng)
    year = rng.randrange(1950, 2015)
    march = (
        f"In March the {branch.name} branch sold {m} units.",
        f"March sales at {branch.name}: {m} units.",
        f"The {branch.name} team moved {m} units during March.",
        f"Units sold in March came to {m}, the {branch.name} manager reported.",
        f"{branch.name} closed March with {m} units sold.",
    )[rng.randrange(5)]
    feb = (
        f"In February it had sold {f} units.",
        f"That compares with {f} units in February.",
        f"February's figure was {f} units.",
    )[rng.randrange(3)]
    staff = (
        f"The branch employs {s} people.",
        f"It has a staff of {s}.",
        f"Headcount: {s}.",
    )[rng.randrange(3)]
    opened = f"The branch opened in {year}."
    lines = [march, feb, staff, opened]
    rng.shuffle(lines)
    return " ".join(lines)


def figures_tasks(essays: Sequence[Essay], n_branches: int, seed: int, body_chars: int = 600) -> list[Task]:
    rng = random.Random(f"figures:{n_branches}:{seed}")
    names = rng.sample(BRANCHES, n_branches)
    branches = []
    used: set[int] = set()
    for name in names:
        march = rng.randrange(120, 3000)
        while march in used:  # distinct values so max/min name one branch
            march = rng.randrange(120, 3000)
        used.add(march)
        branches.append(Branch(name, march, rng.randrange(120, 3000), rng.randrange(3, 80)))
    files = []
    for _i, b in enumerate(branches):
        text = f"Branch report: {b.name}\n\n" + wrap(essay_excerpt(essays, rng, body_chars // 2)) + "\n" + wrap(_report(b, rng)) + "\n" + wrap(essay_excerpt(essays, rng, body_chars // 2))
        files.append((f"reports/{b.name.lower()}.txt", text))
    corpus = Corpus(f"figures-{n_branches}-s{seed}", tuple(files))
    label = size_label(corpus.approx_tokens)
    threshold = sorted(b.march for b in branches)[len(branches) // 2]
    top_staff = max(branches, key=lambda b: (b.staff, b.name))
    questions: list[tuple[str, str | float, str]] = [
        ("What is the total number of units sold in March across all branches?", float(sum(b.march for b in branches)), "number"),
        ("What is the largest number of units any single branch sold in March?", float(max(b.march for b in branches)), "number"),
        ("Which branch sold the most units in March?", max(branches, key=lambda b: b.march).name, "text"),
        ("What is the smallest number of units any single branch sold in March?", float(min(b.march for b in branches)), "number"),
        ("Which branch sold the fewest units in March?", min(branches, key=lambda b: b.march).name, "text"),
        ("What is the total number of units sold in February across all branches?", float(sum(b.february for b in branches)), "number"),
        ("How many people do all the branches employ in total?", float(sum(b.staff for b in branches)), "number"),
        (f"How many branches sold more than {threshold} units in March?", float(sum(b.march > threshold for b in branches)), "number"),
        ("What is the largest number of units any single branch sold in February?", float(max(b.february for b in branches)), "number"),
        ("What is the total number of units sold in March and February together, across all branches?", float(sum(b.march + b.february for b in branches)), "number"),
    ]
    if sum(b.staff == top_staff.staff for b in branches) == 1:
        questions.append(("Which branch has the most staff?", top_staff.name, "text"))
    return [
        Task(f"numeric-{label}-s{seed}-{i:02d}", "numeric", q, a, k, corpus, label)  # type: ignore[arg-type]
        for i, (q, a, k) in enumerate(questions)
    ]
