"""The sandboxed REPL worker process. Started by ``session.py`` as
``python -I -c <bootstrap>``; never imported by the engine.

Start-up order matters: read ``init`` from the pipe, open the library read-only (with an
SQLite authorizer), build the namespace, import every module the REPL may use, then lock
down (``lockdown.lock_down``) and only then accept cells. After lock-down no file outside
the scratch dir can be opened and no module can be loaded, by the worker itself either.
"""

from __future__ import annotations

import importlib
import os
import sqlite3
import sys
import types
from collections.abc import Callable
from pathlib import Path
from typing import Any

from rlm_desktop.rlm.repl import corpus as corpus_module
from rlm_desktop.rlm.repl import protocol
from rlm_desktop.rlm.repl.confine import stage_status
from rlm_desktop.rlm.repl.corpus import Backend, LibraryBackend, TextBackend
from rlm_desktop.rlm.repl.lockdown import lock_down, make_import, preload
from rlm_desktop.rlm.repl.namespace import LlmError, Repl
from rlm_desktop.rlm.repl.runner import CellRunner

# modules in the namespace before the first cell (when allowed)
PRELOADED_NAMES = ("re", "collections", "math", "json", "itertools", "statistics")

_ALLOWED_PRAGMAS = frozenset({
    "table_info", "table_xinfo", "index_list", "index_info", "index_xinfo", "user_version",
    "schema_version", "data_version", "page_size", "page_count", "encoding", "compile_options",
})
_DENIED_FUNCTIONS = frozenset({"load_extension", "readfile", "writefile", "edit", "fts3_tokenizer"})
_WRITE_ACTIONS = frozenset(
    getattr(sqlite3, name)
    for name in dir(sqlite3)
    if name.startswith(("SQLITE_CREATE_", "SQLITE_DROP_"))
    or name in ("SQLITE_INSERT", "SQLITE_UPDATE", "SQLITE_DELETE", "SQLITE_ALTER_TABLE", "SQLITE_REINDEX",
                "SQLITE_ANALYZE", "SQLITE_ATTACH", "SQLITE_DETACH")
)


def authorizer(action: int, arg1: Any, arg2: Any, db_name: Any, trigger: Any) -> int:
    """Read-only SQL: no writes, no ATTACH, no extension loading, only harmless pragmas."""
    if action == sqlite3.SQLITE_UPDATE and arg1 == "sqlite_master":
        return sqlite3.SQLITE_OK  # FTS5 asks this while it connects; mode=ro stops real writes
    if action in _WRITE_ACTIONS:
        return sqlite3.SQLITE_DENY
    if action == sqlite3.SQLITE_PRAGMA:
        return sqlite3.SQLITE_OK if arg1 in _ALLOWED_PRAGMAS and arg2 is None else sqlite3.SQLITE_DENY
    if action == sqlite3.SQLITE_FUNCTION and str(arg2).lower() in _DENIED_FUNCTIONS:
        return sqlite3.SQLITE_DENY
    return sqlite3.SQLITE_OK


class _ReadOnlyDatabase:
    """Stands in for ``sqlite_utils.Database`` inside the worker. The store imports
    sqlite_utils at module level, which pulls in numpy and ctypes: native code with
    memory-level primitives we do not want in the sandbox. The read API only needs
    ``table_names()``."""

    def __init__(self, conn: sqlite3.Connection) -> None:
        self.conn = conn

    def table_names(self) -> list[str]:
        return [r[0] for r in self.conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")]


def open_library(db_path: str) -> Any:
    if "sqlite_utils" not in sys.modules:
        shim = types.ModuleType("sqlite_utils")
        shim.Database = _ReadOnlyDatabase  # type: ignore[attr-defined]
        sys.modules["sqlite_utils"] = shim
    from rlm_desktop.library.store import Library

    library = Library.open(Path(db_path), read_only=True)
    library.conn.set_authorizer(authorizer)
    library.conn.setlimit(sqlite3.SQLITE_LIMIT_ATTACHED, 0)
    return library


class Channel:
    """The worker's end of the pipe. The protocol fds are moved off 0/1 so that nothing
    printed at the C level (or by a cell writing to fd 1) can corrupt the stream."""

    def __init__(self) -> None:
        self.rfd = os.dup(0)
        self.wfd = os.dup(1)
        devnull = os.open(os.devnull, os.O_RDWR)
        os.dup2(devnull, 0)
        os.dup2(devnull, 1)
        os.close(devnull)
        sys.stdin = sys.stdout = None  # type: ignore[assignment]
        # model code sees short display paths; the engine gets library paths back
        self.full_path: Callable[[str], str] = lambda path: path

    def send(self, message: dict[str, Any]) -> None:
        protocol.write_message(self.wfd, message, protocol.MAX_FROM_WORKER)

    def receive(self, allowed: frozenset[str]) -> dict[str, Any]:
        return protocol.read_message(self.rfd, allowed, protocol.MAX_TO_WORKER)

    def request_llm(self, kind: str, prompts: list[str], text: str | None, paths: list[str], grounded: bool) -> list[str]:
        self.send({
            "type": "llm", "kind": kind, "prompts": prompts, "context_text": text,
            "context_paths": [self.full_path(p) for p in paths], "has_corpus_text": grounded,
        })
        reply = self.receive(frozenset({"llm_reply"}))
        if reply["error"]:
            raise LlmError(reply["error"])
        answers = reply["answers"]
        expected = 1 if kind == "rlm" else len(prompts)
        if len(answers) != expected:
            raise LlmError(f"the engine returned {len(answers)} answers for {expected} prompts")
        return answers


def _setup(channel: Channel, init: dict[str, Any]) -> tuple[CellRunner, dict[str, Any]]:
    scratch = Path(init["scratch_dir"])
    scratch.mkdir(parents=True, exist_ok=True)
    backend: Backend | None = None
    text = init["context_text"]
    if init["library_db"] is not None:
        backend = LibraryBackend(open_library(init["library_db"]), init["roots"])
        text = None
    elif text is not None:
        backend = TextBackend(text)
    if isinstance(backend, LibraryBackend):
        channel.full_path = backend.full_path
    repl = Repl(backend, text, channel.request_llm, make_import(init["allowed_imports"]), check_values=init["check_values"])
    preload(init["allowed_imports"])
    # small models use re/collections without importing them (issue 10): these are ready
    for name in PRELOADED_NAMES:
        if name in init["allowed_imports"]:
            repl.namespace[name] = importlib.import_module(name)
    runner = CellRunner(repl, init["output_chars"], echo=init["echo"])
    corpus_module.SHOW_TOTALS = init["totals"]
    facts = lock_down(scratch, init["memory_mb"], init["cpu_s"])
    return runner, facts


def main() -> None:
    channel = Channel()
    init = channel.receive(frozenset({"init"}))
    try:
        runner, facts = _setup(channel, init)
        confinement = f"audit hook, rlimits, uid {facts['uid']}, {stage_status()}"
    except Exception as exc:  # noqa: BLE001 - report any start-up failure to the session
        channel.send({"type": "fatal", "error": f"{type(exc).__name__}: {exc}"})
        sys.exit(1)
    corpus = runner.repl.corpus
    summary = corpus.summary() if corpus is not None else "no corpus"
    channel.send({"type": "ready", "summary": summary, "confinement": confinement})
    while True:
        try:
            message = channel.receive(frozenset({"cell"}))
        except protocol.ChannelClosed:
            os._exit(0)
        outcome = runner.run(message["code"], message["cell_id"])
        record = outcome.record
        done = {
            "type": "done",
            "cell_id": message["cell_id"],
            "output": outcome.output,
            "error": outcome.error,
            "answer": record.answer,
            "answer_ready": record.answer_ready,
            "sources": [{**ref, "path": channel.full_path(ref["path"])} for ref in record.source_list()],
            "elapsed_s": outcome.elapsed_s,
            "variables": outcome.variables,
            "corpus_seen": outcome.corpus_seen,
        }
        try:
            channel.send(done)
        except protocol.ProtocolError as exc:  # too large: say so rather than die
            done.update(output="", answer=None, answer_ready=False, sources=[], variables=[],
                        error=f"the cell's result could not be sent: {exc}")
            channel.send(done)


if __name__ == "__main__":
    main()
