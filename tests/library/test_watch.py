"""The watcher applies changes on its own, and survives its folder vanishing."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

import pytest

from rlm_desktop.library.store import Library
from rlm_desktop.library.walk import covering
from rlm_desktop.library.watch import Watcher


def wait_until(condition: Callable[[], bool], timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.05)
    pytest.fail("condition not reached in time")


@pytest.fixture
def watched(lib: Library, folder: Path):
    (folder / "start.txt").write_text("initial words\n")
    lib.add_folder(folder)
    lib.scan()
    reports = []
    watcher = Watcher(lib.db_path, debounce_s=0.2, poll_s=0.2, on_change=reports.append)
    watcher.start()
    assert watcher.ready.wait(10)
    yield watcher, reports
    watcher.stop()


def test_changes_are_applied(lib: Library, folder: Path, watched) -> None:
    (folder / "sub").mkdir()
    (folder / "sub" / "new.md").write_text("freshly written pelicans\n")
    wait_until(lambda: lib.search("pelicans").total_files == 1)
    (folder / "start.txt").write_text("replaced by flamingos\n")
    wait_until(lambda: lib.search("flamingos").total_files == 1 and lib.search("initial").total_files == 0)
    (folder / "sub" / "new.md").unlink()
    wait_until(lambda: lib.search("pelicans").total_files == 0)
    (folder / ".git").mkdir()
    (folder / ".git" / "HEAD").write_text("ref: refs/heads/main\n")
    (folder / "start.txt").rename(folder / "moved.txt")
    wait_until(lambda: [f.path for f in lib.files()] == [str(folder / "moved.txt")])


def test_vanished_folder_is_kept_and_resumed(lib: Library, folder: Path, tmp_path: Path, watched) -> None:
    folder.rename(tmp_path / "unplugged")
    wait_until(lambda: lib.folders()[0].status == "missing")
    assert lib.search("initial").total_files == 1  # nothing lost while away
    (tmp_path / "unplugged" / "while away.txt").write_text("written on another machine: narwhals\n")
    (tmp_path / "unplugged").rename(folder)
    wait_until(lambda: lib.search("narwhals").total_files == 1 and lib.folders()[0].status == "ok")
    (folder / "after.txt").write_text("watched again: otters\n")
    wait_until(lambda: lib.search("otters").total_files == 1)


def test_collapse_keeps_covering_paths() -> None:
    assert covering({"/a/b/c.txt", "/a/b", "/a/bc.txt", "/x"}) == ["/a/b", "/a/bc.txt", "/x"]


def test_busy_library_is_retried_not_fatal(lib: Library, folder: Path) -> None:
    lib.add_folder(folder)
    watcher = Watcher(lib.db_path, debounce_s=0.1, poll_s=0.2, library_options={"busy_timeout_s": 0.1})
    watcher.start()
    try:
        assert watcher.ready.wait(10)
        blocker = Library.open(lib.db_path)  # another writer, holding the lock for long
        blocker.conn.execute("BEGIN IMMEDIATE")
        (folder / "while busy.txt").write_text("written while locked: ibis\n")
        wait_until(lambda: watcher.busy_retries >= 1)
        blocker.conn.execute("COMMIT")
        blocker.close()
        wait_until(lambda: lib.search("ibis").total_files == 1)
        assert watcher._thread is not None and watcher._thread.is_alive()
    finally:
        watcher.stop()
