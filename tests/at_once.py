"""Run one call on several threads released together, for tests of what two openers of
the same file do at the same moment."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")


def at_once(call: Callable[[], T], threads: int) -> tuple[list[T], list[BaseException]]:
    """``call`` on ``threads`` threads that start together: what they returned, and what
    they raised."""
    start = threading.Barrier(threads)
    results: list[T] = []
    errors: list[BaseException] = []

    def run() -> None:
        start.wait()
        try:
            results.append(call())
        except Exception as exc:  # noqa: BLE001 - the caller asserts on every failure
            errors.append(exc)

    workers = [threading.Thread(target=run) for _ in range(threads)]
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    return results, errors
