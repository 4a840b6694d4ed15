"""The private folders are deterministic, their files are real PDF/DOCX/XLSX/mail, and
their ground truths hold: each is checked against the text read back from the written
files (pypdf, python-docx, openpyxl, csv, email), not against the generator's records."""

from __future__ import annotations

import csv
import dataclasses
import email
import email.policy
import functools
import hashlib
import io
import mailbox
import re
import subprocess
import sys
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path

import pytest

from rlm_desktop.bench.tasks.base import Task
from rlm_desktop.bench.tasks.private import FOLDERS, PHRASINGS, private_folders, private_tasks
from rlm_desktop.bench.tasks.private.render import FORMATS

PARTS = ("dev", "held-out")
SEEDS = (0, 1)
FAMILIES = {"lookup", "aggregate", "compare", "cross_ref", "absent", "enumerate"}
_MONTHS = "January February March April May June July August September October November December".split()


@functools.cache
def _tasks(seed: int, part: str) -> tuple[Task, ...]:
    return tuple(private_tasks(seed, part))


@functools.cache
def _read(rel: str, content: str | bytes) -> str:
    """The text a reader gets back from one file."""
    if isinstance(content, str):
        return content
    if rel.endswith(".pdf"):
        from pypdf import PdfReader

        return "\n".join(page.extract_text() for page in PdfReader(io.BytesIO(content)).pages)
    if rel.endswith(".docx"):
        import docx

        document = docx.Document(io.BytesIO(content))
        cells = [c.text for t in document.tables for row in t.rows for c in row.cells]
        return "\n".join([p.text for p in document.paragraphs] + cells)
    if rel.endswith(".xlsx"):
        import openpyxl

        book = openpyxl.load_workbook(io.BytesIO(content))
        rows = [row for sheet in book for row in sheet.iter_rows(values_only=True)]
        return "\n".join(" | ".join(v.date().isoformat() if isinstance(v, datetime) else str(v) for v in row) for row in rows)
    raise AssertionError(f"no reader for {rel}")


def _corpus_text(task: Task, rel: str) -> str:
    return _read(rel, dict(task.corpus.files)[rel])


_AMOUNT = re.compile(r"\d{1,3}(?:([,. '])\d{3})(?:\1\d{3})*(?:[.,]\d{2})?(?!\d)|\d+(?:[.,]\d{1,2})?(?!\d)")
_MINUS = re.compile(r"-(?:[$€]|USD |EUR |US\$)?$")  # "-1,234.50", "-$1,234.50", "-€1.234,50"


def _amounts(text: str) -> set[Decimal]:
    """Every number the text writes, however it groups thousands and marks decimals; it
    tries each digit run as a start, so a table's "12 1 234,50" gives 12 and 1234.50."""
    found = set()
    for start in (m.start() for m in re.finditer(r"(?<!\d)\d", text)):
        token = _AMOUNT.match(text, start).group()
        decimal = re.search(r"[.,](\d{2})$", token)
        whole = re.sub(r"\D", "", token[: decimal.start()] if decimal else token)
        value = Decimal(whole + ("." + decimal.group(1) if decimal else ""))
        found.add(-value if _MINUS.search(text[max(0, start - 5) : start]) else value)
    return found


def _date_forms(d: date) -> set[str]:
    month = _MONTHS[d.month - 1]
    return {d.isoformat(), f"{d:%d.%m.%Y}", f"{d:%d/%m/%Y}", f"{month} {d.day}, {d.year}", f"{month[:3]} {d.day}, {d.year}",
            f"{d.day} {month} {d.year}", f"{d.day} {month[:3]} {d.year}", f"{d:%d} {month[:3]} {d.year}"}


def _digest(seed: int, part: str) -> str:
    corpora, questions = private_folders(seed, part)
    h = hashlib.sha256()
    for name in FOLDERS:
        for rel, content in corpora[name].files:
            h.update(rel.encode() + b"\0" + (content if isinstance(content, bytes) else content.encode()) + b"\0")
    h.update(repr(questions).encode())
    return h.hexdigest()


@pytest.mark.slow
def test_same_seed_same_bytes_also_in_another_process_other_seed_other_folders() -> None:
    code = "import sys; from tests.bench.test_private import _digest; print(_digest(int(sys.argv[1]), sys.argv[2]))"
    root = Path(__file__).resolve().parents[2]
    for part in PARTS:
        here = _digest(4, part)
        assert _digest(4, part) == here
        other = subprocess.run([sys.executable, "-c", code, "4", part], cwd=root, capture_output=True, text=True, check=True,
                               env={"PYTHONHASHSEED": "123", "PYTHONPATH": str(root), "PATH": "/usr/bin:/bin"})
        assert other.stdout.strip() == here
    a, _ = private_folders(0, "dev")
    b, _ = private_folders(1, "dev")
    assert a["invoices"].files != b["invoices"].files


def _strings(value: object) -> set[str]:
    """Every string a phrasing holds (templates, names, labels, formats; not dict keys)."""
    if isinstance(value, str):
        return {value}
    if dataclasses.is_dataclass(value):
        return set().union(*(_strings(getattr(value, f.name)) for f in dataclasses.fields(value)))
    if isinstance(value, dict):
        return set().union(set(), *(_strings(v) for v in value.values()))
    if isinstance(value, tuple | list):
        return set().union(set(), *(_strings(v) for v in value))
    return set()


def test_dev_and_held_out_share_no_template_name_label_or_format() -> None:
    dev, held = (_strings(PHRASINGS[p]) for p in PARTS)
    # separators like ", " are not phrasing, nor are file formats; all else with a letter is
    shared = {s for s in dev & held if re.search(r"\w", s) and s not in FORMATS}
    assert not shared
    words = {p: {w for n in PHRASINGS[p].names.people for w in n} | set(PHRASINGS[p].names.clients) for p in PARTS}
    assert not words["dev"] & words["held-out"]
    questions = {p: {t.question for s in SEEDS for t in _tasks(s, p)} for p in PARTS}
    assert not questions["dev"] & questions["held-out"]


@pytest.mark.parametrize("part", PARTS)
def test_no_name_of_the_other_phrasing_appears_in_a_folder(part: str) -> None:
    other = PHRASINGS[PARTS[1 - PARTS.index(part)]].names
    foreign = [*other.clients, *other.suppliers, *(f"{f} {last}" for f, last in other.people), other.business]
    desk = next(t for t in _tasks(0, part) if t.corpus.id.endswith("-desk")).corpus
    text = "\n".join(_read(rel, content) for rel, content in desk.files)
    assert [n for n in foreign if n in text] == []


@pytest.mark.parametrize("part", PARTS)
@pytest.mark.parametrize("seed", SEEDS)
def test_task_fields(seed: int, part: str) -> None:
    tasks = _tasks(seed, part)
    assert 25 <= len(tasks) <= 35
    assert {t.family for t in tasks} == FAMILIES
    assert len({t.id for t in tasks}) == len(tasks)
    for t in tasks:
        assert t.part == part and t.size == f"{len(t.corpus.files)} files"
        paths = dict(t.corpus.files)
        assert all(c in paths for c in t.cite), t.id
        if t.family in ("lookup", "cross_ref"):
            assert t.cite, t.id
        if t.kind == "set":
            assert t.expected and set(t.expected) < set(t.universe), t.id
        if t.kind == "number":
            assert round(t.expected, 2) == t.expected, t.id
        if t.kind == "date":
            date.fromisoformat(t.expected)
        if t.source:
            assert t.source.split("#")[0].split(":")[0] in paths, t.id


@pytest.mark.parametrize("part", PARTS)
@pytest.mark.parametrize("seed", SEEDS)
def test_lookup_and_cross_ref_answers_stand_in_a_cited_file(seed: int, part: str) -> None:
    for t in _tasks(seed, part):
        if t.family not in ("lookup", "cross_ref"):
            continue
        texts = [_corpus_text(t, rel) for rel in t.cite]
        if t.kind == "number":
            assert any(Decimal(str(t.expected)) in _amounts(text) for text in texts), t.id
        elif t.kind == "date":
            forms = _date_forms(date.fromisoformat(t.expected))
            assert any(f in text for f in forms for text in texts), t.id
        else:
            names = (t.expected, *t.accept)
            assert any(n.casefold() in text.casefold() for n in names for text in texts), t.id


@pytest.mark.parametrize("part", PARTS)
@pytest.mark.parametrize("seed", SEEDS)
def test_absent_facts_are_missing_where_the_question_points(seed: int, part: str) -> None:
    for t in _tasks(seed, part):
        if t.family != "absent":
            continue
        folder = "\n".join(_read(rel, c) for rel, c in t.corpus.files).casefold()
        assert all(s.casefold() in folder for s in t.searched), t.id  # the subject is in the folder
        for rel in t.cite:
            assert not [u for u in t.universe if u in _corpus_text(t, rel)], t.id


def _ledger(task: Task) -> list[tuple[str, int, str, Decimal, Decimal, Decimal]]:
    """(number, year, client, net, tax, gross) of every row of the written CSV register."""
    rel, content = next((r, c) for r, c in task.corpus.files if r.endswith(".csv"))
    delimiter = ";" if ";" in content.splitlines()[0] else ","
    rows = list(csv.reader(io.StringIO(content), delimiter=delimiter))[1:]

    def money(cell: str) -> Decimal:
        return Decimal(cell.replace(",", "."))

    return [(r[0], int(re.search(r"\d{4}", r[1]).group()), r[2], money(r[4]), money(r[5]), money(r[6])) for r in rows]


@pytest.mark.parametrize("part", PARTS)
@pytest.mark.parametrize("seed", SEEDS)
def test_money_recomputed_in_decimal_from_the_written_files(seed: int, part: str) -> None:
    tasks = [t for t in _tasks(seed, part) if t.corpus.id.endswith("-invoices")]
    corpus = tasks[0].corpus
    ledger = _ledger(tasks[0])
    assert 40 <= sum(g > 0 for *_, g in ledger) <= 60 and any(g < 0 for *_, g in ledger)
    by_number = {row[0]: row for row in ledger}
    documents = [(rel, c) for rel, c in corpus.files if not rel.endswith((".csv", ".xlsx"))]
    assert sorted(Path(rel).stem for rel, _ in documents) == sorted(by_number)
    for rel, content in documents:  # each invoice agrees with the register, and adds up
        _, _, client, net, tax, gross = by_number[Path(rel).stem]
        text = _read(rel, content)
        assert client in text and {net, tax, gross} <= _amounts(text), rel
        assert net + tax == gross
    paid = {}
    for line in _read(*next((r, c) for r, c in corpus.files if r.endswith(".xlsx"))).splitlines()[1:]:
        when, number, client, amount = line.split(" | ")
        assert Decimal(amount).quantize(Decimal("0.01")) == by_number[number][5]
        paid[number] = when

    clients = sorted({row[2] for row in ledger}, key=len, reverse=True)
    years = sorted({row[1] for row in ledger})

    def billed(client: str | None, year: int) -> Decimal:
        return sum((g for _, y, c, _, _, g in ledger if y == year and client in (None, c)), Decimal(0))

    checked = set()
    for t in tasks:
        qtype = t.id.rsplit("-", 1)[1]
        client = next((c for c in clients if c in t.question), None)
        year = int(re.findall(r"\d{4}", t.question)[0]) if re.search(r"\d{4}", t.question) else 0
        if qtype in ("client_year_total", "year_total"):
            assert Decimal(str(t.expected)) == billed(client, year), t.id
        elif qtype == "largest":
            assert Decimal(str(t.expected)) == max(g for _, y, *_, g in ledger if y == year)
        elif qtype == "count_client":
            assert t.expected == sum(c == client and y == year and g > 0 for _, y, c, *_, g in ledger)
        elif qtype == "top_client":
            assert t.expected == max(clients, key=lambda c: billed(c, year))
        elif qtype == "both_years":
            assert set(t.expected) == {c for c in clients if billed(c, years[0]) and billed(c, years[1])}
        elif qtype == "grew":
            both = [c for c in clients if billed(c, years[0]) and billed(c, years[1])]
            assert set(t.expected) == {c for c in both if billed(c, years[1]) > billed(c, years[0])}
        elif qtype == "unpaid":
            assert set(t.expected) == {n for n, *_, g in ledger if g > 0 and n not in paid}
        else:
            continue
        checked.add(qtype)
    assert checked == {"client_year_total", "year_total", "largest", "count_client", "top_client", "both_years", "grew", "unpaid"}


@pytest.mark.parametrize("part", PARTS)
def test_folders_write_and_their_files_open(part: str, tmp_path: Path) -> None:
    import docx
    import openpyxl
    from pypdf import PdfReader

    desk = next(t for t in _tasks(1, part) if t.corpus.id.endswith("-desk")).corpus
    folder = desk.write(tmp_path)
    written = sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file())
    assert written == sorted(rel for rel, _ in desk.files)
    kinds = set()
    for rel in written:
        path = folder / rel
        kinds.add(path.suffix)
        if path.suffix == ".pdf":
            assert path.read_bytes().startswith(b"%PDF-") and PdfReader(path).pages[0].extract_text().strip()
        elif path.suffix == ".docx":
            assert docx.Document(str(path)).paragraphs
        elif path.suffix == ".xlsx":
            assert openpyxl.load_workbook(path).worksheets[0].max_row > 10
        elif path.suffix == ".mbox":
            messages = list(mailbox.mbox(path))
            assert len(messages) > 10 and all(m["From"] and m["Date"] for m in messages)
        elif path.suffix == ".eml":
            msg = email.message_from_bytes(path.read_bytes(), policy=email.policy.default)
            assert msg["From"] and msg["Date"] and msg.get_body(("plain",)) is not None
        elif path.suffix == ".csv":
            assert len(path.read_text().splitlines()) > 40
        else:
            assert path.suffix in (".txt", ".md") and path.read_text().strip()
    assert {".pdf", ".docx", ".xlsx", ".csv", ".txt"} <= kinds and kinds & {".mbox", ".eml"}


@pytest.mark.parametrize("part", PARTS)
@pytest.mark.parametrize("seed", SEEDS)
def test_meeting_and_mail_counts_recomputed_from_the_written_notes_and_headers(seed: int, part: str, tmp_path: Path) -> None:
    style = PHRASINGS[part].meetings
    tasks = [t for t in _tasks(seed, part) if t.corpus.id.endswith("-project")]
    files = tasks[0].corpus.files
    present_lines = []
    for rel, content in files:
        if not rel.endswith((".mbox", ".eml")):
            lines = _read(rel, content).splitlines()
            present_lines.append(next(ln for ln in lines if ln.startswith(tuple(f"{p}:" for p in style.present_labels))))
    senders = []
    for rel, content in files:
        if rel.endswith(".eml"):
            senders.append(email.message_from_string(content, policy=email.policy.default)["From"].addresses[0].display_name)
        elif rel.endswith(".mbox"):
            (tmp_path / "export.mbox").write_text(content, encoding="utf-8")
            senders += [m["From"].split(" <")[0] for m in mailbox.mbox(tmp_path / "export.mbox")]
    team = set(PHRASINGS[part].names.people) | {PHRASINGS[part].names.owner}

    def there(person: tuple[str, str], line: str) -> bool:  # first names and surnames are unique in a pool
        return any(re.search(rf"\b{re.escape(n)}\b", line, re.IGNORECASE) for n in person)

    checked = set()
    for t in tasks:
        qtype = t.id.rsplit("-", 1)[1]
        person = next((p for p in team if f"{p[0]} {p[1]}" in t.question), None)
        if qtype == "every_meeting":
            assert set(t.expected) == {p[1] for p in team if all(there(p, line) for line in present_lines)}
        elif qtype == "missed_count":
            assert t.expected == sum(not there(person, line) for line in present_lines)
        elif qtype == "count_from":
            assert t.expected == senders.count(f"{person[0]} {person[1]}")
        else:
            continue
        checked.add(qtype)
    assert checked == {"every_meeting", "missed_count", "count_from"}
