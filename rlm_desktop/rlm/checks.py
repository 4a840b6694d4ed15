"""Whether an answer is accepted: ``judge`` asks the named rules of ``rules.py`` and
counts the refusal an answer gets on the node; the engine sends it back. Plus the
checks the loop makes of an answer it has already accepted or forced."""

from __future__ import annotations

import re
from typing import NamedTuple

from rlm_desktop.rlm.grounding import Evidence, key_values, ungrounded_values
from rlm_desktop.rlm.node import NodeState
from rlm_desktop.rlm.rules import FIRM_REFUSALS, RULES, Attempt, Rule

# strategies whose answer is one fact read from a line (not a count or a total)
LOOKUP_STRATEGIES = frozenset({"lookup", "multi_step"})
_COUNTS = {"examples": "example_refusals", "subject": "firm_refusals"}


class Refusal(NamedTuple):
    """An answer sent back: the rule that fired (its name, as ``--ablate`` takes it) and
    the nudge the model is sent."""

    rule: str
    nudge: str


def judge(node: NodeState, answer: str, *, from_code: bool, already_refused: bool,
          off: frozenset[str] = frozenset()) -> Refusal | None:
    """None when ``answer`` is accepted; else the refusal of the first rule (``rules.RULES``,
    those named in ``off`` aside) that fires. Counts the answer among the node's attempts
    and the refusal against its rule's allowance: an ``examples`` or ``subject`` rule up
    to ``FIRM_REFUSALS`` times in the node, each kind on its own count; a ``once`` rule
    only when no refusal was sent since the last accepted cell (``already_refused``)."""
    node.attempts.append(answer)
    attempt = _attempt(node, answer, from_code)
    for rule in RULES:
        if rule.name in off or not _allowed(rule, node, already_refused):
            continue
        nudge = rule.check(attempt)
        if nudge is not None:
            if rule.allowance in _COUNTS:
                setattr(node, _COUNTS[rule.allowance], getattr(node, _COUNTS[rule.allowance]) + 1)
            return Refusal(rule.name, nudge)
    return None


def passes_every_rule(node: NodeState, answer: str, off: frozenset[str] = frozenset()) -> bool:
    """True when no rule (those in ``off`` aside) would send ``answer`` back; nothing is
    counted on the node: for an answer the engine proposes, which is dropped if refused."""
    attempt = _attempt(node, answer, False)
    return all(rule.check(attempt) is None for rule in RULES if rule.name not in off)


def _attempt(node: NodeState, answer: str, from_code: bool) -> Attempt:
    """What the rules see of ``answer`` given at ``node``."""
    return Attempt(
        question=node.question, answer=answer, evidence=node.evidence, from_code=from_code,
        lookup=node.strategy in LOOKUP_STRATEGIES, absent=frozenset(node.absent),
        outputs=tuple(cell.output for cell in node.cells), examples=node.examples, refused_before=node.firm_refusals,
        wanted=node.wanted,
    )


def _allowed(rule: Rule, node: NodeState, already_refused: bool) -> bool:
    if rule.allowance in _COUNTS:
        return getattr(node, _COUNTS[rule.allowance]) < FIRM_REFUSALS
    return not already_refused


def shown_clauses(answer: str, evidence: Evidence) -> str | None:
    """The answer without its clauses that name values no output showed, when some
    clause names only shown values, else None. Every supported clause stays, so a summary
    keeps its facts and loses only the invented ones (a cut to the first clause lost
    them); the 1.5B insisted on a right total followed by an invented "1000" for every
    file."""
    if not ungrounded_values(answer, evidence, from_code=False):
        return None
    parts = _CLAUSE.split(answer)
    shown_parts = [not ungrounded_values(part, evidence, from_code=False) for part in parts]
    if not shown_parts[0]:
        return None  # the answer itself is unshown: what follows it is no answer in its place
    kept = [part for part, shown in zip(parts, shown_parts, strict=True) if shown]
    shown = _balanced(", ".join(part.strip() for part in kept if part.strip()))
    if shown and shown != answer and key_values(shown) and not ungrounded_values(shown, evidence, from_code=False):
        return shown
    return None


_CLAUSE = re.compile(r",\s+|;\s+|\n+|(?<=[.!?])\s+(?=[A-Z])")


def _balanced(text: str) -> str:
    """``text`` with a closing bracket that opens nowhere dropped and open ones closed."""
    out, depth = [], 0
    for char in text:
        if char == ")":
            if depth == 0:
                continue
            depth -= 1
        elif char == "(":
            depth += 1
        out.append(char)
    text = "".join(out).rstrip(" ,;(")
    return text + ")" * (text.count("(") - text.count(")"))


def parrots_instruction(answer: str) -> bool:
    """True when a forced answer only repeats our own "answer now" instruction."""
    lowered = answer.lower()
    return "budget is used up" in lowered or lowered.startswith("no more turns")
