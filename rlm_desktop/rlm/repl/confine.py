"""Kernel-level confinement of the worker with Linux Landlock, when the kernel has it.

The worker starts in two stages. Stage one (``confine_and_exec``) loads ``ctypes``, makes
the Landlock syscalls and then ``execve``s a fresh Python for stage two, the real worker:
the Landlock domain survives ``execve``, ``ctypes`` does not (stage two never loads it).
After that, even code that got around every Python-level check (a CPython memory bug)
meets the kernel:

- files: read only where Python, its libraries and our package live, execute only the
  interpreter (and its ELF loader), read on the library DB
  (and read/write on its ``-shm`` index, which SQLite needs even for reading), full
  access in the scratch dir, nothing else (no device nodes, no symlinks anywhere);
- network (Landlock ABI 4+): no TCP bind or connect at all;
- scope (ABI 6+): no signals to processes outside the sandbox, no abstract unix sockets.

Best effort: on a kernel or platform without Landlock stage one just execs stage two and
the Python-level sandbox stands alone (the worker reports which one it got).
"""

from __future__ import annotations

import os
import struct
import sys
import sysconfig
from pathlib import Path

_SYS_CREATE_RULESET = 444  # the same number on every Linux architecture
_SYS_ADD_RULE = 445
_SYS_RESTRICT_SELF = 446
_PR_SET_NO_NEW_PRIVS = 38
_CREATE_RULESET_VERSION = 1
_RULE_PATH_BENEATH = 1

EXECUTE, WRITE_FILE, READ_FILE, READ_DIR = 1 << 0, 1 << 1, 1 << 2, 1 << 3
REMOVE_DIR, REMOVE_FILE, MAKE_CHAR, MAKE_DIR = 1 << 4, 1 << 5, 1 << 6, 1 << 7
MAKE_REG, MAKE_SOCK, MAKE_FIFO, MAKE_BLOCK, MAKE_SYM = 1 << 8, 1 << 9, 1 << 10, 1 << 11, 1 << 12
REFER, TRUNCATE, IOCTL_DEV = 1 << 13, 1 << 14, 1 << 15
NET_BIND_TCP, NET_CONNECT_TCP = 1 << 0, 1 << 1
SCOPE_ABSTRACT_UNIX, SCOPE_SIGNAL = 1 << 0, 1 << 1

_FILE_RIGHTS = EXECUTE | WRITE_FILE | READ_FILE | TRUNCATE | IOCTL_DEV
_READ_TREE = READ_FILE | READ_DIR
_SCRATCH = READ_FILE | WRITE_FILE | READ_DIR | REMOVE_DIR | REMOVE_FILE | MAKE_DIR | MAKE_REG | TRUNCATE

ENV_STATUS = "RLM_SANDBOX_LANDLOCK"  # stage one tells stage two what it got


def _handled_fs(abi: int) -> int:
    rights = (1 << 13) - 1
    if abi >= 2:
        rights |= REFER
    if abi >= 3:
        rights |= TRUNCATE
    if abi >= 5:
        rights |= IOCTL_DEV
    return rights


def elf_interpreter(path: str) -> str | None:
    """The dynamic loader a 64-bit little-endian ELF executable names (PT_INTERP): the
    kernel opens it for execution along with the executable itself."""
    try:
        with open(path, "rb") as fh:
            data = fh.read(1 << 16)
    except OSError:
        return None
    if data[:4] != b"\x7fELF" or data[4] != 2 or data[5] != 1:
        return None
    phoff, = struct.unpack_from("<Q", data, 0x20)
    phentsize, phnum = struct.unpack_from("<HH", data, 0x36)
    for i in range(phnum):
        base = phoff + i * phentsize
        if base + 40 > len(data):
            return None
        p_type, = struct.unpack_from("<I", data, base)
        if p_type == 3:  # PT_INTERP
            offset, = struct.unpack_from("<Q", data, base + 8)
            size, = struct.unpack_from("<Q", data, base + 32)
            return data[offset : offset + size].rstrip(b"\0").decode() or None
    return None


def executables() -> list[str]:
    """The only files stage one may execute: the interpreter and its loader."""
    files = {sys.executable, os.path.realpath(sys.executable)}
    loader = elf_interpreter(os.path.realpath(sys.executable))
    if loader:
        files |= {loader, os.path.realpath(loader)}
    return sorted(f for f in files if os.path.exists(f))


def read_only_roots(package_parent: str) -> list[str]:
    """Where stage two reads code and shared libraries from."""
    paths = {
        sys.prefix, sys.base_prefix, sys.exec_prefix, sys.base_exec_prefix, package_parent,
        os.path.dirname(os.path.realpath(sys.executable)),
        sysconfig.get_paths().get("stdlib", ""), sysconfig.get_paths().get("platstdlib", ""),
        "/usr/lib", "/usr/lib64", "/lib", "/lib64", "/usr/local/lib", "/usr/share/zoneinfo",
        "/etc/ld.so.cache", "/etc/localtime", "/usr/lib/locale",
    }
    paths.update(p for p in sys.path if p and os.path.isabs(p))
    return sorted(p for p in paths if p and os.path.exists(p))


def restrict(scratch_dir: str, library_db: str | None, package_parent: str) -> int:
    """Apply Landlock to this process (and whatever it execs). Returns the ABI version
    used; raises OSError when the kernel refuses."""
    import ctypes

    libc = ctypes.CDLL(None, use_errno=True)
    libc.syscall.restype = ctypes.c_long

    def check(result: int, what: str) -> int:
        if result < 0:
            errno = ctypes.get_errno()
            raise OSError(errno, f"landlock {what}: {os.strerror(errno)}")
        return result

    abi = check(libc.syscall(_SYS_CREATE_RULESET, None, ctypes.c_size_t(0), ctypes.c_uint32(_CREATE_RULESET_VERSION)), "version")
    handled_fs = _handled_fs(abi)

    class RulesetAttr(ctypes.Structure):
        _fields_ = [("handled_access_fs", ctypes.c_uint64), ("handled_access_net", ctypes.c_uint64), ("scoped", ctypes.c_uint64)]

    class PathBeneath(ctypes.Structure):
        _pack_ = 1
        _fields_ = [("allowed_access", ctypes.c_uint64), ("parent_fd", ctypes.c_int32)]

    attr = RulesetAttr(handled_fs, NET_BIND_TCP | NET_CONNECT_TCP if abi >= 4 else 0,
                       SCOPE_ABSTRACT_UNIX | SCOPE_SIGNAL if abi >= 6 else 0)
    size = 8 if abi < 4 else 16 if abi < 6 else 24
    ruleset = check(libc.syscall(_SYS_CREATE_RULESET, ctypes.byref(attr), ctypes.c_size_t(size), ctypes.c_uint32(0)), "create")

    def allow(path: str, rights: int) -> None:
        try:
            fd = os.open(path, os.O_PATH | os.O_CLOEXEC)
        except OSError:
            return
        try:
            if not os.path.isdir(path):
                rights &= _FILE_RIGHTS
            rule = PathBeneath(rights & handled_fs, fd)
            check(libc.syscall(_SYS_ADD_RULE, ctypes.c_int(ruleset), ctypes.c_int(_RULE_PATH_BENEATH), ctypes.byref(rule), ctypes.c_uint32(0)), f"rule {path}")
        finally:
            os.close(fd)

    try:
        for path in read_only_roots(package_parent):
            allow(path, _READ_TREE)
        for path in executables():
            allow(path, EXECUTE | READ_FILE)
        allow(os.devnull, READ_FILE | WRITE_FILE)
        allow(scratch_dir, _SCRATCH)
        if library_db:
            allow(library_db, READ_FILE)
            allow(library_db + "-wal", READ_FILE)
            allow(library_db + "-shm", READ_FILE | WRITE_FILE | TRUNCATE)
            allow(library_db + "-journal", READ_FILE)
        check(libc.prctl(_PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0), "no_new_privs")
        check(libc.syscall(_SYS_RESTRICT_SELF, ctypes.c_int(ruleset), ctypes.c_uint32(0)), "restrict_self")
    finally:
        os.close(ruleset)
    return abi


def confine_and_exec(scratch_dir: str, library_db: str, package_parent: str, stage_two: str) -> None:
    """Stage one: confine this process, then become stage two (a fresh interpreter)."""
    status = "unavailable"
    if sys.platform.startswith("linux"):
        try:
            status = f"abi {restrict(scratch_dir, library_db or None, package_parent)}"
        except (OSError, AttributeError) as exc:
            status = f"unavailable ({exc})"
    env = dict(os.environ)
    env[ENV_STATUS] = status
    os.execve(sys.executable, [sys.executable, "-I", "-c", stage_two], env)


def stage_status() -> str:
    return os.environ.get(ENV_STATUS, "not applied")


def package_parent() -> str:
    return str(Path(__file__).resolve().parents[3])
