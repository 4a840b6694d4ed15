"""Walking a folder: which files the index should see, with default ignores, every
``.gitignore`` on the way, and the user's globs. Never follows symlinked folders (so
links cannot loop or leave the folder); a link that points back into its own parents is
reported as a loop."""

from __future__ import annotations

import errno
import logging
import os
import stat
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field

import pathspec

log = logging.getLogger(__name__)

DEFAULT_IGNORE_DIRS = frozenset(
    {
        ".git", ".hg", ".svn", ".bzr", "_darcs", "CVS",
        "node_modules", "bower_components", "__pycache__", ".venv", "venv", ".tox", ".nox",
        ".mypy_cache", ".pytest_cache", ".ruff_cache", ".cache", ".eggs", ".ipynb_checkpoints",
        ".gradle", ".terraform", "__MACOSX", ".Trash", "$RECYCLE.BIN",
    }
)
VENV_MARKERS = ("pyvenv.cfg", "conda-meta")


@dataclass(frozen=True)
class Entry:
    fs_path: str  # as the OS gives it (may carry surrogate escapes)
    size: int
    mtime: float


@dataclass
class WalkResult:
    errors: list[tuple[str, str]] = field(default_factory=list)  # (path, reason) worth keeping
    vanished_dirs: list[str] = field(default_factory=list)  # gone while we walked
    unlisted_dirs: list[str] = field(default_factory=list)  # could not list: keep their old rows


def covering(paths: Iterable[str]) -> list[str]:
    """The smallest set of the paths that covers all of them: no duplicates, nothing
    inside another one (a folder covers its files)."""
    out: list[str] = []
    for path in sorted(set(paths)):
        if out and (path == out[-1] or path.startswith(out[-1].rstrip("/") + "/")):
            continue
        out.append(path)
    return out


def _spec(lines: Iterable[str]) -> pathspec.PathSpec | None:
    lines = [line for line in lines if line.strip() and not line.lstrip().startswith("#")]
    if not lines:
        return None
    return pathspec.GitIgnoreSpec.from_lines(lines)


def _read_gitignore(directory: str) -> pathspec.PathSpec | None:
    try:
        with open(os.path.join(directory, ".gitignore"), encoding="utf-8", errors="replace") as fh:
            return _spec(fh.read().splitlines())
    except OSError:
        return None


def _ignored(specs: list[tuple[str, pathspec.PathSpec]], path: str, is_dir: bool) -> bool:
    for base, spec in specs:
        rel = os.path.relpath(path, base)
        if is_dir:
            rel += "/"
        if spec.match_file(rel):
            return True
    return False


def is_default_ignored(name: str, path: str, is_dir: bool) -> bool:
    if name.startswith("."):
        return True
    if is_dir:
        if name in DEFAULT_IGNORE_DIRS:
            return True
        return any(os.path.exists(os.path.join(path, marker)) for marker in VENV_MARKERS)
    return False


def walk(root: str, start: str, user_globs: Iterable[str], skip_dirs: Iterable[str], result: WalkResult) -> Iterator[Entry]:
    """Files under ``start`` (``root`` itself, a folder inside it, or one file) that are
    not ignored. Problems go into ``result``; the walk itself never raises for them."""
    skip = {os.path.normpath(d) for d in skip_dirs}
    specs: list[tuple[str, pathspec.PathSpec]] = []
    user = _spec(user_globs)
    if user is not None:
        specs.append((root, user))
    # The .gitignore files of the folders from the root down to the start apply too, and
    # a start inside an ignored folder yields nothing.
    # The folder the person added may itself be a symlink; links below it are not followed.
    start_is_dir = os.path.isdir(start) and (start == root or not os.path.islink(start))
    here = root
    parts = [] if start == root else os.path.relpath(start, root).split(os.sep)
    for number, part in enumerate(parts, 1):
        spec = _read_gitignore(here)
        if spec is not None:
            specs.append((here, spec))
        here = os.path.join(here, part)
        as_dir = number < len(parts) or start_is_dir
        if is_default_ignored(part, here, as_dir) or _ignored(specs, here, as_dir) or here in skip:
            return
    if not start_is_dir:
        try:
            st = os.stat(start)
        except OSError:
            return
        if stat.S_ISREG(st.st_mode):
            yield Entry(start, st.st_size, st.st_mtime)
        return
    spec = _read_gitignore(start)
    if spec is not None:
        specs.append((start, spec))
    yield from _walk_dir(start, specs, skip, result)


def _walk_dir(top: str, specs: list[tuple[str, pathspec.PathSpec]], skip: set[str], result: WalkResult, first: bool = True) -> Iterator[Entry]:
    """Depth-first with an explicit stack: nested generators would cost a frame per level
    for every file yielded, which dominated re-scans of deep trees."""
    stack: list[tuple[str, list[tuple[str, pathspec.PathSpec]], bool]] = [(top, specs, first)]
    while stack:
        directory, specs, is_start = stack.pop()
        try:
            with os.scandir(directory) as it:
                entries = list(it)
        except (FileNotFoundError, NotADirectoryError):
            result.vanished_dirs.append(directory)
            continue
        except PermissionError:
            result.errors.append((directory, "permission denied: cannot list this folder"))
            result.unlisted_dirs.append(directory)
            continue
        except OSError as exc:
            result.errors.append((directory, f"cannot list this folder: {exc.strerror or exc}"))
            result.unlisted_dirs.append(directory)
            continue
        names = {e.name for e in entries}
        if not is_start and not names.isdisjoint(VENV_MARKERS):
            continue  # a virtualenv or conda env
        if not is_start and ".gitignore" in names:
            spec = _read_gitignore(directory)
            if spec is not None:
                specs = [*specs, (directory, spec)]
        subdirs: list[str] = []
        for entry in entries:
            name, path = entry.name, entry.path
            try:
                is_link = entry.is_symlink()
                is_dir = entry.is_dir(follow_symlinks=False)
            except OSError:
                continue
            if is_default_ignored(name, path, False) or (is_dir and name in DEFAULT_IGNORE_DIRS):
                continue
            if is_dir:
                if path in skip or (specs and _ignored(specs, path, True)):
                    continue
                subdirs.append(path)
                continue
            if specs and _ignored(specs, path, False):
                continue
            try:
                st = entry.stat()  # follows a symlinked file to its target
            except OSError as exc:
                if exc.errno == errno.ELOOP:
                    result.errors.append((path, "symlink loop: the link points back to itself, skipped"))
                elif is_link:
                    result.errors.append((path, "broken symbolic link: its target does not exist"))
                elif isinstance(exc, PermissionError):
                    result.errors.append((path, "permission denied"))
                continue  # vanished between listing and stat: nothing to record
            if stat.S_ISDIR(st.st_mode):  # a symlinked folder: never followed
                target = os.path.realpath(path)
                here = os.path.realpath(directory)
                if here == target or here.startswith(target.rstrip("/") + "/"):
                    result.errors.append((path, f"symlink loop: links back to {target}; not followed"))
                else:
                    log.debug("not following symlinked folder %s", path)
                continue
            if stat.S_ISREG(st.st_mode):
                yield Entry(path, st.st_size, st.st_mtime)
        stack.extend((sub, specs, False) for sub in reversed(subdirs))
