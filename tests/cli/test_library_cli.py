"""``rlm-desktop index / search / library`` as a user runs them."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from rlm_desktop.cli import main


@pytest.fixture
def docs(tmp_path: Path) -> Path:
    root = tmp_path / "docs"
    (root / "sub").mkdir(parents=True)
    (root / "readme.md").write_text("# Project\n\nThe deploy key rotates every 90 days.\n")
    (root / "sub" / "app.py").write_text("TIMEOUT = 30\n\ndef deploy():\n    return 'deploy key'\n")
    (root / "broken.pdf").write_bytes(b"%PDF-1.4 not really")
    return root


def test_index_prints_summary_and_failures(docs: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["index", str(docs), "--no-progress"]) == 0
    out = capsys.readouterr().out
    assert "Indexed: 2 added" in out and "1 failed" in out
    assert f"{docs / 'broken.pdf'}: corrupt or unreadable PDF" in out
    assert main(["index", str(docs), "--no-progress"]) == 0
    out = capsys.readouterr().out  # the failed PDF did not change: it is not read again, still listed
    assert "0 added, 0 updated, 0 removed, 3 unchanged" in out and "; 1 errors" in out


def test_search_shows_locations_and_totals(docs: Path, capsys: pytest.CaptureFixture[str]) -> None:
    main(["index", str(docs), "--no-progress"])
    capsys.readouterr()
    assert main(["search", "deploy key"]) == 0
    out = capsys.readouterr().out
    assert "2 hits from 2 of 2 matching files" in out
    assert f"{docs / 'readme.md'}:3" in out and f"{docs / 'sub' / 'app.py'}:" in out
    assert main(["search", "deploy", "--json", "-k", "1"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["total_files"] == 2 and len(data["hits"]) == 1 and data["hits"][0]["line"] in (3, 4)


def test_library_lists_folders_counts_and_errors(docs: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["library"]) == 0
    assert "library is empty" in capsys.readouterr().out
    main(["index", str(docs), "--no-progress"])
    capsys.readouterr()
    assert main(["library"]) == 0
    out = capsys.readouterr().out
    assert f"{docs}  [ok]  2 files" in out and "1 errors" in out
    assert "broken.pdf: corrupt or unreadable PDF" in out
    assert main(["library", "--remove", str(docs)]) == 0
    assert "library is empty" in capsys.readouterr().out


def test_index_of_a_missing_path_is_a_clear_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["index", str(tmp_path / "nope"), "--no-progress"]) == 1
    assert "nope: no such file or folder" in capsys.readouterr().err


def test_bench_index_reports_figures(docs: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "figures.json"
    assert main(["bench", "index", str(docs), "--repeat", "1", "--json", str(out)]) == 0
    figures = json.loads(out.read_text())
    assert figures["files_indexed"] == 2 and figures["failed"] == 1 and figures["rescan_unchanged"] == 3  # the failed PDF is not retried: it did not change
    assert figures["files_per_s"] > 0 and figures["search_p95_ms"] > 0 and figures["peak_rss_main_mb"] > 0
    for key in ("index_mb_per_s", "baseline_fts5_mb_per_s", "ratio_to_baseline", "rescan_s", "index_writer_cpu_s"):
        assert key in figures
    assert "ratio_to_baseline" in capsys.readouterr().out
