"""What the model reads: the system prompt, worked examples and the engine's nudges.

Written for Qwen2.5-Coder 0.5B/1.5B. Short on purpose: the 1.5B evaluates about 33 prompt
tokens/s on a 2-core CPU, so every 100 tokens here cost 3 s on a cold cache. The system
prompt and the examples never change between runs (the corpus description goes into the
question message), so a backend can reuse their KV state across questions.

Small models copy the shape of the last worked example (see DESIGN.md), so the example
nearest the question's kind is placed last: a whole-folder question (how many, list all,
total) ends on the counting example, anything else on the lookup example."""

from __future__ import annotations

import itertools
import re

from rlm_desktop.library.types import CorpusStats
from rlm_desktop.llm.backend import Message
from rlm_desktop.rlm.grounding import HIT
from rlm_desktop.rlm.strategy import Strategy
from rlm_desktop.rlm.tools.corpus import as_source

SYSTEM = """You answer questions about a folder of files. You cannot see the files: you look at them by writing Python code. Each turn, write one ```python block. I run it and show you its output.

In the code you can use:
- passages(query, k=5): the best matching places, each read with the lines around it
- search(query, k=10): the best matching lines as path:line: text, and how many files match
- grep(pattern): regex matches as path:line: text, and how many there are
- read(path, start, end): lines start..end of a file
- files: all files; each f has f.path and f.text
- llm_query(prompt): ask a helper model about text you put in the prompt (it knows nothing else)
- llm_batch(prompts): many llm_query at once, returns a list
- tally(pattern): count the value the regex group captures, once per file, over all files
- ask_numbers(question, files): the figure each file gives, checked; .total(), .max(), .min()
- FINAL(answer): your final answer, with the file:line it came from

Rules: look first (passages or search), then read around what you found. To count or list over many files, loop over files in code. Answer only from output you have seen, never guess. The files are the only source: do not import other modules (re, collections, math and json are already imported)."""

_LOOKUP = (
    "Question: What is the launch date of Project Falcon?",
    "```python\nsearch('Project Falcon launch date')\n```",
    "Output:\nsearch('Project Falcon launch date'): showing 2 of 2 matching files:\n"
    "notes/plan.txt:14: … budget review. [Project] [Falcon] will [launch] on 3 May 2025. The team meets …\n"
    "notes/team.txt:3: … the [Falcon] team: Ana, Raj …",
    "```python\nFINAL('Project Falcon will launch on 3 May 2025 (notes/plan.txt:14)')\n```",
)

_COUNT = (
    "Question: How many files mention a recall?",
    "```python\nhits = [f.path for f in files if 'recall' in f.text.lower()]\nprint(len(hits), hits[:5])\n```",
    "Output:\n7 ['a/jan.txt', 'a/feb.txt', 'b/x.md', 'b/y.md', 'c/z.txt']",
    "```python\nFINAL(f'{len(hits)} files mention a recall, e.g. {hits[0]}')\n```",
)

_WHOLE_FOLDER = re.compile(
    r"\bhow many\b|\bcount\b|\bnumber of\b|\btotal\b|\bsum\b|\bevery\b|\beach\b|\ball (the )?files\b|\blist (all|every)\b|\bwhich files\b|\baverage\b|\bmaximum\b|\bminimum\b",
    re.IGNORECASE,
)

NO_CODE = "Write one ```python block. Start with search('...') to find where the answer is, or call FINAL(answer) in code when the output already answers the question."
NO_OUTPUT_YET = "You have not seen any output from the files yet, so that answer is a guess. First look: search('...') for the words of the question, then answer from what you see."
REPEATED = "You ran the same code again; it will give the same output. Do something different: {step}, search for a name or number the output shows, or answer with FINAL(...) if the output above answers the question."


def _stems(text: str) -> set[str]:
    """The words of more than three letters, by their first five (managed / manager):
    how a listing line is matched to the question."""
    return {w.lower()[:5] for w in re.findall(r"\w+", text) if len(w) > 3}


PASTED = "That cell is the output above pasted back, not code. {where}If the output answers the question, write FINAL in a ```python block with the answer itself and its file:line; otherwise write new code."


def best_hit(output: str, question: str, stating: bool = False) -> re.Match[str] | None:
    """The ``path:line: text`` line of an output that fits the question best: most of the
    question's words, and above all the ``def`` of a name it quotes (a function before a
    method); the first of the best on a tie. ``stating``: only lines that state a number.
    None when the output lists no such line."""
    hits = [m for m in HIT.finditer(output or "") if not stating or re.search(r"\d", m["text"])]
    if not hits:
        return None
    stems = _stems(question)
    names = re.findall(r"`(\w+)`", question)

    def fit(m: re.Match[str]) -> int:
        text = m["text"]
        points = len(stems & _stems(text))
        defines = sum(5 for name in names if re.search(rf"\bdef {re.escape(name)}\(", text))
        return points + defines + (1 if defines and m["scope"] is None else 0)

    return max(hits, key=fit)


def _quoted(hit: re.Match[str], width: int = 160) -> str:
    """A listing line's text as a nudge quotes it, cut at ``width`` characters."""
    text = hit["text"].strip()
    return text if len(text) <= width else text[:width] + " …"


def pasted_output(last_output: str, question: str = "") -> str:
    """The nudge for a cell that is the last output pasted back, pointing at the output's
    line that best fits the question: the first line was a docstring mention of fill(),
    the answer was "def fill(text, width=70, **kwargs)" four lines below."""
    best = best_hit(last_output, question)
    return PASTED.format(where=f"The line {best.group(1)}:{best.group(2)} in the output is what you found. " if best else "")


_NAME = re.compile(r"\b[A-Z][a-z]+(?:[ -][A-Z][a-z]+)+\b")
_MARKED = re.compile(r"\[([^\]]+)\]")
BRIDGE_HITS = 3


def bridge(question: str, output: str) -> str | None:
    """The name a two-step question goes through, when the last output shows it: among the
    first hits, the sentence that matched best (most [marked] words from search, else most
    words of the question), and in it a capitalized name the question does not contain
    ("... codenamed Marigold is led by Yusuf Demir" gives "Yusuf Demir"). Else None."""
    lines = [m["text"] for m in list(HIT.finditer(output or ""))[:BRIDGE_HITS]]
    if not lines:
        return None
    asked = {w.lower() for w in re.findall(r"\w+", question) if len(w) > 3}
    stems = _stems(question)

    def score(sentence: str) -> float:
        # the question's words the sentence has (by their first five letters: managed /
        # manager), then search's [marked] words: search marks a word once per hit, so
        # "The vesper [filing] [cabinet] belongs to Olga Petrova. The [saffron] filing
        # cabinet belongs to Rosa Jimenez." must not pick Olga Petrova for "saffron"
        return len(_stems(sentence) & stems) + 0.1 * len(_MARKED.findall(sentence))

    sentences = [s for line in lines for s in re.split(r"(?<=[.!?])\s+", line)]
    best = max(sentences, key=score)
    if not score(best):
        return None
    for name in _NAME.findall(_MARKED.sub(r"\1", best)):
        words = name.replace("-", " ").split()
        if words[0] in ("The", "A", "An", "In", "On", "At"):
            words = words[1:]
        if words and not all(w.lower() in asked for w in words):
            return " ".join(words) if len(words) > 1 else None
    return None


BRIDGE = "The first fact names {name}: search for {name} next to find the answer."


_ABSENT = re.compile(r"No file contains ('[^;]+?')(?:;|$)", re.MULTILINE)
REPEATED_ABSENT = "You ran the same code again; it will give the same output. The output says no file contains {words}: if the question is about that, the answer is not in the folder. Answer FINAL('Not found: no file mentions ... (searched for ...)'), or search other words."


# the "(searched for ...)" is filled in: left open, the 1.5B wrote "the hits were about
# the guava and the quince" there, and an answer naming other things' values is wrong
ABSENT_SUBJECT = "A search said no file contains {word!r}, and the question is about {word}: an answer from other lines is about something else. If no file mentions {word}, answer FINAL('Not found: no file mentions {word} (searched for {searched})')."
ABSENT_AGAIN = "Again: a search said no file contains {word!r}, so no line you saw answers a question about {word}. Write FINAL('Not found: no file mentions {word} (searched for {searched})')."
_SEARCHED = re.compile(r"""^search\((['"])(.+?)\1\): (?:no matching files\. )?No file contains""", re.MULTILINE)


def searched_for(outputs: str, word: str) -> str:
    """The query of the last search whose output said no file contains ``word``."""
    queries = [m.group(2) for m in _SEARCHED.finditer(outputs) if word.lower() in m.group(2).lower()]
    query = queries[-1] if queries else word
    return '"' + query.replace('"', "").replace("'", "") + '"'  # inside FINAL('...'): no single quotes


def absent_words(output: str) -> list[str]:
    """The words an output's search said no file contains."""
    return [w for m in _ABSENT.finditer(output or "") for w in re.findall(r"'([^']+)'", m.group(1))]


def absent_subject(question: str, absent: set[str], seen: str = "") -> str | None:
    """A word of the question that a search said no file contains and that picks out what
    is asked: a name (capitalized, not the question's first word), or a word just before
    a noun that the outputs ``seen`` show with another word in its place ("the olive
    locker" asked, "the ochre locker" and "the coral locker" shown). A common word like
    "leader" is often written another way ("led by"): its absence alone says nothing."""
    for m in re.finditer(r"\b[A-Z][\w-]*", question):
        if m.start() > 0 and m.group() in absent:
            return m.group()
    words = re.findall(r"[\w-]+", question)
    for word, noun in itertools.pairwise(words):
        if word in absent and len(noun) > 3 and noun.lower() not in _STOPWORDS:
            others = {w.lower() for w in re.findall(rf"\b([\w-]+)\]? \[?{re.escape(noun)}\b", seen, re.IGNORECASE)}
            if others - {word.lower(), "the", "a", "an", "this", "that"}:
                return word
    return None


_STOPWORDS = frozenset("of for from with about into that this what which where when whose".split())


def repeated(last_output: str, question: str = "") -> str:
    """The nudge for a repeated cell, with a concrete next step: when a search said that no
    file contains a word, that the answer may be "not found"; else the output's line that
    fits the question best, quoted, and reading around it (a hit's sentence often goes on
    in the next line). The 1.5B re-ran grep(r'def do_longs...') twelve times with the def
    line in its output, sent to read around the first hit."""
    absent = _ABSENT.search(last_output or "")
    if absent is not None:
        return REPEATED_ABSENT.format(words=absent.group(1))
    m = best_hit(last_output, question)
    if m is None:
        return REPEATED.format(step="read(path, start, end) around a hit")
    line = int(m.group(2))
    return REPEATED.format(step=f"the output's line {m.group(1)}:{line} says {_quoted(m)!r}; if that answers the question, "
                                f"write FINAL with it; else read('{m.group(1)}', {max(1, line - 2)}, {line + 3}) for the lines around it")

def passages_instead(output: str, question: str) -> str:
    """What the model reads after a repeated cell: the passages the engine read instead."""
    return (f"That cell repeats an earlier one, so it was not run again. Here are the lines around its matches "
            f"instead:\n{output}\n\nThe question: {question}\nIf these lines answer it, answer now: write "
            "FINAL('<the answer itself> (<file>:<line>)') in a ```python block. If they do not, search for other words.")


def borrowed(literals: list[str]) -> str:
    """Under the output of a cell that used a worked example's strings."""
    names = ", ".join(as_source(x) for x in literals[:3])
    return (f"{names} {'is' if len(literals) == 1 else 'are'} from the worked examples, not from this folder: "
            "use the words of the question and of the outputs above.")


ECHOES_QUESTION = "Your answer only repeats the words of the question; it does not say what the answer is. Find the line that states it (it may be the line after the one that matches best) and write FINAL('<the value itself> (<file>:<line>)'), or say that it is not found."
PLACEHOLDER = "Your answer is the template, not an answer: write FINAL with the real value you found and its file:line."
ONLY_LOCATION = "Your answer is only where the answer is, not the answer. Read that line in the output above and write FINAL('<the value itself> (<file>:<line>)') in a ```python block."
WRONG_TOTAL = "The question asks for a total, but your answer's number is not the sum of the files' values (it is one file's value from .max() or .min(), or a count of files from .above() or .below()).{printed} Answer with the total."
WRONG_EXTREME = "The question asks for the largest or smallest value, but your answer's number is not one file's value (it is a total of many files, or a count of files from .above() or .below()).{printed} Answer with that value and its file."
# the rest of the answer was shown: the 1.5B decorated a right total with invented per-file
# figures, was sent to "find it in the files", and wandered off to another answer
UNGROUNDED_PART = "Your answer has {values}, which is in no output you have seen, but its {shown} is in the output. Answer again with only what the output shows: {shown} and where it comes from."
# the 1.5B listed an invented figure for each of 60 files after a right total, ran into
# the token limit mid-string, and never wrote FINAL again
FINAL_CUT = "Your FINAL(...) was cut off: it was too long to write in one turn. Write it again in one short line: the answer and where it comes from, no list of every file."
# dev set, lookup: the only hit of the search was the ochre locker's code, and the 1.5B
# gave it as the amber locker's
OTHER_SUBJECT = "The line your answer comes from is about the {shown}, but the question asks about the {asked}. Search for {asked!r} (or grep for it); answer from a line about the {asked}, or say that no file mentions it."
# dev set, multi-step: search('Obsidian leader room') showed room lines only, and the 1.5B
# answered with the room of someone no line tied to Obsidian
UNSEEN_NAME = "No output so far mentions {name}, and the question is about it: an answer from these lines is a guess. Search for {name!r} alone first, then answer from a line about {name}."
UNSEEN_AGAIN = "Still no output shows {name}. If searching for it finds only other things, no file mentions it: write FINAL('Not found: no file mentions {name} (searched for \"{name}\")'). Otherwise search other words for {name}."
# dev set, code: "def insort_left(a, x, lo=0, hi=None, ...)" shown, 0 answered for hi
WRONG_DEFAULT = "The question asks for the default of {param}, and the def line in the output says {param}={value}. Answer with {value} and the file:line."
ZERO_FROM_EMPTY = "Your pattern matched no file at all, so its 0 says nothing: the files say it another way (see the lines shown under it). Count the files that mention it instead, e.g. hits = [f.path for f in files if 'some name' in f.text.lower()]; print(len(hits), hits)."
# dev set seed 1, count: "matched in 29 of 200 files ... 171 files have no match", answered 171
TALLY_UNMATCHED = "Your count is the number of files the tally did NOT match. It matched {matched} files (the rows above). If the pattern catches every way the files say it, that is the count; else tally again with the other phrasings shown under it."
# dev set seed 1, count: "6 distinct values" listed, "70 files" (the first row) answered
TALLY_DISTINCT = "The question asks how many different values there are, not how many files have one: the tally above lists {distinct} distinct values ({values}). Leave out any row that is not what the question asks about, and answer with the number of rows left and their names, e.g. FINAL('{distinct}: {values}')."
# dev set seed 1, code: "filter, fnmatch, translate" from the __all__ line for fnmatchcase's callers
WRONG_CALLERS = "The output's lines that call {name} are inside {callers}: those functions are its callers (a name in __all__, an import or a docstring is not a call). Answer with their names and file:lines, e.g. FINAL('{first} ({where})')."
# dev set seed 1, numeric: "The branch that sold the most units in March: 2893 (reports/mainz.txt:2)"
UNNAMED_CHOICE = "The question asks which {thing}, and your answer does not name it: it gives a number and a file. Say which {thing} it is by its name (the file's first lines usually say it: read(path, 1, 3)), with the file:line."
# dev set, code: "def _glob2(dirname, pattern, dir_fd, dironly, include_hidden=False)", answered "pattern"
MISSING_PARAMETERS = "The def line of {name} in the output lists its parameters: {params}. Answer with all of them and the file:line."
# dev set, code: told its file answer was only a location, the 1.5B gave the example's
FROM_EXAMPLE = "Your answer, {values}, is from the worked example, not from this folder: no output you have seen has it. Answer from the output above (its file and line), or look further."


def from_example(values: list[str], outputs: list[str], question: str) -> str:
    """The nudge for an answer made of the worked example's values, quoting the line with a
    number that fits the question best in the latest output that has one: told only to
    answer from the output, the 1.5B sent the example's "4471" three times with "Marta
    Kowalska works in room 930" in its last search's hits (the first search's "Yusuf
    Demir works in room 723" fits the question's words as well: the latest output is the
    step the model is on)."""
    nudge = FROM_EXAMPLE.format(values=", ".join(repr(v) for v in values[:3]))
    m = next((hit for output in reversed(outputs) if (hit := best_hit(output, question, stating=True)) is not None), None)
    if m is None:
        return nudge
    return nudge + f" The line {m.group(1)}:{m.group(2)} says {_quoted(m)!r}: if that answers the question, answer with its value and file:line."
# the 1.5B tallied "Maria Lopez: 32 files / Tom Becker: 26 files" and answered Tom Becker
NOT_THE_TOP = "The question asks for the most, and the tally lists {value} first ({n} files); your answer names a value lower in the list. Answer with {value} and its count."



UNGROUNDED = "Your answer has {values}, which is in no output you have seen. Find it in the files first (search, grep or read), then answer with what the output shows."
KILLED = "The cell was stopped ({reason}) and the REPL restarted: variables you set before are gone. Do less per cell."
TOO_MANY_SUB_CALLS = (
    "not run: {asked} sub-calls asked for at once, and only {left} are left in this run's budget. "
    "Narrow the files first (search or grep for the question's words, or a test on f.path or f.text), "
    "or take a sample of at most {left} and say in the answer that it covers only those files."
)
FORCE_ANSWER = "No more turns: the {budget} budget is used up. Answer now from what you have seen: write FINAL(answer) with the file:line, and nothing else."
NEXT = "If this answers the question, write FINAL in code with the answer itself and the file:line it came from. Otherwise write more code."
EMPTY_OUTPUT = "(nothing was printed: print() what you want to see, or end the cell with an expression)"

_ERROR_HINTS = {
    "ModuleNotFoundError": "Imports other than re, math, json, collections and the like are blocked, and the folder's files are the only source: use files, search, grep, read.",
    "ImportError": "Imports other than re, math, json, collections and the like are blocked, and the folder's files are the only source: use files, search, grep, read.",
    "NameError": "Use only the names you were given: files, search, grep, read, llm_query, llm_batch, FINAL, and variables you set.",
    "FileNotFoundError": "Use paths exactly as search or files show them.",
}


def same_error(error: str) -> str:
    kind = error.strip().splitlines()[-1] if error.strip() else "error"
    hint = _ERROR_HINTS.get(kind.split(":", 1)[0].strip(), "Don't run this code again; try a smaller, different step.")
    return f"The same error happened twice ({kind}). {hint}"


def is_whole_folder(question: str) -> bool:
    return bool(_WHOLE_FOLDER.search(question))


def examples_for(question: str) -> list[Message]:
    """Worked examples as earlier chat turns; the one nearest the question goes last."""
    order = (_LOOKUP, _COUNT) if is_whole_folder(question) else (_COUNT, _LOOKUP)
    messages: list[Message] = []
    for q, code, output, final in order:
        messages += [Message("user", q), Message("assistant", code), Message("user", output), Message("assistant", final)]
    return messages


def describe_corpus(stats: CorpusStats | None, context_text: str | None = None, tokens: int | None = None) -> str:
    if context_text is not None:
        approx = tokens if tokens is not None else len(context_text) // 4
        return (
            f"The input is one pasted text of {len(context_text):,} characters, about {approx:,} tokens: the string "
            "context (files holds it as one file, so search and grep work). Do not print all of it."
        )
    assert stats is not None
    kinds = ", ".join(f"{n} {kind}" for kind, n in sorted(stats.kinds.items(), key=lambda kv: -kv[1])) or "no readable"
    too_big = " Far too much to print: search first." if stats.tokens > 2000 else ""
    return f"The folder has {stats.files:,} files ({kinds}): {stats.chars:,} characters, about {stats.tokens:,} tokens.{too_big}"


def opening(question: str, description: str, strategy: Strategy | None = None) -> list[Message]:
    """The messages before the first turn: system, examples, then the real question.

    With a ``strategy`` its worked examples replace the fixed ones and its hint goes into
    the question message; the system message stays byte-identical either way, so its KV
    state is reused across runs. ``None`` is the fixed examples (the 'strategy' ablation)."""
    if strategy is None:
        return [
            Message("system", SYSTEM),
            *examples_for(question),
            Message("user", f"{description}\nQuestion: {question}"),
        ]
    return [
        Message("system", SYSTEM),
        *strategy.example_messages,
        Message("user", f"{description}\nHint: {strategy.hints}\nQuestion: {question}"),
    ]


def output_message(output: str, error: str | None, extra: str = "") -> str:
    parts = ["Output:", output.rstrip() if output.strip() else EMPTY_OUTPUT]
    if error:
        parts += ["Error:", error.strip()]
    if extra:
        parts.append(extra)
    parts.append(NEXT)
    return "\n".join(parts)


def sub_call_prompt(question: str, text: str) -> str:
    """``rlm_query`` at the depth limit becomes one plain call over the text."""
    return f"{text}\n\nAnswer from the text above only. If it is not there, say so.\nQuestion: {question}"
