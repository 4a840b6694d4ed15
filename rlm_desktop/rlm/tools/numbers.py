"""Reading numbers out of text: digits with separators, decimals, signs, glued suffixes
(12k, 3.2M), English number words ("two thousand five hundred and six", "a dozen"), in
sentences rebuilt from hard-wrapped lines. Dates, times and ordinals are not quantities.
Used by ``values.py`` to check what the sub-model reads out of files. Pure functions."""

from __future__ import annotations

import re
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Literal

Number = int | float

# ---------------------------------------------------------------- number words

_UNITS = {
    "zero": 0, "one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6, "seven": 7,
    "eight": 8, "nine": 9,
}
_TEENS = {
    "ten": 10, "eleven": 11, "twelve": 12, "thirteen": 13, "fourteen": 14, "fifteen": 15,
    "sixteen": 16, "seventeen": 17, "eighteen": 18, "nineteen": 19,
}
_TENS = {
    "twenty": 20, "thirty": 30, "forty": 40, "fifty": 50, "sixty": 60, "seventy": 70,
    "eighty": 80, "ninety": 90,
}
_SCALES = {"thousand": 10**3, "million": 10**6, "billion": 10**9, "trillion": 10**12}
_SUFFIXES = {"k": 10**3, "K": 10**3, "M": 10**6, "bn": 10**9}  # glued to digits: 12k, 3.2M, 4bn
_NUMBER_WORDS = {**_UNITS, **_TEENS, **_TENS, **_SCALES, "hundred": 100, "dozen": 12}
NUMBER_WORDS = frozenset(_NUMBER_WORDS)
# "the one in March", "one of the branches": a pronoun, not a quantity
_ONE_PRONOUN_BEFORE = {"the", "this", "that", "which", "each", "every", "no", "any", "some", "another", "only"}

WORD = re.compile(r"[A-Za-z]+")
_DIGITS = re.compile(
    r"(?<![\w.])"  # not the tail of a word or of another number (Q1, B12, v2.3)
    r"(?:\d{1,3}(?:(?:,\d{3}(?!\d))+|(?:[ \u00a0\u202f\u2009]\d{3}(?!\d))+|(?:'\d{3}(?!\d))+)(?:\.\d+)?"
    r"|\d+(?:\.\d+)?)"
)
_DIGITS_NO_COMMA = re.compile(
    r"(?<![\w.])(?:\d{1,3}(?:(?:[ \u00a0\u202f\u2009]\d{3}(?!\d))+|(?:'\d{3}(?!\d))+)(?:\.\d+)?|\d+(?:\.\d+)?)"
)
_AFTER_DIGITS = re.compile(
    r"(?P<ordinal>st|nd|rd|th)\b|(?P<suffix>k|K|M|bn)\b|\s+(?P<scale>hundred|thousand|million|billion|trillion|dozen)\b",
)
# dates and times are not quantities: 2024-03-15, 15/03/2024, 10:30
_DATE_OR_TIME = re.compile(r"\b\d{1,4}[-/.]\d{1,2}[-/.]\d{1,4}\b|\b\d{1,2}:\d{2}(?::\d{2})?\b")
_SENTENCE = re.compile(r"[^\n]+")
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+(?=[\"'(\[]?[A-Z0-9])")


@dataclass(frozen=True)
class Mention:
    """One number stated in a text: its value, how it was written, and its sentence."""

    value: Number
    surface: str
    sentence: str
    start: int  # offsets in the whole text
    end: int
    form: Literal["digits", "words"]
    sentence_start: int = 0  # offset of ``sentence`` in the whole text


def as_number(value: Decimal) -> Number:
    return int(value) if value == value.to_integral_value() else float(value)


def same_value(a: Number, b: Number) -> bool:
    """Equal up to float noise (3.2 million read as 3200000.0000000005)."""
    return abs(a - b) <= 1e-9 * max(1.0, abs(a), abs(b))


def format_number(value: Number) -> str:
    """Digits as the sub-model should repeat them: 1250, 3.5 (no separators)."""
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    return str(value) if isinstance(value, int) else f"{value:.10g}"


# ---------------------------------------------------------------- finding numbers


WRAPPED_LINE = 50  # a shorter line is a title or a row, not wrapped prose


def _blocks(text: str) -> list[tuple[int, int]]:
    """(start, end) of lines, a hard-wrapped prose line joined to the next ("The Leiden
    team moved 280" / "units during March."): a line of prose length that does not end a
    sentence, followed by a line with spaces (a title or a table row has no sentence to
    continue)."""
    lines = list(_SENTENCE.finditer(text))
    blocks: list[tuple[int, int]] = []
    start = 0
    for i, line in enumerate(lines):
        last = i + 1 == len(lines)
        joins = (not last and len(line.group().strip()) >= WRAPPED_LINE and " " in lines[i + 1].group().strip()
                 and not line.group().rstrip().endswith((".", "!", "?", ";"))
                 and text[line.end():lines[i + 1].start()] == "\n")
        if not joins:
            blocks.append((lines[start].start(), line.end()))
            start = i + 1
    return blocks


def sentences(text: str) -> list[tuple[int, str]]:
    """(offset, sentence): lines (hard-wrapped prose lines joined), split again after
    . ! ? followed by a capital or digit (not inside 3.2, which has no space after the dot)."""
    out: list[tuple[int, str]] = []
    for start, end in _blocks(text):
        pieces = _SENTENCE_END.split(text[start:end])
        for piece in pieces:
            offset = text.find(piece, start)
            if piece.strip():
                out.append((offset, piece))
            start = offset + len(piece)
    return out


def numbers_in(text: str) -> list[Mention]:
    """Every number stated in ``text``, in order: digits (1,250 / 12 345 / 3.5 / -4 /
    3.2 million / 12k) and words (two thousand five hundred and six, forty-one, a dozen).
    Dates, times, ordinals (31st) and digits glued to letters (Q1) are left out."""
    found: list[Mention] = []
    for offset, sentence in sentences(text):
        found += [
            Mention(value, surface, sentence, offset + start, offset + end, form, offset)
            for value, surface, start, end, form in _in_sentence(sentence)
        ]
    return found


def _in_sentence(sentence: str) -> list[tuple[Number, str, int, int, Literal["digits", "words"]]]:
    # a delimited row (North,120,340) has commas between fields, not inside numbers
    row = sentence.count(",") >= 2 and ", " not in sentence and re.search(r",(?!\d{3}(?!\d))", sentence) is not None
    pattern = _DIGITS_NO_COMMA if row else _DIGITS
    skip = [(m.start(), m.end()) for m in _DATE_OR_TIME.finditer(sentence)]
    out: list[tuple[Number, str, int, int, Literal["digits", "words"]]] = []
    for m in pattern.finditer(sentence):
        start, end = m.start(), m.end()
        if any(a <= start < b for a, b in skip):
            continue
        try:
            value = Decimal(re.sub(r"[,'\s\u00a0\u202f\u2009]", "", m.group()))
        except InvalidOperation:
            continue
        after = _AFTER_DIGITS.match(sentence, end)
        if after is not None and after.group("ordinal"):
            continue
        if after is not None:
            word = after.group("suffix") or after.group("scale")
            value *= _SUFFIXES.get(word) or _NUMBER_WORDS[word.lower()]
            end = after.end()
        if start > 0 and sentence[start - 1] in "-\u2212" and (start < 2 or not sentence[start - 2].isalnum()):
            start -= 1
            value = -value
        out.append((as_number(value), sentence[start:end], start, end, "digits"))
    out += _word_numbers(sentence)
    out.sort(key=lambda item: item[2])
    return out


def _word_numbers(sentence: str) -> list[tuple[Number, str, int, int, Literal["digits", "words"]]]:
    words = list(WORD.finditer(sentence))
    out: list[tuple[Number, str, int, int, Literal["digits", "words"]]] = []
    i = 0
    while i < len(words):
        taken = _read_words(sentence, words, i)
        if taken is None:
            i += 1
            continue
        value, j = taken  # words[i:j] spell the number
        start, end = words[i].start(), words[j - 1].end()
        lone_one = j - i == 1 and words[i].group().lower() == "one"
        before = words[i - 1].group().lower() if i > 0 else ""
        after = words[j].group().lower() if j < len(words) else ""
        if not (lone_one and (before in _ONE_PRONOUN_BEFORE or after == "of")):
            if i > 0 and before in ("minus", "negative") and _gap(sentence, words[i - 1].end(), start):
                start, value = words[i - 1].start(), -value
            out.append((value, sentence[start:end], start, end, "words"))
        i = j
    return out


def _gap(sentence: str, end: int, start: int) -> bool:
    """Words of one number are joined by spaces or a hyphen (forty-one)."""
    return sentence[end:start].strip() in ("", "-")


def _read_words(sentence: str, words: list[re.Match[str]], i: int) -> tuple[int, int] | None:
    """The number spelled from words[i] on, and the index after its last word; None
    when words[i] starts no number. Stops where the words stop composing (one two)."""
    total = current = 0
    last: str | None = None
    last_scale = 10**15
    j = i
    first = words[i].group().lower()
    if first in ("a", "an") and i + 1 < len(words) and _gap(sentence, words[i].end(), words[i + 1].start()):
        following = words[i + 1].group().lower()
        if following in _SCALES or following in ("hundred", "dozen"):
            current, last, j = 1, "unit", i + 1
    elif first not in _NUMBER_WORDS or first in _SCALES or first in ("hundred", "dozen"):
        return None
    while j < len(words):
        word = words[j].group().lower()
        if j > i and not _gap(sentence, words[j - 1].end(), words[j].start()):
            break
        if word == "and" and last in ("hundred", "scale") and j + 1 < len(words):
            nxt = words[j + 1].group().lower()
            if (nxt in _UNITS or nxt in _TEENS or nxt in _TENS) and _gap(sentence, words[j].end(), words[j + 1].start()):
                j += 1
                continue
            break
        kind = _word_kind(word)
        if kind is None or not _composes(last, kind):
            break
        if kind in ("unit", "teen", "tens"):
            current += _NUMBER_WORDS[word]
        elif kind == "hundred":
            current = max(current, 1) * 100
        elif kind == "dozen":
            current = max(current, 1) * 12
        else:
            scale = _SCALES[word]
            if scale >= last_scale:
                break
            total += max(current, 1) * scale
            current, last_scale = 0, scale
        last = kind
        j += 1
    if last is None or j == i or (first in ("a", "an") and j <= i + 1):
        return None
    return total + current, j


def _word_kind(word: str) -> str | None:
    if word in _UNITS:
        return "unit"
    if word in _TEENS:
        return "teen"
    if word in _TENS:
        return "tens"
    if word in ("hundred", "dozen"):
        return word
    if word in _SCALES:
        return "scale"
    return None


def _composes(last: str | None, kind: str) -> bool:
    """Whether ``kind`` may follow ``last`` in one number: twenty one, two hundred and
    six, three thousand; not one two, twenty thirty, ninety hundred."""
    if last is None:
        return kind in ("unit", "teen", "tens")
    allowed = {
        "unit": ("hundred", "dozen", "scale"),
        "teen": ("hundred", "dozen", "scale"),
        "tens": ("unit", "dozen", "scale"),
        "hundred": ("unit", "teen", "tens", "scale"),
        "dozen": ("scale",),
        "scale": ("unit", "teen", "tens"),
    }
    return kind in allowed[last]


def parse_number(reply: str) -> Number | None:
    """The first number a reply states, or None ("12,345" -> 12345, "forty-one" -> 41)."""
    mentions = numbers_in(reply)
    return mentions[0].value if mentions else None
