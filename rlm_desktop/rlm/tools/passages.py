"""``passages(query)``: the best search hits, each read with the lines around it.

A snippet is one line cut around the query's words; the value a question asks for is
often on the next line, or later in a long paragraph (DESIGN.md: the 1.5B re-sends the
same search with the answer two lines below its snippet). A passage is several whole
lines around the hit, numbered so an answer can cite ``path:line``; a hit on a PDF page
is read as the lines of that page nearest the hit. Hits close together in one file are
read as one passage. The whole listing stays within ``TOTAL_CHARS`` so it fits a small
model's window beside the prompt; ``chars`` and ``around`` widen it (the engine's
first move reads ``FIRST_HITS`` hits within ``FIRST_CHARS``).

    found = passages('credential cache timeout', k=5)
    found            # the passages, best first, with how many files matched in all
    found.paths      # their files, for read() or ask_each()
"""

from __future__ import annotations

import re
from collections.abc import Collection, Sequence
from dataclasses import dataclass

from rlm_desktop.library.extract import PAGE_BREAK
from rlm_desktop.library.query import words as query_words
from rlm_desktop.rlm.tools.corpus import Backend, Hit, number_lines

PASSAGE_HITS = 5  # hits read by default
AROUND = 4  # lines either side of a hit
LINE_CHARS = 360  # a longer line is cut, around the query's words on the hit line
TOTAL_CHARS = 4_500  # the listing's text in all (about 1,200 tokens); the first passage is always shown
# the engine's own first move (``cells.read_first_cell``) reads wider than a model's later
# call: with these, its passages showed the expected value for 61 of the dev part's 92
# one-place questions, against 52 at the defaults and 57 in rag's 12-chunk context, at
# about two thirds of rag's text (``bench retrieval --part dev``); a budget of 4,500
# characters with the same hits showed 57
FIRST_HITS = 12
FIRST_AROUND = 8
FIRST_CHARS = 6_000
# the engine's second move, when the reading of the first finds no line stating the
# answer: the passages of the question's two rarest words, none shown before; with them
# 66 of those 92 questions had the value shown by one move or the other, from 61
SECOND_WORDS = 2
SECOND_HITS = 12
SECOND_AROUND = 6
SECOND_CHARS = 3_000
# a file this short is one passage, read whole: an invoice's due date sits ten lines below
# its number, the hit (bench retrieval, dev)
WHOLE_FILE_LINES = 40
WHOLE_FILE_CHARS = 2_000
_WORD = re.compile(r"[^\W_]{3,}")
# a passage shown before: (path, first line, last line, page)
Shown = tuple[str, int | None, int | None, int | None]


@dataclass(frozen=True)
class Passage:
    path: str
    hit_line: int | None  # the hit's line (text files)
    start: int | None  # first line shown (text files)
    end: int | None
    page: int | None  # a PDF page
    text: str  # what the listing shows: numbered lines, or the page's lines
    # the lines shown, as data: (line number, text) in a text file, (None, text) on a PDF
    # page; the engine's reading and checks read these, not the listing's printed text
    lines: tuple[tuple[int | None, str], ...] = ()

    @property
    def label(self) -> str:
        if self.page is not None:
            return f"{self.path} page {self.page}"
        return f"{self.path} lines {self.start}-{self.end}"

    def __repr__(self) -> str:
        return f"--- {self.label}\n{self.text}"

    __str__ = __repr__


class Passages(list):
    """A list of ``Passage``; its repr names the query and how many files matched."""

    def __init__(self, query: str, passages: Sequence[Passage], total: int, missing: Sequence[str] = (), left_out: int = 0,
                 shown_before: int = 0) -> None:
        super().__init__(passages)
        self.query = query
        self.total = total
        self.missing = tuple(missing)
        self.left_out = left_out  # hits not read: the listing was full
        self.shown_before = shown_before  # hits left out because an earlier call showed them (new_only)

    @property
    def paths(self) -> list[str]:
        return list(dict.fromkeys(p.path for p in self))

    def __repr__(self) -> str:
        call = f"passages({self.query!r})"
        absent = ""
        if self.missing:
            absent = " No file contains " + ", ".join(repr(w) for w in self.missing) + "; these passages have some of the other words."
        if not self and self.shown_before:
            return f"{call}: nothing new: its {self.shown_before} best hits are in passages shown before. Try other words, or grep() for an exact pattern."
        if not self:
            return f"{call}: no matching files.{absent} Try other words, or grep() for an exact pattern."
        files = len(self.paths)
        head = f"{call}: {len(self)} passage{'s' if len(self) != 1 else ''} from {files} of {self.total} matching files, best first.{absent}"
        tail = [f"({self.left_out} more hits not shown: search() lists them)"] if self.left_out else []
        return "\n".join([head, *(repr(p) for p in self), *tail])

    __str__ = __repr__


def find_passages(backend: Backend, query: str, k: int = PASSAGE_HITS, around: int = AROUND,
                  chars: int = TOTAL_CHARS, skip: Collection[Shown] = ()) -> Passages:
    """The passages around the best ``k`` hits of ``query`` (a hit with a page is a PDF
    page), ``around`` lines either side, within about ``chars`` characters in all; a
    window that overlaps one of ``skip`` (passages shown before) is left out."""
    hits, total, missing = backend.search(query, max(1, int(k)))
    words = {w.lower() for w in _WORD.findall(query)}
    every = _windows(hits, around)
    windows = [w for w in every if not _seen(w, skip)]
    out: list[Passage] = []
    used = left_out = 0
    sizes: dict[str, int | None] = {}  # a text file's lines when it is read whole, asked once per file
    whole: set[str] = set()  # short files already shown whole
    for path, start, end, hit in windows:
        if path in whole:
            continue
        if out and used >= chars:
            left_out += 1
            continue
        if hit.page is None and path not in sizes:
            sizes[path] = _short_file(backend, path)
        if hit.page is None and sizes[path] is not None:
            start, end = 1, sizes[path]
            whole.add(path)
        passage = _read(backend, path, start, end, hit, words | _marked(hit.snippet))
        if passage is None:
            continue
        out.append(passage)
        used += len(passage.text)
    return Passages(query, out, total, missing, left_out, len(every) - len(windows))


def rarest_words(backend: Backend, text: str, n: int = 2) -> list[str]:
    """The ``n`` words of ``text`` (stop words aside) that the fewest files contain, at
    least one: the words a line stating the answer is likeliest to share with the
    question when its commoner words match everywhere (dev: "loose prunes" finds the gc
    page's prune age, which the whole question's words rank below other pages)."""
    found: dict[str, int] = {}
    for word in dict.fromkeys(w for w in query_words(text) if len(w) > 2):
        _, total, _ = backend.search(word, 1)
        if total:
            found[word] = total
    return sorted(found, key=lambda w: found[w])[: max(0, int(n))]


def shown_of(found: Passages) -> list[Shown]:
    """What ``skip`` takes to leave these passages out of a later call."""
    return [(p.path, p.start, p.end, p.page) for p in found]


def _seen(window: tuple[str, int, int, Hit], skip: Collection[Shown]) -> bool:
    path, start, end, hit = window
    for s_path, s_start, s_end, s_page in skip:
        if s_path != path:
            continue
        if hit.page is not None:
            if s_page == hit.page:
                return True
        elif s_page is None and s_start is not None and s_end is not None and start <= s_end and end >= s_start:
            return True
    return False


def _short_file(backend: Backend, path: str) -> int | None:
    """The number of lines of ``path`` when it is short enough to be read whole, else None."""
    try:
        head = backend.read(path, 1, WHOLE_FILE_LINES + 1)
    except (LookupError, OSError, ValueError):
        return None
    lines = head.rstrip("\n").split("\n")
    if len(lines) > WHOLE_FILE_LINES or len(head) > WHOLE_FILE_CHARS:
        return None
    return len(lines)


def _windows(hits: Sequence[Hit], around: int) -> list[tuple[str, int, int, Hit]]:
    """(path, start, end, hit) in rank order; a text hit whose window overlaps an earlier
    one of the same file widens that one; a page already read is not read again."""
    windows: list[list] = []
    for hit in hits:
        if hit.page is not None:
            if not any(w[0] == hit.path and w[3].page == hit.page for w in windows):
                windows.append([hit.path, hit.page, hit.page, hit])
            continue
        line = hit.line or 1
        start, end = max(1, line - around), line + around
        for w in windows:
            if w[0] == hit.path and w[3].page is None and start <= w[2] + 1 and end >= w[1] - 1:
                w[1], w[2] = min(w[1], start), max(w[2], end)
                break
        else:
            windows.append([hit.path, start, end, hit])
    return [tuple(w) for w in windows]  # type: ignore[misc]


def _read(backend: Backend, path: str, start: int, end: int, hit: Hit, words: set[str]) -> Passage | None:
    try:
        text = backend.read(path, start, end)
    except (LookupError, OSError, ValueError):
        return None  # the file went away since it was indexed: its hit is dropped
    if hit.page is not None:
        lines = [ln for ln in text.replace(PAGE_BREAK, "\n").split("\n") if ln.strip()]
        at = _best_line(lines, words)
        lo, hi = max(0, at - AROUND - 2), at + AROUND + 3
        shown = [_cut(ln, words, keep=(i == at)) for i, ln in enumerate(lines[lo:hi], lo)]
        kept = tuple((None, ln) for ln in shown)
        if lo > 0:
            shown.insert(0, "…")
        if hi < len(lines):
            shown.append("…")
        return Passage(path, None, None, None, hit.page, "\n".join(shown), kept)
    lines = text.split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    if not lines:
        return None
    hit_line = hit.line or start
    cut = [_cut(ln, words, keep=(start + i == hit_line)) for i, ln in enumerate(lines)]
    last = start + len(lines) - 1
    return Passage(path, hit_line, start, last, None, number_lines("\n".join(cut), start),
                   tuple((start + i, ln) for i, ln in enumerate(cut)))


def _best_line(lines: Sequence[str], words: set[str]) -> int:
    """The index of the line sharing most of ``words`` (the first on a tie; 0 if none)."""
    best, score = 0, 0
    for i, line in enumerate(lines):
        s = len(words & {w.lower() for w in _WORD.findall(line)})
        if s > score:
            best, score = i, s
    return best


def _marked(snippet: str) -> set[str]:
    """The words a snippet marks as matches (``[word]``)."""
    return {w.lower() for w in re.findall(r"\[([^\]]+)\]", snippet or "")}


def _cut(line: str, words: set[str], keep: bool) -> str:
    """A line cut to ``LINE_CHARS``; the hit line (``keep``) to twice that, centred on the
    first of ``words`` it holds, so a value late in a long paragraph is still shown."""
    limit = LINE_CHARS * (2 if keep else 1)
    if len(line) <= limit:
        return line
    at = 0
    if keep:
        lowered = line.lower()
        found = [lowered.find(w) for w in words if w and lowered.find(w) >= 0]
        at = max(0, min(found) - limit // 3) if found else 0
    piece = line[at: at + limit]
    return ("… " if at else "") + piece + " …"
