"""The corpus as the model's code sees it (inside the worker): lazy ``File`` objects, the
``Corpus`` sequence, and the result lists of ``search``/``grep`` whose repr states totals.

Two backends feed it: ``PipeBackend``, whose every call is a request over the pipe to the
engine side (``library_service.py``), and ``TextBackend`` over one pasted text. Every piece of corpus text handed to user code is reported to a
``Recorder`` (citations and grounding)."""

from __future__ import annotations

import logging
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
    if not candidates:  # a full path (as a citation names it) that ends with a known one
        candidates = [p for p in known if wanted.endswith("/" + p.lstrip("./"))]
        if len(candidates) > 1:  # the longest known path that fits is the one meant
            longest = max(len(p) for p in candidates)
            candidates = [p for p in candidates if len(p) == longest]
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


def as_source(text: str) -> str:
    r"""A string as the model would write it in code: a raw literal when that is exact
    (``r'def f\(\w+'``), else ``repr``. Echoing ``repr`` of a regex doubles its
    backslashes, the 1.5B copies the doubled form back into its next ``r''`` pattern, and
    they double again on every turn (dev-set trace, ``tally``)."""
    if "\\" in text and "'" not in text and "\n" not in text and not text.endswith("\\"):
        return f"r'{text}'"
    return repr(text)


class PipeBackend:
    """The library as the worker sees it: every call is a request over the pipe to the
    engine side (``library_service.ScopedLibrary``), which alone holds the database and
    the question's scope. The worker has no connection, no file descriptor and no path of
    the library. ``request(op, **args)`` returns the reply's result or raises."""

    def __init__(self, request: Any) -> None:
        self._request = request

    def files(self) -> list[FileMeta]:
        return [FileMeta(**d) for d in self._request("files")]

    def text(self, path: str) -> str:
        return self._request("text", path=path)

    def read(self, path: str, start: int | None, end: int | None) -> str:
        return self._request("read", path=path, start=start, end=end)

    def search(self, query: str, k: int) -> tuple[list[Hit], int, tuple[str, ...]]:
        result = self._request("search", query=query, k=k)
        return [Hit(**h) for h in result["hits"]], result["total"], tuple(result["missing"])

    def grep(self, pattern: str, limit: int, flags: int) -> tuple[list[Match], int, int, bool]:
        result = self._request("grep", pattern=pattern, limit=limit, flags=flags)
        return [Match(**m) for m in result["matches"]], result["total"], result["files"], result["exact"]
