"""The library's tables, their append-only migrations, and the small SQL helpers every
query module shares (chunk ids, path scope, stored path form)."""

from __future__ import annotations

import os
import sqlite3
from collections.abc import Iterable

CHUNK_SHIFT = 24  # chunk id = file_id << CHUNK_SHIFT | seq: a file's chunks are one rowid range
CHUNK_MASK = (1 << CHUNK_SHIFT) - 1

# Append-only: never edit a released migration, add a new one.
MIGRATIONS: list[tuple[str, str]] = [
    (
        "0001_initial",
        """
        CREATE TABLE folders (
            path TEXT PRIMARY KEY,
            ignore TEXT NOT NULL DEFAULT '[]',
            added_at REAL NOT NULL,
            last_scan REAL,
            status TEXT NOT NULL DEFAULT 'ok'
        );
        CREATE TABLE files (
            id INTEGER PRIMARY KEY,
            path TEXT NOT NULL UNIQUE,
            root TEXT NOT NULL,
            size INTEGER NOT NULL,
            mtime REAL NOT NULL,
            kind TEXT NOT NULL,
            status TEXT NOT NULL,
            chars INTEGER NOT NULL DEFAULT 0,
            tokens INTEGER NOT NULL DEFAULT 0,
            pages INTEGER NOT NULL DEFAULT 0,
            lines INTEGER NOT NULL DEFAULT 0,
            error TEXT NOT NULL DEFAULT '',
            content_hash TEXT NOT NULL DEFAULT '',
            extract_s REAL NOT NULL DEFAULT 0,
            indexed_at REAL NOT NULL DEFAULT 0
        );
        CREATE INDEX files_root ON files(root, status);
        CREATE TABLE chunks (
            id INTEGER PRIMARY KEY,
            line INTEGER NOT NULL,
            nlines INTEGER NOT NULL,
            page INTEGER,
            text TEXT NOT NULL
        );
        CREATE VIRTUAL TABLE chunks_fts USING fts5(
            text, content='chunks', content_rowid='id', tokenize='porter unicode61'
        );
        CREATE TRIGGER chunks_ai AFTER INSERT ON chunks BEGIN
            INSERT INTO chunks_fts(rowid, text) VALUES (new.id, new.text);
        END;
        CREATE TRIGGER chunks_ad AFTER DELETE ON chunks BEGIN
            INSERT INTO chunks_fts(chunks_fts, rowid, text) VALUES ('delete', old.id, old.text);
        END;
        CREATE TRIGGER chunks_au AFTER UPDATE ON chunks BEGIN
            INSERT INTO chunks_fts(chunks_fts, rowid, text) VALUES ('delete', old.id, old.text);
            INSERT INTO chunks_fts(rowid, text) VALUES (new.id, new.text);
        END;
        CREATE TABLE scan_errors (
            root TEXT NOT NULL,
            path TEXT NOT NULL,
            reason TEXT NOT NULL,
            at REAL NOT NULL,
            PRIMARY KEY (root, path)
        );
        """,
    ),
    (
        # Triggers cost twice the FTS5 insert time; the store keeps chunks_fts in step
        # itself, in the same transaction as the chunks (see put_file/_delete_chunks).
        "0002_explicit_fts",
        """
        DROP TRIGGER IF EXISTS chunks_ai;
        DROP TRIGGER IF EXISTS chunks_ad;
        DROP TRIGGER IF EXISTS chunks_au;
        """,
    ),
    (
        # HTML is read by layout now (decode.html_to_text), and manual pages as pages
        # (roff.py): pages, HTML mail and text files indexed before are read again at the
        # next scan (a stored mtime that no file has), and their new text is kept (no
        # stored hash says the bytes, hence the text, are the same)
        "0003_html_by_layout_man_pages",
        """
        UPDATE files SET mtime = -1, content_hash = '' WHERE kind IN ('html', 'email', 'mbox', 'text');
        """,
    ),
]


def db_path_str(path: str) -> str:
    """A file system path as stored: absolute, and valid UTF-8 even when the name is not
    (undecodable bytes appear as ``\\xNN``)."""
    try:
        path.encode("utf-8")
        return path
    except UnicodeEncodeError:
        return os.fsencode(path).decode("utf-8", errors="backslashreplace")


def normalize(path: str | os.PathLike[str]) -> str:
    return os.path.abspath(os.path.expanduser(os.fspath(path)))


def scope_sql(roots: Iterable[str] | None, column: str = "f.path") -> tuple[str, list[object]]:
    """SQL that keeps rows whose path is one of ``roots`` or under one of them."""
    if not roots:
        return "1", []
    parts, params = [], []
    for root in roots:
        root = db_path_str(normalize(root)).rstrip("/") or "/"
        prefix = root if root.endswith("/") else root + "/"
        parts.append(f"({column} = ? OR substr({column}, 1, ?) = ?)")
        params += [root, len(prefix), prefix]
    return "(" + " OR ".join(parts) + ")", params


def split_sql(script: str) -> list[str]:
    """Statements of a migration (triggers contain ';' inside BEGIN ... END)."""
    statements, buf = [], ""
    for line in script.splitlines(keepends=True):
        buf += line
        if sqlite3.complete_statement(buf):
            if buf.strip():
                statements.append(buf.strip())
            buf = ""
    if buf.strip():
        statements.append(buf.strip())
    return statements
