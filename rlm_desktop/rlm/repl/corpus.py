"""The corpus as the model's code sees it (inside the worker): lazy ``File`` objects, the
``Corpus`` sequence, and the result lists of ``search``/``grep`` whose repr states totals.

Two backends feed it: ``LibraryBackend`` over the read-only library, ``TextBackend`` over
one pasted text. Every piece of corpus text handed to user code is reported to a
``Recorder`` (citations and grounding)."""

from __future__ import annotations

import logging
import os
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

log = logging.getLogger(__name__)

TEXT_PATH = "context"  # the pseudo-path of a pasted text
GREP_COUNT_CAP = 10_000  # count grep matches up to this, then say "at least"
_LINE_NO = re.compile(r"^\s*\d+\s*[|:]\s?")
_GREP_PREFIX = re.compile(r"^[^\s:]+:\d+:\s?")


@dataclass(frozen=True)
class FileMeta:
    path: str
    kind: str
    chars: int
    lines: int
    tokens: int
    pages: int = 0


@dataclass(frozen=True)
class Hit:
    path: str
    line: int | None
    snippet: str
    score: float = 0.0
    page: int | None = None

    def __repr__(self) -> str:
        return f"{_loc(self.path, self.line, self.page)}: {self.snippet}"

    __str__ = __repr__


@dataclass(frozen=True)
class Match:
    path: str
    line: int
    text: str
    page: int | None = None
    scope: str | None = None  # in Python source: the function or class the line is in

    def __repr__(self) -> str:
        where = f" (in {self.scope})" if self.scope else ""
        return f"{_loc(self.path, self.line, self.page)}{where}: {self.text}"

    __str__ = __repr__


def _loc(path: str, line: int | None, page: int | None) -> str:
    out = path
    if page is not None:
        out += f"#page={page}"
    if line is not None:
        out += f":{line}"
    return out


class Backend(Protocol):
    def files(self) -> list[FileMeta]: ...
    def text(self, path: str) -> str: ...
    def read(self, path: str, start: int | None, end: int | None) -> str: ...
    def search(self, query: str, k: int) -> tuple[list[Hit], int, tuple[str, ...]]: ...
    def grep(self, pattern: str, limit: int, flags: int) -> tuple[list[Match], int, int, bool]: ...


class Recorder(Protocol):
    def source(self, path: str, line: int | None, page: int | None, how: str) -> None: ...
    def corpus_text(self, text: str) -> None: ...


# ---------------------------------------------------------------- results shown to the model


# False only in an ablation run (``Settings.ablate`` 'totals', set once at worker start):
# listings then show their rows without saying how many there are in all.
SHOW_TOTALS = True


class SearchResults(list):
    """A list of ``Hit``; its repr says how many files matched in all."""

    def __init__(self, query: str, hits: Sequence[Hit], total: int, missing: Sequence[str] = ()) -> None:
        super().__init__(hits)
        self.query = query
        self.total = total
        self.missing = tuple(missing)  # query words no file contains

    @property
    def paths(self) -> list[str]:
        return list(dict.fromkeys(h.path for h in self))

    def __repr__(self) -> str:
        absent = ""
        if self.missing:
            words = ", ".join(repr(w) for w in self.missing)
            absent = f" No file contains {words}"
        if not self:
            return f"search({as_source(self.query)}): no matching files.{absent} Try other words, or grep() for an exact pattern."
        head = f"search({as_source(self.query)}): showing {len(self)} of {self.total} matching files"
        if not SHOW_TOTALS:
            head = f"search({as_source(self.query)})"
        if absent:
            head = f"search({as_source(self.query)}):{absent}; showing {len(self)} file{'s' if len(self) != 1 else ''} with some of the other words"
        return "\n".join([head + ":", *(repr(h) for h in self)])

    __str__ = __repr__


class GrepResults(list):
    """A list of ``Match``; its repr says how many matches and files there are in all."""

    def __init__(self, pattern: str, matches: Sequence[Match], total: int, total_files: int, exact: bool) -> None:
        super().__init__(matches)
        self.pattern = pattern
        self.total = total
        self.total_files = total_files
        self.exact = exact

    @property
    def paths(self) -> list[str]:
        return list(dict.fromkeys(m.path for m in self))

    def __repr__(self) -> str:
        if not self:
            return f"grep({as_source(self.pattern)}): no matches."
        at_least = "" if self.exact else "at least "
        head = (
            f"grep({as_source(self.pattern)}): showing {len(self)} of {at_least}{self.total} matches "
            f"in {at_least}{self.total_files} files"
        )
        if not SHOW_TOTALS:
            head = f"grep({as_source(self.pattern)})"
        return "\n".join([head + ":", *(repr(m) for m in self)])

    __str__ = __repr__


class File:
    """One file of the corpus. ``text`` loads on first access; the rest is metadata."""

    __slots__ = ("path", "kind", "chars", "lines", "tokens", "pages", "_corpus", "_text")

    def __init__(self, meta: FileMeta, corpus: Corpus) -> None:
        self.path = meta.path
        self.kind = meta.kind
        self.chars = meta.chars
        self.lines = meta.lines
        self.tokens = meta.tokens
        self.pages = meta.pages
        self._corpus = corpus
        self._text: str | None = None

    @property
    def name(self) -> str:
        return self.path.rsplit("/", 1)[-1]

    @property
    def text(self) -> str:
        if self._text is None:
            self._text = self._corpus._backend.text(self.path)
        self._corpus._recorder.source(self.path, None, None, "context")
        self._corpus._recorder.corpus_text(self._text)
        return self._text

    def __len__(self) -> int:
        return self.chars

    def __repr__(self) -> str:
        pages = f", pages={self.pages}" if self.pages else ""
        return f"File({self.path!r}, kind={self.kind}{pages}, lines={self.lines}, chars={self.chars}, tokens~{self.tokens})"

    __str__ = __repr__


class Corpus(Sequence[File]):
    """The user's files. Indexing, slicing and iteration give ``File`` objects without
    loading any text."""

    def __init__(self, backend: Backend, recorder: Recorder, metas: Sequence[FileMeta] | None = None) -> None:
        self._backend = backend
        self._recorder = recorder
        self._metas = list(backend.files() if metas is None else metas)
        self._files: dict[int, File] = {}
        self._index: dict[str, int] | None = None

    def __len__(self) -> int:
        return len(self._metas)

    def __getitem__(self, index: Any) -> Any:
        if isinstance(index, slice):
            return Corpus(self._backend, self._recorder, self._metas[index])
        if isinstance(index, str):
            return self.file(index)
        i = range(len(self._metas))[index]  # IndexError with Python's own message
        if i not in self._files:
            self._files[i] = File(self._metas[i], self)
        return self._files[i]

    def __iter__(self) -> Iterator[File]:
        for i in range(len(self._metas)):
            yield self[i]

    @property
    def paths(self) -> list[str]:
        return [m.path for m in self._metas]

    @property
    def index(self) -> dict[str, int]:
        """path -> position; also what ``resolve_path`` searches (fast exact look-ups)."""
        if self._index is None:
            self._index = {m.path: i for i, m in enumerate(self._metas)}
        return self._index

    @property
    def total_chars(self) -> int:
        return sum(m.chars for m in self._metas)

    @property
    def total_tokens(self) -> int:
        return sum(m.tokens for m in self._metas)

    def file(self, path: Any) -> File:
        return self[self.index[resolve_path(path, self.index)]]

    def summary(self) -> str:
        kinds: dict[str, int] = {}
        for m in self._metas:
            kinds[m.kind] = kinds.get(m.kind, 0) + 1
        kind_text = ", ".join(f"{k} {n}" for k, n in sorted(kinds.items(), key=lambda kv: -kv[1]))
        return (
            f"{len(self)} files, {self.total_chars:,} chars (~{self.total_tokens:,} tokens)"
            + (f"; kinds: {kind_text}" if kind_text else "")
        )

    def __repr__(self) -> str:
        lines = [f"Corpus: {self.summary()}"]
        shown = self._metas[:10]
        lines += [f"  [{i}] {m.path} ({m.kind}, {m.lines} lines, {m.chars:,} chars)" for i, m in enumerate(shown)]
        if len(self) > len(shown):
            lines.append(f"  [... {len(self) - len(shown)} more files; use search()/grep() to find the ones you need]")
        return "\n".join(lines)

    __str__ = __repr__


def resolve_path(path: Any, known: Sequence[str] | dict[str, int]) -> str:
    """An exact path, or a unique suffix / basename of one. LookupError names the
    candidates when the choice is ambiguous."""
    if isinstance(path, (File, Hit, Match)):
        path = path.path
    if not isinstance(path, str):
        raise TypeError(f"expected a path (str) or a File, got {type(path).__name__}")
    if path in known:
        return path
    wanted = path.lstrip("./")
    candidates = [p for p in known if p.endswith("/" + wanted) or p == wanted]
    if len(candidates) == 1:
        return candidates[0]
    if not candidates:
        base = wanted.rsplit("/", 1)[-1]
        candidates = [p for p in known if p.rsplit("/", 1)[-1] == base]
        if len(candidates) == 1:
            return candidates[0]
    if not candidates:
        raise LookupError(f"no file matches {path!r}. Use search()/grep() or print(context) to see the paths.")
    shown = "\n  ".join(candidates[:10])
    more = f"\n  ... and {len(candidates) - 10} more" if len(candidates) > 10 else ""
    raise LookupError(f"{path!r} matches {len(candidates)} files; give more of the path:\n  {shown}{more}")


def number_lines(text: str, first: int) -> str:
    lines = text.split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    width = len(str(first + len(lines)))
    return "\n".join(f"{first + i:>{width}}| {line}" for i, line in enumerate(lines))


def strip_prefixes(line: str) -> str:
    """A line of output without the decorations our tools add (``12| `` or ``path:12: ``),
    so it can be compared with the corpus text it came from."""
    return _LINE_NO.sub("", _GREP_PREFIX.sub("", line.strip()), count=1).strip()


# ---------------------------------------------------------------- backends


class TextBackend:
    """A single pasted text, seen as one file called ``context``."""

    def __init__(self, text: str) -> None:
        self._text = text
        self._lines = text.split("\n")

    def files(self) -> list[FileMeta]:
        return [FileMeta(TEXT_PATH, "text", len(self._text), len(self._lines), max(1, len(self._text) // 4))]

    def text(self, path: str) -> str:
        return self._text

    def read(self, path: str, start: int | None, end: int | None) -> str:
        first = max(1, start or 1)
        last = len(self._lines) if end is None else min(end, len(self._lines))
        return "\n".join(self._lines[first - 1 : last])

    def search(self, query: str, k: int) -> tuple[list[Hit], int, tuple[str, ...]]:
        """Lines ranked by how many query words they contain (no index for one text)."""
        words = [w for w in re.findall(r"\w+", query.lower()) if len(w) > 1]
        if not words:
            return [], 0, ()
        scored = []
        for i, line in enumerate(self._lines, 1):
            low = line.lower()
            score = sum(low.count(w) for w in words)
            if score:
                scored.append((score, i, line))
        scored.sort(key=lambda t: (-t[0], t[1]))
        hits = [Hit(TEXT_PATH, i, line.strip()[:300], float(score)) for score, i, line in scored[:k]]
        low = self._text.lower()
        missing = tuple(dict.fromkeys(w for w in words if len(w) > 2 and w not in low)) if scored else ()
        return hits, len(scored), missing

    def grep(self, pattern: str, limit: int, flags: int) -> tuple[list[Match], int, int, bool]:
        rx = re.compile(pattern, flags)
        matches: list[Match] = []
        total = 0
        for i, line in enumerate(self._lines, 1):
            if rx.search(line):
                total += 1
                if len(matches) < limit:
                    matches.append(Match(TEXT_PATH, i, line.strip()[:300]))
                if total >= GREP_COUNT_CAP:
                    return matches, total, 1, False
        return matches, total, 1 if total else 0, True


CONTINUATION_WORDS = 10
CONTINUATION_LINES = 6
GREP_SHOWN_CHARS = 300


def _bracket_depth(text: str) -> int:
    return text.count("(") + text.count("[") + text.count("{") - text.count(")") - text.count("]") - text.count("}")
_SENTENCE_END = (".", "!", "?", "…", ":", ";", '."', ".)")


class LibraryBackend:
    """The read-only library (``rlm_desktop.library.store.Library``), limited to ``roots``."""

    def __init__(self, library: Any, roots: Sequence[str]) -> None:
        self._lib = library
        self._roots = list(roots) or None
        self._prefix = display_prefix(self._roots or [f.path for f in library.folders()])

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
        return self._lib.text(self.full_path(path))

    def read(self, path: str, start: int | None, end: int | None) -> str:
        return self._lib.read(self.full_path(path), start, end)

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


def as_source(text: str) -> str:
    r"""A string as the model would write it in code: a raw literal when that is exact
    (``r'def f\(\w+'``), else ``repr``. Echoing ``repr`` of a regex doubles its
    backslashes, the 1.5B copies the doubled form back into its next ``r''`` pattern, and
    they double again on every turn (dev-set trace, ``tally``)."""
    if "\\" in text and "'" not in text and "\n" not in text and not text.endswith("\\"):
        return f"r'{text}'"
    return repr(text)


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
