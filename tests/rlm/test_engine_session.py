"""The engine with the real sandboxed REPL worker (fast: no model): pasted text, a child
RLM in its own worker, a killed cell replaced by a fresh worker, Stop."""

from __future__ import annotations

import threading
import time

from rlm_desktop.llm.backend import CancelToken
from rlm_desktop.rlm import events as ev
from rlm_desktop.rlm.engine import Engine
from tests.fakes import ScriptedBackend, scripted_settings

TEXT = "Chapter one.\nThe sky over the harbor was blue.\nThe vault code is ORCHID-7731.\n"


def code(src: str) -> str:
    return f"```python\n{src}\n```"


def engine(root, sub=None, events=None, cancel=None, **settings) -> Engine:
    return Engine(root, sub or ScriptedBackend("sub"), None, scripted_settings(**settings),
                  sink=events.append if events is not None else None, cancel=cancel)


def test_pasted_text_run_with_real_worker() -> None:
    root = ScriptedBackend()
    root.enqueue([code("print(search('vault code'))"), code("FINAL('The vault code is ORCHID-7731')")])
    finished = engine(root).run("What is the vault code?", context_text=TEXT)
    assert finished.status == "ok" and finished.answer == "The vault code is ORCHID-7731"
    assert "ORCHID-7731" in root.calls[1][-1].content
    assert "pasted text of" in root.calls[0][-1].content and "ORCHID" not in root.calls[0][-1].content


def test_child_rlm_runs_in_its_own_worker() -> None:
    root, sub = ScriptedBackend(), ScriptedBackend("sub")
    sub.enqueue([code("print(context)"), code("FINAL('blue')")])
    root.enqueue([
        code("part = context.splitlines()[1]\nc = rlm_query('What colour is the sky?', part)\nprint(c)"),
        code("FINAL(c)"),
    ])
    events: list = []
    finished = engine(root, sub, events, max_depth=2).run("What colour is the sky?", context_text=TEXT)
    assert finished.answer == "blue"
    nodes = [e for e in events if isinstance(e, ev.NodeStarted)]
    assert [(n.kind, n.depth) for n in nodes] == [("root", 0), ("rlm", 1)]
    # the child saw only the part it was given
    assert "The sky over the harbor was blue." in sub.calls[1][-1].content
    assert "ORCHID" not in sub.calls[1][-1].content


def test_killed_cell_is_reported_and_the_run_goes_on() -> None:
    root = ScriptedBackend()
    root.enqueue([code("while True:\n    pass"), code("print(search('vault'))"), code("FINAL('ORCHID-7731')")])
    events: list = []
    finished = engine(root, events=events, cell_timeout_s=1.0).run("What is the vault code?", context_text=TEXT)
    assert finished.status == "ok" and finished.answer == "ORCHID-7731"
    first = next(e for e in events if isinstance(e, ev.CellFinished))
    assert "timeout" in (first.error or "")
    assert "REPL restarted" in root.calls[1][-1].content


def test_stop_kills_a_busy_worker_at_once() -> None:
    root = ScriptedBackend()
    root.enqueue([code("while True:\n    pass")])
    token = CancelToken()
    timer = threading.Timer(1.0, token.cancel)
    timer.start()
    started = time.monotonic()
    try:
        finished = engine(root, cancel=token, cell_timeout_s=60.0).run("Q?", context_text=TEXT)
    finally:
        timer.cancel()
    assert finished.status == "cancelled"
    assert time.monotonic() - started < 5


LEASE = ("Lease of the workshop.\n\nNotice period\nThe tenant may end the lease by giving notice.\n"
         "Notice must be given three months ahead, in writing.\n\nRent is paid monthly.\n")


def test_a_lookup_starts_from_the_passages_around_the_best_hits_and_can_answer_from_them() -> None:
    """The engine's first move reads whole lines around the hits: the value (three months)
    stands on the line after the one that matches the question's words best."""
    root = ScriptedBackend()
    root.enqueue([code("FINAL('three months (context:5)')")])
    events: list = []
    finished = engine(root, events=events, read_first=True).run(
        "How much notice must the tenant give to end the lease?", context_text=LEASE)
    assert finished.status == "ok" and finished.answer == "three months (context:5)"
    first_prompt = root.calls[0]
    assert first_prompt[-2].role == "assistant" and "passages(" in first_prompt[-2].content
    shown = first_prompt[-1].content
    assert "5| Notice must be given three months ahead, in writing." in shown
    assert "4| The tenant may end the lease by giving notice." in shown
    cells = [e for e in events if isinstance(e, ev.CellFinished)]
    assert cells[0].code.startswith("passages(") and cells[0].turn == 1
    assert any(isinstance(e, ev.Notice) and "first move" in e.text for e in events)


def test_without_the_first_move_the_same_answer_is_a_guess_and_is_refused() -> None:
    root = ScriptedBackend()
    root.enqueue([code("FINAL('three months (context:5)')")])
    root.default = code("FINAL('three months (context:5)')")
    finished = engine(root, max_iterations=3).run(  # scripted_settings ablates read_first
        "How much notice must the tenant give to end the lease?", context_text=LEASE)
    assert "passages(" not in root.calls[0][-2].content
    assert "not seen any output" in root.calls[1][-1].content
    assert finished.stats.iterations >= 2


def test_a_whole_folder_question_gets_no_first_move() -> None:
    root = ScriptedBackend()
    root.enqueue([code("print(len([l for l in context.splitlines() if 'notice' in l.lower()]))"), code("FINAL('3 lines')")])
    events: list = []
    engine(root, events=events, read_first=True).run("How many files mention notice?", context_text=LEASE)
    cells = [e for e in events if isinstance(e, ev.CellFinished)]
    assert not cells[0].code.startswith("passages(")


def reading(line: str, answer: str) -> str:
    import json

    return json.dumps({"line": line, "answer": answer})


def test_a_line_of_the_passages_that_states_the_answer_ends_the_run_in_one_constrained_call() -> None:
    root = ScriptedBackend()
    root.enqueue([reading("Notice must be given three months ahead, in writing.", "three months")])
    events: list = []
    finished = engine(root, events=events, read_first=True).run(
        "How much notice must the tenant give to end the lease?", context_text=LEASE)
    # the engine cites the line the reading copied, not a line the model names
    assert finished.status == "ok" and finished.answer == "three months (context:5)"
    assert len(root.calls) == 1 and root.params[0].json_schema is not None  # no code turn was needed
    # the reading is a call of its own: the passages and the question, no worked examples
    asked = root.calls[0]
    assert [m.role for m in asked] == ["system", "user"] and "kettle" not in asked[1].content
    assert "5| Notice must be given three months ahead" in asked[1].content
    assert any(isinstance(e, ev.Notice) and "answered from the passages" in e.text for e in events)


def test_a_reading_whose_line_does_not_hold_its_answer_is_dropped_and_the_loop_goes_on() -> None:
    root = ScriptedBackend()
    root.enqueue([reading("Notice must be given three months ahead, in writing.", "six months"),
                  code("FINAL('three months (context:5)')")])
    events: list = []
    finished = engine(root, events=events, read_first=True).run(
        "How much notice must the tenant give to end the lease?", context_text=LEASE)
    assert finished.answer == "three months (context:5)"
    assert any(isinstance(e, ev.Notice) and "found no line" in e.text for e in events)
    # the dropped reading is not in the loop's chat, and not its fallback answer
    assert all("six months" not in m.content for m in root.calls[1])
    assert root.calls[1][0].role == "system" and root.calls[1][0].content != root.calls[0][0].content


HANDBOOK = "\n".join([
    *(f"Rule {i}: the tenant of the lease keeps the workshop of the lease tidy." for i in range(1, 61)),
    *(f"Appendix line {i}." for i in range(61, 150)),
    "Heating: the boiler is serviced each October.",
    *(f"Appendix line {i}." for i in range(151, 171)),
]) + "\n"


def test_when_the_first_reading_finds_nothing_the_rarest_words_are_read_next() -> None:
    """The question's common words (tenant, lease) rank sixty rules first; the line that
    answers shares only its rare words with the question, ninety lines further down."""
    root = ScriptedBackend()
    root.enqueue([reading("", ""), reading("Heating: the boiler is serviced each October.", "each October")])
    events: list = []
    finished = engine(root, events=events, read_first=True).run(
        "When is the boiler of the tenant's lease serviced?", context_text=HANDBOOK)
    assert finished.status == "ok" and finished.answer == "each October (context:150)"
    cells = [e for e in events if isinstance(e, ev.CellFinished)]
    assert "Heating" not in cells[0].output  # the first move did not show it
    assert cells[1].code.startswith("passages(' '.join(rarest_words(") and "new_only=True" in cells[1].code
    assert "150| Heating: the boiler" in cells[1].output and "Rule 1:" not in cells[1].output
    assert any(isinstance(e, ev.Notice) and "second move" in e.text for e in events)


def test_after_the_engines_moves_the_model_has_three_turns_then_the_run_says_what_it_searched() -> None:
    """A one-place question: the engine's two moves found no line, the model searched and
    answered with a value no output showed (refused), then searched again. The run ends
    on "not found" naming its searches, not on the refused answer or a forced guess."""
    from rlm_desktop.rlm.reader import TURNS_AFTER_MOVES

    root = ScriptedBackend()
    root.enqueue([code("search('boiler service month')"), code("FINAL('each May (context:3)')"), code("search('heating')")])
    root.default = code("FINAL('each May (context:3)')")
    events: list = []
    finished = engine(root, events=events, read_first=True).run(
        "When is the boiler of the tenant's lease serviced?", context_text=HANDBOOK.replace("Heating: the boiler is serviced each October.", ""))
    assert finished.status == "budget_exhausted" and finished.stats.iterations == TURNS_AFTER_MOVES == 3
    assert finished.answer.startswith("Not found:") and "May" not in finished.answer and "boiler" in finished.answer
    assert any(isinstance(e, ev.Notice) and "3 turns after the engine's own reading" in e.text for e in events)
    # without the limit, the refused answer comes back at the end of the run's budget
    root = ScriptedBackend()
    root.enqueue([code("search('boiler service month')"), code("FINAL('each May (context:3)')"), code("search('heating')")])
    root.default = code("FINAL('each May (context:3)')")
    loose = engine(root, read_first=True, ablate=["one_place_turns"], max_iterations=6).run(
        "When is the boiler of the tenant's lease serviced?", context_text=HANDBOOK.replace("Heating: the boiler is serviced each October.", ""))
    assert loose.stats.iterations > 3 and "May" in loose.answer


def test_a_reading_is_placed_by_the_line_it_copies() -> None:
    from rlm_desktop.rlm.reader import reader_answer

    # the lines two passages showed, as the passages tool's fact gives them
    listing = [("docs/lease.txt", 3, None, "Notice period"), ("docs/lease.txt", 4, None, "The tenant gives `90 days` notice,"),
               ("docs/lease.txt", 5, None, "in writing."), ("manual.pdf", None, 7, "Safety"),
               ("manual.pdf", None, 7, "The kettle switches off after 30 seconds dry.")]
    q = "How much notice does the tenant give?"
    assert reader_answer(reading("The tenant gives 90 days notice,", "90 days"), listing, q).cited == "90 days (docs/lease.txt:4)"
    # a line copied over its break, and with its markup dropped, is still found
    assert reader_answer(reading("gives 90 days notice, in writing.", "90 days"), listing, q).line == 4
    on_page = reader_answer(reading("The kettle switches off after 30 seconds dry.", "30 seconds"), listing, "When does it switch off?")
    assert on_page.cited == "30 seconds (manual.pdf, page 7)"
    # the line's number for the line: the numbered line that holds the answer
    assert reader_answer(reading("4", "90 days"), listing, q).cited == "90 days (docs/lease.txt:4)"
    assert reader_answer(reading("docs/lease.txt:4", "90 days"), listing, q).line == 4
    assert reader_answer(reading("5", "90 days"), listing, q) is None
    # an answer that only repeats the question's words, on a line that lacks them
    assert reader_answer(reading("3", "NO_COLOR"), listing, "Which variable, like NO_COLOR, turns colour off?") is None
    # a worked example's line and value, an answer its own line lacks, and "not stated"
    assert reader_answer(reading("Guarantee ends: 30 June 2027", "30 June 2027"), listing, q) is None
    assert reader_answer(reading("The tenant gives 90 days notice,", "120 days"), listing, q) is None
    assert reader_answer(reading("", ""), listing, q) is None
    assert reader_answer("not json", listing, q) is None


def test_a_reading_is_taken_only_when_its_line_states_the_answer_itself() -> None:
    # dev readings: one word shared with the line, or with the file's name, was enough
    from rlm_desktop.rlm.reader import reader_answer

    listing = [("src/click/testing.py", 211, None, "        color: bool = False,"),
               ("docs/changes.rst", 40, None, "-   Added an :func:`edit` function that invokes the default editor."),
               ("src/click/_termui_impl.py", 12, None, "    env = os.environ.get('PAGER')"),
               ("man1/git-credential-cache.1", 30, None, "Cache credentials for 900 seconds (15 minutes) by default.")]
    assert reader_answer(reading("color: bool = False,", "NO_COLOR"), listing, "Which variable turns colours off?") is None
    assert reader_answer(reading("Added an :func:`edit` function", "rst"), listing, "What extension does the file get?") is None
    # a file's name is the answer to "which file": its path states it
    pager = reader_answer(reading("env = os.environ.get('PAGER')", "_termui_impl.py"), listing, "Which source file reads PAGER?")
    assert pager is not None and pager.cited == "_termui_impl.py (src/click/_termui_impl.py:12)"
    # a sentence that runs on to the next line: the value stands on that line
    wrapped = [("src/click/termui.py", 665, None, "    :param extension: the extension to tell the editor about.  This defaults"),
               ("src/click/termui.py", 666, None, "                      to `.txt` but changing this might change syntax"),
               ("src/click/termui.py", 667, None, "                      highlighting.")]
    ext = reader_answer(reading(":param extension: the extension to tell the editor about.  This defaults", ".txt"), wrapped, "Which extension?")
    assert ext is not None and ext.line == 666
    assert reader_answer(reading("to `.txt` but changing this might change syntax", "highlighting"), wrapped[:2], "What?") is None
    # a value; a longer answer that rewords its line with most of its words
    assert reader_answer(reading("Cache credentials for 900 seconds", "900 seconds"), listing, "How long?").line == 30
    daemon = [("man1/git-daemon.1", 8, None, "The daemon closes its stderr stream unless told otherwise.")]
    kept = reading("The daemon closes its stderr stream unless told otherwise.", "daemon closes stderr stream")
    assert reader_answer(kept, daemon, "What happens to stderr?") is not None
    reworded = reading("The daemon closes its stderr stream unless told otherwise.", "daemon keeps stderr stream open")
    assert reader_answer(reworded, daemon, "What happens to stderr?") is None  # "keeps" and "open" are not there


def test_a_reading_from_a_file_about_another_invoice_year_or_name_is_dropped() -> None:
    # dev: "What purchase order number is quoted on invoice INV-2021-014?" (it quotes
    # none) was answered from another invoice's PO line
    from rlm_desktop.rlm.reader import reader_answer

    listing = [("inv/INV-2021-013.txt", 1, None, "Invoice INV-2021-013"), ("inv/INV-2021-013.txt", 2, None, "Client: Pinecrest Veterinary"),
               ("inv/INV-2021-013.txt", 3, None, "Date: 2021-05-02"), ("inv/INV-2021-013.txt", 4, None, "PO number: PO-63873"),
               ("inv/INV-2021-014.txt", 1, None, "Invoice INV-2021-014"), ("inv/INV-2021-014.txt", 2, None, "Client: Orbit Cranes")]
    po = reading("PO number: PO-63873", "PO-63873")
    assert reader_answer(po, listing, "What purchase order number is quoted on invoice INV-2021-014?") is None
    assert reader_answer(po, listing, "What purchase order number is quoted on invoice INV-2021-013?").cited == "PO-63873 (inv/INV-2021-013.txt:4)"
    # the year and the client of the question must stand in the file the line is in
    assert reader_answer(po, listing, "Which PO number did Pinecrest Veterinary quote in 2022?") is None
    assert reader_answer(po, listing, "Which PO number did Pinecrest Veterinary quote in 2021?") is not None  # the date holds 2021
    assert reader_answer(po, listing, "Which PO number did Pinecrest Veterinary quote?") is not None
    assert reader_answer(po, listing, "Which PO number did Orbit Cranes quote?") is None
    # a literal inside example code is no mark: "1.2.3" of program.version('1.2.3')
    assert reader_answer(po, listing, "If I call po.number('1.2.3'), which PO number is quoted on INV-2021-013?") is not None


def test_a_cell_that_pastes_the_last_output_back_is_cut_after_four_lines() -> None:
    from rlm_desktop.rlm.cells import output_lines
    from rlm_desktop.rlm.protocol import stop_on_paste

    output = "\n".join(f"{i:>2}| Rule {i}: the tenant keeps the workshop tidy." for i in range(1, 41))
    stop = stop_on_paste(output_lines(output))

    def generated(text: str) -> str:  # what the model is let write, as the backend streams it
        for end in range(1, len(text) + 1):
            cut = stop(text[:end])
            if cut is not None:
                return text[:cut]
        return text

    assert generated("```python\n" + output + "\n```").count("\n") == 5  # the fence and four pasted lines
    # code runs to its closing fence, and so does a block that quotes one line of the output
    code = "```python\nhits = grep('boiler')\nprint(hits)\nx = 1\ny = 2\nz = 3\n```"
    assert generated(code) == code
    quoting = "```python\n# " + output.splitlines()[0] + "\nprint(1)\nprint(2)\nprint(3)\nprint(4)\n```"
    assert generated(quoting) == quoting
