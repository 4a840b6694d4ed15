"""The one way the GUI runs core work off the GUI thread.

A ``Task`` runs ``fn(emit, cancel)`` on its own ``QThread``. ``fn`` is plain core code: it
reports progress or engine events by calling ``emit(item)`` and checks ``cancel`` (a
``threading.Event``) when it can stop. Every item comes back on the GUI thread as the
``event`` signal, in order; the result as ``succeeded``, an exception as ``failed``.

Items are queued and the GUI thread is woken with one signal per batch, not one per item,
and delivered in slices of a few milliseconds, so a burst of thousands of events never
holds the event loop (timers, painting, input) for long."""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Callable
from typing import Any

from PySide6.QtCore import QObject, QThread, QTimer, Signal, Slot

log = logging.getLogger(__name__)

SLICE_S = 0.008  # longest the GUI thread spends delivering items before it lets the loop run
# A producer this far ahead of the GUI waits (sleeping, so it lets go of the GIL the GUI
# thread needs) until the GUI has caught up, unless the task is cancelled.
MAX_PENDING = 256

Emit = Callable[[Any], None]
TaskFn = Callable[[Emit, threading.Event], Any]


class _Thread(QThread):
    def __init__(self, task: Task) -> None:
        super().__init__()
        self._task = task

    def run(self) -> None:  # runs on the worker thread
        self._task._run_in_thread()


class Task(QObject):
    event = Signal(object)  # one item fn emitted (GUI thread, in order)
    succeeded = Signal(object)  # fn's return value
    failed = Signal(object)  # the exception fn raised
    finished = Signal()  # always last
    _wake = Signal()  # worker -> GUI: the queue has items

    def __init__(self, fn: TaskFn, name: str = "task", parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.name = name
        self._fn = fn
        self.cancel_event = threading.Event()
        self._queue: deque[tuple[str, Any]] = deque()
        self._lock = threading.Lock()
        self._room = threading.Condition(self._lock)
        self._woken = False
        self._done = False
        self._thread = _Thread(self)
        self._wake.connect(self._drain)

    # --- GUI thread -------------------------------------------------------------------
    def start(self) -> Task:
        self._thread.start()
        return self

    def cancel(self) -> None:
        """Ask fn to stop; it returns at its next check of the cancel event."""
        self.cancel_event.set()
        with self._lock:
            self._room.notify_all()

    @property
    def running(self) -> bool:
        return not self._done

    def wait(self, ms: int = 10_000) -> bool:
        """Block until the thread ends (only for shutdown); deliver what it left queued."""
        ended = self._thread.wait(ms)
        if ended:
            self._drain(budget_s=None)
        return ended

    @Slot()
    def _drain(self, budget_s: float | None = SLICE_S) -> None:
        """Deliver queued items; after ``budget_s`` seconds, leave the rest for the next
        turn of the event loop so timers, painting and input are not held up by a burst."""
        deadline = None if budget_s is None else time.perf_counter() + budget_s
        while True:
            with self._lock:
                if not self._queue:
                    self._woken = False
                    return
                kind, item = self._queue.popleft()
                if len(self._queue) == MAX_PENDING // 2:
                    self._room.notify_all()
            self._deliver(kind, item)
            if deadline is not None and time.perf_counter() > deadline:
                QTimer.singleShot(0, self, self._drain)
                return

    def _deliver(self, kind: str, item: Any) -> None:
        if kind == "event":
            self.event.emit(item)
            return
        self._thread.wait()  # fn has returned; the thread is only exiting
        self._done = True
        if kind == "ok":
            self.succeeded.emit(item)
        else:
            self.failed.emit(item)
        self.finished.emit()

    # --- worker thread ----------------------------------------------------------------
    def _put(self, kind: str, item: Any) -> None:
        with self._lock:
            while len(self._queue) >= MAX_PENDING and not self.cancel_event.is_set():
                self._room.wait(0.05)
            self._queue.append((kind, item))
            wake = not self._woken
            self._woken = True
        if wake:
            self._wake.emit()

    def _run_in_thread(self) -> None:
        try:
            result = self._fn(lambda item: self._put("event", item), self.cancel_event)
        except BaseException as exc:  # noqa: BLE001 - reported to the GUI, which logs it
            log.debug("task %s failed", self.name, exc_info=True)
            self._put("error", exc)
        else:
            self._put("ok", result)
