"""Free text (often from a small model) to FTS5 queries that cannot fail on syntax.

``candidates`` yields the queries ``Library.search`` tries in order, stopping at the
first that matches something:

1. the text as written, only if it deliberately uses FTS5 syntax (``"phrase"``, ``OR``,
   ``AND``, ``NOT``, ``NEAR(...)``, ``prefix*``); if SQLite rejects it, it is skipped;
2. every word quoted, all required (AND); English stop words are dropped when other
   words remain, so "what is the default timeout" needs only "default" and "timeout";
3. the same words joined with OR, so a query with one word absent from the corpus still
   finds the files with the others (BM25 ranks files with more of the words higher).

Words are runs of letters, digits and underscores; ``snake_case`` becomes a quoted phrase
that the unicode61 tokenizer splits into adjacent terms, which is what the index holds.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterator

_WORD = re.compile(r"\w+", re.UNICODE)
_SYNTAX = re.compile(r'"|\*|\bNEAR\(|(?:^|\s)(?:OR|AND|NOT)(?:\s|$)')

STOP_WORDS = frozenset(
    """a an and are as at be been but by can could did do does for from had has have how i if in
    into is it its me my no not of on or our so such than that the their them then there these
    they this those to was we were what when where which who whom why will with would you your
    about all any find show tell give list please mention mentions mentioned file files""".split()
)


def words(text: str) -> list[str]:
    found = [w for w in _WORD.findall(text) if w.strip("_")]
    kept = [w for w in found if w.lower() not in STOP_WORDS]
    return kept or found


def quote(word: str) -> str:
    return '"' + word.replace('"', '""') + '"'


def has_syntax(text: str) -> bool:
    """True when the user wrote FTS5 syntax (AND/OR/NEAR, quotes, prefixes) themselves."""
    return bool(_SYNTAX.search(text or ""))


def candidates(text: str) -> Iterator[str]:
    text = (text or "").strip()
    if not text:
        return
    if _SYNTAX.search(text):
        yield text
    terms = list(dict.fromkeys(quote(w) for w in words(text)))
    if not terms:
        return
    yield " ".join(terms)
    if len(terms) > 1:
        yield " OR ".join(terms)


_SUFFIXES = ("ations", "ation", "ingly", "ings", "ing", "ies", "ied", "ers", "er", "es", "ed", "ly", "s", "e", "y")


_BOUNDARY = r"(?<![^\W_])"  # not inside a word (an underscore is a boundary: snake_case parts match)


@functools.lru_cache(maxsize=4096)
def _stem_prefix(word: str) -> str:
    """A prefix that the word's inflections share (a rough stand-in for the Porter stem
    the index uses): "parsed" -> "pars", "cookies" -> "cook"."""
    w = word.lower()
    for suffix in _SUFFIXES:
        if w.endswith(suffix) and len(w) - len(suffix) >= 3:
            return w[: -len(suffix)]
    return w


def term_pattern(match_query: str) -> re.Pattern[str] | None:
    """A regex that finds the query's words (and their inflections) in a hit's text, to
    point at the best line and build the snippet without asking FTS5 to re-tokenize the
    chunk (which costs about a millisecond per hit)."""
    terms = {_stem_prefix(w) for w in _WORD.findall(match_query) if w not in ("OR", "AND", "NOT", "NEAR") and w.strip("_")}
    if not terms:
        return None
    alternatives = "|".join(re.escape(t) for t in sorted(terms, key=len, reverse=True))
    return re.compile(rf"{_BOUNDARY}(?:{alternatives})[^\W_]*", re.IGNORECASE)


@functools.lru_cache(maxsize=256)
def _scan_pattern(pattern: str) -> re.Pattern[str]:
    """The term regex for lowercased text: case-sensitive and without the leading
    look-behind, so SRE can skip ahead to the terms' first letters (3-5x faster on a
    16 KB chunk); the word boundary is checked on each match instead."""
    return re.compile(pattern.removeprefix(_BOUNDARY))


def best_line(text: str, pattern: re.Pattern[str]) -> tuple[int, str] | None:
    """(0-based line index, line text) of the line holding the most distinct query words
    (the first such line on a tie), or None if no word is found."""
    best: tuple[int, int, int] | None = None  # (-distinct, index, start offset)
    wanted = pattern.pattern.count("|") + 1
    lowered = text.lower()
    if len(lowered) == len(text) and pattern.pattern.startswith(_BOUNDARY):
        scan, haystack, check = _scan_pattern(pattern.pattern), lowered, True
    else:  # lowercasing moved offsets (rare letters such as "İ"): scan as written
        scan, haystack, check = pattern, text, False
    line_no, pos = 0, 0
    current_line, seen = -1, set()
    count = 0
    for m in scan.finditer(haystack):
        start = m.start()
        if check and start and (haystack[start - 1].isalnum()):
            continue  # inside a longer word
        count += 1
        if count > 300:
            break  # enough to pick a good line; a common word can match thousands of times
        line_no += haystack.count("\n", pos, start)
        pos = start
        if line_no != current_line:
            current_line, seen = line_no, set()
        seen.add(_stem_prefix(m.group(0)))
        if best is None or -len(seen) < best[0]:
            best = (-len(seen), line_no, text.rfind("\n", 0, start) + 1)
            if len(seen) >= wanted:
                break  # no line can hold more of the words
    if best is None:
        return None
    start = best[2]
    stop = text.find("\n", start)
    return best[1], text[start : stop if stop >= 0 else len(text)]


def mark(line: str, pattern: re.Pattern[str], width: int = 200) -> str:
    """The line, cut to about ``width`` characters around its first match, with the
    matched words in [brackets]."""
    line = " ".join(line.split())
    first = pattern.search(line)
    if first and len(line) > width:
        begin = max(0, first.start() - width // 3)
        line = ("… " if begin else "") + line[begin : begin + width] + " …"
    elif len(line) > width:
        line = line[:width] + " …"
    return pattern.sub(lambda m: f"[{m.group(0)}]", line)
