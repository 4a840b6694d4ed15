"""The RLM engine: the REPL loop, prompts, budgets, the sandboxed worker and the trace.
Imports ``llm/`` and ``library/``; no Qt."""
