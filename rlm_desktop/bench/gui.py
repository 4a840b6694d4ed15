"""``rlm-desktop bench gui``: how long the GUI's event loop stalls while the app works.

A 10 ms ``QTimer`` records how late each tick comes; the figures are the lateness
percentiles while (a) the real library indexes the Python standard library in a worker,
(b) a run streams engine events into the recursion tree at a realistic rate, (c) a burst
of 5000 events arrives at once, and, with ``--real-run``, (d) the real engine answers the
sample question. Each scenario drives the real main window (offscreen without a display);
an idle period in the same process is the baseline."""

from __future__ import annotations

import argparse
import json
import os
import sys
import sysconfig
import tempfile
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

TARGET_P99_MS = 50.0


@dataclass(frozen=True)
class StallStats:
    scenario: str
    seconds: float
    ticks: int
    p50_ms: float
    p99_ms: float
    max_ms: float
    gui_cpu_s: float = 0.0  # CPU time the GUI thread itself used (separates our work from machine load)
    load_avg: float = 0.0  # 1-minute load average at the end (other processes compete for the cores)
    note: str = ""


def percentile(values: Sequence[float], q: float) -> float:
    if not values:
        return 0.0
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q / 100 * (len(ordered) - 1))))]


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("gui", help="event-loop stall of the desktop app while indexing and while a run streams events")
    p.add_argument("--folder", type=Path, default=None,
                   help="folder to index (default: the Python standard library)")
    p.add_argument("--turns", type=int, default=6, help="root turns of the streamed run (default 6)")
    p.add_argument("--burst", type=int, default=5000, help="events in the burst scenario (default 5000)")
    p.add_argument("--real-run", action="store_true",
                   help="also run the sample question through the real engine and models (minutes)")
    p.add_argument("--json", type=Path, default=None, help="also write the figures to this JSON file")
    p.set_defaults(func=main)


def main(args: argparse.Namespace) -> int:
    from rlm_desktop.gui.platform_check import has_display

    if not has_display():
        os.environ["QT_QPA_PLATFORM"] = "offscreen"
    work = Path(tempfile.mkdtemp(prefix="rlm-bench-gui-"))
    os.environ["RLM_DESKTOP_DATA"] = str(work / "data")  # never the person's own library
    results = run_all(args.folder or Path(sysconfig.get_paths()["stdlib"]), args.turns, args.burst, args.real_run)
    print(table(results))
    worst = max((r.p99_ms for r in results if r.scenario != "idle"), default=0.0)
    print(f"\nworst p99 {worst:.1f} ms (target < {TARGET_P99_MS:.0f} ms): {'OK' if worst < TARGET_P99_MS else 'MISSED'}")
    if args.json:
        args.json.write_text(json.dumps([asdict(r) for r in results], indent=2) + "\n", encoding="utf-8")
    return 0


def table(results: Sequence[StallStats]) -> str:
    lines = ["| scenario | seconds | ticks | p50 ms | p99 ms | max ms | GUI thread CPU s | load avg | note |",
             "|---|---|---|---|---|---|---|---|---|"]
    for r in results:
        lines.append(f"| {r.scenario} | {r.seconds:.1f} | {r.ticks} | {r.p50_ms:.1f} | {r.p99_ms:.1f} | {r.max_ms:.1f} "
                     f"| {r.gui_cpu_s:.2f} | {r.load_avg:.1f} | {r.note} |")
    return "\n".join(lines)


def run_all(folder: Path, turns: int, burst: int, real_run: bool, only: Sequence[str] = ()) -> list[StallStats]:
    from PySide6.QtCore import QSettings
    from PySide6.QtWidgets import QApplication

    from rlm_desktop import paths
    from rlm_desktop.gui.app import make_app
    from rlm_desktop.gui.main_window import MainWindow

    app = make_app([sys.argv[0]])
    app.setQuitOnLastWindowClosed(False)
    store = QSettings(str(paths.data_dir() / "bench-gui.ini"), QSettings.Format.IniFormat)
    services = _StreamingServices()
    window = MainWindow(services, store)
    window.resize(1400, 860)
    window.show()
    window.library.refresh()  # not start(): the folder watcher would only add inotify noise here
    # the standard library, not the packages installed into it
    services.use_settings(window.settings.replace(ignore_globs=["site-packages/", "dist-packages/"]))
    meter = _Meter()
    results = [meter.measure("idle", lambda done: _after(3.0, done))]

    def index(done: Callable[[str], None]) -> None:
        window.library.scanFinished.connect(
            lambda report: done(f"{report.added} files indexed from {folder}"), _once())
        window.add_paths([str(folder)])

    results.append(meter.measure("index", index))

    def stream(done: Callable[[str], None]) -> None:
        services.plan = ("realistic", turns)
        window.runs.runFinished.connect(lambda f: done(f"{services.emitted} events over {turns} turns"), _once())
        window.runs.ask("bench: streamed run")

    results.append(meter.measure("run (streamed events)", stream))

    def flood(done: Callable[[str], None]) -> None:
        services.plan = ("burst", burst)
        window.runs.runFinished.connect(lambda f: done(f"{services.emitted} events at once"), _once())
        window.runs.ask("bench: burst")

    results.append(meter.measure("run (burst)", flood))
    if real_run:
        def real(done: Callable[[str], None]) -> None:
            services.plan = ("real", 0)
            question = (paths.samples_dir() / "QUESTION.txt").read_text(encoding="utf-8").strip()
            window.runs.runFinished.connect(lambda f: done(f"real engine: {f.status}, {f.stats.wall_s:.0f} s"),
                                            _once())
            window.runs.runFailed.connect(lambda exc: done(f"real engine failed: {exc}"), _once())
            window.library.scanFinished.connect(lambda _r: window.runs.ask(question, [str(paths.samples_dir())]),
                                                _once())
            window.add_paths([str(paths.samples_dir())])

        results.append(meter.measure("run (real engine)", real))
    window.close()
    QApplication.processEvents()
    return results


def _once() -> Any:
    """Connect for one emission only."""
    from PySide6.QtCore import Qt

    return Qt.ConnectionType.SingleShotConnection


def _after(seconds: float, done: Callable[[str], None]) -> None:
    from PySide6.QtCore import QTimer

    QTimer.singleShot(int(seconds * 1000), lambda: done(""))


class _Meter:
    """Runs a scenario in the event loop while a 10 ms timer records its lateness."""

    def measure(self, name: str, scenario: Callable[[Callable[[str], None]], None]) -> StallStats:
        from PySide6.QtCore import QEventLoop, Qt, QTimer

        loop = QEventLoop()
        late: list[float] = []
        last = [0.0]
        note = [""]
        timer = QTimer(interval=10)
        timer.setTimerType(Qt.TimerType.PreciseTimer)

        def tick() -> None:
            now = time.perf_counter()
            if last[0]:
                late.append(max(0.0, (now - last[0]) * 1000 - 10))
            last[0] = now

        def done(text: str) -> None:
            note[0] = text
            QTimer.singleShot(0, loop.quit)

        timer.timeout.connect(tick)
        start = time.perf_counter()
        cpu = time.thread_time()
        timer.start()
        scenario(done)
        loop.exec()
        timer.stop()
        return StallStats(name, time.perf_counter() - start, len(late), percentile(late, 50), percentile(late, 99),
                          max(late, default=0.0), time.thread_time() - cpu, os.getloadavg()[0], note[0])


def _synthetic_run(plan: tuple[str, int], sink: Callable[[Any], None], cancel: threading.Event) -> Any:
    """Engine events at the pace of the real thing: ~20 tokens/s streamed per root turn,
    a cell, then a batch of sub-calls finishing a few at a time (8 sequences decode
    together); or everything at once for the burst."""
    from rlm_desktop.rlm import events as ev

    kind, size = plan
    run_id = f"bench-{kind}"
    now = time.time()
    sink(ev.RunStarted(run_id, "bench", "rlm", "root", "sub", now))
    sink(ev.NodeStarted(run_id, "root", None, "root", "root", "bench", 0, now))
    pace = 0.0 if kind == "burst" else 1.0
    turns = size if kind == "realistic" else 1
    subs_per_turn = 48 if kind == "realistic" else size // 2
    count = 0
    for turn in range(1, turns + 1):
        for _ in range(40):
            sink(ev.TokenDelta(run_id, "root", "tok "))
            time.sleep(pace * 0.05)
        sink(ev.TurnFinished(run_id, "root", turn, "```python\nllm_batch(prompts)\n```", 900, 40, 2.0))
        for i in range(subs_per_turn):
            node = f"s{turn}-{i}"
            sink(ev.NodeStarted(run_id, node, "root", "llm", "sub", f"Extract the figure from chunk {i}\n" + "x" * 300, 1, now))
            sink(ev.NodeFinished(run_id, node, "ok", f"figure {i}", 320, 8, 0.4))
            count += 2
            if i % 8 == 7:
                time.sleep(pace * 0.4)
            if cancel.is_set():
                break
        sink(ev.CellFinished(run_id, "root", turn, "answers = llm_batch(prompts)\nprint(answers[:5])",
                             "['figure 0', 'figure 1', ...]", None, 3.0))
        count += 42
    sink(ev.NodeFinished(run_id, "root", "ok", "done", 9000, 300, 30.0))
    finished = ev.RunFinished(run_id, "ok", "done", (), ev.RunStats(iterations=turns, sub_calls=count))
    sink(finished)
    return finished, count + 5


def _streaming_services_base() -> type:
    from rlm_desktop.gui.services import CoreServices

    return CoreServices


class _StreamingServices(_streaming_services_base()):  # type: ignore[misc]
    """The real core, except that ``ask`` plays a synthetic stream unless the plan says
    'real' (then the real engine and models run)."""

    def __init__(self) -> None:
        super().__init__()
        self.plan: tuple[str, int] = ("realistic", 1)
        self.emitted = 0

    def missing_models(self, settings: Any) -> list[str]:
        return [] if self.plan[0] != "real" else super().missing_models(settings)

    def ask(self, question: str, roots: Sequence[str], settings: Any, sink: Any, cancel: threading.Event) -> Any:
        if self.plan[0] == "real":
            return super().ask(question, roots, settings, sink, cancel)
        finished, self.emitted = _synthetic_run(self.plan, sink, cancel)
        return finished
