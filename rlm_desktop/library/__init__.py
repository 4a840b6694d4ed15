"""The library: folders indexed into SQLite (FTS5), kept current, searched fast.
No Qt imports; progress goes through plain callbacks."""
