"""``rlm-desktop bench index PATH``: how fast the library indexes, re-scans and searches a
real folder, against a raw FTS5 insert of the same text measured in the same run.

Figures:
- index: files/s and MB/s of extracted text for a full scan into a fresh library (walk,
  extraction in worker processes, chunking, row + chunk + FTS5 writes), wall clock;
- baseline: MB/s of inserting the same text into a bare FTS5 table (porter unicode61,
  same pragmas, the table keeps its own copy of the text as the library's ``chunks``
  does), counting only the time spent inside SQLite. Twice: the same chunk rows the
  library writes, with ``executemany`` as the library does (the fair comparison, and the
  ratio's denominator), and one row per file (the least an FTS5 index of the text can cost);
- ratio = index MB/s / baseline MB/s (target >= 0.70), plus the CPU seconds of the
  writer and of the baseline, which stay comparable when other jobs load the machine;
- no-change re-scan time (target < 2 s for 10k files);
- search latency p50/p95 over a fixed set of queries (target p95 < 20 ms), wall clock
  and CPU time (on a loaded machine the wall figure is mostly waiting for a core);
- peak RSS of this process and of the largest worker process, sampled during the scan
  (target < 400 MB).
"""

from __future__ import annotations

import argparse
import json
import resource
import sqlite3
import statistics
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import psutil

from rlm_desktop.library.scan import default_workers
from rlm_desktop.library.store import CHUNK_SHIFT, Library

QUERIES = (
    "default timeout", "parse json", "socket connection refused", "thread pool executor",
    "unicode decode error", "http request headers", "read file encoding", "regular expression",
    "datetime timezone", "subprocess pipe", "deprecated warning", "retry backoff",
    "ssl certificate verify", "abstract base class", "context manager", "import error",
    "what is the default buffer size?", "how are cookies parsed", "base64 encode", "unittest mock patch",
)


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("index", help="indexing, re-scan and search speed on a folder, against raw FTS5 inserts")
    p.add_argument("path", type=Path, help="folder to index (e.g. the Python standard library)")
    p.add_argument("--work-dir", type=Path, default=None, help="where the throwaway databases go (default: a temp dir)")
    p.add_argument("--workers", type=int, default=None, help="extraction processes (default: cores - 1)")
    p.add_argument("--repeat", type=int, default=5, help="times each search query runs (default 5)")
    p.add_argument("--json", type=Path, default=None, help="also write the figures to this JSON file")
    p.set_defaults(func=main)


class _RssSampler:
    """Progress callback that samples the worker processes' RSS (they are children of
    the forkserver, so getrusage(RUSAGE_CHILDREN) does not see them).

    It runs on the writer thread, inside the time being measured, so it must cost next
    to nothing: listing the children reads every ``/proc/*/stat`` (about 5 ms), which at
    every progress call (10 a second) came to about 1.5 s of the writer's CPU on the
    34k-file tree. The list is refreshed every ``REFRESH_S`` (the pool's workers live
    for the whole scan) and the RSS read at most every ``EVERY_S``."""

    EVERY_S = 0.5
    REFRESH_S = 3.0

    def __init__(self) -> None:
        self.me = psutil.Process()
        self.peak_worker_mb = 0.0
        self._children: list[psutil.Process] = []
        self._listed = self._sampled = float("-inf")

    def __call__(self, progress: object) -> None:
        now = time.monotonic()
        if now - self._sampled < self.EVERY_S:
            return
        self._sampled = now
        if now - self._listed >= self.REFRESH_S or not self._children:
            self._children = self.me.children(recursive=True)
            self._listed = now
        for child in self._children:
            try:
                self.peak_worker_mb = max(self.peak_worker_mb, child.memory_info().rss / 1e6)
            except psutil.Error:
                self._listed = float("-inf")  # gone (a pool restarted after a crash): list again


def _peak_mb(who: int) -> float:
    return resource.getrusage(who).ru_maxrss / 1024  # KiB on Linux


def baseline_fts(lib: Library, db_path: Path, per_file: bool) -> tuple[float, float, int]:
    """Seconds (wall, CPU) spent inserting the library's text into a bare FTS5 table, and
    the number of characters inserted: the same chunk rows in batches of 512 (as the
    scanner writes them), or ``per_file`` one row per file. Reading the text back from the
    library is not counted."""
    for suffix in ("", "-wal", "-shm"):
        Path(f"{db_path}{suffix}").unlink(missing_ok=True)
    conn = sqlite3.connect(db_path, isolation_level=None)
    conn.execute("PRAGMA journal_mode = WAL")
    conn.execute("PRAGMA synchronous = NORMAL")
    conn.execute("PRAGMA cache_size = -32000")
    conn.execute("PRAGMA temp_store = MEMORY")
    conn.execute("CREATE VIRTUAL TABLE t USING fts5(text, tokenize='porter unicode61')")
    spent = cpu = 0.0
    chars = batch = 0

    def timed(sql: str, *args: object) -> None:
        nonlocal spent, cpu
        started, cpu_started = time.perf_counter(), time.process_time()
        if args and isinstance(args[0], list):
            conn.executemany(sql, args[0])
        else:
            conn.execute(sql, *args)
        spent += time.perf_counter() - started
        cpu += time.process_time() - cpu_started

    timed("BEGIN")
    for rows in _texts(lib, per_file):
        timed("INSERT INTO t (rowid, text) VALUES (?, ?)", rows)
        size = sum(len(r[1]) for r in rows)
        chars += size
        batch += size
        if batch > 32_000_000:  # the scanner's COMMIT_BYTES
            timed("COMMIT")
            timed("BEGIN")
            batch = 0
    timed("COMMIT")
    conn.close()
    return spent, cpu, chars


def _texts(lib: Library, per_file: bool) -> Iterator[list[tuple[int, str]]]:
    """Batches of (rowid, text) rows: 512 chunks, or one file's chunks joined."""
    cursor = lib.conn.execute("SELECT id, text FROM chunks ORDER BY id")
    if not per_file:
        while rows := cursor.fetchmany(512):
            yield rows
        return
    current, parts = -1, []
    for chunk_id, text in cursor:
        file_id = chunk_id >> CHUNK_SHIFT
        if file_id != current and parts:
            yield [(current, "\n".join(parts))]
            parts = []
        current = file_id
        parts.append(text)
    if parts:
        yield [(current, "\n".join(parts))]


def _percentiles(seconds: list[float]) -> tuple[float, float]:
    """(p50, p95) in milliseconds."""
    ordered = sorted(seconds)
    return statistics.median(ordered) * 1000, ordered[int(0.95 * (len(ordered) - 1))] * 1000


def main(args: argparse.Namespace) -> int:
    folder = args.path.resolve()
    if not folder.is_dir():
        print(f"bench index: {folder} is not a folder")
        return 2
    with tempfile.TemporaryDirectory(prefix="rlm-bench-index-", dir=args.work_dir) as work:
        db = Path(work) / "library.db"
        lib = Library.open(db, workers=args.workers)
        sampler = _RssSampler()
        lib.add_folder(folder)
        started, cpu = time.perf_counter(), time.process_time()
        report = lib.scan(progress=sampler)
        index_s, index_cpu = time.perf_counter() - started, time.process_time() - cpu
        stats = lib.stats()
        peak_main = _peak_mb(resource.RUSAGE_SELF)
        peak_worker = sampler.peak_worker_mb

        started = time.perf_counter()
        rescan = lib.scan()
        rescan_s = time.perf_counter() - started

        times, cpu_times = [], []
        for _ in range(args.repeat):
            for q in QUERIES:
                t0, c0 = time.perf_counter(), time.process_time()
                lib.search(q, k=10)
                times.append(time.perf_counter() - t0)
                cpu_times.append(time.process_time() - c0)
        p50, p95 = _percentiles(times)
        cpu_p50, cpu_p95 = _percentiles(cpu_times)

        base_s, base_cpu, base_chars = baseline_fts(lib, Path(work) / "baseline.db", per_file=False)
        file_s, file_cpu, _ = baseline_fts(lib, Path(work) / "baseline.db", per_file=True)
        lib.close()  # checkpoints and truncates the WAL: the size a person sees on disk
        db_mb = sum(f.stat().st_size for f in Path(work).glob("library.db*")) / 1e6

    mb = stats.chars / 1e6
    index_mbs = mb / index_s
    base_mbs = base_chars / 1e6 / base_s
    file_mbs = base_chars / 1e6 / file_s
    figures = {
        "path": str(folder),
        "files_indexed": stats.files,
        "files_seen": report.added + report.skipped + len(report.failed) + report.unchanged,
        "skipped": report.skipped,
        "failed": len(report.failed),
        "text_mb": round(mb, 1),
        "index_s": round(index_s, 2),
        "files_per_s": round(stats.files / index_s, 1),
        "index_mb_per_s": round(index_mbs, 2),
        "baseline_fts5_mb_per_s": round(base_mbs, 2),
        "ratio_to_baseline": round(index_mbs / base_mbs, 2),
        "baseline_file_rows_mb_per_s": round(file_mbs, 2),
        "ratio_to_file_rows_baseline": round(index_mbs / file_mbs, 2),
        # CPU seconds of this process (walk + the single writer; extraction runs in the
        # workers): on a machine shared with other jobs wall clock is noisy, CPU is not.
        "index_writer_cpu_s": round(index_cpu, 2),
        "baseline_cpu_s": round(base_cpu, 2),
        "baseline_file_rows_cpu_s": round(file_cpu, 2),
        "writer_cpu_ratio": round(base_cpu / index_cpu, 2),
        "rescan_s": round(rescan_s, 3),
        "rescan_unchanged": rescan.unchanged,
        "search_p50_ms": round(p50, 2),
        "search_p95_ms": round(p95, 2),
        "search_cpu_p50_ms": round(cpu_p50, 2),
        "search_cpu_p95_ms": round(cpu_p95, 2),
        "peak_rss_main_mb": round(peak_main, 1),
        "peak_rss_worker_mb": round(peak_worker, 1),
        "db_mb": round(db_mb, 1),
        "workers": args.workers or default_workers(),
    }
    width = max(map(len, figures))
    for key, value in figures.items():
        print(f"{key:<{width}}  {value}")
    if args.json:
        args.json.write_text(json.dumps(figures, indent=2), encoding="utf-8")
    return 0
