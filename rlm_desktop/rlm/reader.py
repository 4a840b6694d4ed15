"""The engine's own moves for a question whose answer stands in one or two places
(issue 19, item 2): the passages around the best hits of the question, shown as the
model's first turn, then one reading of them: a call of its own (no worked examples to
copy) whose reply is forced to a small JSON schema, the line that states the answer and
the answer; when that finds nothing, the passages of the question's rarest words, read
the same way. The loop (``loop.NodeLoop._engine_move``, ``_read_passages``) runs them;
what they say and how a reply is read back is here.

    if strategy.name in READING_STRATEGIES: ...          # lookup, multi_step, code_question
    lines = passage_lines(result.facts)          # the lines the passages showed, as data (tools.facts)
    messages = [Message("system", READER_SYSTEM), Message("user", reading_prompt(question, result.output))]
    params = GenerationParams(..., json_schema=READER_SCHEMA)
    reading = reader_answer(reply_text, lines, question)     # None: not stated, or not where it says
    reading.cited                                            # "90 days (docs/lease.txt:4)"
"""

from __future__ import annotations

import difflib
import json
import re
from collections.abc import Sequence
from dataclasses import dataclass

from rlm_desktop.library.query import STOP_WORDS
from rlm_desktop.rlm.grounding import capitalized_runs, contains_value, key_values, unsupported_claim
from rlm_desktop.rlm.tools.facts import ToolFact

# a line the passages showed: (path, line in a text file or None, PDF page or None, text)
Line = tuple[str, int | None, int | None, str]

# the strategies whose answer stands in one or two places: their first move is the engine's
READING_STRATEGIES = frozenset({"lookup", "multi_step", "code_question"})

# the model's own turns after the engine's moves, for a one-place question: enough to
# search, read and answer. Then the run says what it searched and read, and that it found
# no answer. In four dev runs of the one-place families (97 runs, engines 42df8e0 to
# 064aebc), the answers given after the third model turn were 5 right and 9 wrong where
# the folder holds the answer, and 8 invented answers to absent questions; stopping there
# would have left 19 wrong of the 97 in place of 36, and 28 right in place of 25
# (counted from the stored rows; docs/benchmarks.md)
TURNS_AFTER_MOVES = 3
# under the passages: the 1.5B took a passage's topic line for the answer when the value
# stood on the line after it
PASSAGES_HINT = ("These are the passages around the best hits of the question's words. The answer is the value a line "
                 "states, which may be a line or two after the hit. If no line states it, search or grep for other words.")
# under the second move's passages (those of the question's rarest words)
SECOND_HINT = ("These are passages around the question's rarest words, none shown above. The answer is the value a line "
               "states. If no line states it, search or grep for other words.")
# the reading: a call of its own, with the passages and the question only. Asked as one
# more turn of the loop's chat, under the worked examples, the 1.5B said found: true in
# all 22 readings of a 24-question dev sample, and 10 of them gave a worked example's
# value and file ("30 June 2027", manuals/kettle.txt:12). The model copies the line that
# states the answer; the engine finds that line in the passages and cites it itself.
READER_SYSTEM = "You read passages from a person's files and answer their question from those passages only."
READER_SCHEMA = {
    "type": "object",
    "properties": {
        "line": {"type": "string", "maxLength": 300},
        "answer": {"type": "string", "maxLength": 120},
    },
    "required": ["line", "answer"],
}
READER_MAX_TOKENS = 160  # a copied line and a short answer
_NOT_WORD = re.compile(r"[\W_]+")
_SENTENCE_END = (".", "!", "?")
FUZZY_RATIO = 0.9  # a copied line with a word or two changed still locates
LONG_ANSWER_WORDS = 4  # an answer of this many words or more may reword its line ...
SHARED_WORDS = 0.8  # ... keeping this share of its words
# a reply that gives the line's number for the line ("542", "core.py:542"): the 1.5B did,
# with the right answer beside it (dev, click-src-02)
_LINE_NUMBER = re.compile(r"(?:\S+:)?(\d+)\|?")


def reading_prompt(question: str, listing: str) -> str:
    return (
        f"Passages:\n{listing}\n\nQuestion: {question}\n\n"
        "Reply in JSON. line: copy, word for word and without its number, the one line of the passages that "
        "states the answer; \"\" if no line states it. answer: the answer itself, short, as that line gives it; "
        "\"\" if no line states it."
    )


@dataclass(frozen=True)
class Reading:
    """A reading the engine could place: the answer, and the line of the passages its
    copied line is (the engine's citation, not the model's)."""

    answer: str
    path: str
    line: int | None  # a text file's line
    page: int | None  # a PDF page
    text: str  # that line as the passages show it

    @property
    def cited(self) -> str:
        where = f"{self.path}:{self.line}" if self.line is not None else f"{self.path}, page {self.page}"
        return self.answer if where in self.answer else f"{self.answer} ({where})"


def passage_lines(facts: Sequence[ToolFact]) -> list[Line]:
    """The lines the cell's last ``passages`` call showed, from its tool fact (the
    listing's printed text is for the model; the engine reads the fact)."""
    shown = [fact for fact in facts if fact.tool == "passages"]
    if not shown:
        return []
    return [(path, line or None, page or None, text) for path, line, page, text in shown[-1].lines]


def _norm(text: str) -> str:
    return " ".join(_NOT_WORD.sub(" ", text.replace("…", " ")).lower().split())


def locate(quote: str, lines: Sequence[Line]) -> Line | None:
    """The passages' line that ``quote`` copies: the line holding it (cases, spaces and
    punctuation aside), or two neighbouring lines that do when it runs over a break, or
    a line it matches closely; None when no line of the passages reads like it."""
    want = _norm(quote)
    if not want:
        return None
    for entry in lines:
        if want in _norm(entry[3]):
            return entry
    for first, second in zip(lines, lines[1:], strict=False):
        if first[0] == second[0] and want in _norm(f"{first[3]} {second[3]}"):
            return first
    best, ratio = None, FUZZY_RATIO
    for entry in lines:
        r = difflib.SequenceMatcher(None, want, _norm(entry[3])).ratio()
        if r >= ratio:
            best, ratio = entry, r
    return best


def _file_names(path: str) -> set[str]:
    """What names the file at ``path``, normalized: its trailing paths ("lib/command.js",
    "command.js") and its name without the extension ("command")."""
    parts = path.split("/")
    names = {_norm("/".join(parts[i:])) for i in range(len(parts))}
    names.add(_norm(parts[-1].rsplit(".", 1)[0]))
    return names - {""}


def _holds(answer: str, path: str, text: str, question: str) -> bool:
    """Whether a line (with its file's name) states ``answer``: nothing of the answer
    that the line lacks, and either all the answer's values, or the answer itself as a
    phrase (cases and punctuation aside) in the line, or the file's name (a file answer:
    ``_file_names``), or, for a long answer, most of its words. One shared word was not enough:
    "NO_COLOR" was taken from a line "color: bool = False", and "rst" from a line of a
    .rst file that does not say it (dev readings)."""
    where = f"{path}\n{text}"
    if unsupported_claim(answer, where, question):
        return False
    values = key_values(answer)
    if values and all(contains_value(where, v) for v in values):
        return True
    said = _norm(answer)
    if said and (f" {said} " in f" {_norm(text)} " or said in _file_names(path)):
        return True
    # a long answer may reword its line: most of its words must be there
    words = [w for w in said.split() if len(w) > 2 and w not in STOP_WORDS]
    seen = set(_norm(where).split())
    return len(words) >= LONG_ANSWER_WORDS and sum(w in seen for w in words) >= SHARED_WORDS * len(words)


_EDGE = "\"'`()[]{},;:?!."
# a mark is an identifier, not code: "program.version('1.2.3')" is an example call, and
# its "1.2.3" need not stand in the file that answers (dev, commander-src-01)
_PLAIN = re.compile(r"[\w./-]+")


def question_marks(question: str) -> list[str]:
    """What singles out the question's subject among its kind: the tokens with a digit
    (an invoice number, a year, a version: "INV-2021-014", "2022", "3.11") and the names
    of two or more capitalized words ("Pinecrest Veterinary"), a question word before a
    name aside. A line about another invoice, year or client does not answer it."""
    marks = [token for token in (raw.strip(_EDGE) for raw in question.split())
             if len(token) >= 3 and any(ch.isdigit() for ch in token) and _PLAIN.fullmatch(token)]
    for _, _, words in capitalized_runs(question):
        if len(words) >= 2 and not any(ch.isdigit() for ch in " ".join(words)):
            marks.append(" ".join(words))
    return marks


def marks_elsewhere(question: str, path: str, lines: Sequence[Line]) -> list[str]:
    """The question's marks (``question_marks``) that neither ``path`` nor any line the
    passages showed of that file holds: the line cited is about another subject."""
    shown = f" {_norm(' '.join([path, *(text for p, _, _, text in lines if p == path)]))} "
    return [m for m in question_marks(question) if f" {_norm(m)} " not in shown]


def _located(quote: str, answer: str, lines: Sequence[Line], question: str) -> Line | None:
    """The line ``quote`` names, and that holds the answer: by its number, the one of the
    lines with that number (one per passage) that does; else ``locate``'s line, or the
    line after it when its sentence runs on there and that line holds the answer (a
    wrapped docstring: "This defaults" / "to `.txt` but ...", dev click-src-01)."""
    number = _LINE_NUMBER.fullmatch(quote.strip())
    if number:
        at = int(number.group(1))
        return next((entry for entry in lines
                     if entry[1] == at and _holds(answer, entry[0], entry[3], question)), None)
    found = locate(quote, lines)
    if found is None:
        return None
    if _holds(answer, found[0], found[3], question):
        return found
    after = _line_after(found, lines)
    if after is not None and not found[3].rstrip().endswith(_SENTENCE_END) and _holds(answer, after[0], after[3], question):
        return after
    return None


def _line_after(entry: Line, lines: Sequence[Line]) -> Line | None:
    """The line the passages show right after ``entry`` in its file (or on its page)."""
    at = lines.index(entry)
    if at + 1 >= len(lines):
        return None
    nxt = lines[at + 1]
    same = nxt[0] == entry[0] and nxt[2] == entry[2] and (entry[1] is None or nxt[1] == entry[1] + 1)
    return nxt if same else None


def reader_answer(reply: str, lines: Sequence[Line], question: str) -> Reading | None:
    """The reading of a reply, or None: no line copied or no answer ("not stated"), not
    JSON, a line the passages do not show, an answer that line (with its file's name)
    does not hold, or a line in a file whose name and shown lines lack one of the
    question's marks (``marks_elsewhere``: its number, year or name)."""
    try:
        data = json.loads(reply)
    except ValueError:
        return None
    if not isinstance(data, dict):
        return None
    answer = " ".join(str(data.get("answer") or "").split())
    quote = str(data.get("line") or "")
    if not answer or not quote.strip():
        return None
    found = _located(quote, answer, lines, question)
    if found is None:
        return None
    path, line, page, text = found
    if marks_elsewhere(question, path, lines):
        return None  # a line about another invoice, year or client than the question's
    return Reading(answer, path, line, page, text)
