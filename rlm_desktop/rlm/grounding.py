"""Is an answer backed by something the model saw? Small models invent values (the probe's
"access code 123456"); checking in code works where asking the model to re-check does not.

Evidence is the question, every REPL output the model saw, and the answers of sub-calls
whose prompt carried corpus text. A sub-call given no corpus text is no evidence. A key
value of an answer (a number, a quoted name, a capitalized word or an identifier) that is
absent from the evidence makes the answer ungrounded -- unless code computed it, i.e. it
was neither written by the model nor said by an ungrounded sub-call."""

from __future__ import annotations

import itertools
import re
from collections.abc import Sequence
from dataclasses import dataclass, field

from rlm_desktop.library.query import STOP_WORDS
from rlm_desktop.rlm.strategy import LEAST_WORDS, MOST_WORDS, SUPERLATIVE_WORDS
from rlm_desktop.rlm.tools.facts import ToolFact

# words that start a question or a sentence with a capital without naming anything
_QUESTION_CAPITALS = frozenset("what which who whom whose where when how why is are was were does did do in on at the a an of for from".split())
_NAME_RUN = re.compile(r"\b[A-Z][\w-]+(?:\s+[A-Z][\w-]+)*")


def capitalized_runs(text: str) -> list[tuple[int, int, list[str]]]:
    """Each run of capitalized words in ``text``: where it starts, how many words it
    has, and its words without the question words that lead it ("Which", "The", ...)."""
    runs = []
    for m in _NAME_RUN.finditer(text):
        words = m.group().split()
        size = len(words)
        while words and words[0].lower() in _QUESTION_CAPITALS:
            words = words[1:]
        runs.append((m.start(), size, words))
    return runs

_NUMBER = re.compile(r"(?<![\w.])[-+]?\d[\d,_]*(?:\.\d+)?(?![\w])")
_QUOTED = re.compile(r"[\"'“‘`]([^\"'”’`\n]{2,80})[\"'”’`]")
_CAPITALIZED = re.compile(r"\b[A-Z][A-Za-z0-9]*(?:[-_][A-Za-z0-9]+)*\b")
_IDENTIFIER = re.compile(r"\b[a-z][a-z0-9]*(?:_[a-z0-9]+)+\b|\b[a-z]+[A-Z][A-Za-z0-9]*\b")
# a file location as answers cite it: notes/a.txt, a.txt:12, g.py:40-52; not 10.0
_FILE = r"[\w./\\-]*\.[A-Za-z_]\w{0,4}(?!\w)"  # the extension ends the name: "Click.Context" is no file
# a pasted text's lines are cited as context:12 (``tools.corpus.TEXT_PATH``)
# a place an answer cites: a file with a line ("notes/a.txt:12"), or a PDF's page as the
# tools print it ("m.pdf#page=3:10") or as the reading cites it ("m.pdf, page 3"): its
# numbers are positions, not claims (the page number of "Sean Healy (asymptote.pdf, page
# 184)" was checked as a value and the reading refused)
LOCATION = re.compile(r"(?:" + _FILE + r"|\bcontext(?=:\d))(?:(?:#page=\d+|,? page \d+)(?::\d+)?|:\d+(?:-\d+)?)?")
# the same with its line, as groups (path, line): what ``citations.recite`` checks
CITED_LINE = re.compile(r"(?<![\w./\\-])(" + _FILE + r"):(\d+)\b")
# a listing line of search or grep: path:line: text, or path:line (in func): text
HIT = re.compile(r"^(?P<path>[^\s:]+\.\w+):(?P<line>\d+)(?: \(in (?P<scope>[\w.]+)\))?: (?P<text>.*)$", re.MULTILINE)

# Capitalized words that say nothing about the corpus (sentence starts, answer phrasing).
_COMMON = frozenset(
    """a an and answer are as at based be but by can could did do does file files final for found from
    has have he her his how i if in is it its line lines no none not of on one or our she so that the
    their there these they this to was we were what when where which who why with yes you your
    according also although however in the total there are this is it is not mentioned unknown
    """.split()
)


def _norm_number(value: str) -> str:
    return value.replace(",", "").replace("_", "").lstrip("+")


def key_values(answer: str) -> list[str]:
    """The values an answer hinges on, in order, without duplicates."""
    text = LOCATION.sub(" ", answer)  # citations like notes/a.txt:12 are checked elsewhere
    found: list[str] = []
    for match in _NUMBER.finditer(text):
        found.append(_norm_number(match.group(0)))
    for match in _QUOTED.finditer(text):
        found.append(match.group(1).strip())
    for match in _CAPITALIZED.finditer(text):
        word = match.group(0)
        if word.lower() in _COMMON or len(word) < 2:
            continue
        found.append(word)
    for match in _IDENTIFIER.finditer(text):
        found.append(match.group(0))
    seen: set[str] = set()
    unique = []
    for value in found:
        low = value.lower()
        if low and low not in seen:
            seen.add(low)
            unique.append(value)
    return unique


@dataclass
class Evidence:
    """What a node saw (grounded) and what was said without evidence (model, bare sub-calls)."""

    grounded: list[str] = field(default_factory=list)
    unsupported: list[str] = field(default_factory=list)

    bare_answers: list[str] = field(default_factory=list)
    facts: list[ToolFact] = field(default_factory=list)  # what the counting tools computed, in order

    def add_output(self, text: str, facts: Sequence[ToolFact] = ()) -> None:
        """A REPL output and its cell's tool facts; what the output merely echoes of bare
        sub-call answers is not evidence."""
        self.facts.extend(facts)
        for answer in self.bare_answers:
            if len(answer.strip()) >= 2:
                text = text.replace(answer.strip(), " ")
        if text:
            self.grounded.append(text)

    def add_model_text(self, text: str) -> None:
        if text:
            self.unsupported.append(text)

    def add_sub_answer(self, answer: str, *, had_corpus_text: bool) -> None:
        if had_corpus_text:
            self.grounded.append(answer)
        else:
            self.unsupported.append(answer)
            self.bare_answers.append(answer)

    def extend(self, other: Evidence) -> None:
        self.facts.extend(other.facts)
        self.grounded.extend(other.grounded)
        self.unsupported.extend(other.unsupported)
        self.bare_answers.extend(other.bare_answers)


def contains_value(haystack: str, value: str) -> bool:
    if _NUMBER.fullmatch(value):
        digits = _norm_number(value)
        return any(_norm_number(m.group(0)) == digits for m in _NUMBER.finditer(haystack))
    return value.lower() in haystack.lower()


# what the tools print around corpus text: a numbered line's "12| ", a listing line's
# "path:12: " or "path:12 (in f): ", a passage's "--- path lines 8-16" and a page's
# "[page 3]". Their numbers are positions, not the corpus's values: the 1.5B answered
# "How many days' notice ...?" with "4 (lease.txt:4)", the line number of its hit
_POSITION = re.compile(r"^\s*\d+\s*\|\s?|^[^\s:]+\.\w+(?:#page=\d+)?:\d+(?: \(in [\w.]+\))?: ", re.MULTILINE)
_POSITION_LINE = re.compile(r"^(?:--- \S+ (?:lines \d+-\d+|page \d+)|\[page \d+\])\s*$", re.MULTILINE)


def without_positions(text: str) -> str:
    """``text`` with the line numbers, listing prefixes and passage headers the tools add."""
    return _POSITION.sub("", _POSITION_LINE.sub("", text))


_CLAIM_WORD = re.compile(r"[^\W_]{3,}")


def unsupported_words(answer: str, text: str, question: str = "") -> list[str]:
    """The words of ``answer`` (its citations, the question's words and short words
    aside) that ``text`` does not hold, compared by their first four letters (gives / give): a claim in
    words ("six months") checked against the passage it says it came from."""
    held = {w.lower()[:4] for w in _CLAIM_WORD.findall(without_positions(text))}
    asked = {w.lower()[:4] for w in _CLAIM_WORD.findall(question)}
    said = [w for w in _CLAIM_WORD.findall(LOCATION.sub(" ", answer)) if w.lower() not in STOP_WORDS]
    return [w for w in said if w.lower()[:4] not in held and w.lower()[:4] not in asked]


def unsupported_claim(answer: str, text: str, question: str = "") -> list[str]:
    """What of ``answer`` its passage ``text`` does not hold: its key values (numbers,
    names, identifiers, quoted phrases) that the question does not name, when it has
    some, each compared as a value; else its plain words (``unsupported_words``). A
    paraphrase around a right name passes ("Context uses HelpFormatter unless ..."),
    a wrong number or name does not, nor a claim in words that the text lacks."""
    plain = without_positions(text)
    claims = [v for v in key_values(answer) if not contains_value(question, v)]
    if claims:
        return [v for v in claims if not contains_value(plain, v)]
    return unsupported_words(answer, text, question)


def ungrounded_values(answer: str, evidence: Evidence, *, from_code: bool) -> list[str]:
    """Key values of ``answer`` that nothing the model saw supports; a line number or a
    page the tools printed beside the text supports nothing. With ``from_code`` (the
    answer was set by code), a value no one wrote or said was computed: it passes."""
    grounded = without_positions("\n".join(evidence.grounded))
    unsupported = "\n".join(evidence.unsupported)
    missing = []
    for value in key_values(answer):
        if contains_value(grounded, value):
            continue
        if from_code and not contains_value(unsupported, value):
            continue
        missing.append(value)
    return missing


_TOTAL_WORDS = re.compile(r"\b(total|sum|altogether|combined|in all)\b", re.IGNORECASE)
_EXTREME_WORDS = re.compile(r"\b(" + "|".join((*SUPERLATIVE_WORDS, "any single")) + r")\b", re.IGNORECASE)


def wrong_reduction(question: str, answer: str, evidence: Evidence) -> tuple[str, str] | None:
    """("total" | "extreme", the figure printed for it, or "") when the answer's number is
    a reduction of the other kind than the question asks: the 1.5B printed the total of
    60 reports, then ``rows.max()``, and answered the total question with the largest
    value; it answered another total question with ``rows.above(1000)``'s count of files.
    None when the answer and the question agree, or nothing tells."""
    wants_total = bool(_TOTAL_WORDS.search(question)) and not _EXTREME_WORDS.search(question)
    wants_extreme = bool(_EXTREME_WORDS.search(question)) and not _TOTAL_WORDS.search(question)
    if not (wants_total or wants_extreme):
        return None
    figures = [f for f in evidence.facts if f.tool == "figure" and f.value]
    totals = [_norm_number(f.value) for f in figures if f.kind == "total"]
    extremes = [_norm_number(f.value) for f in figures if f.kind in ("max", "min")]
    counts = {_norm_number(f.value) for f in figures if f.kind in ("above", "below")}
    numbers = {_norm_number(v) for v in key_values(answer) if _NUMBER.fullmatch(v)}
    if wants_total and numbers & (set(extremes) | counts) and not numbers & set(totals):
        return "total", totals[-1] if totals else ""
    if wants_extreme and numbers & (set(totals) | counts) and not numbers & set(extremes):
        return "extreme", extremes[-1] if extremes else ""
    return None


_MOST_WORDS = re.compile(r"\b(" + "|".join(MOST_WORDS) + r")\b", re.IGNORECASE)
_LEAST_WORDS = re.compile(r"\b(" + "|".join(LEAST_WORDS) + r")\b", re.IGNORECASE)


def not_the_top(question: str, answer: str, evidence: Evidence) -> tuple[str, int] | None:
    """(the value the last tally listed first, its count) when a "which ... the most"
    answer names a value lower in that listing and none of the values tied for first:
    the 1.5B answered Tom Becker (26) from a tally that listed Maria Lopez (32) first."""
    if not _MOST_WORDS.search(question) or _LEAST_WORDS.search(question):
        return None
    last = _last_tally(evidence)
    rows = list(last.rows) if last is not None else []
    if len(rows) < 2:
        return None

    def named(value: str) -> bool:
        return re.search(rf"(?<!\w){re.escape(value)}(?!\w)", answer, re.IGNORECASE) is not None

    top, n = rows[0]
    if any(named(value) for value, count in rows if count == n):
        return None
    if any(named(value) for value, _ in rows[1:]):
        return top, n
    return None


_NOT_MODIFIERS = frozenset("a an the this that these those of for from with about into by in on at to and or is are was".split())


def other_subject(question: str, answer: str, evidence: Evidence) -> tuple[str, str] | None:
    """("amber locker", "ochre locker") when every output line that holds the answer's
    value names the question's noun with another word before it, and none with the
    question's word: the 1.5B answered "the access code for the amber locker" with the
    ochre locker's code, the only hit of its search."""
    values = [v for v in key_values(answer) if _NUMBER.fullmatch(v) or len(v) >= 4]
    if not values:
        return None
    # the sentences that hold the value, not their whole lines: a hit line of a two-step
    # question went on "... badge number is 36556. The bluebird filing cabinet belongs to ..."
    lines = [sentence for text in evidence.grounded for line in text.replace("[", "").replace("]", "").split("\n")
             for sentence in re.split(r"(?<=[.!?])\s+", line) if any(contains_value(sentence, v) for v in values)]
    if not lines:
        return None
    words = re.findall(r"[\w-]+", question)
    quoted = set(re.findall(r"`(\w+)`", question))
    for word, noun in itertools.pairwise(words):
        # plain words only ("amber locker"): not names or identifiers ("function insort_left",
        # "function `copymode`": its def line is about it, not about another thing)
        if not (word.isalpha() and word.islower() and noun.isalpha() and noun.islower()) or noun in quoted:
            continue
        if word in _NOT_MODIFIERS or noun in _NOT_MODIFIERS or len(noun) <= 3:
            continue
        asked = re.compile(rf"\b{re.escape(word)} {re.escape(noun)}\b", re.IGNORECASE)
        other = re.compile(rf"\b([\w-]+) {re.escape(noun)}\b", re.IGNORECASE)
        shown: list[str] = []
        for line in lines:
            if asked.search(line):
                shown = []
                break
            others = [m.group(1) for m in other.finditer(line) if m.group(1).isalpha() and m.group(1).lower() not in _NOT_MODIFIERS]
            if not others:
                shown = []
                break
            shown.append(others[0])
        if shown:
            return f"{word} {noun}", f"{shown[0]} {noun}"
    return None


_DEFAULT_QUESTION = re.compile(r"\bdefault\b.*?\bparameter\s+`?(\w+)`?|\bparameter\s+`?(\w+)`?.*?\bdefault\b", re.IGNORECASE)


def wrong_default(question: str, answer: str, evidence: Evidence) -> tuple[str, str] | None:
    """(parameter, default) when the question asks a parameter's default, an output shows
    a ``def`` line with ``parameter=default``, and the answer does not give that default:
    the 1.5B read ``def insort_left(a, x, lo=0, hi=None, ...)`` and answered 0 for hi."""
    m = _DEFAULT_QUESTION.search(question)
    if m is None:
        return None
    param = m.group(1) or m.group(2)
    shown: list[str] = []
    for text in evidence.grounded:
        for line in text.splitlines():
            if "def " in line:
                shown += [d.group(1).strip() for d in re.finditer(rf"(?<![\w.]){re.escape(param)}\s*(?::[^=,)]*)?=\s*([^,)]+)", line)]
    if not shown:
        return None
    numbers = {float(_norm_number(n)) for n in _NUMBER.findall(answer)}
    for value in shown:
        if contains_value(answer, value) or (_NUMBER.fullmatch(value) and float(_norm_number(value)) in numbers):
            return None
    return param, shown[-1]


_PARAMS_QUESTION = re.compile(r"\bparameters?\b.*?\bfunction\s+`?(\w+)`?|\bsignature\b.*?`(\w+)`|\bparameters?\b.*?`(\w+)`", re.IGNORECASE)


def _parameters(signature: str) -> list[str]:
    """The parameter names of ``a, b=1, *args, c: int = 2, **kw`` (brackets respected)."""
    names, depth, piece = [], 0, ""
    for ch in signature + ",":
        if ch in "([{":
            depth += 1
        elif ch in ")]}":
            depth -= 1
        if ch == "," and depth == 0:
            m = re.match(r"\s*\*{0,2}\s*(\w+)", piece)
            if m:
                names.append(m.group(1))
            piece = ""
        else:
            piece += ch
    return names


def missing_parameters(question: str, answer: str, evidence: Evidence) -> tuple[str, list[str]] | None:
    """(function, its parameters) when the question asks a function's parameters, an
    output shows its ``def`` line whole, and the answer leaves some out: the 1.5B read
    ``def _glob2(dirname, pattern, dir_fd, dironly, include_hidden=False)`` and answered
    "pattern"."""
    if "default" in question.lower():
        return None
    m = _PARAMS_QUESTION.search(question)
    if m is None:
        return None
    name = next(g for g in m.groups() if g)
    defs: list[tuple[str, str]] = []  # (the line, its parameters)
    for text in evidence.grounded:
        for line in text.splitlines():
            d = re.search(rf"\bdef {re.escape(name)}\((.*)\)\s*(?:->[^:]*)?:", line)
            if d is not None:
                defs.append((line, d.group(1)))
    # grep marks a method "(in TextWrapper)": the function of that name comes first
    functions = [d for d in defs if " (in " not in d[0]] or defs
    if not functions:
        return None
    params = [p for p in _parameters(functions[-1][1]) if p not in ("self", "cls")]
    missing = [p for p in params if not re.search(rf"(?<!\w){re.escape(p)}(?!\w)", answer)]
    return (name, params) if params and missing else None


_ZERO_ANSWER = re.compile(r"^\W*(0|no|none|zero|nobody)\b", re.IGNORECASE)


def zero_from_empty_tally(answer: str, evidence: Evidence) -> bool:
    """True when the answer is a zero and the last output with a ``tally`` says its
    pattern matched no file at all: the 1.5B tallied r'Mei Chen: (\\d+)', a phrasing no
    note uses, and answered "0 notes were filed by Mei Chen" (26 were)."""
    if not _ZERO_ANSWER.search(answer):
        return False
    last = _last_tally(evidence)
    return last is not None and last.matched == 0


def _last_tally(evidence: Evidence) -> ToolFact | None:
    """The node's latest ``tally`` (a cell's tool fact), or None."""
    return next((f for f in reversed(evidence.facts) if f.tool == "tally"), None)


_DISTINCT_QUESTION = re.compile(r"\bhow many (different|distinct|unique|separate)\b", re.IGNORECASE)


def tally_misread(question: str, answer: str, evidence: Evidence) -> tuple[str, int, list[str]] | None:
    """How an answer misread the last ``tally``: ("unmatched", files matched) when its count
    is the number of files the pattern did not match (the 1.5B answered "171 files" for
    the notes Mei Chen filed from "matched in 29 of 200 files ... 171 files have no
    match"); ("distinct", values listed) when a "how many different" answer's count is
    not the number of distinct values (it answered "70", the first row's files, for "how
    many different offices"). The tally's values come third. None when the answer fits
    the tally or there is none."""
    numbers = [_norm_number(v) for v in key_values(answer) if _NUMBER.fullmatch(v)]
    if not numbers or not numbers[0].isdigit():
        return None
    first = int(numbers[0])
    last = _last_tally(evidence)
    if last is None:
        return None
    matched, distinct, rows = last.matched, last.distinct, last.rows
    values = [value for value, _ in rows]
    unmatched = last.searched - last.matched
    if unmatched and first == unmatched and first != matched and first not in {n for _, n in rows}:
        return "unmatched", matched, values
    if _DISTINCT_QUESTION.search(question) and first != distinct:
        return "distinct", distinct, values
    return None


_CALLERS_QUESTION = re.compile(r"\bwhich (?:functions?|methods?)\b.*?\bcalls?\s+`(\w+)`|\bcallers? of\s+`(\w+)`|\bwhat calls\s+`(\w+)`", re.IGNORECASE)
# words an answer about callers uses around the names
_CALLER_WORDS = frozenset(
    """a an and are as at by call called caller callers calls does for from function functions in inside is it
    its method methods module named of on only the these this which with""".split()
)


def wrong_callers(question: str, answer: str, evidence: Evidence) -> tuple[str, list[tuple[str, str]]] | None:
    """(name, [(caller, where), ...]) when a "which functions call `name`" answer leaves out
    a function that the outputs show calling it (grep's "(in f)" on a line with
    ``name(``), or names something else that the outputs show and that is no caller: the
    1.5B answered "filter, fnmatch, translate" for fnmatchcase's callers, reading the
    ``__all__`` line, when only fnmatch calls it; and gave file:lines for has_magic's."""
    m = _CALLERS_QUESTION.search(question)
    if m is None:
        return None
    name = next(g for g in m.groups() if g)
    callers: dict[str, str] = {}
    for fact in evidence.facts:
        for path, number, scope, code in fact.hits:
            where = f"{path}:{number}"
            if scope and re.search(rf"(?<![\w.]){re.escape(name)}\s*\(", code) and not re.search(rf"\bdef\s+{re.escape(name)}\b", code):
                callers.setdefault(scope.rsplit(".", 1)[-1], where)
    if not callers:
        return None
    named = set(re.findall(r"[A-Za-z_]\w*", LOCATION.sub(" ", answer)))
    shown = set(re.findall(r"[A-Za-z_]\w*", "\n".join(evidence.grounded)))
    missing = [c for c in callers if c not in named]
    others = [w for w in named - set(callers) - {name} if w.lower() not in _CALLER_WORDS and w in shown]
    return (name, list(callers.items())) if missing or others else None


_WHICH_THING = re.compile(r"^\W*which (\w+)\b", re.IGNORECASE)
_NOT_NAMED_THINGS = frozenset("file files module modules function functions method methods class classes path paths line lines folder".split())


def unnamed_choice(question: str, answer: str) -> str | None:
    """The thing a "Which branch ...?" question asks for, when the answer names none: only
    numbers, a file location and the question's own words ("The branch that sold the
    most units in March: 2893 (reports/mainz.txt:2)"). The file name may say which one,
    but an answer should. None when the answer names something, or for "which file"."""
    m = _WHICH_THING.search(question)
    if m is None or m.group(1).lower() in _NOT_NAMED_THINGS:
        return None
    asked = {w.lower() for w in re.findall(r"[A-Za-z]+", question)}
    words = re.findall(r"[A-Za-z][A-Za-z'-]*", LOCATION.sub(" ", answer))
    named = [w for w in words if w.lower() not in asked and w.lower() not in _COMMON and len(w) > 2]
    return None if named else m.group(1)

