"""Past runs: question, time and status; reopen one (answer and full tree) or export it
as JSON or Markdown."""

from __future__ import annotations

import time
from pathlib import Path

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QFileDialog,
    QHBoxLayout,
    QHeaderView,
    QPushButton,
    QTreeWidget,
    QTreeWidgetItem,
    QVBoxLayout,
    QWidget,
)

from rlm_desktop.gui.errors import show_error
from rlm_desktop.gui.services import RunSummary, Services
from rlm_desktop.gui.workers import Task

_STATUS = {"ok": "answered", "budget_exhausted": "partial (budget)", "cancelled": "stopped", "error": "failed",
           "running": "running"}


class HistoryPanel(QWidget):
    openRequested = Signal(str)  # run_id
    loaded = Signal(list)  # list[RunSummary], after each refresh

    def __init__(self, services: Services, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._services = services
        self._task: Task | None = None
        self._again = False
        self.list = QTreeWidget()
        self.list.setHeaderLabels(["Question", "When", "Status"])
        self.list.setRootIsDecorated(False)
        self.list.setUniformRowHeights(True)
        header = self.list.header()
        header.setStretchLastSection(False)
        header.setSectionResizeMode(0, QHeaderView.ResizeMode.Stretch)
        header.setSectionResizeMode(1, QHeaderView.ResizeMode.ResizeToContents)
        header.setSectionResizeMode(2, QHeaderView.ResizeMode.ResizeToContents)
        self.list.setToolTip("Double-click a run to see its answer and tree again")
        self.open_button = QPushButton("Open")
        self.json_button = QPushButton("Export JSON…")
        self.md_button = QPushButton("Export Markdown…")
        buttons = QHBoxLayout()
        for button in (self.open_button, self.json_button, self.md_button):
            buttons.addWidget(button)
        buttons.addStretch(1)
        layout = QVBoxLayout(self)
        layout.addWidget(self.list, 1)
        layout.addLayout(buttons)
        self.list.itemDoubleClicked.connect(lambda item, _col: self.openRequested.emit(self._run_id(item)))
        self.open_button.clicked.connect(self._open_selected)
        self.json_button.clicked.connect(lambda: self._export_selected("json"))
        self.md_button.clicked.connect(lambda: self._export_selected("md"))
        self.list.itemSelectionChanged.connect(self._update_buttons)
        self._update_buttons()

    @staticmethod
    def _run_id(item: QTreeWidgetItem) -> str:
        return item.data(0, Qt.ItemDataRole.UserRole)

    def refresh(self) -> None:
        """Re-read the runs in a task (the runs DB lives on disk; the list arrives as
        ``loaded``)."""
        if self._task is not None:
            self._again = True
            return
        services = self._services
        task = Task(lambda emit, cancel: services.runs(), "history", self)
        task.succeeded.connect(self._show_runs)
        task.failed.connect(lambda exc: show_error(self, exc, "listing past runs"))
        task.finished.connect(self._on_task_end)
        self._task = task
        task.start()

    def _on_task_end(self) -> None:
        task, self._task = self._task, None
        if task is not None:
            task.deleteLater()
        if self._again:
            self._again = False
            self.refresh()

    def shutdown(self, wait_ms: int = 5000) -> None:
        if self._task is not None:
            self._task.wait(wait_ms)

    def run_ids(self) -> list[str]:
        return [self._run_id(self.list.topLevelItem(i)) for i in range(self.list.topLevelItemCount())]

    def _show_runs(self, runs: list[RunSummary]) -> None:
        selected = self.selected_run()
        self.list.clear()
        for run in sorted(runs, key=lambda r: r.started_at, reverse=True):
            when = time.strftime("%Y-%m-%d %H:%M", time.localtime(run.started_at)) if run.started_at else ""
            item = QTreeWidgetItem([run.question.replace("\n", " "), when, _STATUS.get(run.status, run.status)])
            item.setData(0, Qt.ItemDataRole.UserRole, run.run_id)
            item.setToolTip(0, run.question)
            self.list.addTopLevelItem(item)
            item.setSelected(run.run_id == selected)
        self._update_buttons()
        self.loaded.emit(runs)

    def selected_run(self) -> str | None:
        items = self.list.selectedItems()
        return self._run_id(items[0]) if items else None

    def _update_buttons(self) -> None:
        enabled = self.selected_run() is not None
        for button in (self.open_button, self.json_button, self.md_button):
            button.setEnabled(enabled)

    def _open_selected(self) -> None:
        run_id = self.selected_run()
        if run_id:
            self.openRequested.emit(run_id)

    def _export_selected(self, fmt: str) -> None:
        run_id = self.selected_run()
        if not run_id:
            return
        suffix = "json" if fmt == "json" else "md"
        path, _ = QFileDialog.getSaveFileName(self, "Export run", f"run-{run_id}.{suffix}")
        if path:
            self.export(run_id, fmt, Path(path))

    def export(self, run_id: str, fmt: str, path: Path) -> bool:
        try:
            path.write_text(self._services.export_run(run_id, fmt), encoding="utf-8")
        except Exception as exc:  # noqa: BLE001 - shown, logged
            show_error(self, exc, f"exporting run {run_id}")
            return False
        return True
