"""Normalized answer matching. A benchmark is only as honest as its scorer, so the rules are
few and written down (docs/quality.md):

- number: the expected number is the first number of the answer, or it appears in an
  answer with at most three distinct numbers (so a dump of every figure never scores);
  digits, thousands separators (1,234.50 and 1 234,50 and 1.234,50), currency signs,
  scale words (1.5 million, 1 billion), powers (10^9, 1e9) and English number words all
  count; money compares to the cent;
- date: any date of the answer (2022-11-16, 16 November 2022, Nov 16, 2022, 16/11/2022
  read either way) on the expected day; an expected year or year-month matches a date in it;
- text: the expected text, or one of the task's ``accept`` forms, appears as whole words,
  case-insensitively ("glob.py" also matches "glob");
- set: every expected name appears and no other name of the task's universe does;
- absent: the answer says "not found" in some form and names none of the values that
  could have been invented (``universe``; one the question names is not invented) and
  no number of three or more digits that the question did not contain; the names of
  files it says it read are places, not values.

Every answer then falls in one of three bins (``Score.bin``): ``right``; ``not_found``
(says it did not find the fact, or gave no answer at all: a crash or an empty reply
misleads no one); ``wrong`` (states something else with confidence). A right value whose
answer cites only files other than those the answer stands in (``Task.cite``) is
``wrong``: the user would check the citation and find nothing there.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from rlm_desktop.bench.tasks.base import Task

Bin = str  # "right" | "not_found" | "wrong"
BINS = ("right", "not_found", "wrong")


@dataclass(frozen=True)
class Score:
    correct: bool
    detail: str = ""
    bin: Bin = ""
    cited: str = ""  # "ok", "other" (cites only other files), "none" (no citation), "" (not checked)


_WORD_VALUES = {w: i for i, w in enumerate(
    "zero one two three four five six seven eight nine ten eleven twelve thirteen fourteen fifteen "
    "sixteen seventeen eighteen nineteen".split())}
_WORD_VALUES.update({w: 10 * (i + 2) for i, w in enumerate("twenty thirty forty fifty sixty seventy eighty ninety".split())})
_SCALES = {"hundred": 100, "thousand": 1000, "million": 1_000_000, "billion": 1_000_000_000, "trillion": 10**12}
_PATHLIKE = re.compile(r"\S*[/\\]\S*|\S+\.(?:txt|py|md|json|csv|html?|pdf|docx|xlsx|eml|mbox|js|ts|rst)(?::\d+(?:-\d+)?|#page=\d+)?\b|[A-Za-z][\w-]*\.[1-9](?::\d+)?\b|\S+:\d+\b")


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
        else:
            i += 1  # a scale word with no number before it ("a thousand", "billion")
    return out


# digits with the separators people write: 1,234.50 | 1 234,50 | 1.234,50 | 1234.5 | 1e9 | 10^9
_FIGURE = re.compile(
    r"(?<![\w.,])(?P<num>-?(?:\d{1,3}(?:(?P<sep>[,. \u00a0\u202f'])\d{3})(?:(?P=sep)\d{3})*(?:[.,]\d+)?|\d+(?:[.,]\d+)?))"
    r"(?:(?P<exp>[eE][+-]?\d+)|\s*(?:\^|\*\*)\s*(?P<pow>\d+))?"
    r"(?:\s*(?P<scale>hundred|thousand|million|billion|trillion|bn)\b)?(?![\w])"
)
_SHORT_SCALES = {"bn": 1_000_000_000}


def _figure_value(m: re.Match) -> float:
    """One figure as a number. Mixed separators: the last is the decimal point
    (1,234.50; 1.234,50; 1 234,50). One kind only: spaces and apostrophes group
    thousands; a repeated comma or point groups thousands (1,234,567); a single point is
    a decimal point; a single comma before exactly three digits groups thousands, before
    any other count it is a decimal comma (12,5)."""
    raw = m.group("num")
    sign = -1.0 if raw.startswith("-") else 1.0
    raw = raw.lstrip("-")
    seps = [c for c in raw if not c.isdigit()]
    decimal_at = -1
    if seps:
        last = max(raw.rfind(c) for c in set(seps))
        kinds = set(seps)
        if len(kinds) > 1:
            decimal_at = last
        elif seps[0] in ".," and len(seps) == 1 and (seps[0] == "." or len(raw) - last - 1 != 3):
            decimal_at = last
    if decimal_at >= 0:
        whole = "".join(ch for ch in raw[:decimal_at] if ch.isdigit())
        value = float(f"{whole or 0}.{raw[decimal_at + 1:]}")
    else:
        value = float("".join(ch for ch in raw if ch.isdigit()))
    if m.group("exp"):
        value *= 10.0 ** int(m.group("exp")[1:])
    elif m.group("pow"):
        value = value ** int(m.group("pow"))
    scale = (m.group("scale") or "").lower()
    if scale:
        value *= _SCALES.get(scale) or _SHORT_SCALES[scale]
    return sign * value


def numbers_in(text: str) -> list[float]:
    """Numbers in reading order: digits (with separators, exponents and scale words) and
    number words; paths and file:line references are ignored so "note-003.txt" is not a
    number."""
    cleaned = _PATHLIKE.sub(" ", text)
    found = [(m.start(), _figure_value(m)) for m in _FIGURE.finditer(cleaned)]
    found += _word_numbers(cleaned)
    return [v for _, v in sorted(found)]


# a file's name or path, with its extension and an optional :line
_FILE_NAME = re.compile(r"[\w./-]*\w\.[A-Za-z][A-Za-z0-9]{0,4}\b(?::\d+)?")


def normalize(text: str) -> str:
    return " " + " ".join(re.findall(r"\w+", text.casefold())) + " "


def _contains(answer_norm: str, item: str) -> bool:
    needle = normalize(item)
    if needle.strip() and needle in answer_norm:
        return True
    stem = re.sub(r"\.[A-Za-z]\w{0,3}$", "", item)  # "glob.py" -> "glob"; "15.16" is no file name
    return stem != item and normalize(stem).strip() != "" and normalize(stem) in answer_norm


_NOT_FOUND = re.compile(
    r"not (?:be )?found|no (?:mention|information|record|data|match|such|results?|answer|evidence|reference)"
    r"|(?:does|do|did|is|are|was)(?:n['’]?t| not) (?:contain|mention|appear|exist|say|include|specif|state|list|provide|present|in)"
    r"|could(?:n['’]?t| not) (?:find|locate|determine|identify)|can(?:no|['’])t (?:find|locate|determine)|unable to (?:find|locate|determine)"
    r"|not (?:mentioned|present|available|listed|specified|stated|provided|given|included|in the)"
    r"|nothing (?:about|on|found|matche)|none of the (?:files|documents|notes|texts)|unknown"
    r"|\bno\b[^.\n]{0,60}\b(?:found|located|mentioned|stated|given)\b",  # "No release notes page found for ..."
    re.IGNORECASE,
)


_NONE = re.compile(r"\s*(no|none|zero|nothing)\b", re.IGNORECASE)


def says_not_found(answer: str) -> bool:
    return bool(_NOT_FOUND.search(answer))


_MONTHS = {m: i + 1 for i, m in enumerate("january february march april may june july august september october november december".split())}
_MONTHS.update({m[:3]: i for m, i in list(_MONTHS.items())})
_MONTHS["sept"] = 9
_MONTH = r"(?P<mon>" + "|".join(sorted(_MONTHS, key=len, reverse=True)) + r")\.?"
_DATE_FORMS = (
    re.compile(r"\b(?P<y>\d{4})-(?P<m>\d{1,2})-(?P<d>\d{1,2})\b"),
    re.compile(r"\b(?P<d>\d{1,2})(?:st|nd|rd|th)?\s+(?:of\s+)?" + _MONTH + r",?\s+(?P<y>\d{4})\b", re.IGNORECASE),
    re.compile(r"\b" + _MONTH + r"\s+(?P<d>\d{1,2})(?:st|nd|rd|th)?,?\s+(?P<y>\d{4})\b", re.IGNORECASE),
    re.compile(r"\b" + _MONTH + r",?\s+(?P<y>\d{4})\b", re.IGNORECASE),
    re.compile(r"\b(?P<a>\d{1,2})[/.](?P<b>\d{1,2})[/.](?P<y>\d{4})\b"),
    re.compile(r"\b(?P<y>\d{4})-(?P<m>\d{1,2})\b(?!-)"),
    re.compile(r"(?<![\d.,])(?P<y>1[5-9]\d\d|20\d\d)(?![\d.,]\d)"),
)


_FILE_REF = re.compile(r"\S+\.[A-Za-z][A-Za-z0-9]{0,4}(?::\d+(?:-\d+)?|#page=\d+)?")  # "notes/2022-11-16.md:3"


def dates_in(text: str) -> set[tuple[int, int | None, int | None]]:
    """Every (year, month, day) the text names; month or day None when not given. A
    numeric d/m/y date is read both ways (16/11/2022 and 11/16/2022 name one day)."""
    found: set[tuple[int, int | None, int | None]] = set()
    for form in _DATE_FORMS:
        for m in form.finditer(text):
            g = m.groupdict()
            year = int(g["y"])
            if g.get("a"):
                a, b = int(g["a"]), int(g["b"])
                for day, month in ((a, b), (b, a)):
                    if 1 <= month <= 12 and 1 <= day <= 31:
                        found.add((year, month, day))
                continue
            month = int(g["m"]) if g.get("m") else (_MONTHS[g["mon"].lower()] if g.get("mon") else None)
            day = int(g["d"]) if g.get("d") else None
            found.add((year, month, day))
    return found


def _date_matches(expected: str, answer: str) -> bool:
    want = dates_in(expected)
    if not want:
        raise ValueError(f"expected date {expected!r} is not a date")
    target = max(want, key=lambda d: (d[1] is not None, d[2] is not None))
    for year, month, day in dates_in(answer):
        if year != target[0]:
            continue
        if target[1] is not None and month != target[1]:
            continue
        if target[2] is not None and day != target[2]:
            continue
        return True
    return False


_CITED = re.compile(r"(?P<path>(?:[\w.@+-]+/)*[\w.@+-]+\.[A-Za-z0-9]{1,5})(?::\d+(?:-\d+)?|#page=\d+|, (?:page|p\.) ?\d+)?")


def cited_files(answer: str) -> list[str]:
    """The file paths an answer names as its sources ("library/socket.html:120",
    "R-exts.pdf#page=12"); bare version numbers and decimals are not paths."""
    out: list[str] = []
    for m in _CITED.finditer(answer):
        path = m.group("path")
        ext = path.rsplit(".", 1)[1]
        if ext.isdigit() and "/" not in path and not re.match(r"[A-Za-z]", path):
            continue  # 3.11, 2.35
        if re.fullmatch(r"[\d.]+", path):
            continue
        if path not in out:
            out.append(path)
    return out


def _same_file(cited: str, expected: str) -> bool:
    cited, expected = cited.strip("/").casefold(), expected.strip("/").casefold()
    return cited == expected or expected.endswith("/" + cited) or cited.endswith("/" + expected)


def citation_verdict(task: Task, answer: str, citations: tuple[str, ...] = ()) -> str:
    """'ok' when a file the answer cites is one the answer stands in, 'other' when it
    cites only other files, 'none' when it cites nothing, '' when the task has no files
    to check against. The answer's own text is read first; the run's citations (what the
    window shows beside the answer) when the text names no file."""
    if not task.cite:
        return ""
    named = cited_files(answer)
    named = [c for c in named if any(_same_file(c, e) for e in task.cite)] or named
    candidates = named or list(citations)
    if not candidates:
        return "none"
    return "ok" if any(_same_file(c, e) for c in candidates for e in task.cite) else "other"


def score(task: Task, answer: str, citations: tuple[str, ...] = (), *, cited: str | None = None) -> Score:
    """The verdict on one answer, with its bin and citation check (module docstring).
    ``cited`` gives a citation verdict already made (rescoring stored rows, whose run's
    citations are not kept)."""
    answer = answer or ""
    if task.kind != "absent" and _OPENS_NOT_FOUND.match(answer) and not _states_a_value(task, answer):
        # "Not found: ... I searched with grep('program\\.version') ...": the words of its
        # searches are not a value put forward (commander-src-01 was scored right on them)
        return Score(False, "says not found" + ("; names what it searched" if _names_search(answer) else ""), "not_found", "")
    value = _value_verdict(task, answer)
    if cited is None:
        cited = citation_verdict(task, answer, citations) if value.correct else ""
    if value.correct and cited == "other":
        return Score(False, f"right value, but it cites only {cited_files(answer)[:3] or list(citations)[:3]}; the answer stands in {list(task.cite)[:3]}", "wrong", cited)
    if value.correct:
        return Score(True, value.detail, "right", cited)
    if not answer.strip():
        return Score(False, "no answer", "not_found", cited)
    if task.kind != "absent" and says_not_found(answer) and not _states_a_value(task, answer):
        return Score(False, "says not found" + ("; names what it searched" if _names_search(answer) else ""), "not_found", cited)
    return Score(False, value.detail, "wrong", cited)


_OPENS_NOT_FOUND = re.compile(r"\s*(?:not found|nothing found|no file (?:mentions|says|states))\b", re.IGNORECASE)


def _names_search(answer: str) -> bool:
    return bool(re.search(r"search|grep|looked|checked|read|files?\b", answer, re.IGNORECASE))


def _states_a_value(task: Task, answer: str) -> bool:
    """A "not found" that still puts forward a value ("not found; probably 30") is a
    confident answer: the user would take the value."""
    if re.search(r"\b(?:probably|likely|presumably|I think|I guess|maybe|perhaps)\b", answer, re.IGNORECASE):
        return bool(numbers_in(answer)) or task.kind in ("text", "set")
    return False


def _value_verdict(task: Task, answer: str) -> Score:
    answer = answer or ""
    if task.kind == "number":
        expected = float(task.expected)  # type: ignore[arg-type]
        nums = numbers_in(answer)
        if not nums and expected == 0 and _NONE.match(answer):
            return Score(True, "'no ...' for zero")  # "No notes have the status escalated."
        if not nums:
            return Score(False, "no number in the answer")
        if abs(nums[0] - expected) < 0.005:
            return Score(True)
        if any(abs(n - expected) < 0.005 for n in nums) and len(set(nums)) <= 3:
            return Score(True, "expected number present, not first")
        return Score(False, f"numbers {nums[:5]} != {expected:g}")
    if task.kind == "text":
        norm = normalize(answer)
        ok = any(_contains(norm, form) for form in (str(task.expected), *task.accept))
        return Score(ok, "" if ok else f"{task.expected!r} not in answer")
    if task.kind == "date":
        ok = _date_matches(str(task.expected), _FILE_REF.sub(" ", answer))
        return Score(ok, "" if ok else f"no date on {task.expected} in the answer")
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
        # the files a "not found" names as read are places, not values it claims ("saw
        # lines of 12 files (INV-2021-003.pdf, INV-2021-007.txt, ...)")
        answer = _FILE_NAME.sub(" ", answer)
        norm = normalize(answer)
        # a value the question itself names is repeated, not invented ("Which variable,
        # like NO_COLOR, does Click honour?" answered "Not found ... grep('NO_COLOR')")
        asked = normalize(task.question)
        invented = [u for u in task.universe if _contains(norm, u) and not _contains(asked, u)]
        question_numbers = set(numbers_in(task.question))
        invented += [f"{n:.0f}" for n in numbers_in(answer) if n >= 100 and n not in question_numbers and f"{n:.0f}" not in invented]
        if invented:
            return Score(False, f"invented {invented[:3]}")
        if not says_not_found(answer):
            return Score(False, "does not say it was not found")
        named = all(_contains(norm, s) for s in task.searched)
        return Score(True, "names what was searched" if named else "does not name what was searched")
    raise ValueError(f"unknown answer kind {task.kind!r}")
