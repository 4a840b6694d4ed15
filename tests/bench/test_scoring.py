"""The scorer decides what the benchmark reports, so its rules are pinned here."""

from __future__ import annotations

import pytest

from rlm_desktop.bench.scoring import numbers_in, score
from rlm_desktop.bench.tasks.base import Corpus, Task

CORPUS = Corpus("c", (("a.txt", "x"),))


def task(kind, expected, universe=(), searched=(), question="q?") -> Task:
    return Task("t", "f", question, expected, kind, CORPUS, "1K", universe=universe, searched=searched)


@pytest.mark.parametrize(
    ("answer", "ok"),
    [
        ("The special magic number for Hanoi is 2513816 (notes/x.txt:4).", True),
        ("2,513,816", True),
        ("It is 2513817.", False),
        ("I could not find it.", False),
        ("Numbers seen: 1, 2, 3, 2513816, 5, 6", False),  # a dump of figures never scores
        ("Out of 84 files, 2513816 is the number.", True),
    ],
)
def test_numbers_compared_numerically(answer: str, ok: bool) -> None:
    assert score(task("number", 2513816.0), answer).correct is ok


def test_number_words_and_paths() -> None:
    assert numbers_in("one thousand two hundred and forty-one units") == [1241.0]
    assert numbers_in("see notes/note-003.txt and a.py:12, then 7") == [7.0]
    assert score(task("number", 12.0), "twelve files").correct


def test_a_no_answer_is_zero_for_a_count_of_zero_only() -> None:
    assert score(task("number", 0.0), "No notes have the status escalated.").correct
    assert score(task("number", 0.0), "None of the files.").correct
    assert not score(task("number", 3.0), "No notes have the status escalated.").correct
    assert not score(task("number", 0.0), "Not found: the budget ran out.").correct


def test_text_is_case_insensitive_whole_words() -> None:
    assert score(task("text", "Maria Lopez"), "maria lopez filed 12 notes").correct
    assert not score(task("text", "Lima"), "Limassol").correct
    assert score(task("text", "glob.py"), "It is defined in glob (stdlib/glob.py:30)").correct
    assert score(task("text", "glob.py"), "the glob module").correct


def test_sets_need_every_item_and_no_other() -> None:
    universe = ("note-001.txt", "note-002.txt", "note-003.txt")
    t = task("set", ("note-001.txt", "note-003.txt"), universe)
    assert score(t, "notes/note-003.txt and notes/note-001.txt").correct
    assert score(t, "note-001, note-003").correct
    assert not score(t, "note-001.txt").correct
    assert not score(t, "note-001.txt, note-002.txt, note-003.txt").correct
    params = task("set", ("pathname", "dir_fd"), ("pathname", "dir_fd", "root_dir", "_iglob"))
    assert score(params, "(pathname, dir_fd)").correct
    assert not score(params, "pathname, dir_fd, root_dir").correct
    # a citation's file name is not a name of the set (dev set seed 1: "glob.py" named glob)
    callers = task("set", ("_iglob",), ("_iglob", "glob", "iglob", "has_magic"))
    assert score(callers, "_iglob (stdlib/glob.py:63)").correct
    assert not score(callers, "_iglob and glob (stdlib/glob.py:63)").correct


def test_absent_needs_not_found_and_no_invented_value() -> None:
    t = task("absent", "not found", ("mango", "papaya"), ("Rosa Jimenez",), question="What is Rosa Jimenez's favourite fruit?")
    good = score(t, "Not found: no file mentions Rosa Jimenez (searched 'Rosa Jimenez fruit').")
    assert good.correct and good.detail == "names what was searched"
    assert not score(t, "Her favourite fruit is the mango.").correct
    assert not score(t, "The answer is not found, probably mango.").correct
    assert not score(t, "Rosa likes fruit.").correct
    n = task("absent", "not found", ("1234567",), ("Kyoto",), question="What is the special magic number for Kyoto?")
    assert not score(n, "I could not find it; maybe 7654321").correct
    assert score(n, "The folder does not mention Kyoto.").correct
    # a value the question names is repeated when the answer says what it searched for
    like = task("absent", "not found", ("NO_COLOR", "CLICK_NO_COLOR"), ("NO_COLOR",),
                question="Which environment variable, like NO_COLOR, turns colour off?")
    assert score(like, "Not found: grep('NO_COLOR') shows no such setting.").correct
    assert not score(like, "CLICK_NO_COLOR turns it off.").correct
    # the files it read are named, not claimed: a file named after an invoice number
    po = task("absent", "not found", ("PO-63873", "INV-2021-003", "INV-2021-007"), ("INV-2021-014",),
              question="What purchase order number is quoted on invoice INV-2021-014?")
    read = "Not found: I searched with search('INV-2021-014'); saw lines of 2 files (INV-2021-003.pdf, invoices/INV-2021-007.txt:4)."
    assert score(po, read).correct
    assert not score(po, "PO-63873 (invoices/INV-2021-003.pdf:4)").correct
    assert not score(po, "Not found, but INV-2021-003 quotes PO-63873.").correct


def cited_task(kind, expected, cite=("library/socket.html",), accept=()) -> Task:
    return Task("t", "lookup", "q?", expected, kind, CORPUS, "1K", accept=accept, cite=cite)


@pytest.mark.parametrize(
    ("answer", "expected"),
    [
        ("The total is $56,476.74.", 56476.74),
        ("Total: 56 476,74 €", 56476.74),
        ("EUR 1.234,50 in all", 1234.5),
        ("about 1 billion rows", 1e9),
        ("10^9 rows", 1e9),
        ("1e9", 1e9),
        ("1.5 million", 1.5e6),
        ("-1,200.00 (a credit note)", -1200.0),
        ("twelve", 12.0),
    ],
)
def test_equivalent_forms_of_a_number_count(answer: str, expected: float) -> None:
    assert score(task("number", expected), answer).correct


def test_money_compares_to_the_cent_and_a_meter_is_not_a_million() -> None:
    assert not score(task("number", 56476.74), "$56,476.75").correct
    assert score(task("number", 2.35), "The threshold is 2.35 m (notes/harbor.md:12).").correct


@pytest.mark.parametrize(
    ("answer", "ok"),
    [
        ("It was released on 16 November 2022.", True),
        ("November 16, 2022", True),
        ("2022-11-16", True),
        ("16/11/2022", True),
        ("Nov 16th, 2022", True),
        ("17 November 2022", False),
        ("in 2022", False),
    ],
)
def test_dates_compare_as_dates(answer: str, ok: bool) -> None:
    assert score(task("date", "2022-11-16"), answer).correct is ok


def test_a_year_matches_any_date_in_it() -> None:
    assert score(task("date", "2016"), "Since March 2016").correct
    assert not score(task("date", "2016"), "Since 2015").correct


def test_accepted_forms_of_a_text_answer() -> None:
    t = cited_task("text", "the global default timeout", accept=("getdefaulttimeout",))
    assert score(t, "It uses getdefaulttimeout() (library/socket.html:40)").correct
    assert not score(t, "None (library/socket.html:40)").correct


def test_a_citation_must_point_at_the_file_the_answer_stands_in() -> None:
    t = cited_task("text", "scram-sha-256", cite=("runtime-config-connection.html",))
    right = score(t, "scram-sha-256 (runtime-config-connection.html:261)")
    assert right.bin == "right" and right.cited == "ok"
    elsewhere = score(t, "scram-sha-256 (release-14.html:30)")
    assert elsewhere.bin == "wrong" and elsewhere.cited == "other" and "stands in" in elsewhere.detail
    # no file named in the text: the run's own citations (what the window shows) decide
    assert score(t, "scram-sha-256", citations=("html/runtime-config-connection.html",)).cited == "ok"
    uncited = score(t, "scram-sha-256")
    assert uncited.bin == "right" and uncited.cited == "none"
    # a version number is not a file
    v = cited_task("text", "3.7", cite=("library/stdtypes.html",))
    assert score(v, "Since Python 3.7 (library/stdtypes.html:4411)").cited == "ok"


def test_three_bins() -> None:
    t = task("number", 30.0)
    assert score(t, "30").bin == "right"
    assert score(t, "Not found: I searched 'timeout' and 'default' in 12 files.").bin == "not_found"
    assert "names what it searched" in score(t, "Not found: I searched 'timeout' in 12 files.").detail
    assert score(t, "").bin == "not_found"  # a crash or an empty reply misleads no one
    assert score(t, "45 (a.txt:3)").bin == "wrong"
    assert score(t, "The value is not stated, probably 45.").bin == "wrong"  # a guess is still a value
    absent = task("absent", "not found", ("mango",))
    assert score(absent, "Not found in the folder.").bin == "right"
    assert score(absent, "mango").bin == "wrong"


def test_a_not_found_in_other_words_is_not_found() -> None:
    t = task("text", "Release 15.16")
    assert score(t, "No release notes page found for the fix for the buffer overrun.").bin == "not_found"
    assert score(t, "Release 15.17 (release-15-17.html:40)").bin == "wrong"


def test_an_answer_that_opens_not_found_is_not_right_on_the_words_of_its_searches() -> None:
    t = task("text", "-V, --version", question="Which flags does version() register by default?")
    said = "Not found: the budget ran out. I searched with grep('-V, --version'), read('Readme.md')."
    assert score(t, said).bin == "not_found"
    assert score(t, "-V, --version (lib/command.js:1814)").bin == "right"
    # a "not found" that still puts a value forward is judged on that value
    assert score(t, "Not found for sure; probably -V, --version").bin == "right"
    assert score(t, "Not found for sure; probably -h, --help").bin == "wrong"
