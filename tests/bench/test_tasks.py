"""Generators are deterministic by seed, and their ground truths are right: each is
recomputed here from the written text (or from the live standard library), not from the
generator's own records."""

from __future__ import annotations

import importlib
import inspect
import re
from collections import Counter
from pathlib import Path

import pytest

from rlm_desktop.bench.scoring import numbers_in
from rlm_desktop.bench.tasks import dev_tasks, quality_tasks
from rlm_desktop.bench.tasks.code import SMALL_MODULES, code_tasks
from rlm_desktop.bench.tasks.facts import facts_tasks
from rlm_desktop.bench.tasks.figures import figures_tasks
from rlm_desktop.bench.tasks.needle import needle_task
from rlm_desktop.bench.tasks.notes import notes_tasks


def _text(task) -> str:
    return "\n".join(t for _, t in task.corpus.files)


def test_same_seed_same_tasks_other_seed_other_tasks(essays) -> None:
    a = dev_tasks(essays, quick=True, seed=3)
    b = dev_tasks(essays, quick=True, seed=3)
    c = dev_tasks(essays, quick=True, seed=4)
    assert [(t.id, t.question, t.expected, t.corpus.files) for t in a] == [(t.id, t.question, t.expected, t.corpus.files) for t in b]
    assert [t.corpus.files for t in a] != [t.corpus.files for t in c]


@pytest.mark.parametrize("size", [8_000, 32_000, 128_000])
def test_needle_is_in_the_haystack_once_and_sizes_hold(essays, size: int, tmp_path: Path) -> None:
    task = needle_task(essays, size, seed=1)
    folder = task.corpus.write(tmp_path)
    text = "".join(p.read_text() for p in sorted(folder.rglob("*.txt")))
    city = task.question.removeprefix("What is the special magic number for ").rstrip("?")
    found = re.findall(rf"The special magic number for {city} is (\d{{7}})\.", text)
    assert found == [str(int(task.expected))]
    assert len(re.findall(r"special magic number", text)) == 1
    assert abs(len(text) / 4 - size) < 0.05 * size + 200
    assert len(task.corpus.files) >= size // 2_500  # split across many files


def test_needle_depth_varies_with_seed(essays) -> None:
    def depth(seed: int) -> float:
        task = needle_task(essays, 32_000, seed)
        text = _text(task)
        return text.index("special magic number") / len(text)

    depths = {round(depth(s), 2) for s in range(6)}
    assert len(depths) >= 4


_HEADER = re.compile(
    r"(?:Filed by|written by|Author:) (?P<filer>[A-Z][a-z]+ [A-Z][a-z]+)\.? ?(?:from the |\(|Office: )(?P<office>[A-Z][a-z]+)"
    r"(?: office)?\)?[.;]? (?:Status:|its status is|Current status:) (?P<status>\w+)"
)


def test_notes_ground_truth_matches_the_text(essays) -> None:
    tasks = notes_tasks(essays, 60, seed=2, family="count_list", n_questions=12)
    records = {}
    for path, text in tasks[0].corpus.files:
        m = _HEADER.search(" ".join(text.split()))
        assert m, text[:200]
        records[path.rsplit("/", 1)[-1]] = m.groupdict()
    for task in tasks:
        q = task.question
        if m := re.match(r"How many notes were filed by (.+)\?", q):
            assert task.expected == sum(r["filer"] == m[1] for r in records.values())
        elif m := re.match(r"How many notes from the (\w+) office are still open\?", q):
            assert task.expected == sum(r["office"] == m[1] and r["status"] == "open" for r in records.values())
        elif q == "How many notes have the status escalated?":
            assert task.expected == sum(r["status"] == "escalated" for r in records.values())
        elif q == "How many different offices appear in the notes?":
            assert task.expected == len({r["office"] for r in records.values()})
        elif q == "Which person filed the most notes?":
            top = Counter(r["filer"] for r in records.values()).most_common(2)
            assert top[0][0] == task.expected and top[0][1] > top[1][1]
        elif q == "Which office do the most notes come from?":
            top = Counter(r["office"] for r in records.values()).most_common(2)
            assert top[0][0] == task.expected and top[0][1] > top[1][1]
        elif m := re.match(r"Which files were filed by (.+) from the (\w+) office\?", q):
            assert set(task.expected) == {p for p, r in records.items() if r["filer"] == m[1] and r["office"] == m[2]}
        elif q == "Which files have the status escalated?":
            assert set(task.expected) == {p for p, r in records.items() if r["status"] == "escalated"}
        else:
            pytest.fail(f"question not checked: {q}")
        if task.kind == "set":
            assert set(task.expected) <= set(task.universe)


def test_figures_ground_truth_matches_the_text(essays) -> None:
    tasks = figures_tasks(essays, 15, seed=5)
    march, feb, staff = {}, {}, {}
    for _path, text in tasks[0].corpus.files:
        flat = " ".join(text.split())
        name = flat.split("Branch report: ", 1)[1].split(" ", 1)[0]
        for sentence in re.split(r"(?<=[.])\s+(?=[A-Z])", flat):
            nums = numbers_in(sentence)
            if "March" in sentence and "units" in sentence.lower():
                march[name] = nums[0]
            elif "February" in sentence:
                feb[name] = nums[0]
            elif re.search(r"employs|staff of|Headcount", sentence):
                staff[name] = nums[0]
    assert len(march) == len(feb) == len(staff) == 15
    checks = {
        "What is the total number of units sold in March across all branches?": sum(march.values()),
        "What is the largest number of units any single branch sold in March?": max(march.values()),
        "Which branch sold the most units in March?": max(march, key=march.get),
        "What is the smallest number of units any single branch sold in March?": min(march.values()),
        "Which branch sold the fewest units in March?": min(march, key=march.get),
        "What is the total number of units sold in February across all branches?": sum(feb.values()),
        "How many people do all the branches employ in total?": sum(staff.values()),
        "What is the largest number of units any single branch sold in February?": max(feb.values()),
        "What is the total number of units sold in March and February together, across all branches?": sum(march.values()) + sum(feb.values()),
    }
    for task in tasks:
        if m := re.match(r"How many branches sold more than (\d+) units in March\?", task.question):
            assert task.expected == sum(v > int(m[1]) for v in march.values())
        elif task.question == "Which branch has the most staff?":
            assert task.expected == max(staff, key=staff.get)
        else:
            assert task.expected == checks[task.question], task.question
    # the figures really are phrased in varied ways
    text = "\n".join(t for _, t in tasks[0].corpus.files)
    assert re.search(r"\d,\d{3}", text) and re.search(r"\bhundred\b", text) and re.search(r"\b\d{3,4} units", text)


def test_code_ground_truth_matches_the_live_standard_library() -> None:
    tasks = code_tasks(SMALL_MODULES, seed=0, family="code", n_questions=12)
    assert len(tasks) >= 10
    modules = {m: importlib.import_module(m) for m in SMALL_MODULES}
    sources = {m: inspect.getsource(mod) for m, mod in modules.items()}
    for task in tasks:
        q = task.question
        if m := re.match(r"In (\w+)\.py, what is the default value of the parameter `(\w+)` of the function `(\w+)`\?", q):
            default = inspect.signature(getattr(modules[m[1]], m[3])).parameters[m[2]].default
            assert (float(default) if task.kind == "number" else str(default)) == task.expected
        elif m := re.match(r"What are the parameter names of the function `(\w+)` in (\w+)\.py\?", q):
            assert tuple(inspect.signature(getattr(modules[m[2]], m[1])).parameters) == task.expected
        elif m := re.match(r"Which file defines the function `(\w+)`\?", q):
            owners = [name for name, src in sources.items() if re.search(rf"^def {m[1]}\(", src, re.M)]
            assert owners == [task.expected.removesuffix(".py")]
        elif m := re.match(r"Which functions in (\w+)\.py call `(\w+)`\?", q):
            mod = modules[m[1]]
            callers = {
                name for name, fn in vars(mod).items()
                if inspect.isfunction(fn) and fn.__module__ == mod.__name__ and name != m[2]
                and re.search(rf"\b{m[2]}\(", inspect.getsource(fn).split(":", 1)[1])
            }
            assert callers == set(task.expected)
        else:
            pytest.fail(f"question not checked: {q}")


def test_facts_lookups_are_planted_once_and_absent_keys_nowhere(essays) -> None:
    tasks = facts_tasks(essays, 20_000, seed=1)
    text = " ".join(" ".join(t.split()) for _, t in tasks[0].corpus.files)
    families = Counter(t.family for t in tasks)
    assert families == {"lookup": 10, "multi_step": 10, "absent": 10}
    for task in tasks:
        if task.family == "lookup" and task.kind == "number":
            assert text.count(f" is {int(task.expected)}.") == 1
        elif task.family == "lookup":
            assert f"{task.expected}." in text
        elif task.family == "multi_step":
            key = re.search(r"codenamed (\w+)|the (\w+) filing cabinet", task.question)
            first = re.search(rf"(?:codenamed {key[1]} is led by|The {key[2]} filing cabinet belongs to) ([A-Z]\w+ [A-Z]\w+)\.", text)
            assert first, task.question
            second = re.search(rf"{first[1]}(?: works in room|'s badge number is) (\d+)\.", text)
            assert second and float(second[1]) == task.expected
        else:
            assert task.searched and task.searched[0] not in text


def test_dev_set_has_ten_per_family_at_two_sizes(essays) -> None:
    tasks = dev_tasks(essays)
    per = Counter((t.family, t.corpus.id) for t in tasks)
    for family in ("lookup", "multi_step", "count_list", "numeric", "code", "absent"):
        sizes = {(cid, t.input_tokens) for t in tasks if t.family == family for cid in [t.corpus.id]}
        assert len(sizes) == 2, family
        small, large = sorted(tok for _, tok in sizes)
        assert small < 8_000 < 4 * 8_000 < large, (family, small, large)
        assert all(n >= 10 for (f, _), n in per.items() if f == family)


def test_quick_quality_is_a_small_subset(essays) -> None:
    quick = quality_tasks(essays, quick=True)
    assert {t.family for t in quick} == {"needle", "aggregation", "code_qa"}
    assert len(quick) <= 8


def test_quick_plan_runs_rlm_everywhere_and_each_baseline_once(essays) -> None:
    from rlm_desktop.bench.tasks import quality_plan

    quick = quality_tasks(essays, quick=True)
    plan = quality_plan(quick, ("rlm", "rag", "direct"), quick=True)
    assert [t.id for t, m in plan if m == "rlm"] == [t.id for t in quick]
    assert [(t.family, m) for t, m in plan if m != "rlm"] == [("needle", "direct"), ("aggregation", "rag")]
    assert len(quality_plan(quick, ("rlm", "rag", "direct"), quick=False)) == 3 * len(quick)
