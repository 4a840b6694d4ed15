"""``rlm-desktop ask --folder PATH "question"``: index the folders (incrementally), run the
RLM (or a baseline), show each turn, cell and sub-call on stderr, print the answer with
its sources. ``--json`` prints exactly one JSON object on stdout. Exit 0 when an answer
was produced. Ctrl-C stops the run and still prints what it has."""

from __future__ import annotations

import argparse
import json
import signal
import sys
from pathlib import Path
from typing import IO

from rlm_desktop import paths
from rlm_desktop.errors import RlmDesktopError
from rlm_desktop.rlm import coverage
from rlm_desktop.rlm import events as ev
from rlm_desktop.settings import Settings


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("ask", help="answer a question about folders (indexes them first)")
    p.add_argument("question")
    p.add_argument("--folder", action="append", required=True, metavar="PATH", help="a folder to ask about (repeatable)")
    p.add_argument("--model", help="root model name or .gguf path (default: the settings' root model)")
    p.add_argument("--sub-model", help="sub-call model name or .gguf path (default: the settings' sub model)")
    add_server_flags(p)
    p.add_argument("--max-iterations", type=int, metavar="N", help="turns of the root model (default 20)")
    p.add_argument("--max-depth", type=int, metavar="N", help="recursion depth: 1 = sub-calls are plain calls (default 1, up to 3)")
    p.add_argument("--max-sub-calls", type=int, metavar="N")
    p.add_argument("--timeout", type=float, metavar="S", help="wall-clock budget in seconds")
    p.add_argument("--method", choices=("rlm", "rag", "direct"), default="rlm", help="rlm (default) or a baseline")
    p.add_argument("--json", action="store_true", help="print one JSON object with answer, status, citations, stats, run_id")
    p.add_argument("--quiet", action="store_true", help="no progress lines on stderr")
    p.set_defaults(func=cmd_ask)


def add_server_flags(p: argparse.ArgumentParser) -> None:
    """Models served on the user's network (OpenAI-compatible: llama-server, vLLM, Ollama)."""
    p.add_argument("--root-server", metavar="URL", help="serve the root model from this server (e.g. http://gpu-box:8080); "
                   "the question and the text the model reads go there")
    p.add_argument("--root-model", metavar="NAME", help="the root model's name on --root-server")
    p.add_argument("--sub-server", metavar="URL", help="serve the sub-call model from this server (--sub-model names it there)")
    p.add_argument("--server-concurrency", type=int, metavar="N", help="sub-calls in flight at once to a served sub model (default 4)")
    p.add_argument("--allow-public-server", action="store_true",
                   help="allow a server that is not on this machine or a private network")


def server_changes(args: argparse.Namespace) -> dict:
    changes: dict = {}
    if getattr(args, "root_server", None):
        changes.update(root_server=args.root_server, root_server_model=args.root_model or getattr(args, "model", None) or "")
    if getattr(args, "sub_server", None):
        changes.update(sub_server=args.sub_server, sub_server_model=getattr(args, "sub_model", None) or "")
    if getattr(args, "server_concurrency", None):
        changes["server_concurrency"] = args.server_concurrency
    if getattr(args, "allow_public_server", False):
        changes["server_allow_public"] = True
    return changes


def settings_from(args: argparse.Namespace) -> Settings:
    changes = {
        **server_changes(args),
        "root_model": args.model if not args.root_server else None,
        "sub_model": args.sub_model,
        "max_iterations": args.max_iterations,
        "max_depth": args.max_depth,
        "max_sub_calls": args.max_sub_calls,
        "timeout_s": args.timeout,
    }
    return Settings().replace(**{k: v for k, v in changes.items() if v is not None})


class ProgressPrinter:
    """One line per turn, cell, sub-call and notice, on stderr."""

    def __init__(self, out: IO[str]) -> None:
        self.out = out
        self.kinds: dict[str, str] = {}

    def __call__(self, event: ev.Event) -> None:
        line = self._line(event)
        if line:
            print(line, file=self.out, flush=True)

    def _line(self, event: ev.Event) -> str | None:
        if isinstance(event, ev.NodeStarted):
            self.kinds[event.node_id] = f"{event.kind}{'' if event.kind == 'root' else '@' + str(event.depth)}"
            if event.kind == "rlm":
                return f"[{self.kinds[event.node_id]}] child RLM: {_short(event.prompt)}"
            return None
        who = self.kinds.get(getattr(event, "node_id", ""), "?")
        if isinstance(event, ev.TurnFinished):
            return f"[{who}] turn {event.turn}: {event.prompt_tokens} prompt + {event.completion_tokens} generated tokens, {event.elapsed_s:.1f} s"
        if isinstance(event, ev.CellFinished):
            result = f"error: {_short(event.error.strip().splitlines()[-1])}" if event.error else f"{len(event.output)} chars of output"
            return f"[{who}] cell {event.turn}: {_short(event.code)} -> {result} ({event.elapsed_s:.1f} s)"
        if isinstance(event, ev.NodeFinished) and event.node_id in self.kinds and self.kinds[event.node_id].startswith("llm"):
            return f"[{who}] sub-call: {event.prompt_tokens} prompt tokens -> {_short(event.answer)} ({event.elapsed_s:.1f} s)"
        if isinstance(event, ev.Notice):
            return f"[{who}] note: {_short(event.text, 100)}"
        return None


def _short(text: str | None, n: int = 70) -> str:
    flat = " ".join((text or "").split())
    return flat if len(flat) <= n else flat[: n - 1] + "…"


def result_dict(finished: ev.RunFinished) -> dict:
    status = finished.status if finished.status in ("ok", "budget_exhausted", "cancelled") else "error"
    s = finished.stats
    return {
        "answer": finished.answer,
        "status": status,
        "citations": [{"path": c.path, "line": c.line, "page": c.page} for c in finished.citations],
        "stats": {
            "iterations": s.iterations,
            "sub_calls": s.sub_calls,
            "depth": s.depth,
            "prompt_tokens": s.prompt_tokens,
            "completion_tokens": s.completion_tokens,
            "wall_s": s.wall_s,
        },
        "run_id": finished.run_id,
    }


def index_folders(library, folders: list[Path], out: IO[str] | None) -> tuple[str, ...]:
    for folder in folders:
        library.add_folder(folder)
    report = library.scan(paths=[str(f) for f in folders])
    if out is not None:
        print(
            f"indexed: {report.added} added, {report.updated} updated, {report.unchanged} unchanged, "
            f"{report.removed} removed, {len(report.failed)} failed ({report.elapsed_s:.1f} s)",
            file=out, flush=True,
        )
    return tuple(str(f) for f in folders)


def cmd_ask(args: argparse.Namespace) -> int:
    from rlm_desktop.library.store import Library
    from rlm_desktop.llm.backend import CancelToken
    from rlm_desktop.llm.loader import BackendPool
    from rlm_desktop.rlm.ask import ask

    settings = settings_from(args)
    folders = [Path(f).expanduser().resolve() for f in args.folder]
    for folder in folders:
        if not folder.is_dir():
            raise RlmDesktopError(f"{folder} is not a folder")
    progress_out = None if args.quiet else sys.stderr
    library = Library.open(paths.library_db(), max_file_mb=settings.max_file_mb, ignore=settings.ignore_globs)
    pool = BackendPool(settings)
    stop = CancelToken()
    try:
        roots = index_folders(library, folders, progress_out)
        printer = ProgressPrinter(progress_out) if progress_out is not None else None
        previous = signal.signal(signal.SIGINT, lambda *_: stop.cancel())
        try:
            finished = ask(args.question, roots, library=library, models=pool, settings=settings, sink=printer,
                           cancel=stop, method=args.method)
        finally:
            signal.signal(signal.SIGINT, previous)
    finally:
        pool.close()
        library.close()
    if args.json:
        print(json.dumps(result_dict(finished), ensure_ascii=False))
    else:
        print(finished.answer or "(no answer)")
        if finished.citations:
            print("\nSources:")
            for c in finished.citations:
                print(f"  {_location(c)}")
        s = finished.stats
        note = f" ({finished.budget} budget used up)" if finished.budget else ""
        print(
            f"\n{finished.status}{note}: {s.iterations} iterations, {s.sub_calls} sub-calls, "
            f"{s.prompt_tokens}+{s.completion_tokens} tokens, {s.wall_s:.1f} s, run {finished.run_id}",
            file=sys.stderr,
        )
        if finished.error:
            print(f"error: {finished.error}", file=sys.stderr)
    return 0 if finished.answer and not coverage.is_statement(finished.answer) else 1


def _location(c: ev.Citation) -> str:
    if c.page is not None:
        return f"{c.path}#page={c.page}" + (f":{c.line}" if c.line else "")
    return f"{c.path}:{c.line}" if c.line is not None else c.path

