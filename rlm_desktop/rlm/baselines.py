"""The two baselines the RLM is measured against, with the same models and budgets:

- ``direct``: the beginning of the corpus, cut to fit the window, and the question: one call.
- ``rag``: the top BM25 hits of the question, each read with some lines around it, fit to
  the window: one call.

They emit the same events as an RLM run (one root node, one turn) so the trace, the CLI
and the GUI treat them alike. Citations come from the lines given to the model that hold
the answer's key values."""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import TYPE_CHECKING, Protocol

from rlm_desktop.errors import BudgetExceeded, Cancelled, RlmDesktopError
from rlm_desktop.llm.backend import GenerationParams, Message
from rlm_desktop.rlm.citations import CellSources
from rlm_desktop.rlm.events import NodeFinished, NodeStarted, Notice, TurnFinished
from rlm_desktop.rlm.grounding import contains_value, key_values
from rlm_desktop.rlm.history import cut_to_tokens
from rlm_desktop.rlm.node import NodeOutcome
from rlm_desktop.rlm.sandbox.types import SourceRef

if TYPE_CHECKING:
    from rlm_desktop.library.store import Library
    from rlm_desktop.llm.backend import Backend, Completion
    from rlm_desktop.rlm.budget import Budget
    from rlm_desktop.rlm.events import Event


class Host(Protocol):
    """What a baseline uses of the run it is part of (``engine.Engine`` is one): its
    events, budget, library and model calls, so the baselines and the loop share them
    without importing each other."""

    run_id: str
    root_backend: Backend
    library: Library | None
    budget: Budget

    def emit(self, event: Event) -> None: ...
    def new_node_id(self) -> str: ...
    def served_notices(self) -> list[str]: ...
    def chat(self, backend: Backend, node_id: str, messages: Sequence[Message], params: GenerationParams) -> Completion: ...

ANSWER_MAX_TOKENS = 256
CONTEXT_LINES = 8  # read this many lines either side of a search hit
SEARCH_HITS = 12
SYSTEM = "Answer the question from the documents below only. Be brief. Cite the file (and line) the answer came from. If the documents do not say, say so."


def run(engine: Host, method: str, question: str, roots: tuple[str, ...], context_text: str | None) -> NodeOutcome:
    backend = engine.root_backend
    node_id = engine.new_node_id()
    started = time.monotonic()
    engine.emit(NodeStarted(engine.run_id, node_id, None, "root", backend.name, question, 0, time.time()))
    for line in engine.served_notices():
        engine.emit(Notice(engine.run_id, node_id, 0, line))
    overhead = backend.count_chat_tokens([Message("system", SYSTEM), Message("user", f"Documents:\n\nQuestion: {question}")])
    room = backend.n_ctx - ANSWER_MAX_TOKENS - overhead - 16
    prompt_tokens = completion_tokens = 0
    try:
        engine.budget.check_iteration(0)
        chunks = gather(engine.library, method, question, roots, context_text, room)
        documents = cut_to_tokens(backend, "\n\n".join(text for _, text in chunks), room, keep_tail=False)
        messages = [Message("system", SYSTEM), Message("user", f"Documents:\n{documents}\n\nQuestion: {question}")]
        engine.budget.iterations += 1
        completion = engine.chat(backend, node_id, messages, GenerationParams(max_tokens=ANSWER_MAX_TOKENS))
        prompt_tokens, completion_tokens = completion.prompt_tokens, completion.completion_tokens
        engine.emit(TurnFinished(engine.run_id, node_id, 1, completion.text, prompt_tokens, completion_tokens, completion.elapsed_s))
        answer = completion.text.strip()
        outcome = NodeOutcome("ok", answer, cells=_sources(answer, chunks, documents), saw_output=True)
    except Cancelled:
        outcome = NodeOutcome("cancelled", "")
    except BudgetExceeded as exc:
        outcome = NodeOutcome("budget_exhausted", "", budget=exc.budget)
    except RlmDesktopError as exc:
        outcome = NodeOutcome("error", "", error=str(exc))
    engine.emit(
        NodeFinished(engine.run_id, node_id, outcome.status, outcome.answer, prompt_tokens, completion_tokens,
                     time.monotonic() - started, outcome.error)
    )
    return outcome


def gather(library, method: str, question: str, roots: tuple[str, ...], context_text: str | None,
           room: int) -> list[tuple[SourceRef, str]]:
    """What ``method`` (rag or direct) puts in its prompt: (where a chunk starts, its text
    with a header) until about ``room`` tokens. ``bench retrieval`` measures it too."""
    if context_text is not None:
        return [(SourceRef("pasted text", 1), context_text[: room * 6])]
    if library is None:
        raise RlmDesktopError("there is nothing to ask about: add a folder or paste a text")
    char_room = room * 5  # generous: the exact cut happens after, with the tokenizer
    chunks: list[tuple[SourceRef, str]] = []
    used = 0
    if method == "direct":
        for record in library.files(roots=roots or None):
            text = library.text(record.path)
            chunks.append((SourceRef(record.path, 1, how="read"), f"### {record.path}\n{text}"))
            used += len(text)
            if used >= char_room:
                break
        return chunks
    result = library.search(question, k=SEARCH_HITS, roots=roots or None)
    for hit in result.hits:
        at = hit.page if hit.page is not None else hit.line
        if at is None:
            text, start = library.read(hit.path), 1
        else:
            start = max(1, at - CONTEXT_LINES) if hit.page is None else at
            end = at + CONTEXT_LINES if hit.page is None else at
            text = library.read(hit.path, start, end)
        label = f"{hit.path}#page={hit.page}" if hit.page is not None else f"{hit.path}:{start}"
        ref = SourceRef(hit.path, None if hit.page is not None else start, hit.page, how="search")
        chunks.append((ref, f"### {label}\n{text}"))
        used += len(text)
        if used >= char_room:
            break
    return chunks


def _sources(answer: str, chunks: list[tuple[SourceRef, str]], shown: str) -> list[CellSources]:
    """Refs to the lines the model was shown that hold the answer's key values."""
    values = key_values(answer)
    refs: list[SourceRef] = []
    for ref, text in chunks:
        body = text.split("\n", 1)[1] if "\n" in text else ""
        if body[:200] not in shown:
            continue  # cut off before the model saw it
        for offset, line in enumerate(body.splitlines()):
            if values and any(contains_value(line, v) for v in values):
                line_no = (ref.line or 1) + offset if ref.page is None else None
                refs.append(SourceRef(ref.path, line_no, ref.page, how=ref.how))
    return [CellSources(answer, tuple(refs))] if refs else []
