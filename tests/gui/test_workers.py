"""The one task runner: items arrive on the GUI thread in order, results and errors come
back as signals, cancel reaches the function."""

from __future__ import annotations

import threading

import pytest
from PySide6.QtCore import QThread

from rlm_desktop.errors import LibraryError
from rlm_desktop.gui.workers import Task


def test_events_arrive_in_order_on_the_gui_thread(qtbot):
    gui_thread = QThread.currentThread()
    worker_threads = []
    seen = []

    def work(emit, cancel):
        worker_threads.append(threading.get_ident())
        for i in range(2000):
            emit(i)
        return "done"

    task = Task(work)
    task.event.connect(lambda item: seen.append((item, QThread.currentThread() is gui_thread)))
    with qtbot.waitSignal(task.succeeded, timeout=10_000) as blocker:
        task.start()
    assert blocker.args == ["done"]
    assert [item for item, _ in seen] == list(range(2000))
    assert all(on_gui for _, on_gui in seen)
    assert worker_threads[0] != threading.get_ident()
    assert not task.running


def test_an_exception_comes_back_as_failed(qtbot):
    def work(emit, cancel):
        raise LibraryError("the disk is gone")

    task = Task(work)
    with qtbot.waitSignal(task.failed, timeout=5000) as blocker:
        task.start()
    assert isinstance(blocker.args[0], LibraryError)


def test_cancel_reaches_the_function(qtbot):
    started = threading.Event()

    def work(emit, cancel):
        started.set()
        if not cancel.wait(10):
            pytest.fail("cancel never arrived")
        return "stopped"

    task = Task(work)
    task.start()
    assert started.wait(5)
    with qtbot.waitSignal(task.succeeded, timeout=5000) as blocker:
        task.cancel()
    assert blocker.args == ["stopped"]
