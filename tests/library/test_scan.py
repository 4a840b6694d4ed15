"""Scanning: incremental updates, renames, ignores, progress, cancel, worker processes."""

from __future__ import annotations

import os
import threading
from pathlib import Path

import pytest

from rlm_desktop.errors import LibraryError
from rlm_desktop.library import scan as scan_module
from rlm_desktop.library.store import Library
from rlm_desktop.library.types import ScanProgress


def names(lib: Library) -> set[str]:
    return {os.path.relpath(f.path, f.root) for f in lib.files()}


def test_incremental_rescan(lib: Library, folder: Path) -> None:
    (folder / "a.txt").write_text("alpha apples\n")
    (folder / "b.txt").write_text("beta bananas\n")
    lib.add_folder(folder)
    assert lib.scan().added == 2
    again = lib.scan()
    assert (again.added, again.updated, again.removed, again.unchanged) == (0, 0, 0, 2)

    (folder / "a.txt").write_text("alpha apricots, longer now\n")
    (folder / "b.txt").unlink()
    (folder / "c.txt").write_text("gamma grapes\n")
    report = lib.scan()
    assert (report.added, report.updated, report.removed, report.unchanged) == (1, 1, 1, 0)
    assert lib.search("apricots").total_files == 1 and lib.search("apples").total_files == 0
    assert lib.search("bananas").total_files == 0 and names(lib) == {"a.txt", "c.txt"}
    lib.conn.execute("INSERT INTO chunks_fts (chunks_fts) VALUES ('integrity-check')")  # raises if out of step


def test_touched_file_with_same_bytes_keeps_its_text(lib: Library, folder: Path) -> None:
    f = folder / "a.txt"
    f.write_text("same words\n")
    lib.add_folder(folder)
    lib.scan()
    os.utime(f, (1_000_000, 1_000_000))
    assert lib.scan().updated == 1
    assert lib.search("words").total_files == 1 and lib.file(str(f)).mtime == 1_000_000


def test_rename_is_recognised_by_content(lib: Library, folder: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (folder / "old name.md").write_text("the quarterly numbers are final\n")
    lib.add_folder(folder)
    lib.scan()
    (folder / "sub").mkdir()
    (folder / "old name.md").rename(folder / "sub" / "new name.md")
    monkeypatch.setattr(scan_module, "extract_file", lambda *a: pytest.fail("a renamed file must not be extracted again"))
    report = lib.scan()
    assert report.renamed == 1 and report.added == 0 and report.removed == 0
    hit = lib.search("quarterly").hits[0]
    assert hit.path == str(folder / "sub" / "new name.md")


def test_default_ignores_gitignore_and_user_globs(lib: Library, folder: Path) -> None:
    for rel in [".git/config", "node_modules/pkg/index.js", "__pycache__/m.pyc", ".hidden.txt", "env1/pyvenv.cfg",
                "env1/lib/site.py", "build/out.txt", "src/keep.py", "src/gen/skip.py", "src/notes.log", "data/big.csv",
                "src/.gitignore", "README.md"]:
        path = folder / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("content words\n")
    (folder / ".gitignore").write_text("build/\n*.log\n")
    (folder / "src" / ".gitignore").write_text("gen/\n")
    lib.add_folder(folder, ignore=["data/"])
    lib.scan()
    assert names(lib) == {"README.md", "src/keep.py"}


def test_library_wide_ignore_globs(tmp_path: Path, folder: Path) -> None:
    (folder / "a.txt").write_text("x\n")
    (folder / "b.secret").write_text("x\n")
    lib = Library.open(tmp_path / "l.db", ignore=["*.secret"])
    lib.add_folder(folder)
    lib.scan()
    assert names(lib) == {"a.txt"}
    lib.close()


def test_scan_of_one_file_or_subfolder(lib: Library, folder: Path) -> None:
    (folder / "sub").mkdir()
    (folder / "sub" / "a.txt").write_text("one\n")
    (folder / "b.txt").write_text("two\n")
    lib.add_folder(folder)
    lib.scan()
    (folder / "sub" / "a.txt").write_text("one changed\n")
    (folder / "b.txt").write_text("two changed\n")
    report = lib.scan([folder / "sub"])
    assert report.updated == 1 and lib.search("changed").total_files == 1
    (folder / "sub" / "a.txt").unlink()
    assert lib.scan([folder / "sub" / "a.txt"]).removed == 1
    with pytest.raises(LibraryError, match="not inside an indexed folder"):
        lib.scan(["/definitely/elsewhere"])


def test_folder_inside_a_folder_is_covered(lib: Library, folder: Path) -> None:
    (folder / "inner").mkdir()
    lib.add_folder(folder)
    assert lib.add_folder(folder / "inner").path == str(folder)
    assert [f.path for f in lib.folders()] == [str(folder)]


def test_progress_and_cancel(lib: Library, folder: Path) -> None:
    for i in range(30):
        (folder / f"f{i:02}.txt").write_text(f"file number {i}\n")
    lib.add_folder(folder)
    seen: list[ScanProgress] = []
    cancel = threading.Event()

    def progress(p: ScanProgress) -> None:
        seen.append(p)
        if p.files_done >= 10:
            cancel.set()

    scan_module.PROGRESS_EVERY_S, old = 0.0, scan_module.PROGRESS_EVERY_S
    try:
        report = lib.scan(progress=progress, cancel=cancel)
    finally:
        scan_module.PROGRESS_EVERY_S = old
    assert report.cancelled and 10 <= report.added < 30
    assert seen[0].files_total == 30 and seen[-1].files_done == report.added
    assert lib.stats().files == report.added  # what was done stays
    rest = lib.scan()
    assert not rest.cancelled and rest.added == 30 - report.added and lib.stats().files == 30


def test_worker_processes_extract(lib: Library, folder: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(scan_module, "INLINE_MAX_FILES", 0)
    monkeypatch.setattr(scan_module, "INLINE_MAX_BYTES", 0)
    for i in range(20):
        (folder / f"m{i}.md").write_text(f"# note {i}\n" + "filler words here\n" * 50 + f"unique{i}\n")
    (folder / "bad.pdf").write_bytes(b"%PDF-1.4 garbage")
    lib.add_folder(folder)
    report = lib.scan()
    assert report.added == 20 and [p for p, _ in report.failed] == [str(folder / "bad.pdf")]
    hit = lib.search("unique7").hits[0]
    assert hit.path == str(folder / "m7.md") and hit.line == 52


def test_overlapping_paths_are_scanned_once(lib: Library, folder: Path) -> None:
    (folder / "sub").mkdir()
    (folder / "sub" / "a.txt").write_text("alpha\n")
    lib.add_folder(folder)
    report = lib.scan([folder, folder / "sub", folder / "sub" / "a.txt", folder])
    assert report.added == 1 and report.updated == 0


def test_a_symlinked_folder_added_by_the_user_is_indexed(lib: Library, folder: Path, tmp_path: Path) -> None:
    (folder / "a.txt").write_text("reached through a link\n")
    link = tmp_path / "shortcut"
    link.symlink_to(folder)
    lib.add_folder(link)
    assert lib.scan().added == 1
    assert lib.search("link").hits[0].path == str(link / "a.txt")


def test_a_new_folder_is_extracted_while_its_walk_goes_on(lib: Library, folder: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A folder with nothing indexed yet streams its walk into the workers: every file
    still arrives, walk errors are still recorded, and the progress total ends at the
    number of files."""
    monkeypatch.setattr(scan_module, "INLINE_MAX_FILES", 4)
    monkeypatch.setattr(scan_module, "INLINE_MAX_BYTES", 0)
    monkeypatch.setattr(scan_module, "PROGRESS_EVERY_S", 0.0)
    for d in range(3):
        (folder / f"d{d}").mkdir()
        for i in range(10):
            (folder / f"d{d}" / f"f{i}.txt").write_text(f"walked {d} {i} token{d}x{i}\n")
    (folder / "d1" / "loop").symlink_to(folder / "d1")
    lib.add_folder(folder)
    seen: list[ScanProgress] = []
    report = lib.scan(progress=seen.append)
    assert report.added == 30 and lib.search("token2x9").hits[0].path == str(folder / "d2" / "f9.txt")
    assert any("symlink loop" in reason for _, reason in report.failed)
    assert any("symlink loop" in reason for _, reason in lib.errors())
    assert seen[-1].files_done == seen[-1].files_total == 30
    assert lib.scan().unchanged == 30  # the next scan compares, finds nothing to do


def test_a_cancelled_scan_stops_its_walking_thread(lib: Library, folder: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A new folder is walked in a thread ahead of the writer; cancelling the scan
    must not leave that thread walking (or holding the folder open) behind it."""
    monkeypatch.setattr(scan_module, "WALK_LIST", 2)
    monkeypatch.setattr(scan_module, "WALK_AHEAD", 1)  # the walk blocks, waiting for the writer
    monkeypatch.setattr(scan_module, "PROGRESS_EVERY_S", 0.0)
    for i in range(40):
        (folder / f"f{i:02}.txt").write_text(f"file number {i}\n")
    lib.add_folder(folder)
    cancel = threading.Event()

    def progress(p: ScanProgress) -> None:
        if p.files_done >= 5:
            cancel.set()

    report = lib.scan(progress=progress, cancel=cancel)
    assert report.cancelled and report.added < 40
    assert not [t for t in threading.enumerate() if t.name == "rlm-scan-walk"]
    assert lib.scan().added == 40 - report.added


def test_a_long_scan_checkpoints_beside_the_writer_and_restores_the_setting(lib: Library, folder: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Scans that commit more than once copy the WAL into the database from another
    thread; afterwards the connection checkpoints by itself again, the thread is gone,
    and everything written is in the database file once the WAL is checkpointed."""
    monkeypatch.setattr(scan_module, "COMMIT_FILES", 5)
    for i in range(40):
        (folder / f"f{i:02}.txt").write_text(f"checkpointed file {i} word{i}\n" * 50)
    lib.add_folder(folder)
    before = lib.conn.execute("PRAGMA wal_autocheckpoint").fetchone()[0]
    assert lib.scan().added == 40
    assert lib.conn.execute("PRAGMA wal_autocheckpoint").fetchone()[0] == before
    assert not [t for t in threading.enumerate() if t.name == "rlm-scan-checkpoint"]
    lib.close()
    again = Library.open(lib.db_path)
    assert again.search("word39").hits[0].path == str(folder / "f39.txt")
    assert again.stats().files == 40
    again.close()
