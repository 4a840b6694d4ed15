"""``rlm-desktop runs list | show ID | export ID --format json|md``: the runs database."""

from __future__ import annotations

import argparse
import datetime as dt

from rlm_desktop.rlm import trace


def register(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser("runs", help="past runs: list, show one as a tree, export as JSON or Markdown")
    actions = parser.add_subparsers(dest="runs_action", metavar="ACTION")
    p = actions.add_parser("list", help="the latest runs, newest first")
    p.add_argument("--limit", type=int, default=20)
    p.set_defaults(func=cmd_list)
    p = actions.add_parser("show", help="one run as a tree of nodes, turns and cells")
    p.add_argument("run_id", metavar="ID", help="a run id or a unique prefix of it")
    p.set_defaults(func=cmd_show)
    p = actions.add_parser("export", help="print one run as JSON or Markdown")
    p.add_argument("run_id", metavar="ID")
    p.add_argument("--format", choices=("json", "md"), default="json")
    p.set_defaults(func=cmd_export)
    parser.set_defaults(func=lambda args: parser.print_help() or 0)


def cmd_list(args: argparse.Namespace) -> int:
    runs = trace.list_runs(args.limit)
    if not runs:
        print("no runs yet: rlm-desktop ask --folder PATH \"question\"")
        return 0
    for r in runs:
        when = dt.datetime.fromtimestamp(r.started_at).strftime("%Y-%m-%d %H:%M")
        answer = " ".join(r.answer.split())[:40]
        print(f"{r.id}  {when}  {r.method:<6} {r.status:<16} {r.wall_s:7.1f} s  {r.question[:50]!r} -> {answer}")
    return 0


def cmd_show(args: argparse.Namespace) -> int:
    tree = trace.load_run(args.run_id)
    s = tree.stats
    print(f"run {tree.id} ({tree.method}): {tree.question}")
    print(f"status {tree.status}" + (f" ({tree.budget} budget)" if tree.budget else "")
          + f"; {s.iterations} iterations, {s.sub_calls} sub-calls, {s.prompt_tokens}+{s.completion_tokens} tokens, {s.wall_s:.1f} s")
    print(f"answer: {tree.answer}")
    for c in tree.citations:
        print(f"  source: {c.path}" + (f":{c.line}" if c.line is not None else "") + (f" page {c.page}" if c.page is not None else ""))
    for node in tree.nodes():
        pad = "  " * node.depth
        took = f"{node.elapsed_s:.1f} s" if node.elapsed_s is not None else "?"
        print(f"{pad}- {node.kind} {node.id} [{node.status}] {node.model}, {node.prompt_tokens}+{node.completion_tokens} tok, {took}")
        if node.kind == "llm":
            print(f"{pad}    prompt: {_one_line(node.prompt)}")
            print(f"{pad}    answer: {_one_line(node.answer)}")
        for t in node.turns:
            if t.code is not None:
                print(f"{pad}    turn {t.turn} code: {_one_line(t.code)}")
                out = t.error.strip().splitlines()[-1] if t.error else t.output
                print(f"{pad}    turn {t.turn} {'error' if t.error else 'output'}: {_one_line(out or '')}")
            else:
                print(f"{pad}    turn {t.turn}: {_one_line(t.response)}")
            for n in t.notices:
                print(f"{pad}    note: {_one_line(n)}")
    return 0


def cmd_export(args: argparse.Namespace) -> int:
    print(trace.export_json(args.run_id) if args.format == "json" else trace.export_markdown(args.run_id))
    return 0


def _one_line(text: str, n: int = 100) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= n else flat[: n - 1] + "…"
