"""``rlm-desktop bench quality|dev``: the commands a user runs, with the engine faked."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from rlm_desktop.bench import common, dev, quality
from rlm_desktop.cli import main
from rlm_desktop.rlm.events import RunFinished, RunStats
from tests.bench.conftest import fake_essays


class Echo:
    """Answers every question with the same text; enough to exercise the plumbing."""

    def __init__(self, seen: list) -> None:
        self.seen = seen

    def run(self, question, roots=(), context_text=None, method="rlm") -> RunFinished:
        self.seen.append((question, method))
        return RunFinished("r", "ok", "Not found", stats=RunStats(prompt_tokens=50, completion_tokens=5))


@pytest.fixture
def fake_engine(monkeypatch):
    seen: list = []
    monkeypatch.setattr(common, "default_engine_factory", lambda settings: ((lambda lib, sink: Echo(seen)), lambda: None))
    monkeypatch.setattr(quality, "load_essays", fake_essays)
    monkeypatch.setattr(dev, "load_essays", fake_essays)
    return seen


def test_bench_quality_quick_writes_results_table_and_plots(fake_engine, tmp_path: Path, capsys) -> None:
    results = tmp_path / "q.json"
    assert main(["bench", "quality", "--quick", "--results", str(results)]) == 0
    rows = json.loads(results.read_text())["results"]
    assert len(rows) == len(fake_engine) == 8
    out = capsys.readouterr().out
    assert "| family | size | method | accuracy" in out
    assert (tmp_path / "quality-quick-table.md").is_file() and (tmp_path / "quality-quick-accuracy.png").is_file()
    # resumable: a second run has nothing left to do
    assert main(["bench", "quality", "--quick", "--results", str(results)]) == 0
    assert len(fake_engine) == 8


def test_bench_dev_family_and_absent_scoring(fake_engine, tmp_path: Path, capsys) -> None:
    results = tmp_path / "d.json"
    assert main(["bench", "dev", "--quick", "--family", "absent", "--results", str(results)]) == 0
    rows = json.loads(results.read_text())["results"]
    assert {r["family"] for r in rows} == {"absent"} and len(rows) == 6
    assert all(r["correct"] for r in rows)  # "Not found" is the right reply to an absent question
    assert "| absent |" in capsys.readouterr().out


def test_bench_dev_ablation_is_its_own_variant(fake_engine, tmp_path: Path, capsys) -> None:
    results = tmp_path / "d.json"
    main(["bench", "dev", "--quick", "--family", "lookup", "--results", str(results)])
    main(["bench", "dev", "--quick", "--family", "lookup", "--ablate", "echo", "--results", str(results)])
    rows = json.loads(results.read_text())["results"]
    assert sorted({r["variant"] for r in rows}) == ["default", "no-echo"]
    table = capsys.readouterr().out
    assert "| lookup | 5K | default |" in table and "| lookup | 5K | no-echo |" in table


def test_bench_settings_switch_the_answer_cache_off() -> None:
    """A benchmark must measure the engine, not replay answers cached by an earlier run."""
    import argparse

    from rlm_desktop.bench.common import bench_settings

    args = argparse.Namespace(timeout=60.0, threads=None, root_model=None, sub_model=None)
    assert bench_settings(args).subcall_cache is False


def test_bench_quality_runs_the_first_tasks_of_a_family_with_chosen_methods(fake_engine, tmp_path: Path) -> None:
    results = tmp_path / "q.json"
    args = ["bench", "quality", "--family", "aggregation", "--methods", "rag", "--per-size", "2", "--results", str(results)]
    assert main(args) == 0
    rows = json.loads(results.read_text())["results"]
    assert [(r["family"], r["method"]) for r in rows] == [("aggregation", "rag")] * 2
    assert [m for _, m in fake_engine] == ["rag", "rag"]


def test_bench_dev_runs_only_the_tasks_named(fake_engine, tmp_path: Path) -> None:
    results = tmp_path / "d.json"
    assert main(["bench", "dev", "--task", "lookup-5K-s0-02", "--task", "absent-5K-s0-00", "--results", str(results)]) == 0
    rows = json.loads(results.read_text())["results"]
    assert sorted(r["task_id"] for r in rows) == ["absent-5K-s0-00", "lookup-5K-s0-02"]
    with pytest.raises(SystemExit, match="no task lookup-9K"):
        main(["bench", "dev", "--task", "lookup-9K-s0-00", "--results", str(results)])


def test_bench_dev_held_out_quick_prints_three_bins_per_family_and_method(fake_engine, tmp_path: Path, capsys, monkeypatch) -> None:
    """The real corpora are reported as not run when unavailable (here: none installed),
    never counted; the private folders run with every method."""
    import rlm_desktop.bench.real as real

    monkeypatch.setattr(real, "real_tasks", lambda part, **kw: ([], ["postgresql-docs: cannot download (offline)"]))
    results = tmp_path / "h.json"
    assert main(["bench", "dev", "--part", "held-out", "--quick", "--results", str(results)]) == 0
    rows = json.loads(results.read_text())["results"]
    assert {r["method"] for r in rows} == {"rlm", "rag", "direct"}
    assert {r["part"] for r in rows} == {"held-out"} and all(r["bin"] in ("right", "not_found", "wrong") for r in rows)
    # "Not found" to every question: right on the absent ones, not found on the rest, never wrong
    assert {r["bin"] for r in rows if r["family"] == "absent"} == {"right"}
    assert {r["bin"] for r in rows if r["family"] != "absent"} == {"not_found"}
    out = capsys.readouterr().out
    assert "not run (corpus unavailable): postgresql-docs" in out
    assert "| family | method | questions | right | not found | wrong (confident) |" in out
    assert (tmp_path / "dev-held-out-quick-bins.md").is_file() and (tmp_path / "dev-held-out-quick-bins.png").is_file()
    # --quick cuts each run at 120 s, so its 18 runs stay under 20 minutes; it says so
    assert json.loads(results.read_text())["meta"]["timeout_s"] == 120.0
    assert "each run cut at 120 s" in out
    assert main(["bench", "dev", "--part", "held-out", "--quick", "--timeout", "60", "--results", str(tmp_path / "t.json")]) == 0
    assert json.loads((tmp_path / "t.json").read_text())["meta"]["timeout_s"] == 60.0
