"""The ``direct`` and ``rag`` baselines: one call with what fits the window, same events."""

from __future__ import annotations

from pathlib import Path

import pytest

from rlm_desktop.library.store import Library
from rlm_desktop.rlm import events as ev
from rlm_desktop.rlm.engine import Engine
from rlm_desktop.settings import Settings
from tests.fakes import ScriptedBackend


@pytest.fixture
def library(tmp_path: Path):
    docs = tmp_path / "docs"
    docs.mkdir()
    filler = "\n".join(f"Line {i} of ordinary notes about gardening and weather." for i in range(300))
    (docs / "a_filler.txt").write_text(filler + "\n")
    (docs / "b_filler.txt").write_text(filler + "\n")
    (docs / "z_secret.txt").write_text("Intro.\n" * 20 + "The vault code is ORCHID-7731.\nEnd.\n")
    lib = Library.open(tmp_path / "library.db")
    lib.add_folder(docs)
    lib.scan()
    yield lib
    lib.close()


def run(library, method: str, answer: str, n_ctx: int = 2048):
    root = ScriptedBackend("root", n_ctx=n_ctx)
    root.enqueue([answer])
    events: list = []
    engine = Engine(root, ScriptedBackend("sub"), library, Settings(), sink=events.append)
    finished = engine.run("What is the vault code?", method=method)
    return finished, root, events


def test_rag_puts_the_hits_in_one_call_and_cites_them(library) -> None:
    finished, root, events = run(library, "rag", "The code is ORCHID-7731.")
    assert len(root.calls) == 1
    prompt = root.calls[0][-1].content
    assert "ORCHID-7731" in prompt and "What is the vault code?" in prompt
    assert finished.status == "ok" and finished.stats.iterations == 1 and finished.stats.sub_calls == 0
    assert finished.citations[0].path.endswith("z_secret.txt") and finished.citations[0].line == 21
    assert [type(e).__name__ for e in events] == ["RunStarted", "NodeStarted", "TokenDelta", "TurnFinished", "NodeFinished", "RunFinished"]


def test_direct_fills_the_window_from_the_beginning_and_marks_the_cut(library) -> None:
    finished, root, _ = run(library, "direct", "The documents do not say.")
    prompt = root.calls[0][-1].content
    assert "a_filler.txt" in prompt
    assert "ORCHID" not in prompt  # the needle is past the window
    assert "tokens to fit]" in prompt
    assert root.count_chat_tokens(root.calls[0]) <= 2048 - 256
    assert finished.answer == "The documents do not say." and finished.citations == ()


def test_direct_cites_the_line_it_was_shown(library) -> None:
    finished, root, _ = run(library, "direct", "ORCHID-7731", n_ctx=8192 * 4)
    assert "ORCHID-7731" in root.calls[0][-1].content
    assert finished.citations == (ev.Citation(finished.citations[0].path, 21),)
    assert finished.citations[0].path.endswith("z_secret.txt")
