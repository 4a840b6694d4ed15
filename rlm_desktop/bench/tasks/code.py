"""Code questions about a real source tree: a copy of some pure-Python modules of the
running interpreter's standard library. Ground truth comes from ``ast``: default values,
parameter lists, which module defines a function, which functions call another."""

from __future__ import annotations

import ast
import random
import sysconfig
from dataclasses import dataclass
from pathlib import Path

from rlm_desktop.bench.tasks.base import Corpus, Task, size_label

SMALL_MODULES = ("fnmatch", "glob", "colorsys")
LARGE_MODULES = SMALL_MODULES + (
    "bisect", "textwrap", "shlex", "heapq", "string", "difflib", "calendar", "csv", "base64", "quopri",
    "sched", "getopt", "gettext", "netrc", "posixpath", "genericpath", "linecache", "copy", "pprint",
    "reprlib", "filecmp", "zipapp", "cmd", "codeop", "tabnanny", "hmac", "mimetypes", "queue", "shutil",
)


@dataclass(frozen=True)
class FunctionInfo:
    module: str
    name: str
    params: tuple[str, ...]
    defaults: tuple[tuple[str, object], ...]  # (param, constant value) where the default is a constant
    calls: frozenset[str]


def stdlib_dir() -> Path:
    return Path(sysconfig.get_paths()["stdlib"])


def read_modules(names: tuple[str, ...]) -> dict[str, str]:
    root = stdlib_dir()
    return {name: (root / f"{name}.py").read_text(encoding="utf-8") for name in names if (root / f"{name}.py").is_file()}


def _called_name(node: ast.Call) -> str | None:
    if isinstance(node.func, ast.Name):
        return node.func.id
    if isinstance(node.func, ast.Attribute):
        return node.func.attr
    return None


def module_functions(module: str, source: str) -> list[FunctionInfo]:
    """Module-level functions only: their names are what a reader of the file sees first."""
    tree = ast.parse(source)
    out = []
    for node in tree.body:
        if not isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            continue
        args = node.args
        positional = [a.arg for a in args.posonlyargs + args.args]
        params = tuple(positional + ([args.vararg.arg] if args.vararg else []) + [a.arg for a in args.kwonlyargs] + ([args.kwarg.arg] if args.kwarg else []))
        defaults: list[tuple[str, object]] = []
        for arg, default in zip(positional[len(positional) - len(args.defaults):], args.defaults, strict=False):
            if isinstance(default, ast.Constant):
                defaults.append((arg, default.value))
        for arg, default in zip(args.kwonlyargs, args.kw_defaults, strict=False):
            if isinstance(default, ast.Constant):
                defaults.append((arg.arg, default.value))
        calls = frozenset(n for c in ast.walk(node) if isinstance(c, ast.Call) and (n := _called_name(c)))
        out.append(FunctionInfo(module, node.name, params, tuple(defaults), calls))
    return out


def _default_ok(value: object) -> bool:
    if value is None or isinstance(value, bool):
        return True
    if isinstance(value, (int, float)):
        return True
    return isinstance(value, str) and value.isalnum() and len(value) <= 12


def code_tasks(modules: tuple[str, ...], seed: int, family: str, n_questions: int = 10) -> list[Task]:
    sources = read_modules(modules)
    corpus = Corpus(f"stdlib-{len(sources)}-s{seed}", tuple((f"stdlib/{m}.py", src) for m, src in sorted(sources.items())))
    label = size_label(corpus.approx_tokens)
    rng = random.Random(f"code:{','.join(sorted(sources))}:{seed}")
    funcs = [f for m, src in sorted(sources.items()) for f in module_functions(m, src)]
    name_count: dict[str, int] = {}
    for f in funcs:
        name_count[f.name] = name_count.get(f.name, 0) + 1
    unique = [f for f in funcs if name_count[f.name] == 1]

    kinds: dict[str, list[tuple[str, object, str, tuple[str, ...]]]] = {"default": [], "signature": [], "module": [], "callers": []}
    for f in unique:
        for param, value in f.defaults:
            if not _default_ok(value):
                continue
            if isinstance(value, (int, float)) and not isinstance(value, bool):
                expected, kind = float(value), "number"
            else:
                expected, kind = str(value), "text"
            kinds["default"].append((f"In {f.module}.py, what is the default value of the parameter `{param}` of the function `{f.name}`?", expected, kind, ()))
        if 2 <= len(f.params) <= 5:
            universe = tuple(sorted({p for g in funcs if g.module == f.module for p in g.params}))
            kinds["signature"].append((f"What are the parameter names of the function `{f.name}` in {f.module}.py?", tuple(f.params), "set", universe))
        if not f.name.startswith("_"):
            kinds["module"].append((f"Which file defines the function `{f.name}`?", f"{f.module}.py", "text", ()))
    for target in unique:
        callers = tuple(g.name for g in funcs if g.module == target.module and g.name != target.name and target.name in g.calls)
        if 1 <= len(callers) <= 4:
            universe = tuple(g.name for g in funcs if g.module == target.module)
            kinds["callers"].append((f"Which functions in {target.module}.py call `{target.name}`?", callers, "set", universe))
    for pool in kinds.values():
        rng.shuffle(pool)
    chosen = []
    order = ["default", "signature", "module", "callers"]
    while len(chosen) < n_questions and any(kinds.values()):
        for k in order:
            if kinds[k] and len(chosen) < n_questions:
                chosen.append(kinds[k].pop())
    return [
        Task(f"{family}-{label}-s{seed}-{i:02d}", family, q, a, k, corpus, label, universe=u)  # type: ignore[arg-type]
        for i, (q, a, k, u) in enumerate(chosen)
    ]
