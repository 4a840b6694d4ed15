"""Whether an answer is accepted: ``judge`` asks the named rules of ``rules.py`` and
counts the refusal an answer gets on the node; the engine sends it back. Plus the
checks the loop makes of an answer it has already accepted or forced."""

from __future__ import annotations

from rlm_desktop.rlm.cells import first_clause
from rlm_desktop.rlm.grounding import Evidence, key_values, ungrounded_values
from rlm_desktop.rlm.node import NodeState
from rlm_desktop.rlm.rules import FIRM_REFUSALS, RULES, Attempt, Rule

# strategies whose answer is one fact read from a line (not a count or a total)
LOOKUP_STRATEGIES = frozenset({"lookup", "multi_step"})
_COUNTS = {"examples": "example_refusals", "subject": "firm_refusals"}


def judge(node: NodeState, answer: str, *, from_code: bool, already_refused: bool,
          off: frozenset[str] = frozenset()) -> str | None:
    """None when ``answer`` is accepted; else the nudge of the first rule (``rules.RULES``,
    those named in ``off`` aside) that fires. Counts the answer among the node's attempts
    and the refusal against its rule's allowance: an ``examples`` or ``subject`` rule up
    to ``FIRM_REFUSALS`` times in the node, each kind on its own count; a ``once`` rule
    only when no refusal was sent since the last accepted cell (``already_refused``)."""
    node.attempts.append(answer)
    attempt = Attempt(
        question=node.question, answer=answer, evidence=node.evidence, from_code=from_code,
        lookup=node.strategy in LOOKUP_STRATEGIES, absent=frozenset(node.absent),
        outputs=tuple(cell.output for cell in node.cells), examples=node.examples, refused_before=node.firm_refusals,
    )
    for rule in RULES:
        if rule.name in off or not _allowed(rule, node, already_refused):
            continue
        nudge = rule.check(attempt)
        if nudge is not None:
            if rule.allowance in _COUNTS:
                setattr(node, _COUNTS[rule.allowance], getattr(node, _COUNTS[rule.allowance]) + 1)
            return nudge
    return None


def passes_every_rule(node: NodeState, answer: str, off: frozenset[str] = frozenset()) -> bool:
    """True when no rule (those in ``off`` aside) would send ``answer`` back; nothing is
    counted on the node: for an answer the engine proposes, which is dropped if refused."""
    attempt = Attempt(
        question=node.question, answer=answer, evidence=node.evidence, from_code=False,
        lookup=node.strategy in LOOKUP_STRATEGIES, absent=frozenset(node.absent),
        outputs=tuple(cell.output for cell in node.cells), examples=node.examples, refused_before=node.firm_refusals,
    )
    return all(rule.check(attempt) is None for rule in RULES if rule.name not in off)


def _allowed(rule: Rule, node: NodeState, already_refused: bool) -> bool:
    if rule.allowance in _COUNTS:
        return getattr(node, _COUNTS[rule.allowance]) < FIRM_REFUSALS
    return not already_refused


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
