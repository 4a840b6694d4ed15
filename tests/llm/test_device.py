"""The device line in ``models list``: what a user reads to know whether the GPU is used."""

from __future__ import annotations

import sys
import types
from pathlib import Path

import pytest

from rlm_desktop.llm import device


def test_cpu_flags_and_the_best_simd_level(tmp_path: Path) -> None:
    cpuinfo = tmp_path / "cpuinfo"
    cpuinfo.write_text("processor\t: 0\nflags\t\t: fpu sse2 avx avx2 fma\n\nprocessor\t: 1\nflags\t\t: fpu\n")
    flags = device.cpu_flags(cpuinfo)
    assert {"avx", "avx2"} <= flags
    assert device.cpu_features(flags) == ["AVX2"]
    assert device.cpu_features({"avx512f", "avx2"}) == ["AVX-512"]
    assert device.cpu_features({"asimd"}) == ["NEON"]
    assert device.cpu_flags(tmp_path / "missing") == set()


def _fake_llama(monkeypatch: pytest.MonkeyPatch, gpu: bool, info: bytes) -> None:
    module = types.ModuleType("llama_cpp")
    module.llama_supports_gpu_offload = lambda: gpu  # type: ignore[attr-defined]
    module.llama_print_system_info = lambda: info  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "llama_cpp", module)


def test_cpu_only_build(monkeypatch: pytest.MonkeyPatch) -> None:
    _fake_llama(monkeypatch, False, b"CPU : AVX2 = 1 |")
    monkeypatch.setattr(device, "cpu_flags", lambda: {"avx", "avx2"})
    assert device.describe_device(n_threads=2) == "CPU (AVX2, 2 threads)"


def test_gpu_build_names_its_backend(monkeypatch: pytest.MonkeyPatch) -> None:
    _fake_llama(monkeypatch, True, b"CUDA : ARCHS = 890 | CPU : AVX2 = 1 |")
    monkeypatch.setattr(device, "cpu_flags", lambda: {"avx2"})
    assert device.describe_device(n_threads=4) == "GPU offload available (CUDA); CPU (AVX2, 4 threads)"


def test_missing_llama_cpp_is_said_plainly(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "llama_cpp", None)  # makes the import fail
    assert device.describe_device() == "llama-cpp-python not installed"
