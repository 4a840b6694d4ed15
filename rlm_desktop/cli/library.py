"""``rlm-desktop index PATH...``, ``rlm-desktop search "query"`` and ``rlm-desktop library``:
add folders and bring them up to date (with a progress bar and the list of files that
failed and why), search them, and show what the library holds."""

from __future__ import annotations

import argparse
import json
import os
from dataclasses import asdict, dataclass

from rlm_desktop import paths
from rlm_desktop.errors import LibraryError
from rlm_desktop.library.store import Library
from rlm_desktop.library.types import ScanProgress, ScanReport
from rlm_desktop.settings import Settings

FAILED_SHOWN = 50


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("index", help="add folders to the library and index them (incremental)")
    p.add_argument("paths", nargs="+", metavar="PATH", help="folders to add and scan (or files/folders inside indexed ones)")
    p.add_argument("--ignore", action="append", default=[], metavar="GLOB", help="gitignore-style pattern to skip (repeatable)")
    p.add_argument("--max-file-mb", type=float, metavar="MB", help="skip files larger than this (default 50)")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.set_defaults(func=cmd_index)

    p = sub.add_parser("search", help="full-text search of the library (BM25), with file:line")
    p.add_argument("query")
    p.add_argument("-k", type=int, default=10, help="hits to show (default 10)")
    p.add_argument("--folder", action="append", default=[], metavar="PATH", help="only files under this folder (repeatable)")
    p.add_argument("--json", action="store_true", help="print the result as JSON")
    p.set_defaults(func=cmd_search)

    p = sub.add_parser("library", help="the indexed folders, counts, sizes and errors")
    p.add_argument("--errors", action="store_true", help="list every file that failed (default: the first few)")
    p.add_argument("--remove", metavar="PATH", help="forget a folder and everything indexed from it")
    p.add_argument("--json", action="store_true", help="print as JSON")
    p.set_defaults(func=cmd_library)


def open_library(max_file_mb: float | None = None) -> Library:
    settings = Settings()
    return Library.open(paths.library_db(), max_file_mb=max_file_mb or settings.max_file_mb, ignore=settings.ignore_globs)


@dataclass(frozen=True)
class _Event:
    """ScanProgress in the shape ``cli.progress.StageProgress`` draws."""

    stage: str
    done: int
    total: int
    message: str


def _bar(disable: bool):
    from rlm_desktop.cli.progress import StageProgress

    bar = StageProgress("index", unit="file", disable=True if disable else None)

    def progress(p: ScanProgress) -> None:
        bar(_Event("files", p.files_done, p.files_total, os.path.basename(p.current)))

    return bar, progress


def summary(report: ScanReport) -> str:
    parts = [f"{report.added} added", f"{report.updated} updated", f"{report.removed} removed", f"{report.unchanged} unchanged"]
    if report.renamed:
        parts.append(f"{report.renamed} renamed")
    parts.append(f"{report.skipped} skipped")
    parts.append(f"{len(report.failed)} failed")
    if report.vanished:
        parts.append(f"{len(report.vanished)} vanished during the scan")
    head = "Scan cancelled" if report.cancelled else "Indexed"
    return f"{head}: " + ", ".join(parts) + f" ({report.elapsed_s:.1f} s)"


def cmd_index(args: argparse.Namespace) -> int:
    lib = open_library(args.max_file_mb)
    try:
        targets = []
        for path in args.paths:
            inside = lib.root_of(os.path.abspath(path)) is not None
            if not inside and not os.path.exists(path):
                raise LibraryError(f"{path}: no such file or folder")
            if os.path.isdir(path) and not inside:
                lib.add_folder(path, ignore=args.ignore)
            targets.append(path)
        bar, progress = _bar(args.no_progress)
        with bar:
            report = lib.scan(targets, progress=progress)
        print(summary(report))
        for path, reason in report.failed[:FAILED_SHOWN]:
            print(f"  {path}: {reason}")
        if len(report.failed) > FAILED_SHOWN:
            print(f"  ... and {len(report.failed) - FAILED_SHOWN} more (see `rlm-desktop library --errors`)")
        for path, reason in report.vanished[:FAILED_SHOWN]:
            print(f"  {path}: {reason}")
        if len(report.vanished) > FAILED_SHOWN:
            print(f"  ... and {len(report.vanished) - FAILED_SHOWN} more that vanished")
        stats = lib.stats()
        standing = f"; {stats.errors} errors (`rlm-desktop library --errors` lists them)" if stats.errors else ""
        print(f"Library: {stats.files} files, {stats.chars:,} characters, about {stats.tokens:,} tokens{standing}")
        return 0
    finally:
        lib.close()


def cmd_search(args: argparse.Namespace) -> int:
    lib = open_library()
    try:
        result = lib.search(args.query, k=args.k, roots=args.folder or None)
    finally:
        lib.close()
    if args.json:
        print(json.dumps({"query": result.query, "total_files": result.total_files, "hits": [asdict(h) for h in result.hits]}, indent=2))
        return 0
    files = len({h.path for h in result.hits})
    print(f"{len(result.hits)} hits from {files} of {result.total_files} matching files")
    for hit in result.hits:
        print(f"{hit.location}  ({hit.score:.2f})")
        print(f"    {hit.snippet}")
    return 0


def _size(n: int) -> str:
    for unit in ("B", "KB", "MB", "GB"):
        if n < 1024 or unit == "GB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024  # type: ignore[assignment]
    return f"{n} B"


def cmd_library(args: argparse.Namespace) -> int:
    lib = open_library()
    try:
        if args.remove:
            lib.remove_folder(args.remove)
            print(f"Removed {os.path.abspath(args.remove)} from the library")
        folders = lib.folders()
        stats = lib.stats()
        errors = lib.errors()
    finally:
        lib.close()
    if args.json:
        print(json.dumps({"folders": [asdict(f) for f in folders], "stats": asdict(stats), "errors": errors}, indent=2))
        return 0
    if not folders:
        print("The library is empty: add a folder with `rlm-desktop index PATH`.")
        return 0
    print(f"Library: {paths.library_db()}")
    for f in folders:
        print(f"  {f.path}  [{f.status}]  {f.file_count} files, {_size(f.total_bytes)}, {f.error_count} errors")
    kinds = ", ".join(f"{k} {v}" for k, v in stats.kinds.items())
    print(f"Total: {stats.files} files ({kinds}), {stats.chars:,} characters, about {stats.tokens:,} tokens "
          f"(4 characters per token); {stats.skipped} skipped, {stats.errors} errors")
    shown = errors if args.errors else errors[:10]
    if shown:
        print("Errors:")
        for path, reason in shown:
            print(f"  {path}: {reason}")
        if len(errors) > len(shown):
            print(f"  ... and {len(errors) - len(shown)} more (--errors lists them all)")
    return 0

