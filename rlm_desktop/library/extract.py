"""Turn one file into text the index can store, and say where each piece came from.

``extract_file`` runs in worker processes, so it takes and returns only picklable
values and never raises for a bad file: the reason goes into ``Extracted.error``.
Text is cut into chunks of whole lines; each chunk carries its first line (and page,
for PDFs), so a search hit or a grep match can cite ``path:line`` or ``path#page=N``
without re-reading the file. Joining a file's chunk texts with ``"\\n"`` gives back its
full extracted text (pages of a PDF are joined with ``PAGE_BREAK``).
"""

from __future__ import annotations

import errno
import io
import json
import logging
import os
import re
import stat
import time
from dataclasses import dataclass, field
from typing import BinaryIO

from rlm_desktop.library.decode import (  # noqa: F401 - ZIP_MAX_UNPACKED and SkipFile are part of this module's face
    SNIFF_BYTES,
    ZIP_MAX_UNPACKED,
    SkipFile,
    check_zip,
    decode_bytes,
    html_to_text,
    normalize_newlines,
)
from rlm_desktop.library.roff import is_roff, roff_to_text

log = logging.getLogger(__name__)

CHUNK_LINES = 200  # big chunks index faster (fewer FTS5 rows); hits still get their exact line
CHUNK_CHARS = 16384
PAGE_BREAK = "\n\f\n"  # between PDF pages in ``Library.text`` / ``Library.read``

CODE_EXT = frozenset(
    """py pyi pyx pxd js mjs cjs ts tsx jsx c h cc cpp cxx hpp hh hxx java go rs rb php cs swift kt kts
    scala sh bash zsh fish ps1 bat cmd sql r m mm lua pl pm hs ml mli ex exs erl hrl clj cljs dart vue
    svelte css scss sass less toml yaml yml ini cfg conf xml xsd xsl gradle cmake mk make el lisp scm
    jl f f90 for asm s v vhd proto thrift graphql gql tf hcl nix zig nim d groovy awk sed diff patch
    properties env lock pth""".split()
)
CODE_NAMES = frozenset({"makefile", "dockerfile", "gnumakefile", "cmakelists.txt", "rakefile", "gemfile", "vagrantfile", "procfile", "jenkinsfile"})
TEXT_EXT = frozenset("txt text rst log tex bib org adoc asciidoc nfo me readme cfg1 srt vtt rtf2 license".split())
KIND_BY_EXT = {
    **{e: "code" for e in CODE_EXT},
    **{e: "text" for e in TEXT_EXT},
    "md": "markdown", "markdown": "markdown", "mdx": "markdown",
    "html": "html", "htm": "html", "xhtml": "html",
    "pdf": "pdf",
    "docx": "docx",
    "xlsx": "xlsx", "xlsm": "xlsx",
    "eml": "email", "mbox": "mbox",
    "csv": "csv", "tsv": "csv",
    "json": "json", "jsonl": "json", "ndjson": "json", "geojson": "json",
    "ipynb": "notebook",
}
# Known binary or unsupported formats: skipped without opening them.
BINARY_EXT = frozenset(
    """png jpg jpeg gif bmp tif tiff ico icns webp heic psd ai eps svgz raw cr2 nef
    zip gz tgz bz2 xz lz lzma zst 7z rar tar jar war ear whl egg apk ipa dmg iso img deb rpm msi cab
    so dll dylib exe bin o a lib obj pyc pyo pyd class wasm elc beam dat pack idx
    mp3 mp4 m4a m4v aac ogg oga ogv opus flac wav aiff mov avi mkv webm wmv flv mid midi
    ttf otf woff woff2 eot
    sqlite sqlite3 db mdb accdb parquet feather arrow npy npz pkl pickle h5 hdf5 nc mat sav
    doc xls ppt pptx odt ods odp pages numbers key epub mobi djvu xps
    gguf ggml pt pth2 onnx safetensors ckpt pb tflite mo gmo""".split()
)


def classify(name: str) -> str:
    """The kind a file name suggests: one of the ``FileRecord.kind`` values, ``"binary"``
    for formats we never read, or ``"text"`` for an unknown extension (sniffed later)."""
    lower = name.lower()
    if lower in CODE_NAMES:
        return "code"
    dot = lower.rfind(".")
    if dot <= 0:
        return "text"
    ext = lower[dot + 1 :]
    if ext in BINARY_EXT:
        return "binary"
    return KIND_BY_EXT.get(ext, "text")


Chunk = tuple[int, int, int | None, str]  # (first line, number of lines, page, text)


@dataclass
class Extracted:
    """The outcome of reading one file. ``status`` is ok | skipped | error | vanished."""

    kind: str
    status: str
    error: str = ""
    content_hash: str = ""
    chunks: list[Chunk] = field(default_factory=list)
    chars: int = 0
    lines: int = 0
    pages: int = 0
    extract_s: float = 0.0


class NotRegularFile(OSError):
    """The path is not a regular file (any more): a named pipe, socket, device or link."""


def not_regular(mode: int) -> str:
    """Why a file of this ``st_mode`` is not read, in words a person can act on."""
    if stat.S_ISFIFO(mode):
        what = "a named pipe"
    elif stat.S_ISSOCK(mode):
        what = "a socket"
    elif stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        what = "a device"
    elif stat.S_ISLNK(mode):
        what = "it became a symbolic link after the folder was listed"
    else:
        what = "an unknown kind of file"
    return f"not a regular file ({what}): not read"


# Windows has none of these but O_BINARY (and no named pipes in folders).
_OPEN_FLAGS = os.O_RDONLY | sum(getattr(os, name, 0) for name in ("O_NONBLOCK", "O_NOFOLLOW", "O_NOCTTY", "O_CLOEXEC", "O_BINARY"))


def open_regular(path: str) -> BinaryIO:
    """Open a file for reading only if it is a regular file, without ever blocking.

    A path checked during the walk can be swapped before it is read. ``O_NONBLOCK`` makes
    opening a named pipe return at once (a plain open waits for a writer forever),
    ``O_NOFOLLOW`` refuses a file replaced by a symbolic link (the scanner passes a link's
    checked target instead), and ``fstat`` on the open descriptor tells what was opened
    before a byte is read. Raises ``NotRegularFile`` for anything but a regular file,
    ``IsADirectoryError`` for a folder, and the usual ``OSError`` otherwise."""
    try:
        fd = os.open(path, _OPEN_FLAGS)
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise NotRegularFile(errno.ELOOP, not_regular(stat.S_IFLNK), path) from None
        if exc.errno == errno.ENXIO:  # a socket (or a device with no driver) cannot be opened
            raise NotRegularFile(errno.ENXIO, not_regular(stat.S_IFSOCK), path) from None
        raise
    try:
        mode = os.fstat(fd).st_mode
        if stat.S_ISDIR(mode):
            raise IsADirectoryError(errno.EISDIR, "is a folder", path)
        if not stat.S_ISREG(mode):
            raise NotRegularFile(errno.EINVAL, not_regular(mode), path)
        return os.fdopen(fd, "rb")  # O_NONBLOCK does nothing to reads of a regular file
    except BaseException:
        os.close(fd)
        raise


def content_hash(data: bytes) -> str:
    import hashlib  # here, not at the top: the sandboxed reader imports this module and needs no OpenSSL

    return hashlib.blake2b(data, digest_size=16).hexdigest()


def hash_file(path: str, limit: int) -> str:
    """Hash a file's bytes (used to recognise renamed files); '' if unreadable or too big."""
    try:
        with open_regular(path) as fh:
            if os.fstat(fh.fileno()).st_size > limit:
                return ""
            return content_hash(fh.read())
    except OSError:
        return ""


# --- chunking -------------------------------------------------------------------------


_LINES = re.compile(rf"(?:[^\n]*\n){{{CHUNK_LINES}}}")


def chunk_lines(text: str, page: int | None = None) -> list[Chunk]:
    """Cut text into chunks of at most CHUNK_LINES lines and about CHUNK_CHARS chars,
    always at line boundaries (a single longer line is one chunk), so "\\n".join of the
    chunk texts is the text again. Works on offsets, never on a list of all lines, and
    counts each window's newlines once: a chunk's line count follows from where it was
    cut (this runs over every byte indexed, so each pass over the text shows)."""
    chunks: list[Chunk] = []
    pos, line, n = 0, 1, len(text)
    while True:
        end = min(n, pos + CHUNK_CHARS)
        newlines = text.count("\n", pos, end)
        if end == n and newlines < CHUNK_LINES:
            stop, count = n, newlines + 1
        elif newlines >= CHUNK_LINES:
            stop, count = _LINES.match(text, pos, end).end() - 1, CHUNK_LINES  # type: ignore[union-attr]
        elif newlines:
            stop, count = text.rfind("\n", pos, end), newlines  # the window's last newline ends the chunk
        else:
            stop, count = text.find("\n", pos), 1
            stop = n if stop < 0 else stop
        chunks.append((line, count, page, text[pos:stop]))
        if stop >= n:
            return chunks
        line += count
        pos = stop + 1


def count_lines(text: str) -> int:
    if not text:
        return 0
    return text.count("\n") + (0 if text.endswith("\n") else 1)


def _chunked_lines(chunks: list[Chunk], text: str) -> int:
    """``count_lines(text)`` from ``chunk_lines(text)``'s chunks, without another pass."""
    if not chunks:
        return 0
    return chunks[-1][0] + chunks[-1][1] - 1 - (1 if text.endswith("\n") else 0)


# --- one function per format -----------------------------------------------------------


def _plain(data: bytes) -> str:
    return normalize_newlines(decode_bytes(data))


def _notebook(data: bytes) -> str:
    try:
        nb = json.loads(decode_bytes(data))
    except json.JSONDecodeError as exc:
        raise ValueError(f"not a valid notebook (bad JSON: {exc.msg} at line {exc.lineno})") from None
    cells = nb.get("cells") if isinstance(nb, dict) else None
    if not isinstance(cells, list):
        raise ValueError("not a valid notebook (no cells)")
    parts: list[str] = []
    for number, cell in enumerate(cells, 1):
        if not isinstance(cell, dict):
            continue
        source = cell.get("source", "")
        if isinstance(source, list):
            source = "".join(str(s) for s in source)
        parts.append(f"# [{cell.get('cell_type', 'cell')} cell {number}]\n{normalize_newlines(str(source)).rstrip()}")
    return "\n\n".join(parts)


def _docx(data: bytes) -> str:
    import docx

    check_zip(data, "DOCX")
    try:
        document = docx.Document(io.BytesIO(data))
    except Exception as exc:  # python-docx raises many types for a bad package
        raise ValueError(f"not a valid DOCX file ({type(exc).__name__}: {exc})") from None
    parts = [p.text for p in document.paragraphs]
    for table in document.tables:
        for row in table.rows:
            parts.append("\t".join(cell.text for cell in row.cells))
    return normalize_newlines("\n".join(parts))


def _pdf_pages(data: bytes) -> list[str]:
    from pypdf import PdfReader
    from pypdf.errors import PdfReadError

    try:
        reader = PdfReader(io.BytesIO(data), strict=False)
        if reader.is_encrypted:
            try:
                ok = reader.decrypt("")
            except Exception:
                ok = 0
            if not ok:
                raise ValueError("encrypted PDF: it needs a password, so its text cannot be read")
        pages = []
        for number, page in enumerate(reader.pages, 1):
            try:
                pages.append(normalize_newlines(page.extract_text() or ""))
            except Exception as exc:  # one broken page must not lose the others
                log.warning("page %d of a PDF could not be read: %s", number, exc)
                pages.append("")
        return pages
    except ValueError:
        raise
    except (PdfReadError, Exception) as exc:
        raise ValueError(f"corrupt or unreadable PDF ({type(exc).__name__}: {exc})") from None


def extract_bytes(data: bytes, kind: str) -> tuple[list[Chunk], int, int]:
    """(chunks, lines, pages) for file content of the given kind. Raises SkipFile or
    ValueError with a reason a person can read."""
    if kind == "pdf":
        pages = _pdf_pages(data)
        chunks: list[Chunk] = []
        for number, page_text in enumerate(pages, 1):
            chunks.extend(chunk_lines(page_text, number))
        return chunks, sum(count_lines(p) for p in pages), len(pages)
    if kind == "docx":
        text = _docx(data)
    elif kind == "html":
        text = html_to_text(decode_bytes(data))
    elif kind == "notebook":
        text = _notebook(data)
    elif kind in ("xlsx", "email", "mbox"):
        # here: openpyxl and the email parser load only for these kinds
        from rlm_desktop.library.extract_office import TEXT_BY_KIND

        text = TEXT_BY_KIND[kind](data)
    else:
        text = _plain(data)
        if kind == "text" and is_roff(text):  # a manual page's source: read as the page
            text = roff_to_text(text)
    chunks = chunk_lines(text) if text else []
    return chunks, _chunked_lines(chunks, text), 0


def extract_file(path: str, kind: str, max_bytes: int) -> Extracted:
    """Read and extract one file. Never raises for a bad or vanished file. ``path`` must
    be the file itself: a symbolic link is not followed (see ``open_regular``)."""
    started = time.perf_counter()
    try:
        with open_regular(path) as fh:
            size = os.fstat(fh.fileno()).st_size
            if size > max_bytes:
                return Extracted(kind, "skipped", f"larger than the {max_bytes / 1e6:.0f} MB size limit")
            # A buffer of the file's size: ``read(max_bytes + 1)`` allocated 50 MB for
            # every file and cost more CPU than reading the bytes. One byte more tells a
            # file that grew since the stat, and then the rest is read up to the limit.
            data = fh.read(size + 1)
            if len(data) > size:
                data += fh.read(max_bytes - size)
    except NotRegularFile as exc:
        return Extracted(kind, "skipped", exc.strerror)
    except FileNotFoundError:
        return Extracted(kind, "vanished", "the file disappeared before it could be read")
    except PermissionError:
        return Extracted(kind, "error", "permission denied")
    except IsADirectoryError:
        return Extracted(kind, "vanished", "turned into a folder before it could be read")
    except OSError as exc:
        return Extracted(kind, "error", f"cannot read the file: {exc.strerror or exc}")
    if len(data) > max_bytes:
        return Extracted(kind, "skipped", f"larger than the {max_bytes / 1e6:.0f} MB size limit")
    digest = content_hash(data)
    try:
        chunks, lines, pages = extract_bytes(data, kind)
    except SkipFile as exc:
        return Extracted(kind, "skipped", str(exc), digest)
    except ValueError as exc:
        return Extracted(kind, "error", str(exc), digest)
    except Exception as exc:  # a library bug on odd input must not stop a scan
        log.warning("extracting %s failed", path, exc_info=True)
        return Extracted(kind, "error", f"could not extract text ({type(exc).__name__}: {exc})", digest)
    chars = sum(len(c[3]) for c in chunks) + max(0, len(chunks) - 1)
    return Extracted(kind, "ok", "", digest, chunks, chars, lines, pages, time.perf_counter() - started)
