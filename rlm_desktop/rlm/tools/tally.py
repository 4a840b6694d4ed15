r"""``tally(pattern)``: count the values a regex captures, once per file, over every file.

Small roots answer "which person filed the most notes" with a regex written from the
first line they saw, and a folder states the same property in several ways ("Filed by
X", "Author: X", "written by X"). A plain ``Counter`` over such a regex is silently
short. ``tally`` says how many files the regex missed and shows, from those files, the
lines that name a value it already found (or the file's first line): the other
phrasings, so the next cell can widen the regex. A regex whose alternatives capture
different kinds of value ("Author: (\w+ \w+)|Office: (\w+)") gets counts that mix
names with offices; ``tally`` says so and prints one call per kind. Runs inside the
worker."""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable
from typing import Any

from rlm_desktop.rlm.tools.corpus import File, as_source

SHOWN_VALUES = 12
SHOWN_UNMATCHED = 3
SCAN_UNMATCHED = 40  # missed files looked at for other phrasings
TRY_UNMATCHED = 200  # missed files a candidate phrasing is tried on
MAX_CANDIDATES = 48
MAX_ALTERNATIVES = 4
_SHORT_LINE = 200


class Tally(list):
    """``[(value, files), ...]`` most frequent first; ``.paths[value]`` the files,
    ``.unmatched`` the files with no match. Prints as a short report."""

    def __init__(self, pattern: str, rows: list[tuple[str, int]], paths: dict[str, list[str]],
                 searched: int, unmatched: list[str], examples: list[str], suggestion: str | None = None,
                 kinds: list[tuple[str, list[str]]] | None = None) -> None:
        super().__init__(rows)
        self.kinds = kinds or []  # (pattern of one kind, its top values) when the alternatives mix kinds
        self.pattern = pattern
        self.suggestion = suggestion  # the pattern widened with the phrasings it missed
        self.paths = paths
        self.searched = searched
        self.unmatched = unmatched
        self.examples = examples
        self.dropped: list[tuple[str, int]] = []  # capitalized common words that only opened sentences

    @property
    def counts(self) -> dict[str, int]:
        return dict(self)

    def most_common(self, n: int | None = None) -> list[tuple[str, int]]:
        return list(self[:n] if n is not None else self)

    def __repr__(self) -> str:
        matched = self.searched - len(self.unmatched)
        head = f"tally({as_source(self.pattern)}): matched in {matched} of {self.searched} files; {len(self)} distinct values"
        if self.kinds:  # a mixed listing would invite picking a status for a person
            lines = [head + ", of different kinds (the alternatives share no value). One kind per call:"]
            lines += [f"  tally({as_source(p)}) counts {', '.join(values)}, ..." for p, values in self.kinds]
            return "\n".join(lines)
        lines = [head + (":" if self else ".")]
        lines += [f"  {value}: {n} file{'s' if n != 1 else ''}" for value, n in self[:SHOWN_VALUES]]
        if len(self) > SHOWN_VALUES:
            lines.append(f"  ... {len(self) - SHOWN_VALUES} more (the .counts dict has all)")
        if self.dropped:
            left = ", ".join(f"{v} ({n} file{'s' if n != 1 else ''})" for v, n in self.dropped[:6])
            lines.append(f"Left out: {left}: only ever a capitalized word opening a sentence, and written lowercase elsewhere in these files (not a value).")
        if self.unmatched:
            lines.append(f"{len(self.unmatched)} files have no match; their lines may say it another way, e.g.:")
            lines += [f"  {e}" for e in self.examples]
            if self.suggestion:
                lines.append(f"To count those too: tally({as_source(self.suggestion)})")
        return "\n".join(lines)

    __str__ = __repr__


# a class of capitals written by hand ("[A-Z]", "[A-ZÄÖ]"), not an escaped bracket
_CAPITALS = re.compile(r"(?<!\\)\[A-Z[^\]]*\]")


def keep_capitals(pattern: str, flags: int) -> str:
    r"""``pattern`` with each hand-written class of capitals kept case-sensitive under
    IGNORECASE: the root writes ``by ([A-Z]\w+ [A-Z]\w+)`` for a name, and ignoring case
    made it count "by simply taking" and "their office" as names and offices."""
    if not flags & re.IGNORECASE:
        return pattern
    kept = _CAPITALS.sub(lambda m: f"(?-i:{m.group(0)})", pattern)
    try:
        re.compile(kept, flags)
    except re.error:  # "[[A-Z]]": the class was inside another; leave the pattern as written
        return pattern
    return kept


def compile_pattern(pattern: str, flags: int) -> re.Pattern[str]:
    return re.compile(keep_capitals(pattern, flags), flags)


def _value(match: re.Match[str]) -> tuple[int, str]:
    """(index, text) of the first group that took part in the match (alternatives each
    have their own), else (0, the whole match); whitespace collapsed."""
    for index, group in enumerate(match.groups(), 1):
        if group is not None:
            return index, " ".join(group.split())
    return 0, " ".join(match.group(0).split())


def tally(files: Iterable[File], pattern: str, flags: int, recorder: Any) -> Tally:
    regex = compile_pattern(pattern, flags)
    counter: Counter[str] = Counter()
    by_group: dict[int, Counter[str]] = {}
    paths: dict[str, list[str]] = {}
    unmatched: list[File] = []
    searched = 0
    mid_sentence: set[str] = set()  # values seen at least once not opening a sentence
    texts: dict[str, str] = {}
    for f in files:
        searched += 1
        seen: set[str] = set()
        for i, line in enumerate(f.text.split("\n"), 1):
            for m in regex.finditer(line):
                group, value = _value(m)
                by_group.setdefault(group, Counter())[value] += 1
                before = line[: m.start(group)].rstrip() if group else ""
                if before and not before.endswith((".", "!", "?", '"', "'", "\u201d")):
                    mid_sentence.add(value)
                if value and value not in seen:
                    seen.add(value)
                    recorder.source(f.path, i, None, "grep")  # a regex scan, as grep
        if not seen:
            unmatched.append(f)
        else:
            texts[f.path] = f.text
        for value in seen:
            counter[value] += 1
            paths.setdefault(value, []).append(f.path)
    dropped = _sentence_openers(counter, mid_sentence, paths, texts)
    for value, _ in dropped:
        del counter[value]
    rows = counter.most_common()
    known = [v for v, _ in rows[:SHOWN_VALUES]]
    examples = _examples(unmatched, known, recorder)
    for value, _ in rows[:SHOWN_VALUES]:
        recorder.corpus_text(value)
    suggestion = _widened(pattern, flags, unmatched, known or _names_in(pattern, unmatched))
    kinds = _kinds(pattern, flags, by_group)
    result = Tally(pattern, rows, paths, searched, [f.path for f in unmatched], examples, suggestion, kinds)
    result.dropped = dropped
    return result


def _sentence_openers(counter: Counter[str], mid_sentence: set[str], paths: dict[str, list[str]],
                      texts: dict[str, str]) -> list[tuple[str, int]]:
    """Values that are only a capitalized common word opening a sentence: captured only
    at a sentence start, and written lowercase more often in the matched files ("His
    office ..." counted "His" as an office; a short note says "his" once or twice, the
    folder hundreds of times)."""
    out = []
    for value, n in counter.most_common():
        if value in mid_sentence or " " in value or not (value[:1].isupper() and value[1:].islower()):
            continue
        word = re.compile(rf"\b{re.escape(value.lower())}\b")
        lower = sum(len(word.findall(text)) for text in texts.values())
        if lower >= max(3, 2 * n):
            out.append((value, n))
    return out


def _alternatives(pattern: str) -> list[str]:
    """The top-level ``|`` alternatives of ``pattern`` (not those inside a group or a
    character class)."""
    parts, depth, in_class, start, i = [], 0, False, 0, 0
    while i < len(pattern):
        c = pattern[i]
        if c == "\\":
            i += 2
            continue
        if in_class:
            in_class = c != "]"
        elif c == "[":
            in_class = True
            if pattern[i + 1 : i + 2] == "]":
                i += 1
        elif c == "(":
            depth += 1
        elif c == ")":
            depth -= 1
        elif c == "|" and depth == 0:
            parts.append(pattern[start:i])
            start = i + 1
        i += 1
    parts.append(pattern[start:])
    return parts


def _kinds(pattern: str, flags: int, by_group: dict[int, Counter[str]]) -> list[tuple[str, list[str]]]:
    """When the groups that captured values fall into clusters that share no value
    (names in one, offices in another), one pattern per cluster made of its
    alternatives, with its most frequent values; else []."""
    groups = [g for g in by_group if g > 0 and len(by_group[g]) >= 2]
    if len(groups) < 2:
        return []
    alternatives = _alternatives(pattern)
    owner: dict[int, int] = {}  # group index -> index of the alternative that holds it
    index = 0
    try:
        for a, alt in enumerate(alternatives):
            for _ in range(compile_pattern(alt, flags).groups):
                index += 1
                owner[index] = a
    except re.error:
        return []
    clusters: list[tuple[set[int], set[str]]] = []
    for g in groups:
        values = set(by_group[g])
        joined = [c for c in clusters if c[1] & values]
        merged = ({g} | set().union(*(c[0] for c in joined)), values | set().union(*(c[1] for c in joined)))
        clusters = [c for c in clusters if c not in joined] + [merged]
    if len(clusters) < 2:
        return []
    kinds = []
    for members, _ in clusters:
        alts = sorted({owner[g] for g in members if g in owner})
        if not alts:
            return []
        counts = sum((by_group[g] for g in members), Counter())
        kinds.append((alts[0], "|".join(alternatives[a] for a in alts), [v for v, _ in counts.most_common(3)]))
    return [(p, values) for _, p, values in sorted(kinds)]


def _shape(value: str) -> str:
    """A group that matches values shaped like ``value``: capitalized words stay
    capitalized (names), other words any word, numbers digits."""
    parts = []
    for word in value.split():
        if word.isdigit():
            parts.append(r"\d+")
        elif word[:1].isupper():
            parts.append(r"[A-Z]\w+")
        else:
            parts.append(r"\w+")
    return "(" + " ".join(parts) + ")"


def _names_in(pattern: str, unmatched: list[File]) -> list[str]:
    """When nothing matched, values to widen from: if the pattern's first group takes two
    or three words (a name, "(\\w+ \\w+)"), the runs of as many capitalized words that
    recur in the missed files' lines ("Mei Chen", "Tom Becker"), most frequent first."""
    group = re.search(r"\((?!\?)([^()]*)\)", pattern)
    words = len(re.findall(r"\\w\+|\[A-Z\]\\w\+|\\S\+", group.group(1))) if group else 0
    if words not in (2, 3):
        return []
    run = re.compile(r"\b[A-Z][a-z]+" + r" [A-Z][a-z]+" * (words - 1) + r"\b")
    seen: Counter[str] = Counter()
    for f in unmatched[:SCAN_UNMATCHED]:
        seen.update({m.group() for line in f.text.split("\n")[1:] for m in run.finditer(line)})
    return [v for v, n in seen.most_common(SHOWN_VALUES) if n >= 2]


def _case_shape(value: str) -> str:
    """'Aa Aa' for "Maria Lopez", 'a' for "open", '9' for "42"."""
    return " ".join("9" if w.isdigit() else "Aa" if w[:1].isupper() else "a" for w in value.split())


def _contexts(line: str, at: int, value: str) -> list[str]:
    r"""Alternatives that capture ``value`` where it stands in ``line`` (at ``at``), each
    with the literal text around it, exactly as written ("(Lisbon office" gives
    ``\(([A-Z]\w+) office``, no space after the bracket): two words before, one word
    before, one before and one after, one after."""
    starts = [m.start() for m in re.finditer(r"\S+", line[:at])]
    after = re.match(r"\s*[^\s.,;:!?)]+", line[at + len(value):])
    tail = re.escape(after.group()) if after else ""
    group = _shape(value)
    out = [re.escape(line[starts[-k]:at]) + group for k in (2, 1) if len(starts) >= k]
    if tail:
        if starts:
            out.append(re.escape(line[starts[-1]:at]) + group + tail)
        out.append(group + tail)
    # re.escape escapes spaces, which the model copies; \b so "is (\w+)" does not match "This note"
    return [("\\b" if alt[:1].isalnum() else "") + alt.replace("\\ ", " ") for alt in out]


def _widened(pattern: str, flags: int, unmatched: list[File], known: list[str]) -> str | None:
    r"""``pattern`` plus the alternatives that capture known values in the files it
    missed: for each line there that names a known value, the literal text around it
    (``_contexts``); each candidate is tried on every missed file and kept when most of
    what it captures is a known value, then the ones that cover the most missed files
    are taken ("by ([A-Z]\w+ [A-Z]\w+)" covers "Filed by X" and "written by X" at once;
    "Mensah \(([A-Z]\w+)" covers one file and is left out). None when nothing fits."""
    if not known or not unmatched:
        return None
    known_set = set(known)
    shapes = {_case_shape(v) for v in known} - {"a", "a a", "a a a"}  # any lowercase word fits those: known values only
    candidates: list[str] = []
    for f in unmatched[:SCAN_UNMATCHED]:
        for line in f.text.split("\n"):
            for value in known:
                at = line.find(value)
                if at < 0 or (at > 0 and line[at - 1].isalnum()):
                    continue
                for alt in _contexts(line, at, value):
                    if alt not in candidates and len(candidates) < MAX_CANDIDATES:
                        candidates.append(alt)
    sample = unmatched[:TRY_UNMATCHED]
    covered: dict[str, set[int]] = {}
    for alt in candidates:
        try:
            regex = compile_pattern(alt, flags)
        except re.error:
            continue
        good: set[int] = set()
        right = wrong = 0  # captures like the known values, and others
        for i, f in enumerate(sample):
            for m in regex.finditer(f.text):
                value = " ".join(m.group(1).split())
                # a value like the known ones ("Kofi Mensah" beside "Maria Lopez"), not
                # "the way" (a class the root wrote without capitals takes any word)
                if value in known_set or _case_shape(value) in shapes:
                    good.add(i)
                    right += 1
                else:
                    wrong += 1
        if good and right >= 0.75 * (right + wrong):
            covered[alt] = good
    added: list[str] = []
    left = set(range(len(sample)))
    while covered and left and len(added) < MAX_ALTERNATIVES:
        alt = max(covered, key=lambda a: (len(covered[a] & left), len(a)))  # ties: the more specific
        if not covered[alt] & left:
            break
        added.append(alt)
        left -= covered.pop(alt)
    if not added:
        return None
    widened = "|".join([pattern, *added])
    try:
        compile_pattern(widened, flags)
    except re.error:
        return None
    return widened


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
