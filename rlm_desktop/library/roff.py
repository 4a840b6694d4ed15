"""Manual pages (roff with the man or mdoc macros) as the text a reader sees.

A man page indexed as its source is markup to the model: ``.sp``, ``.RS 4``,
``\\fB--timeout\\fR``, ``2\\&.0``, one clause per line. Rendered, it is headings and
filled paragraphs: "--timeout <seconds>" then "Number of seconds to cache credentials
(default: 900)." No renderer is installed on a user's desktop (groff and mandoc are not
Python and not everywhere), so this reads the subset that manual pages use: the page
and section headings, paragraphs (filled: a paragraph's source lines become one line),
tagged and indented paragraphs, no-fill blocks kept line for line, the font and
character escapes. Requests it does not know are dropped, never shown.

    if is_roff(text):
        text = roff_to_text(text)
"""

from __future__ import annotations

import re

# a request or macro line: "." or "'" then a name ("\}" closes a conditional block)
_REQUEST = re.compile(r"^[.'][ \t]*(\\\"|\\\}|[A-Za-z][A-Za-z0-9]*)?[ \t]*(.*)$")
_BREAKS = frozenset("sp PP LP P TP IP HP RS RE br Pp Lp Bl El It Nm ne in ti".split())  # headings, titles and no-fill blocks have their own branches
_HEADINGS = frozenset({"SH", "SS", "Sh", "Ss"})
_FONT_MACROS = frozenset({"B", "I", "SB", "SM", "Nm", "Ar", "Fl", "Cm", "Pa", "Ev", "Va", "Fn", "Xr", "Em", "Sy", "Li", "Ql"})
_ALTERNATING = frozenset({"BR", "RB", "IR", "RI", "BI", "IB"})
_NOFILL = frozenset({"nf", "EX", "Bd"})
_FILL = frozenset({"fi", "EE", "Ed"})
_CHARS = {
    "cq": "'", "oq": "'", "aq": "'", "dq": '"', "lq": "\u201c", "rq": "\u201d", "em": "\u2014", "en": "\u2013",
    "bu": "\u2022", "co": "\u00a9", "rg": "\u00ae", "tm": "\u2122", "mu": "\u00d7", "de": "\u00b0", "hy": "-",
    "ga": "`", "ti": "~", "ha": "^", "rs": "\\", "lh": "<=", "rh": "=>", "<-": "<-", "->": "->", "<=": "<=", ">=": ">=",
}
_ESCAPE = re.compile(
    r"\\(?:"
    r"f(?:\[[^\]]*\]|\(..|.)"  # font: \fB \f(CW \f[B]
    r"|s[+-]?(?:\d|\(\d\d|\[\d+\])"  # size
    r"|[hvwlLxDbNoXZ]'[^']*'"  # motions and drawing with an argument
    r"|\*(?:\[[^\]]*\]|\(..|.)"  # interpolated strings (\*(Aq is a quote in git's pages)
    r"|n(?:\[[^\]]*\]|\(..|.)"  # number registers
    r"|\((..)"  # a named character: \(cq
    r"|\[([^\]]*)\]"  # a named character: \[cq]
    r"|(.)"  # one character: \- \& \e \  \~ \c \| \^ \%
    r")"
)


def is_roff(text: str) -> bool:
    """True for a manual page's source: a ``.TH`` (man) or ``.Dt`` (mdoc) title request
    and a section heading near the top."""
    head = text[:20_000]
    return bool(re.search(r"^\.(TH|Dt)[ \t]", head, re.MULTILINE) and re.search(r"^\.(SH|Sh)\b", head, re.MULTILINE))


def _escape(match: re.Match[str]) -> str:
    whole, named, bracketed, single = match.group(0), match.group(1), match.group(2), match.group(3)
    if named is not None:
        return _CHARS.get(named, "")
    if bracketed is not None:
        return _CHARS.get(bracketed, "")
    if single is not None:
        return {"-": "-", "e": "\\", " ": " ", "~": " ", "0": " ", "t": "\t", "\\": "\\", ".": ".", "'": "'", "`": "`"}.get(single, "")
    if whole.startswith("\\*(Aq") or whole.startswith("\\*[Aq]"):
        return "'"
    return ""


def inline(text: str) -> str:
    """``text`` with roff's escapes read: fonts and sizes dropped, characters named."""
    return _ESCAPE.sub(_escape, text)


def _arguments(rest: str) -> list[str]:
    """A request's arguments: words, or "double-quoted phrases"."""
    return [a[1:-1] if a.startswith('"') and a.endswith('"') and len(a) > 1 else a for a in re.findall(r'"[^"]*"|\S+', rest)]


def roff_to_text(source: str) -> str:
    out: list[str] = []
    paragraph: list[str] = []
    fill = True
    defining = False  # inside .de ... ..
    skipping = 0  # depth inside a conditional block that is not for a terminal
    last_kept = True  # whether the last .ie took its branch (then .el does not)
    tag_next = False  # after .TP: the next line is the tag, on a line of its own

    def flush(blank: bool = False) -> None:
        if paragraph:
            out.append(" ".join(paragraph))
            paragraph.clear()
        if blank and out and out[-1] != "":
            out.append("")

    for raw in source.split("\n"):
        line = raw.rstrip()
        if defining:
            defining = not line.startswith("..")
            continue
        if skipping:
            skipping += line.count("\\{") - line.count("\\}")
            skipping = max(skipping, 0)
            continue
        request = _REQUEST.match(line) if line[:1] in (".", "'") else None
        if request is None:
            text = inline(line).strip() if fill else inline(line).rstrip()
            if not text:
                if not fill:
                    out.append("")
                else:
                    flush(blank=True)
                continue
            if fill:
                paragraph.append(text)
                if tag_next:
                    flush()
                    tag_next = False
            else:
                out.append(text)
            continue
        name, rest = request.group(1) or "", request.group(2)
        if name in ("", '\\"', "\\}"):
            continue  # a bare ".", a comment, the end of a conditional block
        if name == "de":
            defining = True
            continue
        if name in ("if", "ie", "el"):
            # the branch for a terminal ("n") is the page as text; the typesetter's ("t")
            # and an .el after a taken .ie are not read
            kept = (not last_kept) if name == "el" else rest.lstrip().startswith("n")
            if name == "ie":
                last_kept = kept
            if not kept and "\\{" in rest:
                skipping = rest.count("\\{") - rest.count("\\}")
            continue
        if name in _NOFILL:
            flush(blank=True)
            fill = False
            continue
        if name in _FILL:
            fill = True
            flush(blank=True)
            continue
        if name in _HEADINGS:
            flush(blank=True)
            out.append(inline(" ".join(_arguments(rest))).strip())
            continue
        if name in ("TH", "Dt"):
            args = _arguments(rest)
            if args:
                out.append(f"{inline(args[0])}({args[1]})" if len(args) > 1 else inline(args[0]))
                out.append("")
            continue
        if name in ("IP", "It") and rest.strip():
            flush(blank=True)
            tag = _arguments(rest)[0] if name == "IP" else rest
            paragraph.append(inline(tag).strip())
            continue
        if name in _BREAKS:
            flush(blank=name not in ("br", "RS", "RE", "in", "ti", "ne"))
            tag_next = name == "TP"
            continue
        if name in _FONT_MACROS or name in _ALTERNATING:
            words = inline((" " if name in _FONT_MACROS else "").join(_arguments(rest))).strip()
            if words:
                (paragraph if fill else out).append(words)
                if tag_next and fill:
                    flush()
                    tag_next = False
            continue
        # anything else (.if, .ie, .el, .ft, .ps, .ds, .nr, .so, .ad, .na, .hy, .ll, ...)
        # changes how the page is set, not what it says
    flush()
    while out and out[-1] == "":
        out.pop()
    return "\n".join(out)
