"""The Library area: folders with their counts and status, add/remove/re-scan, the live
scan progress, the files that failed and why, and a first-start page for an empty
library."""

from __future__ import annotations

import time
from pathlib import Path

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QBrush, QColor, QKeySequence
from PySide6.QtWidgets import (
    QFileDialog,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QListWidget,
    QProgressBar,
    QPushButton,
    QStackedWidget,
    QToolButton,
    QTreeWidget,
    QTreeWidgetItem,
    QVBoxLayout,
    QWidget,
)

from rlm_desktop.gui.library_controller import LibraryController
from rlm_desktop.library.types import FolderRecord, ScanProgress, ScanReport

_STATUS = {"ok": "indexed", "missing": "missing!", "scanning": "scanning…", "error": "error"}


def format_size(n: int) -> str:
    value = float(n)
    for unit in ("B", "KB", "MB", "GB"):
        if value < 1024 or unit == "GB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{n} B"


def _plural(n: int, word: str) -> str:
    return f"{n:,} {word}" + ("" if n == 1 else "s")


def format_age(when: float | None, now: float | None = None) -> str:
    if not when:
        return "never"
    seconds = max(0.0, (now or time.time()) - when)
    if seconds < 60:
        return "just now"
    if seconds < 3600:
        return f"{int(seconds // 60)} min ago"
    if seconds < 86400:
        return f"{int(seconds // 3600)} h ago"
    return time.strftime("%Y-%m-%d", time.localtime(when))


class LibraryPanel(QWidget):
    sampleRequested = Signal()

    def __init__(self, controller: LibraryController, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.controller = controller
        self.folder_list = QTreeWidget()
        self.folder_list.setHeaderLabels(["Folder", "Files", "Size", "Last scan", "Status"])
        self.folder_list.setRootIsDecorated(False)
        self.folder_list.setUniformRowHeights(True)
        self.folder_list.setTextElideMode(Qt.TextElideMode.ElideRight)
        self.folder_list.setSelectionMode(QTreeWidget.SelectionMode.ExtendedSelection)
        header = self.folder_list.header()
        header.setStretchLastSection(False)
        header.setSectionResizeMode(0, QHeaderView.ResizeMode.Stretch)
        for column in range(1, 5):
            header.setSectionResizeMode(column, QHeaderView.ResizeMode.ResizeToContents)
        self.folder_list.setToolTip("Folders in the index. Drop more folders or files anywhere on the window.")

        self.empty_page = QWidget()
        empty_layout = QVBoxLayout(self.empty_page)
        hint = QLabel(
            "<h3>Start by adding your files</h3>"
            "<p>Drop folders or files anywhere on this window, or click <b>Add folder…</b> below.</p>"
            "<p>Everything stays on this computer: the files are indexed locally and the "
            "model runs offline.</p>"
            "<p>Not sure yet? Try the sample folder: a few short documents and a question "
            "whose answer is in them.</p>"
        )
        hint.setWordWrap(True)
        hint.setTextFormat(Qt.TextFormat.RichText)
        self.sample_button = QPushButton("Use the sample folder")
        self.sample_button.setToolTip("Add the bundled sample documents and fill in a sample question")
        self.sample_button.clicked.connect(self.sampleRequested)
        self.empty_page.setAccessibleName("first start")
        self.sample_button.setAccessibleName("use the sample folder")
        empty_layout.addWidget(hint)
        empty_layout.addWidget(self.sample_button, 0, Qt.AlignmentFlag.AlignLeft)
        empty_layout.addStretch(1)

        self.stack = QStackedWidget()
        self.stack.addWidget(self.empty_page)
        self.stack.addWidget(self.folder_list)

        self.add_button = QPushButton("Add folder…")
        self.add_button.setShortcut(QKeySequence("Ctrl+O"))
        self.add_button.setToolTip("Add a folder to the library (Ctrl+O)")
        self.remove_button = QPushButton("Remove")
        self.remove_button.setToolTip("Remove the selected folders from the index (the files stay on disk)")
        self.rescan_button = QPushButton("Re-scan")
        self.rescan_button.setShortcut(QKeySequence("F5"))
        self.rescan_button.setToolTip("Index new and changed files again (F5)")
        buttons = QHBoxLayout()
        for button in (self.add_button, self.remove_button, self.rescan_button):
            buttons.addWidget(button)
        buttons.addStretch(1)

        self.progress = QProgressBar()
        self.progress.setTextVisible(True)
        self.progress_label = QLabel()
        self.progress_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.cancel_button = QToolButton()
        self.cancel_button.setText("Stop")
        self.cancel_button.setToolTip("Stop indexing (what is done so far is kept)")
        progress_row = QHBoxLayout()
        progress_row.addWidget(self.progress, 1)
        progress_row.addWidget(self.cancel_button)
        self.progress_box = QWidget()
        progress_box = QVBoxLayout(self.progress_box)
        progress_box.setContentsMargins(0, 0, 0, 0)
        progress_box.addLayout(progress_row)
        progress_box.addWidget(self.progress_label)
        self.progress_box.hide()
        self.summary = QLabel()
        self.summary.setWordWrap(True)
        self.summary.setAccessibleName("library summary")
        self.folder_list.setAccessibleName("folders")

        self.failures_title = QLabel()
        self.failures = QListWidget()
        self.failures.setToolTip("Files that could not be read, and why")
        self.failures.setMaximumHeight(120)
        self.failures_title.hide()
        self.failures.hide()

        layout = QVBoxLayout(self)
        layout.addWidget(self.stack, 1)
        layout.addLayout(buttons)
        layout.addWidget(self.progress_box)
        layout.addWidget(self.summary)
        layout.addWidget(self.failures_title)
        layout.addWidget(self.failures)

        self.add_button.clicked.connect(self._choose_folder)
        self.remove_button.clicked.connect(self._remove_selected)
        self.rescan_button.clicked.connect(self._rescan_selected)
        self.cancel_button.clicked.connect(controller.cancel_scan)
        self.folder_list.itemSelectionChanged.connect(self._update_buttons)
        controller.foldersChanged.connect(self.show_folders)
        controller.scanStarted.connect(self._on_scan_started)
        controller.scanProgress.connect(self._on_progress)
        controller.scanFinished.connect(self._on_scan_finished)
        controller.failuresChanged.connect(self._show_failures)
        self._update_buttons()

    def show_folders(self, folders: list[FolderRecord]) -> None:
        selected = set(self.selected_paths())
        self.folder_list.clear()
        now = time.time()
        for folder in folders:
            status = _STATUS.get(folder.status, folder.status)
            if folder.error_count:
                status += f" ({folder.error_count} failed)"
            where = Path(folder.path)
            item = QTreeWidgetItem([f"{where.name}  ·  {where.parent}", f"{folder.file_count:,}", format_size(folder.total_bytes),
                                    format_age(folder.last_scan, now), status])
            item.setData(0, Qt.ItemDataRole.UserRole, folder.path)
            item.setToolTip(0, folder.path)
            for column in (1, 2):
                item.setTextAlignment(column, Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
            if folder.status in ("missing", "error"):
                item.setForeground(4, QBrush(QColor("#d9534f")))
                item.setToolTip(4, "The folder is gone or unreadable: re-attach the drive, or remove it")
            self.folder_list.addTopLevelItem(item)
            item.setSelected(folder.path in selected)
        self.stack.setCurrentWidget(self.folder_list if folders else self.empty_page)
        files = sum(f.file_count for f in folders)
        size = sum(f.total_bytes for f in folders)
        self.summary.setText(f"{_plural(len(folders), 'folder')} · {_plural(files, 'file')} · {format_size(size)}"
                             if folders else "")
        self._update_buttons()

    def selected_paths(self) -> list[str]:
        return [item.data(0, Qt.ItemDataRole.UserRole) for item in self.folder_list.selectedItems()]

    def _update_buttons(self) -> None:
        has_selection = bool(self.selected_paths())
        self.remove_button.setEnabled(has_selection)
        self.rescan_button.setEnabled(bool(self.controller.folders))

    def _choose_folder(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, "Add a folder to the library")
        if folder:
            self.controller.add_paths([folder])

    def _remove_selected(self) -> None:
        for path in self.selected_paths():
            self.controller.remove(path)

    def _rescan_selected(self) -> None:
        self.controller.rescan(self.selected_paths() or None)

    def _on_scan_started(self) -> None:
        self.progress.setRange(0, 0)
        self.progress_label.setText("Looking for files…")
        self.progress_box.show()

    def _on_progress(self, progress: ScanProgress) -> None:
        if progress.files_total:
            self.progress.setRange(0, progress.files_total)
            self.progress.setValue(progress.files_done)
            self.progress.setFormat("%v / %m files")
        name = progress.current.rsplit("/", 1)[-1]
        errors = f" · {progress.errors} failed" if progress.errors else ""
        self.progress_label.setText(f"Indexing {name}{errors}")

    def _on_scan_finished(self, report: ScanReport) -> None:
        self.progress_box.hide()
        parts = [f"{report.added} added", f"{report.updated} updated", f"{report.removed} removed"]
        if report.failed:
            parts.append(f"{len(report.failed)} failed")
        verb = "Indexing stopped" if report.cancelled else "Indexed"
        self.progress_label.setText("")
        self.summary.setText(f"{verb} in {report.elapsed_s:.1f} s: " + ", ".join(parts) + ".")

    def _show_failures(self, failures: list[tuple[str, str]]) -> None:
        self.failures.clear()
        for path, reason in failures:
            self.failures.addItem(f"{path}: {reason}")
        self.failures_title.setText(f"<b>{len(failures)} files could not be read</b>")
        self.failures_title.setVisible(bool(failures))
        self.failures.setVisible(bool(failures))
