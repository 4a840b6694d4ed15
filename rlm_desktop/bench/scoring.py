"""Normalized answer matching. A benchmark is only as honest as its scorer, so the rules are
few and written down (docs/quality.md):

- number: the expected number is the first number of the answer, or it appears in an
  answer with at most three distinct numbers (so a dump of every figure never scores);
  digits, thousands separators and English number words all count;
- text: the expected text appears as whole words, case-insensitively ("glob.py" also
  matches "glob");
- set: every expected name appears and no other name of the task's universe does;
- absent: the answer says "not found" in some form and names none of the values that
  could have been invented (``universe``) and no number of three or more digits that the
  question did not contain.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from rlm_desktop.bench.tasks.base import Task


@dataclass(frozen=True)
class Score:
    correct: bool
    detail: str = ""


_WORD_VALUES = {w: i for i, w in enumerate(
    "zero one two three four five six seven eight nine ten eleven twelve thirteen fourteen fifteen "
    "sixteen seventeen eighteen nineteen".split())}
_WORD_VALUES.update({w: 10 * (i + 2) for i, w in enumerate("twenty thirty forty fifty sixty seventy eighty ninety".split())})
_SCALES = {"hundred": 100, "thousand": 1000, "million": 1_000_000}
_PATHLIKE = re.compile(r"\S*[/\\]\S*|\S+\.(?:txt|py|md|json|csv)(?::\d+(?:-\d+)?)?\b|\S+:\d+\b")
_NUMBER = re.compile(r"(?<![\w.])-?\d{1,3}(?:,\d{3})+(?:\.\d+)?(?![\w])|(?<![\w.])-?\d+(?:\.\d+)?(?![\w])")


def _word_numbers(text: str) -> list[tuple[int, float]]:
    """(position, value) of each run of English number words ("two thousand and five")."""
    out: list[tuple[int, float]] = []
    tokens = list(re.finditer(r"[a-z]+", text.lower()))
    i = 0
    while i < len(tokens):
        word = tokens[i].group()
        if word not in _WORD_VALUES and word not in _SCALES:
            i += 1
            continue
        start = tokens[i].start()
        total, current, seen = 0, 0, False
        while i < len(tokens):
            w = tokens[i].group()
            if w in _WORD_VALUES:
                current += _WORD_VALUES[w]
                seen = True
            elif w in _SCALES and seen:
                scale = _SCALES[w]
                if scale == 100:
                    current *= 100
                else:
                    total += current * scale
                    current = 0
            elif w == "and" and seen and i + 1 < len(tokens) and tokens[i + 1].group() in _WORD_VALUES:
                pass
            else:
                break
            i += 1
        if seen:
            out.append((start, float(total + current)))
    return out


def numbers_in(text: str) -> list[float]:
    """Numbers in reading order: digits (with separators) and number words; paths and
    file:line references are ignored so "note-003.txt" is not a number."""
    cleaned = _PATHLIKE.sub(" ", text)
    found = [(m.start(), float(m.group().replace(",", ""))) for m in _NUMBER.finditer(cleaned)]
    found += _word_numbers(cleaned)
    return [v for _, v in sorted(found)]


def normalize(text: str) -> str:
    return " " + " ".join(re.findall(r"\w+", text.casefold())) + " "


def _contains(answer_norm: str, item: str) -> bool:
    needle = normalize(item)
    if needle.strip() and needle in answer_norm:
        return True
    stem = re.sub(r"\.\w{1,4}$", "", item)
    return stem != item and normalize(stem).strip() != "" and normalize(stem) in answer_norm


_NOT_FOUND = re.compile(
    r"not (?:be )?found|no (?:mention|information|record|data|match|such|results?|answer|evidence|reference)"
    r"|(?:does|do|did|is|are|was)(?:n['’]?t| not) (?:contain|mention|appear|exist|say|include|specif|state|list|provide|present|in)"
    r"|could(?:n['’]?t| not) (?:find|locate|determine|identify)|can(?:no|['’])t (?:find|locate|determine)|unable to (?:find|locate|determine)"
    r"|not (?:mentioned|present|available|listed|specified|stated|provided|given|included|in the)"
    r"|nothing (?:about|on|found|matche)|none of the (?:files|documents|notes|texts)|unknown",
    re.IGNORECASE,
)


_NONE = re.compile(r"\s*(no|none|zero|nothing)\b", re.IGNORECASE)


def says_not_found(answer: str) -> bool:
    return bool(_NOT_FOUND.search(answer))


def score(task: Task, answer: str) -> Score:
    answer = answer or ""
    if task.kind == "number":
        expected = float(task.expected)  # type: ignore[arg-type]
        nums = numbers_in(answer)
        if not nums and expected == 0 and _NONE.match(answer):
            return Score(True, "'no ...' for zero")  # "No notes have the status escalated."
        if not nums:
            return Score(False, "no number in the answer")
        if abs(nums[0] - expected) < 1e-6:
            return Score(True)
        if any(abs(n - expected) < 1e-6 for n in nums) and len(set(nums)) <= 3:
            return Score(True, "expected number present, not first")
        return Score(False, f"numbers {nums[:5]} != {expected:g}")
    if task.kind == "text":
        ok = _contains(normalize(answer), str(task.expected))
        return Score(ok, "" if ok else f"{task.expected!r} not in answer")
    if task.kind == "set":
        expected = tuple(task.expected)  # type: ignore[arg-type]
        # names of code (callers, parameters): the answer's citations are not names, and
        # "glob.py:63" must not count as naming the function glob
        names_only = not any("." in e for e in expected)
        norm = normalize(_PATHLIKE.sub(" ", answer) if names_only else answer)
        missing = [e for e in expected if not _contains(norm, e)]
        extra = [u for u in task.universe if u not in expected and _contains(norm, u)]
        ok = not missing and not extra
        return Score(ok, "" if ok else f"missing {missing[:5]}, extra {extra[:5]}")
    if task.kind == "absent":
        norm = normalize(answer)
        invented = [u for u in task.universe if _contains(norm, u)]
        question_numbers = set(numbers_in(task.question))
        invented += [f"{n:.0f}" for n in numbers_in(answer) if n >= 100 and n not in question_numbers and f"{n:.0f}" not in invented]
        if invented:
            return Score(False, f"invented {invented[:3]}")
        if not says_not_found(answer):
            return Score(False, "does not say it was not found")
        named = all(_contains(norm, s) for s in task.searched)
        return Score(True, "names what was searched" if named else "does not name what was searched")
    raise ValueError(f"unknown answer kind {task.kind!r}")
