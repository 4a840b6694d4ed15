"""The RLM loop against a scripted model and an in-process fake REPL session: the protocol
rules a user would notice (refused guesses, nudges, repeats), sub-calls, events."""

from __future__ import annotations

import ast
import contextlib
import io
import re
from dataclasses import dataclass
from pathlib import Path

import pytest

from rlm_desktop.errors import SandboxError
from rlm_desktop.library.types import CorpusStats
from rlm_desktop.llm.backend import Message
from rlm_desktop.rlm import events as ev
from rlm_desktop.rlm.engine import Engine
from rlm_desktop.rlm.sandbox.types import CellResult, LlmRequest, ReplConfig, SourceRef
from rlm_desktop.rlm.tools.facts import ToolFact, figure_fact, grep_fact, tally_fact
from tests.fakes import ScriptedBackend, scripted_settings


@dataclass(frozen=True)
class FakeFile:
    path: str
    text: str


class FakeLibrary:
    """Just what the engine needs from ``Library``: stats, read, text."""

    def __init__(self, files: dict[str, str]) -> None:
        self.texts = files
        self.db_path = Path("/nonexistent/library.db")

    def stats(self, roots=None) -> CorpusStats:
        chars = sum(len(t) for t in self.texts.values())
        return CorpusStats(files=len(self.texts), chars=chars, tokens=chars // 4, kinds={"text": len(self.texts)})

    def read(self, path: str, start=None, end=None) -> str:
        lines = self.texts[path].splitlines()
        return "\n".join(lines[(start or 1) - 1 : end])

    def text(self, path: str) -> str:
        return self.texts[path]


class FakeSession:
    """Runs cells with ``exec`` in this process; enough of the REPL contract for the loop."""

    instances: list[FakeSession] = []

    def __init__(self, config: ReplConfig, on_llm, files: dict[str, str] | None = None) -> None:
        self.config = config
        self.on_llm = on_llm
        self.files = [FakeFile(p, t) for p, t in (files or {}).items()]
        self.started = self.killed = self.closed = False
        self.cells: list[str] = []
        self.crash_next = False
        FakeSession.instances.append(self)

    def start(self) -> None:
        self.started = True

    def kill(self) -> None:
        self.killed = True

    def close(self) -> None:
        self.closed = True

    def run_cell(self, code: str) -> CellResult:
        if self.killed:
            raise SandboxError("worker was killed")
        if self.crash_next:
            self.crash_next = False
            raise SandboxError("worker exited with signal 9")
        self.cells.append(code)
        sources: list[SourceRef] = []
        state: dict = {"answer": None, "ready": False}

        def search(query: str, k: int = 10) -> str:
            words = [w.lower() for w in re.findall(r"\w+", query)]
            lines = []
            for f in self.files:
                for n, line in enumerate(f.text.splitlines(), 1):
                    if any(w in line.lower() for w in words):
                        lines.append(f"{f.path}:{n}: {line}")
                        sources.append(SourceRef(f.path, n, how="search"))
            return f"showing {min(k, len(lines))} of {len(lines)} matching lines\n" + "\n".join(lines[:k])

        def llm(kind, prompts, **kw):
            reply = self.on_llm(LlmRequest(kind, tuple(prompts), **kw))
            if reply.error:
                raise RuntimeError(reply.error)
            return list(reply.answers)

        def final(value):
            state["answer"], state["ready"] = str(value), True

        facts: list[ToolFact] = []

        def read(path: str, start: int | None = None, end: int | None = None) -> str:
            f = next(f for f in self.files if f.path == path or f.path.endswith("/" + path))
            lines = f.text.splitlines()
            first = max(1, start or 1)
            sources.append(SourceRef(f.path, first, how="read"))
            return "\n".join(f"{n:>4} | {t}" for n, t in enumerate(lines[first - 1:end or len(lines)], first))

        namespace = self.namespace = getattr(self, "namespace", {})
        namespace.update(
            files=self.files, context=self.files, search=search, read=read, FINAL=final,
            FINAL_VAR=lambda name: final(namespace[name]),
            llm_query=lambda p: llm("query", [p], has_corpus_text=any(f.text[:20] in p for f in self.files))[0],
            llm_batch=lambda ps: llm("batch", ps, has_corpus_text=True),
            rlm_query=lambda q, text=None: llm("rlm", [q], context_text=text)[0],
            # what the real tally and ask_numbers reductions leave in the cell's result
            TALLY=lambda rows, searched, unmatched=0: facts.append(tally_fact(rows, searched, unmatched)),
            FIGURE=lambda how, value, files=2: facts.append(figure_fact(how, value, files)),
            GREP=lambda hits: facts.append(grep_fact(hits, len(hits))),
        )
        out, error = io.StringIO(), None
        try:
            tree = ast.parse(code)
            last = tree.body.pop() if tree.body and isinstance(tree.body[-1], ast.Expr) else None
            with contextlib.redirect_stdout(out):
                exec(compile(tree, "<cell>", "exec"), namespace)
                if last is not None:
                    value = eval(compile(ast.Expression(last.value), "<cell>", "eval"), namespace)
                    if value is not None:
                        print(value)
        except Exception as exc:  # noqa: BLE001 - the model's error goes back to it
            error = f"{type(exc).__name__}: {exc}"
        return CellResult(out.getvalue(), error, state["answer"], state["ready"], tuple(sources), facts=tuple(facts))


FILES = {
    "/docs/a.txt": "Meeting notes.\nThe vault code is ORCHID-7731.\nNothing else.",
    "/docs/b.txt": "Budget 2024.\nTotal spend was 120 dollars.",
}


def make_engine(root: ScriptedBackend, sub: ScriptedBackend | None = None, files=FILES, events=None, **settings):
    library = FakeLibrary(files)
    FakeSession.instances.clear()
    sub = sub or ScriptedBackend("sub")
    sub.route_from_queue = False  # the engine routes with the sub model; its queue is for sub-calls
    return Engine(
        root, sub, library, scripted_settings(**settings),
        sink=(events.append if events is not None else None),
        session_factory=lambda config, on_llm: FakeSession(config, on_llm, files),
    )


def code(src: str) -> str:
    return f"```python\n{src}\n```"


def last_user(messages) -> str:
    return [m.content for m in messages if m.role == "user"][-1]


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


def test_ungrounded_answer_is_refused_once() -> None:
    root = ScriptedBackend()
    root.enqueue([code("search('vault')"), code("FINAL('The code is 123456')"), code("FINAL('ORCHID-7731')")])
    finished = make_engine(root).run("What is the vault code?")
    assert finished.answer == "ORCHID-7731"
    assert "'123456'" in last_user(root.calls[2])


def test_an_answer_with_a_shown_value_and_invented_details_is_told_which_part_to_keep() -> None:
    # the dev trace: a right total decorated with invented per-file figures, then sent to
    # "find it in the files", the 1.5B answered something else
    root = ScriptedBackend()
    root.enqueue([
        code("print('9723 (total of r/a.txt, r/b.txt)')"),
        code("FINAL('9723 (r/a.txt: 1000, r/b.txt: 1000)')"),
        code("FINAL('9723 (total of r/a.txt, r/b.txt)')"),
    ])
    finished = make_engine(root).run("What is the total number of units sold?")
    assert finished.answer == "9723 (total of r/a.txt, r/b.txt)"
    nudge = last_user(root.calls[2])
    assert "'1000'" in nudge and "its 9723 is in the output" in nudge


def test_a_final_cut_off_mid_string_answers_with_its_first_clause() -> None:
    # quick dev run: a right total followed by an invented figure per file for 60 files,
    # cut at the token limit inside the string; told to write a short one, the 1.5B wrote
    # the same long one again
    root = ScriptedBackend()
    root.enqueue([code("print('96973 (total of r/a.txt, r/b.txt)')"), code("FINAL('96973 (the total of all branches, r/a.txt: 1000, r/b.txt: 20")])
    finished = make_engine(root).run("What is the total number of units sold?")
    assert finished.status == "ok"
    assert finished.answer == "96973 (the total of all branches)"


def test_a_cut_off_final_before_any_output_is_told_to_write_a_short_one() -> None:
    root = ScriptedBackend()
    root.enqueue([code("FINAL('ORCHID-7731 (a.txt: 1000, b.txt: 2000, c.txt: 30"), code("search('vault')"), code("FINAL('ORCHID-7731')")])
    finished = make_engine(root).run("What is the vault code?")
    assert finished.answer == "ORCHID-7731"
    assert "was cut off" in last_user(root.calls[1])


def test_an_answer_insisted_on_keeps_only_its_shown_first_clause() -> None:
    # quick dev run: refused once for an invented "1000" per file, the 1.5B sent the same
    # answer again, and it was accepted with the invented figures in it
    root = ScriptedBackend()
    answer = "FINAL('9723 (the total of all branches, r/a.txt: 1000, r/b.txt: 1000)')"
    root.enqueue([code("print('9723 (total of r/a.txt, r/b.txt)')"), code(answer), code(answer)])
    finished = make_engine(root).run("What is the total number of units sold?")
    assert finished.status == "ok" and finished.answer == "9723 (the total of all branches)"


def test_a_capitalized_string_looked_for_in_lowercased_text_is_lowercased_before_the_cell_runs() -> None:
    # quality run, aggregation and dev count: 'Sofia Rossi' in f.text.lower() found 0 of 120
    # files; the 1.5B answered "none" through a hint and a refusal alike
    root = ScriptedBackend()
    root.enqueue([
        code("hits = [f.path for f in files if 'ORCHID' in f.text.lower() and 'Vault' not in f.text.lower()]\nprint(len(hits))"),
        code("FINAL(f'{len(hits)} file')"),
    ])
    events: list = []
    finished = make_engine(root, events=events).run("How many files mention ORCHID?")
    assert FakeSession.instances[0].cells[0].startswith("hits = [f.path for f in files if 'orchid' in f.text.lower() and 'vault' not in f.text.lower()]")
    assert any("'ORCHID', 'Vault' compared with lowercased text: ran it lowercased" in getattr(e, "text", "") for e in events)
    assert finished.status == "ok"


def test_a_most_question_answered_with_a_lower_row_of_a_tally_is_sent_back_for_the_first() -> None:
    # aggregation bench: the tally listed Maria Lopez (32 files) first, the 1.5B answered
    # Tom Becker (26)
    listing = "tally: matched in 3 of 3 files; 2 distinct values:\\n  Maria Lopez: 32 files\\n  Tom Becker: 26 files"
    root = ScriptedBackend()
    ran = "TALLY([('Maria Lopez', 32), ('Tom Becker', 26)], 3)\n"
    root.enqueue([code(f"{ran}print('{listing}')"), code("FINAL('Tom Becker (26 of 120 files)')"), code("FINAL('Maria Lopez (32 files)')")])
    finished = make_engine(root).run("Which person filed the most notes?")
    assert finished.answer == "Maria Lopez (32 files)"
    assert "lists Maria Lopez first (32 files)" in last_user(root.calls[2])
    # a tie for first place is no error, and neither is a question about the fewest
    for question, answer in [("Which person filed the fewest notes?", "Tom Becker")]:
        root = ScriptedBackend()
        root.enqueue([code(f"{ran}print('{listing}')"), code(f"FINAL('{answer}')")])
        assert make_engine(root).run(question).answer == answer
    tied = listing.replace("26 files", "32 files")
    root = ScriptedBackend()
    root.enqueue([code(f"{ran.replace('26', '32')}print('{tied}')"), code("FINAL('Tom Becker')")])
    assert make_engine(root).run("Which person filed the most notes?").answer == "Tom Becker"


def test_an_answer_from_a_line_about_another_thing_of_the_same_kind_is_sent_back() -> None:
    # dev set, lookup: the only hit was "The [access] [code] for the ochre [locker] is
    # 60478", and the 1.5B gave it as the amber locker's code
    hit = "notes/e1.txt:7: The [access] [code] for the ochre [locker] is 60478. In ancient times"
    root = ScriptedBackend()
    root.enqueue([code(f"print({hit!r})"), code("FINAL('60478 (notes/e1.txt:7)')"),
                  code("print('notes/e2.txt:3: the amber locker opens with 66667')"), code("FINAL('66667 (notes/e2.txt:3)')")])
    finished = make_engine(root).run("What is the access code for the amber locker?")
    assert finished.answer == "66667 (notes/e2.txt:3)"
    assert "about the ochre locker, but the question asks about the amber locker" in last_user(root.calls[2])
    # the line names the asked one too: accepted at once
    root = ScriptedBackend()
    root.enqueue([code("print('the ochre locker is shut; the access code for the amber locker is 66667')"), code("FINAL('66667')")])
    assert make_engine(root).run("What is the access code for the amber locker?").answer == "66667"
    # the value's own sentence is about the bridge name, the next one about another cabinet:
    # a two-step answer (dev set seed 1, multi-step), accepted at once
    hit = "notes/e6.txt:17: [Tamar] [Levi]'s [badge] [number] is 36556. The bluebird filing cabinet belongs to Quinn Gallagher."
    root = ScriptedBackend()
    root.enqueue([code(f"print({hit!r})"), code("FINAL('36556 (notes/e6.txt:17)')")])
    assert make_engine(root).run("What is the badge number of the owner of the lantern filing cabinet?").answer == "36556 (notes/e6.txt:17)"
    assert len(root.calls) == 2


def test_final_spelled_final_in_another_case_answers() -> None:
    # dev set seed 1, absent 128K: Final('Not found: ...') eight times, each a NameError,
    # until the turns ran out
    root = ScriptedBackend()
    root.enqueue([code("print('/docs/a.txt:2: The vault code is ORCHID-7731.')"), code("# the hit says it\nFinal('ORCHID-7731 (/docs/a.txt:2)')")])
    events: list = []
    finished = make_engine(root, events=events).run("What is the vault code?")
    assert finished.status == "ok" and finished.answer == "ORCHID-7731 (/docs/a.txt:2)"
    assert any("Final(...) spelled FINAL(...)" in getattr(e, "text", "") for e in events)
    # a cell that defines its own final() is left alone
    root = ScriptedBackend()
    root.enqueue([code("def final(x):\n    return x * 2\nprint(final(21))"), code("FINAL('42')")])
    assert make_engine(root).run("What is twice 21?").answer == "42"
    assert "42" in last_user(root.calls[1])


def test_a_quote_inside_finals_string_is_mended_instead_of_failing_the_cell() -> None:
    # dev set, multi-step 128K: FINAL('55991: Olga Petrova's badge number is 55991') was a
    # SyntaxError; the 1.5B then pasted the error back until the budget ran out
    root = ScriptedBackend()
    root.enqueue([code("print(\"Olga Petrova's badge number is 55991\")"),
                  code("FINAL('55991: Olga Petrova's badge number is 55991 (notes/e.txt:62)')")])
    finished = make_engine(root).run("What is the badge number of the owner of the tundra cabinet?")
    assert finished.status == "ok"
    assert finished.answer == "55991: Olga Petrova's badge number is 55991 (notes/e.txt:62)"


def test_a_default_answered_with_another_parameters_value_is_sent_back_with_the_def_lines() -> None:
    # dev set, code: the def line showed lo=0, hi=None and the 1.5B answered 0 for hi
    root = ScriptedBackend()
    root.enqueue([code("print('bisect.py:53: def insort_left(a, x, lo=0, hi=None, *, key=None):')"),
                  code("FINAL('0 (bisect.py:53)')"), code("FINAL('None (bisect.py:53)')")])
    finished = make_engine(root).run("In bisect.py, what is the default value of the parameter `hi` of the function `insort_left`?")
    assert finished.answer == "None (bisect.py:53)"
    assert "says hi=None" in last_user(root.calls[2])


def test_a_default_read_from_the_functions_def_line_is_not_taken_for_another_subject() -> None:
    # dev set seed 1, code 124K: "def copymode(src, dst, *, follow_symlinks=True)" shown,
    # "True" answered, and the other-subject check sent it back: "about the def copymode,
    # but the question asks about the function copymode"
    root = ScriptedBackend()
    root.enqueue([code("print('shutil.py:290: def copymode(src, dst, *, follow_symlinks=True):')"), code("FINAL('True (shutil.py:290)')")])
    finished = make_engine(root).run("In shutil.py, what is the default value of the parameter `follow_symlinks` of the function `copymode`?")
    assert finished.answer == "True (shutil.py:290)"
    assert len(root.calls) == 2


_FNMATCH_GREP = (
    "grep('fnmatchcase'): showing 4 of 4 matches in 1 files:\n"
    'fnmatch.py:17: __all__ = ["filter", "fnmatch", "fnmatchcase", "translate"]\n'
    "fnmatch.py:32 (in fnmatch): If you don't want this, use fnmatchcase(FILENAME, PATTERN).\n"
    "fnmatch.py:36 (in fnmatch): return fnmatchcase(name, pat)\n"
    "fnmatch.py:64: def fnmatchcase(name, pat):"
)
# what that grep leaves in the cell's result
_FNMATCH_HITS = [("fnmatch.py", 17, None, '__all__ = ["filter", "fnmatch", "fnmatchcase", "translate"]'),
                 ("fnmatch.py", 32, "fnmatch", "If you don't want this, use fnmatchcase(FILENAME, PATTERN)."),
                 ("fnmatch.py", 36, "fnmatch", "return fnmatchcase(name, pat)"), ("fnmatch.py", 64, None, "def fnmatchcase(name, pat):")]
_RAN_GREP = f"GREP({_FNMATCH_HITS!r})\n"


def test_a_callers_answer_with_names_that_do_not_call_it_is_sent_back_with_the_calling_functions() -> None:
    # dev set seed 1, code: "filter, fnmatch, translate" read off the __all__ line
    root = ScriptedBackend()
    root.enqueue([code(f"{_RAN_GREP}print({_FNMATCH_GREP!r})"), code("FINAL('filter, fnmatch, translate (fnmatch.py:17)')"),
                  code("FINAL('fnmatch (fnmatch.py:36)')")])
    finished = make_engine(root).run("Which functions in fnmatch.py call `fnmatchcase`?")
    assert finished.answer == "fnmatch (fnmatch.py:36)"
    assert "call fnmatchcase are inside fnmatch (fnmatch.py:32)" in last_user(root.calls[2])
    # file:lines alone (has_magic's callers): the same nudge, which names the function
    root = ScriptedBackend()
    root.enqueue([code(f"{_RAN_GREP}print({_FNMATCH_GREP!r})"), code("FINAL('fnmatch.py:36, fnmatch.py:64')"), code("FINAL('fnmatch (fnmatch.py:36)')")])
    assert make_engine(root).run("Which functions in fnmatch.py call `fnmatchcase`?").answer == "fnmatch (fnmatch.py:36)"
    assert "are inside fnmatch" in last_user(root.calls[2])
    # the right caller in a sentence passes at once
    root = ScriptedBackend()
    root.enqueue([code(f"{_RAN_GREP}print({_FNMATCH_GREP!r})"), code("FINAL('It is called by the function fnmatch (fnmatch.py:36)')")])
    assert make_engine(root).run("Which functions in fnmatch.py call `fnmatchcase`?").status == "ok"
    assert len(root.calls) == 2


def test_a_parameter_list_answer_that_leaves_some_out_is_sent_back_with_the_def_lines_list() -> None:
    # dev set, code: "def _glob2(dirname, pattern, dir_fd, dironly, include_hidden=False)"
    # shown, "pattern" answered
    root = ScriptedBackend()
    root.enqueue([code("print('glob.py:133: def _glob2(dirname, pattern, dir_fd, dironly, include_hidden=False):')"),
                  code("FINAL('pattern (glob.py:133)')"),
                  code("FINAL('dirname, pattern, dir_fd, dironly, include_hidden (glob.py:133)')")])
    finished = make_engine(root).run("What are the parameter names of the function `_glob2` in glob.py?")
    assert finished.answer == "dirname, pattern, dir_fd, dironly, include_hidden (glob.py:133)"
    assert "lists its parameters: dirname, pattern, dir_fd, dironly, include_hidden" in last_user(root.calls[2])
    # a method of the same name (grep's "(in TextWrapper)") gives way to the function
    listing = "t.py:361 (in TextWrapper): def fill(self, text):\\nt.py:386: def fill(text, width=70, **kwargs):"
    root = ScriptedBackend()
    root.enqueue([code(f"print('{listing}')"), code("FINAL('text, width (t.py:361)')"), code("FINAL('text, width, kwargs (t.py:386)')")])
    assert make_engine(root).run("What are the parameter names of the function `fill`?").answer == "text, width, kwargs (t.py:386)"
    assert "lists its parameters: text, width, kwargs" in last_user(root.calls[2])


def test_a_zero_from_a_tally_that_matched_no_file_is_sent_back() -> None:
    # dev count re-run: tally(r'Mei Chen: (\d+)') matched 0 of 200 files and the 1.5B
    # answered "0 notes were filed by Mei Chen" (26 were)
    empty = "tally(r'Mei Chen: (\\\\d+)'): matched in 0 of 200 files; 0 distinct values."
    root = ScriptedBackend()
    root.enqueue([code(f"TALLY([], 200, 200)\nprint({empty!r})"), code("FINAL('0 notes were filed by Mei Chen (0 of 200 files)')"),
                  code("print('26 of 200 files')"), code("FINAL('26 notes')")])
    finished = make_engine(root).run("How many notes were filed by Mei Chen?")
    assert finished.answer == "26 notes"
    assert "Your pattern matched no file at all" in last_user(root.calls[2])


def test_a_count_read_from_the_tallys_unmatched_files_is_sent_back() -> None:
    # dev set seed 1: "matched in 29 of 200 files ... 171 files have no match", and the
    # 1.5B answered "171 files"
    listing = ("tally(r'Mei Chen'): matched in 29 of 200 files; 1 distinct values:\n  Mei Chen: 29 files\n"
               "171 files have no match; their lines may say it another way, e.g.:")
    root = ScriptedBackend()
    root.enqueue([code(f"TALLY([('Mei Chen', 29)], 200, 171)\nprint({listing!r})"), code("FINAL('171 files: n/2.txt, n/4.txt')"), code("FINAL('29 notes')")])
    finished = make_engine(root).run("How many notes were filed by Mei Chen?")
    assert finished.answer == "29 notes"
    assert "did NOT match. It matched 29 files" in last_user(root.calls[2])


def test_a_how_many_different_answer_with_a_rows_file_count_is_sent_back_for_the_distinct_values() -> None:
    # dev set seed 1: "6 distinct values" listed, the first row "Lisbon: 70 files", and
    # the 1.5B answered "70 files: Lisbon, Osaka, ..."
    listing = "tally(r'Office: (.+)'): matched in 200 of 200 files; 3 distinct values:\n  Lisbon: 70 files\n  Osaka: 42 files\n  Lima: 13 files"
    root = ScriptedBackend()
    ran = "TALLY([('Lisbon', 70), ('Osaka', 42), ('Lima', 13)], 200)\n"
    root.enqueue([code(f"{ran}print({listing!r})"), code("FINAL('70 files: Lisbon, Osaka, Lima')"), code("FINAL('3 offices: Lisbon, Osaka, Lima')")])
    finished = make_engine(root).run("How many different offices appear in the notes?")
    assert finished.answer == "3 offices: Lisbon, Osaka, Lima"
    assert "lists 3 distinct values (Lisbon, Osaka, Lima)" in last_user(root.calls[2])
    assert "FINAL('3: Lisbon, Osaka, Lima')" in last_user(root.calls[2])
    # the distinct count itself passes at once, and so does a plain "how many" with a row's count
    root = ScriptedBackend()
    root.enqueue([code(f"{ran}print({listing!r})"), code("FINAL('70 notes')")])
    assert make_engine(root).run("How many notes come from the Lisbon office?").answer == "70 notes"
    assert len(root.calls) == 2


def test_ungrounded_answer_is_accepted_the_second_time() -> None:
    root = ScriptedBackend()
    root.enqueue([code("search('vault')"), code("FINAL('123456')"), code("FINAL('123456')")])
    finished = make_engine(root).run("What is the vault code?")
    assert finished.status == "ok" and finished.answer == "123456"


def test_answer_that_is_only_a_location_is_sent_back_for_the_value() -> None:
    root = ScriptedBackend()
    root.enqueue([code("search('vault')"), code("FINAL('notes/vault.txt:3')"), code("FINAL('ORCHID-7731 (notes/vault.txt:3)')")])
    finished = make_engine(root).run("What is the vault code?")
    assert finished.answer == "ORCHID-7731 (notes/vault.txt:3)"
    assert "not the answer" in last_user(root.calls[2])


def test_a_total_question_answered_with_the_largest_value_is_sent_back_for_the_total() -> None:
    # the dev trace: rows.total() printed the total, then rows.max(), then FINAL(max)
    root = ScriptedBackend()
    root.enqueue([
        code("FIGURE('total', '88332')\nprint('88332 (total of r/a.txt, r/b.txt)')"), code("FIGURE('max', '2996', 1)\nprint('2996 (from r/b.txt)')"),
        code("FINAL('2996 (r/b.txt)')"), code("FINAL('88332 (r/a.txt, r/b.txt)')"),
    ])
    finished = make_engine(root).run("What is the total number of units sold in March across all branches?")
    assert finished.answer == "88332 (r/a.txt, r/b.txt)"
    assert "asks for a total" in last_user(root.calls[3]) and "The total printed was 88332" in last_user(root.calls[3])


def test_a_total_question_answered_with_a_count_of_files_past_a_limit_is_sent_back() -> None:
    # dev set seed 1, numeric 34K: rows.above(1000) after ask_numbers, and its count of
    # files given as the March total
    root = ScriptedBackend()
    root.enqueue([
        code("FIGURE('files above 1000', '45', 45)\nprint('45 files above 1000 (r/a.txt, r/b.txt and 43 more)')"), code("FINAL('45 files above 1000 (r/a.txt, r/b.txt)')"),
        code("FIGURE('total', '96056', 60)\nprint('96056 (total of r/a.txt, r/b.txt and 58 more)')"), code("FINAL('96056')"),
    ])
    finished = make_engine(root).run("What is the total number of units sold in March across all branches?")
    assert finished.answer == "96056"
    assert "a count of files from .above()" in last_user(root.calls[2])


def test_a_which_question_answered_with_a_number_and_a_file_is_sent_back_for_the_name() -> None:
    # dev set seed 1, numeric: "The branch that sold the most units in March: 2893
    # (reports/mainz.txt:2)" names the branch only through its file
    root = ScriptedBackend()
    root.enqueue([code("print('2893 (from r/mainz.txt)')"), code("FINAL('The branch that sold the most units in March: 2893 (r/mainz.txt:2)')"),
                  code("print(read('r/mainz.txt', 1, 3))"), code("FINAL('Mainz: 2893 units in March (r/mainz.txt:2)')")])
    finished = make_engine(root).run("Which branch sold the most units in March?")
    assert finished.answer == "Mainz: 2893 units in March (r/mainz.txt:2)"
    assert "asks which branch, and your answer does not name it" in last_user(root.calls[2])
    # a name passes at once; "which file" is answered by a file
    root = ScriptedBackend()
    root.enqueue([code("print('2893 (from r/mainz.txt)')"), code("FINAL('Mainz (r/mainz.txt:2)')")])
    assert make_engine(root).run("Which branch sold the most units in March?").answer == "Mainz (r/mainz.txt:2)"
    assert len(root.calls) == 2


def test_a_largest_value_question_answered_with_a_total_is_sent_back() -> None:
    root = ScriptedBackend()
    root.enqueue([code("FIGURE('total', '88332')\nprint('88332 (total of r/a.txt, r/b.txt)')"), code("FINAL('88332')"),
                  code("FIGURE('max', '2996', 1)\nprint('2996 (from r/b.txt)')"), code("FINAL('2996')")])
    finished = make_engine(root).run("What is the largest number of units any single branch sold?")
    assert finished.answer == "2996"
    assert "largest or smallest" in last_user(root.calls[2]) and "rows.max()" in last_user(root.calls[2])
    # the right kind of figure passes at once
    root = ScriptedBackend()
    root.enqueue([code("FIGURE('max', '2996', 1)\nprint('2996 (from r/b.txt)')"), code("FINAL('2996')")])
    assert make_engine(root).run("What is the most units one branch sold?").answer == "2996"


def test_answer_computed_by_code_counts_as_grounded() -> None:
    root = ScriptedBackend()
    root.enqueue([code("print(len(files))"), code("n = sum(1 for f in files if 'e' in f.text)\nFINAL(n * 10)")])
    finished = make_engine(root).run("How many files mention e?")
    assert finished.answer == "20"


def test_llm_query_goes_to_sub_backend_as_child_node() -> None:
    root, sub = ScriptedBackend(), ScriptedBackend("sub")
    sub.enqueue(["ORCHID-7731"])
    root.enqueue([code("a = llm_query('Find the code in: ' + files[0].text)\nprint(a)"), code("FINAL(a)")])
    events: list = []
    finished = make_engine(root, sub, events=events).run("What is the vault code?")
    assert finished.answer == "ORCHID-7731"
    assert finished.stats.sub_calls == 1 and finished.stats.depth == 1
    started = [e for e in events if isinstance(e, ev.NodeStarted)]
    assert [s.kind for s in started] == ["root", "llm"]
    assert started[1].parent_id == started[0].node_id
    assert "vault code is ORCHID" in sub.calls[0][-1].content


def test_sub_call_without_corpus_text_is_no_evidence() -> None:
    root, sub = ScriptedBackend(), ScriptedBackend("sub")
    sub.enqueue(["123456"])
    root.enqueue([code("print(llm_query('What is the access code?'))"), code("FINAL('123456')"), code("search('code')"), code("FINAL('ORCHID-7731')")])
    finished = make_engine(root, sub).run("What is the access code?")
    assert finished.answer == "ORCHID-7731"
    assert "in no output you have seen" in last_user(root.calls[2])


def test_long_sub_prompt_is_cut_with_visible_marker() -> None:
    root, sub = ScriptedBackend(), ScriptedBackend("sub", n_ctx=600)
    sub.enqueue(["fine"])
    root.enqueue([code("print(llm_query('word ' * 2000))"), code("FINAL('fine')")])
    make_engine(root, sub).run("Summarize")
    prompt = sub.calls[0][-1].content
    assert re.search(r"\[\.\.\. cut \d+ tokens to fit\]", prompt)
    assert sub.count_chat_tokens(sub.calls[0]) <= 600 - 256


def test_llm_batch_uses_chat_batch_when_available() -> None:
    root, sub = ScriptedBackend(), ScriptedBackend("sub")
    seen: list = []

    def chat_batch(conversations, params, cancel=None):
        seen.append(len(conversations))
        return [sub.chat(c, params) for c in conversations]

    sub.chat_batch = chat_batch  # type: ignore[attr-defined]
    sub.enqueue(["one", "two", "three"])
    root.enqueue([code("r = llm_batch(['a: ' + f.text for f in files] + ['c'])\nprint(r)"), code("FINAL(r[0])")])
    events: list = []
    finished = make_engine(root, sub, events=events).run("Q?")
    assert seen == [3]
    assert finished.answer == "one" and finished.stats.sub_calls == 3
    assert sum(isinstance(e, ev.NodeFinished) for e in events) == 4


def test_rlm_query_at_max_depth_becomes_plain_call() -> None:
    root, sub = ScriptedBackend(), ScriptedBackend("sub")
    sub.enqueue(["blue"])
    root.enqueue([code("print(rlm_query('What colour?', 'The sky is blue.'))"), code("FINAL('blue')")])
    events: list = []
    finished = make_engine(root, sub, events=events, max_depth=1).run("What colour?")
    assert finished.answer == "blue"
    assert [e.kind for e in events if isinstance(e, ev.NodeStarted)] == ["root", "llm"]
    assert "The sky is blue." in sub.calls[0][-1].content


def test_rlm_query_below_max_depth_starts_a_child_rlm() -> None:
    root, sub = ScriptedBackend(), ScriptedBackend("sub")
    sub.enqueue([code("print(files)"), code("FINAL('blue')")])
    root.enqueue([code("c = rlm_query('What colour?', 'The sky is blue.')\nprint(c)"), code("FINAL(c)")])
    events: list = []
    finished = make_engine(root, sub, events=events, max_depth=2).run("What colour?")
    assert finished.answer == "blue"
    started = [e for e in events if isinstance(e, ev.NodeStarted)]
    assert [(s.kind, s.depth) for s in started] == [("root", 0), ("rlm", 1)]
    assert len(FakeSession.instances) == 2
    assert FakeSession.instances[1].config.context_text == "The sky is blue."
    assert all(s.closed for s in FakeSession.instances)


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


def test_answer_loses_copied_search_highlights() -> None:
    root = ScriptedBackend()
    root.enqueue([code("search('vault code')"), code("FINAL('The [vault] [code] is ORCHID-7731 …')")])
    finished = make_engine(root).run("What is the vault code?")
    assert finished.answer == "The vault code is ORCHID-7731"


def test_an_answer_citing_a_line_that_does_not_hold_its_value_cites_the_line_that_does() -> None:
    """Checked against the text at the cited location, not the question's words: the
    question's own names (here "vault") are no evidence for the answer."""
    files = {"/docs/log.txt": "Log\nThe vault code was changed today.\nEnd.", "/docs/a.txt": "Notes\nThe vault code is ORCHID-7731.\n"}
    root = ScriptedBackend()
    root.enqueue([code("search('vault code')"), code("FINAL('The vault code is ORCHID-7731 (docs/log.txt:2)')")])
    events: list = []
    finished = make_engine(root, files=files, events=events).run("What is the vault code?")
    assert finished.answer == "The vault code is ORCHID-7731 (docs/a.txt:2)", finished.answer
    assert any(isinstance(e, ev.Notice) and "cited docs/log.txt:2, which does not say" in e.text for e in events)
    kept = make_engine(ScriptedBackend(responses=[code("search('vault code')"), code("FINAL('ORCHID-7731 (docs/a.txt:2)')")]),
                       files=files).run("What is the vault code?")
    assert kept.answer == "ORCHID-7731 (docs/a.txt:2)"  # a right citation stays as it is


def test_a_batch_past_the_sub_call_budget_is_refused_before_spending_and_the_run_goes_on() -> None:
    # a whole-folder map over more files than the budget has calls left used to end the
    # run on the budget; now the cell is told to narrow or sample, and nothing is spent
    root, sub = ScriptedBackend(), ScriptedBackend("sub")
    sub.default = "blue"
    root.enqueue([
        code("answers = llm_batch(['What colour? ' + f.text for f in files] * 4)"),
        code("answers = llm_batch(['What colour? ' + f.text for f in files])\nprint(answers)"),
        code("FINAL('blue')"),
    ])
    finished = make_engine(root, sub, max_sub_calls=5).run("What colour is mentioned in the files?")
    assert "8 sub-calls asked for at once, and only 5 are left" in last_user(root.calls[1])
    assert "take a sample of at most 5" in last_user(root.calls[1])
    assert finished.status == "ok" and finished.budget is None
    assert finished.stats.sub_calls == 2


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


def test_a_summary_insisted_on_keeps_every_clause_its_outputs_show() -> None:
    # issue 19, item 5: a summary is checked for its facts, not cut to its first clause
    root = ScriptedBackend()
    shown = "print('guide.txt:3: retries default to 5; guide.txt:4: the timeout is 30 seconds')"
    answer = "FINAL('Retries default to 5 (guide.txt:3), the timeout is 30 seconds (guide.txt:4), and the cache holds 800 entries')"
    root.enqueue([code(shown), code(answer), code(answer)])
    events: list = []
    finished = make_engine(root, events=events).run("How does the client retry and time out?")
    assert finished.status == "ok"
    assert finished.answer == "Retries default to 5 (guide.txt:3), the timeout is 30 seconds (guide.txt:4)"
    assert any("left out" in getattr(e, "text", "") for e in events)
