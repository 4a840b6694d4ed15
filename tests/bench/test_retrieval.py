"""``bench retrieval``: whether the engine's first move shows a question's answer."""

from __future__ import annotations

from rlm_desktop.bench.retrieval import measure, shows_answer
from rlm_desktop.bench.tasks.base import Corpus, Task
from rlm_desktop.settings import Settings

MANUAL = "\n".join([
    "Chapter 4. The network client",
    *[f"Line {i} says nothing about the subject." for i in range(40)],
    "Retry settings",
    "The client retries a failed request.",
    "By default it tries 7 times before it gives up.",
    *[f"Filler line {i}." for i in range(40)],
])
CORPUS = Corpus(id="tiny-manual", files=(("docs/client.txt", MANUAL), ("docs/other.txt", "Nothing here about retries.\n")))


def _task(question: str, expected, kind: str = "number") -> Task:
    return Task(id="t", family="lookup", question=question, expected=expected, kind=kind, corpus=CORPUS, size="1K",
                cite=("docs/client.txt",), part="dev")


def test_the_value_counts_as_shown_the_way_the_scorer_compares_it() -> None:
    assert shows_answer(_task("?", 7.0), "it tries seven times") and not shows_answer(_task("?", 7.0), "it tries 70 times")
    assert shows_answer(_task("?", "gives up", "text"), "... before it GIVES UP.")


def test_a_value_two_lines_below_the_hit_is_in_the_passages(tmp_path) -> None:
    seen, misses = measure([_task("How many times does the client retry a failed request?", 7.0)], tmp_path, Settings(), 5, 4, 4500)
    tally = seen["tiny-manual"]
    assert tally["questions"] == 1 and tally["passages file"] == 1 and tally["passages value"] == 1 and misses == []
    # with no lines around the hit, the first move does not show the value two lines
    # below it; the second move (the rarest words, with its own lines around) does
    seen, misses = measure([_task("How many times does the client retry a failed request?", 7.0)], tmp_path, Settings(), 5, 0, 4500)
    assert seen["tiny-manual"]["passages value"] == 0 and seen["tiny-manual"]["either value"] == 1 and misses == []
