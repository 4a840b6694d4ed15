"""The SQLite store behind the library, and the read API the engine and the sandbox use.

Layout (see ``schema.MIGRATIONS``): ``folders`` (roots the user added), ``files`` (one row per
file seen, with status and error text), ``chunks`` (the extracted text in pieces of whole
lines; each carries its first line and, for PDFs, its page) and ``chunks_fts`` (FTS5,
porter + unicode61, external content over ``chunks``, kept in step by the store in the
same transaction as the chunks).

A chunk's id is ``file_id << CHUNK_SHIFT | seq``: a file's chunks are one rowid range, so
reading, deleting and counting files among FTS hits need no extra index or join.

One ``Library`` object per thread: it owns one sqlite3 connection, and sqlite3 refuses
use from another thread. Open another ``Library`` (cheap) in each thread or process;
``read_only=True`` opens the file with ``mode=ro`` so a sandboxed reader cannot write.
"""

from __future__ import annotations

import json
import logging
import os
import sqlite3
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path

from rlm_desktop.errors import LibraryError
from rlm_desktop.library import search as search_module
from rlm_desktop.library.extract import PAGE_BREAK, Extracted
from rlm_desktop.library.schema import (  # noqa: F401 - re-exported for the scanner, bench and tests
    CHUNK_MASK,
    CHUNK_SHIFT,
    MIGRATIONS,
    db_path_str,
    normalize,
    scope_sql,
    split_sql,
)
from rlm_desktop.library.types import (
    CorpusStats,
    FileRecord,
    FolderRecord,
    GrepMatch,
    ScanProgress,
    ScanReport,
    SearchResult,
)

log = logging.getLogger(__name__)

DEFAULT_MAX_FILE_MB = 50.0


def estimate_tokens(chars: int) -> int:
    """About four characters per token for English text and code: a planning figure,
    not the model's tokenizer (the engine counts exactly where it matters)."""
    return (chars + 3) // 4


class LibraryBusy(LibraryError):
    """Another connection held the write lock for longer than the busy timeout."""


class Library:
    """The index of the user's folders. See ``rlm_desktop.library.types`` for the API."""

    def __init__(self, conn: sqlite3.Connection, db_path: Path, read_only: bool, max_file_mb: float, ignore: tuple[str, ...], workers: int | None) -> None:
        self.conn = conn
        self.db_path = db_path
        self.read_only = read_only
        self.max_file_bytes = int(max_file_mb * 1_000_000)
        self.ignore = tuple(ignore)  # user globs applied to every folder
        self.workers = workers
        self._thread = threading.get_ident()

    @property
    def db(self):  # noqa: ANN201 - sqlite_utils is imported only when asked for
        """A ``sqlite_utils.Database`` over this connection, for ad-hoc queries and export.
        Imported lazily: sqlite_utils pulls in native modules the sandbox must not load."""
        import sqlite_utils

        return sqlite_utils.Database(self.conn)

    # --- opening ----------------------------------------------------------------------

    @classmethod
    def open(
        cls,
        db_path: str | os.PathLike[str],
        read_only: bool = False,
        *,
        max_file_mb: float = DEFAULT_MAX_FILE_MB,
        ignore: Iterable[str] = (),
        workers: int | None = None,
        busy_timeout_s: float = 30.0,
    ) -> Library:
        """Open (and for a writer, create or migrate) the library database.
        ``ignore``: extra globs for every folder (Settings.ignore_globs); ``workers``:
        extraction processes (see ``scan.default_workers``); ``busy_timeout_s``: how long
        to wait for another writer's lock before ``LibraryBusy``."""
        path = Path(db_path)
        try:
            if read_only:
                if not path.exists():
                    raise LibraryError(f"the library {path} does not exist yet: add a folder first")
                conn = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True, isolation_level=None, timeout=busy_timeout_s)
                conn.execute("PRAGMA query_only = ON")
            else:
                path.parent.mkdir(parents=True, exist_ok=True)
                conn = sqlite3.connect(path, isolation_level=None, timeout=busy_timeout_s)
                conn.execute("PRAGMA journal_mode = WAL")
                conn.execute("PRAGMA synchronous = NORMAL")
            conn.execute("PRAGMA cache_size = -32000")
            conn.execute("PRAGMA temp_store = MEMORY")
            lib = cls(conn, path, read_only, max_file_mb, tuple(ignore), workers)
            if read_only:
                lib._check_schema()
            else:
                lib._migrate()
            return lib
        except sqlite3.DatabaseError as exc:
            raise LibraryError(f"cannot open the library {path}: {exc}") from exc

    def _applied(self) -> set[str]:
        if not self.conn.execute("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'schema_version'").fetchone():
            return set()
        return {row[0] for row in self.conn.execute("SELECT name FROM schema_version")}

    def _migrate(self) -> None:
        self.conn.execute("CREATE TABLE IF NOT EXISTS schema_version (name TEXT PRIMARY KEY, applied_at REAL NOT NULL)")
        for name, sql in MIGRATIONS:
            # asked again under the write lock: two openers of a new library (the window
            # and a scan) both saw it unapplied, and the second failed on its tables
            with self.transaction():
                if name in self._applied():
                    continue
                log.info("library: applying migration %s", name)
                for statement in split_sql(sql):
                    self.conn.execute(statement)
                self.conn.execute("INSERT INTO schema_version (name, applied_at) VALUES (?, ?)", (name, time.time()))
        unknown = self._applied() - {name for name, _ in MIGRATIONS}
        if unknown:
            raise LibraryError(f"the library was written by a newer version of RLM Desktop (migrations {sorted(unknown)}); update the app")

    def _check_schema(self) -> None:
        missing = [name for name, _ in MIGRATIONS if name not in self._applied()]
        if missing:
            raise LibraryError("the library has not been set up by this version yet; open it once for writing (e.g. `rlm-desktop library`)")

    def schema_version(self) -> list[str]:
        return [row[0] for row in self.conn.execute("SELECT name FROM schema_version ORDER BY name")]

    def close(self) -> None:
        self.conn.close()

    def __enter__(self) -> Library:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def transaction(self) -> _Transaction:
        return _Transaction(self.conn)

    def _writable(self) -> None:
        if self.read_only:
            raise LibraryError("this library was opened read-only")

    # --- folders ----------------------------------------------------------------------

    def add_folder(self, path: str | os.PathLike[str], ignore: Iterable[str] = ()) -> FolderRecord:
        """Add a folder to index (scan it with ``scan``). A folder already inside an
        indexed one is covered by it: that folder's record is returned."""
        self._writable()
        folder = normalize(path)
        if not os.path.isdir(folder):
            raise LibraryError(f"{folder} is not a folder (or cannot be opened)")
        folder = db_path_str(folder)
        for existing in self.folders():
            if folder == existing.path or folder.startswith(existing.path.rstrip("/") + "/"):
                return existing
        with self.transaction():
            self.conn.execute(
                "INSERT INTO folders (path, ignore, added_at, status) VALUES (?, ?, ?, 'ok')",
                (folder, json.dumps(list(ignore)), time.time()),
            )
            # Files of a folder nested in the new one stay with their own root.
        return self.folder(folder)

    def remove_folder(self, path: str | os.PathLike[str]) -> None:
        """Forget a folder and everything indexed from it."""
        self._writable()
        folder = db_path_str(normalize(path))
        if not self.conn.execute("SELECT 1 FROM folders WHERE path = ?", (folder,)).fetchone():
            raise LibraryError(f"{folder} is not an indexed folder")
        ids = [row[0] for row in self.conn.execute("SELECT id FROM files WHERE root = ?", (folder,))]
        for start in range(0, len(ids), 500):
            with self.transaction():
                self.drop_files(ids[start : start + 500])
        with self.transaction():
            self.conn.execute("DELETE FROM scan_errors WHERE root = ?", (folder,))
            self.conn.execute("DELETE FROM folders WHERE path = ?", (folder,))

    def folders(self) -> list[FolderRecord]:
        rows = self.conn.execute(
            """SELECT d.path, d.ignore, d.added_at, d.last_scan, d.status,
                      (SELECT count(*) FROM files f WHERE f.root = d.path AND f.status = 'ok'),
                      (SELECT coalesce(sum(size), 0) FROM files f WHERE f.root = d.path AND f.status = 'ok'),
                      (SELECT count(*) FROM files f WHERE f.root = d.path AND f.status = 'error')
                      + (SELECT count(*) FROM scan_errors e WHERE e.root = d.path)
               FROM folders d ORDER BY d.path"""
        ).fetchall()
        return [FolderRecord(r[0], tuple(json.loads(r[1])), r[2], r[3], r[4], r[5], r[6], r[7]) for r in rows]

    def folder(self, path: str) -> FolderRecord:
        for record in self.folders():
            if record.path == path:
                return record
        raise LibraryError(f"{path} is not an indexed folder")

    def root_of(self, path: str) -> str | None:
        """The indexed folder a path belongs to (the deepest one), or None."""
        best = None
        for (root,) in self.conn.execute("SELECT path FROM folders"):
            if path == root or path.startswith(root.rstrip("/") + "/"):
                if best is None or len(root) > len(best):
                    best = root
        return best

    def set_folder_status(self, path: str, status: str, scanned: bool = False) -> None:
        if scanned:
            self.conn.execute("UPDATE folders SET status = ?, last_scan = ? WHERE path = ?", (status, time.time(), path))
        else:
            self.conn.execute("UPDATE folders SET status = ? WHERE path = ?", (status, path))

    # --- scanning (implemented in scan.py) --------------------------------------------

    def scan(
        self,
        paths: Iterable[str | os.PathLike[str]] | None = None,
        progress: Callable[[ScanProgress], None] | None = None,
        cancel: threading.Event | None = None,
    ) -> ScanReport:
        """Bring the index up to date with the disk: all folders, or only ``paths``
        (folders or files inside indexed folders). Incremental: unchanged size and mtime
        mean no work. ``progress`` is called from this thread; set ``cancel`` to stop
        between files (what is done so far stays indexed)."""
        self._writable()
        from rlm_desktop.library.scan import Scanner

        try:
            return Scanner(self, progress=progress, cancel=cancel).run(paths)
        except sqlite3.OperationalError as exc:
            if "locked" in str(exc) or "busy" in str(exc):
                raise LibraryBusy("the library is busy: another scan is writing to it; try again when it is done") from exc
            raise LibraryError(f"the library could not be updated: {exc}") from exc

    # --- writes used by the scanner ---------------------------------------------------

    def put_file(self, path: str, root: str, size: int, mtime: float, ex: Extracted, *, new: bool = False, pending: list[tuple] | None = None) -> int:
        """Write one file's row and text (caller holds the transaction, so row, chunks and
        FTS change together or not at all). Returns the file id. ``new``: the caller
        believes no row exists (saves a lookup). ``pending``: collect the chunk rows there
        and write many files' chunks with one ``flush_chunks`` (per-file statements
        dominated the writer on trees of small files); flush before committing."""
        values = (root, size, mtime, ex.kind, ex.status, ex.chars, estimate_tokens(ex.chars), ex.pages, ex.lines, ex.error, ex.content_hash, ex.extract_s, time.time())
        row = None
        file_id = None
        if new:
            try:
                file_id = self.conn.execute(
                    """INSERT INTO files (path, root, size, mtime, kind, status, chars, tokens, pages, lines, error,
                       content_hash, extract_s, indexed_at) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?)""",
                    (path, *values),
                ).lastrowid
            except sqlite3.IntegrityError:  # it was there after all (another writer)
                file_id = None
        if file_id is None:
            row = self.conn.execute("SELECT id, content_hash, status FROM files WHERE path = ?", (path,)).fetchone()
        if row is not None:
            file_id = row[0]
            same_text = ex.status == "ok" and row[2] == "ok" and row[1] == ex.content_hash
            self.conn.execute(
                """UPDATE files SET root=?, size=?, mtime=?, kind=?, status=?, chars=?, tokens=?, pages=?, lines=?,
                   error=?, content_hash=?, extract_s=?, indexed_at=? WHERE id=?""",
                (*values, file_id),
            )
            if same_text:
                return file_id
            self._delete_chunks(file_id)
        elif file_id is None:
            file_id = self.conn.execute(
                """INSERT INTO files (path, root, size, mtime, kind, status, chars, tokens, pages, lines, error,
                   content_hash, extract_s, indexed_at) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?)""",
                (path, *values),
            ).lastrowid
        assert file_id is not None
        if ex.status == "ok" and ex.chunks:
            base = file_id << CHUNK_SHIFT
            rows = [(base + seq, c[0], c[1], c[2], c[3]) for seq, c in enumerate(ex.chunks)]
            if pending is not None:
                pending.extend(rows)
            else:
                self.flush_chunks(rows)
        return file_id

    def flush_chunks(self, rows: list[tuple]) -> None:
        """Write chunk rows ``(id, line, nlines, page, text)`` and their FTS entries."""
        if rows:
            self.conn.executemany("INSERT INTO chunks (id, line, nlines, page, text) VALUES (?,?,?,?,?)", rows)
            self.conn.executemany("INSERT INTO chunks_fts (rowid, text) VALUES (?,?)", [(r[0], r[4]) for r in rows])
            rows.clear()

    def touch_file(self, file_id: int, size: int, mtime: float) -> None:
        self.conn.execute("UPDATE files SET size = ?, mtime = ? WHERE id = ?", (size, mtime, file_id))

    def move_file(self, file_id: int, path: str, root: str, mtime: float) -> None:
        """A renamed file keeps its text; only its path changes."""
        self.conn.execute("DELETE FROM files WHERE path = ? AND id != ?", (path, file_id))
        self.conn.execute("UPDATE files SET path = ?, root = ?, mtime = ? WHERE id = ?", (path, root, mtime, file_id))

    def drop_files(self, ids: Iterable[int]) -> None:
        for file_id in ids:
            self._delete_chunks(file_id)
            self.conn.execute("DELETE FROM files WHERE id = ?", (file_id,))

    def _delete_chunks(self, file_id: int) -> None:
        base = file_id << CHUNK_SHIFT
        bounds = (base, base + CHUNK_MASK)
        # External-content FTS5 needs the old text to remove a row's terms.
        self.conn.execute("INSERT INTO chunks_fts (chunks_fts, rowid, text) SELECT 'delete', id, text FROM chunks WHERE id BETWEEN ? AND ?", bounds)
        self.conn.execute("DELETE FROM chunks WHERE id BETWEEN ? AND ?", bounds)

    def record_scan_error(self, root: str, path: str, reason: str) -> None:
        self.conn.execute("INSERT OR REPLACE INTO scan_errors (root, path, reason, at) VALUES (?, ?, ?, ?)", (root, path, reason, time.time()))

    # --- reading ----------------------------------------------------------------------

    _FILE_COLS = "f.path, f.root, f.size, f.mtime, f.kind, f.status, f.chars, f.tokens, f.pages, f.lines, f.error, f.content_hash, f.extract_s"

    def files(self, root: str | None = None, roots: Iterable[str] | None = None, status: str | None = "ok") -> Iterator[FileRecord]:
        """Files with metadata, ordered by path. ``status=None`` lists skipped and failed
        files too."""
        where, params = scope_sql(roots)
        if root is not None:
            where += " AND f.root = ?"
            params.append(db_path_str(normalize(root)))
        if status is not None:
            where += " AND f.status = ?"
            params.append(status)
        cursor = self.conn.execute(f"SELECT {self._FILE_COLS} FROM files f WHERE {where} ORDER BY f.path", params)
        for row in cursor:
            yield FileRecord(*row)

    def file(self, path: str) -> FileRecord:
        row = self.conn.execute(f"SELECT {self._FILE_COLS} FROM files f WHERE f.path = ?", (self._key(path),)).fetchone()
        if row is None:
            raise LibraryError(f"{path} is not in the library")
        return FileRecord(*row)

    def _key(self, path: str) -> str:
        return db_path_str(normalize(path)) if not path.startswith("/") else path

    def _file_id(self, path: str) -> tuple[int, str, str]:
        row = self.conn.execute("SELECT id, kind, status FROM files WHERE path = ?", (self._key(path),)).fetchone()
        if row is None:
            raise LibraryError(f"{path} is not in the library")
        if row[2] != "ok":
            error = self.conn.execute("SELECT error FROM files WHERE id = ?", (row[0],)).fetchone()[0]
            raise LibraryError(f"{path} has no text in the library ({row[2]}: {error})")
        return row[0], row[1], row[2]

    def text(self, path: str) -> str:
        """The whole extracted text of a file (PDF pages separated by a form-feed line)."""
        return self.read(path)

    def read(self, path: str, start: int | None = None, end: int | None = None) -> str:
        """Lines ``start``..``end`` (1-based, inclusive) of a file's text; for a PDF the
        numbers are pages. Out-of-range bounds are clipped, never an error."""
        file_id, kind, _ = self._file_id(path)
        base = file_id << CHUNK_SHIFT
        lo = 1 if start is None else max(1, int(start))
        hi = None if end is None else int(end)
        if hi is not None and hi < lo:
            return ""
        if kind == "pdf":
            rows = self.conn.execute(
                "SELECT page, text FROM chunks WHERE id BETWEEN ? AND ? AND page >= ? AND page <= ? ORDER BY id",
                (base, base + CHUNK_MASK, lo, hi if hi is not None else 1 << 40),
            )
            pages: list[str] = []
            current = None
            for page, text in rows:
                if page != current:
                    pages.append(text)
                    current = page
                else:
                    pages[-1] += "\n" + text
            return PAGE_BREAK.join(pages)
        rows = self.conn.execute(
            "SELECT line, nlines, text FROM chunks WHERE id BETWEEN ? AND ? AND line <= ? AND line + nlines > ? ORDER BY id",
            (base, base + CHUNK_MASK, hi if hi is not None else 1 << 40, lo),
        ).fetchall()
        if not rows:
            return ""
        if start is None and end is None:
            return "\n".join(r[2] for r in rows)
        first = rows[0][0]
        lines = "\n".join(r[2] for r in rows).split("\n")
        return "\n".join(lines[lo - first : (hi - first + 1) if hi is not None else None])

    def search(self, query: str, k: int = 10, roots: Iterable[str] | None = None) -> SearchResult:
        """BM25-ranked hits with snippet and line (or page), at most 2 per file, and how
        many files matched in all. Never raises on query syntax (see ``query.py``)."""
        return search_module.search(self.conn, query, k, roots)

    def grep(self, pattern: str, limit: int = 200, roots: Iterable[str] | None = None, flags: int = 0) -> Iterator[GrepMatch]:
        """Lines matching a Python regex as path:line, streaming, stopping at ``limit``;
        ``LibraryError`` for an invalid pattern."""
        return search_module.grep(self.conn, pattern, limit, roots, flags)

    def stats(self, roots: Iterable[str] | None = None) -> CorpusStats:
        where, params = scope_sql(roots)
        rows = self.conn.execute(
            f"SELECT f.status, f.kind, count(*), coalesce(sum(f.chars), 0), coalesce(sum(f.tokens), 0) FROM files f WHERE {where} GROUP BY 1, 2",
            params,
        ).fetchall()
        files = chars = tokens = skipped = errors = 0
        kinds: dict[str, int] = {}
        for status, kind, count, c, t in rows:
            if status == "ok":
                files += count
                chars += c
                tokens += t
                kinds[kind] = kinds.get(kind, 0) + count
            elif status == "skipped":
                skipped += count
            else:
                errors += count
        where_e, params_e = scope_sql(roots, "e.path")
        errors += self.conn.execute(f"SELECT count(*) FROM scan_errors e WHERE {where_e}", params_e).fetchone()[0]
        return CorpusStats(files, chars, tokens, dict(sorted(kinds.items())), skipped, errors)

    def errors(self, roots: Iterable[str] | None = None) -> list[tuple[str, str]]:
        """(path, reason) for every file that failed and every folder that could not be
        listed, so a person can see what is missing from the index and why."""
        where, params = scope_sql(roots)
        out = [tuple(r) for r in self.conn.execute(f"SELECT f.path, f.error FROM files f WHERE f.status = 'error' AND {where}", params)]
        where_e, params_e = scope_sql(roots, "e.path")
        out += [tuple(r) for r in self.conn.execute(f"SELECT e.path, e.reason FROM scan_errors e WHERE {where_e}", params_e)]
        return sorted(out)  # type: ignore[arg-type]

    def skipped(self, roots: Iterable[str] | None = None) -> list[tuple[str, str]]:
        where, params = scope_sql(roots)
        return [tuple(r) for r in self.conn.execute(f"SELECT f.path, f.error FROM files f WHERE f.status = 'skipped' AND {where} ORDER BY f.path", params)]  # type: ignore[misc]


class _Transaction:
    """``with lib.transaction():`` BEGIN IMMEDIATE ... COMMIT, or ROLLBACK on error."""

    def __init__(self, conn: sqlite3.Connection) -> None:
        self.conn = conn

    def __enter__(self) -> sqlite3.Connection:
        self.conn.execute("BEGIN IMMEDIATE")
        return self.conn

    def __exit__(self, exc_type: object, *rest: object) -> None:
        if exc_type is None:
            self.conn.execute("COMMIT")
        else:
            self.conn.execute("ROLLBACK")
