"""Free text to FTS5 queries, and finding the cited line inside a hit."""

from __future__ import annotations

from rlm_desktop.library.query import best_line, candidates, mark, term_pattern


def test_candidates_quote_words_then_fall_back_to_or() -> None:
    assert list(candidates("What is the default timeout?")) == ['"default" "timeout"', '"default" OR "timeout"']
    assert list(candidates('say "hello world" OR bye'))[0] == 'say "hello world" OR bye'  # deliberate syntax first
    assert list(candidates("the of and")) == ['"the" "of" "and"', '"the" OR "of" OR "and"']  # only stop words: keep them
    assert list(candidates("?!")) == [] and list(candidates("")) == []


def test_best_line_prefers_the_line_with_most_query_words() -> None:
    text = "timeouts are mentioned here\nnothing\nthe default timeout is 30\ndefault only"
    pattern = term_pattern('"default" "timeout"')
    assert pattern is not None
    assert best_line(text, pattern) == (2, "the default timeout is 30")
    assert best_line("no match at all", pattern) is None


def test_inflections_and_snake_case_are_found() -> None:
    pattern = term_pattern('"cookies" "parsed"')
    assert pattern is not None
    assert best_line("def parse_cookie(header):\n    pass", pattern) == (0, "def parse_cookie(header):")
    assert mark("x = parse_cookie(h)", pattern) == "x = [parse]_[cookie](h)"


def test_mark_cuts_long_lines_around_the_match() -> None:
    pattern = term_pattern('"needle"')
    assert pattern is not None
    line = "a " * 300 + "needle" + " b" * 300
    out = mark(line, pattern, width=100)
    assert "[needle]" in out and len(out) < 130 and out.startswith("… ")


def test_best_line_ignores_case_and_words_that_only_contain_a_term() -> None:
    pattern = term_pattern('"import" "error"')
    assert pattern is not None
    text = "reimport the errorless thing\nIMPORT here\nan Import Error was raised"
    assert best_line(text, pattern) == (2, "an Import Error was raised")
    # a letter whose lowercase form is longer ("İ") must not shift the cited line
    assert best_line("İİİ\nİ import\nimport error", pattern) == (2, "import error")
