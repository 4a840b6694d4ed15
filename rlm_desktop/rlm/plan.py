"""The plan of a question: one short call to the model whose reply is forced to a small
JSON schema (llama.cpp's grammar), before the loop. It says where the answer lies (one
place, reached through a first fact, or spread over every file) and what kind of answer is
wanted; with what the folder holds (code or documents) that picks the strategy, i.e. the
worked examples and tools the root is shown. No regular expression over the question's
words decides it (issue 19, item 1): "maximum" in a lookup ("What is the default maximum
...?") no longer sends it to a whole-folder figure map.

    plan = make_plan(question, folder, backend)   # folder: prompts.describe_corpus(...)
    plan.strategy  -> "lookup" | "multi_step" | "whole_folder_code" | "whole_folder_map" | "code_question"
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass

from rlm_desktop.errors import RlmDesktopError
from rlm_desktop.llm.backend import Backend, GenerationParams, Message, complete_json

log = logging.getLogger(__name__)

SCOPES = ("one place", "two steps", "every file")
ANSWERS = ("value", "name or phrase", "file or place", "list", "count", "total", "maximum or minimum", "comparison", "yes or no", "explanation")
FIGURE_ANSWERS = frozenset({"total", "maximum or minimum", "comparison"})

# "answer" comes first: the small planner states what is wanted before it judges where
# it lies (llama.cpp's schema grammar keeps the properties' order)
SCHEMA = {
    "type": "object",
    "properties": {
        "answer": {"enum": list(ANSWERS)},
        "scope": {"enum": list(SCOPES)},
    },
    "required": ["answer", "scope"],
}

SYSTEM = """You plan how to answer a question about a folder of files. Reply with JSON.
answer: the kind of answer wanted ("file or place" when the answer is which file, page or section).
scope: where the answer lies.
"one place": one passage of one file states it. Most questions are like this: a default, a limit or maximum of a setting, a date, a name, a version, which page, section or file explains, defines or configures something, how many items one list or section gives.
"two steps": a first fact names something, and a second fact about that thing is the answer.
"every file": the answer is built from many files: how many files or records say something, a total or the largest of amounts spread over many documents, who appears in all of them.
Words such as maximum, total, how many or all do not by themselves mean every file: ask whether one passage could state the answer."""

# generic content on purpose: nothing here mirrors a benchmark folder
_SHOTS = (
    ("The folder has 212 files (150 html, 62 text).", "What is the default page size of the print dialog?", "one place", "value"),
    ("The folder has 88 files (88 code).", "Which function reads the retry limit from the environment?", "one place", "name or phrase"),
    ("The folder has 40 files (30 pdf, 10 docx).", "What is the phone number of the person who signed the Delta permit?", "two steps", "value"),
    ("The folder has 120 files (120 text).", "How many reports mention a water leak?", "every file", "count"),
    ("The folder has 64 files (40 pdf, 24 text).", "What did we pay Orbit Cranes in total in 2023?", "every file", "total"),
    ("The folder has 31 files (31 markdown).", "Which people signed every one of the minutes?", "every file", "list"),
    ("The folder has 900 files (900 html).", "What is the largest value the timeout setting accepts?", "one place", "value"),
    ("The folder has 410 files (400 html, 10 text).", "How many arguments does the open function take?", "one place", "count"),
    ("The folder has 12 files (12 pdf).", "Which chapter explains how to print in colour?", "one place", "file or place"),
    ("The folder has 150 files (140 code, 10 markdown).", "Where is the log directory configured?", "one place", "file or place"),
)


@dataclass(frozen=True)
class Plan:
    scope: str
    answer: str
    code_folder: bool
    source: str = "model"  # model | default (the call failed)

    @property
    def strategy(self) -> str:
        if self.scope == "two steps":
            return "multi_step"
        if self.scope == "every file":
            return "whole_folder_map" if self.answer in FIGURE_ANSWERS else "whole_folder_code"
        return "code_question" if self.code_folder else "lookup"


def is_code_folder(kinds: dict[str, int]) -> bool:
    """Mostly source code: then a one-place question is a code question."""
    total = sum(kinds.values())
    return total > 0 and kinds.get("code", 0) >= total / 2


def make_plan(question: str, folder: str, backend: Backend, *, code_folder: bool = False) -> Plan:
    """One constrained call; a failed call plans a lookup (the run must go on)."""
    messages = [Message("system", SYSTEM)]
    for description, q, scope, answer in _SHOTS:
        messages += [Message("user", f"{description}\nQuestion: {q}"),
                     Message("assistant", json.dumps({"answer": answer, "scope": scope}))]
    messages.append(Message("user", f"{folder}\nQuestion: {question}"))
    try:
        reply = complete_json(backend, messages, SCHEMA, GenerationParams(max_tokens=32, temperature=0.0))
    except RlmDesktopError:
        log.exception("the plan call failed; planning a lookup")
        return Plan("one place", "value", code_folder, source="default")
    scope = reply.get("scope") if reply.get("scope") in SCOPES else "one place"
    answer = reply.get("answer") if reply.get("answer") in ANSWERS else "value"
    return Plan(scope, answer, code_folder)
