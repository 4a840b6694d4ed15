"""Real folders for the benchmark: documentation and code bases from Debian, PyPI and npm,
pinned by version and checksum (``corpora/*.toml``), installed into the data dir on first
use (``fetch.py``), with questions written by hand over them (``specs.py``).

    tasks, missing = real_tasks("held-out")

``missing`` names each corpus that could not be installed and why (offline, say): the
bench prints it and counts those questions as not run, never as passed."""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from pathlib import Path

from rlm_desktop.bench.real.fetch import CorpusUnavailable, install
from rlm_desktop.bench.real.specs import Spec, load_specs, task_of
from rlm_desktop.bench.tasks.base import Corpus, Task

log = logging.getLogger(__name__)


def real_tasks(part: str, *, base: Path | None = None, specs: list[Spec] | None = None) -> tuple[list[Task], list[str]]:
    """The questions of every real corpus of ``part`` whose archive is (or can be) installed."""
    tasks: list[Task] = []
    missing: list[str] = []
    for spec in specs if specs is not None else load_specs():
        if spec.part != part:
            continue
        try:
            installed = install(spec.id, spec.source, base=base)
        except CorpusUnavailable as exc:
            missing.append(f"{spec.id}: {exc}")
            continue
        corpus = Corpus(spec.id, source=installed.folder, source_chars=installed.bytes)
        size = f"{installed.files} files"
        tasks += [task_of(spec, q, corpus, size) for q in spec.questions]
    return tasks, missing


@dataclass(frozen=True)
class QuoteProblem:
    question: str
    where: str
    problem: str


def _squash(text: str) -> str:
    """The text with no whitespace at all, case-folded: the HTML extractor puts inline
    elements on lines of their own ("Turn off\nfsync\n;", "pg_start_backup()\n/\n"), so
    where a quote's spaces fall is not the point; its characters in order are."""
    return re.sub(r"\s+", "", text).casefold()


def check_quotes(spec: Spec, folder: Path) -> list[QuoteProblem]:
    """Each question's quote must stand in the text the app extracts from its file (on
    its page, for a PDF), and a lookup's answer (or an accepted form) inside the quote:
    the ground truth is read off the same text the model will read."""
    from rlm_desktop.library.extract import PAGE_BREAK, classify, extract_file

    problems: list[QuoteProblem] = []
    texts: dict[str, list[str]] = {}
    for q in spec.questions:
        if not q.file:
            continue
        path = folder / q.file
        if not path.is_file():
            problems.append(QuoteProblem(q.id, q.where, "file is not in the installed corpus"))
            continue
        if q.file not in texts:
            got = extract_file(str(path), classify(path.name), 64 * 1024 * 1024)
            full = "\n".join(chunk[3] for chunk in got.chunks)
            texts[q.file] = full.split(PAGE_BREAK) if got.kind == "pdf" else [full]
        if not q.quote:
            continue
        pages = texts[q.file]
        haystack = pages[q.page - 1] if q.page and q.page <= len(pages) else "\n".join(pages)
        if _squash(q.quote) not in _squash(haystack):
            problems.append(QuoteProblem(q.id, q.where, f"quote {q.quote[:60]!r} is not in the extracted text"))
            continue
        if q.family == "lookup" and q.type in ("text", "number"):
            forms = (q.answer, *q.accept)
            if not any(_squash(f) in _squash(q.quote) for f in forms):
                problems.append(QuoteProblem(q.id, q.where, f"answer {q.answer!r} is not inside the quote"))
    return problems


__all__ = ["CorpusUnavailable", "QuoteProblem", "check_quotes", "load_specs", "real_tasks"]
