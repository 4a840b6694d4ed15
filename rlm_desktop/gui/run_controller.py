"""Runs questions through the engine in a worker and feeds the recursion tree.

One run at a time. The engine's events reach the tree model on the GUI thread, in order;
Stop and closing the window set the engine's cancel event and the run ends cleanly with
what it has."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from typing import Any

from PySide6.QtCore import QObject, QTimer, Signal

from rlm_desktop.gui.services import Services, StatusNote
from rlm_desktop.gui.tree_model import RunTreeModel
from rlm_desktop.gui.workers import Task
from rlm_desktop.rlm import events as ev
from rlm_desktop.settings import Settings

log = logging.getLogger(__name__)

PROGRESS_MS = 200
FLUSH_MS = 100  # rows show up at most this late; a burst of events costs few re-layouts and repaints


class RunController(QObject):
    runStarted = Signal(str)  # question
    progress = Signal(str)  # a one-line status ("turn 3 · 4 sub-calls · 12 s")
    runFinished = Signal(object)  # RunFinished
    runFailed = Signal(object)  # exception
    busyChanged = Signal(bool)
    modelsMissing = Signal(list)  # model names to offer to install

    def __init__(self, services: Services, settings: Callable[[], Settings], tree: RunTreeModel,
                 parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._services = services
        self._settings = settings
        self.tree = tree
        self._task: Task | None = None
        self._started = 0.0
        self._turns = 0
        self._sub_calls = 0
        self._flush_due = False
        self._progress_due = False

    @property
    def running(self) -> bool:
        return self._task is not None

    def ask(self, question: str, roots: Sequence[str] = ()) -> bool:
        """Start a run; False when one is already going or a model is missing."""
        question = question.strip()
        if not question or self._task is not None:
            return False
        settings = self._settings()
        missing = self._services.missing_models(settings)
        if missing:
            self.modelsMissing.emit(missing)
            return False
        services = self._services
        scope = tuple(roots)

        def run(emit: Any, cancel: Any) -> ev.RunFinished:
            return services.ask(question, scope, settings, emit, cancel)

        self.tree.clear()
        self._started = time.monotonic()
        self._turns = self._sub_calls = 0
        task = Task(run, "run", self)
        task.event.connect(self._on_event)
        task.succeeded.connect(self._on_done)
        task.failed.connect(self._on_failed)
        task.finished.connect(self._on_task_end)
        self._task = task
        self.runStarted.emit(question)
        self.busyChanged.emit(True)
        task.start()
        return True

    def stop(self) -> None:
        if self._task is not None:
            self.progress.emit("Stopping…")
            self._task.cancel()

    def shutdown(self, wait_ms: int = 10_000) -> bool:
        """Stop a run and wait for it to end (window closing). True when it ended."""
        if self._task is None:
            return True
        self._task.cancel()
        return self._task.wait(wait_ms)

    def _on_event(self, event: ev.Event | StatusNote) -> None:
        if isinstance(event, StatusNote):
            self.progress.emit(event.text)
            return
        self.tree.apply(event, announce=False)
        if not self._flush_due:  # announce new rows in batches: one view re-layout per batch
            self._flush_due = True
            QTimer.singleShot(FLUSH_MS, self, self._flush)
        if isinstance(event, ev.TurnFinished):
            self._turns += 1
        elif isinstance(event, ev.NodeStarted) and event.kind != "root":
            self._sub_calls += 1
        elif not isinstance(event, (ev.NodeStarted, ev.CellFinished)):
            return
        if not self._progress_due:  # a status line 5 times a second is plenty
            self._progress_due = True
            QTimer.singleShot(PROGRESS_MS, self, self._show_progress)

    def _show_progress(self) -> None:
        self._progress_due = False
        if self._task is None:
            return
        elapsed = time.monotonic() - self._started
        self.progress.emit(f"Working: {self._turns} turns · {self._sub_calls} sub-calls · {elapsed:.0f} s")

    def _flush(self) -> None:
        self._flush_due = False
        self.tree.flush()

    def _on_done(self, finished: ev.RunFinished) -> None:
        self._flush()
        if self.tree.finished is None:
            self.tree.apply(finished)
        self.runFinished.emit(finished)

    def _on_failed(self, exc: BaseException) -> None:
        log.error("run failed", exc_info=exc)
        self.runFailed.emit(exc)

    def _on_task_end(self) -> None:
        task, self._task = self._task, None
        if task is not None:
            task.deleteLater()
        self.busyChanged.emit(False)
