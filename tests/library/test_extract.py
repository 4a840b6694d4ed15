"""Each supported format becomes text with the right line/page structure; bad bytes
never raise."""

from __future__ import annotations

import json
from pathlib import Path

from rlm_desktop.library.extract import CHUNK_LINES, chunk_lines, classify, extract_file
from tests.library.conftest import make_docx, make_pdf

LIMIT = 50_000_000


def text_of(path: Path, kind: str) -> str:
    ex = extract_file(str(path), kind, LIMIT)
    assert ex.status == "ok", ex.error
    return "\n".join(c[3] for c in ex.chunks)


def test_chunks_rejoin_to_the_text_and_know_their_first_line() -> None:
    text = "\n".join(f"line {i}" for i in range(1, 451)) + "\n"
    chunks = chunk_lines(text)
    assert "\n".join(c[3] for c in chunks) == text
    assert [c[0] for c in chunks] == [1, 1 + CHUNK_LINES, 1 + 2 * CHUNK_LINES]
    for first, _n, _page, body in chunks:
        assert body.split("\n")[0] == f"line {first}"


def test_long_lines_make_smaller_chunks() -> None:
    text = "\n".join("x" * 1000 for _ in range(20))
    chunks = chunk_lines(text)
    assert len(chunks) > 1 and "\n".join(c[3] for c in chunks) == text


def test_legacy_encodings_are_detected(tmp_path: Path) -> None:
    latin = tmp_path / "notes.txt"
    latin.write_bytes("Café au lait, déjà vu, naïve façade.\nÉcole élève été.\n".encode("cp1252"))
    assert "déjà vu" in text_of(latin, "text")
    utf16 = tmp_path / "u16.txt"
    utf16.write_bytes("grüße aus Köln\n".encode("utf-16"))
    assert "grüße aus Köln" in text_of(utf16, "text")


def test_invalid_bytes_do_not_crash(tmp_path: Path) -> None:
    bad = tmp_path / "bad.py"
    bad.write_bytes(b"print('ok')\n\xff\xfe\xfa broken \x80\x81\nx = 1\n")
    ex = extract_file(str(bad), "code", LIMIT)
    assert ex.status == "ok" and "x = 1" in "\n".join(c[3] for c in ex.chunks)


def test_crlf_becomes_lines(tmp_path: Path) -> None:
    f = tmp_path / "win.txt"
    f.write_bytes(b"one\r\ntwo\r\nthree")
    ex = extract_file(str(f), "text", LIMIT)
    assert ex.chunks[0][3] == "one\ntwo\nthree" and ex.lines == 3


def test_binary_is_skipped(tmp_path: Path) -> None:
    f = tmp_path / "blob"
    f.write_bytes(b"\x00\x01\x02" * 1000)
    ex = extract_file(str(f), "text", LIMIT)
    assert ex.status == "skipped" and "binary" in ex.error
    assert classify("photo.JPG") == "binary" and classify("Makefile") == "code" and classify("x.ipynb") == "notebook"


def test_html_keeps_text_not_markup(tmp_path: Path) -> None:
    f = tmp_path / "page.html"
    f.write_text("<html><head><style>body{color:red}</style><script>var secret=1</script></head>"
                 "<body><h1>Title here</h1><p>Para <b>bold</b> text</p></body></html>")
    text = text_of(f, "html")
    assert "Title here" in text and "bold" in text
    assert "color:red" not in text and "secret" not in text and "<p>" not in text


def test_html_keeps_inline_elements_on_their_line_and_rows_apart(tmp_path: Path) -> None:
    # Sphinx pages: a one-node-per-line rendering put every <code> and link on a line of
    # its own, so a sentence was spread over five lines
    f = tmp_path / "cmdline.html"
    f.write_text("<html><body><dl><dt><code>-P</code></dt><dd><p>See also the <a href='#e'><code>PYTHONSAFEPATH</code></a>"
                 " environment variable, and <code>-E</code> options.</p></dd></dl>"
                 "<table><tr><td>Net</td><td>10.00</td></tr><tr><td>Tax</td><td>2.00</td></tr></table></body></html>")
    lines = text_of(f, "html").split("\n")
    assert "See also the PYTHONSAFEPATH environment variable, and -E options." in lines
    assert any(line.split() == ["Net", "10.00"] for line in lines) and any(line.split() == ["Tax", "2.00"] for line in lines)


def test_html_too_deep_for_the_parser_still_gives_its_words(tmp_path: Path) -> None:
    f = tmp_path / "deep.html"
    f.write_text("<div>" * 5000 + "the deep words<script>var secret=1</script>" + "</div>" * 5000)
    text = text_of(f, "html")
    assert "the deep words" in text and "secret" not in text


def test_notebook_cells(tmp_path: Path) -> None:
    nb = {"cells": [{"cell_type": "markdown", "source": ["# Analysis\n", "of data"]},
                    {"cell_type": "code", "source": "df = load('sales.csv')", "outputs": []}],
          "metadata": {}, "nbformat": 4, "nbformat_minor": 5}
    f = tmp_path / "a.ipynb"
    f.write_text(json.dumps(nb))
    text = text_of(f, "notebook")
    assert "[markdown cell 1]" in text and "df = load('sales.csv')" in text and "nbformat" not in text


def test_broken_notebook_is_an_error(tmp_path: Path) -> None:
    f = tmp_path / "bad.ipynb"
    f.write_text("{not json")
    ex = extract_file(str(f), "notebook", LIMIT)
    assert ex.status == "error" and "notebook" in ex.error


def test_csv_and_json_keep_their_lines(tmp_path: Path) -> None:
    f = tmp_path / "t.csv"
    f.write_text("name,amount\nalice,3\nbob,4\n")
    ex = extract_file(str(f), "csv", LIMIT)
    assert ex.lines == 3 and "bob,4" in ex.chunks[0][3]
    j = tmp_path / "c.json"
    j.write_text(json.dumps({"timeout": 30, "retries": 2}, indent=2))
    assert '"timeout": 30' in text_of(j, "json")


def test_pdf_pages_are_kept(tmp_path: Path) -> None:
    pdf = make_pdf(tmp_path / "r.pdf", [["Introduction"], ["Results", "The total is 42"]])
    ex = extract_file(str(pdf), "pdf", LIMIT)
    assert ex.status == "ok" and ex.pages == 2
    assert [(c[2], c[3]) for c in ex.chunks] == [(1, "Introduction"), (2, "Results\nThe total is 42")]


def test_docx_paragraphs(tmp_path: Path) -> None:
    doc = make_docx(tmp_path / "m.docx", ["Minutes of the meeting", "Budget approved: 1200"])
    assert text_of(doc, "docx") == "Minutes of the meeting\nBudget approved: 1200"


def test_chunking_holds_for_odd_line_shapes() -> None:
    import random

    rng = random.Random(7)
    for _ in range(500):
        lines = ["x" * rng.choice([0, 1, 40, 300, 20_000]) for _ in range(rng.randint(0, 500))]
        text = "\n".join(lines) + rng.choice(["", "\n", "\n\n"])
        chunks = chunk_lines(text)
        assert "\n".join(c[3] for c in chunks) == text
        expected_first = 1
        for first, count, _page, body in chunks:
            assert first == expected_first and count == body.count("\n") + 1 <= CHUNK_LINES
            expected_first += count
