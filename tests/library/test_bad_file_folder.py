"""The scanner on a generated folder of hostile files (issue 22, items 9-12): nothing
outside the library's folders is read, nothing blocks the scan, a zip bomb is refused
before parsing and not retried until it changes, and the counts a person sees agree."""

from __future__ import annotations

import json
import os
import zipfile
from pathlib import Path

import pytest

from rlm_desktop.cli import main
from rlm_desktop.library import scan as scan_module
from rlm_desktop.library.extract import ZIP_MAX_UNPACKED
from rlm_desktop.library.store import Library
from tests.library.conftest import make_docx


def by_name(pairs) -> dict[str, str]:
    return {os.path.basename(p): reason for p, reason in pairs}


def make_docx_bomb(path: Path) -> Path:
    """A real DOCX with one more member: zeros just past the unpacked-size limit, a few
    hundred KB on disk. python-docx itself would open it without complaint."""
    make_docx(path, ["a paragraph nobody gets to read"])
    zeros = bytes(1 << 20)
    with zipfile.ZipFile(path, "a", zipfile.ZIP_DEFLATED, compresslevel=1) as z, z.open("word/media/zeros.bin", "w") as member:
        for _ in range(ZIP_MAX_UNPACKED // len(zeros) + 1):
            member.write(zeros)
    assert path.stat().st_size < 2_000_000
    return path


@pytest.fixture
def bad_folder(tmp_path: Path) -> Path:
    """docs/ with one of each bad case, beside a folder it links out to."""
    outside = tmp_path / "elsewhere"
    outside.mkdir()
    (outside / "secret.txt").write_text("the launch code is platypus\n")
    docs = tmp_path / "docs"
    (docs / "notes").mkdir(parents=True)
    (docs / ".private").mkdir()
    (docs / "good.txt").write_text("a perfectly fine file about otters\n")
    (docs / "notes" / "real.txt").write_text("the meeting moved to thursday\n")
    (docs / ".private" / "diary.txt").write_text("dear diary, the heron came back\n")
    (docs / "secret_link.txt").symlink_to(outside / "secret.txt")  # passwd_link.txt -> /etc/passwd
    (docs / "elsewhere_dir").symlink_to(outside)  # a folder link out of the root
    (docs / "inside_link.txt").symlink_to(docs / "notes" / "real.txt")  # its target is indexed anyway
    (docs / "diary_link.txt").symlink_to(docs / ".private" / "diary.txt")  # its target is ignored
    (docs / "broken_link.txt").symlink_to(docs / "no such file")
    os.mkfifo(docs / "pipe.txt")
    make_docx_bomb(docs / "bomb.docx")
    return docs


@pytest.mark.timeout(30)
def test_nothing_outside_the_library_is_read(lib: Library, bad_folder: Path) -> None:
    lib.add_folder(bad_folder)
    report = lib.scan()
    reasons = by_name(report.failed)
    assert "outside the library's folders: not read" in reasons["secret_link.txt"]
    assert "outside the library's folders: not followed" in reasons["elsewhere_dir"]
    assert lib.search("platypus").total_files == 0
    assert {"secret_link.txt", "elsewhere_dir"} <= set(by_name(lib.errors()))
    # A link inside the root: its text is indexed once, under the target's own path,
    # or under the link's path where the walk does not index the target (a hidden file).
    assert [h.path for h in lib.search("thursday").hits] == [str(bad_folder / "notes" / "real.txt")]
    skipped = by_name(lib.skipped())
    assert skipped["inside_link.txt"] == f"symbolic link to {bad_folder / 'notes' / 'real.txt'}, which is indexed under its own path"
    assert [h.path for h in lib.search("heron").hits] == [str(bad_folder / "diary_link.txt")]
    assert lib.read(str(bad_folder / "diary_link.txt")) == "dear diary, the heron came back\n"
    assert lib.search("otters").total_files == 1


def test_a_link_into_another_folder_of_the_library_is_followed(lib: Library, bad_folder: Path, tmp_path: Path) -> None:
    lib.add_folder(bad_folder)
    lib.add_folder(tmp_path / "elsewhere")  # now the link's target is inside the library
    report = lib.scan()
    assert "secret_link.txt" not in by_name(report.failed) and "elsewhere_dir" not in by_name(report.failed)
    assert [h.path for h in lib.search("platypus").hits] == [str(tmp_path / "elsewhere" / "secret.txt")]
    assert "indexed under its own path" in by_name(lib.skipped())["secret_link.txt"]


@pytest.mark.timeout(30)
def test_a_named_pipe_in_the_folder_is_skipped_without_opening_it(lib: Library, bad_folder: Path) -> None:
    lib.add_folder(bad_folder)
    lib.scan()
    assert by_name(lib.skipped())["pipe.txt"] == "not a regular file (a named pipe): not read"


@pytest.mark.timeout(30)
def test_a_file_swapped_for_a_named_pipe_after_the_walk_does_not_block(lib: Library, folder: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The walk saw regular files; by the time they are read, they are pipes with no
    writer (a plain ``open`` would wait for one forever)."""
    monkeypatch.setattr(scan_module, "PROGRESS_EVERY_S", 0.0)
    names = [f"f{i}.txt" for i in range(4)]
    for name in names:
        (folder / name).write_text("first version\n")
    lib.add_folder(folder)
    assert lib.scan().added == 4
    for name in names:
        (folder / name).write_text("second, longer version\n")  # all four to be read again
    swapped: list[str] = []

    def swap(progress) -> None:
        if progress.current and not swapped:  # one file is read; the others were listed, not read
            for name in names:
                if str(folder / name) != progress.current:
                    (folder / name).unlink()
                    os.mkfifo(folder / name)
                    swapped.append(name)

    report = lib.scan(progress=swap)
    assert len(swapped) == 3 and report.updated == 1 and report.skipped == 3 and not report.failed
    skipped = by_name(lib.skipped())
    assert all(skipped[name] == "not a regular file (a named pipe): not read" for name in swapped)


def test_a_docx_zip_bomb_is_refused_and_retried_only_when_it_changes(lib: Library, bad_folder: Path) -> None:
    lib.add_folder(bad_folder)
    first = lib.scan()
    reason = by_name(first.failed)["bomb.docx"]
    assert reason.startswith("DOCX file refused: it would unpack to ") and "more than the 256 MB limit" in reason and "zip bomb" in reason
    assert lib.file(str(bad_folder / "bomb.docx")).status == "error"

    again = lib.scan()  # nothing changed: the bomb is not opened again
    assert again.updated == again.added == 0 and again.skipped == 0
    assert "bomb.docx" not in by_name(again.failed)
    files = list(lib.files(status=None))
    assert again.unchanged == len(files) and "bomb.docx" in by_name(lib.errors())

    stat = (bad_folder / "bomb.docx").stat()
    os.utime(bad_folder / "bomb.docx", (stat.st_atime, stat.st_mtime + 10))  # touched: tried again
    touched = lib.scan()
    assert touched.unchanged == len(files) - 1 and by_name(touched.failed)["bomb.docx"] == reason


def test_the_printed_error_count_agrees_with_the_json(bad_folder: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["index", str(bad_folder), "--no-progress"]) == 0
    indexed = capsys.readouterr().out
    assert main(["library", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    errors = dict(data["errors"])
    assert set(map(os.path.basename, errors)) == {"secret_link.txt", "elsewhere_dir", "broken_link.txt", "bomb.docx"}
    assert data["stats"]["errors"] == len(errors) == data["folders"][0]["error_count"]
    assert main(["library"]) == 0
    printed = capsys.readouterr().out
    assert f"{data['stats']['skipped']} skipped, {len(errors)} errors" in printed
    assert f"{len(errors)} errors" in printed.splitlines()[1]  # the folder's line
    assert f"{len(errors)} failed" in indexed and "vanished" not in indexed
