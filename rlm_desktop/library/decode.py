"""Bytes to text, shared by every format's extractor (``extract``, ``extract_office``):
the encoding of a text file, the visible text of HTML, and the zip-bomb check an office
file passes before a parser unpacks it."""

from __future__ import annotations

import codecs
import html
import io
import re

SNIFF_BYTES = 8192
# A real DOCX or XLSX unpacks to 5-20x its size; a zip bomb to thousands of times. zipfile
# stops each member at its declared size (and then fails its CRC check), so the sum of
# the declared sizes bounds what parsing can unpack.
ZIP_MAX_UNPACKED = 256 * 2**20


class SkipFile(Exception):
    """The file is fine but not something we index (binary, unsupported)."""


def check_zip(data: bytes, label: str) -> None:
    """Refuse an office file (a ZIP package) before a parser unpacks it: a file that is
    not a ZIP, or whose members declare more than ``ZIP_MAX_UNPACKED`` bytes in all."""
    import zipfile  # here, not at the top: it loads the bz2 and lzma modules, which the sandboxed reader does not need

    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            unpacked = sum(info.file_size for info in archive.infolist())
    except zipfile.BadZipFile as exc:
        raise ValueError(f"not a valid {label} file (not a ZIP archive: {exc})") from None
    if unpacked > ZIP_MAX_UNPACKED:
        raise ValueError(
            f"{label} file refused: it would unpack to {unpacked / 2**20:,.0f} MB, more than the "
            f"{ZIP_MAX_UNPACKED / 2**20:.0f} MB limit (a damaged file or a zip bomb)"
        )


_BOMS = (
    (codecs.BOM_UTF32_LE, "utf-32"),
    (codecs.BOM_UTF32_BE, "utf-32"),
    (codecs.BOM_UTF8, "utf-8-sig"),
    (codecs.BOM_UTF16_LE, "utf-16"),
    (codecs.BOM_UTF16_BE, "utf-16"),
)


def decode_bytes(data: bytes) -> str:
    """Bytes of a text file to str in whatever encoding it is in. UTF-8 is tried first
    (cheap and by far the most common); then charset-normalizer guesses. Raises
    ``SkipFile`` for binary data. Never raises on invalid bytes: they become U+FFFD."""
    for bom, encoding in _BOMS:
        if data.startswith(bom):
            return data.decode(encoding, errors="replace")
    if b"\x00" in data[:SNIFF_BYTES]:
        raise SkipFile("binary file (contains NUL bytes)")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        pass
    from charset_normalizer import from_bytes

    results = from_bytes(data[: 1 << 20])
    best = results.best()
    if best is not None:
        # On short samples several legacy code pages fit equally well; Windows-1252 is by
        # far the most common of them, so it wins a tie.
        tied = [m for m in results if m.chaos == best.chaos and m.coherence == best.coherence]
        best = next((m for m in tied if m.encoding == "cp1252"), best)
    if best is None or best.encoding is None:
        if _looks_binary(data[:SNIFF_BYTES]):
            raise SkipFile("binary file (no text encoding fits)")
        return data.decode("utf-8", errors="replace")
    return data.decode(best.encoding, errors="replace")


def _looks_binary(sample: bytes) -> bool:
    control = sum(1 for b in sample if b < 32 and b not in (9, 10, 12, 13))
    return control > len(sample) * 0.1


def normalize_newlines(text: str) -> str:
    if "\r" in text:
        text = text.replace("\r\n", "\n").replace("\r", "\n")
    return text


_INVISIBLE = re.compile(r"<(script|style|noscript|template)\b.*?</\1\s*>|<!--.*?-->", re.IGNORECASE | re.DOTALL)
_TAG = re.compile(r"<[^>]*>")


def html_to_text(markup: str) -> str:
    """Visible text of an HTML page or an HTML mail body, laid out as a browser would:
    inline elements (links, code, emphasis) stay on their line, blocks and table rows
    start new ones (inscriptis). Lines are stripped and blank runs collapsed. A one-node-
    per-line rendering had put every ``<code>`` on a line of its own, so the lines around a
    search hit held a few words (docs/benchmarks.md, ``bench retrieval``)."""
    from inscriptis import get_text
    from inscriptis.model.config import ParserConfig

    if not markup.strip():
        return ""
    try:
        text = normalize_newlines(get_text(markup, ParserConfig(display_links=False, display_images=False)))
    except ValueError:  # lxml refuses some inputs outright (e.g. a lone XML declaration)
        text = ""
    if not text.strip():
        # lxml gives up on some trees (nesting past its depth limit): the text between the
        # tags, so a page is never indexed as empty when it has words
        text = html.unescape(_TAG.sub(" ", _INVISIBLE.sub(" ", markup)))
    lines = [line.strip() for line in text.split("\n")]
    out: list[str] = []
    for line in lines:
        if line or (out and out[-1]):
            out.append(line)
    return "\n".join(out).strip("\n")
