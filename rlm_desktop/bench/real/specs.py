"""The real corpora's specs (``corpora/<id>.toml``): the pinned archive and the questions
written by hand over it, each with its answer, the file (and line or page) where it stands
and a quote copied from that text. ``load_specs`` reads and validates them;
``tasks_of`` turns one installed spec into bench tasks."""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from pathlib import Path

from rlm_desktop.bench.real.fetch import Source
from rlm_desktop.bench.tasks.base import Corpus, Task

SPEC_DIR = Path(__file__).with_name("corpora")
PARTS = ("dev", "held-out")
FAMILIES = ("lookup", "locate", "enumerate", "absent")
TYPES = ("text", "number", "date", "set", "absent")
SHAPES = ("html", "man", "pdf", "python", "javascript")


@dataclass(frozen=True)
class Question:
    id: str
    family: str
    question: str
    type: str
    answer: str
    file: str = ""
    also: tuple[str, ...] = ()
    line: int | None = None
    page: int | None = None
    quote: str = ""
    accept: tuple[str, ...] = ()
    items: tuple[str, ...] = ()
    universe: tuple[str, ...] = ()
    searched: tuple[str, ...] = ()
    note: str = ""

    @property
    def where(self) -> str:
        if not self.file:
            return ""
        if self.page is not None:
            return f"{self.file}#page={self.page}"
        return f"{self.file}:{self.line}" if self.line is not None else self.file


@dataclass(frozen=True)
class Spec:
    id: str
    part: str
    shape: str
    title: str
    source: Source
    questions: tuple[Question, ...]


class SpecError(ValueError):
    pass


def load_specs(spec_dir: Path = SPEC_DIR) -> list[Spec]:
    specs = [load_spec(p) for p in sorted(spec_dir.glob("*.toml"))]
    ids = [q.id for s in specs for q in s.questions]
    dupes = sorted({i for i in ids if ids.count(i) > 1})
    if dupes:
        raise SpecError(f"question ids used twice: {dupes}")
    return specs


def load_spec(path: Path) -> Spec:
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise SpecError(f"{path.name}: {exc}") from exc
    where = path.name
    for key in ("id", "part", "shape", "title", "source", "questions"):
        if key not in data:
            raise SpecError(f"{where}: missing {key!r}")
    if data["part"] not in PARTS:
        raise SpecError(f"{where}: part must be one of {PARTS}")
    if data["shape"] not in SHAPES:
        raise SpecError(f"{where}: shape must be one of {SHAPES}")
    try:
        source = Source.from_dict(data["source"])
    except (KeyError, ValueError) as exc:
        raise SpecError(f"{where}: source: {exc}") from exc
    questions = tuple(_question(q, f"{where}: question {i + 1}") for i, q in enumerate(data["questions"]))
    return Spec(data["id"], data["part"], data["shape"], data["title"], source, questions)


def _question(q: dict, where: str) -> Question:
    for key in ("id", "family", "question", "type", "answer"):
        if key not in q:
            raise SpecError(f"{where}: missing {key!r}")
    if q["family"] not in FAMILIES:
        raise SpecError(f"{where} ({q['id']}): family {q['family']!r} is not one of {FAMILIES}")
    if q["type"] not in TYPES:
        raise SpecError(f"{where} ({q['id']}): type {q['type']!r} is not one of {TYPES}")
    if q["type"] == "set" and not q.get("items"):
        raise SpecError(f"{where} ({q['id']}): a set question lists its items")
    if q["type"] != "absent" and not q.get("file"):
        raise SpecError(f"{where} ({q['id']}): say which file the answer stands in")

    def strings(key: str) -> tuple[str, ...]:
        value = q.get(key, ())
        return tuple(str(v) for v in ([value] if isinstance(value, str) else value))

    return Question(
        id=str(q["id"]), family=q["family"], question=str(q["question"]).strip(), type=q["type"],
        answer=str(q["answer"]), file=str(q.get("file", "")), also=strings("also"),
        line=q.get("line"), page=q.get("page"), quote=str(q.get("quote", "")), accept=strings("accept"),
        items=strings("items"), universe=strings("universe"), searched=strings("searched"), note=str(q.get("note", "")),
    )


def task_of(spec: Spec, q: Question, corpus: Corpus, size: str) -> Task:
    """One question as a bench task over the installed corpus."""
    kind = {"text": "text", "number": "number", "date": "date", "set": "set", "absent": "absent"}[q.type]
    expected: str | float | tuple[str, ...]
    if kind == "number":
        expected = float(q.answer.replace(",", ""))
    elif kind == "set":
        expected = q.items
    else:
        expected = q.answer
    cite = tuple(f for f in (q.file, *q.also) if f) if q.family != "absent" else ()
    return Task(
        id=q.id, family=q.family, question=q.question, expected=expected, kind=kind, corpus=corpus, size=size,
        universe=q.universe, searched=q.searched, accept=q.accept, cite=cite, part=spec.part, source=q.where,
    )
