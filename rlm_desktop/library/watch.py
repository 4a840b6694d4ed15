"""Keeping the index current while the app runs.

A ``Watcher`` owns one thread, one watchdog observer (a watch per folder) and its own
``Library`` connection. File events are collected, debounced (a burst of saves becomes
one update) and applied with ``Library.scan(paths)``: the same incremental code path as
a full scan, only narrowed to what changed. Every ``poll_s`` the thread also checks that
each folder still exists: a folder that vanishes (an unplugged drive) is marked
``missing`` and keeps its rows; when it comes back it is watched again and re-scanned.

    watcher = Watcher(paths.library_db(), on_change=callback)
    watcher.start()
    ...
    watcher.stop()
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from watchdog.events import FileSystemEvent, FileSystemEventHandler
from watchdog.observers import Observer

from rlm_desktop.errors import LibraryError
from rlm_desktop.library.store import Library, LibraryBusy
from rlm_desktop.library.types import ScanReport
from rlm_desktop.library.walk import DEFAULT_IGNORE_DIRS, covering

log = logging.getLogger(__name__)


class _Collector(FileSystemEventHandler):
    def __init__(self, watcher: Watcher) -> None:
        self.watcher = watcher

    def on_any_event(self, event: FileSystemEvent) -> None:
        if event.event_type in ("opened", "closed_no_write"):
            return
        if event.is_directory and event.event_type == "modified":
            return  # a child changed: that child has its own event
        for raw in (event.src_path, getattr(event, "dest_path", "")):
            if raw:
                self.watcher._note(os.fsdecode(raw))


class Watcher:
    def __init__(
        self,
        db_path: str | os.PathLike[str],
        *,
        debounce_s: float = 1.0,
        poll_s: float = 2.0,
        on_change: Callable[[ScanReport], None] | None = None,
        library_options: dict[str, Any] | None = None,
    ) -> None:
        self.db_path = Path(db_path)
        self.debounce_s = debounce_s
        self.poll_s = poll_s
        self.on_change = on_change
        self.library_options = library_options or {}
        self._pending: set[str] = set()
        self._last_event = 0.0
        self._wake = threading.Condition()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._own_files = {str(self.db_path.resolve()) + suffix for suffix in ("", "-wal", "-shm", "-journal")}
        self.busy_retries = 0
        self.ready = threading.Event()  # set once every present folder is watched

    def start(self) -> None:
        if self._thread is not None:
            return
        self._thread = threading.Thread(target=self._run, name="library-watcher", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 10.0) -> None:
        self._stop.set()
        with self._wake:
            self._wake.notify_all()
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None

    def _note(self, path: str) -> None:
        if path in self._own_files:
            return  # our own database may live inside a watched folder
        with self._wake:
            self._pending.add(path)
            self._last_event = time.monotonic()
            self._wake.notify_all()

    def _run(self) -> None:
        lib = Library.open(self.db_path, **self.library_options)
        observer = Observer()
        observer.start()
        watches: dict[str, Any] = {}
        try:
            next_poll = 0.0
            while not self._stop.is_set():
                now = time.monotonic()
                if now >= next_poll:
                    self._sync_folders(lib, observer, watches)
                    self.ready.set()
                    next_poll = now + self.poll_s
                with self._wake:
                    if self._pending and time.monotonic() - self._last_event >= self.debounce_s:
                        batch, self._pending = self._pending, set()
                    else:
                        batch = set()
                        wait = self.debounce_s if self._pending else self.poll_s
                        self._wake.wait(min(wait, max(0.01, next_poll - time.monotonic())))
                if batch:
                    self._apply(lib, batch)
        except Exception:
            log.exception("the library watcher stopped")
        finally:
            observer.stop()
            try:
                observer.join(5)
            except RuntimeError:
                pass
            lib.close()

    def _sync_folders(self, lib: Library, observer: Any, watches: dict[str, Any]) -> None:
        """Watch present folders, drop watches of vanished ones, catch up on returns."""
        folders = {f.path: f for f in lib.folders()}
        for path in list(watches):
            if path not in folders or not os.path.isdir(path):
                try:
                    observer.unschedule(watches.pop(path))
                except (KeyError, ValueError, OSError):
                    pass
                if path in folders:
                    log.info("watcher: %s is gone; its files stay indexed until it returns", path)
                    lib.set_folder_status(path, "missing")
        for path, record in folders.items():
            if path in watches or not os.path.isdir(path):
                if not os.path.isdir(path) and record.status != "missing":
                    lib.set_folder_status(path, "missing")
                continue
            try:
                watches[path] = observer.schedule(_Collector(self), path, recursive=True)
            except OSError as exc:
                log.warning("watcher: cannot watch %s: %s", path, exc)
                continue
            if record.status == "missing":
                log.info("watcher: %s is back; re-scanning it", path)
                self._apply(lib, {path})

    def _apply(self, lib: Library, batch: set[str]) -> None:
        paths = []
        for path in covering(batch):
            root = lib.root_of(path)
            if root is None:
                continue
            parts = os.path.relpath(path, root).split(os.sep)
            if any(part.startswith(".") and part != "." or part in DEFAULT_IGNORE_DIRS for part in parts):
                continue  # e.g. .git churn: the walk would ignore it anyway
            paths.append(path)
        if not paths:
            return
        try:
            report = lib.scan(paths, cancel=self._stop)
        except LibraryBusy:
            # A long scan elsewhere (the GUI, the CLI) holds the write lock: try later.
            log.info("watcher: library busy; will apply %d changed paths later", len(paths))
            self.busy_retries += 1
            with self._wake:
                self._pending.update(paths)
                self._last_event = time.monotonic()
            return
        except LibraryError as exc:
            log.warning("watcher: could not apply changes: %s", exc)
            return
        log.debug("watcher applied %d paths: %s", len(paths), report)
        if self.on_change is not None:
            self.on_change(report)
