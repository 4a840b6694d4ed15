"""The answer checks in the loop: what a user would see sent back (ungrounded values, a
location for a value, a total for a maximum, callers that do not call) and what is mended
(a cut-off FINAL, copied highlights, a citation of the wrong line, invented clauses)."""

from __future__ import annotations

from rlm_desktop.rlm import events as ev
from tests.fakes import ScriptedBackend
from tests.rlm.engine_fakes import FakeSession, code, last_user, make_engine


def test_ungrounded_answer_is_refused_once() -> None:
    root = ScriptedBackend()
    root.enqueue([code("search('vault')"), code("FINAL('The code is 123456')"), code("FINAL('ORCHID-7731')")])
    events: list = []
    finished = make_engine(root, events=events).run("What is the vault code?")
    assert finished.answer == "ORCHID-7731"
    assert "'123456'" in last_user(root.calls[2])
    # the trace names the rule that sent the answer back; the model is sent the nudge alone
    (sent,) = [e.text for e in events if isinstance(e, ev.Notice) and "'123456'" in e.text]
    assert sent.startswith("[ungrounded] ") and not last_user(root.calls[2]).count("[ungrounded]")


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


def test_a_bare_location_is_sent_back_when_the_plan_wants_a_value_whatever_the_question_says() -> None:
    # dev, click-src-01: "what file extension does the temporary file get" has "what file"
    # in it, and a question regex let "src/click/core.py:2477" through as the answer
    root, sub = ScriptedBackend(), ScriptedBackend("sub")
    sub.router_answer = "lookup"  # the scripted plan: a value in one place
    root.enqueue([code("search('vault')"), code("FINAL('notes/vault.txt:3')"), code("FINAL('ORCHID-7731 (notes/vault.txt:3)')")])
    finished = make_engine(root, sub).run("What file extension does the vault code use?")
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
