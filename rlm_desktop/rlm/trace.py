"""The runs database: every run, its nodes (root, sub-calls, child RLMs), their turns and
cells, as rows a person can query, and the same run back as a tree for the GUI history
and the exports.

    recorder = TraceRecorder(paths.runs_db())      # an EventSink: pass it to the Engine
    tree = load_run(run_id)                         # RunTree with nested NodeRecords
    export_json(run_id) / export_markdown(run_id)

The schema grows by small, append-only migrations recorded in ``PRAGMA user_version``."""

from __future__ import annotations

import json
import sqlite3
import threading
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path

import sqlite_utils

from rlm_desktop import paths
from rlm_desktop.errors import RlmDesktopError
from rlm_desktop.rlm import events as ev


def _v1(db: sqlite_utils.Database) -> None:
    db["runs"].create(
        {
            "id": str, "question": str, "method": str, "root_model": str, "sub_model": str,
            "status": str, "answer": str, "citations": str, "stats": str, "budget": str,
            "error": str, "started_at": float, "finished_at": float,
        },
        pk="id",
    )
    db["nodes"].create(
        {
            "id": str, "run_id": str, "parent_id": str, "kind": str, "model": str, "prompt": str,
            "depth": int, "status": str, "answer": str, "prompt_tokens": int, "completion_tokens": int,
            "started_at": float, "elapsed_s": float, "error": str, "seq": int,
        },
        pk="id",
    )
    db["nodes"].create_index(["run_id"])
    db["turns"].create(
        {
            "node_id": str, "turn": int, "response": str, "prompt_tokens": int, "completion_tokens": int,
            "elapsed_s": float, "code": str, "output": str, "error": str, "cell_elapsed_s": float,
        },
        pk=("node_id", "turn"),
    )
    db["notices"].create({"node_id": str, "turn": int, "text": str, "seq": int})
    db["notices"].create_index(["node_id"])


MIGRATIONS: tuple[Callable[[sqlite_utils.Database], None], ...] = (_v1,)
SCHEMA_VERSION = len(MIGRATIONS)


def open_db(path: Path | None = None) -> sqlite_utils.Database:
    """Open (and migrate) the runs DB. One connection per thread that uses it."""
    conn = sqlite3.connect(str(path or paths.runs_db()), check_same_thread=False, timeout=10)
    db = sqlite_utils.Database(conn)
    # the window and a run's recorder may open a new database at the same moment: one
    # migrates under the write lock while the others wait for it, then see its version
    conn.execute("BEGIN IMMEDIATE")
    try:
        version = conn.execute("PRAGMA user_version").fetchone()[0]
        if version > SCHEMA_VERSION:
            raise RlmDesktopError(f"the runs database {path} is from a newer version of RLM Desktop")
        for number in range(version, SCHEMA_VERSION):
            MIGRATIONS[number](db)
            conn.execute(f"PRAGMA user_version = {number + 1}")
        conn.commit()
    except BaseException:
        conn.rollback()
        conn.close()
        raise
    _write_ahead_log(conn)
    return db


def _write_ahead_log(conn: sqlite3.Connection, tries: int = 50) -> None:
    """WAL mode (once set, it stays with the file). Changing the journal mode takes the
    database alone and does not wait on a busy one, so a concurrent opener tries again."""
    for attempt in range(tries):
        try:
            conn.execute("PRAGMA journal_mode=WAL")
            return
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) or attempt == tries - 1:
                raise
            time.sleep(0.05)


class TraceRecorder:
    """An ``EventSink`` that writes each event as rows, as it arrives."""

    def __init__(self, path: Path | None = None) -> None:
        self.db = open_db(path)
        self._lock = threading.Lock()
        self._seq = 0

    def __call__(self, event: ev.Event) -> None:
        if isinstance(event, ev.TokenDelta):
            return
        with self._lock, self.db.conn:
            self._write(event)

    def _write(self, event: ev.Event) -> None:
        self._seq += 1
        if isinstance(event, ev.RunStarted):
            self.db["runs"].insert(
                {"id": event.run_id, "question": event.question, "method": event.method,
                 "root_model": event.root_model, "sub_model": event.sub_model, "status": "running",
                 "answer": "", "citations": "[]", "stats": "{}", "started_at": event.started_at},
                replace=True,
            )
        elif isinstance(event, ev.NodeStarted):
            self.db["nodes"].insert(
                {"id": event.node_id, "run_id": event.run_id, "parent_id": event.parent_id, "kind": event.kind,
                 "model": event.model, "prompt": event.prompt, "depth": event.depth, "status": "running",
                 "answer": "", "prompt_tokens": 0, "completion_tokens": 0, "started_at": event.started_at,
                 "seq": self._seq},
                replace=True,
            )
        elif isinstance(event, ev.TurnFinished):
            self.db["turns"].upsert(
                {"node_id": event.node_id, "turn": event.turn, "response": event.response,
                 "prompt_tokens": event.prompt_tokens, "completion_tokens": event.completion_tokens,
                 "elapsed_s": event.elapsed_s},
                pk=("node_id", "turn"),
            )
        elif isinstance(event, ev.CellFinished):
            self.db["turns"].upsert(
                {"node_id": event.node_id, "turn": event.turn, "code": event.code, "output": event.output,
                 "error": event.error, "cell_elapsed_s": event.elapsed_s},
                pk=("node_id", "turn"),
            )
        elif isinstance(event, ev.Notice):
            self.db["notices"].insert({"node_id": event.node_id, "turn": event.turn, "text": event.text, "seq": self._seq})
        elif isinstance(event, ev.NodeFinished):
            self.db["nodes"].update(
                event.node_id,
                {"status": event.status, "answer": event.answer, "prompt_tokens": event.prompt_tokens,
                 "completion_tokens": event.completion_tokens, "elapsed_s": event.elapsed_s, "error": event.error},
            )
        elif isinstance(event, ev.RunFinished):
            self.db["runs"].update(
                event.run_id,
                {"status": event.status, "answer": event.answer,
                 "citations": json.dumps([asdict(c) for c in event.citations]),
                 "stats": json.dumps(asdict(event.stats)), "budget": event.budget, "error": event.error,
                 "finished_at": event.stats.wall_s + (self._started(event.run_id) or 0.0)},
            )

    def _started(self, run_id: str) -> float | None:
        row = self.db.execute("select started_at from runs where id = ?", [run_id]).fetchone()
        return row[0] if row else None

    def close(self) -> None:
        self.db.conn.close()


# -- reading back --------------------------------------------------------------------------


@dataclass(frozen=True)
class TurnRecord:
    turn: int
    response: str
    code: str | None
    output: str | None
    error: str | None
    prompt_tokens: int
    completion_tokens: int
    elapsed_s: float
    cell_elapsed_s: float | None
    notices: tuple[str, ...] = ()


@dataclass
class NodeRecord:
    id: str
    parent_id: str | None
    kind: str
    model: str
    prompt: str
    depth: int
    status: str
    answer: str
    prompt_tokens: int
    completion_tokens: int
    started_at: float
    elapsed_s: float | None
    error: str | None
    turns: list[TurnRecord] = field(default_factory=list)
    children: list[NodeRecord] = field(default_factory=list)
    notices: list[str] = field(default_factory=list)  # not tied to a recorded turn (e.g. a worker that never started)


@dataclass
class RunTree:
    id: str
    question: str
    method: str
    root_model: str
    sub_model: str
    status: str
    answer: str
    citations: list[ev.Citation]
    stats: ev.RunStats
    budget: str | None
    error: str | None
    started_at: float
    finished_at: float | None
    root: NodeRecord | None

    def nodes(self) -> list[NodeRecord]:
        """Every node, depth first in the order they started."""
        out: list[NodeRecord] = []
        stack = [self.root] if self.root else []
        while stack:
            node = stack.pop()
            out.append(node)
            stack.extend(reversed(node.children))
        return out


@dataclass(frozen=True)
class RunSummary:
    id: str
    question: str
    method: str
    status: str
    answer: str
    started_at: float
    wall_s: float


def list_runs(limit: int = 50, path: Path | None = None) -> list[RunSummary]:
    db = open_db(path)
    try:
        rows = db.execute(
            "select id, question, method, status, answer, started_at, stats from runs order by started_at desc limit ?",
            [limit],
        ).fetchall()
        return [
            RunSummary(r[0], r[1], r[2], r[3], r[4] or "", r[5], json.loads(r[6] or "{}").get("wall_s", 0.0))
            for r in rows
        ]
    finally:
        db.conn.close()


def load_run(run_id: str, path: Path | None = None) -> RunTree:
    db = open_db(path)
    try:
        row = _row(db, "select * from runs where id = ?", run_id)
        if row is None:
            matches = db.execute("select id from runs where id like ?", [run_id + "%"]).fetchall()
            if len(matches) != 1:
                raise RlmDesktopError(f"no run {run_id!r}: `rlm-desktop runs list` shows the runs")
            row = _row(db, "select * from runs where id = ?", matches[0][0])
        nodes: dict[str, NodeRecord] = {}
        for n in db.query("select * from nodes where run_id = ? order by seq", [row["id"]]):
            nodes[n["id"]] = NodeRecord(
                n["id"], n["parent_id"], n["kind"], n["model"], n["prompt"], n["depth"], n["status"],
                n["answer"] or "", n["prompt_tokens"] or 0, n["completion_tokens"] or 0, n["started_at"],
                n["elapsed_s"], n["error"],
            )
        if nodes:
            marks = ",".join("?" * len(nodes))
            notices: dict[tuple[str, int], list[str]] = {}
            for n in db.query(f"select * from notices where node_id in ({marks}) order by seq", list(nodes)):
                notices.setdefault((n["node_id"], n["turn"]), []).append(n["text"])
            for t in db.query(f"select * from turns where node_id in ({marks}) order by node_id, turn", list(nodes)):
                nodes[t["node_id"]].turns.append(
                    TurnRecord(t["turn"], t["response"] or "", t["code"], t["output"], t["error"],
                               t["prompt_tokens"] or 0, t["completion_tokens"] or 0, t["elapsed_s"] or 0.0,
                               t["cell_elapsed_s"], tuple(notices.get((t["node_id"], t["turn"]), ())))
                )
            turned = {(node.id, t.turn) for node in nodes.values() for t in node.turns}
            for (node_id, turn), texts in notices.items():
                if (node_id, turn) not in turned:
                    nodes[node_id].notices.extend(texts)
        root = None
        for node in nodes.values():
            parent = nodes.get(node.parent_id) if node.parent_id else None
            if parent is not None:
                parent.children.append(node)
            elif root is None:
                root = node
        stats = json.loads(row["stats"] or "{}")
        return RunTree(
            row["id"], row["question"], row["method"], row["root_model"], row["sub_model"], row["status"],
            row["answer"] or "", [ev.Citation(**c) for c in json.loads(row["citations"] or "[]")],
            ev.RunStats(**{k: v for k, v in stats.items() if k in ev.RunStats.__dataclass_fields__}),
            row["budget"], row["error"], row["started_at"], row["finished_at"], root,
        )
    finally:
        db.conn.close()


def _row(db: sqlite_utils.Database, sql: str, *args) -> dict | None:
    cursor = db.execute(sql, list(args))
    values = cursor.fetchone()
    if values is None:
        return None
    return dict(zip([d[0] for d in cursor.description], values, strict=True))


def run_to_dict(tree: RunTree) -> dict:
    data = asdict(tree)
    return data


def export_json(run_id: str, path: Path | None = None) -> str:
    return json.dumps(run_to_dict(load_run(run_id, path)), indent=2, ensure_ascii=False)


def _location(c: ev.Citation) -> str:
    if c.page is not None:
        return f"{c.path}#page={c.page}" + (f":{c.line}" if c.line else "")
    return f"{c.path}:{c.line}" if c.line is not None else c.path


def export_markdown(run_id: str, path: Path | None = None) -> str:
    tree = load_run(run_id, path)
    s = tree.stats
    lines = [
        f"# {tree.question}",
        "",
        f"- run `{tree.id}`, method `{tree.method}`, status **{tree.status}**"
        + (f" (budget: {tree.budget})" if tree.budget else ""),
        f"- models: root `{tree.root_model}`, sub `{tree.sub_model}`",
        f"- {s.iterations} iterations, {s.sub_calls} sub-calls, depth {s.depth}, "
        f"{s.prompt_tokens} prompt + {s.completion_tokens} completion tokens, {s.wall_s:.1f} s",
        "",
        "## Answer",
        "",
        tree.answer or "(no answer)",
        "",
    ]
    if tree.citations:
        lines += ["Sources:", ""] + [f"- {_location(c)}" for c in tree.citations] + [""]
    if tree.error:
        lines += [f"Error: {tree.error}", ""]
    lines += ["## Trace", ""]
    for node in tree.nodes():
        head = "#" * min(6, 3 + node.depth)
        tokens = f"{node.prompt_tokens}+{node.completion_tokens} tok"
        took = f", {node.elapsed_s:.1f} s" if node.elapsed_s is not None else ""
        lines += [f"{head} {node.kind} `{node.id}` ({node.model}, {node.status}, {tokens}{took})", ""]
        if node.kind == "llm":
            lines += ["Prompt:", "", _fence(node.prompt), "", "Answer:", "", _fence(node.answer), ""]
            continue
        lines += [f"Question: {node.prompt}", ""]
        lines += [f"> {n}" for n in node.notices] + ([""] if node.notices else [])
        for t in node.turns:
            lines += [f"**Turn {t.turn}** ({t.prompt_tokens}+{t.completion_tokens} tok, {t.elapsed_s:.1f} s)", ""]
            if t.code is not None:
                lines += [_fence(t.code, "python"), "", "Output:", "", _fence((t.output or "") + (f"\n{t.error}" if t.error else "")), ""]
            else:
                lines += [_fence(t.response), ""]
            lines += [f"> {n}" for n in t.notices] + ([""] if t.notices else [])
        if node.answer:
            lines += [f"Node answer: {node.answer}", ""]
    return "\n".join(lines)


def _fence(text: str, lang: str = "") -> str:
    fence = "````" if "```" in text else "```"
    return f"{fence}{lang}\n{text.rstrip()}\n{fence}"
