"""Numbers the sub-model reads out of files, parsed and checked before code adds them up.

The 0.5B sub-model, asked "how many units were sold in March?" about one file, often
answers with another figure of the same file (the year, the staff count) or one that is
in no file at all. A reduce in code cannot see that. So a reply is parsed here (digits
with separators, decimals, signs, English number words, "3.2 million"), and its value is
checked against the text the sub-model was shown: it must be stated there, by the words
of the question, and be of the right type (a count is a whole number >= 0). The REPL's
``ask_numbers`` (namespace.py) asks again, listing the candidates, when a check fails.

Pure functions and small result types; no model calls here."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

from rlm_desktop.rlm.tools.numbers import (
    NUMBER_WORDS,
    WORD,
    Mention,
    Number,
    format_number,
    numbers_in,
    same_value,
    sentences,
)
from rlm_desktop.rlm.tools.rows import Row

Kind = Literal["count", "number"]

EXCERPT_CHARS = 1_500  # a longer text is cut to the sentences that share words with the question
MAX_EXCERPT_SENTENCES = 12
MAX_CANDIDATES = 8
NEAR_WORDS = 2  # words either side of a number that say what it counts

_COUNT_QUESTION = re.compile(r"\bhow many\b|\bnumber of\b|\bcount\b", re.IGNORECASE)
_YEAR_QUESTION = re.compile(r"\byears?\b|\bwhen\b", re.IGNORECASE)
_STOP = frozenset(
    "a an the of in on at to for by with from and or is are was were be been being what which who whom "
    "how many much did does do this that these those it its all across each per there their they have has "
    "had number figure value amount give tell me please text file answer reply according same any".split()
)

# ---------------------------------------------------------------- relevance to the question


# irregular forms of the verbs figures are about: "sold" must meet "sell"
_IRREGULAR = {
    "sold": "sell", "sale": "sell", "sales": "sell", "bought": "buy", "spent": "spend", "paid": "pay",
    "made": "make", "won": "win", "lost": "lose", "grew": "grow", "grown": "grow", "took": "take",
    "gave": "give", "given": "give", "held": "hold", "kept": "keep", "ran": "run", "built": "build",
}


# words for how many people there are, one key: "How many people do the branches employ?"
# is answered by "Headcount: 51", and with no shared word the year 1993 tied with it
_PEOPLE = frozenset("people person persons staff employ employs employed employee employees employing headcount "
                    "worker workers personnel".split())


def _stem(word: str) -> str:
    word = word.lower()
    if word in _PEOPLE:
        return "staff"
    if word in _IRREGULAR:
        return _IRREGULAR[word]
    if len(word) > 5 and word.endswith("ing"):
        return word[:-3]
    if len(word) > 4 and word.endswith("ed") and not word.endswith("eed"):
        return word[:-2]
    if len(word) > 4 and word.endswith(("ches", "shes", "xes", "sses")):
        return word[:-2]
    if len(word) > 4 and word.endswith("ies"):
        return word[:-3] + "y"
    if len(word) > 3 and word.endswith("s") and not word.endswith("ss"):
        return word[:-1]
    return word


def question_words(question: str) -> frozenset[str]:
    """The question's content words, stemmed (branches -> branch, units -> unit)."""
    return frozenset(_stem(w) for w in WORD.findall(question) if w.lower() not in _STOP and len(w) > 1)


def _shared(text: str, keys: frozenset[str]) -> set[str]:
    return {_stem(w) for w in WORD.findall(text)} & keys


def expected_kind(question: str) -> Kind:
    """'count' (a whole number >= 0) for "how many" / "number of" questions."""
    return "count" if _COUNT_QUESTION.search(question) else "number"


# "more than 1658": a threshold one file's own figure may equal (the median branch's)
_THRESHOLD = re.compile(r"(?:\b(?:more|less|fewer|greater|higher|lower)\s+than|\b(?:above|below|over|under|exceeds?|exceeding|at\s+least|at\s+most))$", re.IGNORECASE)


def question_numbers(question: str) -> list[Number]:
    """Numbers the question itself states ("in March 2024"): never the answer. A threshold
    ("more than 1658") is left out: the seed-1 run's median branch sold exactly 1658, its
    reply was dropped as the question's own number, and the text side took the essay's
    1950 instead, so 30 branches came out above 1658 for 29."""
    return [m.value for m in numbers_in(question) if not _THRESHOLD.search(question[max(0, m.start - 24):m.start].rstrip())]


# "all the branches", "every report", "any single branch": what each file is, not its figure
_QUANTIFIED = re.compile(r"\b(?:all|each|every|any)\s+(?:of\s+)?(?:the\s+|single\s+|one\s+)?([A-Za-z]+)", re.IGNORECASE)


def common_keys(text: str, keys: frozenset[str], question: str = "") -> frozenset[str]:
    """The question's words that tell the text's figures apart less than the rest: those
    that half or more of its sentences with a number share ("branch" in a branch
    report), and the thing the question counts over ("all the branches": each file is
    one). The Essen report's "the Essen branch sold one thousand one hundred and ten
    units" tied with "Headcount: twenty-eight" for "How many people do all the branches
    employ in total?" on "branch"."""
    over = frozenset(_stem(m.group(1)) for m in _QUANTIFIED.finditer(question)) & keys
    numbered = [s for _, s in sentences(text) if numbers_in(s)]
    if len(numbered) < 3:
        return over
    counts = {k: sum(1 for s in numbered if k in _shared(s, keys)) for k in keys}
    return over | frozenset(k for k, n in counts.items() if n >= 2 and 2 * n >= len(numbered))


def score(mention: Mention, keys: frozenset[str], question: str = "", common: frozenset[str] = frozenset()) -> float:
    """How much a stated number looks like the answer: the question's words in its
    sentence, twice over for those right next to it ("sold 1,250 units"), half as much
    for a word most of the text's figures share (``common_keys``), less a point for a
    year when the question asks no date. The Ypres report's "sold one hundred and
    forty-nine units" tied with "a staff of 31" for a headcount question on "branch"."""
    s = mention.sentence
    at = mention.start - mention.sentence_start
    before = WORD.findall(s[:at])[-NEAR_WORDS:]
    after = WORD.findall(s[at + len(mention.surface):])[:NEAR_WORDS]
    near = {_stem(w) for w in before + after} & keys

    def weight(words: set[str]) -> float:
        return sum(0.5 if w in common else 1.0 for w in words)

    points = weight(_shared(s, keys)) + 2 * weight(near)
    if _year_like(mention) and not _YEAR_QUESTION.search(question):
        points -= 1
    # a question about March is not answered by the sentence about February: another
    # month (or quarter, weekday) than the question names costs more than every word the
    # two sentences can share ("In March the Graz branch sold 2,056 units" against
    # "That compares with 2949 units in February" for a February question)
    asked = {w.lower() for w in WORD.findall(question)} & _PERIODS
    if asked:
        said = {w.lower() for w in WORD.findall(s)} & _PERIODS
        if said & asked:
            points += 2
        elif said:
            points -= 8
    return float(points)


# months, weekdays, seasons, quarters ("may" and "fall" left out: too often a verb)
_PERIODS = frozenset(
    "january february march april june july august september october november december "
    "monday tuesday wednesday thursday friday saturday sunday spring summer autumn winter q1 q2 q3 q4".split()
)


def _year_like(mention: Mention) -> bool:
    return mention.form == "digits" and mention.surface.isdigit() and len(mention.surface) == 4 and 1900 <= int(mention.surface) <= 2100


def candidates(text: str, question: str, kind: Kind | None = None) -> list[Mention]:
    """The numbers of ``text`` that could answer ``question``, one mention per value,
    the likeliest first (by ``score``; the 0.5B tends to pick the first it is offered):
    not a number the question states, and a whole number >= 0 for a count."""
    kind = kind or expected_kind(question)
    given = question_numbers(question)
    keys = question_words(question)
    common = common_keys(text, keys, question)
    best: list[tuple[float, Mention]] = []
    for m in numbers_in(text):
        if any(same_value(m.value, g) for g in given) or (kind == "count" and not _is_count(m.value)):
            continue
        points = score(m, keys, question, common)
        same = next((i for i, (_, b) in enumerate(best) if same_value(b.value, m.value)), None)
        if same is None:
            best.append((points, m))
        elif points > best[same][0]:
            best[same] = (points, m)
    best.sort(key=lambda pair: -pair[0])  # stable: ties keep text order
    return [m for _, m in best[:MAX_CANDIDATES]]


def _is_count(value: Number) -> bool:
    return value >= 0 and float(value).is_integer()


# ---------------------------------------------------------------- replies and checks


@dataclass(frozen=True)
class Parsed:
    """A sub-model reply read as a number. ``value`` None: the reply gave none.
    ``numbers``: the distinct numbers the reply stated (beyond those of the question)."""

    reply: str
    value: Number | None
    numbers: tuple[Number, ...] = ()


def parse_reply(reply: str, question: str = "") -> Parsed:
    """The number a sub-model reply gives for ``question``. Numbers the question states
    are not the answer, nor a year beside another figure when the question asks no date
    ("In March 2024 it sold 1,250" -> 1250); of several others, the one next to the
    question's words (and the reply then counts as ambiguous)."""
    given = question_numbers(question)
    mentions = [m for m in numbers_in(reply) if not any(same_value(m.value, g) for g in given)]
    if not _YEAR_QUESTION.search(question) and any(not _year_like(m) for m in mentions):
        mentions = [m for m in mentions if not _year_like(m)]  # "in March 2024 it sold 1,250"
    distinct: list[Number] = []
    for m in mentions:
        if not any(same_value(m.value, v) for v in distinct):
            distinct.append(m.value)
    if not mentions:
        return Parsed(reply, None)
    keys = question_words(question)
    best = max(mentions, key=lambda m: score(m, keys, question)) if len(distinct) > 1 else mentions[0]
    return Parsed(reply, best.value, tuple(distinct))


@dataclass(frozen=True)
class Check:
    ok: bool
    reason: str = ""  # why not, for the repr the model reads


def check_value(parsed: Parsed, text: str, question: str = "", kind: Kind | None = None) -> Check:
    """Whether a parsed value can be added up: one number in the reply, of the right type,
    stated in ``text`` (digits or words), and the figure of ``text`` that stands by the
    question's words (not the year or the staff count of the same file)."""
    value = parsed.value
    if value is None:
        return Check(False, "no number in the reply")
    if len(parsed.numbers) > 1:
        shown = ", ".join(format_number(v) for v in parsed.numbers[:4])
        return Check(False, f"the reply gave several numbers ({shown})")
    kind = kind or expected_kind(question)
    if kind == "count" and value < 0:
        return Check(False, "a count can't be negative")
    if kind == "count" and not float(value).is_integer():
        return Check(False, "a count can't be fractional")
    given = question_numbers(question)
    if any(same_value(value, g) for g in given):
        return Check(False, "the reply repeats a number of the question")
    mentions = [m for m in numbers_in(text) if not any(same_value(m.value, g) for g in given)]
    stated = [m for m in mentions if same_value(m.value, value)]
    if not stated:
        return Check(False, "not stated in the text")
    keys = question_words(question)
    if keys:
        common = common_keys(text, keys, question)
        best = max(score(m, keys, question, common) for m in mentions)
        if max(score(m, keys, question, common) for m in stated) < best:
            return Check(False, "another figure of the text stands by the question's words")
    return Check(True)


def text_answer(text: str, question: str, kind: Kind | None = None) -> Mention | None:
    """The figure of ``text`` that stands by the question's words, when one does clearly:
    the top candidate scores higher than every other. The regex side of the cross-check."""
    found = candidates(text, question, kind)
    if not found:
        return None
    keys = question_words(question)
    common = common_keys(text, keys, question)
    if len(found) > 1 and score(found[1], keys, question, common) >= score(found[0], keys, question, common):
        return None
    return found[0]


# ---------------------------------------------------------------- the other files' phrasing

PEERS_MIN = 3  # verified files needed before their sentences say how the figure is phrased
PEER_MATCH = 0.5  # share of a sentence's words the verified figures' sentences use
PEER_MARGIN = 0.25  # ahead of the next candidate by this much
PEER_SHARE = 0.1  # a word is usual in the verified figures' sentences from this share of them
ODD_MATCH = 0.75  # a value that passed its check gives way only to a figure phrased this much like theirs


def phrasing(sentence: str, surface: str) -> frozenset[str]:
    """The words of a figure's sentence, lowercased, the figure itself (digits or words) left out."""
    rest = sentence.replace(surface, " ", 1)
    return frozenset(w.lower() for w in WORD.findall(rest) if w.lower() not in NUMBER_WORDS)


def verified_phrasing(text: str, value: Number, question: str = "") -> frozenset[str] | None:
    """``phrasing`` of the sentence of ``text`` that states ``value`` by the question's
    words (the best-scoring mention of it), or None when the text does not state it."""
    keys = question_words(question)
    common = common_keys(text, keys, question)
    stated = [m for m in numbers_in(text) if same_value(m.value, value)]
    if not stated:
        return None
    best = max(stated, key=lambda m: score(m, keys, question, common))
    return phrasing(best.sentence, best.surface)


def usual_words(peers: list[frozenset[str]]) -> frozenset[str]:
    """The words of at least a tenth (and two) of the verified figures' sentences: a
    branch's own name is in one sentence only, and the words of a few values that passed
    their check wrongly (March sentences in a staff question) stay out."""
    seen: dict[str, int] = {}
    for words in peers:
        for w in words:
            seen[w] = seen.get(w, 0) + 1
    least = max(2.0, PEER_SHARE * len(peers))
    return frozenset(w for w, n in seen.items() if n >= least)


def peer_match(words: frozenset[str], usual: frozenset[str]) -> float:
    """The share of a sentence's words (``phrasing``) that the verified figures' use."""
    return len(words & usual) / len(words) if words else 0.0


def _ranked_by_phrasing(text: str, question: str, usual: frozenset[str], kind: Kind | None) -> tuple[float, Mention] | None:
    """The candidate of ``text`` phrased most like the verified figures (``usual``) and how
    much, when it clearly leads: at least ``PEER_MATCH`` and ``PEER_MARGIN`` ahead."""
    keys = question_words(question)
    common = common_keys(text, keys, question)
    ranked: list[tuple[float, Mention]] = []
    for m in candidates(text, question, kind):
        if score(m, keys, question, common) <= 0:
            continue  # shares none of the question's words (or names another month)
        ranked.append((peer_match(phrasing(m.sentence, m.surface), usual), m))
    ranked.sort(key=lambda pair: -pair[0])
    if not ranked or ranked[0][0] < PEER_MATCH:
        return None
    if len(ranked) > 1 and ranked[0][0] - ranked[1][0] < PEER_MARGIN:
        return None
    return ranked[0]


def peer_answer(text: str, question: str, peers: list[frozenset[str]], kind: Kind | None = None) -> Mention | None:
    """The candidate of ``text`` whose sentence is phrased like the figures verified in
    the other files (``peers``, one ``verified_phrasing`` each), when one clearly is.
    Reports written to one pattern state a figure in a few set ways; the seed-2 staff
    total lost three of 60 branches whose "Headcount: fifty." tied with an essay's "4
    people per startup" on the question's words, while 57 verified files said
    "Headcount: 67." or "It has a staff of 40."."""
    if len(peers) < PEERS_MIN:
        return None
    best = _ranked_by_phrasing(text, question, usual_words(peers), kind)
    return None if best is None else best[1]


def odd_one_out(text: str, value: Number, question: str, peers: list[frozenset[str]], kind: Kind | None = None) -> Mention | None:
    """For a value that passed its check: the figure of ``text`` phrased like the other
    files' verified ones, when the value's own sentence is not and that figure clearly
    is (``ODD_MATCH``). The check passes a tie on the question's words: asked "How many
    staff does the branch have?", the 0.5B read "In March the Nantes branch sold 273
    units." and 273 passed beside "It has a staff of 57.", so "the most staff" came out
    as Nantes's 273."""
    own = verified_phrasing(text, value, question)
    if own is None or len(peers) < PEERS_MIN:
        return None
    usual = usual_words(peers)
    if peer_match(own, usual) >= PEER_MATCH:
        return None
    best = _ranked_by_phrasing(text, question, usual, kind)
    if best is None or best[0] < ODD_MATCH or same_value(best[1].value, value):
        return None
    return best[1]


def settle(label: str, first: Parsed, check: Check, second: Parsed | None, second_check: Check | None,
           from_text: Mention | None = None) -> tuple[Row, str]:
    """The row of one file, and a note on it: the first reply if it passed its check;
    else the second reply if it passes the same check; else the first value (or the
    second's), unverified — the model and the text disagree; 'none' when neither reply
    gave a number."""
    if check.ok:
        return Row(label, first.value, "ok"), ""
    if second is not None and second_check is not None and second_check.ok:
        was = "no number" if first.value is None else format_number(first.value)
        return Row(label, second.value, "second_pass"), f"first reply {was}: {check.reason}"
    value = first.value if first.value is not None else (second.value if second is not None else None)
    again = "" if second is None or second.value is None else f"; asked again: {format_number(second.value)}"
    if from_text is not None:
        # the sub-model failed twice where the text is clear: the text's figure, said so
        was = "no number" if first.value is None else format_number(first.value)
        return Row(label, from_text.value, "from_text"), f"replies {was}{again} failed: {check.reason}; the text's figure by the question's words"
    if value is None:
        return Row(label, None, "none"), ""
    return Row(label, value, "unverified"), check.reason + again


# ---------------------------------------------------------------- prompts


_AND_PERIODS = re.compile(r"\b(" + "|".join(sorted(_PERIODS, key=len, reverse=True)) + r")((?:\s*,\s*|\s+and\s+|\s+or\s+)(?:" + "|".join(sorted(_PERIODS, key=len, reverse=True)) + r"))+\b", re.IGNORECASE)
_TOGETHER = re.compile(r"\s*\b(together|combined|altogether|both|in total)\b", re.IGNORECASE)


def split_periods(question: str) -> list[str]:
    """One question per period when ``question`` joins several ("in March and February
    together"): a file states each month apart, and asked both at once the sub-model
    gave one month's figure (dev set: 9,695 for 25,982). ``[question]`` otherwise."""
    m = _AND_PERIODS.search(question)
    if m is None:
        return [question]
    names = re.findall(r"[A-Za-z0-9]+", m.group(0))
    periods = [n for n in names if n.lower() in _PERIODS]
    if len(set(p.lower() for p in periods)) < 2:
        return [question]
    rest = _TOGETHER.sub("", question[m.end():])
    return [question[: m.start()] + p + rest for p in periods]


def excerpt(text: str, question: str, max_chars: int = EXCERPT_CHARS) -> str:
    """The part of ``text`` the sub-model needs: all of it when short; else its first
    line (a title or a table header) and the sentences that share words with the
    question, best first up to the cap, shown in text order."""
    if len(text) <= max_chars:
        return text
    keys = question_words(question)
    parts = sentences(text)
    scored = [(len(_shared(s, keys)) + (0.5 if numbers_in(s) else 0.0), i) for i, (_, s) in enumerate(parts)]
    chosen: set[int] = set()
    used = 0
    for points, i in sorted(scored, key=lambda p: (-p[0], p[1])):
        if points < 1 or len(chosen) >= MAX_EXCERPT_SENTENCES:
            break
        length = len(parts[i][1]) + 1
        if used + length > max_chars:
            continue
        chosen.add(i)
        used += length
    if not chosen:
        return text[:max_chars]
    first = parts[0][1] if parts and len(parts[0][1]) <= 200 else None
    # one sentence a line: a hard-wrapped sentence kept its line break, and in the
    # excerpt its halves ("... with two" / "thousand eight hundred ...") are short lines
    # that no longer join, so the number read from it was 2, or 863
    picked = [" ".join(parts[i][1].split()) for i in sorted(chosen)]
    if first is not None and 0 not in chosen:
        picked.insert(0, " ".join(first.split()))
    return "\n".join(picked) + "\n[... only the sentences that share words with the question]"


def first_prompt(question: str, label: str, text: str) -> str:
    return (
        f"{question}\n\nText from {label}:\n---\n{text}\n---\n"
        "Reply with the number only, or 'none' if the text does not give it."
    )


def second_prompt(question: str, label: str, text: str, options: list[Mention]) -> str:
    """The stricter question: each candidate with how and where the text states it (the
    0.5B picks the right one far more often with the sentence beside the number)."""
    listed = "\n".join(f'- {format_number(m.value)} ("{m.surface}" in "{_short(m)}")' for m in options)
    return (
        f"Text from {label}:\n---\n{text}\n---\n"
        f"Question: {question}\nWhich of these numbers answers it?\n{listed}\n"
        "Reply with the number only."  # offered 'none' too, the 0.5B picks worse (4/8 vs 7/8)
    )


def _short(mention: Mention, width: int = 160) -> str:
    """The mention's sentence, cut around the number when long."""
    sentence = mention.sentence.strip()
    if len(sentence) <= width:
        return sentence
    at = max(0, mention.start - mention.sentence_start - width // 2)
    return "..." + sentence[at:at + width].strip() + "..."


# ---------------------------------------------------------------- results
