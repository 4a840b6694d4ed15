"""The core must run without Qt: importing it must not pull PySide6 in."""

from __future__ import annotations

import subprocess
import sys


def test_core_does_not_import_qt():
    code = (
        "import sys, importlib, pkgutil\n"
        "import rlm_desktop.library, rlm_desktop.llm, rlm_desktop.rlm\n"
        "for pkg in (rlm_desktop.library, rlm_desktop.llm, rlm_desktop.rlm):\n"
        "    for mod in pkgutil.walk_packages(pkg.__path__, pkg.__name__ + '.'):\n"
        "        try:\n"
        "            importlib.import_module(mod.name)\n"
        "        except ImportError:\n"
        "            pass\n"
        "print('PySide6' in sys.modules)\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "False"
