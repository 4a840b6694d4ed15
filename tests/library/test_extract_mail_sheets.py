"""XLSX workbooks, .eml messages and .mbox mailboxes become citable lines; bad or
hostile files are an error with a reason, never a crash."""

from __future__ import annotations

import datetime as dt
import io
import mailbox
import os
import zipfile
from email.message import EmailMessage
from email.utils import format_datetime
from pathlib import Path

import pytest

from rlm_desktop.library import extract, extract_office
from rlm_desktop.library.extract import classify, extract_file
from rlm_desktop.library.store import Library

LIMIT = 50_000_000


def text_of(path: Path, kind: str) -> str:
    ex = extract_file(str(path), kind, LIMIT)
    assert ex.status == "ok", ex.error
    return "\n".join(c[3] for c in ex.chunks)


def make_budget_xlsx(path: Path) -> Path:
    """Two sheets; the total is a formula whose cached value is written into the sheet
    XML the way Excel saves it (openpyxl itself writes formulas without values)."""
    import openpyxl

    workbook = openpyxl.Workbook()
    budget = workbook.active
    budget.title = "Budget"
    budget.append(["Date", "Item", "Amount"])
    budget.append([dt.date(2024, 1, 5), "Rent", 1234.5])
    budget.append([dt.date(2024, 2, 1), "Groceries", 0.1 + 0.2])
    budget.append([None, "Total", "=SUM(C2:C3)"])
    budget.append([])
    budget.append(["Paid on", dt.datetime(2024, 3, 1, 9, 30)])
    for cell in ("C2", "C4", "E2"):  # E2: a formatted empty cell, as spreadsheets leave behind
        budget[cell].number_format = "#,##0.00"
    notes = workbook.create_sheet("Notes für Vermieter")
    notes.append(["Landlord", "Mrs. Okonkwo"])
    notes.append(["Raise", 0.125])
    notes["B2"].number_format = "0.0%"
    buffer = io.BytesIO()
    workbook.save(buffer)
    with zipfile.ZipFile(buffer) as source, zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as target:
        for info in source.infolist():
            data = source.read(info)
            if info.filename == "xl/worksheets/sheet1.xml":
                assert b"<f>SUM(C2:C3)</f><v></v>" in data
                data = data.replace(b"<f>SUM(C2:C3)</f><v></v>", b"<f>SUM(C2:C3)</f><v>1234.8</v>")
            target.writestr(info, data)
    return path


def test_mail_and_sheet_names_are_classified() -> None:
    assert classify("Budget 2024.XLSX") == "xlsx" and classify("macros.xlsm") == "xlsx"
    assert classify("offer.eml") == "email" and classify("Archive.mbox") == "mbox"
    assert classify("old.xls") == "binary"


def test_xlsx_sheets_become_rows_on_lines(tmp_path: Path) -> None:
    ex = extract_file(str(make_budget_xlsx(tmp_path / "budget.xlsx")), "xlsx", LIMIT)
    assert ex.status == "ok", ex.error
    text = "\n".join(c[3] for c in ex.chunks)
    assert text.split("\n") == [
        "# [sheet Budget]",
        "row 1: Date\tItem\tAmount",
        "row 2: 2024-01-05\tRent\t1234.50",  # money keeps its cents; the empty E2 is dropped
        "row 3: 2024-02-01\tGroceries\t0.3",  # 0.30000000000000004 as Excel shows it
        "row 4: \tTotal\t1234.80",  # the formula's cached value, not its text
        "row 6: Paid on\t2024-03-01 09:30",
        "",
        "# [sheet Notes für Vermieter]",
        "row 1: Landlord\tMrs. Okonkwo",
        "row 2: Raise\t12.5%",
    ]
    assert ex.lines == 10 and "SUM(" not in text


def test_number_formats_round_like_excel() -> None:
    assert extract_office._number_text(2.675, "0.00") == "2.68"  # the float is 2.67499999...
    assert extract_office._number_text(-1234.5, '[$€-407] #,##0.00;[Red]-#,##0.00') == "-1234.50"
    assert extract_office._number_text(1234.0, "General") == "1234"
    assert extract_office._number_text(12345678901234567890, "General") == "12345678901234567890"
    assert extract_office._number_text(0.5, "0%") == "50%"


def test_long_sheets_are_cut_with_a_note(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import openpyxl

    workbook = openpyxl.Workbook()
    for i in range(1, 11):
        workbook.active.append([f"item {i}", i])
    workbook.save(tmp_path / "long.xlsx")
    monkeypatch.setattr(extract_office, "XLSX_MAX_ROWS", 3)
    lines = text_of(tmp_path / "long.xlsx", "xlsx").split("\n")
    assert lines[1:4] == ["row 1: item 1\t1", "row 2: item 2\t2", "row 3: item 3\t3"]
    assert lines[4].startswith("[rows from 4 on are left out") and len(lines) == 5


def test_corrupt_xlsx_is_an_error(tmp_path: Path) -> None:
    (tmp_path / "random.xlsx").write_bytes(os.urandom(4096))
    with zipfile.ZipFile(tmp_path / "junk.xlsx", "w") as z:
        z.writestr("random.bin", os.urandom(256))
    (tmp_path / "locked.xlsx").write_bytes(b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + os.urandom(1024))
    real = make_budget_xlsx(tmp_path / "budget.xlsx").read_bytes()
    (tmp_path / "truncated.xlsx").write_bytes(real[: len(real) // 2])
    for name in ("random.xlsx", "junk.xlsx", "truncated.xlsx"):
        ex = extract_file(str(tmp_path / name), "xlsx", LIMIT)
        assert ex.status == "error" and "not a valid XLSX file" in ex.error, (name, ex.error)
    ex = extract_file(str(tmp_path / "locked.xlsx"), "xlsx", LIMIT)
    assert ex.status == "error" and "password-protected" in ex.error


def test_zip_bomb_xlsx_is_refused_before_parsing(tmp_path: Path) -> None:
    bomb = make_budget_xlsx(tmp_path / "bomb.xlsx")
    with zipfile.ZipFile(bomb, "a", zipfile.ZIP_DEFLATED) as z, z.open("xl/media/image1.bin", "w") as member:
        zeros = bytes(1 << 20)
        for _ in range(extract.ZIP_MAX_UNPACKED // len(zeros) + 1):
            member.write(zeros)
    assert bomb.stat().st_size < 2_000_000  # small on disk, huge unpacked
    ex = extract_file(str(bomb), "xlsx", LIMIT)
    assert ex.status == "error" and "refused" in ex.error and "zip bomb" in ex.error, ex.error
    assert ex.chunks == []


def letter(subject: str, body: str, sender: str = "Jürgen Müller <juergen@example.de>", **content) -> EmailMessage:
    msg = EmailMessage()
    msg["From"] = sender
    msg["To"] = "Ana Souza <ana@example.org>"
    msg["Date"] = format_datetime(dt.datetime(2024, 3, 5, 10, 0, tzinfo=dt.timezone(dt.timedelta(hours=1))))
    msg["Subject"] = subject
    msg.set_content(body, **content)
    return msg


def test_eml_decodes_base64_utf8_and_encoded_subject(tmp_path: Path) -> None:
    msg = letter("Grüße aus Köln: Miete für März", "Die Miete für März beträgt 1.234,50 €.\nBis bald,\nJürgen\n",
                 charset="utf-8", cte="base64")
    msg["Cc"] = "Zoë <zoe@example.net>"
    msg.add_attachment(b"%PDF-1.4 contract " * 113, maintype="application", subtype="pdf", filename="Mietvertrag März.pdf")
    raw = msg.as_bytes()
    assert b"=?utf-8?" in raw and b"Content-Transfer-Encoding: base64" in raw and "März".encode() not in raw
    (tmp_path / "rent.eml").write_bytes(raw)
    lines = text_of(tmp_path / "rent.eml", "email").split("\n")
    assert lines == [
        "From: Jürgen Müller <juergen@example.de>",
        "To: Ana Souza <ana@example.org>",
        "Cc: Zoë <zoe@example.net>",
        "Date: Tue, 05 Mar 2024 10:00:00 +0100",
        "Subject: Grüße aus Köln: Miete für März",
        "Attachment: Mietvertrag März.pdf (2.0 KB, application/pdf)",
        "",
        "Die Miete für März beträgt 1.234,50 €.",
        "Bis bald,",
        "Jürgen",
    ]


def test_forwarded_message_and_unnamed_parts_are_listed_not_read(tmp_path: Path) -> None:
    msg = letter("Fwd: keys", "See below.\n")
    msg.add_attachment(letter("Keys", "the spare key is under the third flowerpot\n"))
    msg.add_attachment(bytes(1500), maintype="image", subtype="png")
    (tmp_path / "fwd.eml").write_bytes(msg.as_bytes())
    text = text_of(tmp_path / "fwd.eml", "email")
    assert 'Attachment: forwarded message "Keys" (message/rfc822)' in text
    assert "Attachment: unnamed (1.5 KB, image/png)" in text
    assert text.endswith("\n\nSee below.") and "flowerpot" not in text


def test_html_only_eml_becomes_text(tmp_path: Path) -> None:
    html = ("<html><head><style>p{color:red}</style></head><body><p>Your order <b>4711</b> has shipped.</p>"
            "<script>track()</script><p>Thanks for shopping</p></body></html>")
    (tmp_path / "order.eml").write_bytes(letter("Order shipped", html, subtype="html").as_bytes())
    text = text_of(tmp_path / "order.eml", "email")
    assert text.startswith("From: Jürgen Müller") and "Subject: Order shipped" in text
    body = text.split("\n\n", 1)[1]
    assert "Your order" in body and "4711" in body and "Thanks for shopping" in body
    assert "<p>" not in text and "track()" not in text and "color:red" not in text


def test_plain_text_is_preferred_to_html(tmp_path: Path) -> None:
    msg = letter("Both", "the plain version\n")
    msg.add_alternative("<p>the html version</p>", subtype="html")
    (tmp_path / "both.eml").write_bytes(msg.as_bytes())
    text = text_of(tmp_path / "both.eml", "email")
    assert "the plain version" in text and "html version" not in text and "Attachment" not in text


@pytest.mark.parametrize(
    "raw",
    [
        b"Subject: =?utf-8?b?broken\nContent-Type: text/plain; charset=klingon\nContent-Transfer-Encoding: base64\n\n!!!not base64",
        b"From: <<<@>>>\nTo: ,,,\nDate: yesterday-ish\nSubject: caf\xe9 latin-1 bytes\n\nna\xefve body in cp1252\n",
        b"Content-Type: multipart/mixed; boundary=\"x\"\n\n--x\nContent-Type: text/plain\n\nunterminated part",
        b"\x00\x01\x02 not a message at all \xff\xfe",
        b"",
    ],
)
def test_malformed_messages_never_raise(tmp_path: Path, raw: bytes) -> None:
    (tmp_path / "bad.eml").write_bytes(raw)
    ex = extract_file(str(tmp_path / "bad.eml"), "email", LIMIT)
    assert ex.status in ("ok", "error"), ex
    if b"na\xefve" in raw:  # 8-bit Latin-1 without any charset declared
        text = "\n".join(c[3] for c in ex.chunks)
        assert ex.status == "ok" and "Subject: café latin-1 bytes" in text and "naïve body" in text


def make_mbox(path: Path) -> Path:
    box = mailbox.mbox(str(path))
    box.add(letter("Dentist", "Your appointment is on Monday at 9.\n"))
    box.add(letter("Boiler", "The plumber Thaddeus replaces the boiler valve on Friday.\n",
                   sender="Plumbing Co <office@plumbing.example>", charset="utf-8", cte="quoted-printable"))
    box.add(letter("Quote", "Dear Ana,\nFrom the desk of the mayor: the park reopens.\n"))
    box.flush()
    box.close()
    return path


def test_mbox_messages_in_order_with_separators(tmp_path: Path) -> None:
    box = make_mbox(tmp_path / "Inbox.mbox")
    assert b"\n>From the desk" in box.read_bytes()  # mailbox quoted the body line
    text = text_of(box, "mbox")
    lines = text.split("\n")
    starts = [i for i, line in enumerate(lines) if line.startswith("--- message ")]
    assert [lines[i] for i in starts] == [f"--- message {n} of 3 ---" for n in (1, 2, 3)]
    assert [lines[i + 4] for i in starts] == ["Subject: Dentist", "Subject: Boiler", "Subject: Quote"]
    assert "From the desk of the mayor: the park reopens." in lines  # unquoted again
    assert not (tmp_path / "Inbox.mbox.lock").exists()


def test_not_an_mbox_is_an_error(tmp_path: Path) -> None:
    (tmp_path / "notes.mbox").write_text("just some notes\nwith no messages\n")
    ex = extract_file(str(tmp_path / "notes.mbox"), "mbox", LIMIT)
    assert ex.status == "error" and "not an mbox" in ex.error
    (tmp_path / "empty.mbox").write_bytes(b"")
    assert extract_file(str(tmp_path / "empty.mbox"), "mbox", LIMIT).status == "ok"


def test_library_indexes_mail_and_sheets(lib: Library, folder: Path) -> None:
    box = make_mbox(folder / "Inbox.mbox")
    make_budget_xlsx(folder / "budget.xlsx")
    (folder / "order.eml").write_bytes(letter("Order shipped", "<p>Parcel 4711 left the depot</p>", subtype="html").as_bytes())
    lib.add_folder(folder)
    report = lib.scan()
    assert report.added == 3 and not report.failed
    assert lib.stats().kinds == {"mbox": 1, "xlsx": 1, "email": 1}

    result = lib.search("Thaddeus boiler valve")
    assert result.total_files == 1
    hit = result.hits[0]
    assert hit.path == str(box) and "[Thaddeus]" in hit.snippet
    assert "Thaddeus" in lib.read(hit.path, hit.line, hit.line)
    before = lib.read(hit.path, 1, hit.line).split("\n")
    assert [line for line in before if line.startswith("--- message")][-1] == "--- message 2 of 3 ---"

    hit = lib.search("Okonkwo").hits[0]
    assert hit.path.endswith("budget.xlsx") and lib.read(hit.path, hit.line, hit.line) == "row 1: Landlord\tMrs. Okonkwo"
    assert [m.path for m in lib.grep(r"depot")] == [str(folder / "order.eml")]
