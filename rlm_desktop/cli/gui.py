"""``rlm-desktop gui [--fallback-sample]``: start the desktop app, or, on a machine with no
display or without the X11 libraries Qt's xcb plugin needs, say so (naming the missing
libraries and the install command) and, with ``--fallback-sample``, answer the bundled
sample question through the CLI instead."""

from __future__ import annotations

import argparse
import sys

from rlm_desktop import paths
from rlm_desktop.gui.platform_check import check_platform, has_display


def sample_question() -> str:
    return (paths.samples_dir() / "QUESTION.txt").read_text(encoding="utf-8").strip()


def ask_sample() -> int:
    from rlm_desktop import cli

    return cli.main(["ask", "--folder", str(paths.samples_dir()), sample_question()])


def run(args: argparse.Namespace) -> int:
    if not has_display():
        if not args.fallback_sample:
            print("No display found (DISPLAY and WAYLAND_DISPLAY are unset). Run it on a desktop, "
                  "or use `rlm-desktop ask`.", file=sys.stderr)
            return 1
        print("No display found; running the sample question through the CLI instead", file=sys.stderr)
        return ask_sample()
    check = check_platform()
    if not check.ok:
        print(check.message(), file=sys.stderr)
        if not args.fallback_sample:
            return 1
        print("Running the sample question through the CLI instead", file=sys.stderr)
        return ask_sample()
    from rlm_desktop.gui.app import main

    return main([sys.argv[0]])


def register(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser("gui", help="start the desktop app")
    parser.add_argument("--fallback-sample", action="store_true",
                        help="with no display (or without the X11 libraries it needs), answer the "
                             "bundled sample question in the terminal instead")
    parser.set_defaults(func=run)
