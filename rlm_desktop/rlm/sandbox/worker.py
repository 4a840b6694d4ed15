"""The sandboxed REPL worker process. Started by ``session.py`` as
``python -I -c <bootstrap>``; never imported by the engine.

Start-up order matters: read ``init`` from the pipe, build the namespace, import every
module the REPL may use, then lock down (``lockdown.lock_down``) and only then accept
cells. After lock-down no file outside the scratch dir can be opened and no module can be
loaded, by the worker itself either.

The worker holds nothing but its pipe: no library connection, file descriptor or path.
Every library call of model code is a ``lib`` request the engine side answers within the
question's scope (``library_service.py``), so code that takes this process over still
reads only what the engine would have handed it. The audit hook of ``lockdown`` is a
courtesy layer (clear errors for the model); the boundary is the pipe and the kernel
(Landlock, seccomp, rlimits, the drop to an unprivileged uid).
"""

from __future__ import annotations

import importlib
import os
import re
import sys
from pathlib import Path
from typing import Any

from rlm_desktop.rlm.sandbox import wire
from rlm_desktop.rlm.sandbox.confine import stage_status
from rlm_desktop.rlm.sandbox.lockdown import lock_down, make_import, preload
from rlm_desktop.rlm.sandbox.runner import CellRunner
from rlm_desktop.rlm.tools import corpus as corpus_module
from rlm_desktop.rlm.tools.corpus import Backend, PipeBackend, TextBackend
from rlm_desktop.rlm.tools.namespace import LlmError, Repl

# modules in the namespace before the first cell (when allowed)
PRELOADED_NAMES = ("re", "collections", "math", "json", "itertools", "statistics")

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

    def send(self, message: dict[str, Any]) -> None:
        wire.write_message(self.wfd, message, wire.MAX_FROM_WORKER)

    def receive(self, allowed: frozenset[str]) -> dict[str, Any]:
        return wire.read_message(self.rfd, allowed, wire.MAX_TO_WORKER)

    def request_llm(self, kind: str, prompts: list[str], text: str | None, paths: list[str], grounded: bool) -> list[str]:
        self.send({
            "type": "llm", "kind": kind, "prompts": prompts, "context_text": text,
            "context_paths": list(paths), "has_corpus_text": grounded,
        })
        reply = self.receive(frozenset({"llm_reply"}))
        if reply["error"]:
            raise LlmError(reply["error"])
        answers = reply["answers"]
        expected = 1 if kind == "rlm" else len(prompts)
        if len(answers) != expected:
            raise LlmError(f"the engine returned {len(answers)} answers for {expected} prompts")
        return answers

    def request_lib(self, op: str, **args: Any) -> Any:
        """One library call answered by the engine side (see ``library_service``)."""
        message = {"type": "lib", "op": op, **{name: args.get(name) for name in wire.LIB_FIELDS}}
        self.send(message)
        reply = self.receive(frozenset({"lib_reply"}))
        if reply["error"] is None:
            return reply["result"]
        if reply["error_kind"] == "lookup":
            raise LookupError(reply["error"])
        if reply["error_kind"] == "pattern":
            raise re.error(reply["error"])
        raise RuntimeError(reply["error"])


def _setup(channel: Channel, init: dict[str, Any]) -> tuple[CellRunner, dict[str, Any]]:
    scratch = Path(init["scratch_dir"])
    scratch.mkdir(parents=True, exist_ok=True)
    backend: Backend | None = None
    text = init["context_text"]
    if init["corpus"] == "library":
        backend = PipeBackend(channel.request_lib)
        text = None
    elif text is not None:
        backend = TextBackend(text)
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
        except wire.ChannelClosed:
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
            "sources": record.source_list(),
            "elapsed_s": outcome.elapsed_s,
            "variables": [name[:200] for name in outcome.variables],
            "corpus_seen": outcome.corpus_seen,
            "facts": record.fact_list(),
        }
        try:
            channel.send(done)
        except wire.ProtocolError as exc:
            # too large to send: say so and end this worker, which the session restarts
            # (a worker whose state makes every reply too large would fail every cell)
            channel.send({"type": "fatal", "error": f"the cell's result could not be sent: {exc}"})
            os._exit(3)


if __name__ == "__main__":
    main()
