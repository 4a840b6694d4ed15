"""User-shaped private folders, deterministic by seed: a small business's invoices and
exports, its contracts, a project's e-mail and the notes of the project's meeting. Each
kind is one corpus; the questions that cross kinds run on "desk", all of them together.

The held-out phrasing is a different suite, not a reseeded one: every question wording,
name pool, document label, file layout and money or date format has its own held-out
version (``PHRASINGS``), so tuning on dev cannot fit held-out by accident."""

from __future__ import annotations

import random
from dataclasses import dataclass

from rlm_desktop.bench.tasks.base import Corpus, Task
from rlm_desktop.bench.tasks.private import contracts, invoices, mail, meetings, names
from rlm_desktop.bench.tasks.private.question import Question

FOLDERS = ("invoices", "contracts", "project", "desk")


@dataclass(frozen=True)
class Phrasing:
    part: str
    names: names.Names
    invoices: invoices.InvoiceStyle
    contracts: contracts.ContractStyle
    mail: mail.MailStyle
    meetings: meetings.MeetingStyle


PHRASINGS = {
    "dev": Phrasing("dev", names.DEV, invoices.DEV, contracts.DEV, mail.DEV, meetings.DEV),
    "held-out": Phrasing("held-out", names.HELD_OUT, invoices.HELD_OUT, contracts.HELD_OUT, mail.HELD_OUT, meetings.HELD_OUT),
}


def private_folders(seed: int, phrasing: str) -> tuple[dict[str, Corpus], list[Question]]:
    """The corpora by folder name, and the questions asked of them."""
    if phrasing not in PHRASINGS:
        raise ValueError(f"unknown phrasing {phrasing!r}; expected one of {sorted(PHRASINGS)}")
    p = PHRASINGS[phrasing]
    rng = random.Random(f"private:{phrasing}:{seed}")
    invoice_files, questions, book = invoices.generate(rng, p.invoices, p.names)
    contract_files, asked = contracts.generate(rng, p.contracts, p.names, book)
    questions += asked
    people = rng.sample(p.names.people, 6)
    team, contact = [p.names.owner, *people[:5]], people[5]
    project = rng.choice(p.names.projects)
    mail_files, asked, start = mail.generate(rng, p.mail, p.names, project, team, contact, book)
    questions += asked
    meeting_files, asked = meetings.generate(rng, p.meetings, project, team, start.date())
    questions += asked
    files = {
        "invoices": invoice_files,
        "contracts": contract_files,
        "project": mail_files + meeting_files,
        "desk": invoice_files + contract_files + mail_files + meeting_files,
    }
    corpora = {name: Corpus(f"private-{phrasing}-s{seed}-{name}", tuple(f)) for name, f in files.items()}
    return corpora, questions


def private_tasks(seed: int, phrasing: str) -> list[Task]:
    """About 35 questions a person would ask of their own folders; ``phrasing`` is "dev"
    or "held-out" (the task's ``part``)."""
    corpora, questions = private_folders(seed, phrasing)
    tasks = []
    for i, q in enumerate(questions):
        corpus = corpora[q.folder]
        tasks.append(Task(
            f"private-{phrasing}-s{seed}-{i:02d}-{q.qtype}", q.family, q.question, q.expected, q.kind, corpus,
            f"{len(corpus.files)} files", universe=q.universe, searched=q.searched, accept=q.accept, cite=q.cite,
            part=phrasing, source=q.source,
        ))
    return tasks


__all__ = ["FOLDERS", "PHRASINGS", "Phrasing", "private_folders", "private_tasks"]
