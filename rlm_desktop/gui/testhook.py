"""A test hook for the real window: with ``RLM_DESKTOP_TEST_HOOK=<socket path>`` set, the
app listens on that local socket for one JSON command per line and answers one JSON line.
Tests of the real ``rlm-desktop gui`` process on an X server (and ``make screenshots``)
drive the window through it by the widgets' accessible names, never by pixel positions.
Without the variable nothing listens; the hook reads and clicks only what a user could.

Commands (``{"cmd": ...}``):
- ``widgets``: every visible widget that has an accessible name: its class, text, enabled;
- ``click`` ``name``; ``set_text`` ``name`` ``text``;
- ``state``: whether a run is going, the tree's rows (kind, title, status, depth);
- ``screenshot`` ``path``: the window as the X server shows it (``QScreen.grabWindow``);
- ``add_paths`` ``paths``: add folders as a drop on the window does (no file dialog);
- ``close``: close the window as its close button would.
"""

from __future__ import annotations

import json
import logging
import os
from typing import Any

from PySide6.QtCore import QObject
from PySide6.QtGui import QGuiApplication
from PySide6.QtNetwork import QLocalServer, QLocalSocket
from PySide6.QtWidgets import (
    QAbstractButton,
    QApplication,
    QLabel,
    QLineEdit,
    QPlainTextEdit,
    QTextEdit,
    QWidget,
)

log = logging.getLogger(__name__)

ENV = "RLM_DESKTOP_TEST_HOOK"


def install(window: Any) -> TestHook | None:
    path = os.environ.get(ENV)
    if not path:
        return None
    return TestHook(window, path)


def _text(widget: QWidget) -> str:
    if isinstance(widget, (QAbstractButton, QLabel, QLineEdit)):
        return widget.text()
    if isinstance(widget, (QPlainTextEdit, QTextEdit)):
        return widget.toPlainText()
    return ""


class TestHook(QObject):
    __test__ = False  # not a pytest class

    def __init__(self, window: Any, path: str) -> None:
        super().__init__(window)
        self.window = window
        self.server = QLocalServer(self)
        QLocalServer.removeServer(path)
        if not self.server.listen(path):
            log.error("test hook: cannot listen on %s: %s", path, self.server.errorString())
            return
        self.server.newConnection.connect(self._accept)
        log.info("test hook listening on %s", path)

    def _accept(self) -> None:
        while self.server.hasPendingConnections():
            socket = self.server.nextPendingConnection()
            socket.readyRead.connect(lambda s=socket: self._read(s))

    def _read(self, socket: QLocalSocket) -> None:
        while socket.canReadLine():
            line = bytes(socket.readLine()).decode("utf-8", "replace").strip()
            if not line:
                continue
            try:
                reply = self._handle(json.loads(line))
            except Exception as exc:  # noqa: BLE001 - the test sees the error
                reply = {"error": f"{type(exc).__name__}: {exc}"}
            socket.write((json.dumps(reply) + "\n").encode("utf-8"))
            socket.flush()

    def _named(self, name: str) -> QWidget:
        for widget in QApplication.allWidgets():
            if widget.accessibleName() == name and widget.isVisible():
                return widget
        raise LookupError(f"no visible widget named {name!r}")

    def _handle(self, command: dict[str, Any]) -> dict[str, Any]:
        cmd = command.get("cmd")
        if cmd == "widgets":
            return {"widgets": [
                {"name": w.accessibleName(), "class": type(w).__name__, "text": _text(w), "enabled": w.isEnabled()}
                for w in QApplication.allWidgets() if w.accessibleName() and w.isVisible()
            ]}
        if cmd == "click":
            widget = self._named(command["name"])
            if not isinstance(widget, QAbstractButton):
                raise TypeError(f"{command['name']!r} is not a button")
            widget.click()
            return {"ok": True}
        if cmd == "set_text":
            widget = self._named(command["name"])
            if isinstance(widget, (QPlainTextEdit, QTextEdit)):
                widget.setPlainText(command["text"])
            elif isinstance(widget, QLineEdit):
                widget.setText(command["text"])
            else:
                raise TypeError(f"{command['name']!r} takes no text")
            return {"ok": True}
        if cmd == "state":
            return {"running": self.window.runs.running, "rows": self._rows(), "title": self.window.windowTitle()}
        if cmd == "screenshot":
            screen = self.window.screen() or QGuiApplication.primaryScreen()
            image = screen.grabWindow(self.window.winId())
            ok = image.save(command["path"], "PNG")
            return {"ok": bool(ok), "width": image.width(), "height": image.height()}
        if cmd == "add_paths":  # what a drop of folders on the window does
            self.window.add_paths([str(p) for p in command["paths"]])
            return {"ok": True}
        if cmd == "close":
            self.window.close()
            return {"ok": True}
        raise ValueError(f"unknown command {cmd!r}")

    def _rows(self) -> list[dict[str, Any]]:
        from rlm_desktop.gui.tree_model import ITEM_ROLE

        model = self.window.tree_model
        rows: list[dict[str, Any]] = []

        def walk(parent, depth: int) -> None:
            for row in range(model.rowCount(parent)):
                index = model.index(row, 0, parent)
                item = index.data(ITEM_ROLE)
                rows.append({"kind": item.kind.name.lower(), "title": item.title, "status": item.status, "depth": depth})
                walk(index, depth + 1)

        from PySide6.QtCore import QModelIndex

        walk(QModelIndex(), 0)
        return rows
