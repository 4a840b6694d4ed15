"""Models: what is installed, what can be installed, install with progress and cancel,
and adding a GGUF file the user already has."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QDialog,
    QFileDialog,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QProgressBar,
    QPushButton,
    QTreeWidget,
    QTreeWidgetItem,
    QVBoxLayout,
    QWidget,
)

from rlm_desktop.gui.errors import show_error
from rlm_desktop.gui.library_panel import format_size
from rlm_desktop.gui.services import ModelRow, Progress, Services
from rlm_desktop.gui.workers import Task

log = logging.getLogger(__name__)


class ModelManager(QDialog):
    modelsChanged = Signal()

    def __init__(self, services: Services, parent: QWidget | None = None, install: Sequence[str] = ()) -> None:
        super().__init__(parent)
        self.setWindowTitle("Models")
        self.resize(760, 360)
        self._services = services
        self._task: Task | None = None
        self._queue: list[str] = list(install)
        self.list = QTreeWidget()
        self.list.setHeaderLabels(["Model", "Size", "Status"])
        self.list.setRootIsDecorated(False)
        self.list.header().setSectionResizeMode(0, QHeaderView.ResizeMode.Stretch)
        self.install_button = QPushButton("Install")
        self.install_button.setToolTip("Download, check and install the selected model")
        self.add_button = QPushButton("Add a .gguf file…")
        self.add_button.setToolTip("Use a model file you already have (it is not copied)")
        self.cancel_button = QPushButton("Cancel install")
        self.cancel_button.setEnabled(False)
        self.progress = QProgressBar()
        self.progress.hide()
        self.progress_label = QLabel()
        buttons = QHBoxLayout()
        for button in (self.install_button, self.add_button, self.cancel_button):
            buttons.addWidget(button)
        buttons.addStretch(1)
        close = QPushButton("Close")
        close.clicked.connect(self.close)
        buttons.addWidget(close)
        layout = QVBoxLayout(self)
        layout.addWidget(self.list)
        layout.addWidget(self.progress)
        layout.addWidget(self.progress_label)
        layout.addLayout(buttons)
        self.install_button.clicked.connect(self._install_selected)
        self.add_button.clicked.connect(self._add_file)
        self.cancel_button.clicked.connect(self.cancel)
        self.list.itemSelectionChanged.connect(self._update_buttons)
        self.refresh()
        if self._queue:
            self._next_install()

    def refresh(self) -> list[ModelRow]:
        try:
            rows = self._services.models()
        except Exception as exc:  # noqa: BLE001 - shown, logged
            show_error(self, exc, "listing models")
            rows = []
        self.list.clear()
        for row in rows:
            status = ("installed" if row.installed else "not installed") + (" (added)" if row.local else "")
            item = QTreeWidgetItem([row.display_name, format_size(row.size) if row.size else "?", status])
            item.setData(0, Qt.ItemDataRole.UserRole, row)
            item.setToolTip(0, f"{row.name}\n{row.description}\n{row.path}".strip())
            self.list.addTopLevelItem(item)
        self._update_buttons()
        return rows

    def _selected(self) -> ModelRow | None:
        items = self.list.selectedItems()
        return items[0].data(0, Qt.ItemDataRole.UserRole) if items else None

    def _update_buttons(self) -> None:
        row = self._selected()
        busy = self._task is not None
        self.install_button.setEnabled(not busy and row is not None and not row.installed and not row.local)
        self.cancel_button.setEnabled(busy)

    def _install_selected(self) -> None:
        row = self._selected()
        if row is not None:
            self.install(row.name)

    def install(self, name: str) -> None:
        if self._task is not None:
            self._queue.append(name)
            return
        services = self._services

        def run(emit: Any, cancel: Any) -> str:
            return services.install_model(name, emit, cancel)

        task = Task(run, f"install {name}", self)
        task.event.connect(self._on_progress)
        task.succeeded.connect(lambda path: self.progress_label.setText(f"Installed {name}."))
        task.failed.connect(lambda exc: show_error(self, exc, f"installing {name}"))
        task.finished.connect(self._on_finished)
        self._task = task
        self.progress.setRange(0, 0)
        self.progress.show()
        self.progress_label.setText(f"Installing {name}…")
        self._update_buttons()
        task.start()

    def cancel(self) -> None:
        self._queue.clear()
        if self._task is not None:
            self._task.cancel()

    def _on_progress(self, progress: Progress) -> None:
        if progress.total:
            scale = max(1, progress.total // 1_000_000)  # QProgressBar holds ints
            self.progress.setRange(0, progress.total // scale)
            self.progress.setValue(progress.done // scale)
        else:
            self.progress.setRange(0, 0)
        self.progress_label.setText(progress.message)

    def _on_finished(self) -> None:
        task, self._task = self._task, None
        if task is not None:
            task.deleteLater()
        self.progress.hide()
        self.refresh()
        self.modelsChanged.emit()
        self._next_install()

    def _next_install(self) -> None:
        if self._queue and self._task is None:
            self.install(self._queue.pop(0))

    def _add_file(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Add a model file", "", "GGUF models (*.gguf)")
        if path:
            self.add_file(path)

    def add_file(self, path: str) -> str | None:
        try:
            name = self._services.add_model(path)
        except Exception as exc:  # noqa: BLE001 - shown, logged
            show_error(self, exc, f"adding {path}")
            return None
        self.refresh()
        self.modelsChanged.emit()
        return name

    def closeEvent(self, event: Any) -> None:  # noqa: N802 - Qt override
        if self._task is not None:
            self.cancel()
            self._task.wait(10_000)
        super().closeEvent(event)
