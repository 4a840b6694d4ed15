"""Stand-ins for the core the GUI drives: an in-memory library over real files on disk
and services that play a scripted run as engine events."""

from __future__ import annotations

import dataclasses
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from rlm_desktop.errors import LibraryError, ModelError
from rlm_desktop.gui.services import ModelRow, Progress, RunSummary
from rlm_desktop.library.types import FileRecord, FolderRecord, ScanProgress, ScanReport
from rlm_desktop.rlm import events as ev
from rlm_desktop.settings import Settings


class FakeLibrary:
    """Enough of ``store.Library`` for the GUI: folders, a scan that reports progress per
    file, file texts. Shared between threads (a lock guards it)."""

    def __init__(self) -> None:
        self._folders: dict[str, FolderRecord] = {}
        self._files: dict[str, FileRecord] = {}
        self._lock = threading.Lock()
        self.scan_gate: threading.Event | None = None  # when set, scan waits for it per file
        self._failed: set[tuple[str, str]] = set()

    def add_folder(self, path: str, ignore: Sequence[str] = ()) -> FolderRecord:
        path = str(Path(path).resolve())
        if not Path(path).is_dir():
            raise LibraryError(f"{path} is not a folder")
        with self._lock:
            record = self._folders.setdefault(path, FolderRecord(path, tuple(ignore), added_at=time.time()))
        return record

    def mark_missing(self, path: str) -> None:
        with self._lock:
            self._folders[path] = dataclasses.replace(self._folders[path], status="missing")

    def remove_folder(self, path: str) -> None:
        with self._lock:
            self._folders.pop(path, None)
            self._files = {p: f for p, f in self._files.items() if f.root != path}

    def folders(self) -> list[FolderRecord]:
        with self._lock:
            return list(self._folders.values())

    def scan(self, paths: Sequence[str] | None = None, progress: Callable[[ScanProgress], None] | None = None,
             cancel: threading.Event | None = None) -> ScanReport:
        start = time.monotonic()
        roots = list(paths or self._folders)
        todo = [(root, f) for root in roots for f in sorted(Path(root).rglob("*")) if f.is_file()]
        added = 0
        failed: list[tuple[str, str]] = []
        for done, (root, file) in enumerate(todo, 1):
            if cancel is not None and cancel.is_set():
                break
            if self.scan_gate is not None:
                self.scan_gate.wait(10)
            try:
                text = file.read_text(encoding="utf-8")
            except UnicodeDecodeError:
                failed.append((str(file), "not text"))
                continue
            with self._lock:
                self._files[str(file)] = FileRecord(str(file), root, file.stat().st_size, file.stat().st_mtime,
                                                    "text", "ok", chars=len(text), lines=text.count("\n") + 1)
            added += 1
            if progress is not None:
                progress(ScanProgress(done, len(todo), 0, str(file), len(failed)))
        with self._lock:
            self._failed.update(failed)
            for root in roots:
                files = [f for f in self._files.values() if f.root == root]
                self._folders[root] = FolderRecord(root, (), self._folders[root].added_at, time.time(), "ok",
                                                   len(files), sum(f.size for f in files), len(failed))
        return ScanReport(added=added, failed=failed, elapsed_s=time.monotonic() - start,
                          cancelled=bool(cancel is not None and cancel.is_set()))

    def files(self, root: str | None = None, roots: Sequence[str] | None = None) -> list[FileRecord]:
        with self._lock:
            return list(self._files.values())

    def errors(self, roots: Sequence[str] | None = None) -> list[tuple[str, str]]:
        with self._lock:
            return sorted(self._failed)

    def text(self, path: str) -> str:
        if path not in self._files:
            raise LibraryError(f"{path} is not in the library")
        return Path(path).read_text(encoding="utf-8")

    def read(self, path: str, start: int | None = None, end: int | None = None) -> str:
        lines = self.text(path).splitlines()
        return "\n".join(lines[(start or 1) - 1: end])

    def close(self) -> None:
        pass


def scripted_events(run_id: str, question: str, sub_calls: int = 2, answer: str = "42") -> list[ev.Event]:
    """A plausible run: a root RLM whose first cell searches, whose second cell maps
    ``sub_calls`` sub-calls, whose third sets the answer."""
    t = 1_700_000_000.0
    out: list[ev.Event] = [
        ev.RunStarted(run_id, question, "rlm", "root-model", "sub-model", t),
        ev.NodeStarted(run_id, "n0", None, "root", "root-model", question, 0, t),
        ev.TokenDelta(run_id, "n0", "```python\nsearch("),
        ev.TurnFinished(run_id, "n0", 1, "```python\nsearch('threshold')\n```", 300, 12, 0.5),
        ev.CellFinished(run_id, "n0", 1, "search('threshold')", "notes.md:3: threshold is 42", None, 0.01),
        ev.TurnFinished(run_id, "n0", 2, "```python\nllm_batch(prompts)\n```", 400, 10, 0.4),
    ]
    for i in range(sub_calls):
        node = f"s{i}"
        out += [
            ev.NodeStarted(run_id, node, "n0", "llm", "sub-model", f"Summarise chunk {i}", 1, t + i),
            ev.NodeFinished(run_id, node, "ok", f"chunk {i} says 42", 50, 5, 0.2),
        ]
    out += [
        ev.CellFinished(run_id, "n0", 2, "llm_batch(prompts)", "['chunk 0 says 42']", None, 0.5),
        ev.Notice(run_id, "n0", 2, "Check the value in the file before answering."),
        ev.TurnFinished(run_id, "n0", 3, "```python\nFINAL('42')\n```", 500, 8, 0.3),
        ev.CellFinished(run_id, "n0", 3, "FINAL('42')", "", None, 0.01),
        ev.NodeFinished(run_id, "n0", "ok", answer, 1200, 30, 1.5),
    ]
    return out


class FakeServices:
    """Scripted core. ``ask`` plays ``scripted_events``; with ``hold`` set it then waits
    until cancelled (a slow run) and finishes as 'cancelled'."""

    def __init__(self) -> None:
        self.library = FakeLibrary()
        self.hold = False
        self.sub_calls = 2
        self.answer = "The threshold is 42 (notes.md:3)."
        self.missing: list[str] = []
        self.added_models: list[str] = []
        self.installed: list[str] = []
        self.asked: list[tuple[str, tuple[str, ...]]] = []
        self.cancelled_runs = 0
        self.stored: dict[str, tuple[RunSummary, list[ev.Event]]] = {}
        self.citations: tuple[ev.Citation, ...] = ()
        self.budget: str | None = None  # finish as budget_exhausted, naming this budget
        self.closed = False
        self.run_entered = threading.Event()

    def use_settings(self, settings: Settings) -> None:
        self.settings = settings

    def watch(self, emit: Any, cancel: threading.Event) -> None:
        cancel.wait()

    def open_library(self) -> FakeLibrary:
        return self.library

    def ask(self, question: str, roots: Sequence[str], settings: Settings, sink: Any,
            cancel: threading.Event) -> ev.RunFinished:
        self.asked.append((question, tuple(roots)))
        run_id = f"run{len(self.asked)}"
        events = scripted_events(run_id, question, self.sub_calls, self.answer)
        for event in events[:-1]:
            sink(event)
        self.run_entered.set()
        status = "budget_exhausted" if self.budget else "ok"
        if self.hold:
            cancel.wait(30)
            status = "cancelled"
            self.cancelled_runs += 1
        else:
            sink(events[-1])
        finished = ev.RunFinished(run_id, status, "partial" if status == "cancelled" else self.answer, self.citations,
                                  ev.RunStats(iterations=3, sub_calls=self.sub_calls, wall_s=1.5), budget=self.budget)
        sink(finished)
        recorded = [*events[:-1], *([events[-1]] if status != "cancelled" else []), finished]
        self.stored[run_id] = (RunSummary(run_id, question, time.time(), status), recorded)
        return finished

    def runs(self) -> list[RunSummary]:
        return [summary for summary, _ in self.stored.values()]

    def run_events(self, run_id: str) -> list[ev.Event]:
        return self.stored[run_id][1]

    def export_run(self, run_id: str, fmt: str) -> str:
        summary = self.stored[run_id][0]
        return f'{{"run_id": "{run_id}"}}' if fmt == "json" else f"# {summary.question}\n"

    def models(self) -> list[ModelRow]:
        return [ModelRow("tiny", "Tiny model", "for tests", 1000, "tiny" in self.installed)]

    def missing_models(self, settings: Settings) -> list[str]:
        return list(self.missing)

    def install_model(self, name: str, progress: Callable[[Progress], None], cancel: threading.Event) -> str:
        for i in range(5):
            progress(Progress("downloading", i, 5))
        self.installed.append(name)
        self.missing = [m for m in self.missing if m != name]
        return f"/models/{name}.gguf"

    def add_model(self, path: str) -> str:
        if not path.endswith(".gguf"):
            raise ModelError(f"{path} is not a GGUF file")
        self.added_models.append(path)
        return Path(path).stem

    def close(self) -> None:
        self.closed = True
