"""Full-text search (FTS5, BM25) and regex grep over the stored text. Both read only,
so they work on a read-only connection in another process."""

from __future__ import annotations

import logging
import re
import sqlite3
import time
from collections.abc import Iterable, Iterator

import regex as regex_module

from rlm_desktop.errors import PatternError
from rlm_desktop.library import query as fts_query
from rlm_desktop.library.schema import CHUNK_MASK, CHUNK_SHIFT, scope_sql
from rlm_desktop.library.types import GrepMatch, SearchHit, SearchResult

log = logging.getLogger(__name__)

HITS_PER_FILE = 2  # search shows at most this many chunks of one file
GREP_LINE_CHARS = 400
# Model-written patterns run in the engine (the REPL worker asks for grep over its pipe):
# a pattern that backtracks without end, such as (a|aa)+$, stops after this long. The
# ``regex`` module takes a timeout and lets other threads run while it matches.
GREP_TIMEOUT_S = 10.0


def search(conn: sqlite3.Connection, query: str, k: int = 10, roots: Iterable[str] | None = None) -> SearchResult:
    """BM25-ranked hits with a snippet and the line (or page) they are on, at most
    ``HITS_PER_FILE`` per file, plus how many files matched in all. Free text is made
    into a valid FTS5 query (see ``query.py``); it never raises on query syntax."""
    roots = list(roots or [])
    scope, scope_params = scope_sql(roots)
    scope_clause = f" AND (rowid >> {CHUNK_SHIFT}) IN (SELECT f.id FROM files f WHERE {scope})" if roots else ""
    rows: list[tuple[int, float]] = []
    used = ""
    for candidate in fts_query.candidates(query):
        try:
            rows = conn.execute(
                # bm25() ordered explicitly: measured 1.5-2x faster than FTS5's ORDER BY rank.
                f"SELECT rowid, bm25(chunks_fts) AS score FROM chunks_fts WHERE chunks_fts MATCH ?{scope_clause} ORDER BY score LIMIT ?",
                [candidate, *scope_params, max(k, 1) * HITS_PER_FILE * 2],
            ).fetchall()
        except sqlite3.OperationalError as exc:
            log.debug("FTS query %r rejected: %s", candidate, exc)
            continue
        used = candidate
        if rows:
            break
    missing = _missing_words(conn, query, used, scope_clause, scope_params) if " OR " in used else ()
    if not rows:
        return SearchResult(query, [], 0, missing)
    total = conn.execute(
        f"SELECT count(DISTINCT rowid >> {CHUNK_SHIFT}) FROM chunks_fts WHERE chunks_fts MATCH ?{scope_clause}",
        [used, *scope_params],
    ).fetchone()[0]
    hits: list[SearchHit] = []
    per_file: dict[int, int] = {}
    terms = fts_query.term_pattern(used)
    for rowid, rank in rows:
        file_id = rowid >> CHUNK_SHIFT
        if per_file.get(file_id, 0) >= HITS_PER_FILE:
            continue
        per_file[file_id] = per_file.get(file_id, 0) + 1
        hits.append(_hit(conn, used, terms, rowid, rank))
        if len(hits) >= k:
            break
    return SearchResult(query, hits, total, missing)


def _missing_words(conn: sqlite3.Connection, query: str, used: str, scope_clause: str, scope_params: list) -> tuple[str, ...]:
    """The words of a free-text query that no file in scope contains. Asked only when the
    all-words query found nothing and the any-word fallback ran: "Montevideo magic number"
    then lists files about other cities' numbers, and a small model takes one of them for
    the answer unless the listing says that nothing mentions Montevideo."""
    if fts_query.has_syntax(query):
        return ()
    missing = []
    for word in dict.fromkeys(fts_query.words(query)):
        try:
            found = conn.execute(
                f"SELECT 1 FROM chunks_fts WHERE chunks_fts MATCH ?{scope_clause} LIMIT 1", [fts_query.quote(word), *scope_params]
            ).fetchone()
        except sqlite3.OperationalError:
            continue
        if found is None:
            missing.append(word)
    return tuple(missing)


def _hit(conn: sqlite3.Connection, match: str, terms: re.Pattern[str] | None, rowid: int, rank: float) -> SearchHit:
    path, kind = conn.execute("SELECT path, kind FROM files WHERE id = ?", (rowid >> CHUNK_SHIFT,)).fetchone()
    line, page, text = conn.execute("SELECT line, page, text FROM chunks WHERE id = ?", (rowid,)).fetchone()
    found = fts_query.best_line(text, terms) if terms is not None else None
    if found is not None:
        offset, line_text = found
        snippet = fts_query.mark(line_text, terms)  # type: ignore[arg-type]
        line += offset
    else:
        # The words are not visible as written (stemming went further than our
        # prefixes): let FTS5 find them.
        snippet, marked = conn.execute(
            "SELECT snippet(chunks_fts, 0, '[', ']', ' … ', 24), highlight(chunks_fts, 0, char(1), char(2)) "
            "FROM chunks_fts WHERE chunks_fts MATCH ? AND rowid = ?",
            (match, rowid),
        ).fetchone()
        at = marked.find("\x01")
        if at > 0:
            line += marked.count("\n", 0, at)
        snippet = " ".join(snippet.split())
    return SearchHit(path, -rank, snippet, line, page if kind == "pdf" else None)

def grep(conn: sqlite3.Connection, pattern: str, limit: int = 200, roots: Iterable[str] | None = None, flags: int = 0,
         timeout_s: float | None = None) -> Iterator[GrepMatch]:
    """Lines matching a Python regex (``re`` syntax and flags), file by file in path
    order, one match per line, stopping after ``limit``. Streams rows from SQLite, so
    memory stays small. ``PatternError`` for an invalid pattern, or one that runs past
    ``timeout_s`` in all (default ``GREP_TIMEOUT_S``)."""
    timeout_s = GREP_TIMEOUT_S if timeout_s is None else timeout_s
    try:
        regex = regex_module.compile(pattern, flags | re.MULTILINE)
    except (regex_module.error, re.error, TypeError, ValueError, OverflowError) as exc:
        raise PatternError(f"invalid regular expression {pattern!r}: {exc}") from None
    return _grep(conn, regex, limit, roots, timeout_s)


def _grep(conn: sqlite3.Connection, regex, limit: int, roots: Iterable[str] | None, timeout_s: float) -> Iterator[GrepMatch]:
    if limit <= 0:
        return
    deadline = time.monotonic() + timeout_s
    where, params = scope_sql(roots)
    cursor = conn.execute(
        f"""SELECT f.path, f.kind, c.line, c.page, c.text FROM files f
            JOIN chunks c ON c.id BETWEEN (f.id << {CHUNK_SHIFT}) AND (f.id << {CHUNK_SHIFT}) + {CHUNK_MASK}
            WHERE f.status = 'ok' AND {where} ORDER BY f.path, c.id""",
        params,
    )
    found = 0
    for path, kind, first_line, page, text in cursor:
        last_start = -1
        pos, line = 0, first_line
        try:
            found_here = list(regex.finditer(text, timeout=max(0.001, deadline - time.monotonic()), concurrent=True))
        except TimeoutError:
            cursor.close()
            raise PatternError(f"the pattern {regex.pattern!r} took longer than {timeout_s:g} s (nested repeats such as "
                               "(a|aa)+ can backtrack without end): use a simpler pattern") from None
        for m in found_here:
            start = text.rfind("\n", 0, m.start()) + 1
            if start == last_start:
                continue
            line += text.count("\n", pos, start)
            pos, last_start = start, start
            stop = text.find("\n", m.start())
            if stop < 0:
                stop = len(text)
            yield GrepMatch(path, line, text[start:stop][:GREP_LINE_CHARS], page if kind == "pdf" else None)
            found += 1
            if found >= limit:
                cursor.close()
                return
