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
