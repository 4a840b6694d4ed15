"""A deterministic scripted backend for unit tests (never shipped in the package).

    backend = ScriptedBackend()
    backend.enqueue(["```python\nsearch('x')\n```", "```python\nFINAL('42')\n```"])

Each ``chat`` call pops the next response (or calls it, if it is a callable taking the
messages). Tokens are counted as whitespace-separated words so tests can reason about
budgets; the stop strings and ``stop_fn`` are honoured like the real backend does. A
scripted response to a call with ``params.json_schema`` must be JSON (checked, so a test
scripts what a constrained model could say); the schema itself is not enforced.

The engine's strategy router (``rlm/strategy.py``) may ask the root model to classify the
question first; that call is recorded in ``router_calls``. When the next scripted response
is a bare word ("chain") it is an ordinary call taking that response; otherwise it is
answered with ``router_answer`` (default "lookup") and neither takes a response nor shows
in ``calls``, so scripts stay the model's turns."""

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
from rlm_desktop.rlm.prompts import READER_SCHEMA
from rlm_desktop.rlm.strategy import CLASSIFY_SYSTEM

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
        self.router_answer = "lookup"
        # a router call takes a one-word scripted response as its label; False: always
        # ``router_answer`` (for a sub model whose queue holds sub-call answers like "blue")
        self.route_from_queue = True
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
        if messages and messages[0].role == "system" and messages[0].content == CLASSIFY_SYSTEM:
            self.router_calls.append(list(messages))
            head = self._queue[0] if self._queue else None
            if not (self.route_from_queue and isinstance(head, str) and head.strip().isidentifier()):
                # not scripted for the router: answer it without taking the model's turns
                text = self.router_answer
                return Completion(text, self.count_chat_tokens(messages), self.count_tokens(text), "stop", 0.0)
        if params.json_schema is not None and params.json_schema == READER_SCHEMA:
            head = self._queue[0] if self._queue else None
            if not (isinstance(head, str) and head.lstrip().startswith("{")):
                # the engine's reading of the passages, not scripted: "no line states it"
                text = json.dumps({"found": False, "answer": "", "where": ""})
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
    engine's own first move (``loop.READ_FIRST``: passages of the question) is switched
    off unless ``read_first``, so a script's first cell is the run's first cell."""
    from rlm_desktop.settings import Settings

    ablate = list(settings.pop("ablate", []))
    if not read_first and "read_first" not in ablate:
        ablate.append("read_first")
    return Settings(ablate=ablate, **settings)
