"""Entry point of the frozen app (``dist/rlm-desktop/rlm-desktop``): the ``rlm-desktop``
command line, the window when a desktop starts it with no arguments (macOS .app, Windows
shortcut), and stage one of the REPL sandbox. Used only by ``rlm-desktop.spec``; a normal
install uses the console script ``rlm_desktop.cli:main``."""

import multiprocessing
import os
import sys
from pathlib import Path

STAGE_ONE = "--repl-stage-one"  # rlm_desktop.rlm.sandbox.session.FROZEN_STAGE_ONE
WORKER = "rlm-desktop-repl-worker" + (".exe" if sys.platform == "win32" else "")


def repl_stage_one(scratch_dir: str) -> None:
    """What ``python -I -c <bootstrap>`` does outside a bundle: confine this process
    (Landlock, seccomp; this executable may load ctypes) and exec stage two. Stage two is
    the bundle's worker executable, built without ctypes: ``confine_and_exec`` grants
    execute rights to and execs ``sys.executable``, so it is pointed there; the worker
    ignores the interpreter arguments it is given."""
    from rlm_desktop.rlm.sandbox.confine import confine_and_exec

    bundle = getattr(sys, "_MEIPASS", str(Path(sys.executable).resolve().parent))
    for key in [k for k in os.environ if k.startswith("_PYI_") or k.startswith("_MEIPASS")]:
        del os.environ[key]  # the worker's bootloader must start afresh, not as our child
    sys.executable = str(Path(sys.executable).resolve().with_name(WORKER))
    confine_and_exec(scratch_dir, bundle, "")


def main() -> int:
    if sys.argv[1:2] == [STAGE_ONE] and len(sys.argv) == 3:
        repl_stage_one(sys.argv[2])
        return 1  # not reached: stage one execs the worker
    # The library's extraction pool (forkserver or spawn) re-runs this executable; this
    # turns those runs into pool processes instead of a second app.
    multiprocessing.freeze_support()
    from rlm_desktop.cli import main as cli_main

    argv = sys.argv[1:]
    if not argv and sys.platform in ("darwin", "win32"):
        argv = ["gui"]
    return cli_main(argv)


if __name__ == "__main__":
    sys.exit(main())
