"""The one way a question is answered. The CLI, the window and every bench call ``ask``;
before it, each wired the engine by hand and the three differed (the bench ran without
the child backend, only the window could stop a run).

    with BackendPool(settings) as models:
        finished = ask("What is the notice period?", ("/home/me/contracts",),
                       library=library, models=models, settings=settings, sink=print)

``ask`` loads the models it needs (saying so through ``loading``), gives the engine the
root, sub and child backends, a cancel token (one of its own when none is passed, so
``Stop`` and Ctrl-C work the same everywhere), and records the run in the trace database
unless ``record`` is off (benches keep their runs out of the user's history)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Protocol

from rlm_desktop.errors import Cancelled
from rlm_desktop.llm.backend import Backend, CancelToken
from rlm_desktop.rlm.engine import Engine
from rlm_desktop.rlm.events import Event, EventSink, RunFinished
from rlm_desktop.settings import Settings

if TYPE_CHECKING:
    from rlm_desktop.library.store import Library


class Models(Protocol):
    """What ``ask`` needs of a model pool (``llm.loader.BackendPool`` is one)."""

    def root(self) -> Backend: ...
    def sub(self) -> Backend: ...
    def child(self) -> Backend: ...


def ask(
    question: str,
    roots: Sequence[str],
    *,
    library: Library,
    models: Models,
    settings: Settings,
    sink: EventSink | None = None,
    cancel: CancelToken | None = None,
    method: str = "rlm",
    record: bool = True,
    context_text: str | None = None,
    loading: Callable[[str], None] | None = None,
) -> RunFinished:
    """Answer ``question`` over the files under ``roots`` with ``method`` (rlm, rag or
    direct). Blocks until the run ends; events go to ``sink`` as they happen. Raises
    ``Cancelled`` when ``cancel`` trips while the models load (after that, a stop ends
    the run with status ``cancelled``)."""
    cancel = cancel if cancel is not None else CancelToken()
    if loading is not None:
        loading(settings.root_model)
    root = models.root()
    if loading is not None and settings.sub_model != settings.root_model:
        loading(settings.sub_model)
    sub = models.sub()
    child = models.child() if method == "rlm" and settings.max_depth > 1 else None
    if cancel.cancelled:
        raise Cancelled("stopped before the run started")
    recorder = None
    if record:
        from rlm_desktop.rlm.trace import TraceRecorder

        recorder = TraceRecorder()

    def emit(event: Event) -> None:
        if recorder is not None:
            recorder(event)
        if sink is not None:
            sink(event)

    try:
        engine = Engine(root, sub, library, settings, sink=emit, cancel=cancel, child_backend=child)
        return engine.run(question, roots=tuple(str(r) for r in roots), context_text=context_text, method=method)
    finally:
        if recorder is not None:
            recorder.close()
