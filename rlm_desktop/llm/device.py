"""One line about where models will run, for ``models list`` and the GUI's status bar: a
user who expected their GPU to be used should see at once whether this build can."""

from __future__ import annotations

import logging
import platform
from pathlib import Path

from rlm_desktop.settings import physical_cores

log = logging.getLogger(__name__)

# /proc/cpuinfo flag -> the name people know, best first
_CPU_FEATURES = (
    ("avx512f", "AVX-512"),
    ("avx2", "AVX2"),
    ("avx", "AVX"),
    ("neon", "NEON"),
    ("asimd", "NEON"),
)
_GPU_BACKENDS = ("CUDA", "Metal", "Vulkan", "ROCm", "HIP", "SYCL", "OpenCL")


def cpu_flags(cpuinfo: Path = Path("/proc/cpuinfo")) -> set[str]:
    """The CPU's feature flags on Linux; empty elsewhere (the line then names no features)."""
    try:
        text = cpuinfo.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return set()
    for line in text.splitlines():
        key, _, value = line.partition(":")
        if key.strip() in ("flags", "Features"):
            return set(value.split())
    return set()


def cpu_features(flags: set[str]) -> list[str]:
    """The SIMD level that matters for llama.cpp speed: the best x86 level, or NEON."""
    found: list[str] = []
    for flag, label in _CPU_FEATURES:
        if flag in flags and label not in found:
            found.append(label)
            if label in ("AVX-512", "AVX2", "AVX"):
                break  # the best x86 level implies the ones below it
    return found


def _gpu_backend_names(system_info: str) -> list[str]:
    return [name for name in _GPU_BACKENDS if name.lower() in system_info.lower()]


def describe_device(n_threads: int | None = None) -> str:
    """E.g. ``CPU (AVX2, 2 threads)`` or ``GPU offload available (CUDA)``."""
    try:
        import llama_cpp
    except Exception as exc:  # a broken native build raises more than ImportError
        log.debug("llama_cpp import failed: %s", exc)
        return "llama-cpp-python not installed"
    threads = n_threads or physical_cores()
    features = cpu_features(cpu_flags()) or [platform.machine() or "unknown CPU"]
    cpu = f"CPU ({', '.join(features)}, {threads} threads)"
    try:
        gpu = bool(llama_cpp.llama_supports_gpu_offload())
    except Exception as exc:  # an old binding without the call
        log.debug("llama_supports_gpu_offload failed: %s", exc)
        gpu = False
    if not gpu:
        return cpu
    try:
        info = llama_cpp.llama_print_system_info()
        info = info.decode("utf-8", "replace") if isinstance(info, bytes) else str(info)
    except Exception:
        info = ""
    backends = _gpu_backend_names(info)
    return f"GPU offload available ({'/'.join(backends) or 'CUDA/Metal/Vulkan'}); {cpu}"
