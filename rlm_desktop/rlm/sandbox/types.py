"""The contract between the engine (``rlm/engine.py``) and the REPL session
(``rlm/sandbox/session.py``). The engine never sees the worker's internals.

    session = ReplSession(ReplConfig(...), on_llm=callback)
    session.start()                    # spawns the sandboxed worker process
    result = session.run_cell(code)    # blocks; serves llm requests through on_llm meanwhile
    session.kill()                     # from any thread: Stop; kills the worker at once
    session.close()

Names inside the REPL (what the model's code can use):
    context        -- the corpus: a sequence of File objects (path, text, kind, lines, chars,
                      tokens; text loads lazily), sliceable and iterable; or a str when the
                      run is over one pasted text
    files          -- same object as context
    search(query, k=10)      -- BM25 hits with snippets and path:line, and the total count
    grep(pattern, limit=50)  -- regex matches as path:line: text, with the total count
    read(path, start=None, end=None) -- a file's text or a 1-based inclusive line range
    llm_query(prompt)        -- one sub-model call, returns str
    llm_batch(prompts)       -- many sub-model calls at once, returns list[str]
    ask_each(question, paths_or_texts) -- sub-model question per file, list of (path, answer)
    ask_numbers(question, paths_or_texts) -- a checked number per file: rows (path, value,
                      status) with .total()/.max()/.min() over the verified ones (values.py)
    rlm_query(question, text_or_paths) -- a child RLM with its own REPL (depth-limited)
    SHOW_VARS()              -- names defined so far
    FINAL(value) / FINAL_VAR(name) / answer = {...}  -- set the answer
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from rlm_desktop.rlm.tools.facts import ToolFact


@dataclass(frozen=True)
class ReplConfig:
    scratch_dir: Path
    library_db: Path | None = None  # opened read-only inside the worker
    roots: tuple[str, ...] = ()  # scope: only files under these roots are visible
    context_text: str | None = None  # a single pasted text instead of a library
    cell_timeout_s: float = 30.0
    memory_mb: int = 1024
    output_chars: int = 4000  # printed output is cut to this, with a visible marker
    echo: bool = True  # show the value of a cell's last expression (False: ablation runs only)
    totals: bool = True  # listings say "showing 5 of 25" (False: ablation runs only)
    check_values: bool = True  # ask_numbers cross-checks values and asks again (False: ablation runs only)
    allowed_imports: tuple[str, ...] = (
        "re", "math", "json", "collections", "itertools", "functools", "statistics",
        "string", "datetime", "textwrap", "difflib", "fnmatch", "heapq", "bisect",
        "operator", "decimal", "fractions", "random", "unicodedata", "dataclasses",
        "typing", "ast", "keyword", "copy", "pprint", "enum",
    )


@dataclass(frozen=True)
class LlmRequest:
    """A sub-call asked for by model code. ``kind``: 'query' (one prompt), 'batch'
    (many prompts), 'rlm' (a child RLM over ``context``), 'record' (a batch whose
    replies are forced to the extraction record's JSON schema)."""

    kind: Literal["query", "batch", "rlm", "record"]
    prompts: tuple[str, ...]
    # for 'rlm': the text or the paths the child works on
    context_text: str | None = None
    context_paths: tuple[str, ...] = ()
    # True when the prompt carries text the worker read from the corpus (grounding)
    has_corpus_text: bool = False


@dataclass(frozen=True)
class LlmReply:
    answers: tuple[str, ...]
    error: str | None = None


@dataclass(frozen=True)
class SourceRef:
    """A location code actually read or searched: the basis of citations."""

    path: str
    line: int | None = None
    page: int | None = None
    how: Literal["search", "grep", "read", "context"] = "read"


@dataclass(frozen=True)
class CellResult:
    output: str  # printed output + echoed last expression, already cut to output_chars
    error: str | None  # traceback text (short), or a sandbox message
    answer: str | None  # set by FINAL/FINAL_VAR/answer in this cell
    answer_ready: bool
    sources: tuple[SourceRef, ...] = ()
    elapsed_s: float = 0.0
    killed: bool = False  # timeout, memory, Stop, crash
    kill_reason: str | None = None
    variables: tuple[str, ...] = ()
    corpus_seen: bool = False  # the cell printed/echoed text that came from the corpus
    facts: tuple[ToolFact, ...] = ()  # what its tally and ask_numbers reductions computed, as data


LlmCallback = Callable[[LlmRequest], LlmReply]


@dataclass
class SandboxStats:
    cells: int = 0
    killed: int = 0
    extra: dict[str, str] = field(default_factory=dict)
