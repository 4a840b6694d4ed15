"""Text from the files a person keeps besides documents: XLSX workbooks and mail
(single ``.eml`` messages and ``.mbox`` mailboxes).

``extract.extract_bytes`` calls these with the file's bytes; like the other format
functions they return text (lines a search hit or a grep match can cite) and raise
``ValueError`` with a reason a person can read. The layout is chosen for citing: one
spreadsheet row per line (headed by its row number), one header per line, and a
``--- message N of M ---`` line before each message of a mailbox.
"""

from __future__ import annotations

import datetime as dt
import email
import email.header
import email.policy
import io
import logging
import re
import warnings
from collections.abc import Iterator
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from email.message import EmailMessage
from typing import TYPE_CHECKING, cast

from rlm_desktop.library.decode import SkipFile, check_zip, decode_bytes, html_to_text, normalize_newlines

if TYPE_CHECKING:
    from openpyxl.worksheet._read_only import ReadOnlyWorksheet

log = logging.getLogger(__name__)

XLSX_MAX_ROWS = 100_000  # per sheet
XLSX_MAX_CELLS = 1_000_000  # per workbook, counting empty cells inside a row: about 20 s of openpyxl
_OLE_MAGIC = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"
_SPACES = re.compile(r"[\t\r\n]+")
_FORMAT_NOISE = re.compile(r'"[^"]*"|\[[^\]]*\]|\\.')  # quoted text, [$€-407] and [Red], escapes
_DECIMALS = re.compile(r"0\.(0+)")

# --- XLSX ------------------------------------------------------------------------------


def xlsx_text(data: bytes) -> str:
    """Each worksheet as ``# [sheet NAME]`` followed by its non-empty rows, one per line:
    ``row N:`` and the cells separated by tabs, trailing empty cells dropped. Values are
    the ones Excel cached for formulas (``data_only``); a formula never calculated (a
    file written by a script) shows as an empty cell."""
    if data.startswith(_OLE_MAGIC):
        raise ValueError("not an XLSX file: it is an OLE2 document (a password-protected workbook or an old .xls)")
    check_zip(data, "XLSX")
    import openpyxl

    with warnings.catch_warnings():
        # openpyxl warns about every feature it drops (data validation, slicers, ...)
        warnings.simplefilter("ignore")
        try:
            workbook = openpyxl.load_workbook(io.BytesIO(data), read_only=True, data_only=True, keep_links=False)
        except Exception as exc:  # openpyxl raises KeyError, XML and zip errors for a bad package
            raise ValueError(f"not a valid XLSX file ({type(exc).__name__}: {exc})") from None
        try:
            parts, cells_left = [], XLSX_MAX_CELLS
            for sheet in workbook.worksheets:
                text, cells_left = _sheet_text(sheet, cells_left)
                parts.append(text)
            return "\n\n".join(parts)
        finally:
            workbook.close()


def _sheet_text(sheet: ReadOnlyWorksheet, cells_left: int) -> tuple[str, int]:
    """One sheet's lines, and how many cells the workbook may still read after it."""
    lines = [f"# [sheet {_SPACES.sub(' ', sheet.title)}]"]
    sheet.reset_dimensions()  # some writers store a wrong size, which would cut rows off
    kept = 0
    try:
        for number, row in enumerate(sheet.iter_rows(), 1):
            cells_left -= len(row)
            if cells_left < 0 or kept >= XLSX_MAX_ROWS:
                lines.append(
                    f"[rows from {number} on are left out: the index reads at most {XLSX_MAX_ROWS:,} rows "
                    f"per sheet and {XLSX_MAX_CELLS:,} cells per workbook]"
                )
                break
            cells = ["" if cell.value is None else _cell_text(cell.value, cell.number_format) for cell in row]
            while cells and not cells[-1]:
                cells.pop()
            if cells:
                lines.append(f"row {number}: " + "\t".join(cells))
                kept += 1
    except Exception as exc:  # one broken sheet must not lose the others
        log.warning("sheet %r of a workbook could not be read: %s", sheet.title, exc)
        lines.append(f"[the rest of this sheet could not be read: {type(exc).__name__}: {exc}]")
    return "\n".join(lines), max(cells_left, 0)


def _cell_text(value: object, number_format: str) -> str:
    """A cell as a person reads it: ISO dates, numbers with the decimals their format
    shows (money keeps its cents) or Excel's 15 significant digits, no float noise."""
    if isinstance(value, str):
        return _SPACES.sub(" ", value).strip()
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    if isinstance(value, dt.datetime):
        value = (value + dt.timedelta(microseconds=500_000)).replace(microsecond=0)
        if value.time() == dt.time(0):
            return value.date().isoformat()
        return value.isoformat(sep=" ", timespec="minutes" if value.second == 0 else "seconds")
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, dt.time):
        return value.isoformat(timespec="minutes" if value.second == 0 else "seconds")
    if isinstance(value, int | float):
        return _number_text(value, number_format or "General")
    return _SPACES.sub(" ", str(value)).strip()  # timedelta for durations


def _number_text(value: int | float, number_format: str) -> str:
    """Fixed decimals (``0.00``, ``#,##0.00 [$€]``) and percents as the format shows them,
    rounded half up from the shortest repr as Excel does (2.675 -> 2.68); anything else
    as stored, to Excel's 15 significant digits (0.1 + 0.2 -> 0.3)."""
    section = _FORMAT_NOISE.sub("", number_format.split(";")[0])
    percent = "%" in section
    decimals = _DECIMALS.search(section)
    if not percent and (decimals is None or "E" in section.upper()):
        return str(value) if isinstance(value, int) else f"{value:.15g}"
    number = Decimal(repr(value)) * (100 if percent else 1)
    places = len(decimals.group(1)) if decimals else 0
    try:
        text = str(number.quantize(Decimal(1).scaleb(-places), rounding=ROUND_HALF_UP))
    except InvalidOperation:  # more digits than Decimal keeps
        text = f"{float(number):.15g}"
    return text + ("%" if percent else "")


# --- mail ------------------------------------------------------------------------------

_MAIL_HEADERS = ("From", "To", "Cc", "Date", "Subject")
_SURROGATES = re.compile("[\udc80-\udcff]")  # how the email package keeps undecodable bytes
_MBOX_FROM = re.compile(rb"^From ", re.M)
_MBOXRD_QUOTED = re.compile(rb"^>(>*From )", re.M)


def email_text(data: bytes) -> str:
    """One message (an ``.eml`` file)."""
    try:
        return _message_text(data)
    except Exception as exc:  # the email package has odd corners; say which
        raise ValueError(f"not a readable e-mail message ({type(exc).__name__}: {exc})") from None


def mbox_text(data: bytes) -> str:
    """Every message of a mailbox in order, each after a ``--- message N of M ---`` line.
    Messages start at lines beginning ``From `` (the rule of ``mailbox.mbox``, which is
    not used itself: it opens the file for writing and reads it again from disk)."""
    starts = [match.start() for match in _MBOX_FROM.finditer(data)]
    if not starts:
        if data.strip():
            raise ValueError('not an mbox mailbox: no line starts with "From "')
        return ""
    ends = [*starts[1:], len(data)]
    parts = []
    for number, (start, end) in enumerate(zip(starts, ends, strict=True), 1):
        raw = data[start:end]
        newline = raw.find(b"\n")
        raw = _MBOXRD_QUOTED.sub(rb"\1", raw[newline + 1 :] if newline >= 0 else b"")
        try:
            text = _message_text(raw)
        except Exception as exc:  # one broken message must not lose the others
            log.warning("message %d of a mailbox could not be read: %s", number, exc)
            text = f"[this message could not be read: {type(exc).__name__}: {exc}]"
        parts.append(f"--- message {number} of {len(starts)} ---\n{text}")
    return "\n\n".join(parts)


def _message_text(raw: bytes) -> str:
    """Header lines, one ``Attachment:`` line per attachment, a blank line, the body."""
    message = cast(EmailMessage, email.message_from_bytes(raw, policy=email.policy.default))
    lines = [f"{name}: {value}" for name in _MAIL_HEADERS if (value := _header(message, name))]
    body = message.get_body(preferencelist=("plain", "html"))
    for part in _attachments(message, body):
        lines.append(f"Attachment: {_attachment_label(part)}")
    text = ""
    if isinstance(body, EmailMessage):
        text = _part_text(body)
        if body.get_content_subtype() == "html":
            text = html_to_text(text)
    return "\n\n".join(part for part in ("\n".join(lines), normalize_newlines(text).strip("\n")) if part)


def _header(message: EmailMessage, name: str) -> str:
    """A header's decoded value on one line. Raw 8-bit bytes (old mailers wrote Latin-1
    or UTF-8 without encoded words; the parser would show U+FFFD) are decoded like a
    text file's, and where the structured parser gives up the raw value is kept."""
    raw = ", ".join(v for k, v in message.raw_items() if k.lower() == name.lower())
    if _SURROGATES.search(raw):
        value = _decoded(raw.encode("utf-8", "surrogateescape"))
    else:
        try:
            value = ", ".join(str(v) for v in message.get_all(name, []))
        except Exception:  # malformed values can break the structured header parser
            value = raw
    return " ".join(value.split())


def _decoded(data: bytes) -> str:
    """Bytes in an unknown charset, guessed as for a text file."""
    try:
        return decode_bytes(data)
    except SkipFile:
        return data.decode("utf-8", errors="replace").replace("\x00", "")


def _part_text(part: EmailMessage) -> str:
    """A text part's content in its declared charset, else in the one that fits (mail
    often declares ASCII or nothing for UTF-8, or a charset Python does not know)."""
    payload = part.get_payload(decode=True)
    if not isinstance(payload, bytes):
        return ""
    charset = part.get_content_charset()
    if charset:
        try:
            return payload.decode(charset)
        except (LookupError, UnicodeDecodeError):
            pass
    return _decoded(payload)


def _attachments(part: EmailMessage, body: object) -> Iterator[EmailMessage]:
    """The parts that are files rather than the message's text: named or marked as
    attachments, or not text at all. A forwarded message is one attachment."""
    if part is body:
        return
    if part.is_multipart() and part.get_content_type() != "message/rfc822":
        for sub in part.iter_parts():
            yield from _attachments(sub, body)  # type: ignore[arg-type]
    elif part.get_filename() or part.is_attachment() or part.get_content_maintype() != "text":
        yield part


def _attachment_label(part: EmailMessage) -> str:
    """``name (size, type)``; the size is the decoded one, as the file would be saved.
    A forwarded message is named by its subject."""
    ctype = part.get_content_type()
    if ctype == "message/rfc822":
        inner = part.get_payload(0) if part.is_multipart() else None
        subject = _header(inner, "Subject") if isinstance(inner, EmailMessage) else ""
        return f'forwarded message "{subject}" ({ctype})'
    name = " ".join((part.get_filename() or "unnamed").split())
    payload = part.get_payload(decode=True)
    return f"{name} ({_size_text(len(payload) if isinstance(payload, bytes) else 0)}, {ctype})"


def _size_text(size: int) -> str:
    if size < 1000:
        return f"{size} bytes"
    if size < 1_000_000:
        return f"{size / 1e3:.1f} KB"
    return f"{size / 1e6:.1f} MB"


TEXT_BY_KIND = {"xlsx": xlsx_text, "email": email_text, "mbox": mbox_text}
