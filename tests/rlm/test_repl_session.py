"""The REPL session as the engine uses it: cells run in a real sandboxed worker process,
sub-calls go through a fake ``on_llm``."""

from __future__ import annotations

import os
import signal
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from rlm_desktop.errors import BudgetExceeded
from rlm_desktop.library.store import Library
from rlm_desktop.rlm.sandbox.session import ReplSession
from rlm_desktop.rlm.sandbox.types import LlmReply, LlmRequest, ReplConfig

PASTED = "first line of the pasted text\nthe secret code is 4711 and nothing else\nlast line\n"


class FakeEngine:
    """Answers sub-calls with a canned text and remembers what it was asked."""

    def __init__(self) -> None:
        self.requests: list[LlmRequest] = []
        self.fail_with: Exception | None = None
        self.delay_s = 0.0

    def __call__(self, request: LlmRequest) -> LlmReply:
        self.requests.append(request)
        if self.delay_s:
            time.sleep(self.delay_s)
        if self.fail_with is not None:
            raise self.fail_with
        if request.kind == "rlm":
            return LlmReply(answers=(f"child answer to {request.prompts[0]}",))
        return LlmReply(answers=tuple(f"answer #{i}" for i, _ in enumerate(request.prompts)))


def make_corpus(root: Path) -> Path:
    (root / "notes").mkdir(parents=True)
    (root / "notes" / "vault.txt").write_text("Vault notes\nThe vault code is 4711.\nKeep it safe.\n")
    (root / "notes" / "garden.md").write_text("# Garden\nTomatoes and the vault key are in the shed.\n")
    (root / "other").mkdir()
    (root / "other" / "garden.md").write_text("# Another garden\nNothing about keys here.\n")
    for i in range(6):
        (root / f"memo{i}.txt").write_text(f"Memo {i}\nbudget line {i}\nbudget total for team {i}\n")
    return root


def build_library(root: Path, db: Path) -> Path:
    lib = Library.open(db)
    lib.add_folder(root)
    lib.scan()
    lib.close()
    return db


@pytest.fixture(scope="module")
def library_db(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    base = tmp_path_factory.mktemp("repl-corpus")
    root = make_corpus(base / "corpus")
    return root, build_library(root, base / "library.db")


@pytest.fixture
def engine() -> FakeEngine:
    return FakeEngine()


@pytest.fixture
def text_session(tmp_path: Path, engine: FakeEngine) -> Iterator[ReplSession]:
    config = ReplConfig(scratch_dir=tmp_path / "scratch", context_text=PASTED, cell_timeout_s=2.0, output_chars=400)
    with ReplSession(config, on_llm=engine) as session:
        yield session


@pytest.fixture
def lib_session(tmp_path: Path, engine: FakeEngine, library_db: tuple[Path, Path]) -> Iterator[ReplSession]:
    root, db = library_db
    config = ReplConfig(scratch_dir=tmp_path / "scratch", library_db=db, roots=(str(root),), cell_timeout_s=5.0)
    with ReplSession(config, on_llm=engine) as session:
        yield session


# ---------------------------------------------------------------- REPL semantics


def test_last_expression_is_echoed_and_strings_print_raw(text_session: ReplSession) -> None:
    assert text_session.run_cell("1 + 2").output == "3\n"
    assert text_session.run_cell("'two\\nlines'").output == "two\nlines\n"
    assert text_session.run_cell("[1, 'a']").output == "[1, 'a']\n"
    assert text_session.run_cell("None").output == ""
    assert text_session.run_cell("x = 5").output == ""


def test_variables_persist_across_cells(text_session: ReplSession) -> None:
    text_session.run_cell("total = 40")
    result = text_session.run_cell("total += 2\nprint('total is', total)")
    assert result.output == "total is 42\n"
    assert "total" in result.variables


def test_long_output_is_cut_with_a_visible_marker(text_session: ReplSession) -> None:
    result = text_session.run_cell("print('a' * 1000 + 'END')")
    assert len(result.output) < 500
    assert "[... 604 more characters ...]" in result.output
    assert result.output.rstrip().endswith("END")


def test_error_is_a_short_traceback_of_the_cells_own_lines(text_session: ReplSession) -> None:
    result = text_session.run_cell("def half(x):\n    return x / 0\n\nhalf(3)")
    assert result.error is not None
    assert "ZeroDivisionError: division by zero" in result.error
    assert "return x / 0" in result.error and "in half" in result.error
    assert "runner.py" not in result.error and "worker" not in result.error


def test_syntax_error_names_the_line(text_session: ReplSession) -> None:
    result = text_session.run_cell("x = 1\nprint(x")
    assert result.error is not None and result.error.startswith("SyntaxError")
    assert "line 2" in result.error


def test_imports_outside_the_allow_list_explain_where_the_files_are(text_session: ReplSession) -> None:
    result = text_session.run_cell("import os")
    assert "not allowed" in result.error
    assert "search()" in result.error
    assert text_session.run_cell("import re, collections\nre.findall(r'\\d+', 'a1b22')").output == "['1', '22']\n"
    assert text_session.run_cell("import datetime\ndatetime.datetime.strptime('2024-03-05', '%Y-%m-%d').day").output == "5\n"


def test_the_scratch_dir_is_writable(text_session: ReplSession, tmp_path: Path) -> None:
    result = text_session.run_cell(
        "with open('./draft.txt', 'w') as fh:\n    fh.write('partial sums')\nopen('draft.txt').read()"
    )
    assert result.output == "partial sums\n", result.error
    assert (tmp_path / "scratch" / "draft.txt").read_text() == "partial sums"


def test_final_sets_the_answer(text_session: ReplSession) -> None:
    result = text_session.run_cell("FINAL('the code is 4711')")
    assert (result.answer, result.answer_ready) == ("the code is 4711", True)


def test_final_takes_extra_arguments_as_where_the_answer_came_from(text_session: ReplSession) -> None:
    result = text_session.run_cell("FINAL('2996 (the largest)', 'reports/bergen.txt:2')")
    assert result.error is None and result.answer == "2996 (the largest) (reports/bergen.txt:2)"
    result = text_session.run_cell("FINAL('2996 (reports/bergen.txt:2)', 'reports/bergen.txt:2')")
    assert result.answer == "2996 (reports/bergen.txt:2)"


def test_final_var_and_missing_name(text_session: ReplSession) -> None:
    text_session.run_cell("found = 'vault in the shed'")
    assert text_session.run_cell("FINAL_VAR('found')").answer == "vault in the shed"
    result = text_session.run_cell("FINAL_VAR('nope')")
    assert result.answer is None and "no variable named 'nope'" in result.error and "found" in result.error


def test_answer_variable_counts_as_the_answer(text_session: ReplSession) -> None:
    assert text_session.run_cell("answer = '42'").answer == "42"
    assert text_session.run_cell("x = 1").answer is None  # not re-reported
    draft = text_session.run_cell("answer = {'content': 'maybe 42', 'ready': False}")
    assert (draft.answer, draft.answer_ready) == ("maybe 42", False)
    again = text_session.run_cell("answer = '42'")  # the same interned string, assigned again
    assert again.answer == "42"


def test_show_vars_lists_user_variables_only(text_session: ReplSession) -> None:
    text_session.run_cell("hits = [1, 2, 3]\nname = 'x'")
    out = text_session.run_cell("SHOW_VARS()").output
    assert "hits: list, len 3" in out and "name: str" in out
    assert "search" not in out and "context" not in out


def test_pasted_text_is_context_and_grep_reports_totals(text_session: ReplSession) -> None:
    assert text_session.run_cell("len(context)").output == f"{len(PASTED)}\n"
    result = text_session.run_cell("grep('line')")
    assert result.output.startswith("grep('line'): showing 2 of 2 matches in 1 files")
    assert "context:1: first line of the pasted text" in result.output
    assert result.corpus_seen
    assert {(s.path, s.line, s.how) for s in result.sources} == {("context", 1, "grep"), ("context", 3, "grep")}


# ---------------------------------------------------------------- the library


def test_context_lists_files_without_loading_text(lib_session: ReplSession) -> None:
    result = lib_session.run_cell("context")
    assert result.output.startswith("Corpus: 9 files")
    assert "notes/vault.txt" in result.output
    assert not result.corpus_seen and result.sources == ()
    sliced = lib_session.run_cell("[f.path.rsplit('/', 1)[1] for f in context[:2]], len(files)")
    assert sliced.output.strip().endswith(", 9)")


def test_search_states_totals_and_locations(lib_session: ReplSession, library_db: tuple[Path, Path]) -> None:
    root, _ = library_db
    result = lib_session.run_cell("search('budget', k=2)")
    assert result.output.startswith("search('budget'): showing 2 of 6 matching files:")
    assert ":2: " in result.output or ":3: " in result.output
    assert len(result.sources) == 2 and all(s.how == "search" and s.line for s in result.sources)
    assert result.corpus_seen


def test_model_code_sees_short_paths_and_citations_keep_full_ones(lib_session: ReplSession, library_db: tuple[Path, Path]) -> None:
    root, _ = library_db
    shown = f"{root.name}/notes/vault.txt"
    result = lib_session.run_cell("r = search('vault code', k=1)\nprint(r)\nprint(files['vault.txt'].path)")
    assert f"{shown}:2: " in result.output
    assert str(root.parent) not in result.output  # the long absolute prefix is gone
    assert result.output.rstrip().endswith(shown)
    assert {s.path for s in result.sources} == {str(root / "notes" / "vault.txt")}
    # a path printed by the tools reads back, and re and collections need no import
    assert lib_session.run_cell(f"read({shown!r}, 2, 2)").output == "2| The vault code is 4711.\n"
    assert lib_session.run_cell("collections.Counter(re.findall('a', 'banana')).most_common(1)").output == "[('a', 3)]\n"


def run_in_folder(tmp_path: Path, engine: FakeEngine, files: dict[str, str], code: str):
    """One cell in a fresh library of ``files`` (name -> text)."""
    root = tmp_path / "folder"
    root.mkdir()
    for name, text in files.items():
        (root / name).write_text(text)
    db = build_library(root, tmp_path / "folder.db")
    config = ReplConfig(scratch_dir=tmp_path / "scratch", library_db=db, roots=(str(root),), cell_timeout_s=5.0)
    with ReplSession(config, on_llm=engine) as session:
        return session.run_cell(code)


def test_a_search_hit_whose_sentence_runs_on_shows_the_next_line(tmp_path: Path, engine: FakeEngine) -> None:
    result = run_in_folder(tmp_path, engine, {
        "a.txt": "Intro line.\nBudget news: the project codenamed Marigold\nis led by Ana Ruiz. She works in room 12.\n",
        "b.txt": "Marigold seeds are sold out.\nNothing else here.\n",
    }, "search('Marigold')")
    assert "a.txt:2: Budget news: the project codenamed [Marigold] is led by Ana Ruiz." in result.output
    # a hit that ends its sentence stays one line
    assert "b.txt:1: [Marigold] seeds are sold out.\n" in result.output


def test_search_says_which_words_no_file_contains(lib_session: ReplSession) -> None:
    result = lib_session.run_cell("r = search('Montevideo vault code')\nprint(r)\nr.missing")
    head = result.output.splitlines()[0]
    assert head == "search('Montevideo vault code'): No file contains 'Montevideo'; showing 2 files with some of the other words:"
    assert result.output.rstrip().endswith("('Montevideo',)")


def test_grep_shows_a_def_whose_parameters_run_over_several_lines_whole(tmp_path: Path, engine: FakeEngine) -> None:
    source = "def iglob(pathname, *, root_dir=None,\n          dir_fd=None, recursive=False,\n          include_hidden=False):\n    pass\n"
    result = run_in_folder(tmp_path, engine, {"glob2.py": source}, "grep(r'def iglob\\(')")
    assert "glob2.py:1: def iglob(pathname, *, root_dir=None, dir_fd=None, recursive=False, include_hidden=False):" in result.output
    assert "pass" not in result.output


def test_grep_in_python_names_the_function_or_method_each_line_is_in(tmp_path: Path, engine: FakeEngine) -> None:
    # dev set, code: "which functions call _join" was answered with grep's line numbers
    source = (
        "import os\n_join(a)\n\ndef glob(p):\n    return _join(p, 'x')\n\n\n"
        "class Finder:\n    def walk(self, d):\n        def inner():\n            return _join(d)\n"
        "        return _join(d, inner())\n\n    x = _join(1)\n"
    )
    result = run_in_folder(tmp_path, engine, {"g.py": source, "n.txt": "_join(here) in prose\n"}, "grep(r'_join\\(')")
    lines = result.output.splitlines()
    assert "g.py:2: _join(a)" in lines[1]  # module level: no scope
    assert "g.py:5 (in glob): return _join(p, 'x')" in lines[2]
    assert "g.py:11 (in Finder.walk.inner): return _join(d)" in lines[3]
    assert "g.py:12 (in Finder.walk): return _join(d, inner())" in lines[4]
    assert "g.py:14 (in Finder): x = _join(1)" in lines[5]
    assert "n.txt:1: _join(here) in prose" in lines[6]  # not Python: no scope
    # the same hits reach the engine's answer rules as data, scope and all
    (fact,) = result.facts
    assert [(line, scope) for _, line, scope, _ in fact.hits] == [(2, ""), (5, "glob"), (11, "Finder.walk.inner"), (12, "Finder.walk"), (14, "Finder"), (1, "")]


def test_the_lines_passages_shows_reach_the_engine_as_data(tmp_path: Path, engine: FakeEngine) -> None:
    # issue 19, item 7: the engine's reading places an answer on these lines, not on the
    # listing's printed text parsed back
    notes = "".join(f"filler line {i}\n" for i in range(1, 60)) + "The lease notice period is\n90 days, in writing.\n"
    result = run_in_folder(tmp_path, engine, {"lease.txt": notes}, "passages('lease notice period', around=1)")
    assert "60| The lease notice period is" in result.output
    (fact,) = result.facts
    assert fact.tool == "passages"
    assert [(Path(path).name, line, page, text) for path, line, page, text in fact.lines] == [
        ("lease.txt", 59, 0, "filler line 59"), ("lease.txt", 60, 0, "The lease notice period is"),
        ("lease.txt", 61, 0, "90 days, in writing.")]


def test_a_tool_called_with_another_tools_arguments_names_its_own(lib_session: ReplSession) -> None:
    result = lib_session.run_cell("search('budget', k=3, around=8)")
    assert "search(query, k=10): got an unexpected keyword argument 'around'" in result.error
    assert "passages(query, k=5, around=4, chars=4500, new_only=False)" in lib_session.run_cell("passages()").error


def test_grep_totals_and_limit(lib_session: ReplSession) -> None:
    result = lib_session.run_cell("r = grep(r'budget \\w+', limit=3)\nr")
    assert "showing 3 of 12 matches in 6 files" in result.output
    assert lib_session.run_cell("r.total, len(r), len(r.paths)").output == "(12, 3, 2)\n"


def test_read_by_unique_suffix_numbers_lines(lib_session: ReplSession, library_db: tuple[Path, Path]) -> None:
    root, _ = library_db
    result = lib_session.run_cell("read('vault.txt', 2, 3)")
    assert result.output == "2| The vault code is 4711.\n3| Keep it safe.\n"
    assert [(s.path, s.line, s.how) for s in result.sources] == [(str(root / "notes" / "vault.txt"), 2, "read")]


def test_read_past_the_end_says_how_long_the_file_is(lib_session: ReplSession) -> None:
    result = lib_session.run_cell("read('vault.txt', 10, 12)")
    assert result.output.strip() == "(nothing there: corpus/notes/vault.txt has 3 lines; lines 10-12 are past its end)"


def test_read_of_an_ambiguous_name_lists_the_candidates(lib_session: ReplSession) -> None:
    result = lib_session.run_cell("read('garden.md')")
    assert "matches 2 files" in result.error
    assert "notes/garden.md" in result.error and "other/garden.md" in result.error
    assert lib_session.run_cell("read('notes/garden.md', 1, 1)").output == "1| # Garden\n"


def test_file_text_loads_lazily_and_is_recorded(lib_session: ReplSession) -> None:
    result = lib_session.run_cell("f = files['vault.txt']\nprint(f.kind, f.lines)\nf.text")
    assert "The vault code is 4711." in result.output
    assert result.corpus_seen
    assert [s.how for s in result.sources] == ["context"]


# ---------------------------------------------------------------- sub-calls


def test_llm_query_round_trips_through_the_engine(lib_session: ReplSession, engine: FakeEngine) -> None:
    result = lib_session.run_cell("a = llm_query('What is 2+2?')\na")
    assert result.output == "answer #0\n"
    assert engine.requests[-1].kind == "query" and engine.requests[-1].prompts == ("What is 2+2?",)
    assert engine.requests[-1].has_corpus_text is False


def test_prompt_with_corpus_text_is_marked_grounded(lib_session: ReplSession, engine: FakeEngine) -> None:
    lib_session.run_cell("t = read('vault.txt')")
    lib_session.run_cell("llm_query('What is the code? ' + t)")
    assert engine.requests[-1].has_corpus_text is True


def test_llm_batch_and_ask_each(lib_session: ReplSession, engine: FakeEngine) -> None:
    assert lib_session.run_cell("llm_batch(['a', 'b', 'c'])").output == "['answer #0', 'answer #1', 'answer #2']\n"
    result = lib_session.run_cell("pairs = ask_each('Is there a code?', search('vault'))\n[p for p, a in pairs]")
    request = engine.requests[-1]
    assert request.kind == "batch" and request.has_corpus_text
    assert len(request.prompts) == 2 and all(p.startswith("Is there a code?") for p in request.prompts)
    assert "The vault code is 4711." in "".join(request.prompts)
    assert "vault.txt" in result.output and "garden.md" in result.output


def test_rlm_query_passes_paths_to_a_child(lib_session: ReplSession, engine: FakeEngine, library_db: tuple[Path, Path]) -> None:
    root, _ = library_db
    result = lib_session.run_cell("rlm_query('Where is the key?', ['notes/garden.md'])")
    assert result.output == "child answer to Where is the key?\n"
    assert engine.requests[-1].kind == "rlm"
    assert engine.requests[-1].context_paths == (str(root / "notes" / "garden.md"),)


def test_engine_errors_reach_the_cell_as_an_exception(lib_session: ReplSession, engine: FakeEngine) -> None:
    engine.fail_with = BudgetExceeded("sub_calls")
    result = lib_session.run_cell("llm_query('x')")
    assert "LlmError: the sub_calls budget is used up" in result.error, result.error
    assert not result.killed


def test_time_waiting_for_the_engine_does_not_count_against_the_cell(tmp_path: Path, engine: FakeEngine) -> None:
    engine.delay_s = 1.5
    config = ReplConfig(scratch_dir=tmp_path / "s", context_text="x", cell_timeout_s=1.0)
    with ReplSession(config, on_llm=engine) as session:
        result = session.run_cell("llm_query('a')")
    assert not result.killed and result.output == "answer #0\n"


# ---------------------------------------------------------------- kills, crashes, restarts


def test_timeout_kills_and_the_next_cell_gets_a_fresh_worker(text_session: ReplSession) -> None:
    text_session.run_cell("kept = 1")
    started = time.monotonic()
    result = text_session.run_cell("while True:\n    pass")
    assert time.monotonic() - started < 4
    assert result.killed and result.kill_reason.startswith("timeout")
    assert "variables from earlier cells are gone" in result.error
    after = text_session.run_cell("FINAL('ok')")
    assert after.answer == "ok"
    assert "NameError" in text_session.run_cell("kept").error


def test_crash_is_reported_as_killed(text_session: ReplSession) -> None:
    pid = text_session._proc.pid

    def crash() -> None:
        time.sleep(0.3)
        os.kill(pid, signal.SIGSEGV)

    threading.Thread(target=crash).start()
    result = text_session.run_cell("while True:\n    pass")
    assert result.killed and "segmentation fault" in result.kill_reason
    assert text_session.run_cell("FINAL('ok')").answer == "ok"


def test_kill_from_another_thread_returns_quickly(text_session: ReplSession) -> None:
    timer = threading.Timer(0.3, text_session.kill)
    timer.start()
    started = time.monotonic()
    result = text_session.run_cell("while True:\n    pass")
    elapsed = time.monotonic() - started
    timer.join()
    assert result.killed and result.kill_reason == "stopped by the user"
    assert elapsed < 1.5
    assert text_session.run_cell("FINAL('ok')").answer == "ok"


def test_kill_while_the_engine_answers_a_sub_call(tmp_path: Path, engine: FakeEngine) -> None:
    engine.delay_s = 0.5
    with ReplSession(ReplConfig(scratch_dir=tmp_path / "s", context_text="x"), on_llm=engine) as session:
        threading.Timer(0.1, session.kill).start()
        result = session.run_cell("llm_query('slow')")
    assert result.killed and result.kill_reason == "stopped by the user"


def test_kill_while_a_fresh_worker_starts_is_a_stop_not_an_error(text_session: ReplSession) -> None:
    text_session.kill()  # the next cell has to start a new worker
    threading.Timer(0.05, text_session.kill).start()
    result = text_session.run_cell("while True:\n    pass")
    assert result.killed and result.kill_reason == "stopped by the user"
    assert text_session.run_cell("FINAL('ok')").answer == "ok"


def test_huge_answers_and_many_variables_stay_within_the_pipe_limits(text_session: ReplSession) -> None:
    result = text_session.run_cell("for i in range(5000):\n    globals()[f'v{i}'] = i\nFINAL('x' * 10**8)")
    assert result.answer.startswith("xxx") and result.answer.endswith("more characters]")
    assert len(result.answer) < 300_000 and len(result.variables) == 300
    assert not result.killed


def test_pdf_pages_are_cited_and_shown(tmp_path: Path, engine: FakeEngine) -> None:
    from tests.library.conftest import make_pdf

    folder = tmp_path / "pdfs"
    folder.mkdir()
    make_pdf(folder / "deed.pdf", [["Cover page"], ["Clause 4", "The vault code is 99."]])
    db = build_library(folder, tmp_path / "library.db")
    with ReplSession(ReplConfig(scratch_dir=tmp_path / "s", library_db=db), on_llm=engine) as session:
        grep = session.run_cell("grep('vault code')")
        page = session.run_cell("read('deed.pdf', 2, 2)")
    assert "deed.pdf#page=2:2: The vault code is 99." in grep.output
    assert grep.sources[0].page == 2
    assert page.output == "[page 2]\nClause 4\nThe vault code is 99.\n"
    assert page.sources[0].page == 2


def test_roots_limit_what_the_cell_can_see(tmp_path: Path, engine: FakeEngine, library_db: tuple[Path, Path]) -> None:
    root, db = library_db
    config = ReplConfig(scratch_dir=tmp_path / "s", library_db=db, roots=(str(root / "notes"),))
    with ReplSession(config, on_llm=engine) as session:
        assert session.run_cell("len(context)").output == "2\n"
        assert "no file matches 'memo1.txt'" in session.run_cell("read('memo1.txt')").error
        assert session.run_cell("grep('budget')").output.startswith("grep('budget'): no matches")
