"""End to end with the real 0.5B model as root and sub model, through the installed
``rlm-desktop ask`` command, on folders generated here: a needle in a folder far bigger
than the 8K window, and a count over many files that needs code."""

from __future__ import annotations

import json
import os
import random
import re
import subprocess
import sys
from pathlib import Path

import pytest

from rlm_desktop.settings import TEST_MODEL

pytestmark = pytest.mark.model

WORDS = (
    "the garden river morning letter window market station winter summer forest harbor valley music "
    "paper stone bridge village evening lantern journey orchard meadow candle"
).split()


def filler(rng: random.Random, n: int) -> list[str]:
    return [" ".join(rng.choice(WORDS) for _ in range(rng.randint(8, 14))).capitalize() + "." for _ in range(n)]


def ask(folder: Path, question: str) -> dict:
    proc = subprocess.run(
        [sys.executable, "-m", "rlm_desktop", "ask", "--folder", str(folder), "--model", TEST_MODEL,
         "--sub-model", TEST_MODEL, "--max-iterations", "6", "--json", question],
        capture_output=True, text=True, timeout=600, env=os.environ.copy(),
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    lines = [line for line in proc.stdout.splitlines() if line.strip()]
    assert len(lines) == 1, proc.stdout  # exactly one JSON object
    return json.loads(lines[0])


def test_needle_in_a_folder_bigger_than_the_window(tmp_path: Path, small_model_path: Path) -> None:
    rng = random.Random(1)
    folder = tmp_path / "notes"
    folder.mkdir()
    for i in range(12):
        lines = filler(rng, 60)
        if i == 7:
            lines.insert(31, "The access code for the blue vault is TANGO-4471.")
        (folder / f"notes_{i:02d}.txt").write_text("\n".join(lines) + "\n")
    corpus_chars = sum(len(p.read_text()) for p in folder.iterdir())
    assert corpus_chars / 4 > 8192  # far past the model's window

    result = ask(folder, "What is the access code for the blue vault?")
    assert result["status"] == "ok"
    assert "TANGO-4471" in result["answer"]
    assert {"path": str(folder / "notes_07.txt"), "line": 32, "page": None} in result["citations"]
    # the model read a sliver of the corpus, not all of it
    assert result["stats"]["prompt_tokens"] < corpus_chars / 4


def test_count_over_many_files_needs_code(tmp_path: Path, small_model_path: Path) -> None:
    rng = random.Random(2)
    folder = tmp_path / "memos"
    folder.mkdir()
    expected = 0
    for i in range(30):
        lines = filler(rng, 15)
        if i % 4 == 1 or i % 7 == 3:
            lines.insert(rng.randint(0, 14), "Please send the invoice to accounting by Friday.")
            expected += 1
        (folder / f"memo_{i:02d}.txt").write_text("\n".join(lines) + "\n")
    assert expected == 11

    result = ask(folder, "How many files mention the invoice?")
    assert result["status"] == "ok"
    assert re.search(rf"\b{expected}\b", result["answer"]), result["answer"]
    # search shows at most 10 files: the right count came from code over every file
    assert result["stats"]["iterations"] >= 2
