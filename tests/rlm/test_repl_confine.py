"""The kernel layer under the Python-level sandbox: Landlock and seccomp, applied by the
worker's first stage. Tested on their own (no audit hook) in a child process, so these
prove that a cell which got past every Python-level check would still be stopped by the
kernel."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from rlm_desktop.rlm.sandbox import confine
from rlm_desktop.rlm.sandbox.session import ReplSession
from rlm_desktop.rlm.sandbox.types import LlmReply, ReplConfig
from tests.rlm.test_repl_session import build_library, make_corpus


def _landlock_abi() -> int:
    probe = "import ctypes; print(ctypes.CDLL(None, use_errno=True).syscall(444, None, 0, 1))"
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=False).stdout.strip()
    return int(out or -1)


ABI = _landlock_abi() if sys.platform.startswith("linux") else -1
needs_landlock = pytest.mark.skipif(ABI < 1, reason="this kernel has no Landlock")

CHILD = textwrap.dedent(
    """
    import json, os, socket, sqlite3, sys
    from rlm_desktop.rlm.sandbox import confine
    scratch, db, outside, port, parent = sys.argv[1:6]
    abi = confine.restrict(scratch, confine.package_parent())
    seen = {"abi": abi, "seccomp": confine.install_seccomp()}
    def attempt(name, fn):
        try:
            fn()
            seen[name] = "allowed"
        except OSError as exc:
            seen[name] = type(exc).__name__
    attempt("read /etc/passwd", lambda: open("/etc/passwd").read())
    attempt("write outside", lambda: open(os.path.join(outside, "x"), "w").write("x"))
    attempt("delete outside", lambda: os.remove(os.path.join(outside, "keep.txt")))
    attempt("connect tcp", lambda: socket.create_connection(("127.0.0.1", int(port)), timeout=2))
    attempt("signal the parent", lambda: os.kill(int(parent), 0))
    attempt("udp socket", lambda: socket.socket(socket.AF_INET, socket.SOCK_DGRAM))
    attempt("unix socket", lambda: socket.socket(socket.AF_UNIX))
    attempt("write scratch", lambda: open(os.path.join(scratch, "ok.txt"), "w").write("ok"))
    attempt("read library", lambda: open(db, "rb").read(16))
    attempt("write library", lambda: open(db, "r+b").write(b"x"))
    print(json.dumps(seen), flush=True)
    try:
        os.execv("/bin/sh", ["sh", "-c", "echo escaped"])
    except OSError as exc:
        print(json.dumps({"exec /bin/sh": type(exc).__name__}))
    """
)


@needs_landlock
def test_kernel_stops_what_the_audit_hook_would(tmp_path: Path) -> None:
    root = make_corpus(tmp_path / "corpus")
    db = build_library(root, tmp_path / "library.db")
    scratch = tmp_path / "scratch"
    scratch.mkdir()
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "keep.txt").write_text("keep")
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(1)
    server.setblocking(False)
    try:
        proc = subprocess.run(
            [sys.executable, "-c", CHILD, str(scratch), str(db), str(outside), str(server.getsockname()[1]), str(os.getpid())],
            capture_output=True, text=True, timeout=60, check=False,
            env={**os.environ, "PYTHONPATH": confine.package_parent()},
        )
        assert proc.returncode == 0, proc.stderr
        lines = proc.stdout.strip().splitlines()
        seen = {**json.loads(lines[-2]), **json.loads(lines[-1])}
        with pytest.raises(BlockingIOError):
            server.accept()
    finally:
        server.close()
    assert seen["read /etc/passwd"] == "PermissionError"
    assert seen["write outside"] == "PermissionError"
    assert seen["delete outside"] == "PermissionError"
    assert seen["write library"] == "PermissionError"
    # the worker reads the library only through its pipe: the file itself is closed to it
    assert seen["write scratch"] == "allowed" and seen["read library"] == "PermissionError"
    assert seen["exec /bin/sh"] == "PermissionError"
    assert seen["seccomp"] == "on"
    assert seen["udp socket"] == "PermissionError" and seen["unix socket"] == "PermissionError"
    if ABI >= 4:
        assert seen["connect tcp"] == "PermissionError"
    if ABI >= 6:
        assert seen["signal the parent"] == "PermissionError"
    assert (outside / "keep.txt").read_text() == "keep"


@needs_landlock
def test_the_worker_reports_its_kernel_confinement(tmp_path: Path) -> None:
    config = ReplConfig(scratch_dir=tmp_path / "s", context_text="x")
    with ReplSession(config, on_llm=lambda r: LlmReply(answers=())) as session:
        assert f"landlock abi {ABI}, seccomp on" in session.confinement
        status = Path(f"/proc/{session._proc.pid}/status").read_text()
        assert "Seccomp:\t2" in status and "NoNewPrivs:\t1" in status
        assert session.run_cell("FINAL('ok')").answer == "ok"


@pytest.mark.parametrize("machine", ["x86_64", "aarch64"])
def test_seccomp_program_jumps_land_on_allow_or_deny(machine: str) -> None:
    program = confine.seccomp_program(machine)
    allow, deny = len(program) - 2, len(program) - 1
    assert program[allow][3] == 0x7FFF0000 and program[deny][3] == 0x00050001
    for i, (code, jt, jf, _) in enumerate(program):
        if code in (0x15, 0x35) and i > 1:  # the syscall checks: match -> deny, else next
            assert i + 1 + jt == deny and jf == 0
    denied = {k for code, _, _, k in program[4:-2] if code == 0x15}
    assert {41 if machine == "x86_64" else 198} <= denied  # socket()
