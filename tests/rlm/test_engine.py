"""The RLM loop against a scripted model and an in-process fake REPL session: the protocol
rules a user would notice (refused guesses before output, nudges, repeats, pasted output,
errors), the events and the history."""

from __future__ import annotations

import re

import pytest

from rlm_desktop.llm.backend import Message
from rlm_desktop.rlm import events as ev
from rlm_desktop.rlm.sandbox.types import CellResult
from tests.fakes import ScriptedBackend
from tests.rlm.engine_fakes import FILES, FakeSession, code, last_user, make_engine


def test_lookup_answer_is_accepted_after_output_and_cited() -> None:
    root = ScriptedBackend()
    root.enqueue([code("search('vault code')"), code("FINAL('ORCHID-7731')")])
    events: list = []
    finished = make_engine(root, events=events).run("What is the vault code?", roots=("/docs",))
    assert finished.status == "ok"
    assert finished.answer == "ORCHID-7731"
    assert finished.citations == (ev.Citation("/docs/a.txt", 2),)
    assert finished.stats.iterations == 2
    # the second call saw the output of the first cell, not the corpus in the prompt
    assert "ORCHID-7731" in last_user(root.calls[1])
    assert "ORCHID" not in "".join(m.content for m in root.calls[0])
    kinds = [type(e).__name__ for e in events]
    assert kinds[0] == "RunStarted" and kinds[-1] == "RunFinished"
    assert kinds.count("CellFinished") == 2 and kinds.count("TurnFinished") == 2


def test_system_prompt_describes_corpus_without_its_text() -> None:
    root = ScriptedBackend()
    root.enqueue([code("search('x')"), code("FINAL('none')")])
    make_engine(root).run("What is x?")
    first = root.calls[0]
    assert first[0].role == "system"
    assert "2 files" in first[-1].content and "What is x?" in first[-1].content


def test_generation_stops_after_the_first_code_block() -> None:
    root = ScriptedBackend()
    root.enqueue([
        "Let me look.\n```repl\nsearch('vault')\n```\nOutput: the code is 1234\n```python\nFINAL('1234')\n```",
        code("FINAL('ORCHID-7731')"),
    ])
    finished = make_engine(root).run("What is the vault code?")
    assert finished.answer == "ORCHID-7731"
    session = FakeSession.instances[0]
    assert session.cells[0].strip() == "search('vault')"


def test_answer_before_any_output_is_refused_with_a_nudge() -> None:
    root = ScriptedBackend()
    root.enqueue([code("FINAL('1234')"), code("search('vault')"), code("FINAL('ORCHID-7731')")])
    events: list = []
    finished = make_engine(root, events=events).run("What is the vault code?")
    assert finished.answer == "ORCHID-7731"
    assert "not seen any output" in last_user(root.calls[1])
    assert any(isinstance(e, ev.Notice) and "not seen any output" in e.text for e in events)


def test_text_final_tag_needs_output_seen_and_no_code() -> None:
    root = ScriptedBackend()
    root.enqueue(["The answer is FINAL(ORCHID-7731)", code("search('vault')"), "FINAL(ORCHID-7731)"])
    finished = make_engine(root).run("What is the vault code?")
    assert finished.status == "ok" and finished.answer == "ORCHID-7731"
    assert "not seen any output" in last_user(root.calls[1])


def test_final_var_tag_reads_the_variable() -> None:
    root = ScriptedBackend()
    root.enqueue([code("r = search('vault')\nprint(r)\ncode_ = 'ORCHID-7731'"), "FINAL_VAR(code_)"])
    finished = make_engine(root).run("What is the vault code?")
    assert finished.answer == "ORCHID-7731"


def test_turn_without_code_or_answer_gets_corrective_message() -> None:
    root = ScriptedBackend()
    root.enqueue(["I think I should search.", code("search('vault')"), code("FINAL('ORCHID-7731')")])
    finished = make_engine(root).run("What is the vault code?")
    assert finished.answer == "ORCHID-7731"
    assert "Write one ```python block" in last_user(root.calls[1])


def test_repeated_cell_is_drawn_again_at_a_temperature_before_any_nudge() -> None:
    root = ScriptedBackend()
    # dev set, absent: the same search under a new comment is the same cell
    root.enqueue([code("search('vault')"), code("# the answer is in the first file\nsearch('vault')"),
                  code("read('notes/vault.txt')"), code("FINAL('ORCHID-7731')")])
    # with the passages of the repeat's matches switched off (they come first otherwise)
    finished = make_engine(root, ablate=["passages"]).run("What is the vault code?")
    assert finished.answer == "ORCHID-7731"
    assert len(FakeSession.instances[0].cells) == 3  # the repeat never ran
    # the second draw saw exactly the prompt the repeat answered, with a temperature
    assert root.calls[2] == root.calls[1]
    assert root.params[1].temperature == 0.0 and root.params[2].temperature > 0
    assert root.params[3].temperature == 0.0  # back to greedy once the model moved on
    assert "same code again" not in "".join(m.content for m in root.calls[3])


def test_a_cell_repeated_through_every_redraw_gets_a_concrete_next_step() -> None:
    root = ScriptedBackend()
    same = code("search('vault')")
    root.enqueue([same, same, same, same, code("FINAL('ORCHID-7731')")])
    finished = make_engine(root, ablate=["passages"]).run("What is the vault code?")
    assert finished.answer == "ORCHID-7731"
    assert FakeSession.instances[0].cells.count("search('vault')\n") == 1
    nudge = last_user(root.calls[4])
    assert "same code again" in nudge
    # the nudge quotes the hit that fits the question, and where to read around it
    assert re.search(r"line /docs/a\.txt:\d+ says '.*vault.*'; if that answers the question, write FINAL", nudge)
    assert re.search(r"read\('/docs/a\.txt', 1, 5\)", nudge)


def test_a_repeated_cell_is_answered_with_the_lines_around_its_matches() -> None:
    """The sample question: the 1.5B re-ran grep('2.35') with the answer's line in its
    output. The engine reads around the repeat's matches instead and shows that."""
    root = ScriptedBackend()
    same = code("search('vault code')")
    root.enqueue([same, same, code("FINAL('ORCHID-7731 (/docs/a.txt:2)')")])
    events: list = []
    finished = make_engine(root, events=events).run("What is the vault code?")
    assert finished.status == "ok" and finished.answer.startswith("ORCHID-7731")
    ran = FakeSession.instances[0].cells
    assert ran.count("search('vault code')\n") == 1 and ran[1].startswith("# (the engine) the lines around")
    shown = last_user(root.calls[2])
    assert "not run again" in shown and "   2 | The vault code is ORCHID-7731." in shown
    assert root.params[2].temperature == 0.0  # read, not redrawn at a temperature
    assert any(isinstance(e, ev.Notice) and "showing the lines around" in e.text for e in events)
    assert ("/docs/a.txt", 1) in {(c.path, c.line) for c in finished.citations}  # what the engine's read touched


def test_repeats_with_every_match_already_read_get_a_nudge_then_the_forced_answer() -> None:
    root = ScriptedBackend()
    same = code("search('vault code')")
    root.enqueue([same] * 5 + [code("FINAL('ORCHID-7731')")])
    events: list = []
    finished = make_engine(root, events=events, max_iterations=30).run("What is the vault code?")
    ran = FakeSession.instances[0].cells
    assert sum(c.startswith("# (the engine)") for c in ran) == 1  # the one window was read once
    # no redraw of the same prompt at a temperature: a nudge, then the answer is asked for
    assert all(root.calls[i] != root.calls[i - 1] for i in range(1, len(root.calls)))
    assert any("same code again" in last_user(c) for c in root.calls)
    assert finished.answer == "ORCHID-7731" and len(root.calls) <= 6


def test_output_pasted_back_before_a_final_runs_only_the_final() -> None:
    # quick dev run, code 5K: the grep listing pasted back with FINAL(...) under it, ten
    # turns in a row, each refused as a paste, until the budget ran out
    def paste_then_answer(messages) -> str:
        output = messages[-1].content.split("Output:\n", 1)[1].split("\nIf this answers", 1)[0]
        return code(output + "\nFINAL('ORCHID-7731 (/docs/a.txt:2)')")

    root = ScriptedBackend()
    root.enqueue([code("search('vault')"), paste_then_answer])
    finished = make_engine(root).run("What is the vault code?")
    assert finished.answer == "ORCHID-7731 (/docs/a.txt:2)"
    assert FakeSession.instances[0].cells == ["search('vault')\n", "FINAL('ORCHID-7731 (/docs/a.txt:2)')"]


def test_output_pasted_back_as_a_cell_is_not_run_and_points_at_the_line() -> None:
    def paste_last_output(messages) -> str:
        output = messages[-1].content.split("Output:\n", 1)[1].split("\nIf this answers", 1)[0]
        return code(output)

    root = ScriptedBackend()
    root.enqueue([code("search('vault')"), paste_last_output, code("FINAL('ORCHID-7731')")])
    finished = make_engine(root).run("What is the vault code?")
    assert finished.answer == "ORCHID-7731"
    assert FakeSession.instances[0].cells == ["search('vault')\n", "FINAL('ORCHID-7731')\n"]
    nudge = last_user(root.calls[2])
    assert "pasted back" in nudge and "/docs/a.txt:" in nudge
    assert root.params[2].temperature > 0  # the next draw is not the same greedy paste


def test_same_error_twice_names_what_to_do_instead() -> None:
    root = ScriptedBackend()
    root.enqueue([code("import os\nos.listdir('.')"), code("import os\nprint(os.getcwd())"), code("search('vault')"), code("FINAL('ORCHID-7731')")])
    lib_files = dict(FILES)
    engine = make_engine(root, files=lib_files)
    # make imports fail as the sandbox does
    original = FakeSession.run_cell

    def no_imports(self, src):
        if "import os" in src:
            return CellResult("", "Traceback...\nImportError: import of 'os' is not allowed", None, False)
        return original(self, src)

    FakeSession.run_cell = no_imports
    try:
        finished = engine.run("What is the vault code?")
    finally:
        FakeSession.run_cell = original
    assert finished.answer == "ORCHID-7731"
    assert "same error happened twice" in last_user(root.calls[2])
    assert "files are the only source" in last_user(root.calls[2])
    assert "same error" not in last_user(root.calls[1])


def test_crashed_worker_is_reported_and_replaced() -> None:
    root = ScriptedBackend()
    root.enqueue([code("search('vault')"), code("search('code')"), code("FINAL('ORCHID-7731')")])
    events: list = []
    engine = make_engine(root, events=events)
    original = FakeSession.start

    def start(self):
        original(self)
        if len(FakeSession.instances) == 1:
            self.crash_next = True

    FakeSession.start = start
    try:
        finished = engine.run("What is the vault code?")
    finally:
        FakeSession.start = original
    assert finished.status == "ok" and finished.answer == "ORCHID-7731"
    assert len(FakeSession.instances) == 2
    cell = next(e for e in events if isinstance(e, ev.CellFinished))
    assert "crashed" in (cell.error or "")
    assert "REPL restarted" in last_user(root.calls[1])


def test_events_form_a_tree_with_matching_finishes() -> None:
    root, sub = ScriptedBackend(), ScriptedBackend("sub")
    sub.default = "x"
    root.enqueue([code("print(llm_batch([f.text for f in files]))"), code("FINAL('x')")])
    events: list = []
    make_engine(root, sub, events=events).run("Q?")
    started = {e.node_id for e in events if isinstance(e, ev.NodeStarted)}
    finished = {e.node_id for e in events if isinstance(e, ev.NodeFinished)}
    assert started == finished and len(started) == 3


def test_history_is_compacted_to_fit_the_window() -> None:
    root = ScriptedBackend(n_ctx=1500)
    big = "print('filler ' * 300)"
    root.enqueue([code(big + f"  # {i}") for i in range(6)] + [code("FINAL('done')")])
    make_engine(root, max_iterations=10).run("Q?")
    for call in root.calls:
        assert root.count_chat_tokens(call) <= 1500 - 384
    assert any("removed to fit the window" in m.content for m in root.calls[-1])


def test_unknown_method_is_an_error() -> None:
    with pytest.raises(ValueError):
        make_engine(ScriptedBackend()).run("Q?", method="magic")


def test_message_order_alternates_after_examples() -> None:
    root = ScriptedBackend()
    root.enqueue([code("search('vault')"), code("FINAL('ORCHID-7731')")])
    make_engine(root).run("What is the vault code?")
    roles = [m.role for m in root.calls[1]]
    assert roles[0] == "system"
    assert all(a != b for a, b in zip(roles[1:], roles[2:], strict=False))
    assert isinstance(root.calls[1][-1], Message)


def test_a_cell_that_uses_a_worked_examples_name_is_told_so() -> None:
    """Stuck, the 1.5B greps the callers example's function name in a folder that never
    had it: the output says where that name came from."""
    root = ScriptedBackend()
    root.enqueue([code("search('vault code')"), code("pattern = r'\\b_load_table\\('\nprint('none')"), code("FINAL('ORCHID-7731 (/docs/a.txt:2)')")])
    events: list = []
    make_engine(root, events=events, router="rules").run("Which functions call `open_vault`?")  # rules: a code question in a folder of text
    told = last_user(root.calls[2])
    assert "r'\\b_load_table\\(' is from the worked examples, not from this folder" in told
    assert "worked examples" not in last_user(root.calls[1])  # the question's own words are not flagged


def test_borrowed_literals_are_only_the_examples_strings_nothing_showed() -> None:
    from rlm_desktop.rlm.cells import borrowed_literals

    examples = "read('manuals/kettle.txt', 1, 3)\nsearch('Moonlit kettle guarantee end')"
    assert borrowed_literals("read('manuals/kettle.txt')", examples, "When does the lease end?", "") == ["manuals/kettle.txt"]
    # named by the question, or shown by an output of this folder: not borrowed
    assert borrowed_literals("search('Moonlit kettle guarantee end')", examples, "moonlit kettle guarantee end?", "") == []
    assert borrowed_literals("read('manuals/kettle.txt')", examples, "q?", "manuals/kettle.txt:4: x") == []
    assert borrowed_literals("read('notes/lease.txt')", examples, "q?", "") == []
    assert borrowed_literals("grep(r'(", examples, "q?", "") == []  # does not parse
