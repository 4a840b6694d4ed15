"""The engine's side of the worker's library calls. The worker holds no connection, file
descriptor or path of the library: ``files``/``text``/``read``/``search``/``grep`` in
model code are ``lib`` requests over the pipe, and this module answers them with the
engine's own read-only connection, limited to the question's scope (its roots). A path
outside that scope is refused as if it did not exist; the scope comes from the engine,
never from a message.

Paths cross the pipe as the model sees them (``show``: relative to the parent of the
roots); ``full_path`` maps them back, and every path the worker names (a read, a cited
source, a child RLM's files) is checked against the scope here."""

from __future__ import annotations

import os
import re
import threading
import time
from collections.abc import Sequence
from dataclasses import asdict
from pathlib import Path
from typing import Any

from rlm_desktop.errors import PatternError
from rlm_desktop.rlm.tools.corpus import GREP_COUNT_CAP, FileMeta, Hit, Match

CONTINUATION_WORDS = 10
CONTINUATION_LINES = 6
GREP_SHOWN_CHARS = 300


def _bracket_depth(text: str) -> int:
    return text.count("(") + text.count("[") + text.count("{") - text.count(")") - text.count("]") - text.count("}")
_SENTENCE_END = (".", "!", "?", "…", ":", ";", '."', ".)")


KNOWN_TTL_S = 5.0


class OutOfScope(LookupError):
    """A path the question's folders do not hold (or that the library does not know)."""


class ScopedLibrary:
    """The read-only library (``rlm_desktop.library.store.Library``), limited to ``roots``
    (all of the library's folders when empty)."""

    def __init__(self, library: Any, roots: Sequence[str]) -> None:
        self._lib = library
        self._roots = list(roots) or None
        self._prefix = display_prefix(self._roots or [f.path for f in library.folders()])
        self._known: set[str] = set()
        self._known_at = -KNOWN_TTL_S

    def in_scope(self, full: str) -> bool:
        """True when ``full`` (a library path) is a file of this question's folders. The
        list is read again on a miss, at most every ``KNOWN_TTL_S`` (a file indexed
        meanwhile), so a flood of foreign paths costs no query each."""
        if full not in self._known and time.monotonic() - self._known_at >= KNOWN_TTL_S:
            self._known = {r.path for r in self._lib.files(roots=self._roots)}
            self._known_at = time.monotonic()
        return full in self._known

    def scoped(self, path: str) -> str:
        """The library path of a path the worker named, or ``OutOfScope``."""
        full = self.full_path(path)
        if not self.in_scope(full):
            raise OutOfScope(f"no such file in the folders of this question: {path}")
        return full

    def show(self, path: str) -> str:
        """The path model code sees: relative to the parent of the roots, so
        ``/home/me/thesis/ch1.md`` reads ``thesis/ch1.md`` (shorter prompts, and the
        worked examples' relative paths are the shape the model copies)."""
        return path[len(self._prefix):] if self._prefix and path.startswith(self._prefix) else path

    def full_path(self, path: str) -> str:
        """The library path of a path as ``show`` printed it (absolute paths pass)."""
        return path if not self._prefix or os.path.isabs(path) else self._prefix + path

    def files(self) -> list[FileMeta]:
        return [
            FileMeta(self.show(r.path), r.kind, r.chars, r.lines, r.tokens, r.pages)
            for r in self._lib.files(roots=self._roots)
        ]

    def text(self, path: str) -> str:
        return self._lib.text(self.scoped(path))

    def read(self, path: str, start: int | None, end: int | None) -> str:
        return self._lib.read(self.scoped(path), start, end)

    def search(self, query: str, k: int) -> tuple[list[Hit], int, tuple[str, ...]]:
        result = self._lib.search(query, k=k, roots=self._roots)
        hits = [Hit(self.show(h.path), h.line, self._continued(h), h.score, h.page) for h in result.hits]
        return hits, result.total_files, tuple(result.missing)

    def _continued(self, hit: Any) -> str:
        """A hit's line, plus the start of the next line when the sentence runs on: text
        files are hard-wrapped, and 'The project codenamed Marigold' at the end of one line
        with 'is led by ...' on the next sent the 1.5B searching the same words again."""
        snippet = hit.snippet.rstrip()
        if hit.line is None or hit.page is not None or snippet.endswith(_SENTENCE_END):
            return hit.snippet
        try:
            after = self._lib.read(hit.path, hit.line + 1, hit.line + 1).strip()
        except Exception:  # noqa: BLE001 - a vanished file keeps its plain hit
            return hit.snippet
        if not after:
            return hit.snippet
        words = after.split()
        return f"{snippet} {' '.join(words[:CONTINUATION_WORDS])}{' …' if len(words) > CONTINUATION_WORDS else ''}"

    def grep(self, pattern: str, limit: int, flags: int) -> tuple[list[Match], int, int, bool]:
        matches: list[Match] = []
        files: set[str] = set()
        total = 0
        scopes: dict[str, list[tuple[int, int, str]]] = {}
        for m in self._lib.grep(pattern, limit=GREP_COUNT_CAP, roots=self._roots, flags=flags):
            total += 1
            files.add(m.path)
            if len(matches) < limit:
                scope = self._scope(m, scopes) if m.path.endswith(".py") else None
                matches.append(Match(self.show(m.path), m.line, self._closed(m)[:GREP_SHOWN_CHARS], m.page, scope))
        return matches, total, len(files), total < GREP_COUNT_CAP

    def _scope(self, match: Any, cache: dict[str, list[tuple[int, int, str]]]) -> str | None:
        """The innermost ``def``/``class`` whose body holds the matched line: "which
        functions call _join" was answered with grep's line numbers, not the functions."""
        if match.path not in cache:
            try:
                cache[match.path] = definitions(self._lib.text(match.path))
            except Exception:  # noqa: BLE001 - a vanished file keeps its plain match
                cache[match.path] = []
        return enclosing(cache[match.path], match.line, match.text)

    def _closed(self, match: Any) -> str:
        """A matched line with an unclosed bracket, joined with the lines that close it (at
        most ``CONTINUATION_LINES``): a ``def`` whose parameters run over several lines is
        then shown whole, not cut after its first parameters."""
        text = match.text.strip()
        depth = _bracket_depth(text)
        if depth <= 0 or match.page is not None:
            return text
        try:
            after = self._lib.read(match.path, match.line + 1, match.line + CONTINUATION_LINES).split("\n")
        except Exception:  # noqa: BLE001 - a vanished file keeps its plain match
            return text
        parts = [text]
        for line in after:
            parts.append(line.strip())
            depth += _bracket_depth(line)
            if depth <= 0:
                break
        return " ".join(p for p in parts if p)


_DEFINITION = re.compile(r"^([ \t]*)(?:async[ \t]+)?(?:def|class)[ \t]+(\w+)", re.MULTILINE)


def definitions(source: str) -> list[tuple[int, int, str]]:
    """(line, indent, name) of every ``def`` and ``class`` line of Python source."""
    out = []
    line, pos = 1, 0
    for m in _DEFINITION.finditer(source):
        line += source.count("\n", pos, m.start())
        pos = m.start()
        out.append((line, len(m.group(1).expandtabs()), m.group(2)))
    return out


def enclosing(defs: list[tuple[int, int, str]], line: int, text: str) -> str | None:
    """The innermost definition above ``line`` that is less indented than ``text``
    (the line's own text), dotted with its outer classes: "Parser.feed"."""
    indent = len(text) - len(text.lstrip())
    chain: list[tuple[int, str]] = []
    for at, depth, name in defs:
        if at >= line:
            break
        while chain and chain[-1][0] >= depth:
            chain.pop()
        chain.append((depth, name))
    while chain and chain[-1][0] >= indent:
        chain.pop()
    return ".".join(name for _, name in chain) or None




def display_prefix(roots: Sequence[str]) -> str:
    """What ``LibraryBackend.show`` strips: the parent of the roots' common folder, with a
    trailing separator, or "" when that would be the filesystem root (nothing gained)."""
    if not roots:
        return ""
    try:
        parent = os.path.dirname(os.path.commonpath([os.path.abspath(r) for r in roots]))
    except ValueError:  # different drives
        return ""
    if not parent or parent == os.path.dirname(parent):
        return ""
    return parent.rstrip(os.sep) + os.sep


# -- answering the worker's requests ---------------------------------------------------

MAX_K = 1000
MAX_LIMIT = GREP_COUNT_CAP


def answer(scoped: ScopedLibrary, message: dict[str, Any]) -> dict[str, Any]:
    """The ``lib_reply`` to a validated ``lib`` message: the result, or an error the
    cell sees as an exception (``error_kind``: lookup, pattern, error)."""
    op = message["op"]
    try:
        if op == "files":
            result: Any = [asdict(m) for m in scoped.files()]
        elif op == "text":
            result = scoped.text(message["path"])
        elif op == "read":
            result = scoped.read(message["path"], message["start"], message["end"])
        elif op == "search":
            hits, total, missing = scoped.search(message["query"], max(1, min(message["k"], MAX_K)))
            result = {"hits": [asdict(h) for h in hits], "total": total, "missing": list(missing)}
        else:
            matches, total, files, exact = scoped.grep(message["pattern"], max(0, min(message["limit"], MAX_LIMIT)),
                                                       message["flags"])
            result = {"matches": [asdict(m) for m in matches], "total": total, "files": files, "exact": exact}
    except (re.error, PatternError) as exc:
        return {"type": "lib_reply", "result": None, "error": str(exc), "error_kind": "pattern"}
    except LookupError as exc:
        return {"type": "lib_reply", "result": None, "error": str(exc).strip("'\""), "error_kind": "lookup"}
    except Exception as exc:  # noqa: BLE001 - a library error is the cell's exception, not the engine's
        return {"type": "lib_reply", "result": None, "error": f"{type(exc).__name__}: {exc}", "error_kind": "error"}
    return {"type": "lib_reply", "result": result, "error": None, "error_kind": None}


class LibraryHandle:
    """Opens the library read-only on first use, once per thread (SQLite connections
    belong to the thread that made them), for the session that serves a worker."""

    def __init__(self, db_path: Path, roots: Sequence[str]) -> None:
        self._db_path = Path(db_path)
        self._roots = tuple(roots)
        self._local = threading.local()

    def get(self) -> ScopedLibrary:
        scoped = getattr(self._local, "scoped", None)
        if scoped is None:
            from rlm_desktop.library.store import Library

            library = Library.open(self._db_path, read_only=True)
            scoped = self._local.scoped = ScopedLibrary(library, self._roots)
            self._local.library = library
        return scoped

    def close(self) -> None:
        library = getattr(self._local, "library", None)
        if library is not None:
            library.close()
            self._local.library = self._local.scoped = None
