"""Every answer rule on its own two examples (it fires on one and lets the other pass), the
registry's order and allowances as ``judge`` applies them, and a rule switched off by name."""

from __future__ import annotations

import pytest

from rlm_desktop.rlm.checks import judge
from rlm_desktop.rlm.engine import ABLATABLE
from rlm_desktop.rlm.grounding import Evidence
from rlm_desktop.rlm.node import NodeState
from rlm_desktop.rlm.rules import FIRM_REFUSALS, RULE_NAMES, RULES, Rule


@pytest.mark.parametrize("rule", RULES, ids=lambda r: r.name)
def test_each_rule_fires_on_its_example_and_lets_the_other_pass(rule: Rule) -> None:
    nudge = rule.check(rule.fires_on)
    assert nudge and len(nudge) > 20, f"{rule.name} did not fire on its own example"
    assert rule.check(rule.passes) is None, f"{rule.name} refused the answer it should let pass"


def test_every_rule_is_named_once_documented_and_switchable() -> None:
    names = [rule.name for rule in RULES]
    assert len(names) == len(set(names))
    for rule in RULES:
        assert rule.__doc__ and len(rule.__doc__.split()) >= 8, f"{rule.name} says nothing of the failure it guards"
        assert rule.allowance in ("examples", "subject", "once")
    assert RULE_NAMES <= ABLATABLE


def _node(question: str, evidence: Evidence, **kw) -> NodeState:
    node = NodeState("n", 0, None, (), None, question=question)
    node.evidence = evidence
    for key, value in kw.items():
        setattr(node, key, value)
    return node


def test_judge_sends_back_an_ungrounded_value_once_per_attempt() -> None:
    evidence = Evidence(grounded=["conf/a.ini:2: limit = 64"])
    node = _node("What is the limit?", evidence)
    refusal = judge(node, "128", from_code=False, already_refused=False)
    assert refusal is not None and refusal.rule == "ungrounded" and "128" in refusal.nudge
    assert judge(node, "128", from_code=False, already_refused=True) is None  # once: the second try goes through
    assert node.attempts == ["128", "128"]


def test_a_subject_refusal_is_firm_up_to_its_allowance() -> None:
    evidence = Evidence(grounded=["search('Zorbania'): No file contains 'Zorbania'.", "notes/a.txt:3: population 120,000"])
    node = _node("What is the population of Zorbania?", evidence, absent={"Zorbania"})
    nudges = [judge(node, "120,000", from_code=False, already_refused=True) for _ in range(FIRM_REFUSALS + 1)]
    assert all(nudges[:FIRM_REFUSALS]) and nudges[FIRM_REFUSALS] is None
    assert nudges[0] != nudges[1]  # the second time it asks for "not found" outright


def test_a_rule_switched_off_by_name_lets_the_answer_through() -> None:
    evidence = Evidence(grounded=["conf/a.ini:2: limit = 64"])
    assert judge(_node("What is the limit?", evidence), "128", from_code=False, already_refused=False, off=frozenset({"ungrounded"})) is None


def test_the_engine_doc_lists_every_rule() -> None:
    from pathlib import Path

    doc = (Path(__file__).parents[2] / "docs" / "engine.md").read_text(encoding="utf-8")
    assert [rule.name for rule in RULES if f"| `{rule.name}` |" not in doc] == []


def test_a_line_number_the_tools_printed_is_no_evidence_for_a_value() -> None:
    from rlm_desktop.rlm.grounding import Evidence, ungrounded_values, without_positions

    seen = Evidence(grounded=["--- contracts/lease.txt lines 1-5\n3| Termination\n4| Either party may end it with ninety days' notice.\n"
                              "contracts/lease.txt:4: Either party may end it", "[page 6]\nClause 2"])
    assert ungrounded_values("4 (contracts/lease.txt:4)", seen, from_code=False) == ["4"]
    assert ungrounded_values("6 (contracts/lease.pdf#page=6)", seen, from_code=False) == ["6"]
    assert ungrounded_values("2", seen, from_code=False) == []  # "Clause 2" is the text's own
    fee = Evidence(grounded=["4| The fee is 4 dollars."])
    assert ungrounded_values("4 dollars (a.txt:4)", fee, from_code=False) == []
    assert without_positions("  12| x = 1\nsrc/a.py:40 (in f): return 2\n--- a.txt lines 8-16\nplain") == "x = 1\nreturn 2\n\nplain"


def test_an_answer_in_words_is_checked_word_by_word_against_its_passage() -> None:
    from rlm_desktop.rlm.grounding import unsupported_words

    passage = "4| Notice must be given three months ahead, in writing.\n5| Rent is paid monthly."
    assert unsupported_words("three months (lease.txt:4)", passage, "How much notice?") == []
    assert unsupported_words("six months (lease.txt:4)", passage, "How much notice?") == ["six"]
    # the question's own words and the citation are not claims
    assert unsupported_words("the tenant gives three months", passage, "What must the tenant give?") == []


def test_a_claim_is_checked_by_its_values_when_it_has_some_else_by_its_words() -> None:
    from rlm_desktop.rlm.grounding import unsupported_claim

    passage = ("536|     #: The formatter class to create with :meth:`make_formatter`.\n"
               "537|     formatter_class: type[HelpFormatter] = HelpFormatter\n"
               "12| Notice must be given three months ahead.")
    question = "Which class does a Click Context use to build help output?"
    assert unsupported_claim("Click Context uses HelpFormatter unless overridden (core.py:536)", passage, question) == []
    assert unsupported_claim("Click Context uses TextWrapper (core.py:536)", passage, question) == ["TextWrapper"]
    assert unsupported_claim("six months", passage, "How much notice?") == ["six"]
    assert unsupported_claim("536 (core.py:536)", passage, "What line?") == ["536"]  # a line number is no value


def test_a_bare_location_is_an_answer_when_the_plan_wants_a_name_or_without_a_plan_a_where_question() -> None:
    from rlm_desktop.rlm.rules import Attempt, OnlyLocation

    rule = OnlyLocation()
    # the plan's answer kind decides: "what file extension" wants a value, not a place
    assert rule.check(Attempt("What file extension does the temporary file get?", "src/edit.py:40", wanted="value"))
    assert rule.check(Attempt("Where is the cache directory set?", "conf/app.ini:4", wanted="file or place")) is None
    assert rule.check(Attempt("What is the editor's temporary file suffix?", "src/edit.py:40", wanted="name or phrase"))
    # no plan (the rules router): the question's words
    assert rule.check(Attempt("Which file sets the limit?", "conf/a.ini:2")) is None
    assert rule.check(Attempt("What is the limit?", "conf/a.ini:2"))


def test_a_dotted_name_made_of_the_questions_words_echoes_it() -> None:
    # dev, click-src-02: "Click.Context" was read as the file "Click.Conte" (an extension
    # of up to five letters, no word end), so the answer had no words and the reading
    # turn's echo ended the run
    from rlm_desktop.rlm.rules import adds_nothing

    question = "Which class does a Click Context use to build help output unless I override formatter_class?"
    assert adds_nothing(question, "Click.Context (files/src/click/core.py:1161)")
    assert not adds_nothing(question, "HelpFormatter (src/click/core.py:535)")
    assert not adds_nothing("Which file defines the retry loop?", "net/retry.py:12 retry.py")  # a file name is no echo
