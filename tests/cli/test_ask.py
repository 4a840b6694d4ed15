"""``rlm-desktop ask`` and ``rlm-desktop runs`` with a scripted model (the real REPL worker
and library): what a person sees on stdout and stderr, the exit code, the runs DB."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from rlm_desktop import cli
from rlm_desktop.llm import loader
from rlm_desktop.rlm.cells import read_first_cell
from tests.fakes import ScriptedBackend


class FakePool:
    def __init__(self, root: ScriptedBackend, sub: ScriptedBackend) -> None:
        self._root, self._sub = root, sub
        self.closed = False

    def __call__(self, settings):  # BackendPool(settings)
        self.settings = settings
        return self

    def root(self):
        return self._root

    def sub(self):
        return self._sub

    def get(self, name, role="root"):
        return self._sub

    def close(self) -> None:
        self.closed = True


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "a.txt").write_text("Meeting notes.\nThe vault code is ORCHID-7731.\nNothing else.\n")
    (docs / "b.txt").write_text("Budget 2024.\nTotal spend was 120 dollars.\n")
    return docs


def scripted(monkeypatch, responses) -> FakePool:
    root = ScriptedBackend("root")
    root.enqueue(responses)
    pool = FakePool(root, ScriptedBackend("sub"))
    monkeypatch.setattr(loader, "BackendPool", pool)
    return pool


def test_ask_json_prints_one_object_and_records_the_run(monkeypatch, folder, capsys) -> None:
    pool = scripted(monkeypatch, ["```python\nsearch('vault code')\n```", "```python\nFINAL('ORCHID-7731')\n```"])
    code = cli.main(["ask", "--folder", str(folder), "--json", "--max-iterations", "5", "What is the vault code?"])
    out, err = capsys.readouterr()
    assert code == 0
    data = json.loads(out)
    assert set(data) == {"answer", "status", "citations", "stats", "run_id"}
    assert data["answer"] == "ORCHID-7731" and data["status"] == "ok"
    assert data["citations"] == [{"path": str(folder / "a.txt"), "line": 2, "page": None}]
    assert set(data["stats"]) == {"iterations", "sub_calls", "depth", "prompt_tokens", "completion_tokens", "wall_s"}
    assert data["stats"]["iterations"] == 2
    assert pool.settings.max_iterations == 5 and pool.closed
    assert "indexed: 2 added" in err and "[root] turn 1" in err
    # the engine's first move and its reading (turn 2, no cell), its second move (nothing
    # new in two short files, so no reading), then the model's cells
    assert f"[root] cell 1: {read_first_cell('What is the vault code?')}" in err
    assert "[root] cell 3: passages(' '.join(rarest_words('What is the vault code?'" in err
    assert "[root] cell 4: search('vault code')" in err

    assert cli.main(["runs", "list"]) == 0
    assert data["run_id"] in capsys.readouterr().out
    assert cli.main(["runs", "show", data["run_id"]]) == 0
    shown = capsys.readouterr().out
    assert "answer: ORCHID-7731" in shown and "turn 1 code: passages(" in shown and "turn 4 code: search('vault code')" in shown
    assert cli.main(["runs", "export", data["run_id"], "--format", "md"]) == 0
    assert "## Answer" in capsys.readouterr().out
    assert cli.main(["runs", "export", data["run_id"], "--format", "json"]) == 0
    assert json.loads(capsys.readouterr().out)["id"] == data["run_id"]


def test_ask_prints_answer_with_sources(monkeypatch, folder, capsys) -> None:
    scripted(monkeypatch, ["```python\nsearch('vault code')\n```", "```python\nFINAL('ORCHID-7731')\n```"])
    assert cli.main(["ask", "--folder", str(folder), "What is the vault code?"]) == 0
    out, err = capsys.readouterr()
    assert out.splitlines()[0] == "ORCHID-7731"
    assert f"{folder / 'a.txt'}:2" in out
    assert "ok: 2 iterations" in err


def test_ask_without_answer_exits_nonzero(monkeypatch, folder, capsys) -> None:
    scripted(monkeypatch, ["```python\nsearch('vault')\n```", ""])
    code = cli.main(["ask", "--folder", str(folder), "--json", "--max-iterations", "1", "Q?"])
    data = json.loads(capsys.readouterr().out)
    assert code == 1
    # no answer: a plain statement of what was searched, never an empty reply
    assert data["status"] == "budget_exhausted" and data["answer"].startswith("Not found: the iterations budget ran out")
    assert "search('vault')" in data["answer"]


def test_ask_rejects_a_missing_folder(tmp_path, capsys) -> None:
    assert cli.main(["ask", "--folder", str(tmp_path / "nope"), "Q?"]) == 1
    assert "is not a folder" in capsys.readouterr().err
