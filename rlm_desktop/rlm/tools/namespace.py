"""The names model code sees in the REPL (inside the worker) and the per-cell record of
what it touched: sources for citations, corpus text for grounding, the answer."""

from __future__ import annotations

import builtins
import functools
import inspect
import re
from collections import OrderedDict
from collections.abc import Callable, Sequence
from typing import Any

from rlm_desktop.library.extract import PAGE_BREAK
from rlm_desktop.rlm.tools import values
from rlm_desktop.rlm.tools.corpus import (
    TEXT_PATH,
    Backend,
    Corpus,
    File,
    GrepResults,
    Hit,
    Match,
    SearchResults,
    number_lines,
    resolve_path,
    strip_prefixes,
)
from rlm_desktop.rlm.tools.extract import Records, parse_record, record_prompt
from rlm_desktop.rlm.tools.facts import ToolFact, figure_fact, grep_fact, passages_fact, tally_fact
from rlm_desktop.rlm.tools.passages import (
    AROUND,
    PASSAGE_HITS,
    TOTAL_CHARS,
    Passages,
    Shown,
    find_passages,
    rarest_words,
    shown_of,
)
from rlm_desktop.rlm.tools.rows import Figure, Numbers, Row
from rlm_desktop.rlm.tools.tally import Tally, keep_capitals
from rlm_desktop.rlm.tools.tally import tally as tally_files

MIN_FRAGMENT = 12  # corpus lines shorter than this are not used as grounding evidence
_KEY = 80
_MAX_KEYS = 200_000
_MAX_SOURCES = 300
MAX_FACTS = 100  # a cell's tool facts sent (the latest)
_SCAN_RECENT = 3_000
ASK_EACH_MAX_CHARS = 12_000
MAX_ANSWER_CHARS = 200_000
_EXCERPT_NOTE = "\n[... only the sentences that share words with the question]"

API_NAMES = (
    "context", "files", "search", "passages", "rarest_words", "grep", "read", "llm_query", "llm_batch", "ask_each",
    "ask_numbers", "extract", "rlm_query", "tally", "SHOW_VARS", "FINAL", "FINAL_VAR",
)


class LlmError(RuntimeError):
    """A sub-call failed (budget used up, model error); the message says why."""


class CorpusMemory:
    """Remembers (bounded) the lines of corpus text handed to user code in this session,
    to tell whether an output or a sub-call prompt carries text from the files."""

    def __init__(self) -> None:
        self._keys: OrderedDict[str, None] = OrderedDict()

    def add(self, text: str) -> None:
        for line in text.split("\n"):
            key = strip_prefixes(line)[:_KEY]
            if len(key) >= MIN_FRAGMENT:
                self._keys[key] = None
                self._keys.move_to_end(key)
        while len(self._keys) > _MAX_KEYS:
            self._keys.popitem(last=False)

    def __bool__(self) -> bool:
        return bool(self._keys)

    def found_in(self, text: str) -> bool:
        if not self._keys or not text:
            return False
        for line in text.split("\n"):
            if strip_prefixes(line)[:_KEY] in self._keys:
                return True
        if len(text) <= 256_000:  # text quoted mid-line: look for recent fragments in it
            for i, key in enumerate(reversed(self._keys)):
                if i >= _SCAN_RECENT:
                    break
                if key in text:
                    return True
        return False


def _naming_its_arguments(name: str, fn: Callable[..., Any]) -> Callable[..., Any]:
    """``fn`` whose wrong arguments raise a TypeError that shows the tool's own: the 1.5B
    called search(q, around=8, chars=6000), the arguments of the passages cell above it,
    and read "Repl.search() got an unexpected keyword argument 'around'" twice (dev)."""
    plain = inspect.signature(fn)
    plain = plain.replace(parameters=[p.replace(annotation=inspect.Parameter.empty) for p in plain.parameters.values()],
                          return_annotation=inspect.Signature.empty)

    @functools.wraps(fn)
    def call(*args: Any, **kwargs: Any) -> Any:
        try:
            plain.bind(*args, **kwargs)
        except TypeError as exc:
            raise TypeError(f"{name}{plain}: {exc}") from None
        return fn(*args, **kwargs)

    # the same object behind it as the bound method had: the sandbox's red-team tests
    # reach the Repl this way, and a wrapper must not change what model code can reach
    call.__self__ = getattr(fn, "__self__", None)  # type: ignore[attr-defined]
    return call


class CellRecord:
    """What one cell did: sources read, whether corpus text was handed out, the answer."""

    def __init__(self) -> None:
        self.sources: dict[tuple[str, int | None, int | None, str], None] = {}
        self.answer: str | None = None
        self.answer_ready = False
        self.answer_set = False
        self.facts: list[ToolFact] = []

    def source_list(self) -> list[dict[str, Any]]:
        return [{"path": p, "line": ln, "page": pg, "how": how} for (p, ln, pg, how) in self.sources]

    def fact_list(self) -> list[dict[str, Any]]:
        return [fact.to_wire() for fact in self.facts[-MAX_FACTS:]]


class Repl:
    """Holds the namespace and builds the API functions. ``request_llm(kind, prompts,
    context_text, context_paths, has_corpus_text) -> list[str]`` asks the engine."""

    def __init__(
        self,
        backend: Backend | None,
        context_text: str | None,
        request_llm: Callable[[str, list[str], str | None, list[str], bool], list[str]],
        safe_import: Callable[..., Any],
        check_values: bool = True,
    ) -> None:
        self.memory = CorpusMemory()
        self.check_values = check_values  # False only in the 'check_values' ablation: parse, no checks
        self.cell = CellRecord()
        self._request_llm = request_llm
        self.corpus = Corpus(backend, self) if backend is not None else None
        self._passages_shown: list[Shown] = []  # what passages() showed in this run (new_only)
        corpus = self.corpus
        safe_builtins = dict(builtins.__dict__)
        safe_builtins["__import__"] = safe_import
        for name in ("exit", "quit", "help", "breakpoint", "input", "copyright", "credits", "license"):
            safe_builtins.pop(name, None)
        self.namespace: dict[str, Any] = {"__builtins__": safe_builtins, "__name__": "__main__"}
        if context_text is not None:
            self.memory.add(context_text)
            self.namespace["context"] = context_text
        else:
            self.namespace["context"] = corpus
        self.namespace["files"] = corpus
        tools = dict(
            search=self.search, passages=self.passages, rarest_words=self.rarest_words, grep=self.grep, read=self.read, llm_query=self.llm_query,
            llm_batch=self.llm_batch, ask_each=self.ask_each, ask_numbers=self.ask_numbers, extract=self.extract,
            rlm_query=self.rlm_query,
            tally=self.tally, SHOW_VARS=self.show_vars, FINAL=self.final, FINAL_VAR=self.final_var,
        )
        self.namespace.update({name: _naming_its_arguments(name, fn) for name, fn in tools.items()})
        self._api_ids = {id(v) for k, v in self.namespace.items() if k in API_NAMES}

    # -------------------------------------------------------------- recording (Recorder)

    def source(self, path: str, line: int | None, page: int | None, how: str) -> None:
        if len(self.cell.sources) < _MAX_SOURCES:
            self.cell.sources[(path, line, page, how)] = None

    def corpus_text(self, text: str) -> None:
        self.memory.add(text)

    def _paths(self) -> dict[str, int]:
        if self.corpus is None:
            raise LookupError("no files in this run: the text is in `context`")
        return self.corpus.index

    # -------------------------------------------------------------- the API

    def search(self, query: str, k: int = 10) -> SearchResults:
        """Full-text search (BM25): the best ``k`` files with a snippet and line each."""
        if self.corpus is None:
            raise LookupError("no files in this run")
        hits, total, missing = self.corpus._backend.search(str(query), int(k))
        for h in hits:
            self.source(h.path, h.line, h.page, "search")
            self.corpus_text(h.snippet)
        return SearchResults(str(query), hits, total, missing)

    def passages(self, query: str, k: int = PASSAGE_HITS, around: int = AROUND, chars: int = TOTAL_CHARS,
                 new_only: bool = False) -> Passages:
        """The best ``k`` search hits, each read with ``around`` lines either side
        (numbered), within about ``chars`` characters; with ``new_only``, none that an
        earlier call of this run showed."""
        if self.corpus is None:
            raise LookupError("no files in this run")
        skip = self._passages_shown if new_only else ()
        found = find_passages(self.corpus._backend, str(query), int(k), int(around), int(chars), skip)
        self._passages_shown.extend(shown_of(found))
        self.cell.facts.append(passages_fact([(p.path, line, p.page, text) for p in found for line, text in p.lines]))
        for p in found:
            # the hit's line (a citation reads it with a line either side), not the
            # window's first line: that would cite a line four above the value
            self.source(p.path, p.hit_line, p.page, "search")
            self.corpus_text(p.text)
        return found

    def rarest_words(self, text: str, n: int = 2) -> list[str]:
        """The ``n`` words of ``text`` that the fewest files contain (at least one)."""
        if self.corpus is None:
            raise LookupError("no files in this run")
        return rarest_words(self.corpus._backend, str(text), int(n))

    def grep(self, pattern: str, limit: int = 50, flags: int = re.IGNORECASE) -> GrepResults:
        """Regex over every line of every file (case-insensitive unless flags=0; a class
        of capitals such as [A-Z] still means capitals)."""
        if self.corpus is None:
            raise LookupError("no files in this run")
        matches, total, total_files, exact = self.corpus._backend.grep(keep_capitals(str(pattern), int(flags)), int(limit), int(flags))
        for m in matches:
            self.source(m.path, m.line, m.page, "grep")
            self.corpus_text(m.text)
        self.cell.facts.append(grep_fact([(m.path, m.line or 0, m.scope, m.text) for m in matches], total))
        return GrepResults(str(pattern), matches, total, total_files, exact)

    def read(self, path: Any, start: int | None = None, end: int | None = None) -> str:
        """A file's text with line numbers; ``start``/``end`` are 1-based, inclusive
        (pages for a PDF). ``path`` may be a unique end of a path, or a File/hit."""
        if self.corpus is None:
            raise LookupError("no files in this run")
        full = resolve_path(path, self._paths())
        text = self.corpus._backend.read(full, start, end)
        self.corpus_text(text)
        meta = self.corpus.file(full)
        kind = meta.kind
        if start and not text.strip():
            unit = "pages" if kind == "pdf" else "lines"
            count = meta.pages if kind == "pdf" else meta.lines
            if count and start > count:
                # the 1.5B paged on past the end, reading "" nine times
                return f"(nothing there: {full} has {count} {unit}; {unit} {start}-{end or start} are past its end)"
        if kind == "pdf":
            first_page = max(1, start or 1)
            self.source(full, None, first_page, "read")
            pages = text.split(PAGE_BREAK)
            return "\n".join(f"[page {first_page + i}]\n{page.strip(chr(10))}" for i, page in enumerate(pages))
        first = max(1, start or 1)
        self.source(full, first, None, "read")
        return number_lines(text, first)

    def llm_query(self, prompt: Any) -> str:
        """Ask the sub-model one question; give it the text it needs in the prompt."""
        prompt = str(prompt)
        return self._request_llm("query", [prompt], None, [], self.memory.found_in(prompt))[0]

    def llm_batch(self, prompts: Sequence[Any]) -> list[str]:
        """Ask the sub-model many independent questions at once (faster than a loop)."""
        if isinstance(prompts, str):
            raise TypeError("llm_batch takes a list of prompts; for one prompt use llm_query")
        texts = [str(p) for p in prompts]
        if not texts:
            return []
        grounded = any(self.memory.found_in(t) for t in texts)
        return self._request_llm("batch", texts, None, [], grounded)

    def ask_each(self, question: str, items: Sequence[Any], max_chars: int = ASK_EACH_MAX_CHARS) -> list[tuple[str, str]]:
        """Ask ``question`` about each file (File, path or hit) or text in ``items``, one
        sub-model call per item, batched. Returns [(path, answer), ...]."""
        labels: list[str] = []
        prompts: list[str] = []
        for label, text in self._item_texts(items):
            cut = ""
            if len(text) > max_chars:
                cut = f"\n[... cut: showing the first {max_chars:,} of {len(text):,} characters]"
                text = text[:max_chars]
            labels.append(label)
            prompts.append(f"{question}\n\nText from {label}:\n---\n{text}{cut}\n---\nAnswer briefly.")
        if not prompts:
            return []
        answers = self._request_llm("batch", prompts, None, [], True)
        return list(zip(labels, answers, strict=True))

    def ask_numbers(self, question: str, items: Sequence[Any], max_chars: int = values.EXCERPT_CHARS) -> Numbers:
        """Ask the sub-model for one number per file (File, path or hit) or text, batched;
        each reply is parsed and checked against the text it was shown, and the replies
        that fail are asked once more with the text's candidate numbers listed. Returns
        rows (path, value, status) with .total()/.max()/.min() over the verified values."""
        question = str(question)
        split = values.split_periods(question)
        if len(split) > 1:  # "in March and February together": once per month, added per file
            # one batch per period and no second pass (a failed check takes the text's own
            # figure): with it, 60 files x 2 months ran past the 200 sub-call budget
            parts = [self._ask_numbers(q, items, max_chars, second_pass=False) for q in split]
            numbers = Numbers.summed(question, parts, split)
        else:
            numbers = self._ask_numbers(question, items, max_chars)
        numbers.on_figure = self._figure
        return numbers

    def _ask_numbers(self, question: str, items: Sequence[Any], max_chars: int, second_pass: bool = True) -> Numbers:
        pairs = self._item_texts(items)
        if not pairs:
            return Numbers(question, [], [], 0)
        labels = [label for label, _ in pairs]
        shown = [values.excerpt(text, question, max_chars) for _, text in pairs]
        prompts = [
            values.first_prompt(question, label, part + ("" if part == text else _EXCERPT_NOTE))
            for (label, text), part in zip(pairs, shown, strict=True)
        ]
        parsed = [values.parse_reply(r, question) for r in self._request_llm("batch", prompts, None, [], True)]
        if not self.check_values:  # ablation: parse only
            rows = [Row(lb, p.value, "none" if p.value is None else "ok") for lb, p in zip(labels, parsed, strict=True)]
            return Numbers(question, rows, [""] * len(rows), len(rows))
        kind = values.expected_kind(question)
        checks = [values.check_value(p, part, question, kind) for p, part in zip(parsed, shown, strict=True)]
        options = {i: values.candidates(shown[i], question, kind) for i, c in enumerate(checks) if not c.ok}
        again = [i for i, found in options.items() if found] if second_pass else []
        second: dict[int, values.Parsed] = {}
        if again:
            prompts = [values.second_prompt(question, labels[i], shown[i], options[i]) for i in again]
            try:
                replies = self._request_llm("batch", prompts, None, [], True)
            except LlmError:  # no budget for the second pass: the rows keep their first replies' checks
                replies = []
            second = {i: values.parse_reply(r, question) for i, r in zip(again, replies, strict=False)}
        rows: list[Row] = []
        notes: list[str] = []
        for i, (label, first) in enumerate(zip(labels, parsed, strict=True)):
            later = second.get(i)
            later_check = None if later is None else values.check_value(later, shown[i], question, kind)
            fallback = None
            if not checks[i].ok and not (later_check is not None and later_check.ok):
                fallback = values.text_answer(shown[i], question, kind)
            row, note = values.settle(label, first, checks[i], later, later_check, fallback)
            rows.append(row)
            notes.append(note)
        self._from_peers(question, kind, rows, notes, shown)
        return Numbers(question, rows, notes, len(rows))

    def extract(self, question: str, items: Sequence[Any], max_chars: int = values.EXCERPT_CHARS) -> Records:
        """One typed record per file (File, path or hit) or text: does it apply to the
        question, its value as written, the words that state it; forced to a JSON schema
        and checked against the text. .total()/.max()/.min()/.count()/.values() use only
        the files that apply."""
        question = str(question)
        pairs = self._item_texts(items)
        if not pairs:
            return Records(question, [])
        shown = [values.excerpt(text, question, max_chars) for _, text in pairs]
        prompts = [record_prompt(question, label, part) for (label, _), part in zip(pairs, shown, strict=True)]
        replies = self._request_llm("record", prompts, None, [], True)
        records = [parse_record(reply, label, text) for reply, (label, text) in zip(replies, pairs, strict=True)]
        found = Records(question, records)
        found.on_figure = self._figure
        return found

    @staticmethod
    def _from_peers(question: str, kind: values.Kind, rows: list[Row], notes: list[str], shown: list[str]) -> None:
        """Each file's figure against the way the other files' verified figures are
        phrased (``values.peer_answer``): a row left unverified (or with no number) takes
        the figure of its text phrased like theirs, and so does a verified value whose
        own sentence is unlike theirs (``values.odd_one_out``), where one clearly is."""
        phrased: dict[int, frozenset[str]] = {}
        for i, (row, text) in enumerate(zip(rows, shown, strict=True)):
            if row.status in ("ok", "second_pass") and row.value is not None:
                words = values.verified_phrasing(text, row.value, question)
                if words is not None:
                    phrased[i] = words
        if len(phrased) < values.PEERS_MIN:
            return
        for i, row in enumerate(rows):
            peers = [words for j, words in phrased.items() if j != i]
            if row.status in ("unverified", "none"):
                found = values.peer_answer(shown[i], question, peers, kind)
                why = "replies gave " + ("no number" if row.value is None else values.format_number(row.value))
            elif i in phrased:
                found = values.odd_one_out(shown[i], row.value, question, peers, kind)  # type: ignore[arg-type]
                why = f"the reply's {values.format_number(row.value)} is in a sentence unlike theirs"  # type: ignore[arg-type]
            else:
                continue
            if found is not None:
                notes[i] = f"{why}; the text's figure phrased like the verified files' ({found.sentence.strip()[:80]!r})"
                rows[i] = Row(row.path, found.value, "from_peers")

    def _item_texts(self, items: Sequence[Any]) -> list[tuple[str, str]]:
        """(label, text) per item: a file's path and text (each file once; reading it
        records the file as a source), or a text and "text #i"."""
        if isinstance(items, (str, File)):
            items = [items]
        out: list[tuple[str, str]] = []
        known: dict[str, int] = self.corpus.index if self.corpus is not None else {}
        seen: set[str] = set()
        for i, item in enumerate(items):
            if isinstance(item, (File, Hit, Match)) or (isinstance(item, str) and known and _is_path(item, known)):
                full = resolve_path(item, known)
                if full in seen:
                    continue
                seen.add(full)
                out.append((full, self.corpus.file(full).text))  # type: ignore[union-attr]
            else:
                out.append((TEXT_PATH if self.corpus is None else f"text #{i + 1}", str(item)))
        return out

    def tally(self, pattern: str, flags: int = re.IGNORECASE) -> Tally:
        """Count the value the regex's group captures, once per file, over every file;
        says how many files it missed and shows lines from them (other phrasings)."""
        if self.corpus is None:
            raise LookupError("no files in this run")
        result = tally_files(self.corpus, str(pattern), int(flags), self)
        self.cell.facts.append(tally_fact(list(result), result.searched, len(result.unmatched)))
        return result

    def _figure(self, figure: Figure) -> None:
        value = "" if figure.value is None else values.format_number(figure.value)
        self.cell.facts.append(figure_fact(figure.how, value, len(figure.paths)))

    def rlm_query(self, question: str, text_or_paths: Any) -> str:
        """Give a sub-question and some text (or files) to a child RLM with its own REPL."""
        paths: list[str] = []
        text: str | None = None
        known: dict[str, int] = self.corpus.index if self.corpus is not None else {}
        items = text_or_paths if isinstance(text_or_paths, (list, tuple, Corpus, SearchResults, GrepResults)) else [text_or_paths]
        if all(isinstance(x, (File, Hit, Match)) or (isinstance(x, str) and known and _is_path(x, known)) for x in items) and items:
            paths = list(dict.fromkeys(resolve_path(x, known) for x in items))
        else:
            text = "\n".join(str(x) for x in items)
        grounded = bool(paths) or (text is not None and self.memory.found_in(text))
        return self._request_llm("rlm", [str(question)], text, paths, grounded)[0]

    def show_vars(self) -> None:
        """Print the variables defined so far (name, type, size)."""
        rows = []
        for name in self.user_variables():
            value = self.namespace[name]
            size = f", len {len(value)}" if hasattr(value, "__len__") and not isinstance(value, type) else ""
            rows.append(f"  {name}: {type(value).__name__}{size}")
        print("variables:\n" + "\n".join(rows) if rows else "no variables yet")

    def final(self, value: Any, *where: Any) -> Any:
        """Set the final answer (include the file and line it came from). Extra arguments
        are taken as where it came from: the 1.5B writes FINAL('2996 (...)', 'b.txt:2')."""
        extra = [str(w) for w in where if str(w) and str(w) not in str(value)]
        if extra and isinstance(value, (str, int, float)):
            value = f"{value} ({', '.join(extra)})"
        self._set_answer(value)
        return None

    def final_var(self, name: Any) -> None:
        """Set the final answer to the value of the variable called ``name``."""
        if not isinstance(name, str):
            self._set_answer(name)
            return
        key = name.strip().strip("'\"")
        if key not in self.namespace:
            defined = ", ".join(self.user_variables()) or "none"
            raise NameError(f"FINAL_VAR: no variable named {key!r} (defined: {defined})")
        self._set_answer(self.namespace[key])

    def _set_answer(self, value: Any) -> None:
        ready = True
        if isinstance(value, dict) and "content" in value:
            ready = bool(value.get("ready", True))
            value = value["content"]
        text = value if isinstance(value, str) else str(value) if isinstance(value, (int, float)) else repr(value)
        if len(text) > MAX_ANSWER_CHARS:
            text = text[:MAX_ANSWER_CHARS] + f"\n[... {len(text) - MAX_ANSWER_CHARS:,} more characters]"
        self.cell.answer = text
        self.cell.answer_ready = ready
        self.cell.answer_set = True

    def check_answer_variable(self, before: Any, assigned: bool) -> None:
        """``answer = ...`` in a cell counts like FINAL (unless FINAL was called).
        ``assigned``: the cell's code assigns ``answer`` at top level (identity alone
        misses a re-assigned interned string)."""
        value = self.namespace.get("answer", _MISSING)
        if value is _MISSING or self.cell.answer_set or (value is before and not assigned):
            return
        self._set_answer(value)

    def user_variables(self) -> list[str]:
        out = []
        for name, value in self.namespace.items():
            if name.startswith("_") or name in API_NAMES or id(value) in self._api_ids:
                continue
            if type(value).__name__ == "module":
                continue
            out.append(name)
        return out


_MISSING = object()


def _is_path(text: str, known: dict[str, int]) -> bool:
    if "\n" in text or len(text) > 4096:
        return False
    try:
        resolve_path(text, known)
        return True
    except LookupError:
        return False
