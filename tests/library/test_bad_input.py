"""Bad input from issue 3: each case is recorded with a clear reason, the scan goes on,
and nothing already indexed is lost."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import textwrap
import zipfile
from pathlib import Path

import psutil
import pytest

from rlm_desktop.library import extract as extract_module
from rlm_desktop.library import scan as scan_module
from rlm_desktop.library.store import Library
from tests.library.conftest import make_pdf


def failed(report) -> dict[str, str]:
    return {os.path.basename(p): reason for p, reason in report.failed}


@pytest.fixture
def good(folder: Path) -> Path:
    (folder / "good.txt").write_text("a perfectly fine file about otters\n")
    return folder


def assert_good_indexed(lib: Library) -> None:
    assert lib.search("otters").total_files == 1


def test_corrupt_encrypted_pdf_and_junk_docx(lib: Library, good: Path) -> None:
    (good / "corrupt.pdf").write_bytes(b"%PDF-1.7\n1 0 obj << /Type /Catalog >>\nthis is not a pdf\n")
    real = make_pdf(good / "truncated.pdf", [["page text"]]).read_bytes()
    (good / "truncated.pdf").write_bytes(real[: len(real) // 3])
    make_pdf(good / "locked.pdf", [["top secret"]], password="hunter2")
    with zipfile.ZipFile(good / "junk.docx", "w") as z:
        z.writestr("random.bin", os.urandom(256))
    lib.add_folder(good)
    report = lib.scan()
    reasons = failed(report)
    assert "corrupt or unreadable PDF" in reasons["corrupt.pdf"]
    assert "truncated.pdf" in reasons  # pypdf cannot find its pages either
    assert "encrypted PDF" in reasons["locked.pdf"] and "password" in reasons["locked.pdf"]
    assert "not a valid DOCX" in reasons["junk.docx"]
    assert_good_indexed(lib)
    errors = dict((os.path.basename(p), r) for p, r in lib.errors())
    assert set(errors) == {"corrupt.pdf", "truncated.pdf", "locked.pdf", "junk.docx"}
    assert lib.folders()[0].error_count == 4


def test_empty_file(lib: Library, good: Path) -> None:
    (good / "empty.txt").write_bytes(b"")
    lib.add_folder(good)
    assert not lib.scan().failed
    record = lib.file(str(good / "empty.txt"))
    assert record.status == "ok" and record.chars == 0 and lib.read(record.path) == ""
    assert_good_indexed(lib)


def test_file_vanishes_between_listing_and_reading(lib: Library, good: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (good / "ghost.txt").write_text("boo\n")
    real = scan_module.extract_file

    def vanish_first(path: str, kind: str, limit: int):
        if path.endswith("ghost.txt"):
            os.unlink(path)
        return real(path, kind, limit)

    monkeypatch.setattr(scan_module, "extract_file", vanish_first)
    lib.add_folder(good)
    report = lib.scan()
    assert not report.failed and "disappeared" in dict(report.vanished)[str(good / "ghost.txt")]
    assert lib.errors() == [] and lib.stats().errors == 0  # not an error: it is simply gone
    assert_good_indexed(lib) and names_of(lib) == {"good.txt"}


def names_of(lib: Library) -> set[str]:
    return {os.path.basename(f.path) for f in lib.files()}


def test_permission_denied_file_and_folder(lib: Library, good: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # Tests run as root here, where chmod denies nothing: the OS refusal is simulated by
    # making os.open() and os.scandir() raise PermissionError for the chosen paths.
    (good / "locked.txt").write_text("private\n")
    (good / "closed").mkdir()
    (good / "closed" / "inside.txt").write_text("indexed before the folder was closed: walrus\n")
    lib.add_folder(good)
    assert lib.scan().added == 3

    (good / "locked.txt").write_text("private, changed\n")
    real_open, real_scandir = os.open, os.scandir

    def deny_open(path, *args, **kwargs):
        if str(path).endswith("locked.txt"):
            raise PermissionError(13, "Permission denied", str(path))
        return real_open(path, *args, **kwargs)

    def deny_scandir(path="."):
        if str(path).endswith("closed"):
            raise PermissionError(13, "Permission denied", str(path))
        return real_scandir(path)

    monkeypatch.setattr(os, "open", deny_open)
    monkeypatch.setattr(os, "scandir", deny_scandir)
    report = lib.scan()
    reasons = failed(report)
    assert reasons["locked.txt"] == "permission denied"
    assert "permission denied" in reasons["closed"]
    # The closed folder's files were indexed before: they stay.
    assert lib.search("walrus").total_files == 1
    assert_good_indexed(lib)
    assert {os.path.basename(p) for p, _ in lib.errors()} == {"locked.txt", "closed"}
    # A file that could not be read is tried again on every scan, changed or not.
    assert failed(lib.scan())["locked.txt"] == "permission denied"


def test_symlink_loops(lib: Library, good: Path) -> None:
    (good / "sub").mkdir()
    (good / "sub" / "up").symlink_to("..")
    (good / "self").symlink_to("self")
    lib.add_folder(good)
    reasons = failed(lib.scan())
    assert "symlink loop" in reasons["up"] and "symlink loop" in reasons["self"]
    assert names_of(lib) == {"good.txt"}


def test_non_utf8_file_name(lib: Library, good: Path) -> None:
    raw = os.path.join(os.fsencode(good), b"caf\xe9 menu.txt")
    with open(raw, "wb") as fh:
        fh.write(b"espresso and croissants\n")
    lib.add_folder(good)
    report = lib.scan()
    assert report.added == 2 and not report.failed
    hit = lib.search("croissants").hits[0]
    assert hit.path == f"{good}/caf\\xe9 menu.txt"
    assert lib.read(hit.path) == "espresso and croissants\n"
    assert lib.scan().unchanged == 2


def test_huge_sparse_file_is_skipped_without_reading(lib: Library, good: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    with open(good / "huge.log", "wb") as fh:
        fh.truncate(2 * 1024**3)
    monkeypatch.setattr(scan_module, "extract_file", lambda path, *a: pytest.fail(f"{path} must not be read") if path.endswith("huge.log") else real(path, *a))
    real = extract_module.extract_file
    rss = psutil.Process().memory_info().rss
    lib.add_folder(good)
    report = lib.scan()
    assert report.skipped == 1 and psutil.Process().memory_info().rss - rss < 100_000_000
    assert dict((os.path.basename(p), r) for p, r in lib.skipped())["huge.log"] == "larger than the 50 MB size limit"
    assert_good_indexed(lib)


def test_folder_removed_while_scanning(lib: Library, good: Path) -> None:
    (good / "doomed").mkdir()
    for i in range(5):
        (good / "doomed" / f"d{i}.txt").write_text("soon gone\n")
    lib.add_folder(good)

    def remove_on_start(p) -> None:
        if p.files_done == 0 and (good / "doomed").exists():
            shutil.rmtree(good / "doomed")

    report = lib.scan(progress=remove_on_start)
    assert not report.failed and sum("disappeared" in r for _, r in report.vanished) == 5
    assert names_of(lib) == {"good.txt"}


def test_root_missing_keeps_its_files_until_it_returns(lib: Library, good: Path, tmp_path: Path) -> None:
    lib.add_folder(good)
    lib.scan()
    good.rename(tmp_path / "unplugged")
    report = lib.scan()
    assert "not found" in failed(report)["docs"]
    assert lib.folders()[0].status == "missing" and lib.search("otters").total_files == 1
    (tmp_path / "unplugged").rename(good)
    assert lib.scan().unchanged == 1 and lib.folders()[0].status == "ok"


KILLED_SCAN = textwrap.dedent(
    """
    import sys, time
    from rlm_desktop.library import scan
    from rlm_desktop.library.store import Library
    scan.PROGRESS_EVERY_S = 0.0
    scan.COMMIT_FILES = 7
    lib = Library.open(sys.argv[1])
    lib.add_folder(sys.argv[2])
    def progress(p):
        print(p.files_done, flush=True)
        time.sleep(0.005)
    lib.scan(progress=progress)
    print("finished", flush=True)
    """
)


def test_killed_mid_scan_then_rescan_is_consistent(tmp_path: Path, good: Path) -> None:
    for i in range(300):
        (good / f"n{i:03}.txt").write_text(f"note {i} mentions badgers\n" * 20)
    db = tmp_path / "killed.db"
    proc = subprocess.Popen([sys.executable, "-c", KILLED_SCAN, str(db), str(good)], stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None
    for line in proc.stdout:
        if line.strip().isdigit() and int(line) >= 120:
            break
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    proc.stdout.close()

    lib = Library.open(db)
    try:
        assert lib.conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        lib.conn.execute("INSERT INTO chunks_fts(chunks_fts) VALUES ('integrity-check')")
        partial = lib.stats().files
        assert 0 < partial < 301
        # Every stored file has its text: rows and chunks were written together.
        assert lib.conn.execute("SELECT count(*) FROM files f WHERE f.chars > 0 AND NOT EXISTS "
                                "(SELECT 1 FROM chunks c WHERE c.id >> 24 = f.id)").fetchone()[0] == 0
        assert lib.search("badgers").total_files == partial
        report = lib.scan()
        assert report.added == 301 - partial and report.unchanged == partial and not report.failed
        assert lib.search("badgers").total_files == 300
        lib.conn.execute("INSERT INTO chunks_fts(chunks_fts) VALUES ('integrity-check')")
    finally:
        lib.close()
