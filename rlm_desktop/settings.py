"""All settings in one dataclass with defaults. The GUI persists it with QSettings, the
CLI maps flags and environment onto it; the core only ever sees a ``Settings``."""

from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass, field
from typing import Any


def physical_cores() -> int:
    """Physical cores, the right thread count for llama.cpp (hyperthreads don't help)."""
    try:
        import psutil

        count = psutil.cpu_count(logical=False)
        if count:
            return count
    except ImportError:  # pragma: no cover - psutil is a dependency
        pass
    return max(1, (os.cpu_count() or 2) // 2) if (os.cpu_count() or 1) > 2 else (os.cpu_count() or 1)


DEFAULT_ROOT_MODEL = "qwen2.5-coder-1.5b-instruct-q4_k_m"
DEFAULT_SUB_MODEL = "qwen2.5-coder-0.5b-instruct-q4_k_m"
TEST_MODEL = DEFAULT_SUB_MODEL


@dataclass
class Settings:
    # models
    root_model: str = DEFAULT_ROOT_MODEL
    sub_model: str = DEFAULT_SUB_MODEL
    n_threads: int = field(default_factory=physical_cores)
    n_gpu_layers: int = -1  # -1: all layers when the build has a GPU backend
    n_ctx: int = 8192
    # budgets
    max_iterations: int = 20
    max_sub_calls: int = 200
    max_depth: int = 1
    max_total_tokens: int = 2_000_000
    timeout_s: float = 900.0
    # sandbox
    cell_timeout_s: float = 30.0
    sandbox_memory_mb: int = 1024
    output_chars: int = 4000
    # library
    ignore_globs: list[str] = field(default_factory=list)
    max_file_mb: float = 50.0
    # inference
    subcall_cache: bool = True
    # models served on the user's own network (llama-server, vLLM, Ollama: the
    # OpenAI-compatible chat API). Off when the URL is empty. Where a server is set, the
    # question and the text its model reads go to that host (llm/server_backend.py);
    # a public (not loopback, not private-network) host also needs server_allow_public.
    root_server: str = ""
    root_server_model: str = ""
    sub_server: str = ""
    sub_server_model: str = ""
    server_concurrency: int = 4  # sub-calls in flight at once to a served sub model
    server_allow_public: bool = False
    # development only: techniques of issue 10 switched off for an ablation run
    # (``bench dev --ablate``): strategy, echo, totals, grounding, repeats, imports,
    # map_helper, check_values, or all
    ablate: list[str] = field(default_factory=list)
    # how the root's strategy is chosen: "plan" (one call constrained to a JSON schema,
    # told what the folder holds: rlm/plan.py) or "rules" (question regexes, then a
    # one-word call). The plan fits more questions on both parts of the yardstick
    # (docs/benchmarks.md, `bench router`)
    router: str = "plan"

    def replace(self, **changes: Any) -> Settings:
        return dataclasses.replace(self, **changes)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> Settings:
        """Build from stored values, ignoring unknown keys and coercing types to the
        defaults' types, so an old or hand-edited settings file never breaks start-up."""
        base = cls()
        known = {f.name: f for f in dataclasses.fields(cls)}
        changes: dict[str, Any] = {}
        for key, value in values.items():
            if key not in known:
                continue
            default = getattr(base, key)
            try:
                if isinstance(default, bool):
                    value = value if isinstance(value, bool) else str(value).lower() in ("1", "true", "yes")
                elif isinstance(default, int):
                    value = int(value)
                elif isinstance(default, float):
                    value = float(value)
                elif isinstance(default, list):
                    value = [str(v) for v in value] if isinstance(value, (list, tuple)) else [s for s in str(value).split("\n") if s]
                else:
                    value = str(value)
            except (TypeError, ValueError):
                continue
            changes[key] = value
        return dataclasses.replace(base, **changes)
