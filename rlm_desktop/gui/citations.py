"""Answers as Markdown with clickable citations (no Qt here, so it is easy to test).

A citation becomes a link ``cite:<path>?line=N`` (or ``page=N``); the ask panel opens the
viewer when one is clicked. Citations come from two places: the locations the engine
recorded (what code actually read), listed under "Sources", and ``path:line`` mentions in
the answer text, linked in place when they name a file in the library."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from urllib.parse import parse_qs, quote, unquote, urlsplit

from rlm_desktop.rlm.events import Citation, RunFinished

SCHEME = "cite"
Resolver = Callable[[str], "str | None"]  # a path as the model wrote it -> library path

_MENTION = re.compile(
    r"(?<![\w/.~-])(?P<path>(?:~|\.{0,2}/)?[\w.~-]+(?:/[\w.~ -]*[\w.~-])*\.[A-Za-z0-9]{1,8})"
    r"(?:(?::|, line |\s+line\s+)(?P<line>\d+)(?:-\d+)?|(?:#page=|, page |\s+page\s+)(?P<page>\d+))"
)

BUDGET_NAMES = {
    "iterations": "iterations",
    "sub_calls": "sub-calls",
    "depth": "recursion depth",
    "tokens": "tokens",
    "time": "time",
    "wall_clock": "time",
}


def citation_url(citation: Citation) -> str:
    query = []
    if citation.line is not None:
        query.append(f"line={citation.line}")
    if citation.page is not None:
        query.append(f"page={citation.page}")
    return f"{SCHEME}:{quote(citation.path)}" + ("?" + "&".join(query) if query else "")


def parse_citation_url(url: str) -> Citation | None:
    parts = urlsplit(url)
    if parts.scheme != SCHEME or not parts.path:
        return None
    query = parse_qs(parts.query)

    def number(key: str) -> int | None:
        values = query.get(key)
        return int(values[0]) if values and values[0].isdigit() else None

    return Citation(unquote(parts.path), number("line"), number("page"))


def citation_label(citation: Citation) -> str:
    label = citation.path
    if citation.page is not None:
        label += f", page {citation.page}"
    if citation.line is not None:
        label += f":{citation.line}"
    return label


def _md_text(text: str) -> str:
    return re.sub(r"([\\`*_\[\]<>])", r"\\\1", text)


def link_mentions(text: str, resolve: Resolver | None) -> str:
    """Turn ``path:line`` / ``path#page=N`` mentions into citation links. Mentions that
    name no known file are left as they are (the model may have made them up)."""

    def replace(match: re.Match[str]) -> str:
        path = match.group("path")
        target = resolve(path) if resolve else None
        if not target:
            return match.group(0)
        line = match.group("line")
        page = match.group("page")
        citation = Citation(target, int(line) if line else None, int(page) if page else None)
        return f"[{_md_text(match.group(0))}]({citation_url(citation)})"

    return _MENTION.sub(replace, text)


def answer_markdown(finished: RunFinished, resolve: Callable[[], Resolver | None] | None = None) -> str:
    """The whole answer area: a status note, the answer with linked mentions, the sources."""
    parts: list[str] = []
    if finished.status == "budget_exhausted":
        budget = BUDGET_NAMES.get(finished.budget or "", finished.budget or "a")
        parts.append(f"> **Partial answer**: the {budget} budget ran out before the model finished. "
                     "Raise it in Settings to let it work longer.")
    elif finished.status == "cancelled":
        parts.append("> **Stopped.** This is what the model had so far.")
    elif finished.status == "error":
        parts.append(f"> **The run failed**: {finished.error or 'unknown error'}")
    answer = finished.answer.strip()
    if answer and resolve is not None and _MENTION.search(answer):
        answer = link_mentions(answer, resolve())  # the resolver lists the library: only when needed
    parts.append(answer or "*No answer.*")
    sources = _unique(finished.citations)
    if sources:
        parts.append("**Sources**\n\n" + "\n".join(
            f"- [{_md_text(citation_label(c))}]({citation_url(c)})" for c in sources))
    return "\n\n".join(parts)


def _unique(citations: Iterable[Citation]) -> list[Citation]:
    seen: set[Citation] = set()
    out = []
    for c in citations:
        if c not in seen:
            seen.add(c)
            out.append(c)
    return out


def suffix_resolver(paths: Iterable[str]) -> Resolver:
    """Resolve a path as the model wrote it (absolute, relative, or a bare file name) to
    the one library path it names; ``None`` when none or several match."""
    known = list(paths)
    exact = set(known)

    def resolve(path: str) -> str | None:
        if path in exact:
            return path
        tail = "/" + path.lstrip("./~")
        matches = [p for p in known if p.endswith(tail)]
        return matches[0] if len(matches) == 1 else None

    return resolve
