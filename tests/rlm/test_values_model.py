"""ask_numbers with the real 0.5B sub-model over branch reports that each state other
figures too (staff, customers, years, other months): the checks keep every wrong value
out of the total, where parsing alone adds them up. Slow (~1 minute on one thread)."""

from __future__ import annotations

from pathlib import Path

import pytest

from rlm_desktop.llm.backend import GenerationParams, Message
from rlm_desktop.llm.loader import load_backend
from rlm_desktop.rlm.tools.corpus import FileMeta
from rlm_desktop.rlm.tools.namespace import Repl
from rlm_desktop.settings import Settings

QUESTION = "How many units did the branch sell in March?"
BRANCHES = {
    "south.txt": ("South branch, 2024. The South branch sold nine hundred and eighty units in March. "
                  "It has 7 staff and opened in 1998.", 980),
    "harbour.txt": ("Harbour branch notes. The harbour branch employs 23 people. In March 2024 it moved "
                    "two thousand one hundred units, 300 more than in February.", 2100),
    "north.txt": ("North branch report, 2024.\nIn March the North branch sold 1,250 units to 31 customers.\n"
                  "Staff: 12.", 1250),
    "centre.txt": ("Centre branch - monthly figures\nMonth,Units,Staff\nFebruary,880,11\nMarch,930,12\n"
                   "April,1010,12", 930),
    "east.txt": ("East branch report for Q1 2024.\nJanuary: 610 units. February: 655 units. March: 700 units.\n"
                 "45 customers came back in March.", 700),
    "lake.txt": ("Lake branch, opened 2019 with 14 staff. Sales in March reached 1,480 units across 3 stores.", 1480),
    "hill.txt": ("The Hill branch had 52 visitors a day in March and sold 610 units that month; "
                 "February was 590.", 610),
    "park.txt": ("Park branch: 8 staff, 2 tills. March: three hundred and forty units sold. April: 410 units.", 340),
}


class _Files:
    """Just enough of a library backend for the REPL's corpus: the files and their text."""

    def files(self) -> list[FileMeta]:
        return [FileMeta(p, "text", len(t), t.count("\n") + 1, len(t) // 4) for p, (t, _) in BRANCHES.items()]

    def text(self, path: str) -> str:
        return BRANCHES[path][0]


@pytest.fixture(scope="module")
def sub_model(small_model_path: Path):
    backend = load_backend(small_model_path, Settings(n_threads=1, n_ctx=2048), role="sub")
    yield backend
    backend.close()


def _repl(sub_model, check_values: bool) -> Repl:
    def request_llm(kind, prompts, text, paths, grounded) -> list[str]:
        params = GenerationParams(max_tokens=32)
        return [sub_model.chat([Message("user", p)], params).text.strip() for p in prompts]

    return Repl(_Files(), None, request_llm, __import__, check_values=check_values)  # type: ignore[arg-type]


@pytest.mark.model
def test_checks_keep_wrong_values_out_of_the_total(sub_model) -> None:
    truth = {path: value for path, (_, value) in BRANCHES.items()}
    parsed = _repl(sub_model, check_values=False).ask_numbers(QUESTION, list(BRANCHES))
    checked = _repl(sub_model, check_values=True).ask_numbers(QUESTION, list(BRANCHES))
    wrong_parsed = [r.path for r in parsed if r.value != truth[r.path]]
    verified = checked.verified()
    wrong_verified = [r.path for r in verified if r.value != truth[r.path]]
    assert wrong_parsed, "the 0.5B read every figure right: nothing left to check"
    assert wrong_verified == [], repr(checked)
    assert len(verified) >= len(BRANCHES) - len(wrong_parsed), repr(checked)
    assert checked.total().value == sum(truth[r.path] for r in verified)
