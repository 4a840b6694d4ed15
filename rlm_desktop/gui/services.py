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


class EventCancelToken(CancelToken):
    """The backend's cancel token over the worker's ``threading.Event``, so one Stop
    reaches the engine, the backends and the sandbox."""

    def __init__(self, event: threading.Event) -> None:
        super().__init__()
        self._shared = event

    def cancel(self) -> None:
        self._shared.set()

    @property
    def cancelled(self) -> bool:
        return self._shared.is_set()


class Services(Protocol):
    def open_library(self) -> Any:
        """A ``store.Library`` for the calling thread (SQLite connections stay in one thread)."""

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


class CoreServices:
    """The real core. Loaded models are kept between runs (loading costs seconds)."""

    def __init__(self) -> None:
        self._pool: Any = None
        self._pool_key: tuple[int, int, int] | None = None
        self._pool_lock = threading.Lock()

    # --- library ----------------------------------------------------------------------
    def open_library(self) -> Any:
        from rlm_desktop.library.store import Library

        return Library.open(paths.library_db())

    # --- runs -------------------------------------------------------------------------
    def _backends(self, settings: Settings, sink: Callable[[Any], None]) -> tuple[Any, Any]:
        """Loaded backends for these settings; a change of model settings reloads."""
        from rlm_desktop.llm.loader import BackendPool

        key = (settings.n_ctx, settings.n_threads, settings.n_gpu_layers)
        with self._pool_lock:
            if self._pool is not None and self._pool_key != key:
                self._pool.close()
                self._pool = None
            if self._pool is None:
                self._pool = BackendPool(settings)
                self._pool_key = key
            pool = self._pool
        sink(StatusNote(f"Loading {settings.root_model}…"))
        root = pool.get(settings.root_model, "root")
        sink(StatusNote(f"Loading {settings.sub_model}…"))
        return root, pool.get(settings.sub_model, "sub")

    def ask(self, question: str, roots: Sequence[str], settings: Settings, sink: EventSink,
            cancel: threading.Event) -> RunFinished:
        from rlm_desktop.rlm.engine import Engine

        root, sub = self._backends(settings, sink)  # type: ignore[arg-type]
        library = self.open_library()
        try:
            engine = Engine(root, sub, library, settings, sink, EventCancelToken(cancel))
            return engine.run(question, roots=tuple(roots), method="rlm")
        finally:
            library.close()

    def runs(self) -> list[RunSummary]:
        from rlm_desktop.rlm import trace

        out = []
        for run in trace.list_runs():
            out.append(RunSummary(run.run_id, run.question, run.started_at, run.status))
        return out

    def run_events(self, run_id: str) -> list[Event]:
        from rlm_desktop.rlm import trace

        return list(trace.replay_events(trace.load_run(run_id)))

    def export_run(self, run_id: str, fmt: str) -> str:
        from rlm_desktop.rlm import trace

        run = trace.load_run(run_id)
        return trace.export_json(run) if fmt == "json" else trace.export_markdown(run)

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
