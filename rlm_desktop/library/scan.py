"""Bringing the index in line with the disk.

A scan plans first (walk, compare size and mtime with the stored rows, find renames by
content hash), then extracts the new and changed files in worker processes while this
thread, the only writer, stores the results. Each file's row, text and FTS entries are
written in one transaction and transactions are committed in batches, so a scan killed
at any point leaves a consistent index and the next scan simply does the rest.
"""

from __future__ import annotations

import concurrent.futures as cf
import itertools
import logging
import multiprocessing
import os
import queue
import signal
import sqlite3
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

from rlm_desktop.errors import LibraryError
from rlm_desktop.library.extract import Extracted, classify, extract_file, hash_file
from rlm_desktop.library.schema import db_path_str, normalize, scope_sql
from rlm_desktop.library.types import FolderRecord, ScanProgress, ScanReport
from rlm_desktop.library.walk import Entry, Roots, WalkResult, covering, walk

log = logging.getLogger(__name__)


class Index(Protocol):
    """What the scanner reads and writes: ``store.Library`` is one. The scanner knows the
    index only through these, so the store can run a scan without the two modules
    importing each other."""

    conn: sqlite3.Connection
    db_path: Path
    max_file_bytes: int
    ignore: tuple[str, ...]
    workers: int | None

    def folders(self) -> list[FolderRecord]: ...
    def root_of(self, path: str) -> str | None: ...
    def set_folder_status(self, path: str, status: str, scanned: bool = False) -> None: ...
    def record_scan_error(self, root: str, path: str, reason: str) -> None: ...
    def transaction(self) -> AbstractContextManager[object]: ...
    def move_file(self, file_id: int, path: str, root: str, mtime: float) -> None: ...
    def drop_files(self, ids: Iterable[int]) -> None: ...
    def put_file(self, path: str, root: str, size: int, mtime: float, ex: Extracted, *, new: bool = False,
                 pending: list[tuple] | None = None) -> int: ...
    def flush_chunks(self, rows: list[tuple]) -> None: ...

COMMIT_FILES = 1000
COMMIT_BYTES = 32_000_000
COMMIT_SECONDS = 5.0
FLUSH_ROWS = 512  # chunk rows written per executemany
INLINE_MAX_FILES = 48  # below this, or below INLINE_MAX_BYTES, worker processes cost more than they save
INLINE_MAX_BYTES = 4_000_000
PROGRESS_EVERY_S = 0.1


def default_workers() -> int:
    """One per core, but at least four and at most eight. A folder added for the first
    time is not in the page cache, and a worker waits on the disk for every file it
    reads; four readers overlap those waits where two left the writer idle (the full
    standard-library tree read cold on two cores: 16.7-16.8 s with four, 19.4-19.8 s with
    two; read warm, the same with either). One worker stuck on a large PDF does not
    stall the scan either."""
    return min(8, max(4, os.cpu_count() or 2))


BATCH_FILES = 32
BATCH_BYTES = 2_000_000
INFLIGHT_PER_WORKER = 2  # batches queued per worker: enough to keep it busy, little memory


def _worker_init() -> None:
    """Ctrl-C goes to the whole process group: only the scanning process should act on
    it (it rolls back the open batch and stops the pool), not each worker with a traceback."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)


def extract_batch(items: list[tuple[str, str]], limit: int) -> list[Extracted]:
    """Worker entry point: extract several files in one round trip."""
    return [extract_file(path, kind, limit) for path, kind in items]


@dataclass
class _Job:
    fs_path: str  # the file to read: the listed path, or the checked target of a link
    path: str  # as stored: the listed path
    root: str
    size: int
    mtime: float
    kind: str
    existed: bool
    skip: str = ""  # recorded as skipped with this reason, never opened


def _job(root: str, entry: Entry, existed: bool) -> _Job:
    path = db_path_str(entry.fs_path)
    kind = classify(os.path.basename(path))
    return _Job(entry.target or entry.fs_path, path, root, entry.size, entry.mtime, kind, existed, entry.skip)


def _batches(jobs: Iterable[_Job]) -> Iterator[list[_Job]]:
    batch: list[_Job] = []
    size = 0
    for job in jobs:
        if batch and (len(batch) >= BATCH_FILES or size + job.size > BATCH_BYTES):
            yield batch
            batch, size = [], 0
        batch.append(job)
        size += job.size
    if batch:
        yield batch


WALK_THREAD = True
CHECKPOINT_THREAD = True
WALK_LIST = 256  # jobs per hand-over from the walking thread
WALK_AHEAD = 64  # lists the walking thread may get ahead of the writer


def _job_lists(root: str, entries: Iterable[Entry]) -> Iterator[list[_Job]]:
    jobs: list[_Job] = []
    for entry in entries:
        jobs.append(_job(root, entry, False))
        if len(jobs) >= WALK_LIST:
            yield jobs
            jobs = []
    if jobs:
        yield jobs


def _ahead(lists: Iterator[list[_Job]]) -> Iterator[list[_Job]]:
    """Run ``lists`` (the walk of a folder not indexed yet, and its jobs) in a thread and
    yield what it produces. The walk's directory listing, stat calls and job building
    were a sixth of the writer thread's CPU; in their own thread they run while the
    writer is inside SQLite (which releases the GIL), on the core the workers leave
    free. The thread touches no database (the connection belongs to the writer's
    thread) and stops when the consumer does (scan finished, cancelled or failed)."""
    handed: queue.Queue[list[_Job] | None] = queue.Queue(maxsize=WALK_AHEAD)
    stop = threading.Event()
    failure: list[BaseException] = []

    def put(item: list[_Job] | None) -> bool:
        while not stop.is_set():
            try:
                handed.put(item, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def run() -> None:
        try:
            for item in lists:
                if not put(item):
                    return
        except BaseException as exc:  # re-raised on the writer's thread
            failure.append(exc)
        put(None)

    thread = threading.Thread(target=run, name="rlm-scan-walk", daemon=True)
    thread.start()
    try:
        while (item := handed.get()) is not None:
            yield item
        if failure:
            raise failure[0]
    finally:
        stop.set()
        thread.join(timeout=5)


class _Checkpointer:
    """Copies the WAL into the database from its own thread and connection while the
    writer goes on. With SQLite's automatic checkpoint, the commit that crosses the
    WAL limit copies the pages and waits for two fsyncs on the writer's thread; on this
    machine's disk that stalled the writer for seconds per scan with no CPU work done.
    A passive checkpoint needs no write lock, so it runs alongside the next transaction
    (the writer's connection has ``wal_autocheckpoint`` off while this runs)."""

    def __init__(self, db_path: str) -> None:
        self.db_path = db_path
        self.wake = threading.Event()
        self.stopping = False
        self.thread = threading.Thread(target=self._run, name="rlm-scan-checkpoint", daemon=True)
        self.thread.start()

    def _run(self) -> None:
        try:
            conn = sqlite3.connect(self.db_path, isolation_level=None)
        except sqlite3.Error:
            log.warning("scan: no checkpoint connection", exc_info=True)
            return
        try:
            while True:
                self.wake.wait()
                self.wake.clear()
                if self.stopping:
                    return
                try:
                    conn.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchall()
                except sqlite3.Error:  # busy or gone: the writer's own checkpoint catches up
                    log.debug("scan: passive checkpoint failed", exc_info=True)
        finally:
            conn.close()

    def poke(self) -> None:
        self.wake.set()

    def stop(self) -> None:
        self.stopping = True
        self.wake.set()
        self.thread.join()


@dataclass
class _Tally:
    added: int = 0
    updated: int = 0
    removed: int = 0
    unchanged: int = 0
    skipped: int = 0
    renamed: int = 0
    failed: list[tuple[str, str]] = field(default_factory=list)
    vanished: list[tuple[str, str]] = field(default_factory=list)


class Scanner:
    def __init__(self, lib: Index, progress: Callable[[ScanProgress], None] | None = None, cancel: threading.Event | None = None, inline: bool | None = None) -> None:
        self.lib = lib
        self.conn = lib.conn
        self.progress = progress
        self.cancel = cancel or threading.Event()
        self.inline = inline  # None: decide by the amount of work
        self.tally = _Tally()
        self.waited_s = 0.0  # time the writer spent waiting for extraction (tuning aid)
        self.total = 0  # files in scope; grows while a streamed walk goes on
        self._last_progress = 0.0

    # --- planning ---------------------------------------------------------------------

    def _targets(self, paths: Iterable[str | os.PathLike[str]] | None) -> list[tuple[str, str]]:
        """(root, start) for each part of the library to look at."""
        if paths is None:
            return [(f.path, f.path) for f in self.lib.folders()]
        targets = []
        for fs in covering(normalize(p) for p in paths):
            root = self.lib.root_of(db_path_str(fs))
            if root is None:
                raise LibraryError(f"{fs} is not inside an indexed folder; add the folder first")
            targets.append((root, fs))
        return targets

    def _plan(self, roots: Roots, root: str, start: str) -> list[_Job] | Iterator[_Job]:
        """Walk ``start`` and compare with the index: count unchanged files, remove rows of
        files that are gone, move renamed ones, and return the files to extract. Where
        nothing is indexed yet (a folder just added) there is nothing to compare, so the
        walk is returned unstarted and extraction begins while it goes on."""
        start_key = db_path_str(start)
        whole_root = start_key == root
        if not os.path.exists(start):
            if whole_root:
                self.lib.set_folder_status(root, "missing")
                self.tally.failed.append((root, "folder not found (removed or on a drive that is not connected); its files stay in the index until it is back"))
                return []
            self._remove_under(root, start_key)  # a sub-folder or file that went away
            return []
        if whole_root:
            self.lib.set_folder_status(root, "scanning")
        where, params = scope_sql([start_key])
        stored = {
            row[0]: row[1:]
            for row in self.conn.execute(f"SELECT f.path, f.id, f.size, f.mtime, f.status, f.content_hash FROM files f WHERE f.root = ? AND {where}", [root, *params])
        }
        where_e, params_e = scope_sql([start_key], "path")
        self.conn.execute(f"DELETE FROM scan_errors WHERE root = ? AND {where_e}", [root, *params_e])
        walked = WalkResult()
        entries = walk(roots, root, start, walked)
        if not stored:
            return self._stream(root, entries, walked)
        jobs: list[_Job] = []
        for entry in entries:
            path = db_path_str(entry.fs_path)
            row = stored.pop(path, None)
            # A file that failed after its bytes were read (a parser refused them: the row
            # has their hash) is tried again only once it changes; one that could not be
            # read (permission denied, an I/O error, a crashed extractor) on every scan.
            if row is not None and row[1] == entry.size and row[2] == entry.mtime and (row[3] != "error" or row[4]):
                self.tally.unchanged += 1
                continue
            jobs.append(_job(root, entry, row is not None))
        self._walk_errors(root, walked)
        # Rows under folders we could not list stay: the files may well still be there.
        keep = [db_path_str(d).rstrip("/") + "/" for d in walked.unlisted_dirs]
        gone = {p: row for p, row in stored.items() if not any(p.startswith(k) for k in keep)}
        if gone:
            jobs = self._renames(jobs, gone)
            self._drop(row[0] for row in gone.values())
            self.tally.removed += len(gone)
        self.total += len(jobs)
        return jobs

    def _stream(self, root: str, entries: Iterable[Entry], walked: WalkResult) -> Iterator[_Job]:
        lists = _job_lists(root, entries) if not WALK_THREAD else _ahead(_job_lists(root, entries))
        for jobs in lists:
            self.total += len(jobs)
            yield from jobs
        self._walk_errors(root, walked)  # here, on the writer's thread: it writes rows

    def _walk_errors(self, root: str, walked: WalkResult) -> None:
        for path, reason in walked.errors:
            self.lib.record_scan_error(root, db_path_str(path), reason)
            self.tally.failed.append((db_path_str(path), reason))
        for path in walked.vanished_dirs:
            self.tally.vanished.append((db_path_str(path), "folder disappeared during the scan"))

    def _renames(self, jobs: list[_Job], gone: dict[str, tuple]) -> list[_Job]:
        """New paths whose bytes equal a vanished file's are that file moved: keep its text."""
        by_size: dict[int, list[str]] = {}
        for path, (_id, size, _mtime, status, digest) in gone.items():
            if status == "ok" and digest:
                by_size.setdefault(size, []).append(path)
        if not by_size:
            return jobs
        rest = []
        for job in jobs:
            candidates = by_size.get(job.size) if not job.existed and not job.skip else None
            if candidates:
                digest = hash_file(job.fs_path, self.lib.max_file_bytes)
                match = next((p for p in candidates if gone[p][4] == digest), None) if digest else None
                if match is not None:
                    candidates.remove(match)
                    file_id = gone.pop(match)[0]
                    with self.lib.transaction():
                        self.lib.move_file(file_id, job.path, job.root, job.mtime)
                    self.tally.renamed += 1
                    continue
            rest.append(job)
        return rest

    def _drop(self, ids: Iterable[int]) -> None:
        ids = list(ids)
        for at in range(0, len(ids), COMMIT_FILES):
            with self.lib.transaction():
                self.lib.drop_files(ids[at : at + COMMIT_FILES])

    def _remove_under(self, root: str, start: str) -> None:
        where, params = scope_sql([start])
        ids = [row[0] for row in self.conn.execute(f"SELECT f.id FROM files f WHERE f.root = ? AND {where}", [root, *params])]
        self._drop(ids)
        self.tally.removed += len(ids)

    # --- running ----------------------------------------------------------------------

    def run(self, paths: Iterable[str | os.PathLike[str]] | None = None) -> ScanReport:
        started = time.monotonic()
        targets = self._targets(paths)
        roots = Roots((f.path, (*self.lib.ignore, *f.ignore)) for f in self.lib.folders())
        sources = [self._plan(roots, root, start) for root, start in targets]
        done_before = self.tally.unchanged + self.tally.renamed
        self.total += done_before
        cancelled = False
        try:
            cancelled = self._extract_all(itertools.chain.from_iterable(sources), done_before)
        finally:
            for root in {t[0] for t in targets}:
                if os.path.isdir(root):
                    self.lib.set_folder_status(root, "ok", scanned=not cancelled)
        t = self.tally
        report = ScanReport(t.added, t.updated, t.removed, t.unchanged, t.skipped, t.failed, time.monotonic() - started, cancelled, t.renamed, t.vanished)
        log.info("scan: %s (writer waited %.1f s for extraction)", report, self.waited_s)
        return report

    def _results(self, jobs: Iterable[_Job]) -> Iterator[tuple[_Job, Extracted]]:
        limit = self.lib.max_file_bytes
        direct: list[tuple[_Job, Extracted]] = []  # need no reading: stored as they come

        def readable() -> Iterator[_Job]:
            for job in jobs:
                if job.skip:
                    direct.append((job, Extracted(job.kind, "skipped", job.skip)))
                elif job.kind == "binary":
                    direct.append((job, Extracted("binary", "skipped", "binary or unsupported file type")))
                elif job.size > limit:
                    direct.append((job, Extracted(job.kind, "skipped", f"larger than the {limit / 1e6:.0f} MB size limit")))
                else:
                    yield job

        work = readable()
        head: list[_Job] = []
        inline = self.inline
        if inline is None:  # small jobs are read here: starting processes would cost more
            inline, size = True, 0
            for job in work:
                head.append(job)
                size += job.size
                if len(head) > INLINE_MAX_FILES and size > INLINE_MAX_BYTES:
                    inline = False
                    break
        stream = itertools.chain(head, work)
        if inline:
            results: Iterator[tuple[_Job, Extracted]] = self._inline(stream, limit)
        else:
            results = self._pooled(stream, limit)
        for pair in itertools.chain(results, [None]):
            if direct:
                yield from direct
                direct.clear()
            if pair is not None:
                yield pair

    def _inline(self, work: Iterable[_Job], limit: int) -> Iterator[tuple[_Job, Extracted]]:
        for job in work:
            if self.cancel.is_set():
                return
            yield job, extract_file(job.fs_path, job.kind, limit)

    def _pooled(self, work: Iterable[_Job], limit: int) -> Iterator[tuple[_Job, Extracted]]:
        """Extract in worker processes, a batch of small files per task (one round trip
        per file would cost the writer more than the text does), at most two batches per
        worker in flight so memory stays bounded whatever the corpus."""
        workers = self.lib.workers or default_workers()
        pending = iter(_batches(work))
        context = multiprocessing.get_context("forkserver" if "forkserver" in multiprocessing.get_all_start_methods() else "spawn")
        crashed = "the text extractor crashed on this file (or on one read at the same time)"
        while True:  # a new pool after a worker crash
            pool = cf.ProcessPoolExecutor(max_workers=workers, mp_context=context, initializer=_worker_init)
            inflight: dict[cf.Future[list[Extracted]], list[_Job]] = {}
            broken = False
            try:
                while True:
                    while len(inflight) < workers * INFLIGHT_PER_WORKER and not self.cancel.is_set():
                        batch = next(pending, None)
                        if batch is None:
                            break
                        inflight[pool.submit(extract_batch, [(j.fs_path, j.kind) for j in batch], limit)] = batch
                    if not inflight or self.cancel.is_set():
                        return
                    waited = time.perf_counter()
                    done, _ = cf.wait(inflight, timeout=0.5, return_when=cf.FIRST_COMPLETED)
                    self.waited_s += time.perf_counter() - waited
                    for future in done:
                        batch = inflight.pop(future)
                        try:
                            results = future.result()
                        except cf.process.BrokenProcessPool:
                            broken = True
                            results = [Extracted(j.kind, "error", crashed) for j in batch]
                        yield from zip(batch, results, strict=True)
                    if broken:
                        for batch in inflight.values():
                            yield from ((j, Extracted(j.kind, "error", crashed)) for j in batch)
                        break
            finally:
                pool.shutdown(wait=True, cancel_futures=True)
            if not broken:
                return

    def _extract_all(self, jobs: Iterable[_Job], done: int) -> bool:
        """Store extraction results as they come. Returns True if cancelled."""
        nbytes = errors = 0
        tx_files = tx_bytes = 0
        tx_started = time.monotonic()
        pending: list[tuple] = []  # chunk rows not yet written (flushed before each commit)
        checkpointer: _Checkpointer | None = None  # started at the first commit of a long scan
        autocheckpoint = self.conn.execute("PRAGMA wal_autocheckpoint").fetchone()[0]
        self.conn.execute("BEGIN IMMEDIATE")
        try:
            started = False
            for job, ex in self._results(jobs):
                if not started:  # the first file is ready: the small-job total is known
                    self._report(done, self.total, nbytes, "", errors, force=True)
                    started = True
                if ex.status == "vanished":
                    self.tally.vanished.append((job.path, ex.error))
                    if job.existed:
                        row = self.conn.execute("SELECT id FROM files WHERE path = ?", (job.path,)).fetchone()
                        if row:
                            self.lib.drop_files([row[0]])
                            self.tally.removed += 1
                else:
                    self.lib.put_file(job.path, job.root, job.size, job.mtime, ex, new=not job.existed, pending=pending)
                    if len(pending) >= FLUSH_ROWS:
                        self.lib.flush_chunks(pending)
                    if ex.status == "error":
                        self.tally.failed.append((job.path, ex.error))
                        errors += 1
                    elif ex.status == "skipped":
                        self.tally.skipped += 1
                    elif job.existed:
                        self.tally.updated += 1
                    else:
                        self.tally.added += 1
                done += 1
                nbytes += job.size
                tx_files += 1
                tx_bytes += ex.chars
                if tx_files >= COMMIT_FILES or tx_bytes >= COMMIT_BYTES or time.monotonic() - tx_started > COMMIT_SECONDS:
                    self.lib.flush_chunks(pending)
                    if checkpointer is None and CHECKPOINT_THREAD and self._wal():
                        self.conn.execute("PRAGMA wal_autocheckpoint = 0")  # before this commit: it would checkpoint
                        checkpointer = _Checkpointer(str(self.lib.db_path))
                    self.conn.execute("COMMIT")
                    if checkpointer is not None:
                        checkpointer.poke()
                    self.conn.execute("BEGIN IMMEDIATE")
                    tx_files = tx_bytes = 0
                    tx_started = time.monotonic()
                self._report(done, self.total, nbytes, job.path, errors)
                if self.cancel.is_set():
                    break
            self.lib.flush_chunks(pending)
            self.conn.execute("COMMIT")
        except BaseException:
            self.conn.execute("ROLLBACK")
            raise
        finally:
            if checkpointer is not None:
                checkpointer.stop()
                self.conn.execute(f"PRAGMA wal_autocheckpoint = {int(autocheckpoint)}")
        self._report(done, self.total, nbytes, "", errors, force=True)
        return self.cancel.is_set()

    def _wal(self) -> bool:
        return str(self.conn.execute("PRAGMA journal_mode").fetchone()[0]).lower() == "wal"

    def _report(self, done: int, total: int, nbytes: int, current: str, errors: int, force: bool = False) -> None:
        if self.progress is None:
            return
        now = time.monotonic()
        if force or now - self._last_progress >= PROGRESS_EVERY_S:
            self._last_progress = now
            self.progress(ScanProgress(done, total, nbytes, current, errors))
