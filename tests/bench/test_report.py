"""The report: a Markdown table a reader can check against the rows, and PNG plots."""

from __future__ import annotations

from pathlib import Path

from rlm_desktop.bench.report import failures, plot, summary_table
from rlm_desktop.bench.runner import Row


def row(task: str, size: str, tokens: int, method: str, correct: bool, wall: float) -> Row:
    return Row(task, "needle", size, tokens, method, "default", "q?", 1.0, "1" if correct else "2", correct, "", "ok", wall, 100, 10, 1, 2)


ROWS = [
    row("a", "8K", 8000, "rlm", True, 10.0),
    row("b", "8K", 8000, "rlm", False, 20.0),
    row("c", "128K", 128000, "rlm", True, 12.0),
    row("a", "8K", 8000, "direct", True, 200.0),
    row("c", "128K", 128000, "direct", False, 250.0),
]


def test_table_has_one_line_per_group_with_accuracy() -> None:
    table = summary_table(ROWS)
    lines = table.strip().splitlines()
    assert lines[0].startswith("| family | size | method | accuracy")
    assert len(lines) == 2 + 4
    assert "| needle | 8K | rlm | 50% (1/2) | 2 | 15.0 | 110 | 1 | 0 |" in table
    assert table.index("| 8K |") < table.index("| 128K |")  # sizes in numeric order


def test_failures_quote_the_answer() -> None:
    text = failures(ROWS)
    assert text.count("\n") == 2 and "`b` (rlm)" in text and "got `2`" in text


def test_plots_are_written(tmp_path: Path) -> None:
    written = plot(ROWS, tmp_path, prefix="x")
    assert [p.name for p in written] == ["x-accuracy.png", "x-cost.png"]
    for path in written:
        assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and path.stat().st_size > 5000


def test_the_refusals_table_counts_each_rule_where_it_sent_an_answer_back() -> None:
    from dataclasses import replace

    from rlm_desktop.bench.report import refusals_table

    refused = [{"node": "n", "notice": "[ungrounded] The answer states '128', which no output shows."},
               {"node": "n", "notice": "[ungrounded] Again."}, {"node": "n", "notice": "strategy: lookup (chosen by plan)"}]
    rows = [
        replace(ROWS[0], trace=refused, bin="right"),
        replace(ROWS[1], trace=[*refused[:1], {"node": "n", "notice": "[echoes_question] The answer repeats the question."}], bin="wrong"),
        replace(ROWS[2], trace=[{"node": "n", "notice": "strategy: lookup"}], bin="right"),
        replace(ROWS[3], trace=refused, bin="wrong"),  # direct: no rules run there
    ]
    table = refusals_table(rows)
    assert "| ungrounded | 2 | 3 | 1 | 0 | 1 |" in table
    assert "| echoes_question | 1 | 1 | 0 | 0 | 1 |" in table
    assert table.index("ungrounded") < table.index("echoes_question")  # most runs first
    assert "No answer rule" in refusals_table(rows[2:3])
