"""A question one folder kind asks about the folder it wrote, before it becomes a ``Task``
(``private_tasks`` adds the corpus, the size label, the part and the id)."""

from __future__ import annotations

import random
from collections.abc import Mapping
from dataclasses import dataclass

from rlm_desktop.bench.tasks.base import AnswerKind


@dataclass(frozen=True)
class Question:
    qtype: str  # the template key, e.g. "client_year_total"
    family: str  # lookup | aggregate | compare | cross_ref | absent | enumerate
    question: str
    expected: str | float | tuple[str, ...]
    kind: AnswerKind
    folder: str  # which corpus it runs on: the kind's own, or "desk" (all kinds together)
    universe: tuple[str, ...] = ()
    searched: tuple[str, ...] = ()
    accept: tuple[str, ...] = ()
    cite: tuple[str, ...] = ()
    source: str = ""


def ask(rng: random.Random, templates: Mapping[str, tuple[str, ...]], qtype: str, **fields: object) -> str:
    """One of the wordings of a question type, filled in."""
    options = templates[qtype]
    return options[rng.randrange(len(options))].format(**fields)


def where(path: str, text: str | bytes, needle: str) -> str:
    """``path:line`` for a text file, ``path#page=1`` for a PDF, the path otherwise."""
    if path.endswith(".pdf"):
        return f"{path}#page=1"
    if isinstance(text, str):
        line = text.count("\n", 0, max(text.find(needle), 0)) + 1
        return f"{path}:{line}" if needle in text else path
    return path
