"""The plan call: one reply forced to a JSON schema picks the strategy, told what the
folder holds; no regex over the question's words."""

from __future__ import annotations

import json

import pytest

from rlm_desktop.rlm.plan import SCHEMA, Plan, is_code_folder, make_plan
from rlm_desktop.rlm.strategy import choose_strategy
from tests.fakes import ScriptedBackend


def plan_backend(scope: str, answer: str) -> ScriptedBackend:
    backend = ScriptedBackend()
    backend.route_from_queue = False
    backend.enqueue([json.dumps({"scope": scope, "answer": answer})])
    return backend


@pytest.mark.parametrize(
    ("scope", "answer", "code", "strategy"),
    [
        ("one place", "value", False, "lookup"),
        ("one place", "maximum or minimum", False, "lookup"),  # "the default maximum ..." is a lookup
        ("one place", "name or phrase", True, "code_question"),
        ("two steps", "value", False, "multi_step"),
        ("every file", "total", False, "whole_folder_map"),
        ("every file", "comparison", True, "whole_folder_map"),
        ("every file", "count", False, "whole_folder_code"),
        ("every file", "list", False, "whole_folder_code"),
    ],
)
def test_the_plan_picks_the_strategy(scope: str, answer: str, code: bool, strategy: str) -> None:
    assert Plan(scope, answer, code).strategy == strategy


def test_the_call_is_constrained_and_sees_the_folder() -> None:
    backend = plan_backend("every file", "total")
    plan = make_plan("What did we bill in total?", "The folder has 48 files (20 pdf, 28 text).", backend)
    assert plan.strategy == "whole_folder_map" and plan.source == "model"
    assert backend.params[-1].json_schema == SCHEMA
    assert "The folder has 48 files (20 pdf, 28 text)." in backend.calls[-1][-1].content


def test_a_failed_call_plans_a_lookup_and_the_run_goes_on() -> None:
    backend = ScriptedBackend()
    backend.answer_plans = False
    backend.enqueue(["not json at all"])
    with pytest.raises(AssertionError):  # the fake refuses a non-JSON reply to a schema call
        make_plan("Q?", "The folder has 1 files (1 text).", backend)
    broken = ScriptedBackend()
    broken.route_from_queue = False
    broken.enqueue([json.dumps({"scope": "somewhere", "answer": "value"})])
    assert make_plan("Q?", "", broken).scope == "one place"  # an unknown value reads as the default


def test_a_code_folder_is_mostly_code() -> None:
    assert is_code_folder({"code": 90, "markdown": 10}) and not is_code_folder({"html": 400, "code": 3}) and not is_code_folder({})


def test_choose_strategy_uses_the_plan_when_told_to_and_rules_otherwise() -> None:
    question = "What is the largest value the pool size setting accepts?"
    assert choose_strategy(question, None, rules=False).name == "lookup"  # no model: a lookup
    planned = choose_strategy(question, plan_backend("one place", "value"), folder="The folder has 9 files (9 html).", rules=False)
    assert planned.name == "lookup" and planned.source == "plan" and planned.answer == "value"  # the checks see the kind
    # the old router sends "largest value" to the whole-folder figure map by a regex
    assert choose_strategy(question, ScriptedBackend()).name == "whole_folder_map"
