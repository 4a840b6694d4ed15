"""The sandboxed REPL: one worker process per RLM node (root or child), driven over a
pipe with a small validated message protocol. See ``types.py`` for the contract between
the engine and the session."""
