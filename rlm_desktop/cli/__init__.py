"""The command line: ``rlm-desktop COMMAND ...``. Each command group lives in its own
module under ``cli/`` and registers itself through ``register(subparsers)``; this module
only wires them up and turns ``RlmDesktopError`` into a clear message and exit code."""

from __future__ import annotations

import argparse
import importlib
import logging
import sys
from collections.abc import Sequence

from rlm_desktop import __version__
from rlm_desktop.errors import RlmDesktopError
from rlm_desktop.logs import setup_logging

# Command name -> module under rlm_desktop.cli that registers it with register(subparsers).
# Only the module of the command being run is imported, so `models install --if-missing`
# (called by every `make test`) does not pay for Qt, sqlite-utils or numpy imports.
COMMANDS = {
    "models": "models",
    "index": "library",
    "search": "library",
    "library": "library",
    "ask": "ask",
    "runs": "runs",
    "gui": "gui",
    "selftest": "selftest",
    "bench": "bench",
    "cache": "cache",
}

log = logging.getLogger("rlm_desktop")


def _modules_for(argv: Sequence[str] | None) -> list[str]:
    """The command modules to import: the one that owns the command in ``argv``, or all of
    them (for help and unknown commands)."""
    words = [a for a in (argv or []) if not a.startswith("-")]
    if words and words[0] in COMMANDS:
        return [COMMANDS[words[0]]]
    return list(dict.fromkeys(COMMANDS.values()))


def build_parser(argv: Sequence[str] | None = None) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="rlm-desktop",
        description="Offline question answering over your own folders with Recursive Language Models.",
    )
    parser.add_argument("--version", action="version", version=f"rlm-desktop {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", help="log details to stderr")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in _modules_for(argv):
        try:
            module = importlib.import_module(f"rlm_desktop.cli.{name}")
        except ModuleNotFoundError as exc:
            if exc.name == f"rlm_desktop.cli.{name}":
                continue
            raise
        module.register(sub)
    return parser



def main(argv: Sequence[str] | None = None) -> int:
    if argv is None:
        argv = sys.argv[1:]
    parser = build_parser(argv)
    args = parser.parse_args(argv)
    setup_logging(args.verbose)
    if not getattr(args, "func", None):
        parser.print_help()
        return 0
    try:
        return int(args.func(args) or 0)
    except RlmDesktopError as exc:
        log.debug("command failed", exc_info=True)
        print(f"rlm-desktop: error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("rlm-desktop: interrupted", file=sys.stderr)
        return 130
