"""Driving the real window on an X server: an ``Xvfb`` display and the ``rlm-desktop gui``
process on it, reached through the app's test hook (``testhook.py``). Used by the
real-window tests and by ``make screenshots``; nothing in the app imports it."""

from __future__ import annotations

import json
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from rlm_desktop.gui.testhook import ENV as HOOK_ENV


class DriverError(RuntimeError):
    pass


class Xvfb:
    """A virtual X display of its own (``-displayfd`` picks a free number)."""

    def __init__(self, width: int = 1400, height: int = 900) -> None:
        binary = shutil.which("Xvfb")
        if binary is None:
            raise DriverError("Xvfb is not installed (Debian: apt-get install xvfb; `make test` does it as root)")
        read, write = os.pipe()
        self.proc = subprocess.Popen(
            [binary, "-displayfd", str(write), "-screen", "0", f"{width}x{height}x24", "-nolisten", "tcp", "-noreset"],
            pass_fds=(write,), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )
        os.close(write)
        number = b""
        deadline = time.monotonic() + 20
        while not number.endswith(b"\n") and time.monotonic() < deadline:
            chunk = os.read(read, 16)
            if not chunk:
                break
            number += chunk
        os.close(read)
        if not number.strip():
            self.proc.kill()
            raise DriverError("Xvfb did not start")
        self.display = f":{number.decode().strip()}"

    def stop(self) -> None:
        self.proc.kill()
        self.proc.wait(timeout=10)


class App:
    """``rlm-desktop gui`` on ``display`` with its own data dir, driven through the hook."""

    def __init__(self, display: str, data_dir: Path, env: dict[str, str] | None = None, models_dir: Path | None = None) -> None:
        self.sock_path = str(Path(tempfile.mkdtemp(prefix="rlm-hook-")) / "hook")
        environ = {k: v for k, v in os.environ.items() if k not in ("QT_QPA_PLATFORM", "WAYLAND_DISPLAY")}
        environ.update(DISPLAY=display, QT_QPA_PLATFORM="xcb", RLM_DESKTOP_DATA=str(data_dir), **{HOOK_ENV: self.sock_path})
        if models_dir is not None:
            environ["RLM_DESKTOP_MODELS"] = str(models_dir)
        environ.update(env or {})
        self.log_path = Path(data_dir) / "gui-stderr.log"
        Path(data_dir).mkdir(parents=True, exist_ok=True)
        self._log = self.log_path.open("wb")
        self.proc = subprocess.Popen([sys.executable, "-m", "rlm_desktop", "gui"], env=environ,
                                     stdout=self._log, stderr=subprocess.STDOUT, start_new_session=True)
        self._sock: socket.socket | None = None
        self._buffer = b""
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise DriverError(f"the app exited with {self.proc.returncode}: {self.log()[-2000:]}")
            try:
                self._connect()
                self.cmd("widgets")
                return
            except OSError:
                time.sleep(0.2)
        raise DriverError(f"the app's test hook did not answer within 60 s: {self.log()[-2000:]}")

    def log(self) -> str:
        self._log.flush()
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def _connect(self) -> None:
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.connect(self.sock_path)
        sock.settimeout(30)
        self._sock = sock

    def cmd(self, cmd: str, **args: Any) -> dict[str, Any]:
        if self._sock is None:
            self._connect()
        assert self._sock is not None
        self._sock.sendall((json.dumps({"cmd": cmd, **args}) + "\n").encode())
        while b"\n" not in self._buffer:
            chunk = self._sock.recv(1 << 16)
            if not chunk:
                raise DriverError("the app closed the test hook")
            self._buffer += chunk
        line, self._buffer = self._buffer.split(b"\n", 1)
        reply = json.loads(line)
        if "error" in reply:
            raise DriverError(reply["error"])
        return reply

    def widgets(self) -> dict[str, dict[str, Any]]:
        return {w["name"]: w for w in self.cmd("widgets")["widgets"]}

    def text(self, name: str) -> str:
        return self.widgets().get(name, {}).get("text", "")

    def wait(self, predicate: Callable[[], Any], timeout: float, what: str) -> Any:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            value = predicate()
            if value:
                return value
            if self.proc.poll() is not None:
                raise DriverError(f"the app exited while waiting for {what}: {self.log()[-2000:]}")
            time.sleep(0.1)
        raise DriverError(f"timed out after {timeout:g} s waiting for {what}")

    def wait_indexed(self, at_least: int = 1, timeout: float = 600) -> None:
        """Until the library summary counts ``at_least`` files ("1 folder · 7 files · 6.4
        KB") and no scan is still looking for files."""

        def indexed() -> bool:
            summary = self.text("library summary")
            m = re.search(r"\b(\d+) files?\b", summary)
            return bool(m and int(m.group(1)) >= at_least) and "Looking for files" not in summary

        self.wait(indexed, timeout, "the folder to be indexed")

    def screenshot(self, path: Path) -> Path:
        path.parent.mkdir(parents=True, exist_ok=True)
        reply = self.cmd("screenshot", path=str(path))
        if not reply.get("ok"):
            raise DriverError(f"the screenshot {path} could not be saved")
        return path

    def close(self, timeout: float = 30) -> int:
        """Close the window as a user would; the exit code."""
        try:
            self.cmd("close")
        except (OSError, DriverError):
            pass
        try:
            return self.proc.wait(timeout=timeout)
        finally:
            self.kill()

    def kill(self) -> None:
        if self._sock is not None:
            self._sock.close()
            self._sock = None
        if self.proc.poll() is None:
            try:
                os.killpg(self.proc.pid, 9)
            except ProcessLookupError:
                pass
            self.proc.wait(timeout=10)
        self._log.close()
