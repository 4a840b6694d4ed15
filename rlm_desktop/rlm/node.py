"""The state of one RLM node while it runs, and what it hands back.

``NodeState`` is what the engine's loop and the answer checks (``checks.judge``) share:
what the node saw (evidence, cell outputs, words a search said no file has), what it
answered so far, and how many refusals of each kind it has had."""

from __future__ import annotations

from dataclasses import dataclass, field

from rlm_desktop.errors import BudgetExceeded
from rlm_desktop.llm.backend import Backend
from rlm_desktop.rlm.citations import CellSources
from rlm_desktop.rlm.events import Status
from rlm_desktop.rlm.grounding import Evidence


@dataclass
class NodeOutcome:
    status: Status
    answer: str
    budget: str | None = None
    error: str | None = None
    evidence: Evidence = field(default_factory=Evidence)
    cells: list[CellSources] = field(default_factory=list)
    saw_output: bool = False


@dataclass
class NodeState:
    """The mutable state of one running RLM node."""

    node_id: str
    depth: int
    backend: Backend
    roots: tuple[str, ...]
    context_text: str | None
    evidence: Evidence = field(default_factory=Evidence)
    cells: list[CellSources] = field(default_factory=list)
    attempts: list[str] = field(default_factory=list)
    exhausted: BudgetExceeded | None = None
    prompt_tokens: int = 0
    completion_tokens: int = 0
    last_turn: int = 0  # turn numbers go on across a fallback attempt in the same node
    pending: list[str] = field(default_factory=list)  # notices to attach to the next turn
    question: str = ""
    absent: set[str] = field(default_factory=set)  # words a search said no file contains
    strategy: str | None = None  # the strategy of the attempt running
    wanted: str = ""  # the kind of answer its plan asked for ("" without a plan)
    firm_refusals: int = 0  # answers refused for a subject no file was shown to hold
    example_refusals: int = 0  # answers refused for being the worked examples' values
    examples: str = ""  # the system prompt and worked examples of the attempt running
