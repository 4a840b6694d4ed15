"""Documents of the private folders, written the ways people keep them: a ``Doc`` (title,
paragraphs, tables) rendered as PDF (fpdf2), DOCX (python-docx), plain text or markdown,
and the money and date formats the folders write amounts and days in.

Every renderer is deterministic: PDF creation dates and the timestamps inside DOCX and
XLSX packages are set from the document's own date, so one seed gives the same bytes."""

from __future__ import annotations

import io
import re
import textwrap
import zipfile
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import ROUND_HALF_UP, Decimal

CENT = Decimal("0.01")
FORMATS = ("pdf", "docx", "txt", "md")

_MONTHS = ("January February March April May June July August September October November December").split()


@dataclass(frozen=True)
class Table:
    rows: tuple[tuple[str, ...], ...]  # the first row is the header


@dataclass(frozen=True)
class Heading:
    text: str


Block = str | Table | Heading  # a paragraph, a table or a section heading


@dataclass(frozen=True)
class Doc:
    title: str
    blocks: tuple[Block, ...]
    created: date  # the PDF creation date and the DOCX package timestamps
    author: str = ""


@dataclass(frozen=True)
class MoneyFormat:
    """How one document writes an amount: ``prefix`` + grouped digits + ``suffix``."""

    prefix: str
    thousands: str
    decimal: str
    suffix: str


def cents(value: Decimal) -> Decimal:
    return value.quantize(CENT, rounding=ROUND_HALF_UP)


def money(amount: Decimal, fmt: MoneyFormat) -> str:
    sign = "-" if amount < 0 else ""
    whole, frac = f"{abs(cents(amount)):.2f}".split(".")
    grouped = f"{int(whole):,}".replace(",", fmt.thousands)
    return f"{sign}{fmt.prefix}{grouped}{fmt.decimal}{frac}{fmt.suffix}"


def day(d: date, fmt: str) -> str:
    """A date in a format with named fields: ``{yyyy}``, ``{yy}``, ``{mm}``, ``{dd}``,
    ``{d}``, ``{month}`` (March) and ``{mon}`` (Mar)."""
    month = _MONTHS[d.month - 1]
    return fmt.format(yyyy=f"{d.year:04d}", yy=f"{d.year % 100:02d}", mm=f"{d.month:02d}", dd=f"{d.day:02d}",
                      d=str(d.day), month=month, mon=month[:3])


def slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")


def render(doc: Doc, fmt: str) -> str | bytes:
    if fmt == "pdf":
        return _pdf(doc)
    if fmt == "docx":
        return _docx(doc)
    if fmt == "md":
        return _markdown(doc)
    if fmt == "txt":
        return _text(doc)
    raise ValueError(f"unknown document format {fmt!r}; expected one of {FORMATS}")


def _text(doc: Doc) -> str:
    out = [doc.title, "=" * len(doc.title), ""]
    for block in doc.blocks:
        if isinstance(block, Heading):
            out += [block.text, "-" * len(block.text)]
        elif isinstance(block, Table):
            widths = [max(len(row[i]) for row in block.rows) for i in range(len(block.rows[0]))]
            for n, row in enumerate(block.rows):
                out.append("  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip())
                if n == 0:
                    out.append("  ".join("-" * w for w in widths))
        elif _LABELLED.match(block):
            out.append(block)
        else:
            out += textwrap.wrap(block, 90) or [""]
        out.append("")
    return "\n".join(out)


# "Label: value" lines and list items stay on one line in a text file, as people type them
_LABELLED = re.compile(r"(?:[-*] |\[ \] |[A-Z][\w .]{0,24}: )")


def _markdown(doc: Doc) -> str:
    out = [f"# {doc.title}", ""]
    for block in doc.blocks:
        if isinstance(block, Heading):
            out.append(f"## {block.text}")
        elif isinstance(block, Table):
            out.append("| " + " | ".join(block.rows[0]) + " |")
            out.append("|" + "|".join("---" for _ in block.rows[0]) + "|")
            out += ["| " + " | ".join(row) + " |" for row in block.rows[1:]]
        else:
            out.append(block)
        out.append("")
    return "\n".join(out)


def _stamp(d: date) -> datetime:
    return datetime(d.year, d.month, d.day, 9, 0, tzinfo=UTC)


def _pdf(doc: Doc) -> bytes:
    from fpdf import FPDF

    pdf = FPDF()
    pdf.core_fonts_encoding = "cp1252"  # so a PDF can write the euro sign in a core font
    pdf.creation_date = _stamp(doc.created)
    pdf.set_title(doc.title)
    if doc.author:
        pdf.set_author(doc.author)
    pdf.add_page()
    pdf.set_font("helvetica", style="B", size=15)
    pdf.multi_cell(0, 8, doc.title, new_x="LMARGIN", new_y="NEXT")
    pdf.ln(2)
    for block in doc.blocks:
        if isinstance(block, Heading):
            pdf.set_font("helvetica", style="B", size=11)
            pdf.multi_cell(0, 6, block.text, new_x="LMARGIN", new_y="NEXT")
        elif isinstance(block, Table):
            pdf.set_font("helvetica", size=9)
            with pdf.table(text_align="LEFT") as table:
                for row in block.rows:
                    cells = table.row()
                    for cell in row:
                        cells.cell(cell)
        else:
            pdf.set_font("helvetica", size=10)
            pdf.multi_cell(0, 5, block, new_x="LMARGIN", new_y="NEXT")
        pdf.ln(2)
    return bytes(pdf.output())


def _docx(doc: Doc) -> bytes:
    import docx

    document = docx.Document()
    props = document.core_properties
    props.title, props.author = doc.title, doc.author
    props.created = props.modified = _stamp(doc.created).replace(tzinfo=None)
    document.add_heading(doc.title, level=1)
    for block in doc.blocks:
        if isinstance(block, Heading):
            document.add_heading(block.text, level=2)
        elif isinstance(block, Table):
            table = document.add_table(rows=0, cols=len(block.rows[0]))
            table.style = "Table Grid"
            for row in block.rows:
                for cell, text in zip(table.add_row().cells, row, strict=True):
                    cell.text = text
        else:
            document.add_paragraph(block)
    buf = io.BytesIO()
    document.save(buf)
    return stable_zip(buf.getvalue(), doc.created)


def xlsx(sheets: Sequence[tuple[str, Sequence[Sequence[object]], dict[str, str]]], created: date) -> bytes:
    """A workbook of (sheet title, rows, {column letter: number format}); the first row
    of each sheet is its header."""
    import openpyxl

    book = openpyxl.Workbook()
    book.remove(book.active)
    book.properties.created = _stamp(created).replace(tzinfo=None)
    for title, rows, formats in sheets:
        sheet = book.create_sheet(title)
        for row in rows:
            sheet.append(list(row))
        for column, number_format in formats.items():
            for cell in sheet[column][1:]:
                cell.number_format = number_format
            sheet.column_dimensions[column].width = 16
    buf = io.BytesIO()
    book.save(buf)
    return stable_zip(buf.getvalue(), created)


_CORE_TIMES = re.compile(rb"(<dcterms:(?:created|modified)\b[^>]*>)[^<]*")


def stable_zip(data: bytes, created: date) -> bytes:
    """Rewrite an Office package with fixed entry timestamps and core-property dates
    (python-docx and openpyxl stamp the time of saving)."""
    when = _stamp(created)
    iso = when.strftime("%Y-%m-%dT%H:%M:%SZ").encode()
    src = zipfile.ZipFile(io.BytesIO(data))
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as dst:
        for info in src.infolist():
            body = src.read(info.filename)
            if info.filename == "docProps/core.xml":
                body = _CORE_TIMES.sub(lambda m: m.group(1) + iso, body)
            dst.writestr(zipfile.ZipInfo(info.filename, date_time=when.timetuple()[:6]), body, zipfile.ZIP_DEFLATED)
    return out.getvalue()
