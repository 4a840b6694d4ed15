"""The read API the engine and the sandbox use: search, grep, read, stats, read-only."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from rlm_desktop.errors import LibraryError
from rlm_desktop.library.store import MIGRATIONS, Library
from tests.at_once import at_once
from tests.library.conftest import make_pdf


@pytest.fixture
def indexed(lib: Library, folder: Path) -> Library:
    (folder / "notes.md").write_text("# Trip\n\nWe met Alice in Lisbon.\nThe vault code is 7741.\n")
    (folder / "config.py").write_text("\n".join(f"x{i} = {i}" for i in range(1, 200)) + "\nDEFAULT_TIMEOUT = 30  # seconds\n")
    (folder / "other.txt").write_text("Nothing about timeouts here, only the weather in Porto.\n")
    make_pdf(folder / "report.pdf", [["Annual report"], ["Revenue grew", "Lisbon office opened"]])
    lib.add_folder(folder)
    report = lib.scan()
    assert report.added == 4 and not report.failed
    return lib


def test_search_ranks_and_cites_the_line(indexed: Library, folder: Path) -> None:
    result = indexed.search("default timeout")
    assert result.total_files == 1
    hit = result.hits[0]
    assert hit.path == str(folder / "config.py") and hit.line == 200
    assert "[DEFAULT]" in hit.snippet and "[TIMEOUT]" in hit.snippet
    assert str(hit.location) == f"{folder / 'config.py'}:200"


def test_search_cites_pdf_pages(indexed: Library, folder: Path) -> None:
    result = indexed.search("Lisbon office")
    hit = result.hits[0]
    assert hit.path == str(folder / "report.pdf") and hit.page == 2 and hit.line == 2
    assert indexed.search("Lisbon").total_files == 2


def test_messy_queries_never_raise(indexed: Library) -> None:
    for q in ['"unbalanced', "AND OR NOT", "NEAR(", "timeout*)", "col:value", "(((", "", "   ", "--", "'; DROP TABLE files"]:
        result = indexed.search(q)
        assert result.total_files >= 0
    # Words absent from the corpus fall back to OR, so the present word still finds files.
    assert indexed.search("vault zanzibarquux").total_files == 1
    # Question words are dropped, and stemming matches "timeouts".
    assert {h.path.rsplit("/", 1)[1] for h in indexed.search("what are the timeouts?").hits} >= {"other.txt"}


def test_search_names_the_words_no_file_contains(indexed: Library) -> None:
    # all words present: nothing is missing
    assert indexed.search("vault code").missing == ()
    # one word is in no file: the any-word fallback runs and says which word was not found
    result = indexed.search("Montevideo vault code")
    assert result.total_files == 1 and result.missing == ("Montevideo",)
    assert indexed.search("Montevideo Zanzibar").missing == ("Montevideo", "Zanzibar")


def test_search_scope_limits_to_roots(indexed: Library, folder: Path, tmp_path: Path) -> None:
    other = tmp_path / "elsewhere"
    other.mkdir()
    (other / "x.txt").write_text("Lisbon again\n")
    indexed.add_folder(other)
    indexed.scan()
    assert indexed.search("Lisbon").total_files == 3
    scoped = indexed.search("Lisbon", roots=[str(other)])
    assert scoped.total_files == 1 and scoped.hits[0].path == str(other / "x.txt")


def test_grep_gives_path_line_and_stops_at_limit(indexed: Library, folder: Path) -> None:
    matches = list(indexed.grep(r"^x1\d = "))
    assert [m.line for m in matches] == list(range(10, 20))
    assert matches[0].text == "x10 = 10" and matches[0].path == str(folder / "config.py")
    assert len(list(indexed.grep(r"x\d+", limit=7))) == 7
    pdf = list(indexed.grep("Revenue"))
    assert pdf[0].page == 2 and pdf[0].line == 1


def test_grep_invalid_regex_is_a_clear_error(indexed: Library) -> None:
    with pytest.raises(LibraryError, match="invalid regular expression"):
        indexed.grep("(unclosed")


def test_read_line_and_page_ranges(indexed: Library, folder: Path) -> None:
    config = str(folder / "config.py")
    assert indexed.read(config, 49, 52) == "x49 = 49\nx50 = 50\nx51 = 51\nx52 = 52"
    assert indexed.read(config, 199, 10_000) == "x199 = 199\nDEFAULT_TIMEOUT = 30  # seconds\n"
    assert indexed.read(config, 5, 4) == ""
    assert indexed.text(config) == (folder / "config.py").read_text()
    assert indexed.read(str(folder / "report.pdf"), 2, 2) == "Revenue grew\nLisbon office opened"
    assert "Annual report" in indexed.text(str(folder / "report.pdf"))
    with pytest.raises(LibraryError, match="not in the library"):
        indexed.read(str(folder / "nope.txt"))


def test_stats_and_files(indexed: Library, folder: Path) -> None:
    stats = indexed.stats()
    assert stats.files == 4 and stats.kinds == {"code": 1, "markdown": 1, "pdf": 1, "text": 1}
    assert stats.tokens == sum(f.tokens for f in indexed.files()) and stats.chars > 1000
    record = indexed.file(str(folder / "config.py"))
    assert record.lines == 200 and record.kind == "code" and record.tokens == (record.chars + 3) // 4
    assert indexed.file(str(folder / "report.pdf")).pages == 2


def test_read_only_connection_from_another_process(indexed: Library, tmp_path: Path) -> None:
    code = (
        "import sys\nfrom rlm_desktop.library.store import Library\n"
        "lib = Library.open(sys.argv[1], read_only=True)\n"
        "print(lib.search('vault code').hits[0].line)\n"
        "try:\n    lib.conn.execute('DELETE FROM files')\nexcept Exception as e:\n    print('refused')\n"
    )
    out = subprocess.run([sys.executable, "-c", code, str(indexed.db_path)], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["4", "refused"]
    assert indexed.stats().files == 4


def test_read_only_refuses_writes(indexed: Library) -> None:
    ro = Library.open(indexed.db_path, read_only=True)
    with pytest.raises(LibraryError, match="read-only"):
        ro.add_folder("/tmp")
    ro.close()


def test_migrations_are_recorded_and_not_rerun(tmp_path: Path) -> None:
    db = tmp_path / "l.db"
    Library.open(db).close()
    lib = Library.open(db)
    assert lib.schema_version() == [name for name, _ in MIGRATIONS]
    lib.close()
    conn = sqlite3.connect(db)
    conn.execute("INSERT INTO schema_version VALUES ('9999_future', 0)")
    conn.commit()
    conn.close()
    with pytest.raises(LibraryError, match="newer version"):
        Library.open(db)


def test_remove_folder_drops_its_rows(indexed: Library, folder: Path) -> None:
    indexed.remove_folder(folder)
    assert indexed.stats().files == 0 and indexed.search("Lisbon").total_files == 0
    assert indexed.conn.execute("SELECT count(*) FROM chunks").fetchone()[0] == 0
    assert indexed.folders() == []


def test_an_old_library_is_migrated_forward(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, folder: Path) -> None:
    from rlm_desktop.library import store

    (folder / "a.txt").write_text("kept across the upgrade\n")
    monkeypatch.setattr(store, "MIGRATIONS", MIGRATIONS[:1])
    old = Library.open(tmp_path / "old.db")
    old.add_folder(folder)
    old.scan()
    assert old.conn.execute("SELECT count(*) FROM sqlite_master WHERE type = 'trigger'").fetchone()[0] == 3
    old.close()
    monkeypatch.setattr(store, "MIGRATIONS", MIGRATIONS)
    new = Library.open(tmp_path / "old.db")
    assert new.schema_version() == [name for name, _ in MIGRATIONS]
    assert new.conn.execute("SELECT count(*) FROM sqlite_master WHERE type = 'trigger'").fetchone()[0] == 0
    (folder / "a.txt").write_text("rewritten after the upgrade\n")
    new.scan()
    assert new.search("upgrade").total_files == 1 and new.search("kept").total_files == 0
    new.conn.execute("INSERT INTO chunks_fts (chunks_fts) VALUES ('integrity-check')")
    new.close()


def test_readers_work_while_another_thread_scans(tmp_path: Path, folder: Path) -> None:
    import threading

    for i in range(400):
        (folder / f"n{i:03}.txt").write_text(f"note {i} about herons\n" * 30)
    db = tmp_path / "shared.db"
    Library.open(db).close()
    errors: list[BaseException] = []

    def scan_in_thread() -> None:
        try:
            with Library.open(db) as writer:  # one Library per thread
                writer.add_folder(folder)
                writer.scan()
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    thread = threading.Thread(target=scan_in_thread)
    thread.start()
    seen = []
    with Library.open(db, read_only=True) as reader:
        while thread.is_alive():
            seen.append(reader.search("herons").total_files)
        thread.join()
        assert not errors
        assert reader.search("herons").total_files == 400
    assert seen == sorted(seen)  # readers see committed progress, never a torn state


def test_html_and_text_indexed_before_the_new_readers_are_read_again_at_the_next_scan(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, folder: Path) -> None:
    from rlm_desktop.library import extract, store

    (folder / "page.html").write_text("<p>See the <code>SAFE</code> variable.</p>")
    (folder / "a.py").write_text("x = 1\n")
    monkeypatch.setattr(store, "MIGRATIONS", MIGRATIONS[:2])
    monkeypatch.setattr(extract, "html_to_text", lambda markup: "See the\nSAFE\nvariable.")  # the old reader
    old = Library.open(tmp_path / "old.db", workers=1)
    old.add_folder(folder)
    old.scan()
    assert "SAFE" in old.text(str(folder / "page.html")).split("\n")
    old.close()
    monkeypatch.setattr(store, "MIGRATIONS", MIGRATIONS)
    monkeypatch.undo()
    monkeypatch.setattr(store, "MIGRATIONS", MIGRATIONS)
    new = Library.open(tmp_path / "old.db")
    report = new.scan()
    assert report.updated == 1 and report.unchanged == 1  # the page again, the code file not
    assert "See the SAFE variable." in new.text(str(folder / "page.html")).split("\n")
    new.close()


def test_a_new_library_opened_by_three_threads_at_once_is_set_up_once(tmp_path) -> None:
    # each opener used to see the migrations unapplied: "table folders already exists"
    for i in range(8):
        path = tmp_path / f"lib-{i}.db"
        _, errors = at_once(lambda path=path: Library.open(path).close(), 3)
        assert errors == []
        lib = Library.open(path)
        try:
            assert lib.schema_version() == [name for name, _ in MIGRATIONS]
        finally:
            lib.close()
