"""The engine's first move for a question whose answer stands in one or two places
(issue 19, item 2): the passages around the best hits of the question, shown as the
model's first turn, then one reading of them forced to a small JSON schema. The loop
(``loop.Loop._read_first``, ``_read_passages``) runs them; what they say and how a reply
is read back is here.

    if strategy.name in READING_STRATEGIES: ...          # lookup, multi_step, code_question
    params = GenerationParams(..., json_schema=READER_SCHEMA)
    answer = reader_answer(reply_text, shown_paths)      # "90 days (docs/lease.txt:4)" or None
"""

from __future__ import annotations

import json

# the strategies whose answer stands in one or two places: their first move is the engine's
READING_STRATEGIES = frozenset({"lookup", "multi_step", "code_question"})
READER_MAX_TOKENS = 96  # the constrained reading: found, answer, where

# under the passages: the 1.5B took a passage's topic line for the answer when the value
# stood on the line after it
PASSAGES_HINT = ("These are the passages around the best hits of the question's words. The answer is the value a line "
                 "states, which may be a line or two after the hit. If no line states it, search or grep for other words.")
# the constrained turn after the passages
READ_PASSAGES = ("Does a line of these passages state the answer to the question? Reply in JSON. found: true only if a line "
                 "states it. answer: the answer itself, short, as the line gives it. where: the file and line number, as file:line.")
READER_SCHEMA = {
    "type": "object",
    "properties": {
        "found": {"type": "boolean"},
        "answer": {"type": "string", "maxLength": 120},
        "where": {"type": "string", "maxLength": 160},
    },
    "required": ["found", "answer", "where"],
}


def reader_answer(reply: str, shown_paths: list[str]) -> str | None:
    """The answer of a reading turn as ``value (file:line)``, or None: not found, empty,
    not JSON, or citing a file the passages did not show."""
    try:
        data = json.loads(reply)
    except ValueError:
        return None
    if not isinstance(data, dict) or data.get("found") is not True:
        return None
    answer = " ".join(str(data.get("answer") or "").split())
    where = str(data.get("where") or "").strip().strip("()")
    if not answer:
        return None
    cited = where.split("#", 1)[0].rsplit(":", 1)[0] if where else ""
    if not cited or not any(p == cited or p.endswith("/" + cited) or cited.endswith(p) for p in shown_paths):
        return None
    return answer if where in answer else f"{answer} ({where})"
