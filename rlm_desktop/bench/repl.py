"""``rlm-desktop bench repl FOLDER``: what the model's library calls cost inside the REPL
sandbox: a fresh worker's start, listing and reading every file, a search, a grep over
the whole folder. Since issue 22 each of these is a request over the worker's pipe,
answered by the engine side; run the same file from an older checkout
(``PYTHONPATH=<old checkout> python rlm_desktop/bench/repl.py FOLDER``) to compare with a
worker that read the library itself. It uses only ``ReplSession``, ``ReplConfig`` and
``Library``, which both have.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

CELLS = {
    "list files": "n = len(context)\nprint(n)",
    "read every file": "total = sum(len(f.text) for f in context)\nprint(total)",
    "read 40 line ranges": "for f in list(context)[:40]:\n    read(f.path, 1, 20)\nprint('ok')",
    "search x10": "for q in ['default value', 'error', 'version', 'configure', 'example', 'returns', 'timeout', 'file', 'option', 'list']:\n    search(q)\nprint('ok')",
    "grep whole folder": "print(grep(r'\\bdefault\\b', limit=50))",
}


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("repl", help="the sandbox's library calls: worker start, reads, search, grep over a folder")
    p.add_argument("folder", type=Path, help="a folder to index and run the cells over")
    p.add_argument("--repeat", type=int, default=3, help="times each cell runs (median shown)")
    p.set_defaults(func=main)


def main(args: argparse.Namespace) -> int:
    from rlm_desktop.library.store import Library
    from rlm_desktop.rlm.sandbox.session import ReplSession
    from rlm_desktop.rlm.sandbox.types import LlmReply, ReplConfig

    folder = args.folder.resolve()
    with tempfile.TemporaryDirectory(prefix="rlm-bench-repl-") as tmp:
        db = Path(tmp) / "library.db"
        lib = Library.open(db)
        lib.add_folder(folder)
        report = lib.scan()
        lib.close()
        print(f"{folder}: {report.added} files indexed")
        config = ReplConfig(scratch_dir=Path(tmp) / "scratch", library_db=db, roots=(str(folder),), cell_timeout_s=120.0)
        starts = []
        for _ in range(args.repeat):
            session = ReplSession(config, on_llm=lambda r: LlmReply(()))
            t = time.perf_counter()
            session.start()
            starts.append(time.perf_counter() - t)
            session.close()
        print(f"{'worker start':22} {statistics.median(starts):7.3f} s")
        with ReplSession(config, on_llm=lambda r: LlmReply(())) as session:
            for name, code in CELLS.items():
                times = []
                for _ in range(args.repeat):
                    t = time.perf_counter()
                    result = session.run_cell(code)
                    times.append(time.perf_counter() - t)
                    if result.error:
                        print(f"{name}: {result.error}", file=sys.stderr)
                print(f"{name:22} {statistics.median(times):7.3f} s   ({result.output.strip()[:60]!r})")
    return 0


if __name__ == "__main__":
    parser = argparse.ArgumentParser(prog="repl.py")
    register(parser.add_subparsers())
    sys.exit(main(parser.parse_args(["repl", *sys.argv[1:]])))
