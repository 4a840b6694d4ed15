"""Turning a model name or path plus ``Settings`` into a ready ``Backend``.

``BackendPool`` is the object the CLI or the GUI creates once and passes down: it loads
each GGUF file once and hands every caller asking for the same (model, role) the same
backend. Roles get separate KV caches: the root's cached prefix must survive sub-calls,
and a child RLM's turns ("child") must not evict either. Sub-call backends decode up to
``PARALLEL_SEQUENCES`` prompts together for ``llm_batch``. Root and child backends save the
KV state of a long system prompt in the data dir and load it after a restart."""

from __future__ import annotations

import logging
import threading
from pathlib import Path

from rlm_desktop import paths
from rlm_desktop.errors import ModelError
from rlm_desktop.llm.backend import Backend
from rlm_desktop.llm.cache import CachedBackend, PromptStateStore, SubcallCache
from rlm_desktop.llm.lane import LoadedModel
from rlm_desktop.llm.llama_backend import LlamaCppBackend
from rlm_desktop.settings import Settings

log = logging.getLogger(__name__)

PARALLEL_SEQUENCES = 8
ROLES = ("root", "sub", "child")


def resolve_model_path(name_or_path: str | Path) -> Path:
    """A catalog name, a registered local model, or a path to a .gguf file."""
    try:
        from rlm_desktop.llm.catalog import resolve_model
    except ImportError:  # the catalog not built yet: models dir convention
        resolve_model = None
    if resolve_model is not None:
        return Path(resolve_model(name_or_path))
    candidate = Path(name_or_path).expanduser()
    if candidate.suffix == ".gguf" or candidate.exists():
        return candidate
    return paths.models_dir() / f"{name_or_path}.gguf"


def served_config(settings: Settings, role: str):
    """The ``ServerConfig`` of a role (root and child share the root's) when a server
    is set for it, else None. A public host without ``server_allow_public`` is refused."""
    from rlm_desktop.llm.server_backend import ServerConfig, host_scope

    url, model = ((settings.root_server, settings.root_server_model) if role in ("root", "child")
                  else (settings.sub_server, settings.sub_server_model))
    if not url.strip():
        return None
    if not model.strip():
        raise ModelError(f"a model server is set for the {role} model ({url}) but no model name: "
                         f"give --{'root' if role != 'sub' else 'sub'}-model NAME")
    if host_scope(url) == "public" and not settings.server_allow_public:
        raise ModelError(f"{url} is not on this machine or a private network: the question and the text the "
                         "model reads would go over the internet. Confirm with --allow-public-server "
                         "(or in Settings) if that is what you want.")
    return ServerConfig(url=url.strip(), model=model.strip(), n_ctx=settings.n_ctx, concurrency=max(1, settings.server_concurrency))


def _sequences_for(role: str) -> int:
    """Sub-call lanes decode ``llm_batch`` together; the root and child lanes hold one
    conversation plus a spare sequence used to save the system prompt's state."""
    if role not in ROLES:
        raise ValueError(f"unknown backend role {role!r}; expected one of {', '.join(ROLES)}")
    return PARALLEL_SEQUENCES if role == "sub" else 2


def _make_backend(model: LoadedModel, settings: Settings, role: str, *, owns_model: bool = False) -> LlamaCppBackend:
    return LlamaCppBackend(
        model,
        n_ctx=settings.n_ctx,
        n_threads=settings.n_threads,
        n_seq_max=_sequences_for(role),
        name=f"{model.path.stem}:{role}",
        owns_model=owns_model,
        state_store=PromptStateStore() if role != "sub" else None,
    )


def load_backend(name_or_path: str | Path, settings: Settings, role: str = "root") -> LlamaCppBackend:
    """A standalone backend that owns its weights (closing it frees them)."""
    _sequences_for(role)
    model = LoadedModel(resolve_model_path(name_or_path), n_gpu_layers=settings.n_gpu_layers)
    try:
        return _make_backend(model, settings, role, owns_model=True)
    except BaseException:
        model.close()
        raise


class BackendPool:
    """Loads each model file once; one backend per (file, role), shared by all callers.
    With ``settings.subcall_cache`` on, every backend it hands out answers repeated
    temperature-0 calls from the answer cache (``cache``, by default the one in the data
    dir). Benchmarks that time the model must switch the setting off."""

    def __init__(self, settings: Settings, cache: SubcallCache | None = None) -> None:
        self.settings = settings
        self.cache = cache if cache is not None else (SubcallCache() if settings.subcall_cache else None)
        self._models: dict[Path, LoadedModel] = {}
        self._backends: dict[tuple[Path, str], LlamaCppBackend] = {}
        self._handles: dict[tuple[Path, str], Backend] = {}
        self._lock = threading.Lock()
        self._closed = False

    def get(self, name_or_path: str | Path, role: str = "root") -> Backend:
        _sequences_for(role)
        served = served_config(self.settings, role)
        if served is not None and str(name_or_path) in (self.settings.root_model, self.settings.sub_model, served.model):
            return self._served(served, role)
        path = resolve_model_path(name_or_path).resolve()
        with self._lock:
            if self._closed:
                raise ModelError("the model pool is closed")
            handle = self._handles.get((path, role))
            if handle is not None:
                return handle
            model = self._models.get(path)
            if model is None:
                log.info("loading %s", path)
                model = LoadedModel(path, n_gpu_layers=self.settings.n_gpu_layers)
                self._models[path] = model
            backend = _make_backend(model, self.settings, role)
            self._backends[(path, role)] = backend
            handle = backend
            if self.cache is not None:
                handle = CachedBackend(backend, self.cache, enabled=self.settings.subcall_cache)
            self._handles[(path, role)] = handle
            return handle

    def _served(self, config, role: str) -> Backend:
        from rlm_desktop.llm.server_backend import ServerBackend

        key = (Path(f"served:{config.url}#{config.model}"), role)
        with self._lock:
            if self._closed:
                raise ModelError("the model pool is closed")
            handle = self._handles.get(key)
            if handle is None:
                backend = ServerBackend(config, role)
                self._backends[key] = backend  # type: ignore[assignment]
                handle = backend
                if self.cache is not None:
                    handle = CachedBackend(backend, self.cache, enabled=self.settings.subcall_cache)
                self._handles[key] = handle
            return handle

    def root(self) -> Backend:
        return self.get(self.settings.root_model, "root")

    def sub(self) -> Backend:
        return self.get(self.settings.sub_model, "sub")

    def child(self) -> Backend:
        """For a child RLM's own turns: the sub model on its own KV cache, so a child's
        long prompt does not evict the sub-calls' cached prefix."""
        return self.get(self.settings.sub_model, "child")

    def set_cache_enabled(self, enabled: bool) -> None:
        for handle in self.loaded():
            if isinstance(handle, CachedBackend):
                handle.enabled = enabled

    def loaded(self) -> list[Backend]:
        with self._lock:
            return list(self._handles.values())

    def close(self) -> None:
        with self._lock:
            self._closed = True
            backends, self._backends = self._backends, {}
            models, self._models = self._models, {}
            self._handles = {}
        for backend in backends.values():
            backend.close()
        for model in models.values():
            model.close()

    def __enter__(self) -> BackendPool:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
