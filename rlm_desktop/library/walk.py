"""Walking a folder: which files the index should see, with default ignores, every
``.gitignore`` on the way, and the user's globs.

Symbolic links follow one rule: nothing outside the folders the person added is read.
A link whose resolved target lies outside all of them (a file or a folder) is reported
and not read. A link to a file inside them is read through its target, unless the walk of
that folder yields the target itself (then the link is recorded as skipped: the text is
indexed once). Symlinked folders are never walked (their files are indexed where they
are, and links cannot loop); one that points back into its own parents is reported as a
loop. Anything that is not a regular file (a named pipe, socket or device) is recorded as
skipped without being opened."""

from __future__ import annotations

import errno
import logging
import os
import stat
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field

import pathspec

from rlm_desktop.library.extract import not_regular, open_regular

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
    skip: str = ""  # a reason to record the file as skipped without opening it
    target: str = ""  # for a link: the checked file it resolves to, read in its place


@dataclass
class WalkResult:
    errors: list[tuple[str, str]] = field(default_factory=list)  # (path, reason) worth keeping
    vanished_dirs: list[str] = field(default_factory=list)  # gone while we walked
    unlisted_dirs: list[str] = field(default_factory=list)  # could not list: keep their old rows


class Roots:
    """The library's folders with their ignore globs: where a symbolic link may lead, and
    whether the walk of a folder would index a given file."""

    def __init__(self, folders: Iterable[tuple[str, Iterable[str]]]) -> None:
        self.globs = {root: tuple(globs) for root, globs in folders}
        # Deepest first: a file inside a nested folder belongs to that folder.
        self._real = sorted(((os.path.realpath(root), root) for root in self.globs), key=lambda rr: -len(rr[0]))

    def nested(self, root: str) -> list[str]:
        """Folders of the library inside ``root``: each is its own root, not walked from it."""
        prefix = root.rstrip("/") + "/"
        return [r for r in self.globs if r != root and r.startswith(prefix)]

    def place(self, real: str) -> tuple[str, str] | None:
        """(root, path as that root's walk sees it) for a resolved path inside the
        library's folders, or None when it lies outside all of them."""
        for real_root, root in self._real:
            if real == real_root or real.startswith(real_root.rstrip("/") + "/"):
                rel = os.path.relpath(real, real_root)
                return root, root if rel == "." else os.path.join(root, rel)
        return None

    def indexes(self, root: str, path: str) -> bool:
        """Whether the walk of ``root`` yields ``path`` (not ignored, a regular file)."""
        return any(entry.fs_path == path for entry in walk(self, root, path, WalkResult()))


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
    try:  # a .gitignore that is a link (maybe out of the folder) or a pipe is not read
        with open_regular(os.path.join(directory, ".gitignore")) as fh:
            return _spec(fh.read().decode("utf-8", errors="replace").splitlines())
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


def walk(roots: Roots, root: str, start: str, result: WalkResult) -> Iterator[Entry]:
    """Files under ``start`` (``root``, one of ``roots``, itself, a folder inside it, or
    one file) that are not ignored. Problems go into ``result``; the walk itself never
    raises for them."""
    skip = {os.path.normpath(d) for d in roots.nested(root)}
    specs: list[tuple[str, pathspec.PathSpec]] = []
    user = _spec(roots.globs.get(root, ()))
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
        is_link = os.path.islink(start)
        try:
            st = os.stat(start)
        except OSError as exc:
            _stat_failed(start, is_link, exc, result)
            return
        entry = _entry(roots, start, st, is_link, os.path.dirname(start), result)
        if entry is not None:
            yield entry
        return
    spec = _read_gitignore(start)
    if spec is not None:
        specs.append((start, spec))
    yield from _walk_dir(roots, start, specs, skip, result)


def _stat_failed(path: str, is_link: bool, exc: OSError, result: WalkResult) -> None:
    if exc.errno == errno.ELOOP:
        result.errors.append((path, "symlink loop: the link points back to itself, skipped"))
    elif is_link:
        result.errors.append((path, "broken symbolic link: its target does not exist"))
    elif isinstance(exc, PermissionError):
        result.errors.append((path, "permission denied"))
    # else it vanished between listing and stat: nothing to record


def _entry(roots: Roots, path: str, st: os.stat_result, is_link: bool, directory: str, result: WalkResult) -> Entry | None:
    """What the index makes of a listed path that is not a folder to walk into; ``st``
    follows a link to its target."""
    if not is_link:
        if stat.S_ISREG(st.st_mode):
            return Entry(path, st.st_size, st.st_mtime)
        if stat.S_ISDIR(st.st_mode):  # became a folder since it was listed: the next scan walks it
            return None
        return Entry(path, st.st_size, st.st_mtime, skip=not_regular(st.st_mode))
    real = os.path.realpath(path)
    if stat.S_ISDIR(st.st_mode):  # a symlinked folder: never followed
        here = os.path.realpath(directory)
        if here == real or here.startswith(real.rstrip("/") + "/"):
            result.errors.append((path, f"symlink loop: links back to {real}; not followed"))
        elif roots.place(real) is None:
            result.errors.append((path, f"symbolic link to the folder {real}, outside the library's folders: not followed"))
        else:
            log.debug("not following symlinked folder %s", path)
        return None
    placed = roots.place(real)
    if placed is None:
        result.errors.append((path, f"symbolic link to {real}, outside the library's folders: not read"))
        return None
    if not stat.S_ISREG(st.st_mode):
        return Entry(path, st.st_size, st.st_mtime, skip=not_regular(st.st_mode))
    if roots.indexes(*placed):
        return Entry(path, st.st_size, st.st_mtime, skip=f"symbolic link to {placed[1]}, which is indexed under its own path")
    return Entry(path, st.st_size, st.st_mtime, target=real)


def _walk_dir(roots: Roots, top: str, specs: list[tuple[str, pathspec.PathSpec]], skip: set[str], result: WalkResult, first: bool = True) -> Iterator[Entry]:
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
                _stat_failed(path, is_link, exc, result)
                continue
            if not is_link and stat.S_ISREG(st.st_mode):  # the common case, without a call
                yield Entry(path, st.st_size, st.st_mtime)
            elif (found := _entry(roots, path, st, is_link, directory, result)) is not None:
                yield found
        stack.extend((sub, specs, False) for sub in reversed(subdirs))
