"""Per-question strategy and ablation switches (issue 10) in the engine: the root model sees
the worked examples of the chosen strategy only, a "not found" gets one retry with another
strategy, and each ``Settings.ablate`` switch changes what the user would see."""

from __future__ import annotations

import pytest

from rlm_desktop.rlm import events as ev
from rlm_desktop.rlm import prompts
from rlm_desktop.rlm.engine import Engine
from tests.fakes import ScriptedBackend, scripted_settings
from tests.rlm.engine_fakes import FakeSession, code, last_user, make_engine
from tests.rlm.test_engine_session import TEXT

# one phrase from each strategy's worked examples (rlm/strategy.py)
LOOKUP = "Moonlit kettle"
MULTI = "ferry Aurora"
COUNT = "Nordwind"
MAP = "total rainfall of all the gauges"
CODE = "_load_table"
FIXED = "Project Falcon"  # the fixed examples of prompts.py


def seen(messages) -> str:
    return "\n".join(m.content for m in messages)


def notices(events) -> list[str]:
    return [e.text for e in events if isinstance(e, ev.Notice)]


def test_rule_routed_question_gets_only_its_strategy_examples_and_no_router_call() -> None:
    root, sub = ScriptedBackend(), ScriptedBackend("sub")
    root.enqueue([code("print(len(files))"), code("FINAL(len(files))")])
    events: list = []
    finished = make_engine(root, sub, events=events, router="rules").run("How many files mention a budget?")
    assert finished.status == "ok"
    assert root.router_calls == [] and sub.router_calls == []  # the rules were sure: no extra model call
    first = root.calls[0]
    assert first[0].content == prompts.SYSTEM  # byte-stable system prompt (KV reuse)
    text = seen(first)
    assert COUNT in text
    for other in (LOOKUP, MULTI, MAP, CODE, FIXED):
        assert other not in text
    assert "Hint: The answer needs every file" in first[-1].content
    assert "strategy: whole_folder_code (chosen by rule)" in notices(events)


def test_the_default_router_is_one_plan_call_to_the_sub_model_that_picks_the_examples() -> None:
    root, sub = ScriptedBackend(), ScriptedBackend("sub")
    sub.router_answer = "whole_folder_code"  # the scripted plan: a count over every file
    root.enqueue([code("print(len(files))"), code("FINAL(len(files))")])
    events: list = []
    finished = make_engine(root, sub, events=events).run("How many of the notes say the budget is late?")
    assert finished.status == "ok"
    assert len(sub.router_calls) == 1 and root.router_calls == []
    assert "Question: How many of the notes say the budget is late?" in sub.router_calls[0][-1].content
    text = seen(root.calls[0])
    assert COUNT in text and LOOKUP not in text and FIXED not in text
    assert "strategy: whole_folder_code (chosen by plan)" in notices(events)


def test_open_question_asks_the_router_and_uses_its_choice() -> None:
    root, sub = ScriptedBackend(), ScriptedBackend("sub")
    sub.router_answer = "chain"
    root.enqueue([code("search('vault code')"), code("FINAL('ORCHID-7731')")])
    events: list = []
    finished = make_engine(root, sub, events=events, router="rules").run("What is the vault code?")
    assert finished.answer == "ORCHID-7731"
    assert len(sub.router_calls) == 1 and root.router_calls == []  # the sub model routes
    text = seen(root.calls[0])
    assert MULTI in text and COUNT not in text and FIXED not in text
    assert "strategy: multi_step (chosen by model)" in notices(events)
    # the strategy notice sits under turn 1 of the root node (turns keep their notices)
    notice = next(e for e in events if isinstance(e, ev.Notice))
    root_id = next(e.node_id for e in events if isinstance(e, ev.NodeStarted))
    assert (notice.node_id, notice.turn) == (root_id, 1)


def test_not_found_falls_back_once_to_another_strategy_in_the_same_root_node() -> None:
    root = ScriptedBackend()  # router says lookup
    root.enqueue([
        code("search('zebra')"), code("FINAL('Not found: no file mentions it')"),
        code("search('vault')"), code("FINAL('ORCHID-7731')"),
    ])
    events: list = []
    finished = make_engine(root, events=events).run("What is the vault code?")
    assert finished.status == "ok" and finished.answer == "ORCHID-7731"
    assert any("came back empty" in n and "trying multi_step" in n for n in notices(events))
    retry = root.calls[2]
    assert MULTI in seen(retry) and "zebra" not in seen(retry)  # a fresh conversation
    turns = [e.turn for e in events if isinstance(e, ev.TurnFinished)]
    assert turns == [1, 2, 3, 4]  # numbering goes on in the same node
    started = [e for e in events if isinstance(e, ev.NodeStarted)]
    finished_ids = [e.node_id for e in events if isinstance(e, ev.NodeFinished)]
    assert len(started) == 1 and finished_ids == [started[0].node_id]


def test_fallback_happens_only_once_and_keeps_the_first_not_found() -> None:
    root = ScriptedBackend()
    root.enqueue([
        code("search('zebra')"), code("FINAL('Not found: no file mentions a zebra')"),
        code("search('zebra stripes')"), code("FINAL('not found')"),
    ])
    finished = make_engine(root).run("What colour is the zebra?")
    assert finished.status == "ok"
    assert finished.answer == "Not found: no file mentions a zebra"
    assert len(root.calls) == 4  # two attempts, no third


def test_budget_hit_gets_no_second_attempt() -> None:
    root = ScriptedBackend()
    root.enqueue([code(f"search('vault {i}')") for i in range(2)] + ["FINAL('ORCHID-7731')"])
    finished = make_engine(root, max_iterations=2).run("What is the vault code?")
    assert finished.status == "budget_exhausted"
    assert len(root.calls) == 3  # two turns and the forced answer, nothing more


def test_child_rlm_uses_lookup_without_a_router_call() -> None:
    root, sub = ScriptedBackend(), ScriptedBackend("sub")
    root.enqueue([code("print(rlm_query('What colour?', 'The sky was blue.'))"), code("FINAL('blue')")])
    sub.enqueue([code("print(context)"), code("FINAL('blue')")])
    finished = make_engine(root, sub, max_depth=2).run("How many files mention the sky colour?")
    assert finished.answer == "blue"
    assert len(sub.router_calls) == 1 and root.router_calls == []  # the root's plan; the child asks nothing
    child_text = seen(sub.calls[0])
    assert LOOKUP in child_text and COUNT not in child_text


def test_ablate_strategy_uses_the_fixed_examples_and_never_falls_back() -> None:
    root = ScriptedBackend()
    root.enqueue([code("search('zebra')"), code("FINAL('Not found: no file mentions it')")])
    events: list = []
    finished = make_engine(root, events=events, ablate=["strategy"]).run("What is the vault code?")
    assert finished.answer == "Not found: no file mentions it"
    assert root.router_calls == [] and len(root.calls) == 2
    text = seen(root.calls[0])
    assert FIXED in text and LOOKUP not in text and "Hint:" not in text
    assert not any("strategy" in n for n in notices(events))


def test_ablate_grounding_accepts_an_ungrounded_answer() -> None:
    script = [code("search('vault')"), code("FINAL('The code is 123456')"), code("FINAL('ORCHID-7731')")]
    on, off = ScriptedBackend(), ScriptedBackend()
    on.enqueue(script)
    off.enqueue(script)
    assert make_engine(on).run("What is the vault code?").answer == "ORCHID-7731"
    assert make_engine(off, ablate=["grounding"]).run("What is the vault code?").answer == "The code is 123456"


def test_ablate_repeats_reruns_a_repeated_cell_without_a_corrective_message() -> None:
    root = ScriptedBackend()
    root.enqueue([code("search('vault')"), code("search('vault')"), code("FINAL('ORCHID-7731')")])
    finished = make_engine(root, ablate=["repeats"]).run("What is the vault code?")
    assert finished.answer == "ORCHID-7731"
    assert "same code again" not in last_user(root.calls[2])
    assert len(FakeSession.instances[0].cells) == 3  # the repeat ran


def test_ablate_echo_reaches_the_worker_and_hides_the_last_expression() -> None:
    def run(ablate: list[str]) -> str:
        root = ScriptedBackend()
        root.enqueue([code("6 * 7")])
        root.default = code("FINAL('done')")  # refused while nothing was seen: the budget ends it
        events: list = []
        Engine(root, ScriptedBackend("sub"), None, scripted_settings(ablate=ablate, max_iterations=3), sink=events.append).run(
            "What is six times seven?", context_text=TEXT)
        return next(e.output for e in events if isinstance(e, ev.CellFinished))

    assert run([]).strip() == "42"
    assert run(["echo"]).strip() == ""


def test_ablate_totals_drops_the_count_from_listings_in_the_worker() -> None:
    def run(ablate: list[str]) -> str:
        root = ScriptedBackend()
        root.enqueue([code("search('vault code')"), code("FINAL('ORCHID-7731')")])
        events: list = []
        Engine(root, ScriptedBackend("sub"), None, scripted_settings(ablate=ablate), sink=events.append).run(
            "What is the vault code?", context_text=TEXT)
        return next(e.output for e in events if isinstance(e, ev.CellFinished))

    with_totals, without = run([]), run(["totals"])
    assert "showing 1 of 1" in with_totals and "ORCHID-7731" in with_totals
    assert "showing" not in without and " of " not in without.splitlines()[0]
    assert "ORCHID-7731" in without  # the rows are still there


def test_all_switches_off_every_technique_and_unknown_ones_change_nothing() -> None:
    root = ScriptedBackend()
    root.enqueue([code("search('vault')"), code("FINAL('The code is 123456')")])
    engine = make_engine(root, ablate=["all"])
    assert engine.run("What is the vault code?").answer == "The code is 123456"
    assert FakeSession.instances[0].config.echo is False and FakeSession.instances[0].config.totals is False
    assert root.router_calls == [] and FIXED in seen(root.calls[0])
    # techniques the engine cannot switch off (imports: safety) leave the sandbox as it is
    root2 = ScriptedBackend()
    root2.enqueue([code("search('vault')"), code("FINAL('ORCHID-7731')")])
    make_engine(root2, ablate=["imports", "check_values", "map_helper"]).run("What is the vault code?")
    config = FakeSession.instances[0].config
    assert config.echo is True and "os" not in config.allowed_imports


@pytest.mark.parametrize(
    ("technique", "question", "helper", "instead"),
    [
        ("tally", "How many notes did each person file, and who filed the most notes?", "tally(", "collections.Counter"),
        ("map_helper", "What is the total number of units sold across all branches?", "ask_numbers(", "answers = llm_batch(prompts)"),
    ],
)
def test_ablating_a_helper_shows_the_examples_from_before_it(technique: str, question: str, helper: str, instead: str) -> None:
    def first_prompt(ablate: list[str]) -> str:
        root = ScriptedBackend()
        root.enqueue([code("FINAL('x')")])
        root.default = code("FINAL('done')")
        make_engine(root, ablate=ablate).run(question)
        return seen(root.calls[0])

    on, off = first_prompt([]), first_prompt([technique])
    assert helper in on and instead not in on
    assert instead in off and helper not in off.split("Question:", 1)[1]  # only the system prompt's list names it


CHAIN = {
    "/docs/projects.txt": "Status of the projects.\nThe project codenamed Marigold is led by Yusuf Demir. Budget is fine.",
    "/docs/rooms.txt": "Rooms.\nYusuf Demir works in room 366.",
}


def _chain_run(ablate: list[str]) -> tuple[ScriptedBackend, list]:
    root = ScriptedBackend()
    root.enqueue([code("search('Marigold project leader')"), code("search('Yusuf Demir')"), code("FINAL('366 (/docs/rooms.txt:2)')")])
    events: list = []
    finished = make_engine(root, events=events, files=CHAIN, ablate=ablate).run(
        "In which room does the leader of the project codenamed Marigold work?")
    assert finished.answer.startswith("366")
    return root, events


def test_multi_step_output_names_the_bridge_to_search_next() -> None:
    root, events = _chain_run([])
    assert "search for Yusuf Demir next" in last_user(root.calls[1])
    # said once: the next output does not repeat it
    assert "Yusuf Demir next" not in last_user(root.calls[2])
    assert any("Yusuf Demir" in n for n in notices(events))


def test_ablate_bridge_gives_no_hint() -> None:
    root, _ = _chain_run(["bridge"])
    assert "next to find the answer" not in last_user(root.calls[1])


def test_a_lookup_answered_before_any_output_showed_the_questions_name_is_sent_back() -> None:
    # dev set, multi-step: search('Obsidian leader room') showed only room lines, and the
    # 1.5B answered with the room of someone no line tied to Obsidian
    root, sub = ScriptedBackend(), ScriptedBackend("sub")
    sub.router_answer = "chain"
    root.enqueue([
        # the search's own echo names Obsidian; no hit does
        code("print(\"search('Obsidian leader room'): showing 1 of 1 matching files:\\ne8.txt:22: Wanjiru Kamau works in [room] 297.\")"),
        code("FINAL('297 (e8.txt:22)')"),
        code("print('e3.txt:9: The project codenamed Obsidian is led by Umar Sheikh. Umar Sheikh works in room 885.')"),
        code("FINAL('885 (e3.txt:9)')"),
    ])
    finished = make_engine(root, sub, router="rules").run("In which room does the leader of the project codenamed Obsidian work?")
    assert finished.answer == "885 (e3.txt:9)"
    assert "No output so far mentions Obsidian" in last_user(root.calls[2])
    # dev set, absent: hits with "morning" and "tide" apart are not the ship Morning Tide
    root, sub = ScriptedBackend(), ScriptedBackend("sub")
    sub.router_answer = "lookup"
    root.enqueue([
        code("print(\"search('Morning Tide port'): showing 2 of 2 matching files:\\na.txt:8: One [morning] I woke.\\nb.txt:3: The [tide] pools. The ship Sea Lark sailed from Porto.\")"),
        code("FINAL('Porto (b.txt:3)')"),
        code("FINAL('Not found: no file mentions the ship Morning Tide')"),
        code("print(\"search('Morning Tide'): showing 0 files\")"),  # the fallback strategy's try
        code("FINAL('Not found')"),
    ])
    finished = make_engine(root, sub, router="rules").run("From which port did the ship Morning Tide sail?")
    assert finished.answer == "Not found: no file mentions the ship Morning Tide"
    assert "No output so far mentions Morning Tide" in last_user(root.calls[2])
    # a count is no lookup: its outputs need not repeat the question's names
    root, sub = ScriptedBackend(), ScriptedBackend("sub")
    root.enqueue([code("print(3)"), code("FINAL('3 files')")])
    assert make_engine(root, sub).run("How many files mention Obsidian?").answer == "3 files"


def test_not_found_after_a_search_said_no_file_has_the_questions_name_gets_no_fallback() -> None:
    # dev set, absent: "No file contains 'Farid', 'Haddad'", a right "Not found", then a
    # fallback strategy searched the same words for 60 s and guessed "guava"
    root = ScriptedBackend()
    root.enqueue([
        code("print(\"search('Farid Haddad fruit'): No file contains 'Farid', 'Haddad'; showing 1 file with some of the other words:\\nb.txt:2: Her favourite fruit is the guava.\")"),
        code("FINAL('guava (b.txt:2)')"),
        code("FINAL('guava (b.txt:2)')"),  # insisted on: refused a second time, for "not found" outright
        code("FINAL('Not found: no file mentions Farid Haddad')"),
    ])
    events: list = []
    finished = make_engine(root, events=events).run("What is Farid Haddad's favourite fruit?")
    assert finished.status == "ok" and finished.answer == "Not found: no file mentions Farid Haddad"
    # the other person's fruit is refused with the search it came from filled in
    assert """answer FINAL('Not found: no file mentions Farid (searched for "Farid Haddad fruit")')""" in last_user(root.calls[2])
    assert "Again: a search said no file contains 'Farid'" in last_user(root.calls[3])
    assert len(root.calls) == 4 and not any("came back empty" in n for n in notices(events))


def test_an_answer_copied_from_the_worked_example_is_refused_and_a_file_answer_is_no_bare_location() -> None:
    # dev set, code: "Which file defines the function `fnmatch`?" answered with the def's
    # location was refused as "only a location", and the 1.5B then gave the code example's
    # own answer, "10.0 (net/client.py:41)", accepted on its second try
    listing = "grep: showing 1 of 1 matches in 1 files:\\\\nstdlib/fnmatch.py:19: def fnmatch(name, pat):"
    root, sub = ScriptedBackend(), ScriptedBackend("sub")
    root.enqueue([code(f"print('{listing}')"), code("FINAL('10.0 (net/client.py:41)')"), code("FINAL('stdlib/fnmatch.py:19')")])
    finished = make_engine(root, sub, router="rules").run("Which file defines the function `fnmatch`?")  # a code question by rule
    assert finished.answer == "stdlib/fnmatch.py:19"  # a location is the answer to "which file"
    assert "is from the worked example, not from this folder" in last_user(root.calls[2])


def test_the_worked_examples_value_is_refused_twice_even_after_a_subject_refusal() -> None:
    # dev set seed 1, multi-step 128K: a refusal for the unseen "Saffron" used up one of two
    # firm refusals, and the _MULTI example's "extension 4471" passed at its second try
    root = ScriptedBackend()
    root.enqueue([code("search('leader room')"), code("FINAL('room 723')"), code("print('The project codenamed Saffron is led by Marta Kowalska.')"),
                  code("FINAL('extension 4471')"), code("FINAL('4471')"), code("print('Marta Kowalska works in room 930.')"), code("FINAL('930')")])
    finished = make_engine(root).run("In which room does the leader of the project codenamed Saffron work?")
    assert finished.answer == "930"
    assert "No output so far mentions Saffron" in last_user(root.calls[2])
    assert "is from the worked example" in last_user(root.calls[4]) and "is from the worked example" in last_user(root.calls[5])
    # the nudge quotes the output's line that states a number and fits the question
    root = ScriptedBackend()
    hits = ("search('Marta Kowalska extension'): showing 2 of 2 matching files:\n"
            "notes/e62.txt:79: The project codenamed Saffron is led by [Marta] [Kowalska].\n"
            "notes/e63.txt:11: pushing less. [Marta] [Kowalska] works in room 930. But you can rarely")
    first = "search('Saffron leader room'): showing 1 of 1 matching files:\nnotes/e35.txt:13: new things. Yusuf Demir works in [room] 723. I was so"
    root.enqueue([code("search('Saffron')"), code(f"print({first!r})"), code(f"print({hits!r})"), code("FINAL('extension 4471')"),
                  code("FINAL('930 (notes/e63.txt:11)')")])
    assert make_engine(root).run("In which room does the leader of the project codenamed Saffron work?").answer == "930 (notes/e63.txt:11)"
    # the latest output's line, not the first search's room 723 (dev set seed 1, re-run)
    assert "The line notes/e63.txt:11 says" in last_user(root.calls[4]) and "room 930" in last_user(root.calls[4])
