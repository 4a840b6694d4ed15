"""The limits of one run: iterations (per RLM node), sub-calls, depth, total tokens and
wall clock. One ``Budget`` is shared by every node of a run, so a child RLM spends from
the same pool as its parent. Exhaustion raises ``BudgetExceeded(name)``; the engine turns
that into the best answer it has, marked ``budget_exhausted``."""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass

from rlm_desktop.errors import BudgetExceeded
from rlm_desktop.settings import Settings


@dataclass(frozen=True)
class Limits:
    max_iterations: int = 20
    max_sub_calls: int = 200
    max_depth: int = 1
    max_total_tokens: int = 2_000_000
    timeout_s: float = 900.0

    @classmethod
    def from_settings(cls, settings: Settings) -> Limits:
        return cls(
            max_iterations=settings.max_iterations,
            max_sub_calls=settings.max_sub_calls,
            max_depth=max(0, min(settings.max_depth, 3)),
            max_total_tokens=settings.max_total_tokens,
            timeout_s=settings.timeout_s,
        )


class Budget:
    """Counts what a run spent; ``check_*`` raise ``BudgetExceeded`` naming the budget."""

    def __init__(self, limits: Limits, clock=time.monotonic) -> None:
        self.limits = limits
        self._clock = clock
        self.started = clock()
        self.sub_calls = 0
        self.prompt_tokens = 0
        self.completion_tokens = 0
        self.iterations = 0  # turns of all RLM nodes
        self.max_depth_seen = 0
        self._lock = threading.Lock()

    @property
    def elapsed_s(self) -> float:
        return self._clock() - self.started

    @property
    def total_tokens(self) -> int:
        return self.prompt_tokens + self.completion_tokens

    def remaining_s(self) -> float:
        return self.limits.timeout_s - self.elapsed_s

    def check_time(self) -> None:
        if self.elapsed_s >= self.limits.timeout_s:
            raise BudgetExceeded("time", self.time_message())

    def time_message(self) -> str:
        return f"the run took longer than {self.limits.timeout_s:g} s"

    def deadline(self, cancel, extra_s: float = 0.0) -> Deadline:
        """A cancel token for one model call that also trips when the run's time is up
        (plus ``extra_s``), so a long generation or batch stops at the budget, not after."""
        return Deadline(self, cancel, extra_s)

    def check_tokens(self) -> None:
        if self.total_tokens >= self.limits.max_total_tokens:
            raise BudgetExceeded("tokens", f"the run used {self.total_tokens} of {self.limits.max_total_tokens} tokens")

    def check_iteration(self, node_turns: int) -> None:
        """Before a turn of an RLM node that has already had ``node_turns`` turns."""
        self.check_time()
        self.check_tokens()
        if node_turns >= self.limits.max_iterations:
            raise BudgetExceeded("iterations", f"the model took {node_turns} turns without a final answer")

    def take_sub_calls(self, n: int) -> None:
        """Reserve ``n`` sub-calls or refuse all of them."""
        self.check_time()
        self.check_tokens()
        with self._lock:
            if self.sub_calls + n > self.limits.max_sub_calls:
                raise BudgetExceeded(
                    "sub_calls", f"{n} more sub-calls would pass the limit of {self.limits.max_sub_calls}"
                )
            self.sub_calls += n

    def sub_calls_left(self) -> int:
        with self._lock:
            return max(0, self.limits.max_sub_calls - self.sub_calls)

    def can_spawn_rlm(self, parent_depth: int) -> bool:
        """A child RLM sits at ``parent_depth + 1``; below ``max_depth`` only plain calls."""
        return parent_depth + 1 < self.limits.max_depth

    def note_depth(self, depth: int) -> None:
        self.max_depth_seen = max(self.max_depth_seen, depth)

    def add_tokens(self, prompt: int, completion: int) -> None:
        with self._lock:
            self.prompt_tokens += max(0, prompt)
            self.completion_tokens += max(0, completion)


class Deadline:
    """Reads as cancelled when the user stopped the run or its wall-clock budget (plus a
    grace) has passed; ``expired`` tells the second case from the first. Backends check
    ``cancelled`` between tokens and between the prompts of a batch."""

    def __init__(self, budget: Budget, cancel, extra_s: float = 0.0) -> None:
        self._budget = budget
        self._cancel = cancel
        self._extra_s = extra_s

    @property
    def expired(self) -> bool:
        return self._budget.elapsed_s >= self._budget.limits.timeout_s + self._extra_s

    @property
    def cancelled(self) -> bool:
        return bool(self._cancel is not None and self._cancel.cancelled) or self.expired

    def cancel(self) -> None:
        if self._cancel is not None:
            self._cancel.cancel()
