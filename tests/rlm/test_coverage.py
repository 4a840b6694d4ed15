"""The statement a run ends with when its budget runs out before a grounded answer."""

from __future__ import annotations

from rlm_desktop.rlm.citations import CellSources
from rlm_desktop.rlm.coverage import calls_in, is_statement, not_found_within
from rlm_desktop.rlm.sandbox.types import SourceRef


def test_calls_are_read_from_the_code_not_the_output() -> None:
    code = "hits = search('alarm threshold', k=5)\nprint(grep(r'2\\.35'))\nx = read('notes/a.md', 1, 20)\nsearch(query)"
    assert calls_in(code) == ["search('alarm threshold')", "grep('2\\\\.35')", "read('notes/a.md')"]
    assert calls_in("this is not python (") == []


def test_the_statement_names_what_was_searched_and_read() -> None:
    cells = [
        CellSources("...", (SourceRef("/f/notes/a.md", 3), SourceRef("/f/log.txt", 9)), "search('alarm threshold')"),
        CellSources("...", (SourceRef("/f/notes/a.md", 4),), "grep('Harbor North')"),
    ]
    text = not_found_within("time", cells)
    assert text.startswith("Not found: the time budget ran out")
    assert "search('alarm threshold'), grep('Harbor North')" in text
    assert "saw lines of 2 files (a.md, log.txt)" in text and "the rest of the folder was not read" in text
    assert is_statement(text) and not is_statement("2.35 m (notes/a.md:4)")
    assert not_found_within("tokens", []).endswith("before any search.")
