"""``tally``: counting a captured value over every file, and telling the model which
files its regex missed (other phrasings of the same property)."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

from rlm_desktop.rlm.sandbox.session import ReplSession
from rlm_desktop.rlm.sandbox.types import ReplConfig
from rlm_desktop.rlm.tools.tally import keep_capitals, tally
from tests.rlm.test_repl_session import FakeEngine, build_library


@dataclass
class F:
    path: str
    text: str


@dataclass
class Recorder:
    sources: list[tuple[str, int | None]] = field(default_factory=list)
    texts: list[str] = field(default_factory=list)

    def source(self, path: str, line: int | None, page: int | None, how: str) -> None:
        self.sources.append((path, line))

    def corpus_text(self, text: str) -> None:
        self.texts.append(text)


NOTES = [
    F("n1.txt", "Note 1\nFiled by Maria Lopez from the Lisbon office.\nMaria Lopez said hi."),
    F("n2.txt", "Note 2\nFiled by Tom Becker from the Osaka office."),
    F("n3.txt", "Note 3\nThis note was written by Maria Lopez (Lima office)."),
    F("n4.txt", "Note 4\nAuthor: Maria Lopez. Office: Lima."),
    F("n5.txt", "Note 5\nFiled by Maria Lopez from the Lima office."),
]


def test_counts_once_per_file_and_shows_the_phrasings_it_missed() -> None:
    rec = Recorder()
    result = tally(NOTES, r"Filed by (\w+ \w+)", 0, rec)
    assert result.most_common(2) == [("Maria Lopez", 2), ("Tom Becker", 1)]  # n1 counted once
    assert result.paths["Maria Lopez"] == ["n1.txt", "n5.txt"]
    assert result.unmatched == ["n3.txt", "n4.txt"]
    text = repr(result)
    assert "matched in 3 of 5 files" in text
    # the missed files' lines that name a known value: the other phrasings
    assert "n3.txt:2: This note was written by Maria Lopez" in text
    assert "n4.txt:2: Author: Maria Lopez" in text
    assert ("n1.txt", 2) in rec.sources and ("n3.txt", 2) in rec.sources


def test_alternatives_each_with_a_group_cover_every_phrasing() -> None:
    result = tally(NOTES, r"Filed by (\w+ \w+)|written by (\w+ \w+)|Author: (\w+ \w+)", 0, Recorder())
    assert result.counts == {"Maria Lopez": 4, "Tom Becker": 1}
    assert result.unmatched == []
    assert "have no match" not in repr(result)


def test_tally_runs_in_the_sandboxed_repl(tmp_path: Path) -> None:
    root = tmp_path / "corpus"
    root.mkdir()
    for note in NOTES:
        (root / note.path).write_text(note.text)
    db = build_library(root, tmp_path / "library.db")
    config = ReplConfig(scratch_dir=tmp_path / "scratch", library_db=db, roots=(str(root),), cell_timeout_s=10.0)
    with ReplSession(config, on_llm=FakeEngine()) as session:
        result = session.run_cell("t = tally(r'status|office: (\\w+)|the (\\w+) office|\\((\\w+) office')\nprint(t)\nt[0]")
        # grep ignores case too, but a class of capitals still means capitals
        names = session.run_cell("print(grep(r'this ([A-Z]\\w+) was|([A-Z]\\w+) becker'))")
    assert result.error is None, result.error
    assert "n2.txt:2" in names.output and "n3.txt" not in names.output  # "This note was": not a capital
    assert "matched in 5 of 5 files" in result.output
    assert result.output.rstrip().endswith("('Lima', 3)")
    assert {s.path for s in result.sources} >= {str(root / "n3.txt")}
    # the engine's checks get the tally as data, not as the text it printed
    (fact,) = result.facts
    assert (fact.tool, fact.matched, fact.searched) == ("tally", 5, 5)
    assert fact.rows[0] == ("Lima", 3) and fact.distinct == len(fact.rows)
    (found,) = names.facts  # grep's hits as data: path, line, scope, text
    assert found.tool == "grep" and any(hit[0].endswith("n2.txt") and hit[1] == 2 for hit in found.hits)


def test_the_pattern_is_echoed_as_the_raw_string_the_model_wrote() -> None:
    # repr() would print 'Filed by (\\w+ \\w+)'; copied back into r'...' the backslashes
    # double on every turn
    result = tally(NOTES, r"Filed by (\w+ \w+)", 0, Recorder())
    assert repr(result).startswith(r"tally(r'Filed by (\w+ \w+)'): matched in 3 of 5 files")


def test_it_suggests_the_pattern_widened_with_the_phrasings_it_missed() -> None:
    first = tally(NOTES, r"Filed by (\w+ \w+)", 0, Recorder())
    assert first.suggestion == r"Filed by (\w+ \w+)|\bwritten by ([A-Z]\w+ [A-Z]\w+)|\bAuthor: ([A-Z]\w+ [A-Z]\w+)"
    assert repr(first).endswith(f"To count those too: tally(r'{first.suggestion}')")
    widened = tally(NOTES, first.suggestion, 0, Recorder())
    assert widened.unmatched == [] and widened.counts == {"Maria Lopez": 4, "Tom Becker": 1}
    # nothing matched: no value to look for, so no suggestion
    assert tally(NOTES, r"Owner: (\w+)", 0, Recorder()).suggestion is None


def test_alternatives_that_capture_different_kinds_are_split_into_one_call_per_kind() -> None:
    # the 1.5B's cell for "which person filed the most notes": names, offices and
    # statuses in one regex, whose merged counts put a status first
    notes = NOTES + [F("n6.txt", "Note 6\nAuthor: Tom Becker. Office: Osaka. Status: open.")]
    result = tally(notes, r"Author: (\w+ \w+)|Office: (\w+)|Status: (\w+)|from the (\w+)", 0, Recorder())
    assert result.kinds == [
        (r"Author: (\w+ \w+)", ["Maria Lopez", "Tom Becker"]),
        (r"Office: (\w+)|from the (\w+)", ["Lima", "Osaka", "Lisbon"]),
    ]  # the status group took one value only: too little to call it a kind
    text = repr(result)
    assert "of different kinds" in text
    assert r"tally(r'Author: (\w+ \w+)') counts Maria Lopez, Tom Becker, ..." in text
    assert "Lima: " not in text  # the mixed counts are not listed
    # alternatives that share a value are one kind: no split
    assert tally(NOTES, r"Filed by (\w+ \w+)|written by (\w+ \w+)|Author: (\w+ \w+)", 0, Recorder()).kinds == []


def test_top_level_alternatives_ignore_bars_inside_groups_and_classes() -> None:
    from rlm_desktop.rlm.tools.tally import _alternatives

    assert _alternatives(r"a(b|c)|[|x]d|e\|f") == ["a(b|c)", "[|x]d", r"e\|f"]


def _office_notes() -> list[F]:
    people = ["Kofi Mensah", "Mei Chen", "Tom Becker", "Aisha Khan", "Lars Nilsson", "Sofia Rossi"]
    offices = ["Lisbon", "Osaka", "Lima"]
    notes = []
    for i in range(18):
        person, office = people[(i // 3) % 6], offices[(i // 2) % 3]
        header = (f"Office: {office}. Author: {person}." if i % 3 == 0 else
                  f"This note was written by {person} ({office} office); its status is open." if i % 3 == 1 else
                  f"Filed by {person} from the {office} office. This is the way it was.")
        notes.append(F(f"n{i:02d}.txt", f"Note {i}\n{header}\nIt is a note by the team about the plan."))
    return notes


def test_a_suggestion_keeps_the_text_around_the_value_as_written_and_covers_every_person() -> None:
    # the quick dev run: "Mensah \( ([A-Z]\w+)" (a space that is not in "(Lisbon", and
    # one person's name) matched nothing new, and the model added one name after another
    notes = _office_notes()
    first = tally(notes, r"Office: (\w+)", 0, Recorder())
    assert first.suggestion == r"Office: (\w+)|([A-Z]\w+) office"
    assert tally(notes, first.suggestion, 0, Recorder()).unmatched == []
    people = tally(notes, r"Author: (\w+ \w+)", re.IGNORECASE, Recorder())
    widened = tally(notes, people.suggestion, re.IGNORECASE, Recorder())
    assert widened.unmatched == []
    # "by the team" and "is the way" are not people: the widened regex does not count them
    assert set(widened.counts) == {"Kofi Mensah", "Mei Chen", "Tom Becker", "Aisha Khan", "Lars Nilsson", "Sofia Rossi"}
    assert "Mensah" not in people.suggestion


def test_when_nothing_matched_a_name_shaped_group_is_widened_from_the_names_the_missed_files_repeat() -> None:
    # quick dev run: tally(r'Note: (\w+ \w+)') matched 0 of 12 files, so there was no known
    # value to widen from, and the 1.5B re-ran it until the budget ran out
    notes = _office_notes()
    first = tally(notes, r"Note: (\w+ \w+)", re.IGNORECASE, Recorder())
    assert first.counts == {} and first.suggestion is not None
    assert f"To count those too: tally(r'{first.suggestion}')" in repr(first)
    widened = tally(notes, first.suggestion, re.IGNORECASE, Recorder())
    assert widened.unmatched == [] and len(widened.counts) == 6
    # a one-word group has no name to look for: capitalized single words are everywhere
    assert tally(notes, r"Place: (\w+)", re.IGNORECASE, Recorder()).suggestion is None


def test_a_class_of_capitals_means_capitals_even_though_tally_ignores_case() -> None:
    # aggregation bench: under IGNORECASE, "by ([A-Z]\w+ [A-Z]\w+)" counted "by simply
    # taking" as a person and "([A-Z]\w+) office" counted "their office" as a seventh office
    notes = [*NOTES, F("n6.txt", "Note 6\nFiled BY Aisha Khan. It was done by simply taking their office.")]
    people = tally(notes, r"by ([A-Z]\w+ [A-Z]\w+)", re.IGNORECASE, Recorder())
    assert people.counts == {"Maria Lopez": 3, "Tom Becker": 1, "Aisha Khan": 1}  # "BY" still matches "by"
    offices = tally(notes, r"([A-Z]\w+) office", re.IGNORECASE, Recorder())
    assert offices.counts == {"Lima": 2, "Lisbon": 1, "Osaka": 1}
    # an escaped bracket is text, not a class
    assert keep_capitals(r"\[A-Z] ([A-Z]\w+)", re.IGNORECASE) == r"\[A-Z] ((?-i:[A-Z])\w+)"
    assert keep_capitals(r"([A-Z]\w+)", 0) == r"([A-Z]\w+)"
    assert keep_capitals(r"[[A-Z]]", re.IGNORECASE) == r"[[A-Z]]"  # a class inside a class: left as written


def test_a_capitalized_common_word_that_only_opens_sentences_is_left_out_of_the_values() -> None:
    # dev count, 200 notes: "([A-Z]\w+) office" counted "His" (3 files) and "Building" as
    # offices, from "His office was ..." in the prose, and the 1.5B answered 8 offices, not 6
    prose = "He said his plan was fine, and his team agreed with his view of it."
    notes = [
        F("a.txt", f"Filed by Tom Becker from the Lisbon office.\n{prose} His office was small."),
        F("b.txt", f"Filed by Mei Chen (Osaka office). {prose}"),
        F("c.txt", "Status: Open. Filed from the Lima office.\nIs it open? It is open, open, open."),
        F("d.txt", "Lisbon office notes. Nothing else."),  # a real value may open a sentence too
    ]
    result = tally(notes, r"([A-Z]\w+) office|Status: ([A-Z]\w+)", re.IGNORECASE, Recorder())
    assert result.counts == {"Lisbon": 2, "Osaka": 1, "Lima": 1, "Open": 1}  # "Open" follows "Status:", mid-sentence
    assert result.dropped == [("His", 1)]
    assert "Left out: His (1 file): only ever a capitalized word opening a sentence" in repr(result)
