"""``make screenshots``: the README's pictures, taken from the real app on Xvfb.

    python -m rlm_desktop.bench.screenshots [OUT_DIR]      (default docs/screenshots)

Drives ``rlm-desktop gui`` through its test hook with a fresh data dir and the default
models: the first-start page; the sample folder indexed and its question answered (the
answer, its citation and the tree); then a larger generated folder (invoices, contracts,
mail and meeting notes from the bench's private-folder generator) with a lookup whose
answer is known. Each answer is checked before its picture is kept, and ``captions.md``
beside the pictures records, for each, the answer, whether it is right, the time it took
and the machine it ran on. A wrong answer is written down as wrong, never retouched."""

from __future__ import annotations

import argparse
import platform
import shutil
import sys
import tempfile
import time
from pathlib import Path

from rlm_desktop.gui.xdrive import App, DriverError, Xvfb

SAMPLE_EXPECTED = "2.35"


def _machine() -> str:
    import psutil

    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return f"{psutil.cpu_count(logical=False) or '?'} cores ({cpu}), {round(psutil.virtual_memory().total / 2**30)} GiB, no GPU"


def _one_line(answer: str) -> str:
    """The answer as a caption shows it: without the sources list, on one line."""
    return " ".join(answer.split("\nSources")[0].split())


def _ask(app: App, question: str, timeout: float = 900) -> tuple[str, float]:
    app.cmd("set_text", name="question", text=question)
    started = time.monotonic()
    app.cmd("click", name="ask")
    app.wait(lambda: app.cmd("state")["running"], 30, "the run to start")
    app.wait(lambda: not app.cmd("state")["running"], timeout, "the run to finish")
    return app.text("answer").strip(), time.monotonic() - started


def _larger_folder(base: Path):
    """A generated private folder (the yardstick's development phrasing) and one of its
    lookups, scored by the yardstick's own scorer."""
    from rlm_desktop.bench.tasks.private import private_tasks

    tasks = private_tasks(seed=3, phrasing="dev")
    task = next(t for t in tasks if t.family == "lookup")
    return task.corpus.write(base / "generated"), task


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m rlm_desktop.bench.screenshots")
    parser.add_argument("out", nargs="?", type=Path, default=Path("docs/screenshots"))
    args = parser.parse_args(argv)
    out: Path = args.out
    out.mkdir(parents=True, exist_ok=True)
    machine = _machine()
    captions = [f"# Screenshots\n\nTaken by `make screenshots` (`rlm_desktop/bench/screenshots.py`) from the real app on Xvfb, "
                f"default models, on {machine}.\n"]
    work = Path(tempfile.mkdtemp(prefix="rlm-screenshots-"))
    try:
        display = Xvfb(1400, 900)
    except DriverError as exc:
        print(f"screenshots: {exc}", file=sys.stderr)
        return 1
    app = App(display.display, work / "data")
    try:
        app.screenshot(out / "first-start.png")
        captions.append("- `first-start.png`: the first start, before any folder.")
        app.cmd("click", name="use the sample folder")
        app.wait_indexed(7)
        app.screenshot(out / "library-indexed.png")
        captions.append("- `library-indexed.png`: the sample folder indexed, its question filled in.")
        question = app.text("question").strip()
        answer, took = _ask(app, question)
        right = SAMPLE_EXPECTED in answer and "meeting-notes" in answer
        app.screenshot(out / "sample-answered.png")
        captions.append(f"- `sample-answered.png`: \"{question}\" answered in {took:.0f} s: \"{_one_line(answer)}\" "
                        f"({'right' if right else 'WRONG: expected ' + SAMPLE_EXPECTED}).")
        print(f"sample: {took:.0f} s, {'right' if right else 'wrong'}: {answer!r}")
        from rlm_desktop.bench.scoring import score

        folder, task = _larger_folder(work)
        files = sum(1 for p in folder.rglob("*") if p.is_file())
        app.close()
        app = App(display.display, work / "data2")  # a library of this folder alone
        app.cmd("add_paths", paths=[str(folder)])  # as a drop on the window does
        app.wait_indexed(files)
        answer, took = _ask(app, task.question)
        verdict = score(task, answer)
        right = verdict.bin == "right"
        app.screenshot(out / "larger-folder-answered.png")
        captions.append(f"- `larger-folder-answered.png`: a generated folder of {files} files (invoices, contracts, mail, "
                        f"meeting notes); \"{task.question}\" answered in {took:.0f} s: \"{_one_line(answer)}\" "
                        f"({verdict.bin.replace('_', ' ')}{'' if right else '; expected ' + str(task.expected)}).")
        print(f"larger folder: {took:.0f} s, {'right' if right else 'wrong'}: {answer!r}")
    finally:
        app.kill()
        display.stop()
        shutil.rmtree(work, ignore_errors=True)
    (out / "captions.md").write_text("\n".join(captions) + "\n", encoding="utf-8")
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
