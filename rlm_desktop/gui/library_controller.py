"""Keeps the GUI's view of the library: the folder list, scans in a worker, failures.

The panel only draws what this reports; this owns the SQLite handle of the GUI thread
and starts one scan at a time (folders added during a scan queue up behind it)."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from PySide6.QtCore import QObject, QTimer, Signal

from rlm_desktop.errors import LibraryError
from rlm_desktop.gui.services import Services
from rlm_desktop.gui.workers import Task
from rlm_desktop.library.types import FolderRecord, ScanProgress, ScanReport

log = logging.getLogger(__name__)

POLL_MS = 5000  # how often the folder list (counts, missing folders) is re-read


class LibraryController(QObject):
    foldersChanged = Signal(list)  # list[FolderRecord]
    scanStarted = Signal()
    scanProgress = Signal(object)  # ScanProgress
    scanFinished = Signal(object)  # ScanReport
    failuresChanged = Signal(list)  # list[tuple[path, reason]]
    folderMissing = Signal(str)
    error = Signal(object)  # an exception a dialog should explain

    def __init__(self, services: Services, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._services = services
        self._library: Any = None
        self._task: Task | None = None
        self._pending: list[str] = []
        self._failures: list[tuple[str, str]] = []
        self._known_missing: set[str] = set()
        self.folders: list[FolderRecord] = []
        self._watch: Task | None = None
        self._poll = QTimer(self, interval=POLL_MS)
        self._poll.timeout.connect(lambda: None if self.scanning else self.refresh())

    @property
    def library(self) -> Any:
        """The GUI thread's own library handle (quick reads: folder list, viewer text)."""
        if self._library is None:
            self._library = self._services.open_library()
        return self._library

    @property
    def scanning(self) -> bool:
        return self._task is not None

    def refresh(self) -> list[FolderRecord]:
        try:
            folders = list(self.library.folders())
        except LibraryError as exc:
            self.error.emit(exc)
            return self.folders
        if folders != self.folders or not folders:
            self.folders = folders
            self.foldersChanged.emit(folders)
            self._show_failures()
        for folder in self.folders:
            if folder.status == "missing" and folder.path not in self._known_missing:
                self._known_missing.add(folder.path)
                self.folderMissing.emit(folder.path)
        return self.folders

    def add_paths(self, paths: Sequence[str]) -> list[str]:
        """Add folders (a file adds the folder it is in) and index them; returns the roots."""
        added = []
        for raw in paths:
            path = Path(raw).expanduser().resolve()
            folder = path if path.is_dir() else path.parent
            try:
                record = self.library.add_folder(str(folder))
            except LibraryError as exc:
                self.error.emit(exc)
                continue
            added.append(record.path)
        if added:
            self.refresh()
            self.rescan(added)
        return added

    def remove(self, path: str) -> None:
        try:
            self.library.remove_folder(path)
        except LibraryError as exc:
            self.error.emit(exc)
        self._known_missing.discard(path)
        self.refresh()

    def rescan(self, paths: Sequence[str] | None = None) -> None:
        """Scan the given folders (all when None); queue them if a scan is running."""
        targets = list(paths) if paths else [f.path for f in self.folders]
        if not targets:
            return
        if self._task is not None:
            self._pending.extend(p for p in targets if p not in self._pending)
            return
        self._start(targets)

    def cancel_scan(self) -> None:
        self._pending.clear()
        if self._task is not None:
            self._task.cancel()

    def _start(self, targets: list[str]) -> None:
        services = self._services

        def scan(emit: Any, cancel: Any) -> ScanReport:
            library = services.open_library()
            try:
                return library.scan(targets, progress=emit, cancel=cancel)
            finally:
                library.close()

        task = Task(scan, "scan", self)
        task.event.connect(self._on_progress)
        task.succeeded.connect(self._on_done)
        task.failed.connect(self._on_failed)
        task.finished.connect(self._on_task_end)
        self._task = task
        self.scanStarted.emit()
        task.start()

    def _on_progress(self, progress: ScanProgress) -> None:
        self.scanProgress.emit(progress)

    def _show_failures(self) -> None:
        try:
            failures = list(self.library.errors())
        except LibraryError:
            log.warning("could not list the files that failed", exc_info=True)
            return
        if failures != self._failures:
            self._failures = failures
            self.failuresChanged.emit(failures)

    def _on_done(self, report: ScanReport) -> None:
        self.scanFinished.emit(report)

    def _on_failed(self, exc: BaseException) -> None:
        log.error("scan failed", exc_info=exc)
        self.error.emit(exc)

    def _on_task_end(self) -> None:
        task, self._task = self._task, None
        if task is not None:
            task.deleteLater()
        self.refresh()
        if self._pending:
            pending, self._pending = self._pending, []
            self._start(pending)

    def start_watching(self) -> None:
        """Keep the index current while the app runs (the core's watcher, in a task), and
        look at the folders' status every few seconds (a drive may be unplugged)."""
        if self._watch is not None:
            return
        task = Task(self._services.watch, "watch", self)
        task.event.connect(lambda _report: None if self.scanning else self.refresh())
        task.failed.connect(lambda exc: log.warning("the folder watcher stopped: %s", exc))
        self._watch = task
        task.start()
        self._poll.start()

    def shutdown(self, wait_ms: int = 5000) -> None:
        """Stop a scan and close the handle (window closing)."""
        self._poll.stop()
        if self._watch is not None:
            self._watch.cancel()
            self._watch.wait(wait_ms)
            self._watch = None
        if self._task is not None:
            self.cancel_scan()
            self._task.wait(wait_ms)
        if self._library is not None:
            self._library.close()
            self._library = None
