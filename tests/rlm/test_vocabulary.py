"""No domain vocabulary in the engine (issue 19, item 6): the words of the bench's task
generators — the people, places and codenames their tables hold, and the nouns of the old
development set (staff, headcount, branch, offices, March) — must not appear in
``rlm_desktop/rlm/`` outside comments and docstrings (in string literals or names).

The engine still holds some, in rules written one failure at a time before the yardstick
existed. ``LEFT_TO_RETIRE`` lists them as of this commit. The test fails when a new one
appears anywhere, and also when one of those is gone (so the list shrinks as rules are
retired, and always says what is left)."""

from __future__ import annotations

import ast
import re
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[2] / "rlm_desktop"
GENERATORS = PACKAGE / "bench" / "tasks"
ENGINE = PACKAGE / "rlm"
# the old development set's nouns, named by the issue
OLD_SET_NOUNS = frozenset({"staff", "headcount", "branch", "branches", "offices", "march"})
WORD = re.compile(r"[A-Za-z][a-z]{2,}")

LEFT_TO_RETIRE: dict[str, frozenset[str]] = {
    # the figure pickers of ask_numbers (the _PEOPLE and month lists)
    "tools/values.py": frozenset({"headcount", "march", "paid", "staff"}),
}
# a generated person's first name that is also a plain word of the engine's own code
PLAIN_WORDS = frozenset({"grace"})


def _strings(tree: ast.AST):
    docstrings = set()
    for node in ast.walk(tree):
        if isinstance(node, (ast.Module, ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)) and node.body:
            first = node.body[0]
            if isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant) and isinstance(first.value.value, str):
                docstrings.add(id(first.value))
    for node in ast.walk(tree):
        if isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in docstrings:
            yield node.value


def generator_vocabulary() -> frozenset[str]:
    """Proper names in the generators' tables (module-level constants in capitals: the
    people, cities, clients and codenames the generated folders are made of)."""
    names: set[str] = set()
    for path in GENERATORS.rglob("*.py"):
        for node in ast.parse(path.read_text(encoding="utf-8")).body:
            if not isinstance(node, (ast.Assign, ast.AnnAssign)):
                continue
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            if not any(isinstance(t, ast.Name) and t.id.lstrip("_").isupper() for t in targets):
                continue
            for c in ast.walk(node.value):
                if not (isinstance(c, ast.Constant) and isinstance(c.value, str)):
                    continue
                words = c.value.split()
                # a name ("Graz", "Rosa Lind", "Harbor North"), not a sentence template
                if 1 <= len(words) <= 3 and all(w[:1].isupper() for w in words):
                    names |= {w.lower() for w in WORD.findall(c.value) if len(w) > 3}
    return frozenset(names - _general_words() - PLAIN_WORDS) | OLD_SET_NOUNS


def _general_words() -> set[str]:
    """Words of the product's other code (library, models, window, command line) and of
    some standard modules' documentation: a table word that is also one of those
    ("Report", "Grace", "Support") is plain language."""
    import pydoc

    words: set[str] = set()
    for name in ("email", "json", "os", "collections", "datetime", "decimal", "statistics", "csv", "html", "argparse",
                 "calendar", "logging", "sqlite3", "string", "textwrap", "unittest", "http.client", "shutil",
                 "configparser", "locale", "fractions", "typing", "dataclasses", "enum", "functools", "itertools",
                 "inspect", "asyncio", "threading", "socket", "tarfile", "zipfile", "mailbox", "smtplib"):
        words |= {w.lower() for w in re.findall(r"[A-Za-z]+", pydoc.render_doc(name, renderer=pydoc.plaintext))}
    for part in ("library", "llm", "gui", "cli"):
        for path in (PACKAGE / part).rglob("*.py"):
            words |= {w.lower() for w in re.findall(r"[A-Za-z]+", path.read_text(encoding="utf-8"))}
    return words


def engine_uses(vocabulary: frozenset[str]) -> dict[str, frozenset[str]]:
    found: dict[str, frozenset[str]] = {}
    for path in sorted(ENGINE.rglob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        words = {w.lower() for s in _strings(tree) for w in re.findall(r"[A-Za-z]+", s)}
        words |= {part for node in ast.walk(tree) if isinstance(node, ast.Name) for part in node.id.lower().split("_")}
        hits = frozenset(words & vocabulary)
        if hits:
            found[str(path.relative_to(ENGINE))] = hits
    return found


def test_the_generator_vocabulary_is_found_at_all() -> None:
    vocabulary = generator_vocabulary()
    assert {"graz", "porto", "staff", "headcount"} <= vocabulary  # the scan sees the tables
    assert "search" not in vocabulary and "total" not in vocabulary  # and not plain words


def test_no_new_domain_vocabulary_in_the_engine_and_the_list_shrinks_as_rules_retire() -> None:
    found = engine_uses(generator_vocabulary())
    new = {f: sorted(w - LEFT_TO_RETIRE.get(f, frozenset())) for f, w in found.items() if w - LEFT_TO_RETIRE.get(f, frozenset())}
    assert not new, f"words of the bench's generators in the engine: {new}"
    gone = {f: sorted(w - found.get(f, frozenset())) for f, w in LEFT_TO_RETIRE.items() if w - found.get(f, frozenset())}
    assert not gone, f"retired (take them off LEFT_TO_RETIRE): {gone}"
