"""Benchmarks: ``rlm-desktop bench index|llm|dev|quality``. One task generator, one runner
over the same engine the CLI and GUI use, one JSON results format."""
