"""The answer rules: each a named unit that may send an answer back once with a nudge
saying what to do instead. The loop asks ``judge`` (``checks.py``); ``judge`` asks the
rules here, in order, and the first that fires wins. A rule is switched off by its name
(``Settings.ablate``, ``bench dev --ablate NAME``), so the ablation table can say what
each is worth.

Each rule states the general failure it guards against and carries two examples, one it
fires on and one it lets pass; ``tests/rlm/test_rules.py`` runs every rule on its own
examples, so a rule and its test stay side by side. ``keyed_to_question`` marks the
rules that read the question's words (which/most/total/default/callers): those are the
special cases a general mechanism (typed extraction, claim checks) is to retire.

Allowances: an ``examples`` rule and a ``subject`` rule may refuse up to
``FIRM_REFUSALS`` times in a node, each against its own count; the other (``once``)
rules refuse at most once per answer attempt."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import ClassVar

from rlm_desktop.library.query import STOP_WORDS
from rlm_desktop.rlm import prompts
from rlm_desktop.rlm.grounding import (
    LOCATION,
    Evidence,
    capitalized_runs,
    contains_value,
    key_values,
    missing_parameters,
    not_the_top,
    other_subject,
    tally_misread,
    ungrounded_values,
    unnamed_choice,
    wrong_callers,
    wrong_default,
    wrong_reduction,
    zero_from_empty_tally,
)
from rlm_desktop.rlm.strategy import needs_fallback
from rlm_desktop.rlm.tools.facts import ToolFact, figure_fact, grep_fact, tally_fact

FIRM_REFUSALS = 2


@dataclass(frozen=True)
class Attempt:
    """What a rule sees of one answer attempt."""

    question: str
    answer: str
    evidence: Evidence = field(default_factory=Evidence)
    from_code: bool = False  # the answer was set by code (FINAL_VAR, a computed value)
    lookup: bool = False  # the question's strategy reads one fact from a line
    absent: frozenset[str] = frozenset()  # words a search said no file contains
    outputs: tuple[str, ...] = ()  # the node's cell outputs, in order
    examples: str = ""  # the worked examples the node's prompt showed
    refused_before: int = 0  # subject refusals already sent in this node
    wanted: str = ""  # the kind of answer the plan asked for (plan.ANSWERS; "" without a plan)

    @property
    def is_an_answer(self) -> bool:
        """Not "not found" or another non-answer."""
        return not needs_fallback(self.answer, "ok")


class Rule:
    name: ClassVar[str]
    allowance: ClassVar[str] = "once"  # "examples" | "subject" | "once"
    keyed_to_question: ClassVar[bool] = False
    # the rule must fire on the first and let the second pass (tests/rlm/test_rules.py)
    fires_on: ClassVar[Attempt]
    passes: ClassVar[Attempt]

    def check(self, attempt: Attempt) -> str | None:
        """The nudge that sends the answer back, or None when it passes."""
        raise NotImplementedError


def _seen(*lines: str, facts: tuple[ToolFact, ...] = ()) -> Evidence:
    return Evidence(grounded=list(lines), facts=list(facts))


_CALLS = grep_fact([("lib/fnmatch.py", 20, "fnmatch", "return fnmatchcase(name, pat)")], 1)
_TALLY = tally_fact([("Ada Quill", 32), ("Bo Frey", 26)], searched=58, unmatched=0)


class FromExamples(Rule):
    """Every value of the answer is in the worked examples of the prompt and none in what
    the node saw: a small model that cannot find the fact copies the example's answer."""

    name = "from_examples"
    allowance = "examples"
    fires_on = Attempt("What is the timeout?", "10.0 (net/client.py:41)", _seen("search('timeout'): no match"),
                       examples="FINAL('10.0 (net/client.py:41)')")
    passes = Attempt("What is the timeout?", "30 (conf/app.ini:4)", _seen("conf/app.ini:4: timeout = 30"),
                     examples="FINAL('10.0 (net/client.py:41)')")

    def check(self, attempt: Attempt) -> str | None:
        values = key_values(attempt.answer)
        grounded = "\n".join(attempt.evidence.grounded)
        if not values or any(contains_value(grounded, v) for v in values):
            return None
        if not all(contains_value(attempt.examples, v) for v in values):
            return None
        return prompts.from_example(values, list(attempt.outputs), attempt.question)


class AbsentSubject(Rule):
    """An answer about a word that a search said no file contains: the value came from
    lines about something else. The second refusal asks for "not found" outright."""

    name = "absent_subject"
    allowance = "subject"
    fires_on = Attempt("What is the population of Zorbania?", "120,000", _seen("notes/a.txt:3: population 120,000"),
                       absent=frozenset({"Zorbania"}))
    passes = Attempt("What is the population of Zorbania?", "not found", _seen("notes/a.txt:3: population 120,000"),
                     absent=frozenset({"Zorbania"}))

    def check(self, attempt: Attempt) -> str | None:
        if not attempt.is_an_answer:
            return None
        grounded = "\n".join(attempt.evidence.grounded)
        subject = prompts.absent_subject(attempt.question, set(attempt.absent), grounded)
        if subject is None:
            return None
        template = prompts.ABSENT_SUBJECT if attempt.refused_before == 0 else prompts.ABSENT_AGAIN
        return template.format(word=subject, searched=prompts.searched_for(grounded, subject))


# the call a listing starts with, "search('Obsidian leader room'): ...": it echoes the
# question's words whether or not any hit holds them
_CALL_ECHO = re.compile(r"^\s*\w+\((?:[rbf]?(['\"]).*?\1)?[^\n]*?\):", re.MULTILINE)


def unseen_name(question: str, outputs: str) -> str | None:
    """A capitalized name of the question (the whole run of capitalized words, not the
    question's first word) that no cell output has shown, the calls' echoes of their own
    arguments and search's [marks] aside."""
    shown = " ".join(_CALL_ECHO.sub(" ", outputs).replace("[", "").replace("]", "").lower().split())
    for start, size, words in capitalized_runs(question):
        if not words or (start == 0 and len(words) == size):
            continue  # the question's first word is capitalized anyway
        name = " ".join(words)
        if len(name) >= 3 and name.lower() not in shown:
            return name
    return None


class UnseenName(Rule):
    """A lookup answered while no output has shown the name the question is about: the
    answer is another subject's value from the same kind of line."""

    name = "unseen_name"
    allowance = "subject"
    fires_on = Attempt("Which port does Quoll Relay use?", "port 4", lookup=True,
                       outputs=("search('Quoll Relay port'):\nnotes/a.txt:2: the Wombat Relay uses port 4",))
    passes = Attempt("Which port does Quoll Relay use?", "port 7", lookup=True,
                     outputs=("search('Quoll Relay port'):\nnotes/a.txt:5: Quoll Relay uses port 7",))

    def check(self, attempt: Attempt) -> str | None:
        if not (attempt.lookup and attempt.is_an_answer):
            return None
        unseen = unseen_name(attempt.question, "\n".join(attempt.outputs))
        if unseen is None:
            return None
        return (prompts.UNSEEN_NAME if attempt.refused_before == 0 else prompts.UNSEEN_AGAIN).format(name=unseen)


class OtherSubject(Rule):
    """Every output line holding the answer's value names the question's noun with
    another word before it ("wombat gateway" for "quoll gateway"): the value belongs to a
    neighbour of the thing asked about."""

    name = "other_subject"
    fires_on = Attempt("What is the port of the quoll gateway?", "4471",
                       _seen("notes/a.txt:3: The wombat gateway port is 4471."))
    passes = Attempt("What is the port of the quoll gateway?", "4471",
                     _seen("notes/a.txt:3: The quoll gateway port is 4471."))

    def check(self, attempt: Attempt) -> str | None:
        if not attempt.is_an_answer:
            return None
        pair = other_subject(attempt.question, attempt.answer, attempt.evidence)
        return None if pair is None else prompts.OTHER_SUBJECT.format(asked=pair[0], shown=pair[1])


class Placeholder(Rule):
    """The answer is a template's placeholder ("<the value>"), copied from a nudge."""

    name = "placeholder"
    fires_on = Attempt("What is the limit?", "<the value> (<file>:<line>)")
    passes = Attempt("What is the limit?", "64 (conf/a.ini:2)", _seen("conf/a.ini:2: limit = 64"))

    def check(self, attempt: Attempt) -> str | None:
        return prompts.PLACEHOLDER if re.search(r"<(the )?(answer|value|file)\b", attempt.answer) else None


_PAGE = re.compile(r"#page=\d+(?::\d+)?")
_WORDS = re.compile(r"[^\W_]+(?:[-_.][^\W_]+)*")
_CHOICE = re.compile(r"\b(or|either|whether)\b|\b(yes|no)\b", re.IGNORECASE)


def adds_nothing(question: str, answer: str) -> bool:
    """True when the answer, its citations aside, has no word or number the question
    lacks: it restates what was asked. A question that offers its own choices ("A or
    B?") is answered from its words, so it never counts."""
    if _CHOICE.search(question):
        return False
    rest = LOCATION.sub(" ", _PAGE.sub(" ", answer))
    asked = {w.lower()[:5] for w in _WORDS.findall(question)}
    said = [w.lower() for w in _WORDS.findall(rest) if w.lower() not in STOP_WORDS]
    return bool(said) and all(w[:5] in asked for w in said)


class EchoesQuestion(Rule):
    """The answer only restates the question's words with a citation: the small model
    took the line that matched the question best for the answer, not the value that line
    or the next one states."""

    name = "echoes_question"
    fires_on = Attempt("Which command-line option allows shell commands?", "shell commands (man/asy.pdf#page=174:46)")
    passes = Attempt("Which command-line option allows shell commands?", "-nosafe (man/asy.pdf#page=174)")

    def check(self, attempt: Attempt) -> str | None:
        if not attempt.is_an_answer or not adds_nothing(attempt.question, attempt.answer):
            return None
        return prompts.ECHOES_QUESTION


class WrongCallers(Rule):
    """A "which functions call f" answer that leaves out a caller grep showed, or names
    something grep showed that calls nothing."""

    name = "wrong_callers"
    keyed_to_question = True
    fires_on = Attempt("Which functions call `fnmatchcase`?", "filter", _seen("filter, fnmatch", facts=(_CALLS,)))
    passes = Attempt("Which functions call `fnmatchcase`?", "fnmatch", _seen("filter, fnmatch", facts=(_CALLS,)))

    def check(self, attempt: Attempt) -> str | None:
        calls = wrong_callers(attempt.question, attempt.answer, attempt.evidence)
        if calls is None:
            return None
        name, callers = calls
        listed = ", ".join(f"{caller} ({where})" for caller, where in callers)
        first = ", ".join(caller for caller, _ in callers)
        return prompts.WRONG_CALLERS.format(name=name, callers=listed, first=first, where=callers[0][1])


# the answer kinds of the plan for which a file or a place in one is the answer
NAMES_A_PLACE = frozenset({"file or place", "list"})
# without a plan (the rules router): the questions whose answer is a file or a place in one
_WHERE_QUESTION = re.compile(r"\b(which|what|in which) (file|files|module|modules|path)\b|\bwhere (is|are)\b", re.IGNORECASE)


def only_a_location(answer: str) -> bool:
    """True when an answer is nothing but file:line citations."""
    if not LOCATION.search(answer):
        return False
    rest = LOCATION.sub("", answer)
    return not re.search(r"\w", rest)


class OnlyLocation(Rule):
    """The answer is where the value stands (a file:line) instead of the value."""

    name = "only_location"
    fires_on = Attempt("What file extension does the temporary file get?", "src/edit.py:40", wanted="value")
    passes = Attempt("Which file sets the limit?", "conf/a.ini:2", wanted="file or place")

    def check(self, attempt: Attempt) -> str | None:
        if not only_a_location(attempt.answer):
            return None
        # the plan says what kind of answer is wanted; without one, the question's words
        places = attempt.wanted in NAMES_A_PLACE if attempt.wanted else bool(_WHERE_QUESTION.search(attempt.question))
        return None if places else prompts.ONLY_LOCATION


class UnnamedChoice(Rule):
    """A "which X" question answered with numbers, a location and the question's own
    words, but no X by name."""

    name = "unnamed_choice"
    keyed_to_question = True
    fires_on = Attempt("Which shop had the most visits?", "The shop with the most visits: 2893 (data/x.txt:2)")
    passes = Attempt("Which shop had the most visits?", "Kiosk Nine, 2893 visits (data/x.txt:2)")

    def check(self, attempt: Attempt) -> str | None:
        if not attempt.is_an_answer:
            return None
        thing = unnamed_choice(attempt.question, attempt.answer)
        return None if thing is None else prompts.UNNAMED_CHOICE.format(thing=thing)


class NotTheTop(Rule):
    """A "which ... the most" answer that names a lower row of the tally it read."""

    name = "not_the_top"
    keyed_to_question = True
    fires_on = Attempt("Who filed the most notes?", "Bo Frey", _seen(facts=(_TALLY,)))
    passes = Attempt("Who filed the most notes?", "Ada Quill", _seen(facts=(_TALLY,)))

    def check(self, attempt: Attempt) -> str | None:
        top = not_the_top(attempt.question, attempt.answer, attempt.evidence)
        return None if top is None else prompts.NOT_THE_TOP.format(value=top[0], n=top[1])


class ZeroFromEmptyTally(Rule):
    """A count of zero read off a tally whose pattern matched no file at all: the pattern
    was wrong, not the count."""

    name = "zero_from_empty"
    fires_on = Attempt("How many notes did Ada Quill file?", "0", _seen(facts=(tally_fact([], searched=200, unmatched=200),)))
    passes = Attempt("How many notes did Ada Quill file?", "0",
                     _seen(facts=(tally_fact([("Bo Frey", 150), ("Cy Lund", 50)], searched=200, unmatched=0),)))

    def check(self, attempt: Attempt) -> str | None:
        return prompts.ZERO_FROM_EMPTY if zero_from_empty_tally(attempt.answer, attempt.evidence) else None


class TallyMisread(Rule):
    """A count taken from the wrong figure of a tally: the files it did not match, or a
    row's files for a "how many different" question."""

    name = "tally_misread"
    fires_on = Attempt("How many notes mention Ada Quill?", "171 files",
                       _seen(facts=(tally_fact([("Ada Quill", 29)], searched=200, unmatched=171),)))
    passes = Attempt("How many notes mention Ada Quill?", "29 files",
                     _seen(facts=(tally_fact([("Ada Quill", 29)], searched=200, unmatched=171),)))

    def check(self, attempt: Attempt) -> str | None:
        misread = tally_misread(attempt.question, attempt.answer, attempt.evidence)
        if misread is None:
            return None
        kind, n, values = misread
        if kind == "unmatched":
            return prompts.TALLY_UNMATCHED.format(matched=n)
        return prompts.TALLY_DISTINCT.format(distinct=n, values=", ".join(values))


class MissingParameters(Rule):
    """A function's parameters listed with some left out of the def line shown."""

    name = "missing_parameters"
    keyed_to_question = True
    fires_on = Attempt("What parameters does the function `_glob2` take?", "pattern",
                       _seen("lib/glob.py:9: def _glob2(dirname, pattern, dir_fd, dironly, include_hidden=False):"))
    passes = Attempt("What parameters does the function `_glob2` take?", "dirname, pattern, dir_fd, dironly, include_hidden",
                     _seen("lib/glob.py:9: def _glob2(dirname, pattern, dir_fd, dironly, include_hidden=False):"))

    def check(self, attempt: Attempt) -> str | None:
        params = missing_parameters(attempt.question, attempt.answer, attempt.evidence)
        return None if params is None else prompts.MISSING_PARAMETERS.format(name=params[0], params=", ".join(params[1]))


class WrongDefault(Rule):
    """A parameter's default answered with another value than its def line shows."""

    name = "wrong_default"
    keyed_to_question = True
    fires_on = Attempt("What is the default of the parameter `hi`?", "0",
                       _seen("lib/bisect.py:3: def insort_left(a, x, lo=0, hi=None, *, key=None):"))
    passes = Attempt("What is the default of the parameter `hi`?", "None",
                     _seen("lib/bisect.py:3: def insort_left(a, x, lo=0, hi=None, *, key=None):"))

    def check(self, attempt: Attempt) -> str | None:
        default = wrong_default(attempt.question, attempt.answer, attempt.evidence)
        return None if default is None else prompts.WRONG_DEFAULT.format(param=default[0], value=default[1])


class WrongReduction(Rule):
    """A total answered with the largest value, or a largest with the total (or a count
    of files above a bound)."""

    name = "wrong_reduction"
    keyed_to_question = True
    fires_on = Attempt("What is the total of all amounts?", "1200",
                       _seen("6100", "1200", facts=(figure_fact("total", "6100", 12), figure_fact("max", "1200", 1))))
    passes = Attempt("What is the total of all amounts?", "6100",
                     _seen("6100", "1200", facts=(figure_fact("total", "6100", 12), figure_fact("max", "1200", 1))))

    def check(self, attempt: Attempt) -> str | None:
        wrong = wrong_reduction(attempt.question, attempt.answer, attempt.evidence)
        if wrong is None:
            return None
        kind, printed = wrong
        if kind == "total":
            return prompts.WRONG_TOTAL.format(printed=f" The total printed was {printed}." if printed else " rows.total() adds them.")
        return prompts.WRONG_EXTREME.format(printed=f" The value printed was {printed}." if printed else " Use rows.max() or rows.min().")


class Ungrounded(Rule):
    """The answer states values that nothing the node saw supports (a value set by code
    passes: it was computed)."""

    name = "ungrounded"
    fires_on = Attempt("What is the limit?", "128 (conf/a.ini:2)", _seen("conf/a.ini:2: limit = 64"))
    passes = Attempt("What is the limit?", "64 (conf/a.ini:2)", _seen("conf/a.ini:2: limit = 64"))

    def check(self, attempt: Attempt) -> str | None:
        missing = ungrounded_values(attempt.answer, attempt.evidence, from_code=attempt.from_code)
        if not missing:
            return None
        shown = [v for v in key_values(attempt.answer) if v not in missing]
        if shown:
            return prompts.UNGROUNDED_PART.format(values=", ".join(repr(v) for v in missing[:3]), shown=shown[0])
        return prompts.UNGROUNDED.format(values=", ".join(repr(v) for v in missing[:3]))


# in the order they are asked; the first that fires wins
RULES: tuple[Rule, ...] = (
    FromExamples(),
    AbsentSubject(),
    UnseenName(),
    OtherSubject(),
    Placeholder(),
    EchoesQuestion(),
    WrongCallers(),
    OnlyLocation(),
    UnnamedChoice(),
    NotTheTop(),
    ZeroFromEmptyTally(),
    TallyMisread(),
    MissingParameters(),
    WrongDefault(),
    WrongReduction(),
    Ungrounded(),
)
RULE_NAMES = frozenset(rule.name for rule in RULES)
