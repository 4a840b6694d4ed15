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


def _quote(word: str) -> str:
    return '"' + word.replace('"', '""') + '"'


def candidates(text: str) -> Iterator[str]:
    text = (text or "").strip()
    if not text:
        return
    if _SYNTAX.search(text):
        yield text
    terms = list(dict.fromkeys(_quote(w) for w in words(text)))
    if not terms:
        return
    yield " ".join(terms)
    if len(terms) > 1:
        yield " OR ".join(terms)
