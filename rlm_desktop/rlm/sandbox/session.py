"""The engine's side of the REPL: spawns the sandboxed worker, sends it cells, serves its
model calls through ``on_llm`` and its library calls itself (``library_service``, within
the config's roots), enforces the per-cell timeout and restarts it after a kill, a crash
or a message that breaks the protocol. See ``types.py`` for the contract.

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
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

from rlm_desktop.errors import Cancelled, RlmDesktopError, SandboxError
from rlm_desktop.rlm.sandbox import library_service, wire
from rlm_desktop.rlm.sandbox.types import (
    CellResult,
    LlmCallback,
    LlmReply,
    LlmRequest,
    ReplConfig,
    SandboxStats,
    SourceRef,
)
from rlm_desktop.rlm.tools.facts import ToolFact

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


STDERR_LINE_CHARS = 500  # a worker's stderr is kept as a short tail of short lines
STDERR_CHUNK = 64 * 1024


def _bootstrap_code(scratch: Path) -> str:
    """Stage one confines the process with Landlock and seccomp (where the kernel has
    them) and execs stage two, the worker, in a fresh interpreter: see ``confine.py``."""
    package_parent = str(Path(__file__).resolve().parents[3])
    stage_two = (
        "import sys\n"
        f"sys.path.insert(0, {package_parent!r})\n"
        "from rlm_desktop.rlm.sandbox.worker import main\n"
        "main()\n"
    )
    return (
        "import sys\n"
        f"sys.path.insert(0, {package_parent!r})\n"
        "from rlm_desktop.rlm.sandbox.confine import confine_and_exec\n"
        f"confine_and_exec({str(scratch.resolve())!r}, {package_parent!r}, {stage_two!r})\n"
    )


FROZEN_STAGE_ONE = "--repl-stage-one"  # handled by packaging/entry_app.py


def _worker_command(scratch: Path) -> list[str]:
    """In a PyInstaller bundle ``sys.executable`` is the app and there is no ``-c``: the
    app runs stage one for ``FROZEN_STAGE_ONE`` and execs the bundle's worker executable
    as stage two (see packaging/entry_app.py)."""
    if getattr(sys, "frozen", False):
        return [sys.executable, FROZEN_STAGE_ONE, str(scratch.resolve())]
    return [sys.executable, "-I", "-c", _bootstrap_code(scratch)]


class ReplSession:
    def __init__(self, config: ReplConfig, on_llm: LlmCallback) -> None:
        self.config = config
        self.on_llm = on_llm
        self.stats = SandboxStats()
        self.summary = ""
        self.confinement = ""  # what the worker got: audit hook, limits, uid, Landlock, seccomp
        # the library, read on the worker's behalf: the worker never opens it
        self._library = (library_service.LibraryHandle(config.library_db, config.roots)
                         if config.library_db is not None and config.context_text is None else None)
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
        if self._library is not None:
            self._library.close()

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
        env = {"PATH": os.defpath, "LANG": "C.UTF-8", "LC_ALL": "C.UTF-8", "HOME": str(scratch)}
        proc = subprocess.Popen(
            _worker_command(scratch),
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
            "corpus": "library" if self._library is not None else "text" if cfg.context_text is not None else "none",
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
            wire.write_message(self._to_fd, init, wire.MAX_TO_WORKER)
            deadline = time.monotonic() + START_TIMEOUT_S
            while True:  # the worker lists the corpus while it sets up
                reply = self._read(deadline, frozenset({"ready", "fatal", "lib"}))
                if reply["type"] != "lib":
                    break
                wire.write_message(self._to_fd, self._serve_lib(reply), wire.MAX_TO_WORKER)
        except (wire.ChannelClosed, _Timeout) as exc:
            self._terminate()
            raise SandboxError(f"the REPL worker failed to start: {self._death_reason()} {exc}".strip()) from None
        except wire.ProtocolError as exc:
            self._terminate()
            raise SandboxError(f"the REPL worker broke the protocol while starting: {exc}") from None
        if reply["type"] == "fatal":
            self._terminate()
            raise SandboxError(f"the REPL worker failed to start: {reply['error']}")
        self.summary = reply["summary"]
        self.confinement = reply["confinement"]
        log.info("REPL worker %s ready (%s): %s", proc.pid, self.confinement, self.summary)

    def _drain_stderr(self, proc: subprocess.Popen[bytes]) -> None:
        """Keep the last lines the worker wrote to fd 2, in bounded chunks: a cell that
        writes a gigabyte with no newline costs this process a line of 500 chars."""
        assert proc.stderr
        fd = proc.stderr.fileno()
        partial = b""
        with proc.stderr:
            while True:
                try:
                    chunk = os.read(fd, STDERR_CHUNK)
                except OSError:
                    break
                if not chunk:
                    break
                *lines, partial = (partial + chunk).split(b"\n")
                partial = partial[-STDERR_LINE_CHARS * 4:]  # never more than a short line held
                for raw in lines[-(self._stderr_tail.maxlen or 40):]:
                    self._keep_stderr(proc.pid, raw)
            if partial:
                self._keep_stderr(proc.pid, partial)

    def _keep_stderr(self, pid: int, raw: bytes) -> None:
        line = raw[: STDERR_LINE_CHARS * 4].decode("utf-8", "replace").rstrip()[:STDERR_LINE_CHARS]
        self._stderr_tail.append(line)
        log.debug("repl worker %s: %s", pid, line)

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
        size = wire._HEADER.unpack(self._read_exact(4, deadline))[0]
        if size > wire.MAX_FROM_WORKER:
            raise wire.ProtocolError(f"message too large ({size} bytes)")
        return wire.decode(self._read_exact(size, deadline), allowed)

    def _read_exact(self, size: int, deadline: float) -> bytes:
        data = bytearray()
        while len(data) < size:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise _Timeout()
            try:
                ready, _, _ = select.select([self._from_fd], [], [], min(remaining, 0.5))
            except (OSError, ValueError) as exc:
                raise wire.ChannelClosed(str(exc)) from None
            if not ready:
                continue
            try:
                chunk = os.read(self._from_fd, min(size - len(data), 1 << 20))
            except OSError as exc:
                raise wire.ChannelClosed(str(exc)) from None
            if not chunk:
                raise wire.ChannelClosed("the worker closed the pipe")
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
            except wire.ProtocolError as exc:
                self._terminate()
                self.stats.killed += 1
                raise SandboxError(f"the REPL worker broke the protocol and was stopped: {exc}") from None

    def _run(self, code: str, started: float) -> CellResult:
        timeout = float(self.config.cell_timeout_s)
        deadline = started + timeout
        try:
            wire.write_message(self._to_fd, {"type": "cell", "code": code, "cell_id": self._cell_id},
                                   wire.MAX_TO_WORKER)
            while True:
                message = self._read(deadline, frozenset({"llm", "lib", "done", "fatal"}))
                if message["type"] == "done":
                    if message["cell_id"] != self._cell_id:
                        raise wire.ProtocolError("reply for another cell")
                    return self._result(message, started)
                if message["type"] == "fatal":  # the worker could not reply and ends itself
                    self._terminate()
                    return self._killed(started, message["error"])
                if message["type"] == "lib":
                    wire.write_message(self._to_fd, self._serve_lib(message), wire.MAX_TO_WORKER)
                    continue
                paused = time.monotonic()
                reply = self._serve_llm(message)
                deadline += time.monotonic() - paused  # model time does not count
                if self._stop_requested:
                    return self._killed(started, "stopped by the user")
                wire.write_message(self._to_fd, reply, wire.MAX_TO_WORKER)
        except _Timeout:
            self._terminate()
            return self._killed(started, f"timeout: the cell ran longer than {timeout:g} s")
        except wire.ChannelClosed:
            if self._stop_requested:
                self._terminate()
                return self._killed(started, "stopped by the user")
            self._terminate()
            return self._killed(started, self._death_reason())

    def _serve_lib(self, message: dict[str, Any]) -> dict[str, Any]:
        if self._library is None:
            return {"type": "lib_reply", "result": None, "error": "no library in this run", "error_kind": "lookup"}
        return library_service.answer(self._library.get(), message)

    def display_path(self, path: str) -> str:
        """A library path as the worker's code sees it (relative to the roots' parent)."""
        return self._library.get().show(path) if self._library is not None else path

    def _scoped_paths(self, paths: list[str]) -> tuple[str, ...]:
        """Library paths for the paths a worker named, each checked against the scope:
        a child RLM works on the parent's files or fewer, never on a path from a message."""
        if not paths:
            return ()
        if self._library is None:
            raise library_service.OutOfScope("no library in this run: a child works on text only")
        scoped = self._library.get()
        return tuple(scoped.scoped(p) for p in paths)

    def _serve_llm(self, message: dict[str, Any]) -> dict[str, Any]:
        try:
            context_paths = self._scoped_paths(message["context_paths"])
        except library_service.OutOfScope as exc:
            return {"type": "llm_reply", "answers": [], "error": str(exc).strip("'\"")}
        request = LlmRequest(
            kind=message["kind"],
            prompts=tuple(message["prompts"]),
            context_text=message["context_text"],
            context_paths=context_paths,
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
            sources=self._sources(message["sources"]),
            elapsed_s=time.monotonic() - started,
            killed=False,
            kill_reason=None,
            variables=tuple(message["variables"]),
            corpus_seen=message["corpus_seen"],
            facts=tuple(ToolFact.from_wire(f) for f in message["facts"]),
        )

    def _sources(self, sources: list[dict[str, Any]]) -> tuple[SourceRef, ...]:
        """Cited locations with library paths; a path outside the scope is dropped (a
        worker cannot make the engine cite a file the question could not read)."""
        if self._library is None:
            return tuple(SourceRef(s["path"], s["line"], s["page"], s["how"]) for s in sources)
        scoped = self._library.get()
        out = []
        for s in sources:
            full = scoped.full_path(s["path"])
            if scoped.in_scope(full):
                out.append(SourceRef(full, s["line"], s["page"], s["how"]))
        return tuple(out)

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
