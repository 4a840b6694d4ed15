"""What the GUI asks of the core, in one place: the seam where tests put fakes.

Everything here is plain Python that runs on whatever thread calls it (the workers call
the slow parts); no Qt. ``CoreServices`` is the real thing, built on ``library/``,
``llm/`` and ``rlm/``; ``tests/gui/fakes.py`` has a scripted stand-in."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from rlm_desktop import paths
from rlm_desktop.errors import ModelError
from rlm_desktop.llm.backend import CancelToken
from rlm_desktop.rlm.events import Event, EventSink, RunFinished
from rlm_desktop.settings import Settings

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ModelRow:
    """A model as the model manager lists it."""

    name: str
    display_name: str
    description: str
    size: int
    installed: bool
    path: str = ""
    local: bool = False  # a GGUF the user added, not a catalog model


@dataclass(frozen=True)
class RunSummary:
    run_id: str
    question: str
    started_at: float
    status: str


@dataclass(frozen=True)
class Progress:
    """Install or load progress in the GUI's terms."""

    message: str
    done: int
    total: int  # 0 when unknown


@dataclass(frozen=True)
class StatusNote:
    """A line for the status bar that is not an engine event (e.g. "Loading model…")."""

    text: str


class Services(Protocol):
    def use_settings(self, settings: Settings) -> None:
        """The settings the library and the models are opened with from now on."""

    def open_library(self) -> Any:
        """A ``store.Library`` for the calling thread (SQLite connections stay in one thread)."""

    def watch(self, emit: Callable[[Any], None], cancel: threading.Event) -> None:
        """Keep the index current until ``cancel`` is set; ``emit`` each ``ScanReport``."""

    def ask(self, question: str, roots: Sequence[str], settings: Settings, sink: EventSink,
            cancel: threading.Event) -> RunFinished:
        """Run the engine; blocks; emits events through ``sink``; stops when ``cancel`` is set."""

    def runs(self) -> list[RunSummary]: ...

    def run_events(self, run_id: str) -> list[Event]:
        """A stored run as the event sequence that would have built it live."""

    def export_run(self, run_id: str, fmt: str) -> str: ...

    def models(self) -> list[ModelRow]: ...

    def missing_models(self, settings: Settings) -> list[str]:
        """Catalog names among the configured models that are not installed."""

    def install_model(self, name: str, progress: Callable[[Progress], None], cancel: threading.Event) -> str: ...

    def add_model(self, path: str) -> str:
        """Register a local GGUF; returns the name it got."""

    def close(self) -> None: ...


def replay_events(tree: Any) -> list[Event]:
    """A stored run (``trace.RunTree``) as the events that built it live, so the history
    view and the live view share one tree model. The runs DB does not record during which
    turn a sub-call started; it is placed by time (each turn's generation + cell span)."""
    from rlm_desktop.rlm import events as ev

    out: list[Event] = [ev.RunStarted(tree.id, tree.question, tree.method, tree.root_model, tree.sub_model,
                                      tree.started_at)]

    def node_events(node: Any, depth: int) -> None:
        out.append(ev.NodeStarted(tree.id, node.id, node.parent_id, node.kind, node.model, node.prompt,
                                  node.depth, node.started_at))
        children = sorted(node.children, key=lambda c: c.started_at)
        at = node.started_at
        for turn in node.turns:
            at += turn.elapsed_s + (turn.cell_elapsed_s or 0.0)
            out.append(ev.TurnFinished(tree.id, node.id, turn.turn, turn.response, turn.prompt_tokens,
                                       turn.completion_tokens, turn.elapsed_s))
            is_last = turn is node.turns[-1]
            while children and (is_last or children[0].started_at <= at):
                node_events(children.pop(0), depth + 1)
            if turn.code is not None:
                out.append(ev.CellFinished(tree.id, node.id, turn.turn, turn.code, turn.output or "", turn.error,
                                           turn.cell_elapsed_s or 0.0))
            out.extend(ev.Notice(tree.id, node.id, turn.turn, text) for text in turn.notices)
        for child in children:
            node_events(child, depth + 1)
        if node.status != "running":
            out.append(ev.NodeFinished(tree.id, node.id, node.status, node.answer, node.prompt_tokens,
                                       node.completion_tokens, node.elapsed_s or 0.0, node.error))

    if tree.root is not None:
        node_events(tree.root, 0)
    out.append(ev.RunFinished(tree.id, tree.status, tree.answer, tuple(tree.citations), tree.stats, tree.budget,
                              tree.error))
    return out


class CoreServices:
    """The real core. Loaded models are kept between runs (loading costs seconds)."""

    def __init__(self, settings: Settings | None = None) -> None:
        self.settings = settings or Settings()
        self._pool: Any = None
        self._pool_key: tuple[Any, ...] | None = None
        self._pool_lock = threading.Lock()

    def use_settings(self, settings: Settings) -> None:
        self.settings = settings

    # --- library ----------------------------------------------------------------------
    def open_library(self) -> Any:
        from rlm_desktop.library.store import Library

        settings = self.settings
        return Library.open(paths.library_db(), max_file_mb=settings.max_file_mb, ignore=settings.ignore_globs)

    def watch(self, emit: Callable[[Any], None], cancel: threading.Event) -> None:
        from rlm_desktop.library.watch import Watcher

        settings = self.settings
        watcher = Watcher(paths.library_db(), on_change=emit,
                          library_options={"max_file_mb": settings.max_file_mb, "ignore": settings.ignore_globs})
        watcher.start()
        try:
            cancel.wait()
        finally:
            watcher.stop()

    # --- runs -------------------------------------------------------------------------
    def _pool_for(self, settings: Settings) -> Any:
        """The loaded models for these settings; a change of model settings reloads."""
        from rlm_desktop.llm.loader import BackendPool

        key = (settings.root_model, settings.sub_model, settings.n_ctx, settings.n_threads, settings.n_gpu_layers,
               settings.subcall_cache)
        with self._pool_lock:
            if self._pool is not None and self._pool_key != key:
                self._pool.close()
                self._pool = None
            if self._pool is None:
                self._pool = BackendPool(settings)
                self._pool_key = key
            return self._pool

    def ask(self, question: str, roots: Sequence[str], settings: Settings, sink: EventSink,
            cancel: threading.Event) -> RunFinished:
        from rlm_desktop.rlm.ask import ask

        pool = self._pool_for(settings)
        note: Callable[[Any], None] = sink  # type: ignore[assignment]
        library = self.open_library()
        try:
            return ask(question, roots, library=library, models=pool, settings=settings, sink=sink,
                       cancel=CancelToken(cancel), loading=lambda name: note(StatusNote(f"Loading {name}…")))
        finally:
            library.close()

    def runs(self) -> list[RunSummary]:
        from rlm_desktop.rlm import trace

        return [RunSummary(r.id, r.question, r.started_at, r.status) for r in trace.list_runs(limit=500)]

    def run_events(self, run_id: str) -> list[Event]:
        from rlm_desktop.rlm import trace

        return replay_events(trace.load_run(run_id))

    def export_run(self, run_id: str, fmt: str) -> str:
        from rlm_desktop.rlm import trace

        return trace.export_json(run_id) if fmt == "json" else trace.export_markdown(run_id)
    # --- models -----------------------------------------------------------------------
    def models(self) -> list[ModelRow]:
        from rlm_desktop.llm import catalog

        rows = []
        for entry in catalog.load_catalog():
            found = catalog.installed_path(entry)
            rows.append(ModelRow(entry.name, entry.display_name, entry.description, entry.expected_size,
                                 found is not None, str(found or "")))
        for local in catalog.load_local().values():
            exists = local.path.is_file()
            rows.append(ModelRow(local.name, local.name, f"Added from {local.path}",
                                 local.path.stat().st_size if exists else 0, exists, str(local.path), local=True))
        return rows

    def missing_models(self, settings: Settings) -> list[str]:
        from rlm_desktop.llm import catalog

        missing = []
        for name in dict.fromkeys((settings.root_model, settings.sub_model)):
            try:
                catalog.resolve_model(name)
            except ModelError:
                missing.append(name)
        return missing

    def install_model(self, name: str, progress: Callable[[Progress], None], cancel: threading.Event) -> str:
        from rlm_desktop.llm import catalog, install

        entry = catalog.load_catalog().get(name)

        def report(p: Any) -> None:
            progress(Progress(p.message or p.stage, p.done, p.total))

        return str(install.install(entry, report, cancel))

    def add_model(self, path: str) -> str:
        from rlm_desktop.llm import install

        return install.add_local(Path(path)).name

    def close(self) -> None:
        with self._pool_lock:
            if self._pool is not None:
                self._pool.close()
                self._pool = None
