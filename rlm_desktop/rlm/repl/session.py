"""The engine's side of the REPL: spawns the sandboxed worker, sends it cells, serves its
model calls through ``on_llm``, enforces the per-cell timeout and restarts it after a
kill or crash. See ``types.py`` for the contract.

    session = ReplSession(config, on_llm=callback)
    session.start()
    result = session.run_cell("search('invoice')")
    session.kill()     # any thread
    session.close()
"""

from __future__ import annotations

import collections
import logging
import os
import select
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

from rlm_desktop.errors import Cancelled, RlmDesktopError, SandboxError
from rlm_desktop.rlm.repl import protocol
from rlm_desktop.rlm.repl.types import (
    CellResult,
    LlmCallback,
    LlmReply,
    LlmRequest,
    ReplConfig,
    SandboxStats,
    SourceRef,
)

log = logging.getLogger(__name__)

START_TIMEOUT_S = 60.0
LOST_STATE = "The REPL was restarted: variables from earlier cells are gone; recompute what you need."

_SIGNAL_REASONS = {
    signal.SIGSEGV: "the worker crashed (segmentation fault; deep recursion?)",
    signal.SIGKILL: "the worker was killed (out of memory or CPU time?)",
    signal.SIGXCPU: "the worker used up its CPU time limit",
    signal.SIGXFSZ: "the worker wrote a file over the size limit",
    signal.SIGABRT: "the worker aborted",
    signal.SIGBUS: "the worker crashed (bus error)",
}


class _Timeout(Exception):
    pass


def _bootstrap_code(scratch: Path, library_db: Path | None) -> str:
    """Stage one confines the process with Landlock and seccomp (where the kernel has
    them) and execs stage two, the worker, in a fresh interpreter: see ``confine.py``."""
    package_parent = str(Path(__file__).resolve().parents[3])
    stage_two = (
        "import sys\n"
        f"sys.path.insert(0, {package_parent!r})\n"
        "from rlm_desktop.rlm.repl.worker import main\n"
        "main()\n"
    )
    db = str(Path(library_db).resolve()) if library_db is not None else ""
    return (
        "import sys\n"
        f"sys.path.insert(0, {package_parent!r})\n"
        "from rlm_desktop.rlm.repl.confine import confine_and_exec\n"
        f"confine_and_exec({str(scratch.resolve())!r}, {db!r}, {package_parent!r}, {stage_two!r})\n"
    )


FROZEN_STAGE_ONE = "--repl-stage-one"  # handled by packaging/entry_app.py


def _worker_command(scratch: Path, library_db: Path | None) -> list[str]:
    """In a PyInstaller bundle ``sys.executable`` is the app and there is no ``-c``: the
    app runs stage one for ``FROZEN_STAGE_ONE`` and execs the bundle's worker executable
    as stage two (see packaging/entry_app.py)."""
    if getattr(sys, "frozen", False):
        db = str(Path(library_db).resolve()) if library_db is not None else ""
        return [sys.executable, FROZEN_STAGE_ONE, str(scratch.resolve()), db]
    return [sys.executable, "-I", "-c", _bootstrap_code(scratch, library_db)]


class ReplSession:
    def __init__(self, config: ReplConfig, on_llm: LlmCallback) -> None:
        self.config = config
        self.on_llm = on_llm
        self.stats = SandboxStats()
        self.summary = ""
        self.confinement = ""  # what the worker got: audit hook, limits, uid, Landlock, seccomp
        self._wal_holder: sqlite3.Connection | None = None
        self._proc: subprocess.Popen[bytes] | None = None
        self._to_fd = -1
        self._from_fd = -1
        self._stderr_tail: collections.deque[str] = collections.deque(maxlen=40)
        self._run_lock = threading.Lock()  # one cell at a time
        self._proc_lock = threading.Lock()  # guards _proc against kill() from another thread
        self._stop_requested = False
        self._cell_id = 0
        self._closed = False

    # ------------------------------------------------------------------ lifecycle

    def start(self) -> None:
        """Spawn the worker and wait until it is locked down and ready."""
        if self._closed:
            raise SandboxError("the REPL session is closed")
        self._spawn()

    def close(self) -> None:
        self._closed = True
        self._terminate()
        if self._wal_holder is not None:
            self._wal_holder.close()
            self._wal_holder = None

    def kill(self) -> None:
        """Stop: kill the worker at once (safe from any thread). A cell in progress
        returns a killed result; the pipes are closed by the thread that runs cells."""
        self._stop_requested = True
        self._terminate(close_pipes=False)

    @property
    def alive(self) -> bool:
        proc = self._proc
        return proc is not None and proc.poll() is None

    def _cpu_seconds(self) -> int:
        """The RLIMIT_CPU backstop over the worker's life (the wall-clock timeout per cell
        is the real limit; this one catches what runs between cells)."""
        return int(self.config.cell_timeout_s * 20 + 120)

    def _spawn(self) -> None:
        cfg = self.config
        scratch = Path(cfg.scratch_dir)
        scratch.mkdir(parents=True, exist_ok=True)
        self._terminate()  # a dead predecessor: reap it and close its pipes
        self._hold_wal_index()
        env = {"PATH": os.defpath, "LANG": "C.UTF-8", "LC_ALL": "C.UTF-8", "HOME": str(scratch)}
        proc = subprocess.Popen(
            _worker_command(scratch, cfg.library_db),
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            cwd=str(scratch),
            env=env,
            start_new_session=True,  # its own process group: killpg takes anything it made
            close_fds=True,
        )
        assert proc.stdin and proc.stdout and proc.stderr
        with self._proc_lock:
            self._proc = proc
        self._to_fd = proc.stdin.fileno()
        self._from_fd = proc.stdout.fileno()
        threading.Thread(target=self._drain_stderr, args=(proc,), name="repl-stderr", daemon=True).start()
        init = {
            "type": "init",
            "scratch_dir": str(scratch.resolve()),
            "library_db": str(cfg.library_db) if cfg.library_db is not None else None,
            "roots": list(cfg.roots),
            "context_text": cfg.context_text,
            "memory_mb": int(cfg.memory_mb),
            "cpu_s": self._cpu_seconds(),
            "output_chars": int(cfg.output_chars),
            "echo": bool(cfg.echo),
            "totals": bool(cfg.totals),
            "check_values": bool(cfg.check_values),
            "allowed_imports": list(cfg.allowed_imports),
        }
        try:
            protocol.write_message(self._to_fd, init, protocol.MAX_TO_WORKER)
            reply = self._read(time.monotonic() + START_TIMEOUT_S, frozenset({"ready", "fatal"}))
        except (protocol.ChannelClosed, _Timeout) as exc:
            self._terminate()
            raise SandboxError(f"the REPL worker failed to start: {self._death_reason()} {exc}".strip()) from None
        if reply["type"] == "fatal":
            self._terminate()
            raise SandboxError(f"the REPL worker failed to start: {reply['error']}")
        self.summary = reply["summary"]
        self.confinement = reply["confinement"]
        log.info("REPL worker %s ready (%s): %s", proc.pid, self.confinement, self.summary)

    def _hold_wal_index(self) -> None:
        """A confined worker may read the library but not create files beside it, and a
        read-only SQLite connection to a WAL database needs its ``-wal``/``-shm`` files.
        They vanish when the last connection closes, so the session keeps one open."""
        db = self.config.library_db
        if db is None or self._wal_holder is not None or not Path(db).is_file():
            return
        try:
            conn = sqlite3.connect(f"{Path(db).resolve().as_uri()}?mode=ro", uri=True, check_same_thread=False)
            conn.execute("SELECT count(*) FROM sqlite_master").fetchone()
        except sqlite3.Error as exc:
            log.warning("cannot hold the library's WAL index open: %s", exc)
            return
        self._wal_holder = conn

    def _drain_stderr(self, proc: subprocess.Popen[bytes]) -> None:
        assert proc.stderr
        with proc.stderr:
            for raw in proc.stderr:
                line = raw.decode("utf-8", "replace").rstrip()
                self._stderr_tail.append(line[:500])
                log.debug("repl worker %s: %s", proc.pid, line[:500])

    def _terminate(self, close_pipes: bool = True) -> None:
        with self._proc_lock:
            proc = self._proc
            if proc is None:
                return
            if proc.poll() is None:
                try:
                    os.killpg(proc.pid, signal.SIGKILL)
                except (ProcessLookupError, PermissionError):
                    proc.kill()
        try:
            proc.wait(timeout=5)
        except subprocess.TimeoutExpired:  # pragma: no cover - SIGKILL does not fail
            log.error("REPL worker %s did not exit after SIGKILL", proc.pid)
        if not close_pipes:
            return
        for stream in (proc.stdin, proc.stdout):
            try:
                if stream:
                    stream.close()
            except OSError:
                pass

    def _death_reason(self) -> str:
        proc = self._proc
        if proc is None:
            return "no worker"
        code = proc.poll()
        if code is None:
            return "the worker stopped answering"
        if code < 0:
            try:
                reason = _SIGNAL_REASONS.get(signal.Signals(-code), f"the worker died from signal {-code}")
            except ValueError:
                reason = f"the worker died from signal {-code}"
        else:
            reason = f"the worker exited with status {code}"
        tail = [line for line in self._stderr_tail if line.strip()]
        if tail:
            reason += f" ({tail[-1][:200]})"
        return reason

    # ------------------------------------------------------------------ the pipe

    def _read(self, deadline: float, allowed: frozenset[str]) -> dict[str, Any]:
        size = protocol._HEADER.unpack(self._read_exact(4, deadline))[0]
        if size > protocol.MAX_FROM_WORKER:
            raise protocol.ProtocolError(f"message too large ({size} bytes)")
        return protocol.decode(self._read_exact(size, deadline), allowed)

    def _read_exact(self, size: int, deadline: float) -> bytes:
        data = bytearray()
        while len(data) < size:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise _Timeout()
            try:
                ready, _, _ = select.select([self._from_fd], [], [], min(remaining, 0.5))
            except (OSError, ValueError) as exc:
                raise protocol.ChannelClosed(str(exc)) from None
            if not ready:
                continue
            try:
                chunk = os.read(self._from_fd, min(size - len(data), 1 << 20))
            except OSError as exc:
                raise protocol.ChannelClosed(str(exc)) from None
            if not chunk:
                raise protocol.ChannelClosed("the worker closed the pipe")
            data += chunk
        return bytes(data)

    # ------------------------------------------------------------------ cells

    def run_cell(self, code: str) -> CellResult:
        """Run one cell. Timeouts, crashes and Stop come back as ``killed`` results (the
        next call starts a fresh worker); only a protocol violation raises SandboxError."""
        if self._closed:
            raise SandboxError("the REPL session is closed")
        with self._run_lock:
            self._stop_requested = False
            started = time.monotonic()
            if not self.alive:
                try:
                    self._spawn()
                except SandboxError:
                    if self._stop_requested:  # Stop arrived while the fresh worker started
                        return self._killed(started, "stopped by the user")
                    raise
            self._cell_id += 1
            self.stats.cells += 1
            try:
                return self._run(code, started)
            except protocol.ProtocolError as exc:
                self._terminate()
                self.stats.killed += 1
                raise SandboxError(f"the REPL worker broke the protocol and was stopped: {exc}") from None

    def _run(self, code: str, started: float) -> CellResult:
        timeout = float(self.config.cell_timeout_s)
        deadline = started + timeout
        try:
            protocol.write_message(self._to_fd, {"type": "cell", "code": code, "cell_id": self._cell_id},
                                   protocol.MAX_TO_WORKER)
            while True:
                message = self._read(deadline, frozenset({"llm", "done"}))
                if message["type"] == "done":
                    if message["cell_id"] != self._cell_id:
                        raise protocol.ProtocolError("reply for another cell")
                    return self._result(message, started)
                paused = time.monotonic()
                reply = self._serve_llm(message)
                deadline += time.monotonic() - paused  # model time does not count
                if self._stop_requested:
                    return self._killed(started, "stopped by the user")
                protocol.write_message(self._to_fd, reply, protocol.MAX_TO_WORKER)
        except _Timeout:
            self._terminate()
            return self._killed(started, f"timeout: the cell ran longer than {timeout:g} s")
        except protocol.ChannelClosed:
            if self._stop_requested:
                self._terminate()
                return self._killed(started, "stopped by the user")
            self._terminate()
            return self._killed(started, self._death_reason())

    def _serve_llm(self, message: dict[str, Any]) -> dict[str, Any]:
        request = LlmRequest(
            kind=message["kind"],
            prompts=tuple(message["prompts"]),
            context_text=message["context_text"],
            context_paths=tuple(message["context_paths"]),
            has_corpus_text=message["has_corpus_text"],
        )
        try:
            reply = self.on_llm(request)
        except Cancelled:
            self._stop_requested = True
            self._terminate()
            return {}
        except RlmDesktopError as exc:  # budget, model errors: the cell sees them as an exception
            reply = LlmReply(answers=(), error=str(exc))
        except Exception:
            self._terminate()
            raise
        return {"type": "llm_reply", "answers": list(reply.answers), "error": reply.error}

    def _result(self, message: dict[str, Any], started: float) -> CellResult:
        return CellResult(
            output=message["output"],
            error=message["error"],
            answer=message["answer"],
            answer_ready=message["answer_ready"],
            sources=tuple(SourceRef(s["path"], s["line"], s["page"], s["how"]) for s in message["sources"]),
            elapsed_s=time.monotonic() - started,
            killed=False,
            kill_reason=None,
            variables=tuple(message["variables"]),
            corpus_seen=message["corpus_seen"],
        )

    def _killed(self, started: float, reason: str) -> CellResult:
        self.stats.killed += 1
        log.warning("REPL cell killed: %s", reason)
        return CellResult(
            output="",
            error=f"The cell was stopped: {reason}. {LOST_STATE}",
            answer=None,
            answer_ready=False,
            elapsed_s=time.monotonic() - started,
            killed=True,
            kill_reason=reason,
        )

    def __enter__(self) -> ReplSession:
        self.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()
