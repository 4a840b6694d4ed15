"""The real window on a real X server: ``rlm-desktop gui`` started as a user starts it, on
Xvfb (not offscreen), driven through the app's test hook by accessible names. Each test
saves a screenshot of the real window in ``build/test-screenshots/`` (kept after the run,
so a failure can be looked at). ``make test`` installs Xvfb and the X11 libraries when it
runs as root (``packaging/linux/x-test-deps.sh``); without them these tests skip and say
what to install."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import psutil
import pytest

from rlm_desktop.gui.platform_check import check_platform
from rlm_desktop.gui.xdrive import App, DriverError, Xvfb

SHOTS = Path(__file__).resolve().parents[2] / "build" / "test-screenshots"
SAMPLE_QUESTION = "What alarm threshold did the team agree on for the Harbor North station?"

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def display() -> Iterator[str]:
    try:
        server = Xvfb()
    except DriverError as exc:
        pytest.skip(f"{exc}; run packaging/linux/x-test-deps.sh as root")
    import os

    check = check_platform({k: v for k, v in os.environ.items() if k != "QT_QPA_PLATFORM"} | {"DISPLAY": server.display})
    if not check.ok:
        server.stop()
        pytest.skip(check.message())
    yield server.display
    server.stop()


@pytest.fixture
def app(display: str, tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[App]:
    running = App(display, tmp_path / "data")
    yield running
    try:
        running.screenshot(SHOTS / f"{request.node.name}-end.png")
    except (DriverError, OSError):
        pass
    running.kill()


def _sample_indexed(app: App) -> None:
    app.cmd("click", name="use the sample folder")
    app.wait_indexed(1, timeout=120)


def _workers(app: App) -> list[psutil.Process]:
    try:
        children = psutil.Process(app.proc.pid).children(recursive=True)
    except psutil.NoSuchProcess:
        return []
    found = []
    for p in children:
        try:
            if any("rlm_desktop.rlm.sandbox.worker" in part for part in p.cmdline()):
                found.append(p)
        except (psutil.NoSuchProcess, psutil.AccessDenied):
            continue
    return found


def test_the_first_start_page_appears(app: App) -> None:
    widgets = app.widgets()
    assert "first start" in widgets and widgets["use the sample folder"]["enabled"], sorted(widgets)
    shot = app.screenshot(SHOTS / "first-start.png")
    assert shot.stat().st_size > 10_000  # a real picture of the window, not an empty grab


def test_use_the_sample_folder_indexes_the_samples_and_fills_in_the_question(app: App) -> None:
    _sample_indexed(app)
    assert "first start" not in app.widgets()  # the folder list took its place
    assert app.text("question").strip() == SAMPLE_QUESTION
    app.screenshot(SHOTS / "sample-indexed.png")


@pytest.mark.model
def test_the_sample_question_gets_a_cited_answer_and_a_tree(app: App, root_model_path: Path) -> None:
    """Whether the answer is right is the yardstick's and ``make screenshots``' business
    (a model's greedy path can differ between AVX2 and AVX-512 builds); what the window
    must show is an answer with its sources and the tree of the work. On the build
    machine the answer is 2.35 m, cited to the meeting notes (docs/screenshots)."""
    _sample_indexed(app)
    started = time.monotonic()
    app.cmd("click", name="ask")
    app.wait(lambda: app.cmd("state")["running"], 30, "the run to start")
    app.wait(lambda: not app.cmd("state")["running"], 600, "the run to finish")
    took = time.monotonic() - started
    answer = app.text("answer")
    app.screenshot(SHOTS / "sample-answered.png")
    assert "Sources" in answer and "resources/samples/" in answer, answer  # where it came from, as links
    assert not answer.startswith("Not found"), answer
    rows = app.cmd("state")["rows"]
    kinds = {r["kind"] for r in rows}
    assert rows[0]["kind"] == "node" and rows[0]["depth"] == 0
    assert {"turn", "code", "output"} <= kinds, kinds
    print(f"sample answered in {took:.0f} s ({'right' if '2.35' in answer else 'not right'}): {answer!r}")


@pytest.mark.model
def test_stop_ends_a_run_within_a_second(app: App, root_model_path: Path) -> None:
    _sample_indexed(app)
    app.cmd("click", name="ask")
    app.wait(lambda: any(r["kind"] in ("turn", "code") for r in app.cmd("state")["rows"]), 300, "the first turn")
    clicked = time.monotonic()
    app.cmd("click", name="stop")
    app.wait(lambda: not app.cmd("state")["running"], 5, "the run to stop")
    stopped = time.monotonic() - clicked
    app.screenshot(SHOTS / "stopped.png")
    assert stopped < 1.0, f"Stop took {stopped:.2f} s"
    assert app.widgets()["ask"]["enabled"]


@pytest.mark.model
def test_closing_the_window_during_a_run_leaves_no_worker_behind(app: App, root_model_path: Path) -> None:
    _sample_indexed(app)
    app.cmd("click", name="ask")
    workers = app.wait(lambda: _workers(app), 300, "a REPL worker to start")
    app.screenshot(SHOTS / "closing-during-a-run.png")
    code = app.close(timeout=30)
    assert code == 0, app.log()[-2000:]
    time.sleep(0.5)
    alive = [p.pid for p in workers if p.is_running() and p.status() != psutil.STATUS_ZOMBIE]
    assert alive == [], f"workers left behind: {alive}"
