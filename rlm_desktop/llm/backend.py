"""The backend interface every caller above ``llm/`` uses. Nothing llama-specific leaks
above this module: the engine, the CLI and the GUI see ``Backend``, ``Message`` and
``Completion`` only. A scripted fake lives in ``tests/``, not here."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from typing import Any, Literal, Protocol, runtime_checkable

from rlm_desktop.errors import Cancelled, ModelError

Role = Literal["system", "user", "assistant"]


@dataclass(frozen=True)
class Message:
    role: Role
    content: str


@dataclass(frozen=True)
class GenerationParams:
    max_tokens: int = 512
    temperature: float = 0.0
    stop: tuple[str, ...] = ()
    # Text the assistant turn starts with (already "said"); the completion continues it.
    prefix: str = ""
    # The leading messages every run of this kind starts with (the system prompt, and the
    # worked examples after it): a backend may save their KV state and load it next time.
    stable_messages: int = 1
    # Constrained output: the reply (after ``prefix``) must match this JSON schema, or this
    # grammar in llama.cpp's GBNF with a ``root`` rule; at most one of the two. Generation
    # ends when the reply is complete (or at ``max_tokens``, cut mid-way).
    json_schema: dict[str, Any] | None = field(default=None, hash=False)
    grammar: str | None = None


DEFAULT_PARAMS = GenerationParams()  # the default of every ``chat``/``chat_batch``


@dataclass(frozen=True)
class Completion:
    text: str
    prompt_tokens: int
    completion_tokens: int
    finish_reason: Literal["stop", "length", "cancelled"]
    elapsed_s: float
    # prompt tokens actually evaluated (the rest came from the KV cache)
    evaluated_prompt_tokens: int = -1
    cached: bool = False


class CancelToken:
    """Set from any thread; the backend checks it between tokens. Over a given
    ``threading.Event`` (a GUI worker's stop flag), setting either stops the run."""

    def __init__(self, event: threading.Event | None = None) -> None:
        self._event = event if event is not None else threading.Event()

    def cancel(self) -> None:
        self._event.set()

    @property
    def cancelled(self) -> bool:
        return self._event.is_set()


TokenCallback = Callable[[str], None]
# Given the text generated so far, return the index at which to cut it and stop, or None.
StopFn = Callable[[str], "int | None"]


@runtime_checkable
class Backend(Protocol):
    name: str

    @property
    def n_ctx(self) -> int: ...

    def count_tokens(self, text: str) -> int:
        """Exact count with the model's own tokenizer (no BOS)."""

    def count_chat_tokens(self, messages: Sequence[Message]) -> int:
        """Exact count of the prompt the chat template renders for ``messages``,
        including the generation prompt."""

    def chat(
        self,
        messages: Sequence[Message],
        params: GenerationParams = DEFAULT_PARAMS,
        *,
        on_token: TokenCallback | None = None,
        stop_fn: StopFn | None = None,
        cancel: CancelToken | None = None,
    ) -> Completion:
        """Generate the assistant's reply. Thread-safe: calls queue on the model lane."""

    def close(self) -> None: ...

    # Optional (not part of the runtime check, so simple backends need not have it):
    #   chat_batch(conversations, params, cancel=None) -> list[Completion]
    # answers independent conversations, possibly decoded together; ``params`` is one
    # GenerationParams for all or one per conversation (``params_per_conversation``).
    # Callers use the module function ``chat_batch``, which falls back to one ``chat``
    # after another.


BatchParams = GenerationParams | Sequence[GenerationParams]


def params_per_conversation(params: BatchParams, n: int) -> list[GenerationParams]:
    """One ``GenerationParams`` for each of ``n`` conversations: the same for all, or the
    caller's own list (so a batch can mix constrained and free replies)."""
    if isinstance(params, GenerationParams):
        return [params] * n
    each = list(params)
    if len(each) != n:
        raise ValueError(f"{len(each)} GenerationParams for {n} conversations")
    return each


def chat_batch(
    backend: Backend,
    conversations: Sequence[Sequence[Message]],
    params: BatchParams = DEFAULT_PARAMS,
    cancel: CancelToken | None = None,
) -> list[Completion]:
    """Answer independent conversations in order: batched when the backend can
    (``backend.chat_batch``), else one by one. Once cancelled, the rest come back empty
    with ``finish_reason="cancelled"``."""
    batched = getattr(backend, "chat_batch", None)
    if batched is not None:
        return batched(conversations, params, cancel=cancel)
    results: list[Completion] = []
    for messages, each in zip(conversations, params_per_conversation(params, len(conversations)), strict=True):
        if cancel is not None and cancel.cancelled:
            results.append(Completion("", backend.count_chat_tokens(messages), 0, "cancelled", 0.0))
        else:
            results.append(backend.chat(messages, each, cancel=cancel))
    return results


def complete_json(
    backend: Backend,
    messages: Sequence[Message],
    schema: dict[str, Any],
    params: GenerationParams = DEFAULT_PARAMS,
    *,
    cancel: CancelToken | None = None,
) -> dict[str, Any]:
    """The reply to ``messages`` forced to ``schema`` (a JSON schema of an object), parsed.
    A reply cut by ``max_tokens`` or a stop string is not JSON: that raises ``ModelError``
    saying so, rather than returning half an object."""
    completion = backend.chat(messages, replace(params, json_schema=schema, grammar=None), cancel=cancel)
    if completion.finish_reason == "cancelled":
        raise Cancelled("stopped")
    try:
        value = json.loads(completion.text)
    except json.JSONDecodeError as exc:
        why = (
            f"it was cut at max_tokens={params.max_tokens}: raise max_tokens or bound the schema's strings (maxLength)"
            if completion.finish_reason == "length"
            else f"{exc}"
        )
        raise ModelError(f"{backend.name}'s reply is not complete JSON ({why}): {completion.text[:200]!r}") from exc
    if not isinstance(value, dict):
        raise ModelError(f"{backend.name}'s reply is JSON but not an object: {completion.text[:200]!r}")
    return value


@dataclass
class BackendInfo:
    """What the GUI and ``models list`` show about a loaded backend."""

    model_path: str
    n_ctx: int
    n_threads: int
    n_gpu_layers: int
    device: str
    extra: dict[str, str] = field(default_factory=dict)
