"""How the worker locks itself down before it runs any model-written code.

Three layers, applied in this order by ``lock_down``:

1. Resource limits (``setrlimit``): address space, file size, no core files, CPU seconds,
   and no new processes (RLIMIT_NPROC; the kernel ignores it for root, so the worker
   drops root first when it has it, see ``drop_root``).
2. A PEP 578 audit hook. Audit hooks cannot be removed once added, and CPython raises an
   audit event before every dangerous capability: opening files, sockets, processes,
   ``ctypes``, loading modules, frame and GC introspection. The hook is the real boundary:
   whatever object user code manages to reach, using it for one of these fails.
3. A restricted ``__import__`` in the user's builtins that allows only pure-Python
   standard modules from ``ReplConfig.allowed_imports`` (already loaded at start-up, since
   after lock-down no new module may load at all). This one is a guard rail with a
   helpful message for honest models, not a boundary: the hook is.

See docs/sandbox.md for what this does not stop.
"""

from __future__ import annotations

import builtins
import importlib
import os
import resource
import stat
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

# Modules preloaded besides the allow-list: lazy imports the allowed modules make later
# (after lock-down a lazy import would fail).
_PRELOAD_EXTRA = (
    "_strptime", "collections.abc", "json.decoder", "json.encoder", "encodings.latin_1",
    "encodings.ascii", "encodings.utf_16", "encodings.utf_32", "encodings.cp1252",
    "encodings.utf_8_sig", "encodings.idna", "encodings.unicode_escape", "encodings.raw_unicode_escape",
)

# Capabilities whose presence in the worker's memory would bypass the hook (they have no
# audit event of their own). They must never be loaded; ``lock_down`` checks.
_NEVER_LOADED = ("_posixsubprocess", "_ctypes", "_socket", "_multiprocessing", "_cffi_backend", "mmap", "numpy")

_AT_FDCWD = -100
FILE_SIZE_LIMIT = 256 * 1024 * 1024
NOBODY = 65534


class SandboxViolation(PermissionError):
    """Raised (inside the worker) for an operation the sandbox does not allow."""


class FrameAccessBlocked(SandboxViolation, ValueError):
    """``sys._getframe`` and friends: also a ValueError, because the standard library
    (namedtuple, typing, enum) calls ``sys._getframe`` inside ``except ValueError``."""


# tracebacks shown to the model then read "SandboxViolation: ..." without our module path
SandboxViolation.__module__ = FrameAccessBlocked.__module__ = "builtins"


def preload(allowed_imports: tuple[str, ...] | list[str]) -> list[str]:
    """Import the allowed modules now; return those that could not be imported."""
    missing = []
    for name in (*allowed_imports, *_PRELOAD_EXTRA):
        try:
            importlib.import_module(name)
        except ImportError:
            missing.append(name)
    return missing


def make_import(allowed_imports: tuple[str, ...] | list[str]) -> Callable[..., Any]:
    listing = ", ".join(sorted(allowed_imports))
    # C code (datetime.strptime, str.encode) imports its helpers through the builtins of
    # the calling code, i.e. through this function: let those preloaded helpers through.
    allowed = frozenset(allowed_imports) | {name.partition(".")[0] for name in _PRELOAD_EXTRA}
    real_import = builtins.__import__

    def restricted_import(name: str, globals: Any = None, locals: Any = None, fromlist: Any = (), level: int = 0) -> Any:
        top = name.partition(".")[0]
        if level != 0 or top not in allowed:
            raise ImportError(
                f"import of {name!r} is not allowed in this REPL. Allowed modules: {listing}. "
                "The user's files are only in `context` (also `files`): use search(), grep(), read().",
                name=name,
            )
        return real_import(name, globals, locals, fromlist, level)

    return restricted_import


def apply_limits(memory_mb: int, cpu_s: int) -> None:
    def set_limit(which: int, value: int) -> None:
        soft, hard = resource.getrlimit(which)
        if hard != resource.RLIM_INFINITY:
            value = min(value, hard)
        resource.setrlimit(which, (value, value))

    set_limit(resource.RLIMIT_AS, memory_mb * 1024 * 1024)
    set_limit(resource.RLIMIT_FSIZE, FILE_SIZE_LIMIT)
    set_limit(resource.RLIMIT_CORE, 0)
    set_limit(resource.RLIMIT_CPU, cpu_s)
    # 0: the user already has processes, so any fork (and thread) now fails with EAGAIN.
    set_limit(resource.RLIMIT_NPROC, 0)


def drop_root(scratch_dir: Path) -> bool:
    """When started as root (containers, CI), become ``nobody``: the kernel then enforces
    file permissions and RLIMIT_NPROC. The scratch dir is handed over first. Returns
    whether privileges were dropped."""
    if os.geteuid() != 0:
        return False
    os.chown(scratch_dir, NOBODY, NOBODY)
    os.setgroups([])
    os.setgid(NOBODY)
    os.setuid(NOBODY)
    return True


def _within(path: Any, root: str) -> bool:
    """True when ``path`` names something inside the scratch dir ``root`` (the worker's
    cwd, which cannot change): no ``..`` out of it, no symlink on the way (one planted
    there could point anywhere), and not a device, socket or pipe. Checked relative to
    the cwd, because after dropping root the worker may not be allowed to look at the
    directories above it."""
    if isinstance(path, int) or path is None:
        return False
    try:
        text = os.fsdecode(os.fspath(path))
    except TypeError:
        return False
    if os.path.isabs(text):
        if text != root and not text.startswith(root + os.sep):
            return False
        text = text[len(root) + 1 :] or "."
    rel = os.path.normpath(text)
    if rel == ".":
        return True
    if rel == ".." or rel.startswith(".." + os.sep) or os.path.isabs(rel):
        return False
    parts = rel.split(os.sep)
    for i in range(1, len(parts) + 1):
        try:
            mode = os.lstat(os.sep.join(parts[:i])).st_mode
        except OSError:
            return True  # does not exist (yet): creating a regular file in scratch is fine
        if stat.S_ISLNK(mode):
            return False
        if i == len(parts):
            return stat.S_ISREG(mode) or stat.S_ISDIR(mode)
        if not stat.S_ISDIR(mode):
            return False
    return True


# audit event -> (indexes of path arguments, indexes of dir_fd arguments)
_PATH_EVENTS: dict[str, tuple[tuple[int, ...], tuple[int, ...]]] = {
    "open": ((0,), ()),
    "os.remove": ((0,), (1,)),
    "os.rmdir": ((0,), (1,)),
    "os.rename": ((0, 1), (2, 3)),
    "os.mkdir": ((0,), (2,)),
    "os.chmod": ((0,), (2,)),
    "os.truncate": ((0,), ()),
    "os.utime": ((0,), (3,)),
    "os.listdir": ((0,), ()),
    "os.scandir": ((0,), ()),
    "shutil.copyfile": ((0, 1), ()),
    "shutil.copymode": ((0, 1), ()),
    "shutil.copystat": ((0, 1), ()),
    "shutil.copytree": ((0, 1), ()),
    "shutil.rmtree": ((0,), ()),
    "shutil.move": ((0, 1), ()),
    "shutil.make_archive": ((0, 2), ()),
    "shutil.unpack_archive": ((0, 1), ()),
}

_DENY_PREFIXES: dict[str, str] = {
    "socket.": "network access is blocked",
    "ctypes.": "loading native code (ctypes) is blocked",
    "subprocess.": "starting processes is blocked",
    "os.exec": "starting processes is blocked",
    "os.posix_spawn": "starting processes is blocked",
    "os.spawn": "starting processes is blocked",
    "os.fork": "starting processes is blocked",
    "os.system": "starting processes is blocked",
    "os.startfile": "starting processes is blocked",
    "pty.": "starting processes is blocked",
    "os.kill": "sending signals is blocked",
    "os.killpg": "sending signals is blocked",
    "signal.pthread_kill": "sending signals is blocked",
    "sqlite3.": "opening databases is blocked; the library is reached through search/grep/read",
    "gc.": "garbage-collector introspection is blocked",
    "sys.settrace": "tracing is blocked",
    "sys.setprofile": "profiling is blocked",
    "sys.addaudithook": "audit hooks cannot be changed",
    "cpython.": "interpreter internals are blocked",
    "code.__new__": "creating code objects is blocked",
    "marshal.": "marshal is blocked",
    "pickle.": "pickle is blocked",
    "resource.": "changing resource limits is blocked",
    "os.chown": "changing file owners is blocked",
    "os.chdir": "changing the directory is blocked (paths are relative to the scratch dir)",
    "os.link": "links are blocked",
    "os.symlink": "links are blocked",
    "os.setxattr": "extended attributes are blocked",
    "os.removexattr": "extended attributes are blocked",
    "os.putenv": "changing the environment is blocked",
    "os.unsetenv": "changing the environment is blocked",
    "os.add_dll_directory": "loading native code is blocked",
    "winreg.": "the registry is blocked",
    "urllib.": "network access is blocked",
    "http.": "network access is blocked",
    "ftplib.": "network access is blocked",
    "smtplib.": "network access is blocked",
    "webbrowser.": "starting processes is blocked",
}

_FRAME_EVENTS = ("sys._getframe", "sys._current_frames", "sys._current_exceptions")
# attributes raising object.__getattr__ that hand out frames of *other* code
_FRAME_ATTRS = frozenset({"gi_frame", "cr_frame", "ag_frame", "f_back"})


def make_audit_hook(scratch_dir: str) -> Callable[[str, tuple[Any, ...]], None]:
    """The policy, as a closure that holds no reference user code could change: the hook
    itself is reachable only through ``gc`` (blocked)."""
    root = os.path.realpath(scratch_dir)  # resolved while the worker may still look above it
    path_events = dict(_PATH_EVENTS)
    deny = tuple(_DENY_PREFIXES.items())

    def hook(event: str, args: tuple[Any, ...]) -> None:
        if event == "import":
            raise ImportError(f"loading new module {args[0]!r} is not allowed in this REPL", name=args[0])
        spec = path_events.get(event)
        if spec is not None:
            path_idx, dirfd_idx = spec
            for i in dirfd_idx:
                if i < len(args) and args[i] not in (None, -1, _AT_FDCWD):
                    raise SandboxViolation(f"sandbox: {event} relative to a directory descriptor is blocked")
            for i in path_idx:
                if i < len(args) and not _within(args[i], root):
                    raise SandboxViolation(
                        f"sandbox: {event} on {args[i]!r} is blocked: only the scratch dir {root} is "
                        "accessible. The user's files are reached through context/search/grep/read."
                    )
            return
        if event in _FRAME_EVENTS:
            raise FrameAccessBlocked(f"sandbox: {event} is blocked")
        if event == "object.__getattr__" and len(args) > 1 and args[1] in _FRAME_ATTRS:
            raise SandboxViolation(f"sandbox: reading .{args[1]} is blocked")
        for prefix, why in deny:
            if event.startswith(prefix):
                raise SandboxViolation(f"sandbox: {why} ({event})")

    return hook


def lock_down(scratch_dir: Path, memory_mb: int, cpu_s: int) -> dict[str, Any]:
    """Apply every layer. Call once, after everything the worker needs is loaded and open.
    Returns facts for the log (e.g. whether root was dropped)."""
    loaded = [name for name in _NEVER_LOADED if name in sys.modules]
    if loaded:
        raise RuntimeError(f"sandbox: refusing to run with {loaded} loaded (they bypass the audit hook)")
    os.chdir(scratch_dir)
    dropped = drop_root(scratch_dir)
    apply_limits(memory_mb, cpu_s)
    sys.addaudithook(make_audit_hook(str(scratch_dir)))
    return {"dropped_root": dropped, "uid": os.getuid()}
