"""Where the app's log goes: every record to the log file in the data dir, warnings (or
everything, with ``--verbose``) to stderr. The CLI and the window both set it up here."""

from __future__ import annotations

import logging
import sys

from rlm_desktop import paths


def setup_logging(verbose: bool) -> None:
    """Once per process; a second call adds no second file handler."""
    root = logging.getLogger("rlm_desktop")
    root.setLevel(logging.DEBUG)
    if not any(isinstance(h, logging.FileHandler) for h in root.handlers):
        try:
            handler = logging.FileHandler(paths.log_file(), encoding="utf-8")
            handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
            handler.setLevel(logging.DEBUG)
            root.addHandler(handler)
        except OSError:
            pass
    stderr = logging.StreamHandler(sys.stderr)
    stderr.setLevel(logging.DEBUG if verbose else logging.WARNING)
    stderr.setFormatter(logging.Formatter("%(levelname)s: %(message)s"))
    root.addHandler(stderr)
