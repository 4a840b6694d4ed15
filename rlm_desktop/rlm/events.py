"""Events the engine emits while a run goes on. The GUI turns them into rows of the
recursion tree, the CLI into progress lines, ``trace.py`` into rows of the runs DB.

Every node is one model call: the root RLM, a plain sub-call (``llm``) or a child RLM
(``rlm``). An RLM node has turns; a turn may have one code cell. Events of one run arrive
in order from the engine's thread; consumers must not block."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Literal

NodeKind = Literal["root", "llm", "rlm"]
Status = Literal["running", "ok", "error", "budget_exhausted", "cancelled"]


@dataclass(frozen=True)
class Citation:
    path: str
    line: int | None = None
    page: int | None = None


@dataclass(frozen=True)
class RunStarted:
    run_id: str
    question: str
    method: str
    root_model: str
    sub_model: str
    started_at: float


@dataclass(frozen=True)
class NodeStarted:
    run_id: str
    node_id: str
    parent_id: str | None
    kind: NodeKind
    model: str
    prompt: str  # the question for an RLM node, the prompt for a sub-call
    depth: int
    started_at: float


@dataclass(frozen=True)
class TokenDelta:
    """Streamed text of the turn being generated (for a live view; not stored)."""

    run_id: str
    node_id: str
    text: str


@dataclass(frozen=True)
class TurnFinished:
    run_id: str
    node_id: str
    turn: int
    response: str  # what the model wrote this turn
    prompt_tokens: int
    completion_tokens: int
    elapsed_s: float


@dataclass(frozen=True)
class CellFinished:
    run_id: str
    node_id: str
    turn: int
    code: str
    output: str
    error: str | None
    elapsed_s: float


@dataclass(frozen=True)
class Notice:
    """A corrective message or warning the engine sent to the model (nudges, refusals)."""

    run_id: str
    node_id: str
    turn: int
    text: str


@dataclass(frozen=True)
class NodeFinished:
    run_id: str
    node_id: str
    status: Status
    answer: str
    prompt_tokens: int
    completion_tokens: int
    elapsed_s: float
    error: str | None = None


@dataclass(frozen=True)
class RunStats:
    iterations: int = 0
    sub_calls: int = 0
    depth: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    wall_s: float = 0.0


@dataclass(frozen=True)
class RunFinished:
    run_id: str
    status: Status
    answer: str
    citations: tuple[Citation, ...] = ()
    stats: RunStats = field(default_factory=RunStats)
    budget: str | None = None  # which budget ran out, when status is budget_exhausted
    error: str | None = None


Event = RunStarted | NodeStarted | TokenDelta | TurnFinished | CellFinished | Notice | NodeFinished | RunFinished
EventSink = Callable[[Event], None]
