"""The checks an answer passes before it is accepted. Each refusal names what to do
instead. ``judge`` picks the refusal an answer gets (and counts it on the node); the
engine sends it back. The checks themselves are pure functions of the question, the
answer and what the node saw (``grounding.Evidence``)."""

from __future__ import annotations

import re

from rlm_desktop.rlm import prompts
from rlm_desktop.rlm.cells import first_clause
from rlm_desktop.rlm.grounding import (
    LOCATION,
    Evidence,
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
from rlm_desktop.rlm.node import NodeState
from rlm_desktop.rlm.strategy import needs_fallback

FIRM_REFUSALS = 2  # an answer about something no file has may be refused twice
# strategies whose answer is one fact read from a line (not a count or a total)
LOOKUP_STRATEGIES = frozenset({"lookup", "multi_step"})


def judge(node: NodeState, answer: str, *, from_code: bool, already_refused: bool) -> str | None:
    """None when ``answer`` is accepted; else the nudge to send it back with. Counts the
    answer among the node's attempts and the refusal against the node's allowance:
    a worked example's values and an unshown subject are each refused up to
    ``FIRM_REFUSALS`` times; the other checks (``refusal``) once per attempt
    (``already_refused``: one was sent since the last accepted cell)."""
    node.attempts.append(answer)
    copied = from_examples(answer, node.evidence, node.examples)
    if copied and node.example_refusals < FIRM_REFUSALS:
        # its own count: the seed-1 run spent one subject refusal first, and the
        # example's "4471" went through at its second try
        node.example_refusals += 1
        return prompts.from_example(copied, [cell.output for cell in node.cells], node.question)
    if node.firm_refusals < FIRM_REFUSALS:
        outputs = "\n".join(cell.output for cell in node.cells)
        nudge = subject_refusal(node.question, answer, node.evidence, node.absent, lookup=node.strategy in LOOKUP_STRATEGIES,
                                outputs=outputs, refused_before=node.firm_refusals)
        if nudge is not None:
            node.firm_refusals += 1
            return nudge
    if already_refused:
        return None
    return refusal(node.question, answer, node.evidence, from_code=from_code)


def subject_refusal(question: str, answer: str, evidence: Evidence, absent: set[str], *, lookup: bool,
                    outputs: str, refused_before: int) -> str | None:
    """The nudge for an answer (not "not found") to a question whose subject no file was
    shown to hold: a search said no file contains it (``absent``), or, for a lookup, no
    cell output shows its name (``outputs``). The second time, the nudge asks for "not
    found" outright: the 1.5B insisted once on the guava of another person's line."""
    if needs_fallback(answer, "ok"):
        return None
    grounded = "\n".join(evidence.grounded)
    subject = prompts.absent_subject(question, absent, grounded)
    if subject is not None:
        # "No file contains 'Antananarivo'", then another city's number as the answer
        template = prompts.ABSENT_SUBJECT if refused_before == 0 else prompts.ABSENT_AGAIN
        return template.format(word=subject, searched=prompts.searched_for(grounded, subject))
    unseen = unseen_name(question, outputs) if lookup else None
    if unseen is not None:
        return (prompts.UNSEEN_NAME if refused_before == 0 else prompts.UNSEEN_AGAIN).format(name=unseen)
    return None


def from_examples(answer: str, evidence: Evidence, examples: str) -> list[str]:
    """The answer's key values when every one is in the worked examples and none in what
    the node saw: the 1.5B, told its answer was only a location, answered "10.0
    (net/client.py:41)", the code example's answer."""
    values = key_values(answer)
    grounded = "\n".join(evidence.grounded)
    if not values or any(contains_value(grounded, v) for v in values):
        return []
    return values if all(contains_value(examples, v) for v in values) else []


# the answer to these is a file or a place in one, so a bare location is the answer
_WHERE_QUESTION = re.compile(r"\b(which|what|in which) (file|files|module|modules|path)\b|\bwhere (is|are)\b", re.IGNORECASE)


def refusal(question: str, answer: str, evidence: Evidence, *, from_code: bool) -> str | None:
    """The nudge that sends ``answer`` back once, or None when it passes. ``from_code``:
    the answer was set by code."""
    if not needs_fallback(answer, "ok") and (pair := other_subject(question, answer, evidence)) is not None:
        nudge = prompts.OTHER_SUBJECT.format(asked=pair[0], shown=pair[1])
    elif re.search(r"<(the )?(answer|value|file)\b", answer):
        nudge = prompts.PLACEHOLDER  # the 0.5B copied a nudge's template literally
    elif (calls := wrong_callers(question, answer, evidence)) is not None:
        name, callers = calls
        listed = ", ".join(f"{caller} ({where})" for caller, where in callers)
        first = ", ".join(caller for caller, _ in callers)
        nudge = prompts.WRONG_CALLERS.format(name=name, callers=listed, first=first, where=callers[0][1])
    elif only_a_location(answer) and not _WHERE_QUESTION.search(question):
        nudge = prompts.ONLY_LOCATION
    elif not needs_fallback(answer, "ok") and (thing := unnamed_choice(question, answer)) is not None:
        nudge = prompts.UNNAMED_CHOICE.format(thing=thing)
    elif (top := not_the_top(question, answer, evidence)) is not None:
        nudge = prompts.NOT_THE_TOP.format(value=top[0], n=top[1])
    elif zero_from_empty_tally(answer, evidence):
        nudge = prompts.ZERO_FROM_EMPTY
    elif (misread := tally_misread(question, answer, evidence)) is not None:
        kind, n, values = misread
        if kind == "unmatched":
            nudge = prompts.TALLY_UNMATCHED.format(matched=n)
        else:
            nudge = prompts.TALLY_DISTINCT.format(distinct=n, values=", ".join(values))
    elif (params := missing_parameters(question, answer, evidence)) is not None:
        nudge = prompts.MISSING_PARAMETERS.format(name=params[0], params=", ".join(params[1]))
    elif (default := wrong_default(question, answer, evidence)) is not None:
        nudge = prompts.WRONG_DEFAULT.format(param=default[0], value=default[1])
    elif (wrong := wrong_reduction(question, answer, evidence)) is not None:
        kind, printed = wrong
        if kind == "total":
            nudge = prompts.WRONG_TOTAL.format(printed=f" The total printed was {printed}." if printed else " rows.total() adds them.")
        else:
            nudge = prompts.WRONG_EXTREME.format(printed=f" The value printed was {printed}." if printed else " Use rows.max() or rows.min().")
    else:
        missing = ungrounded_values(answer, evidence, from_code=from_code)
        if not missing:
            return None
        shown = [v for v in key_values(answer) if v not in missing]
        if shown:
            nudge = prompts.UNGROUNDED_PART.format(values=", ".join(repr(v) for v in missing[:3]), shown=shown[0])
        else:
            nudge = prompts.UNGROUNDED.format(values=", ".join(repr(v) for v in missing[:3]))
    return nudge


_COMMON_CAPITALS = frozenset("what which who whom whose where when how why is are was were does did do in on at the a an of for from".split())
# the call a listing starts with, "search('Obsidian leader room'): ...": it echoes the
# question's words whether or not any hit holds them
_CALL_ECHO = re.compile(r"^\s*\w+\((?:[rbf]?(['\"]).*?\1)?[^\n]*?\):", re.MULTILINE)
_NAME_RUN = re.compile(r"\b[A-Z][\w-]+(?:\s+[A-Z][\w-]+)*")


def unseen_name(question: str, outputs: str) -> str | None:
    """A capitalized name of the question ("Obsidian", "Morning Tide": the whole run of
    capitalized words, not the question's first word) that no cell output has shown,
    the calls' echoes of their own arguments and search's [marks] aside: the 1.5B searched
    'Obsidian leader room', got room lines only, and answered with the room of a person no
    line tied to Obsidian; it gave "the ship Morning Tide" the port of another ship."""
    shown = " ".join(_CALL_ECHO.sub(" ", outputs).replace("[", "").replace("]", "").lower().split())
    for m in _NAME_RUN.finditer(question):
        words = m.group().split()
        while words and words[0].lower() in _COMMON_CAPITALS:
            words = words[1:]
        if not words or (m.start() == 0 and len(words) == len(m.group().split())):
            continue  # the question's first word is capitalized anyway
        name = " ".join(words)
        if len(name) >= 3 and name.lower() not in shown:
            return name
    return None


def shown_first_clause(answer: str, evidence: Evidence) -> str | None:
    """The answer's first clause when the answer names values no output showed and that
    clause names only shown ones, else None: the 1.5B insisted on a right total followed
    by an invented "1000" for every file."""
    if not ungrounded_values(answer, evidence, from_code=False):
        return None
    first = first_clause(answer)
    if first != answer and key_values(first) and not ungrounded_values(first, evidence, from_code=False):
        return first
    return None


def parrots_instruction(answer: str) -> bool:
    """True when a forced answer only repeats our own "answer now" instruction."""
    lowered = answer.lower()
    return "budget is used up" in lowered or lowered.startswith("no more turns")


def only_a_location(answer: str) -> bool:
    """True when an answer is nothing but file:line citations (the small root model
    sometimes answers with where the value is instead of the value)."""
    if not LOCATION.search(answer):
        return False
    rest = LOCATION.sub("", answer)
    return not re.search(r"\w", rest)
