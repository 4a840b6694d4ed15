"""The package's layers, read from its import statements (all of them: top-level, inside
functions and under ``TYPE_CHECKING``): no two modules need each other, and the layers
point one way, core (``library``, ``llm``, ``rlm``) <- ``gui`` <- ``bench`` <- ``cli``."""

from __future__ import annotations

import ast
import subprocess
import sys
from collections import defaultdict
from pathlib import Path

import rlm_desktop

PACKAGE = Path(rlm_desktop.__file__).parent
# who may import whom, by top-level part; the modules at the top (paths, errors,
# settings, logs) are below everything
LAYERS = {"library": 0, "llm": 0, "rlm": 1, "gui": 2, "bench": 3, "cli": 4}


def _module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def import_graph() -> dict[str, set[str]]:
    modules = {_module_name(p): p for p in PACKAGE.rglob("*.py")}

    def known(name: str) -> str | None:
        while name and name not in modules:
            name = name.rpartition(".")[0]
        return name or None

    graph: dict[str, set[str]] = defaultdict(set)
    for name, path in modules.items():
        package = name if path.name == "__init__.py" else name.rpartition(".")[0]
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            targets: list[str] = []
            if isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                    base = ".".join([*anchor, *([node.module] if node.module else [])])
                targets = [f"{base}.{alias.name}" for alias in node.names]
            elif isinstance(node, ast.Import):
                targets = [alias.name for alias in node.names]
            for target in targets:
                found = known(target)
                if found and found != name and not name.startswith(found + "."):  # a package's own __init__ is no edge
                    graph[name].add(found)
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected parts with more than one member (Tarjan, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    for start in list(graph):
        if start in index:
            continue
        work = [(start, iter(sorted(graph.get(start, ()))))]
        index[start] = low[start] = len(index)
        stack.append(start)
        on_stack.add(start)
        while work:
            node, edges = work[-1]
            for nxt in edges:
                if nxt not in index:
                    index[nxt] = low[nxt] = len(index)
                    stack.append(nxt)
                    on_stack.add(nxt)
                    work.append((nxt, iter(sorted(graph.get(nxt, ())))))
                    break
                if nxt in on_stack:
                    low[node] = min(low[node], index[nxt])
            else:
                work.pop()
                if work:
                    low[work[-1][0]] = min(low[work[-1][0]], low[node])
                if low[node] == index[node]:
                    part = []
                    while True:
                        member = stack.pop()
                        on_stack.discard(member)
                        part.append(member)
                        if member == node:
                            break
                    if len(part) > 1:
                        found.append(sorted(part))
    return found


def _part(module: str) -> str:
    return module.split(".")[1] if module.count(".") >= 1 else ""


def test_no_two_modules_import_each_other() -> None:
    assert cycles(import_graph()) == []


def test_the_layers_point_one_way() -> None:
    wrong = sorted(
        f"{a} imports {b}"
        for a, targets in import_graph().items()
        for b in targets
        if _part(a) in LAYERS and _part(b) in LAYERS and LAYERS[_part(b)] > LAYERS[_part(a)]
    )
    assert wrong == []


def test_the_cycle_finder_finds_a_cycle() -> None:
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]


def test_the_core_runs_without_qt() -> None:
    code = ("import sys, rlm_desktop.rlm.ask, rlm_desktop.rlm.engine, rlm_desktop.library.scan, rlm_desktop.llm.loader; "
            "print('PySide6' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "False"
