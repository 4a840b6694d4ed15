"""A deterministic scripted backend for unit tests (never shipped in the package).

    backend = ScriptedBackend()
    backend.enqueue(["```python\nsearch('x')\n```", "```python\nFINAL('42')\n```"])

Each ``chat`` call pops the next response (or calls it, if it is a callable taking the
messages). Tokens are counted as whitespace-separated words so tests can reason about
budgets; the stop strings and ``stop_fn`` are honoured like the real backend does. A
scripted response to a call with ``params.json_schema`` must be JSON (checked, so a test
scripts what a constrained model could say); the schema itself is not enforced.

The engine's strategy router asks the sub model first: the plan call (``rlm/plan.py``,
the default) or, with ``Settings.router == "rules"``, the one-word classify call
(``rlm/strategy.py``). Both are recorded in ``router_calls`` and neither takes a scripted
response nor shows in ``calls``, so scripts stay the model's turns. The plan is answered
with the plan of ``router_answer`` (a strategy name) when a test sets it, else with the
plan of the strategy the question rules would pick (``lookup`` when none does): a test
scripted for a counting strategy gets it. A plan scripted at the head of the queue (JSON
with a "scope") is taken instead. The classify call answers ``router_answer``
(default "lookup"), unless the next scripted response is a bare word ("chain"): then it
is an ordinary call taking that response."""

from __future__ import annotations

import json
import threading
import time
from collections import deque
from collections.abc import Callable, Sequence

from rlm_desktop.llm.backend import (
    DEFAULT_PARAMS,
    CancelToken,
    Completion,
    GenerationParams,
    Message,
    StopFn,
    TokenCallback,
)
from rlm_desktop.rlm import plan
from rlm_desktop.rlm.reader import READER_SCHEMA
from rlm_desktop.rlm.strategy import CLASSIFY_SYSTEM, classify_by_rules

# the plan (answer kind, scope) that leads to each strategy (``plan.Plan.strategy``; a
# one-place plan is a code question in a folder of code)
PLAN_OF = {
    "lookup": ("value", "one place"),
    "code_question": ("name or phrase", "one place"),
    "multi_step": ("value", "two steps"),
    "whole_folder_code": ("count", "every file"),
    "whole_folder_map": ("total", "every file"),
}

Response = str | Callable[[Sequence[Message]], str]


class ScriptedBackend:
    def __init__(self, name: str = "scripted", n_ctx: int = 8192, responses: Sequence[Response] = ()) -> None:
        self.name = name
        self._n_ctx = n_ctx
        self._queue: deque[Response] = deque(responses)
        self.calls: list[list[Message]] = []
        self.params: list[GenerationParams] = []
        self.default: Response | None = None
        self.delay_s = 0.0
        self.router_answer: str | None = None  # the strategy the router calls are answered with
        # a router call takes a one-word scripted response as its label; False: always
        # ``router_answer`` (for a sub model whose queue holds sub-call answers like "blue")
        self.route_from_queue = True
        self.answer_plans = True  # False: a plan call takes the next scripted response like any call
        self.router_calls: list[list[Message]] = []
        self.reader_calls: list[list[Message]] = []  # the engine's unscripted readings of passages
        self._lock = threading.Lock()

    @property
    def n_ctx(self) -> int:
        return self._n_ctx

    def enqueue(self, responses: Sequence[Response]) -> None:
        self._queue.extend(responses)

    def count_tokens(self, text: str) -> int:
        return len(text.split())

    def count_chat_tokens(self, messages: Sequence[Message]) -> int:
        return sum(self.count_tokens(m.content) + 4 for m in messages) + 2

    def chat(
        self,
        messages: Sequence[Message],
        params: GenerationParams = DEFAULT_PARAMS,
        *,
        on_token: TokenCallback | None = None,
        stop_fn: StopFn | None = None,
        cancel: CancelToken | None = None,
    ) -> Completion:
        head = self._queue[0] if self._queue else None
        scripted_plan = isinstance(head, str) and head.lstrip().startswith("{") and '"scope"' in head
        if (self.answer_plans and messages and messages[0].role == "system" and messages[0].content == plan.SYSTEM
                and not scripted_plan):
            self.router_calls.append(list(messages))
            question = messages[-1].content.rsplit("Question:", 1)[-1].strip()
            answer, scope = PLAN_OF[self.router_answer or classify_by_rules(question) or "lookup"]
            text = json.dumps({"answer": answer, "scope": scope})
            return Completion(text, self.count_chat_tokens(messages), self.count_tokens(text), "stop", 0.0)
        if messages and messages[0].role == "system" and messages[0].content == CLASSIFY_SYSTEM:
            self.router_calls.append(list(messages))
            head = self._queue[0] if self._queue else None
            if not (self.route_from_queue and isinstance(head, str) and head.strip().isidentifier()):
                # not scripted for the router: answer it without taking the model's turns
                text = self.router_answer or "lookup"
                return Completion(text, self.count_chat_tokens(messages), self.count_tokens(text), "stop", 0.0)
        if params.json_schema is not None and params.json_schema == READER_SCHEMA:
            head = self._queue[0] if self._queue else None
            if not (isinstance(head, str) and head.lstrip().startswith("{")):
                # the engine's reading of the passages, not scripted: "no line states it"
                text = json.dumps({"line": "", "answer": ""})
                self.reader_calls.append(list(messages))
                return Completion(text, self.count_chat_tokens(messages), self.count_tokens(text), "stop", 0.0)
        with self._lock:
            self.calls.append(list(messages))
            self.params.append(params)
            if self._queue:
                response = self._queue.popleft()
            elif self.default is not None:
                response = self.default
            else:
                raise AssertionError(f"ScriptedBackend ran out of responses after {len(self.calls) - 1} calls")
        start = time.monotonic()
        text = response(messages) if callable(response) else response
        if params.json_schema is not None:
            try:
                json.loads(text)
            except json.JSONDecodeError as exc:
                raise AssertionError(f"scripted reply to a json_schema call is not JSON ({exc}): {text!r}") from exc
        finish = "stop"
        if cancel is not None and cancel.cancelled:
            return Completion("", self.count_chat_tokens(messages), 0, "cancelled", 0.0)
        for stop in params.stop:
            cut = text.find(stop)
            if cut >= 0:
                text = text[:cut]
        if stop_fn is not None:
            cut = stop_fn(text)
            if cut is not None:
                text = text[:cut]
        words = text.split(" ")
        if len(words) > params.max_tokens:
            text = " ".join(words[: params.max_tokens])
            finish = "length"
        if self.delay_s:
            time.sleep(self.delay_s)
        if on_token is not None and text:
            on_token(text)
        return Completion(
            text=text,
            prompt_tokens=self.count_chat_tokens(messages),
            completion_tokens=self.count_tokens(text),
            finish_reason=finish,  # type: ignore[arg-type]
            elapsed_s=time.monotonic() - start,
        )

    def close(self) -> None:
        pass


def scripted_settings(read_first: bool = False, **settings):
    """``Settings`` for a run whose root turns are scripted from the first move on: the
    engine's own first move (``reader.READING_STRATEGIES``: passages of the question) is switched
    off unless ``read_first``, so a script's first cell is the run's first cell."""
    from rlm_desktop.settings import Settings

    ablate = list(settings.pop("ablate", []))
    if not read_first and "read_first" not in ablate:
        ablate.append("read_first")
    return Settings(ablate=ablate, **settings)
