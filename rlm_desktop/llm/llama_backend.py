"""The llama.cpp implementation of ``Backend``.

One ``LlamaCppBackend`` is one KV cache (a context) on a ``LoadedModel``'s weights. The
root and the sub-calls get separate backends, so sub-calls never evict the root's cached
prefix, even when both use the same file (the weights are then loaded once and shared).
Every call queues on the model's lane lock: llama.cpp objects are not thread-safe."""

from __future__ import annotations

import functools
import json
import logging
import time
from collections.abc import Sequence
from pathlib import Path

from rlm_desktop.errors import ModelError
from rlm_desktop.llm.backend import (
    DEFAULT_PARAMS,
    BackendInfo,
    BatchParams,
    CancelToken,
    Completion,
    GenerationParams,
    Message,
    StopFn,
    TokenCallback,
    params_per_conversation,
)
from rlm_desktop.llm.batch import DecodeStats, SequenceContext, SequenceRequest, SequenceResult, common_prefix
from rlm_desktop.llm.cache import PromptStateStore, model_identity
from rlm_desktop.llm.lane import ChatPrompt, LoadedModel

log = logging.getLogger(__name__)



class LlamaCppBackend:
    """Chat completion on one context of a loaded GGUF model.

    ``n_seq_max`` > 1 lets ``chat_batch`` decode that many prompts together (the KV cache of
    ``n_ctx`` cells is shared among them). ``owns_model``: close the weights with the backend
    (a standalone backend), or leave them to whoever shares them (``BackendPool``)."""

    def __init__(
        self,
        model: LoadedModel,
        *,
        n_ctx: int = 8192,
        n_threads: int = 2,
        n_seq_max: int = 1,
        name: str | None = None,
        owns_model: bool = False,
        prompt_chunk: int = 128,
        state_store: PromptStateStore | None = None,
        n_ubatch: int | None = None,
    ) -> None:
        if n_ctx > model.n_ctx_train:
            log.warning("%s was trained for %d tokens of context; using that instead of %d", model.path.name, model.n_ctx_train, n_ctx)
            n_ctx = model.n_ctx_train
        self.name = name or model.path.stem
        self.model = model
        self._n_threads = n_threads
        self._owns_model = owns_model
        # Saves/loads the system prompt's KV state (root and child lanes): needs a spare
        # sequence to save through, so only with n_seq_max >= 2.
        self._state_store = state_store if n_seq_max >= 2 else None
        with model.lock:
            self._context = SequenceContext(
                model, n_ctx=n_ctx, n_threads=n_threads, n_seq_max=n_seq_max, prompt_chunk=prompt_chunk,
                n_ubatch=n_ubatch,
            )
        self._closed = False

    @property
    def n_ctx(self) -> int:
        return self._context.n_ctx

    @property
    def n_seq_max(self) -> int:
        return self._context.n_seq_max

    @property
    def last_stats(self) -> DecodeStats | None:
        """Timing of the last ``chat``/``chat_batch`` group (prompt vs decode phase)."""
        return self._context.last_stats

    @property
    def cached_tokens(self) -> int:
        """Tokens of the last prompt and answer still in this backend's KV cache."""
        return len(self._context.cached)

    @property
    def context(self) -> SequenceContext:
        """The KV cache itself, for benchmarks and tests; hold ``model.lock`` to touch it."""
        return self._context

    def forget(self) -> None:
        """Empty the KV cache, so the next call evaluates its whole prompt."""
        with self.model.lock:
            self._context.reset()

    # -- tokens -----------------------------------------------------------------------------

    def count_tokens(self, text: str) -> int:
        return len(self.model.tokenize(text, special=False))

    def count_chat_tokens(self, messages: Sequence[Message]) -> int:
        return len(self.prompt_tokens(messages))

    def prompt_tokens(self, messages: Sequence[Message], prefix: str = "") -> tuple[int, ...]:
        """Exactly the tokens ``chat`` evaluates for these messages."""
        return self._render(messages, prefix).tokens

    def _render(self, messages: Sequence[Message], prefix: str = "") -> ChatPrompt:
        if not messages:
            raise ModelError("a chat needs at least one message")
        return self.model.render_chat([(m.role, m.content) for m in messages], prefix)

    def render_prompt(self, messages: Sequence[Message], prefix: str = "") -> str:
        """The prompt text the chat template makes (for cache keys and debugging)."""
        return self.model.render_chat([(m.role, m.content) for m in messages], prefix).text

    # -- generation -------------------------------------------------------------------------

    def chat(
        self,
        messages: Sequence[Message],
        params: GenerationParams = DEFAULT_PARAMS,
        *,
        on_token: TokenCallback | None = None,
        stop_fn: StopFn | None = None,
        cancel: CancelToken | None = None,
    ) -> Completion:
        started = time.monotonic()
        request = self._request(messages, params, on_token=on_token, stop_fn=stop_fn)
        system = self._system_prefix(messages, request, params.stable_messages)
        with self.model.lock:
            self._check_open()
            if cancel is not None and cancel.cancelled:
                return Completion("", len(request.tokens), 0, "cancelled", 0.0, evaluated_prompt_tokens=0)
            state_file = self._restore_system_prompt(system)
            (result,) = self._context.run([request], cancel)
            if state_file is not None and not state_file.exists():
                self._save_system_prompt(system, state_file)
        return _completion(result, time.monotonic() - started)

    def _system_prefix(self, messages: Sequence[Message], request: SequenceRequest, stable: int = 1) -> tuple[int, ...] | None:
        """The tokens of the stable head: the system message, and with ``stable`` > 1 the
        worked examples after it (never the last message, which is the question)."""
        if self._state_store is None or messages[0].role != "system":
            return None
        n = max(1, min(stable, len(messages) - 1))
        ends = self._render(messages[:n]).message_ends
        if len(ends) < n or ends[n - 1] < self._state_store.min_tokens:
            return None
        prefix = request.tokens[: ends[n - 1]]
        return prefix if len(prefix) == ends[n - 1] else None

    def _restore_system_prompt(self, system: tuple[int, ...] | None) -> Path | None:
        """The state file for this system prompt; loaded into the cache first when this
        context does not already hold the prompt. Runs under the lane lock."""
        if system is None or self._state_store is None:
            return None
        path = self._state_store.path_for(model_identity(self), system, self.n_ctx)
        if common_prefix(self._context.cached, system) == len(system) or not path.exists():
            return path
        loaded_at = time.monotonic()
        if self._context.load_prefix(path, system):
            self._state_store.used(path)
            log.info("loaded the system prompt state (%d tokens) in %.2f s", len(system), time.monotonic() - loaded_at)
        else:
            log.warning("ignoring an unreadable prompt state file %s", path)
            path.unlink(missing_ok=True)
        return path

    def _save_system_prompt(self, system: tuple[int, ...], path: Path) -> None:
        if common_prefix(self._context.cached, system) < len(system):
            return  # cancelled before the system prompt was evaluated
        path.parent.mkdir(parents=True, exist_ok=True)
        if self._context.save_prefix(path, len(system)):
            self._state_store.saved(path)
            log.info("saved the system prompt state (%d tokens) to %s", len(system), path)

    def chat_batch(
        self,
        conversations: Sequence[Sequence[Message]],
        params: BatchParams = DEFAULT_PARAMS,
        cancel: CancelToken | None = None,
    ) -> list[Completion]:
        """Answer independent conversations, decoding up to ``n_seq_max`` of them together.
        Prompts are grouped in order while their KV cells fit the context; one that fits only
        alone runs alone. Each ``Completion.elapsed_s`` is its group's wall time."""
        each = params_per_conversation(params, len(conversations))
        requests = [self._request(m, p) for m, p in zip(conversations, each, strict=True)]
        results: list[Completion] = []
        for group in self._groups(requests):
            started = time.monotonic()
            with self.model.lock:
                self._check_open()
                if cancel is not None and cancel.cancelled:
                    done = [SequenceResult("", len(r.tokens), 0, 0, "cancelled") for r in group]
                else:
                    try:
                        done = self._context.run(group, cancel)
                    except ModelError as exc:
                        if len(group) == 1:
                            raise
                        # e.g. no KV slot for the whole batch: one by one still fits
                        log.warning("batch of %d failed (%s); running it one by one", len(group), exc)
                        done = [self._context.run([r], cancel)[0] for r in group]
            elapsed = time.monotonic() - started
            results += [_completion(r, elapsed) for r in done]
        return results

    def _groups(self, requests: list[SequenceRequest]) -> list[list[SequenceRequest]]:
        groups: list[list[SequenceRequest]] = []
        current: list[SequenceRequest] = []
        for request in requests:
            candidate = current + [request]
            if current and (len(candidate) > self.n_seq_max or self._context.cells_needed(candidate) > self.n_ctx):
                groups.append(current)
                candidate = [request]
            current = candidate
        if current:
            groups.append(current)
        return groups

    def _request(
        self,
        messages: Sequence[Message],
        params: GenerationParams,
        *,
        on_token: TokenCallback | None = None,
        stop_fn: StopFn | None = None,
    ) -> SequenceRequest:
        if params.max_tokens < 1:
            raise ModelError(f"max_tokens must be at least 1, not {params.max_tokens}")
        tokens = self.prompt_tokens(messages, params.prefix)
        if len(tokens) + params.max_tokens > self.n_ctx:
            raise ModelError(
                f"the prompt has {len(tokens)} tokens and {params.max_tokens} more are reserved for the "
                f"answer, but {self.name}'s context holds {self.n_ctx}: shorten the prompt by at least "
                f"{len(tokens) + params.max_tokens - self.n_ctx} tokens"
            )
        grammar = grammar_of(params)
        if grammar is not None:
            self.model.check_grammar(grammar)
        return SequenceRequest(
            tokens=tokens,
            max_tokens=params.max_tokens,
            temperature=params.temperature,
            stop=tuple(params.stop),
            stop_fn=stop_fn,
            on_token=on_token,
            grammar=grammar,
        )

    # -- lifecycle --------------------------------------------------------------------------

    def info(self) -> BackendInfo:
        offloaded = min(self.model.n_gpu_layers, self.model.n_layer + 1) if self.model.gpu_offload else 0
        return BackendInfo(
            model_path=str(self.model.path),
            n_ctx=self.n_ctx,
            n_threads=self._n_threads,
            n_gpu_layers=offloaded,
            device="GPU" if self.model.gpu_offload else "CPU",
            extra={"model": self.model.description, "parallel_sequences": str(self.n_seq_max)},
        )

    def _check_open(self) -> None:
        if self._closed:
            raise ModelError(f"the backend for {self.name} is closed")

    def close(self) -> None:
        with self.model.lock:
            if self._closed:
                return
            self._closed = True
            self._context.close()
        if self._owns_model:
            self.model.close()


def grammar_of(params: GenerationParams) -> str | None:
    """The GBNF grammar a reply must match: ``params.grammar`` as given, or the one
    llama-cpp-python's converter makes of ``params.json_schema``."""
    if params.json_schema is not None and params.grammar is not None:
        raise ModelError("give GenerationParams a json_schema or a grammar, not both")
    if params.grammar is not None:
        return params.grammar
    if params.json_schema is None:
        return None
    try:
        text = json.dumps(params.json_schema)  # key order kept: it is the order of the reply
    except (TypeError, ValueError) as exc:
        raise ModelError(f"the JSON schema is not JSON data: {exc}") from exc
    return _schema_grammar(text)


@functools.lru_cache(maxsize=64)
def _schema_grammar(schema: str) -> str:
    from llama_cpp.llama_grammar import json_schema_to_gbnf

    try:
        return json_schema_to_gbnf(schema)
    except Exception as exc:  # the converter raises bare AssertionError/ValueError/KeyError
        raise ModelError(f"cannot turn the JSON schema into a grammar: {exc or type(exc).__name__}") from exc


def _completion(result: SequenceResult, elapsed: float) -> Completion:
    return Completion(
        text=result.text,
        prompt_tokens=result.prompt_tokens,
        completion_tokens=result.completion_tokens,
        finish_reason=result.finish_reason,
        elapsed_s=elapsed,
        evaluated_prompt_tokens=result.evaluated_prompt_tokens,
    )
