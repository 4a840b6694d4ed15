"""Kernel-level confinement of the worker on Linux: Landlock and a seccomp filter.

The worker starts in two stages. Stage one (``confine_and_exec``) loads ``ctypes``, makes
the Landlock and seccomp calls and then ``execve``s a fresh Python for stage two, the real
worker: both survive ``execve``, ``ctypes`` does not (stage two never loads it). After
that, even code that got around every Python-level check (a CPython memory bug) meets
the kernel:

- Landlock files: read only where Python, its libraries and our package live, execute
  only the interpreter (and its ELF loader), full access in the scratch dir, nothing
  else: not the library DB (the worker asks the engine for library text over its pipe),
  no device nodes, no symlinks anywhere;
- Landlock network (ABI 4+): no TCP bind or connect at all;
- Landlock scope (ABI 6+): no signals to processes outside the sandbox, no abstract unix
  sockets;
- seccomp (x86-64, aarch64): no ``socket``/``socketpair`` of any family, no ``ptrace``,
  ``process_vm_*``, ``io_uring``, ``bpf``, ``perf_event_open``, ``userfaultfd``, mounts,
  namespaces, keyrings or kernel modules (each fails with EPERM).

Best effort: where a piece is unavailable stage one still execs stage two, and the
worker reports what it got; the Python-level sandbox stands on its own.
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

ENV_STATUS = "RLM_SANDBOX_KERNEL"  # stage one tells stage two what it got


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


def restrict(scratch_dir: str, package_parent: str) -> int:
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
        check(libc.prctl(_PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0), "no_new_privs")
        check(libc.syscall(_SYS_RESTRICT_SELF, ctypes.c_int(ruleset), ctypes.c_uint32(0)), "restrict_self")
    finally:
        os.close(ruleset)
    return abi


# seccomp: syscalls the worker never needs, by architecture (AUDIT_ARCH value, numbers)
_SECCOMP_DENY = {
    "x86_64": (0xC000003E, {
        "socket": 41, "socketpair": 53, "ptrace": 101, "process_vm_readv": 310, "process_vm_writev": 311,
        "io_uring_setup": 425, "io_uring_enter": 426, "io_uring_register": 427, "bpf": 321,
        "perf_event_open": 298, "userfaultfd": 323, "mount": 165, "umount2": 166, "unshare": 272,
        "setns": 308, "keyctl": 250, "add_key": 248, "request_key": 249, "kexec_load": 246,
        "init_module": 175, "finit_module": 313, "pivot_root": 155, "chroot": 161,
    }),
    "aarch64": (0xC00000B7, {
        "socket": 198, "socketpair": 199, "ptrace": 117, "process_vm_readv": 270, "process_vm_writev": 271,
        "io_uring_setup": 425, "io_uring_enter": 426, "io_uring_register": 427, "bpf": 280,
        "perf_event_open": 241, "userfaultfd": 282, "mount": 40, "umount2": 39, "unshare": 97,
        "setns": 268, "keyctl": 219, "add_key": 217, "request_key": 218, "kexec_load": 104,
        "init_module": 105, "finit_module": 273, "pivot_root": 41, "chroot": 51,
    }),
}
_PR_SET_SECCOMP = 22
_SECCOMP_MODE_FILTER = 2
_RET_ALLOW = 0x7FFF0000
_RET_EPERM = 0x00050000 | 1  # SECCOMP_RET_ERRNO | EPERM
_X32_BIT = 0x40000000


def seccomp_program(machine: str) -> list[tuple[int, int, int, int]]:
    """A classic-BPF program (code, jt, jf, k): other architectures and the x32 ABI get
    EPERM for everything; listed syscalls get EPERM; the rest is allowed."""
    arch, numbers = _SECCOMP_DENY[machine]
    ld_w_abs, jeq_k, jge_k, ret_k = 0x20, 0x15, 0x35, 0x06
    body = [(jeq_k, 0, 0, nr) for nr in sorted(set(numbers.values()))]
    prog = [(ld_w_abs, 0, 0, 4), (jeq_k, 1, 0, arch), (ret_k, 0, 0, _RET_EPERM), (ld_w_abs, 0, 0, 0)]
    if machine == "x86_64":
        body.insert(0, (jge_k, 0, 0, _X32_BIT))
    start = len(prog)
    deny_at = start + len(body) + 1  # after the body comes "allow", then "deny"
    for i, (code, _, _, k) in enumerate(body):
        prog.append((code, deny_at - (start + i) - 1, 0, k))
    prog += [(ret_k, 0, 0, _RET_ALLOW), (ret_k, 0, 0, _RET_EPERM)]
    return prog


def install_seccomp() -> str:
    """Install the filter on this process (inherited across execve). Needs no_new_privs."""
    import ctypes
    import platform

    machine = platform.machine()
    if machine not in _SECCOMP_DENY:
        return f"unavailable ({machine})"

    class SockFilter(ctypes.Structure):
        _fields_ = [("code", ctypes.c_uint16), ("jt", ctypes.c_uint8), ("jf", ctypes.c_uint8), ("k", ctypes.c_uint32)]

    class SockFprog(ctypes.Structure):
        _fields_ = [("len", ctypes.c_ushort), ("filter", ctypes.POINTER(SockFilter))]

    program = seccomp_program(machine)
    filters = (SockFilter * len(program))(*(SockFilter(*ins) for ins in program))
    fprog = SockFprog(len(program), filters)
    libc = ctypes.CDLL(None, use_errno=True)
    zero = ctypes.c_ulong(0)
    if libc.prctl(_PR_SET_NO_NEW_PRIVS, ctypes.c_ulong(1), zero, zero, zero) != 0:
        raise OSError(ctypes.get_errno(), "no_new_privs")
    if libc.prctl(_PR_SET_SECCOMP, ctypes.c_ulong(_SECCOMP_MODE_FILTER), ctypes.byref(fprog), zero, zero) != 0:
        errno = ctypes.get_errno()
        raise OSError(errno, f"seccomp: {os.strerror(errno)}")
    return "on"


def confine_and_exec(scratch_dir: str, package_parent: str, stage_two: str) -> None:
    """Stage one: confine this process, then become stage two (a fresh interpreter)."""
    landlock = seccomp = "unavailable"
    if sys.platform.startswith("linux"):
        try:
            landlock = f"abi {restrict(scratch_dir, package_parent)}"
        except (OSError, AttributeError) as exc:
            landlock = f"unavailable ({exc})"
        try:
            seccomp = install_seccomp()
        except (OSError, AttributeError) as exc:
            seccomp = f"unavailable ({exc})"
    env = dict(os.environ)
    env[ENV_STATUS] = f"landlock {landlock}, seccomp {seccomp}"
    os.execve(sys.executable, [sys.executable, "-I", "-c", stage_two], env)


def stage_status() -> str:
    return os.environ.get(ENV_STATUS, "kernel confinement not applied")


def package_parent() -> str:
    return str(Path(__file__).resolve().parents[3])
