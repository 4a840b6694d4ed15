"""Keep every model call inside the window, with exact counts from the model's tokenizer.

A node's history is: system, the question (with the corpus description), then pairs of
(assistant turn, user message with the REPL output). When it no longer fits, older outputs
are replaced by a visible marker first, then older turns are folded into one marker; the
system prompt, the question and the last turn always stay. Compaction removes several
turns at once (down to ``SLACK`` of the window) so the next turns keep a stable prefix
the backend can reuse from its KV cache."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from rlm_desktop.llm.backend import Message

ELIDED_OUTPUT = "[output of this earlier turn was removed to fit the window; re-run the code if you need it]"
ELIDED_TURNS = "[{n} earlier turns were removed to fit the window; variables you set are still defined]"
SLACK = 0.75


class Counter(Protocol):
    @property
    def n_ctx(self) -> int: ...

    def count_tokens(self, text: str) -> int: ...

    def count_chat_tokens(self, messages: Sequence[Message]) -> int: ...


def cut_marker(n: int) -> str:
    return f"[... cut {n} tokens to fit]"


def cut_to_tokens(counter: Counter, text: str, max_tokens: int, *, keep_tail: bool = True) -> str:
    """``text`` cut to at most ``max_tokens`` with a visible marker in the middle (or at the
    end when ``keep_tail`` is False). Never cuts silently."""
    total = counter.count_tokens(text)
    if total <= max_tokens:
        return text
    if max_tokens <= 8:
        return cut_marker(total)
    keep = int(len(text) * max_tokens / total * 0.95)
    while keep > 0:
        if keep_tail:
            head, tail = text[: keep * 2 // 3], text[len(text) - keep // 3 :]
        else:
            head, tail = text[:keep], ""
        kept_tokens = counter.count_tokens(head) + counter.count_tokens(tail)
        candidate = f"{head}\n{cut_marker(max(1, total - kept_tokens))}\n{tail}" if tail else f"{head}\n{cut_marker(max(1, total - kept_tokens))}"
        if counter.count_tokens(candidate) <= max_tokens:
            return candidate
        keep = int(keep * 0.85)
    return cut_marker(total)


def fit_messages(counter: Counter, messages: Sequence[Message], reserve: int, keep_head: int = 2) -> list[Message]:
    """``messages`` compacted so the prompt plus ``reserve`` generated tokens fit ``n_ctx``.
    The first ``keep_head`` messages (system, examples, question) are never removed."""
    limit = counter.n_ctx - reserve
    msgs = list(messages)
    if counter.count_chat_tokens(msgs) <= limit:
        return msgs
    target = int(limit * SLACK)
    head, body = msgs[:keep_head], msgs[keep_head:]
    keep_last = 2 if len(body) >= 2 else len(body)
    older, last = body[: len(body) - keep_last], body[len(body) - keep_last :]

    # 1. elide older outputs, oldest first
    for i, msg in enumerate(older):
        if counter.count_chat_tokens(head + older + last) <= target:
            break
        if msg.role == "user" and msg.content != ELIDED_OUTPUT:
            older[i] = Message("user", ELIDED_OUTPUT)
    # 2. drop whole older turns (assistant + output pairs); a marker on the question says so
    dropped = 0
    while older and counter.count_chat_tokens(_marked(head, dropped) + older + last) > target:
        older = older[2:]
        dropped += 1
    msgs = _marked(head, dropped) + older + last
    # 3. the last output itself is too long: cut it
    if counter.count_chat_tokens(msgs) > limit and last and last[-1].role == "user":
        over = counter.count_chat_tokens(msgs) - limit
        content = last[-1].content
        budget = max(16, counter.count_tokens(content) - over - 16)
        msgs[-1] = Message("user", cut_to_tokens(counter, content, budget))
    # 4. still too long (a huge question or turn): cut the longest message left
    guard = 0
    while counter.count_chat_tokens(msgs) > limit and guard < 4:
        guard += 1
        over = counter.count_chat_tokens(msgs) - limit
        i = max(range(1, len(msgs)), key=lambda j: len(msgs[j].content))  # never the system prompt
        content = msgs[i].content
        msgs[i] = Message(msgs[i].role, cut_to_tokens(counter, content, max(16, counter.count_tokens(content) - over - 16)))
    return msgs


def _marked(head: list[Message], dropped: int) -> list[Message]:
    if not dropped or not head:
        return list(head)
    question = head[-1]
    return [*head[:-1], Message(question.role, question.content + "\n\n" + ELIDED_TURNS.format(n=dropped))]
