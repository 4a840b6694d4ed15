"""``tally(pattern)``: count the values a regex captures, once per file, over every file.

Small roots answer "which person filed the most notes" with a regex written from the
first line they saw, and a folder states the same property in several ways ("Filed by
X", "Author: X", "written by X"). A plain ``Counter`` over such a regex is silently
short. ``tally`` says how many files the regex missed and shows, from those files, the
lines that name a value it already found (or the file's first line): the other
phrasings, so the next cell can widen the regex. Runs inside the worker."""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable
from typing import Any

from rlm_desktop.rlm.repl.corpus import File, as_source

SHOWN_VALUES = 12
SHOWN_UNMATCHED = 3
_SHORT_LINE = 200


class Tally(list):
    """``[(value, files), ...]`` most frequent first; ``.paths[value]`` the files,
    ``.unmatched`` the files with no match. Prints as a short report."""

    def __init__(self, pattern: str, rows: list[tuple[str, int]], paths: dict[str, list[str]],
                 searched: int, unmatched: list[str], examples: list[str]) -> None:
        super().__init__(rows)
        self.pattern = pattern
        self.paths = paths
        self.searched = searched
        self.unmatched = unmatched
        self.examples = examples

    @property
    def counts(self) -> dict[str, int]:
        return dict(self)

    def most_common(self, n: int | None = None) -> list[tuple[str, int]]:
        return list(self[:n] if n is not None else self)

    def __repr__(self) -> str:
        matched = self.searched - len(self.unmatched)
        head = f"tally({as_source(self.pattern)}): matched in {matched} of {self.searched} files; {len(self)} distinct values"
        lines = [head + (":" if self else ".")]
        lines += [f"  {value}: {n} file{'s' if n != 1 else ''}" for value, n in self[:SHOWN_VALUES]]
        if len(self) > SHOWN_VALUES:
            lines.append(f"  ... {len(self) - SHOWN_VALUES} more (the .counts dict has all)")
        if self.unmatched:
            lines.append(f"{len(self.unmatched)} files have no match; their lines may say it another way, e.g.:")
            lines += [f"  {e}" for e in self.examples]
        return "\n".join(lines)

    __str__ = __repr__


def _value(match: re.Match[str]) -> str:
    """The first group that took part in the match (alternatives each have their own),
    else the whole match; whitespace collapsed."""
    groups = [g for g in match.groups() if g is not None]
    return " ".join((groups[0] if groups else match.group(0)).split())


def tally(files: Iterable[File], pattern: str, flags: int, recorder: Any) -> Tally:
    regex = re.compile(pattern, flags)
    counter: Counter[str] = Counter()
    paths: dict[str, list[str]] = {}
    unmatched: list[File] = []
    searched = 0
    for f in files:
        searched += 1
        seen: set[str] = set()
        for i, line in enumerate(f.text.split("\n"), 1):
            for m in regex.finditer(line):
                value = _value(m)
                if value and value not in seen:
                    seen.add(value)
                    recorder.source(f.path, i, None, "grep")  # a regex scan, as grep
        if not seen:
            unmatched.append(f)
        for value in seen:
            counter[value] += 1
            paths.setdefault(value, []).append(f.path)
    rows = counter.most_common()
    examples = _examples(unmatched, [v for v, _ in rows[:SHOWN_VALUES]], recorder)
    for value, _ in rows[:SHOWN_VALUES]:
        recorder.corpus_text(value)
    return Tally(pattern, rows, paths, searched, [f.path for f in unmatched], examples)


def _examples(unmatched: list[File], known: list[str], recorder: Any) -> list[str]:
    """Lines from files the regex missed: a line naming a value found elsewhere (another
    phrasing of the same property), else the first line of some length. One per shape."""
    out: list[str] = []
    shapes: set[str] = set()
    for f in unmatched:
        lines = f.text.split("\n")
        pick = next(((i, ln) for i, ln in enumerate(lines, 1) for v in known if v and v in ln), None)
        if pick is None:
            pick = next(((i, ln) for i, ln in enumerate(lines, 1) if len(ln.split()) >= 4), None)
        if pick is None:
            continue
        i, line = pick
        shape = " ".join(line.split()[:2]).lower()
        if shape in shapes:
            continue
        shapes.add(shape)
        recorder.source(f.path, i, None, "grep")  # a regex scan, as grep
        recorder.corpus_text(line)
        out.append(f"{f.path}:{i}: {line.strip()[:_SHORT_LINE]}")
        if len(out) >= SHOWN_UNMATCHED:
            break
    return out
