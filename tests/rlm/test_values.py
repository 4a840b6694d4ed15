"""Numbers read out of sub-model replies and checked against the file's text before a
reduce adds them up (rlm/tools/values.py): the phrasings a 0.5B model answers with, and
the distractors (years, other figures of the same sentence) it answers with wrongly."""

from __future__ import annotations

import pytest

from rlm_desktop.rlm.tools.numbers import numbers_in, parse_number
from rlm_desktop.rlm.tools.rows import Numbers, Row
from rlm_desktop.rlm.tools.values import (
    candidates,
    check_value,
    excerpt,
    expected_kind,
    parse_reply,
    settle,
    split_periods,
    text_answer,
)

Q = "How many units did the branch sell in March?"
REPORT = (
    "North branch report, 2024.\n"
    "In March the North branch sold 1,250 units to 31 customers. Staff: 12.\n"
    "Opening hours changed on 2024-03-15 at 10:30."
)


@pytest.mark.parametrize(
    ("reply", "value"),
    [
        ("1250", 1250),
        ("1,250", 1250),
        ("12 345", 12345),
        ("12\u00a0345 units", 12345),
        ("1,234,567", 1234567),
        ("The total is 3.75.", 3.75),
        ("$1,250.50", 1250.5),
        ("-42", -42),
        ("a loss of \u22127", -7),
        ("minus twelve", -12),
        ("forty-one", 41),
        ("Forty one units", 41),
        ("two thousand five hundred and six", 2506),
        ("one hundred and six", 106),
        ("twelve hundred", 1200),
        ("a dozen", 12),
        ("a thousand", 1000),
        ("3.2 million", 3_200_000),
        ("12k", 12_000),
        ("4bn", 4_000_000_000),
        ("ninety-nine thousand nine hundred and ninety-nine", 99_999),
        ("two million three hundred thousand", 2_300_000),
        ("**1,250** units", 1250),
    ],
)
def test_parse_number_reads_digits_and_words(reply: str, value: float) -> None:
    assert parse_number(reply) == value


@pytest.mark.parametrize("reply", ["none", "The text does not say.", "N/A", "not mentioned", ""])
def test_a_reply_without_a_number_parses_to_none(reply: str) -> None:
    assert parse_number(reply) is None
    assert parse_reply(reply, Q).value is None


def test_numbers_in_lists_each_number_with_its_sentence() -> None:
    found = numbers_in(REPORT)
    assert [m.value for m in found] == [2024, 1250, 31, 12]  # the date and the time are no quantities
    assert found[1].surface == "1,250"
    assert found[1].sentence == "In March the North branch sold 1,250 units to 31 customers."
    assert found[3].sentence == "Staff: 12."
    assert REPORT[found[1].start:found[1].end] == "1,250"


def test_numbers_in_skips_ordinals_codes_and_pronouns() -> None:
    assert numbers_in("On March 31st the Q1 figures for B12 came in") == []
    assert numbers_in("the one in March, one of the branches") == []
    assert [m.value for m in numbers_in("one two three")] == [1, 2, 3]


def test_numbers_in_a_comma_separated_row_are_fields_not_thousands() -> None:
    assert [m.value for m in numbers_in("North,March,120,340")] == [120, 340]
    assert [m.value for m in numbers_in("It sold 120,340 units, mostly online.")] == [120340]


def test_words_and_digits_of_the_same_number_match() -> None:
    text = "The East branch sold two thousand five hundred and six units in March."
    assert check_value(parse_reply("2,506", Q), text, Q).ok
    assert check_value(parse_reply("two thousand five hundred and six", Q), "In March it sold 2506 units.", Q).ok


def test_a_value_stated_by_the_question_words_passes() -> None:
    assert check_value(parse_reply("The North branch sold 1,250 units in March.", Q), REPORT, Q).ok


def test_a_year_beside_the_figure_in_a_reply_is_not_a_second_number() -> None:
    parsed = parse_reply("In March 2024 the branch sold 1,250 units.", Q)
    assert parsed.value == 1250 and parsed.numbers == (1250,)
    assert check_value(parsed, REPORT, Q).ok


def test_sold_meets_sell_so_the_figure_by_the_verb_wins_over_a_nearby_count() -> None:
    text = "The Hill branch had 52 visitors a day in March and sold 610 units that month; February was 590."
    assert check_value(parse_reply("610", Q), text, Q).ok
    assert not check_value(parse_reply("52", Q), text, Q).ok
    assert not check_value(parse_reply("590", Q), text, Q).ok


def test_a_number_of_the_question_is_not_the_answer() -> None:
    question = "How many units did the branch sell in March 2024?"
    assert parse_reply("In March 2024: 1,250", question).value == 1250
    assert not check_value(parse_reply("2024", question), REPORT, question).ok


@pytest.mark.parametrize(
    ("reply", "reason"),
    [
        ("999", "not stated in the text"),
        ("31", "another figure"),  # the customers of the same sentence
        ("12", "another figure"),  # the staff count
        ("2024", "another figure"),  # the year
        ("-1250", "negative"),
        ("1250.5", "fractional"),
        ("1,250 units to 31 customers", "several numbers"),
        ("none", "no number"),
    ],
)
def test_a_wrong_or_doubtful_value_is_unverified(reply: str, reason: str) -> None:
    check = check_value(parse_reply(reply, Q), REPORT, Q)
    assert not check.ok
    assert reason in check.reason


def test_an_amount_may_be_fractional_but_a_count_may_not() -> None:
    assert expected_kind("How many units were sold?") == "count"
    assert expected_kind("What was the revenue in March?") == "number"
    text = "Revenue in March was 1,250.75 dollars."
    assert check_value(parse_reply("1250.75", "What was the revenue in March?"), text, "What was the revenue in March?").ok


def test_candidates_are_the_texts_whole_numbers_for_a_count_likeliest_first() -> None:
    text = "In March the branch sold 1,250 units (up 3.5 percent) to 31 customers; -4 returns."
    assert [m.value for m in candidates(text, Q)] == [1250, 31]
    assert sorted(m.value for m in candidates(text, "What was the growth rate in March?")) == [-4, 3.5, 31, 1250]
    assert [m.value for m in candidates(REPORT, Q)] == [1250, 31, 2024, 12]
    assert 2024 not in [m.value for m in candidates(REPORT, "How many units did the branch sell in March 2024?")]
    words = candidates("It has 7 staff. The branch sold nine hundred and eighty units in March.", Q)
    assert [(m.value, m.surface) for m in words] == [(980, "nine hundred and eighty"), (7, "7")]


def test_excerpt_keeps_a_short_text_and_cuts_a_long_one_to_relevant_sentences() -> None:
    assert excerpt(REPORT, Q) == REPORT
    filler = "The weather was mild and the parking lot was repainted. " * 60
    long = "Branch report\n" + filler + "In March the branch sold 1,250 units. " + filler + "Staff: 12."
    cut = excerpt(long, Q, max_chars=600)
    assert len(cut) <= 700
    assert "sold 1,250 units" in cut and cut.startswith("Branch report")
    assert "parking" not in cut


def _settle(first: str, second: str | None):
    one = parse_reply(first, Q)
    two = None if second is None else parse_reply(second, Q)
    return settle("north.txt", one, check_value(one, REPORT, Q), two, None if two is None else check_value(two, REPORT, Q))


def test_settle_prefers_a_checked_reply_then_a_checked_second_pass() -> None:
    assert _settle("1250", None) == (Row("north.txt", 1250, "ok"), "")
    row, note = _settle("31", "1250")
    assert row == Row("north.txt", 1250, "second_pass") and "first reply 31" in note
    # the second reply also fails its check: the model and the text disagree
    row, note = _settle("31", "31")
    assert row == Row("north.txt", 31, "unverified") and "asked again: 31" in note
    assert _settle("999", "777")[0] == Row("north.txt", 999, "unverified")
    assert _settle("none", "none")[0] == Row("north.txt", None, "none")
    assert _settle("none", "12")[0] == Row("north.txt", 12, "unverified")


def test_numbers_reduce_over_verified_values_with_their_paths() -> None:
    rows = [
        Row("north.txt", 1250, "ok"),
        Row("south.txt", 980, "second_pass"),
        Row("east.txt", 31, "unverified"),
        Row("west.txt", None, "none"),
        Row("centre.txt", 1250, "ok"),
    ]
    numbers = Numbers(Q, rows, ["", "first reply 12: x", "not stated in the text", "", ""], 5)
    total = numbers.total()
    assert total.value == 1250 + 980 + 1250
    assert total.paths == ("north.txt", "south.txt", "centre.txt")
    assert numbers.total(include_unverified=True).value == 1250 + 980 + 1250 + 31
    assert numbers.max().value == 1250 and numbers.max().paths == ("north.txt", "centre.txt")
    assert numbers.min()[:3] == (980, ("south.txt",), "min") and numbers.min().left_out == ("east.txt", "west.txt")
    value, paths, *_ = numbers.min()
    assert (value, paths) == (980, ("south.txt",))
    shown = repr(numbers)
    assert shown.startswith("4 values from 5 files (1 unverified: east.txt)")
    assert "east.txt: 31 (unverified: not stated in the text)" in shown
    assert repr(total).startswith("3480 (total of north.txt, south.txt, centre.txt) -- not counted: 2 of 5 files (east.txt, west.txt)")
    assert repr(numbers.max()).startswith("1250 (from north.txt, centre.txt) -- not counted")
    assert repr(Numbers(Q, [], [], 0).total()) == "no verified values for the total"


def test_decimal_totals_have_no_float_noise() -> None:
    numbers = Numbers("revenue?", [Row("a", 0.1, "ok"), Row("b", 0.2, "ok")], ["", ""], 2)
    assert numbers.total().value == 0.3


# ---------------------------------------------------------------- ask_numbers in the REPL, driven by the engine

BRANCHES = {
    "north.txt": "North branch report, 2024.\nIn March the North branch sold 1,250 units to 31 customers.\nStaff: 12.\n",
    "south.txt": "South branch, 2024. The South branch sold nine hundred and eighty units in March.\n",
    "east.txt": "East branch report, 2024.\nIn March the East branch sold 700 units to 45 customers.\nStaff: 9.\n",
}
QUESTION = "How many units did the branch sell in March?"
# the sub-model's first replies: right for north and south, the customers for east
FIRST = {"north.txt": "1250", "south.txt": "980", "east.txt": "45"}
SECOND = {"north.txt": "1250", "south.txt": "980", "east.txt": "700"}


@pytest.fixture
def branches(tmp_path):
    from rlm_desktop.library.store import Library

    docs = tmp_path / "branches"
    docs.mkdir()
    for name, text in BRANCHES.items():
        (docs / name).write_text(text)
    lib = Library.open(tmp_path / "library.db")
    lib.add_folder(docs)
    lib.scan()
    yield lib
    lib.close()


def _sub_model(prompts_seen: list[str]):
    """Answers like a 0.5B model that misreads east.txt once: the list of candidates fixes it."""

    def reply(messages) -> str:
        prompt = messages[-1].content
        prompts_seen.append(prompt)
        name = next(n for n in BRANCHES if f"{n}:\n---" in prompt)
        return (SECOND if "Which of these numbers" in prompt else FIRST)[name]

    return reply


def _run(library, ablate: tuple[str, ...] = ()):
    from rlm_desktop.rlm.engine import Engine
    from rlm_desktop.settings import Settings
    from tests.fakes import ScriptedBackend

    root, sub = ScriptedBackend("root"), ScriptedBackend("sub")
    prompts_seen: list[str] = []
    sub.default = _sub_model(prompts_seen)
    root.enqueue([
        f"```python\nrows = ask_numbers({QUESTION!r}, files)\nprint(rows)\n```",
        "```python\nFINAL(rows.total())\n```",
    ])
    finished = Engine(root, sub, library, Settings(ablate=ablate)).run("How many units were sold in March across all branches?")
    return finished, root, prompts_seen


def test_ask_numbers_second_pass_fixes_a_misread_value_and_keeps_citations(branches) -> None:
    finished, root, prompts_seen = _run(branches)
    shown = root.calls[1][-1].content
    assert "3 values from 3 files" in shown and "unverified" not in shown.splitlines()[0]
    assert "east.txt: 700 (second_pass: first reply 45" in shown
    assert finished.status == "ok"
    assert finished.answer.startswith("2930 (total of ")
    assert all(name in finished.answer for name in BRANCHES)
    assert {c.path.rsplit("/", 1)[-1] for c in finished.citations} >= set(BRANCHES)
    # one batch of three, then one stricter prompt for east.txt only, listing its candidates
    assert len(prompts_seen) == 4
    second = prompts_seen[3]
    assert "east.txt" in second and "Which of these numbers answers it?" in second
    listed = [line.split(" ", 2)[1] for line in second.splitlines() if line.startswith("- ")]
    assert listed == ["700", "45", "2024", "9"]  # the likeliest first
    assert '- 700 ("700" in "In March the East branch sold 700 units to 45 customers.")' in second


def test_ask_numbers_with_the_check_ablated_adds_up_the_misread_value(branches) -> None:
    finished, root, prompts_seen = _run(branches, ablate=("check_values",))
    assert len(prompts_seen) == 3  # no second pass
    assert "east.txt: 45 (ok)" in root.calls[1][-1].content
    assert finished.answer.startswith("2275 (total of ")


WRAPPED = ("Branch report: Hull\n\nThe branch employs 57 people. In February it had sold one thousand seven hundred and\n"
           "ninety-seven units. Hull closed March with two thousand three hundred\nand eighty-six units sold. The "
           "branch opened in 1982 and nobody there remembers a quieter year than this one.\n")
MARCH = "How many units sold in March across all branches?"


def test_a_number_written_in_words_across_a_line_break_is_read_whole() -> None:
    assert [m.value for m in numbers_in(WRAPPED)][:3] == [57, 1797, 2386]


def test_the_figure_of_the_month_the_question_names_beats_another_months() -> None:
    # "sold ... units" shares two words with the question, but it is February's figure
    assert text_answer(WRAPPED, MARCH).value == 2386
    assert check_value(parse_reply("1797", MARCH), WRAPPED, MARCH).ok is False


def test_when_both_replies_fail_a_clear_figure_of_the_text_is_used_and_said_so() -> None:
    first, second = parse_reply("17", MARCH), parse_reply("2896", MARCH)
    row, note = settle("hull.txt", first, check_value(first, WRAPPED, MARCH), second, check_value(second, WRAPPED, MARCH),
                       text_answer(WRAPPED, MARCH))
    assert (row.value, row.status) == (2386, "from_text")
    assert "replies 17; asked again: 2896 failed" in note


def test_a_total_that_leaves_files_out_says_which() -> None:
    rows = Numbers("q", [Row("a.txt", 10, "ok"), Row("b.txt", 5, "unverified"), Row("c.txt", None, "none")], ["", "", ""], 3)
    total = rows.total()
    assert total.value == 10
    assert "not counted: 2 of 3 files (b.txt, c.txt)" in repr(total)
    assert "not counted" not in repr(Numbers("q", [Row("a.txt", 10, "ok")], [""], 1).total())


def test_above_and_below_count_the_files_past_a_number_with_their_paths() -> None:
    # dev set, numeric: "How many branches sold more than 792 units in March?"
    rows = Numbers("q", [Row("a.txt", 1993, "ok"), Row("b.txt", 792, "ok"), Row("c.txt", 5, "second_pass"),
                         Row("d.txt", 2000, "unverified"), Row("e.txt", None, "none")], [""] * 5, 5)
    above = rows.above(792)
    assert above.value == 1 and above.paths == ("a.txt",)  # 792 itself is not more than 792
    assert repr(above).startswith("1 file above 792 (a.txt) -- not counted: 2 of 5 files (d.txt, e.txt)")
    assert rows.below(792).paths == ("c.txt",)
    assert rows.above(792, include_unverified=True).value == 2
    assert "above(n)" in repr(rows)


def test_people_staff_employees_and_headcount_are_one_word_for_the_checks() -> None:
    # dev set, numeric: "How many people do all the branches employ?" took the year the
    # branch opened (1993) from files that say "Headcount: 51": no shared word, a tie at 0
    text = "The branch opened in 1993. In February it had sold 999 units. The Leiden team moved 280\nunits during March. Headcount: 51.\n"
    question = "How many people do all the branches employ?"
    assert check_value(parse_reply("1993", question), text, question).ok is False
    assert check_value(parse_reply("51", question), text, question).ok is True
    assert text_answer(text, question).value == 51


def test_a_word_most_figures_of_the_report_share_counts_half() -> None:
    # numeric re-check, Ypres: "sold one hundred and forty-nine units" (next to "branch")
    # tied with "It has a staff of 31" for a headcount question, and 149 was added up
    text = ("Branch report: Ypres\n\nIn March the Ypres branch sold one hundred and forty-nine units. It has a staff of 31.\n"
            "That compares with two thousand two hundred and thirty-three units in February. The branch\nopened in 1987.\n")
    question = "How many people do all the branches employ in total?"
    assert check_value(parse_reply("149", question), text, question).ok is False
    assert text_answer(text, question).value == 31
    # the units question still reads the March figure
    assert text_answer(text, "How many units were sold in March?").value == 149


def test_the_thing_a_question_counts_over_counts_half() -> None:
    # dev set seed 1, Essen: only two of five figure sentences say "branch", so "branch"
    # counted in full, and "the Essen branch sold one thousand one hundred and ten units"
    # tied with "Headcount: twenty-eight"; the second pass then added up 1110
    text = ("Branch report: Essen\n\nThis idea is even built into the hardware now: since the 1980s, instruction sets have been\n"
            "designed for compilers.\n\nIn March the Essen branch sold one thousand one hundred and ten units. Headcount: twenty-\n"
            "eight. That compares with 1,032 units in February. The branch opened in 1965.\n")
    question = "How many people do all the branches employ in total?"
    assert text_answer(text, question).value == 28
    assert check_value(parse_reply("1110", question), text, question).ok is False
    # a question about one branch keeps "branch" as a full key
    assert text_answer(text, "How many units did the branch sell in March?").value == 1110


def test_a_question_joining_two_months_is_asked_once_per_month_and_added_per_file(branches) -> None:
    # dev set, numeric: "in March and February together" asked in one go; every file states
    # the months apart, so each reply was one month's figure and the total was far off
    assert split_periods("How many units were sold in March and February together?") == [
        "How many units were sold in March?", "How many units were sold in February?"]
    assert split_periods("How many units were sold in March?") == ["How many units were sold in March?"]
    from rlm_desktop.rlm.engine import Engine
    from rlm_desktop.settings import Settings
    from tests.fakes import ScriptedBackend

    feb = {"north.txt": "80", "south.txt": "20", "east.txt": "5"}

    def reply(messages) -> str:
        prompt = messages[-1].content
        name = next(n for n in BRANCHES if f"{n}:\n---" in prompt)
        return feb[name] if "February" in prompt else SECOND[name]

    texts = {"north.txt": "In February the North branch sold 80 units.", "south.txt": "It sold 20 units in February.",
             "east.txt": "February: the East branch sold 5 units."}
    for name, extra in texts.items():
        path = next(p for p in branches.files() if p.path.endswith(name)).path
        with open(path, "a") as f:
            f.write(extra + "\n")
    branches.scan()
    root, sub = ScriptedBackend("root"), ScriptedBackend("sub")
    sub.default = reply
    root.enqueue(["```python\nrows = ask_numbers('How many units did the branch sell in March and February together?', files)\nprint(rows)\n```",
                  "```python\nFINAL(rows.total())\n```"])
    finished = Engine(root, sub, branches, Settings()).run("How many units were sold in March and February together?")
    shown = root.calls[1][-1].content
    assert "Asked once for each and added per file: 'How many units did the branch sell in March?', " in shown
    assert "north.txt: 1330 (ok: 1250 (" in shown and "; 80 (ok))" in shown
    assert finished.answer.startswith("3035 (total of ")  # 1250+980+700 in March, 80+20+5 in February


def test_an_excerpt_keeps_a_hard_wrapped_sentence_on_one_line_so_its_number_words_stay_whole() -> None:
    # the 60-report dev corpus: "Kiel closed March with two" / "thousand eight hundred
    # and sixty-three units sold." read as 863 (and "one" / "thousand ..." as 1)
    filler = "Some filler prose that has nothing to do with any of the figures here at all, none. " * 30
    text = (
        "Branch report: Kiel\n" + filler + "\n"
        "The branch opened in 2010. In February it had sold 839 units. Kiel closed March with two\n"
        "thousand eight hundred and sixty-three units sold. The branch employs 45 people.\n" + filler
    )
    question = "How many units were sold in March?"
    shown = excerpt(text, question)
    assert len(shown) < len(text)
    assert "Kiel closed March with two thousand eight hundred and sixty-three units sold." in shown
    assert text_answer(shown, question).value == 2863


def test_a_wrapped_line_that_ends_in_a_colon_joins_the_next() -> None:
    # Faro's report: its two halves were two sentences, "March sales at Faro:" had the
    # month and no number, and the branch's staff of 44 tied with the units
    text = ("The branch opened in 1997. February's figure was 1,552 units. March sales at Faro:\n"
            "two thousand three hundred and sixteen units. The branch employs 44 people.")
    assert text_answer(text, "How many units sold in March across all branches?").value == 2316


def test_a_sentence_about_another_month_loses_to_the_asked_month_even_with_more_shared_words() -> None:
    text = "In March the Graz branch sold 2,056 units.\nThe branch opened in 1970.\nThat compares with 2949 units in February."
    assert text_answer(text, "How many units were sold in February across all branches?").value == 2949
    assert text_answer(text, "How many units were sold in March across all branches?").value == 2056


def test_a_threshold_the_question_states_can_be_a_files_own_figure() -> None:
    # dev set seed 1: "more than 1658" where the median branch sold exactly 1658; its reply
    # was dropped as the question's own number and the essay's 1950 taken instead
    text = ("Branch report: Uppsala\n\nA reliable supply was more important than low cost in the 1950s.\n"
            "Uppsala closed March with 1658 units sold. It has a staff of 40.\n")
    question = "How many branches sold more than 1658 units in March?"
    assert text_answer(text, question).value == 1658
    assert parse_reply("1658", question).value == 1658
    assert check_value(parse_reply("1658", question), text, question).ok
    # a number the question states otherwise is still never the answer
    assert parse_reply("2024", "How many units were sold in March 2024?").value is None



STAFF_Q = "How many people do all the branches employ in total?"
# seed 2 of the dev set, reports/aarhus.txt: the essay's "4 people" ties with the headcount
AARHUS = ("Branch report: Aarhus\n\nIf we assume 4 people per startup, which is probably an overestimate, that's 2500 "
          "new companies.\nHeadcount: fifty. Aarhus closed March with three hundred and twenty-nine units sold. "
          "The branch opened in 1987.\n")
STAFFED = {
    "varna.txt": "Branch report: Varna\n\nIn March the Varna branch sold 1320 units. Headcount: 67.\n",
    "xanten.txt": "Branch report: Xanten\n\nIt has a staff of 40. In February it had sold 863 units.\n",
    "cork.txt": "Branch report: Cork\n\nHeadcount: 12. Cork closed March with 950 units sold.\n",
    "linz.txt": "Branch report: Linz\n\nIt has a staff of 9. The branch opened in 1990.\n",
}


def test_a_figure_phrased_like_the_other_files_verified_ones_settles_a_tie() -> None:
    from rlm_desktop.rlm.tools.values import peer_answer, verified_phrasing

    assert text_answer(AARHUS, STAFF_Q) is None  # "4 people" and "Headcount: fifty" tie on the question's words
    values = {"varna.txt": 67, "xanten.txt": 40, "cork.txt": 12, "linz.txt": 9}
    peers = [verified_phrasing(STAFFED[name], value, STAFF_Q) for name, value in values.items()]
    assert peers[0] == frozenset({"headcount"})
    assert peer_answer(AARHUS, STAFF_Q, peers).value == 50
    assert peer_answer(AARHUS, STAFF_Q, peers[:2]) is None  # too few files to say how the figure is phrased


# seed 2, reports/nantes.txt: "the Nantes branch sold 273" ties with "a staff of 57" on the question's words
NANTES = ("Branch report: Nantes\n\nSurely the gap is bridgeable: we're within a factor of 4 or so. The dictator in "
          "the 1984 ad isn't Microsoft, incidentally. He couldn't even afford a monitor.\nFebruary's figure was 1334 units. "
          "It has a staff of 57. The branch opened in 1996. In March the Nantes branch sold 273 units.\n")


def test_a_value_that_passed_on_a_tie_but_is_phrased_unlike_the_other_files_is_replaced() -> None:
    from rlm_desktop.rlm.tools.values import odd_one_out, verified_phrasing

    question = "How many staff does the branch have?"
    assert check_value(parse_reply("273", question), NANTES, question).ok  # the tie passes the check
    values = {"varna.txt": 67, "xanten.txt": 40, "cork.txt": 12, "linz.txt": 9}
    peers = [verified_phrasing(STAFFED[name], value, question) for name, value in values.items()]
    assert odd_one_out(NANTES, 273, question, peers).value == 57
    assert odd_one_out(NANTES, 57, question, peers) is None  # phrased like the others: kept


def test_ask_numbers_takes_the_figure_phrased_like_the_verified_files_when_the_replies_fail(tmp_path) -> None:
    from rlm_desktop.library.store import Library
    from rlm_desktop.rlm.engine import Engine
    from rlm_desktop.settings import Settings
    from tests.fakes import ScriptedBackend

    docs = tmp_path / "reports"
    docs.mkdir()
    for name, text in {**STAFFED, "aarhus.txt": AARHUS, "nantes.txt": NANTES}.items():
        (docs / name).write_text(text)
    replies = {"varna.txt": "67", "xanten.txt": "40", "cork.txt": "12", "linz.txt": "9", "aarhus.txt": "The text does not say.",
               "nantes.txt": "273"}

    def reply(messages) -> str:
        return next(answer for name, answer in replies.items() if f"{name}:\n---" in messages[-1].content)

    lib = Library.open(tmp_path / "library.db")
    lib.add_folder(docs)
    lib.scan()
    root, sub = ScriptedBackend("root"), ScriptedBackend("sub")
    sub.default = reply
    root.enqueue(["```python\nrows = ask_numbers('How many people does the branch employ?', files)\nprint(rows)\n```",
                  "```python\nFINAL(rows.total())\n```"])
    try:
        finished = Engine(root, sub, lib, Settings()).run(STAFF_Q)
    finally:
        lib.close()
    listing = root.calls[1][-1].content
    assert "aarhus.txt: 50 (from_peers: replies gave no number; the text's figure phrased like the verified files'" in listing
    assert "nantes.txt: 57 (from_peers: the reply's 273 is in a sentence unlike theirs" in listing
    assert finished.answer.startswith("235 (total of ")  # 67 + 40 + 12 + 9 + 50 + 57, nothing left out


def _phrased(sentences: list[tuple[str, int]], question: str) -> list[frozenset[str]]:
    from rlm_desktop.rlm.tools.values import verified_phrasing

    return [verified_phrasing(text, value, question) for text, value in sentences]  # type: ignore[misc]


def test_a_few_wrongly_verified_values_do_not_make_their_phrasing_usual() -> None:
    from rlm_desktop.rlm.tools.values import odd_one_out

    question = "How many staff does the branch have?"
    staff = [(f"Headcount: {n}.", n) for n in range(10, 17)] + [(f"It has a staff of {n}.", n) for n in range(20, 27)]
    staff += [(f"The branch employs {n} people.", n) for n in range(30, 37)]
    wrong = [(f"In March the Graz branch sold {n} units.", n) for n in (1200, 1300)]  # passed on a tie
    assert odd_one_out(NANTES, 273, question, _phrased(staff + wrong, question)).value == 57


def test_a_right_value_in_a_rarer_phrasing_is_kept() -> None:
    from rlm_desktop.rlm.tools.values import odd_one_out

    question = "How many units did the branch sell in March?"
    usual = [(f"In March the Graz branch sold {n} units.", n) for n in range(1000, 1016)]
    usual += [(f"Oulu closed March with {n} units sold.", n) for n in range(2000, 2016)]
    rare = "Branch report: Koper\n\nThe branch employs 62 people. March sales at Koper: 2660. It opened in 1990.\n"
    assert odd_one_out(rare, 2660, question, _phrased(usual + [("March sales at Vigo: 1500.", 1500)], question)) is None


def test_a_total_question_answered_with_rows_max_is_sent_back_through_the_real_worker(branches) -> None:
    # the figure's kind reaches the answer rules as a field of the cell's result
    from rlm_desktop.rlm.engine import Engine
    from rlm_desktop.settings import Settings
    from tests.fakes import ScriptedBackend

    root, sub = ScriptedBackend("root"), ScriptedBackend("sub")
    sub.default = _sub_model([])
    root.enqueue([
        f"```python\nrows = ask_numbers({QUESTION!r}, files)\nprint(rows)\n```",
        "```python\nbiggest = rows.max()\nFINAL(biggest)\n```",
        "```python\nFINAL(rows.total())\n```",
    ])
    finished = Engine(root, sub, branches, Settings()).run("How many units were sold in March across all branches in total?")
    assert "asks for a total" in root.calls[2][-1].content
    assert finished.answer.startswith("2930 (total of ")
