from __future__ import annotations

from rlm_desktop.gui.citations import (
    answer_markdown,
    citation_url,
    link_mentions,
    parse_citation_url,
    suffix_resolver,
)
from rlm_desktop.rlm.events import Citation, RunFinished


def test_citation_url_round_trips_paths_with_spaces():
    citation = Citation("/home/me/My Notes/a b.md", 12, None)
    assert parse_citation_url(citation_url(citation)) == citation
    assert parse_citation_url(citation_url(Citation("/x/r.pdf", None, 3))) == Citation("/x/r.pdf", None, 3)
    assert parse_citation_url("https://example.com") is None


def test_mentions_of_known_files_become_links_and_unknown_ones_stay_text():
    resolve = suffix_resolver(["/data/notes/meeting.md", "/data/src/tool.py"])
    text = link_mentions("See meeting.md:14 and tool.py, line 3, not ghost.md:2.", resolve)
    assert "[meeting.md:14](cite:/data/notes/meeting.md?line=14)" in text
    assert "(cite:/data/src/tool.py?line=3)" in text
    assert "ghost.md:2" in text and "cite:/ghost" not in text and "cite:ghost" not in text


def test_partial_answer_says_which_budget_ran_out_and_lists_sources():
    finished = RunFinished("r", "budget_exhausted", "maybe 42", (Citation("/d/a.md", 3),), budget="iterations")
    md = answer_markdown(finished)
    assert "iterations budget ran out" in md
    assert "maybe 42" in md
    assert "(cite:/d/a.md?line=3)" in md
