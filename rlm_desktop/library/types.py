"""Data passed out of the library. Rows become these at the edge of ``store.py``.

The read API the engine and the sandbox use (implemented by ``store.Library``):

    Library.open(db_path, read_only=False) -> Library
    lib.add_folder(path, ignore=()) -> FolderRecord
    lib.remove_folder(path) -> None
    lib.folders() -> list[FolderRecord]
    lib.scan(paths=None, progress=None, cancel=None) -> ScanReport
    lib.files(root=None, roots=None) -> Iterator[FileRecord]        # status 'ok' only by default
    lib.file(path) -> FileRecord                                       # LibraryError if unknown
    lib.search(query, k=10, roots=None) -> SearchResult                # BM25 ranked, with totals
    lib.grep(pattern, limit=200, roots=None, flags=0) -> Iterator[GrepMatch]  # streaming
    lib.read(path, start=None, end=None) -> str                        # 1-based inclusive lines (or pages for PDF)
    lib.text(path) -> str
    lib.stats(roots=None) -> CorpusStats
    lib.close()

Paths are absolute POSIX strings. Lines are 1-based. ``roots`` limits a call to files under
the given folders (the user's scope).
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class FolderRecord:
    path: str
    ignore: tuple[str, ...] = ()
    added_at: float = 0.0
    last_scan: float | None = None
    status: str = "ok"  # ok | missing | scanning | error
    file_count: int = 0
    total_bytes: int = 0
    error_count: int = 0


@dataclass(frozen=True)
class FileRecord:
    path: str
    root: str
    size: int
    mtime: float
    kind: str  # text | code | markdown | html | pdf | docx | csv | json | notebook
    status: str  # ok | skipped | error
    chars: int = 0
    tokens: int = 0  # estimate
    pages: int = 0  # PDFs only
    lines: int = 0
    error: str = ""
    content_hash: str = ""
    extract_s: float = 0.0


@dataclass(frozen=True)
class Location:
    path: str
    line: int | None = None
    page: int | None = None

    def __str__(self) -> str:
        if self.page is not None:
            return f"{self.path}#page={self.page}" + (f":{self.line}" if self.line else "")
        if self.line is not None:
            return f"{self.path}:{self.line}"
        return self.path


@dataclass(frozen=True)
class SearchHit:
    path: str
    score: float
    snippet: str
    line: int | None = None
    page: int | None = None

    @property
    def location(self) -> Location:
        return Location(self.path, self.line, self.page)


@dataclass(frozen=True)
class SearchResult:
    query: str
    hits: list[SearchHit]
    total_files: int  # how many files matched in all, not just the hits shown
    # query words found in no file (in scope): the hits then match only the other words
    missing: tuple[str, ...] = ()


@dataclass(frozen=True)
class GrepMatch:
    path: str
    line: int
    text: str
    page: int | None = None

    @property
    def location(self) -> Location:
        return Location(self.path, self.line, self.page)


@dataclass(frozen=True)
class CorpusStats:
    files: int
    chars: int
    tokens: int
    kinds: dict[str, int] = field(default_factory=dict)
    skipped: int = 0
    errors: int = 0  # as many as ``Library.errors()`` lists: failed files and scan errors


@dataclass(frozen=True)
class ScanProgress:
    files_done: int
    files_total: int
    bytes_done: int
    current: str
    errors: int


@dataclass(frozen=True)
class ScanReport:
    added: int = 0
    updated: int = 0
    removed: int = 0
    unchanged: int = 0
    skipped: int = 0
    # (path, reason): files and folders that could not be indexed, as ``Library.errors()``
    # keeps them (and a folder not found)
    failed: list[tuple[str, str]] = field(default_factory=list)
    elapsed_s: float = 0.0
    cancelled: bool = False
    renamed: int = 0  # moved files recognised by content hash (text kept, not re-extracted)
    # (path, reason): files and folders that disappeared during the scan; not errors, and
    # not kept: they are simply no longer in the index
    vanished: list[tuple[str, str]] = field(default_factory=list)
