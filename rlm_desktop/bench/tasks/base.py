"""The task and corpus shapes, and the text helpers every generator shares."""

from __future__ import annotations

import random
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from rlm_desktop.bench.essays import Essay

# Sizes are nominal: English prose runs about 4 characters per token in the Qwen tokenizer.
CHARS_PER_TOKEN = 4.0

AnswerKind = Literal["number", "date", "text", "set", "absent"]


@dataclass(frozen=True)
class Corpus:
    """A folder a task runs on: generated ``files`` (text, or bytes for PDF, DOCX, XLSX),
    or a real folder already on disk (``source``, installed by ``bench/real/fetch.py``)."""

    id: str
    files: tuple[tuple[str, str | bytes], ...] = ()  # (relative POSIX path, content)
    source: Path | None = None
    source_chars: int = 0  # the text size of a ``source`` folder, as its manifest measured it

    @property
    def chars(self) -> int:
        if self.source is not None:
            return self.source_chars
        return sum(len(content) for _, content in self.files)

    @property
    def approx_tokens(self) -> int:
        return int(self.chars / CHARS_PER_TOKEN)

    def write(self, parent: Path) -> Path:
        """Write the files under ``parent/<id>`` and return that folder (a real folder is
        used where it lies: nothing is copied)."""
        if self.source is not None:
            return self.source
        folder = parent / self.id
        for rel, content in self.files:
            target = folder / rel
            target.parent.mkdir(parents=True, exist_ok=True)
            if isinstance(content, bytes):
                target.write_bytes(content)
            else:
                target.write_text(content, encoding="utf-8")
        return folder


@dataclass(frozen=True)
class Task:
    """One question with its ground truth.

    ``kind`` says how an answer is scored (see ``bench/scoring.py``): a number compared
    numerically (money, separators, scale words and number words count), a date compared
    as a date, a text compared case-insensitively as whole words (or any of ``accept``),
    a set of names (every expected name present, no other name of ``universe``), or
    ``absent`` (a "not found" reply that invents none of ``universe`` and no long number).

    ``cite`` lists the files (relative to the corpus folder) where the answer stands; when
    it is set and the answer cites files, one of them must be among these. ``part`` is the
    suite part (dev, held-out, legacy); ``source`` says where the ground truth stands
    (file:line or file#page=N) for the reader of a failure."""

    id: str
    family: str
    question: str
    expected: str | float | tuple[str, ...]
    kind: AnswerKind
    corpus: Corpus
    size: str  # the label of the corpus size, e.g. "8K", "128K"
    universe: tuple[str, ...] = ()
    searched: tuple[str, ...] = ()  # for absent: what a good reply names as searched
    accept: tuple[str, ...] = ()  # other forms of a text answer that count as right
    cite: tuple[str, ...] = ()  # files the answer stands in (empty: no citation check)
    part: str = "legacy"
    source: str = ""

    @property
    def input_tokens(self) -> int:
        return self.corpus.approx_tokens


def size_label(tokens: int) -> str:
    if tokens >= 1_000_000 and tokens % 1_000_000 == 0:
        return f"{tokens // 1_000_000}M"
    if tokens >= 1000:
        return f"{round(tokens / 1000)}K"
    return str(tokens)


_SENTENCE_END = re.compile(r"(?<=[.!?])\s+")


def sentence_boundaries(text: str) -> list[int]:
    """Offsets just after each sentence end, where a fact can be inserted cleanly."""
    return [m.end() for m in _SENTENCE_END.finditer(text)]


def insert_sentence(text: str, sentence: str, fraction: float) -> str:
    """Insert ``sentence`` at the sentence boundary nearest to ``fraction`` of the text."""
    cuts = sentence_boundaries(text) or [len(text)]
    target = int(len(text) * fraction)
    cut = min(cuts, key=lambda c: abs(c - target))
    return text[:cut] + sentence + " " + text[cut:]


def essay_excerpt(essays: Sequence[Essay], rng: random.Random, chars: int) -> str:
    """About ``chars`` characters of real prose starting at a sentence, one essay only."""
    essay = essays[rng.randrange(len(essays))]
    text = " ".join(essay.text.split())
    starts = [0] + sentence_boundaries(text)
    starts = [s for s in starts if s + chars <= len(text)] or [0]
    start = starts[rng.randrange(len(starts))]
    piece = text[start : start + chars]
    ends = sentence_boundaries(piece)
    return piece[: ends[-1]].strip() if ends else piece.strip()


def wrap(text: str, width: int = 90) -> str:
    """Break prose into lines so ``grep`` and ``read`` give useful line numbers."""
    import textwrap

    return "\n".join(textwrap.wrap(text, width=width)) + "\n"


_ONES = "zero one two three four five six seven eight nine ten eleven twelve thirteen fourteen fifteen sixteen seventeen eighteen nineteen".split()
_TENS = "_ _ twenty thirty forty fifty sixty seventy eighty ninety".split()


def number_words(n: int) -> str:
    """English words for 0 <= n < 1,000,000 ("one thousand two hundred and forty")."""
    if n < 20:
        return _ONES[n]
    if n < 100:
        return _TENS[n // 10] + ("" if n % 10 == 0 else "-" + _ONES[n % 10])
    if n < 1000:
        rest = n % 100
        return _ONES[n // 100] + " hundred" + ("" if rest == 0 else " and " + number_words(rest))
    if n < 1_000_000:
        rest = n % 1000
        head = number_words(n // 1000) + " thousand"
        if rest == 0:
            return head
        return head + (" and " if rest < 100 else " ") + number_words(rest)
    raise ValueError(f"number_words supports n < 1,000,000, got {n}")
