"""Needle in a haystack, RULER single-needle style: the essays, repeated to reach the size,
split across many files, with one key-value fact inserted at a random depth."""

from __future__ import annotations

import random
from collections.abc import Sequence

from rlm_desktop.bench.essays import Essay
from rlm_desktop.bench.tasks.base import CHARS_PER_TOKEN, Corpus, Task, insert_sentence, size_label

CITIES = (
    "Chicago", "Yangon", "Antananarivo", "Colombo", "Almaty", "Sydney", "Mombasa", "Helsinki",
    "Montevideo", "Tbilisi", "Reykjavik", "Nairobi", "Quito", "Ljubljana", "Hanoi", "Windhoek",
    "Valletta", "Tallinn", "Asuncion", "Bratislava",
)

FILE_CHARS = 8000  # about 2K tokens per file


def haystack_files(essays: Sequence[Essay], size_tokens: int, rng: random.Random) -> list[tuple[str, str]]:
    """Essays in a shuffled order, repeated until the size is reached, cut into files of
    about ``FILE_CHARS`` at line ends."""
    target = int(size_tokens * CHARS_PER_TOKEN)
    order = list(essays)
    rng.shuffle(order)
    files: list[tuple[str, str]] = []
    total = 0
    rep = 0
    while total < target:
        for essay in order:
            lines = essay.text.splitlines(keepends=True)
            part: list[str] = []
            part_chars = 0
            index = 0
            for line in lines + [None]:  # type: ignore[list-item]
                if line is not None:
                    part.append(line)
                    part_chars += len(line)
                if part and (line is None or part_chars >= FILE_CHARS or total + part_chars >= target):
                    text = "".join(part)
                    files.append((f"{essay.name}-{rep}-{index:02d}.txt", text))
                    total += len(text)
                    index += 1
                    part, part_chars = [], 0
                    if total >= target:
                        return files
        rep += 1
    return files


def needle_task(essays: Sequence[Essay], size_tokens: int, seed: int) -> Task:
    rng = random.Random(f"needle:{size_tokens}:{seed}")
    files = haystack_files(essays, size_tokens, rng)
    city = CITIES[rng.randrange(len(CITIES))]
    number = rng.randrange(1_000_000, 10_000_000)
    depth = rng.uniform(0.05, 0.95)
    position = depth * sum(len(t) for _, t in files)
    seen = 0
    for i, (name, text) in enumerate(files):
        if seen + len(text) >= position:
            fraction = (position - seen) / max(1, len(text))
            files[i] = (name, insert_sentence(text, f"The special magic number for {city} is {number}.", fraction))
            break
        seen += len(text)
    label = size_label(size_tokens)
    corpus = Corpus(f"needle-{label}-s{seed}", tuple(files))
    return Task(
        id=f"needle-{label}-s{seed}",
        family="needle",
        question=f"What is the special magic number for {city}?",
        expected=float(number),
        kind="number",
        corpus=corpus,
        size=label,
    )
