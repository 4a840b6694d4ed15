"""A persistent cache of model answers, so a re-asked question costs a fraction of the
first run: at temperature 0 the same model given the same prompt says the same thing.

The key is a hash of the model's identity (file name and size), the prompt exactly as the
chat template renders it, and the generation parameters. Answers sampled at temperature
above 0 are not cached (a caller asking for variety should get it), nor cancelled ones.
A ``stop_fn`` is a function, not data: it is keyed by its qualified name, and a cached
answer is passed through it again on the way out."""

from __future__ import annotations

import hashlib
import json
import logging
import sqlite3
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path

from rlm_desktop import paths
from rlm_desktop.llm.backend import (
    DEFAULT_PARAMS,
    Backend,
    BatchParams,
    CancelToken,
    Completion,
    GenerationParams,
    Message,
    StopFn,
    TokenCallback,
    chat_batch,
    params_per_conversation,
)

log = logging.getLogger(__name__)


_SCHEMA = """
CREATE TABLE IF NOT EXISTS completions (
    key TEXT PRIMARY KEY,
    model TEXT NOT NULL,
    text TEXT NOT NULL,
    prompt_tokens INTEGER NOT NULL,
    completion_tokens INTEGER NOT NULL,
    finish_reason TEXT NOT NULL,
    elapsed_s REAL NOT NULL,
    created REAL NOT NULL,
    hits INTEGER NOT NULL DEFAULT 0,
    last_used REAL NOT NULL
)
"""


@dataclass(frozen=True)
class CacheStats:
    entries: int
    hits: int
    saved_s: float  # model time the hits did not spend
    bytes: int
    models: dict[str, int]


class SubcallCache:
    """The answers table in ``paths.cache_db()``. One short-lived connection per operation,
    so any thread may use it."""

    def __init__(self, path: Path | None = None) -> None:
        self.path = Path(path) if path is not None else paths.cache_db()
        self._lock = threading.Lock()
        with self._connect() as conn:
            conn.execute(_SCHEMA)

    def _connect(self) -> sqlite3.Connection:
        conn = sqlite3.connect(self.path, timeout=30)
        conn.execute("PRAGMA journal_mode=WAL")
        return conn

    @staticmethod
    def key(model: str, prompt: str, params: GenerationParams, stop_fn: StopFn | None = None) -> str:
        fields = {
            "model": model,
            "prompt": prompt,
            "max_tokens": params.max_tokens,
            "temperature": params.temperature,
            "stop": list(params.stop),
            "stop_fn": getattr(stop_fn, "__qualname__", repr(stop_fn)) if stop_fn is not None else None,
        }
        # only when set, so the keys of unconstrained answers stored before stay valid
        if params.json_schema is not None:
            fields["json_schema"] = params.json_schema
        if params.grammar is not None:
            fields["grammar"] = params.grammar
        material = json.dumps(fields, ensure_ascii=False, sort_keys=True)
        return hashlib.sha256(material.encode("utf-8")).hexdigest()

    def get(self, key: str) -> Completion | None:
        with self._lock, self._connect() as conn:
            row = conn.execute(
                "SELECT text, prompt_tokens, completion_tokens, finish_reason, elapsed_s FROM completions WHERE key = ?",
                (key,),
            ).fetchone()
            if row is None:
                return None
            conn.execute("UPDATE completions SET hits = hits + 1, last_used = ? WHERE key = ?", (time.time(), key))
        text, prompt_tokens, completion_tokens, finish_reason, elapsed_s = row
        return Completion(text, prompt_tokens, completion_tokens, finish_reason, elapsed_s, evaluated_prompt_tokens=0, cached=True)

    def put(self, key: str, model: str, completion: Completion) -> None:
        now = time.time()
        with self._lock, self._connect() as conn:
            conn.execute(
                "INSERT OR REPLACE INTO completions (key, model, text, prompt_tokens, completion_tokens,"
                " finish_reason, elapsed_s, created, hits, last_used) VALUES (?, ?, ?, ?, ?, ?, ?, ?, 0, ?)",
                (
                    key,
                    model,
                    completion.text,
                    completion.prompt_tokens,
                    completion.completion_tokens,
                    completion.finish_reason,
                    completion.elapsed_s,
                    now,
                    now,
                ),
            )

    def clear(self) -> int:
        """Delete every cached answer; returns how many there were."""
        with self._lock, self._connect() as conn:
            count = conn.execute("DELETE FROM completions").rowcount
        with self._connect() as conn:
            conn.execute("VACUUM")
        return count

    def stats(self) -> CacheStats:
        with self._lock, self._connect() as conn:
            entries, hits, saved = conn.execute(
                "SELECT COUNT(*), COALESCE(SUM(hits), 0), COALESCE(SUM(hits * elapsed_s), 0) FROM completions"
            ).fetchone()
            models = dict(conn.execute("SELECT model, COUNT(*) FROM completions GROUP BY model").fetchall())
        size = sum(p.stat().st_size for p in self.path.parent.glob(self.path.name + "*") if p.is_file())
        return CacheStats(entries=entries, hits=hits, saved_s=saved, bytes=size, models=models)


def model_identity(backend: Backend) -> str:
    """What a cached answer is valid for: the model file (name and size) if the backend
    knows it, else the backend's name."""
    model = getattr(backend, "model", None)
    path = getattr(model, "path", None)
    size = getattr(model, "size_bytes", None)
    if path is not None and size is not None:
        return f"{Path(path).name}:{size}"
    return backend.name


class CachedBackend:
    """A ``Backend`` that answers from ``cache`` when it can and stores what the wrapped
    backend answers. ``enabled`` may be flipped at any time (the settings switch)."""

    def __init__(self, backend: Backend, cache: SubcallCache, *, enabled: bool = True) -> None:
        self.backend = backend
        self.cache = cache
        self.enabled = enabled
        self.name = backend.name
        self._identity = model_identity(backend)

    @property
    def n_ctx(self) -> int:
        return self.backend.n_ctx

    def count_tokens(self, text: str) -> int:
        return self.backend.count_tokens(text)

    def count_chat_tokens(self, messages: Sequence[Message]) -> int:
        return self.backend.count_chat_tokens(messages)

    def clear(self) -> int:
        return self.cache.clear()

    def _key(self, messages: Sequence[Message], params: GenerationParams, stop_fn: StopFn | None) -> str | None:
        if not self.enabled or params.temperature > 0:
            return None
        render = getattr(self.backend, "render_prompt", None)
        if render is not None:
            prompt = render(messages, params.prefix)
        else:
            prompt = json.dumps([[m.role, m.content] for m in messages] + [["prefix", params.prefix]], ensure_ascii=False)
        return self.cache.key(self._identity, prompt, params, stop_fn)

    def _from_cache(self, key: str | None, stop_fn: StopFn | None, on_token: TokenCallback | None) -> Completion | None:
        if key is None:
            return None
        started = time.monotonic()
        hit = self.cache.get(key)
        if hit is None:
            return None
        if stop_fn is not None:
            cut = stop_fn(hit.text)
            if cut is not None and cut < len(hit.text):
                hit = replace(hit, text=hit.text[:cut], finish_reason="stop")
        if on_token is not None and hit.text:
            on_token(hit.text)
        return replace(hit, elapsed_s=time.monotonic() - started)

    def _store(self, key: str | None, completion: Completion) -> None:
        if key is not None and completion.finish_reason != "cancelled":
            self.cache.put(key, self._identity, completion)

    def chat(
        self,
        messages: Sequence[Message],
        params: GenerationParams = DEFAULT_PARAMS,
        *,
        on_token: TokenCallback | None = None,
        stop_fn: StopFn | None = None,
        cancel: CancelToken | None = None,
    ) -> Completion:
        key = self._key(messages, params, stop_fn)
        hit = self._from_cache(key, stop_fn, on_token)
        if hit is not None:
            return hit
        result = self.backend.chat(messages, params, on_token=on_token, stop_fn=stop_fn, cancel=cancel)
        self._store(key, result)
        return result

    def chat_batch(
        self,
        conversations: Sequence[Sequence[Message]],
        params: BatchParams = DEFAULT_PARAMS,
        cancel: CancelToken | None = None,
    ) -> list[Completion]:
        """Cached answers come back at once; the rest go to the wrapped backend together."""
        each = params_per_conversation(params, len(conversations))
        keys = [self._key(m, p, None) for m, p in zip(conversations, each, strict=True)]
        results: list[Completion | None] = [self._from_cache(k, None, None) for k in keys]
        missing = [i for i, r in enumerate(results) if r is None]
        if missing:
            answers = chat_batch(self.backend, [conversations[i] for i in missing], [each[i] for i in missing], cancel)
            for i, answer in zip(missing, answers, strict=True):
                self._store(keys[i], answer)
                results[i] = answer
        return [r for r in results if r is not None]

    def close(self) -> None:
        self.backend.close()

    def __getattr__(self, name: str):
        # info(), last_stats, render_prompt ... of the wrapped backend
        if name == "backend":
            raise AttributeError(name)
        return getattr(self.backend, name)


class PromptStateStore:
    """Saved KV states of system prompts, so the prompt every run starts with is evaluated
    once per model and machine, not once per process (an 800-token prompt costs the 1.5B
    model here ~24 s; loading its state takes well under a second, see docs/benchmarks.md).
    Files live in ``<data dir>/kv/``, named by the model's identity, the context size and
    a hash of the prompt tokens; the newest ``keep`` are kept."""

    def __init__(self, directory: Path | None = None, *, keep: int = 16, min_tokens: int = 64) -> None:
        self.directory = Path(directory) if directory is not None else paths.data_dir() / "kv"
        self.keep = keep
        self.min_tokens = min_tokens

    def path_for(self, model: str, tokens: Sequence[int], n_ctx: int) -> Path:
        digest = hashlib.sha256(json.dumps([model, n_ctx, list(tokens)]).encode()).hexdigest()[:32]
        return self.directory / f"{digest}.kvstate"

    def saved(self, path: Path) -> None:
        """Note a new file and drop the oldest beyond ``keep``."""
        files = sorted(self.directory.glob("*.kvstate"), key=lambda p: p.stat().st_mtime, reverse=True)
        for old in files[self.keep :]:
            if old != path:
                old.unlink(missing_ok=True)

    def used(self, path: Path) -> None:
        path.touch()

    def clear(self) -> int:
        files = list(self.directory.glob("*.kvstate")) if self.directory.is_dir() else []
        for f in files:
            f.unlink(missing_ok=True)
        return len(files)
