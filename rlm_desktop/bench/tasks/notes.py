"""Many short notes, each with a few properties stated in prose (who filed it, from which
office, its status) around a real excerpt. The questions need every file: counts, the most
frequent value, which files share a property. Ground truth is computed from the records,
never from the text, so a generator bug that breaks the text shows up as a wrong answer."""

from __future__ import annotations

import random
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass

from rlm_desktop.bench.essays import Essay
from rlm_desktop.bench.tasks.base import Corpus, Task, essay_excerpt, size_label, wrap

FILERS = ("Maria Lopez", "Tom Becker", "Aisha Khan", "Lars Nilsson", "Mei Chen", "Kofi Mensah", "Sofia Rossi", "Pavel Novak")
OFFICES = ("Lisbon", "Denver", "Osaka", "Nairobi", "Krakow", "Lima")
STATUSES = ("resolved", "open", "escalated")

_HEADERS = (
    "Filed by {filer} from the {office} office. Status: {status}.",
    "This note was written by {filer} ({office} office); its status is {status}.",
    "Author: {filer}. Office: {office}. Current status: {status}.",
)


@dataclass(frozen=True)
class Note:
    path: str
    filer: str
    office: str
    status: str


def make_notes(essays: Sequence[Essay], n: int, rng: random.Random, body_chars: int) -> tuple[list[Note], list[tuple[str, str]]]:
    # skewed weights so "most frequent" has one clear answer
    filer_weights = [8, 5, 4, 3, 3, 2, 2, 1]
    office_weights = [6, 4, 3, 3, 2, 1]
    notes: list[Note] = []
    files: list[tuple[str, str]] = []
    for i in range(n):
        note = Note(
            path=f"notes/note-{i + 1:03d}.txt",
            filer=rng.choices(FILERS, filer_weights)[0],
            office=rng.choices(OFFICES, office_weights)[0],
            status=rng.choices(STATUSES, [6, 3, 1])[0],
        )
        header = _HEADERS[rng.randrange(len(_HEADERS))].format(filer=note.filer, office=note.office, status=note.status)
        body = essay_excerpt(essays, rng, body_chars)
        notes.append(note)
        files.append((note.path, f"Note {i + 1}\n" + wrap(header) + "\n" + wrap(body)))
    return notes, files


def _unique_max(counter: Counter[str]) -> str | None:
    top = counter.most_common(2)
    if not top or (len(top) == 2 and top[0][1] == top[1][1]):
        return None
    return top[0][0]


def notes_tasks(essays: Sequence[Essay], n_notes: int, seed: int, family: str, n_questions: int = 10, body_chars: int = 400) -> list[Task]:
    """Count and list questions over ``n_notes`` notes; regenerates with the next attempt
    until the "most frequent" questions have a unique answer."""
    for attempt in range(50):
        rng = random.Random(f"notes:{n_notes}:{seed}:{attempt}")
        notes, files = make_notes(essays, n_notes, rng, body_chars)
        top_filer = _unique_max(Counter(n.filer for n in notes))
        top_office = _unique_max(Counter(n.office for n in notes))
        if top_filer and top_office:
            break
    else:  # pragma: no cover - the weights make this practically impossible
        raise RuntimeError("could not generate notes with a unique most frequent filer and office")
    corpus = Corpus(f"notes-{n_notes}-s{seed}", tuple(files))
    label = size_label(corpus.approx_tokens)
    names = tuple(n.path.rsplit("/", 1)[-1] for n in notes)
    present_filers = sorted({n.filer for n in notes})
    present_offices = sorted({n.office for n in notes})

    def paths(pred) -> tuple[str, ...]:
        return tuple(n.path.rsplit("/", 1)[-1] for n in notes if pred(n))

    candidates: list[tuple[str, object, str, tuple[str, ...]]] = []
    candidates.append(("Which person filed the most notes?", top_filer, "text", ()))
    candidates.append(("Which office do the most notes come from?", top_office, "text", ()))
    candidates.append(("How many notes have the status escalated?", float(sum(n.status == "escalated" for n in notes)), "number", ()))
    candidates.append(("How many different offices appear in the notes?", float(len(present_offices)), "number", ()))
    for filer in rng.sample(present_filers, len(present_filers)):
        candidates.append((f"How many notes were filed by {filer}?", float(sum(n.filer == filer for n in notes)), "number", ()))
    for office in rng.sample(present_offices, len(present_offices)):
        candidates.append((f"How many notes from the {office} office are still open?", float(sum(n.office == office and n.status == "open" for n in notes)), "number", ()))
    # list questions: only small sets, so an answer can name them all
    for filer in present_filers:
        for office in present_offices:
            match = paths(lambda n, f=filer, o=office: n.filer == f and n.office == o)
            if 1 <= len(match) <= 4:
                candidates.append((f"Which files were filed by {filer} from the {office} office?", match, "set", names))
    esc = paths(lambda n: n.status == "escalated")
    if 1 <= len(esc) <= 6:
        candidates.append(("Which files have the status escalated?", esc, "set", names))

    # keep the first four (the most-frequent, distinct-count questions), then a seeded mix
    head, rest = candidates[:4], candidates[4:]
    counts = [c for c in rest if c[2] == "number"]
    lists = [c for c in rest if c[2] == "set"]
    rng.shuffle(counts)
    rng.shuffle(lists)
    chosen = head[:]
    while len(chosen) < n_questions and (counts or lists):
        pool = lists if (len(chosen) % 2 == 1 and lists) or not counts else counts
        chosen.append(pool.pop(0))
    tasks = []
    for i, (question, expected, kind, universe) in enumerate(chosen):
        tasks.append(Task(f"{family}-{label}-s{seed}-{i:02d}", family, question, expected, kind, corpus, label, universe=universe))  # type: ignore[arg-type]
    return tasks
