"""The main window: lays out the three areas, wires the controllers to the panels, and
takes drops. It holds no logic of its own: the library controller indexes, the run
controller runs, the services talk to the core."""

from __future__ import annotations

import logging
from typing import Any

from PySide6.QtCore import QByteArray, QSettings, Qt, QUrl
from PySide6.QtGui import QAction, QCloseEvent, QDesktopServices, QDragEnterEvent, QDropEvent, QKeySequence
from PySide6.QtWidgets import QMainWindow, QMessageBox, QSplitter, QTabWidget, QWidget

from rlm_desktop import __version__, paths
from rlm_desktop.gui import errors
from rlm_desktop.gui.ask_panel import AskPanel
from rlm_desktop.gui.citations import Resolver, suffix_resolver
from rlm_desktop.gui.history_panel import HistoryPanel
from rlm_desktop.gui.library_controller import LibraryController
from rlm_desktop.gui.library_panel import LibraryPanel
from rlm_desktop.gui.model_manager import ModelManager
from rlm_desktop.gui.run_controller import RunController
from rlm_desktop.gui.services import Services
from rlm_desktop.gui.settings_dialog import SettingsDialog, load_settings, save_settings
from rlm_desktop.gui.tree_model import RunTreeModel
from rlm_desktop.gui.tree_panel import TreePanel
from rlm_desktop.gui.viewer import DocumentViewer, document_text
from rlm_desktop.rlm.events import Citation, RunFinished
from rlm_desktop.settings import Settings

log = logging.getLogger(__name__)


def dropped_paths(urls: list[QUrl]) -> list[str]:
    return [url.toLocalFile() for url in urls if url.isLocalFile() and url.toLocalFile()]


class MainWindow(QMainWindow):
    def __init__(self, services: Services, store: QSettings, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("RLM Desktop")
        self.setAcceptDrops(True)
        self.services = services
        self.store = store
        self.settings: Settings = load_settings(store)
        services.use_settings(self.settings)
        self.tree_model = RunTreeModel(self)
        self.library = LibraryController(services, self)
        self.runs = RunController(services, lambda: self.settings, self.tree_model, self)
        self._viewers: list[DocumentViewer] = []
        self._models_dialog: ModelManager | None = None

        self.library_panel = LibraryPanel(self.library)
        self.history_panel = HistoryPanel(services)
        self.ask_panel = AskPanel(self._resolver)
        self.tree_panel = TreePanel(self.tree_model)
        for widget in (self.ask_panel.question, self.ask_panel.answer, self.tree_panel.detail):
            widget.setAcceptDrops(False)  # a dropped file goes to the library, not into the text
        self.left_tabs = QTabWidget()
        self.left_tabs.addTab(self.library_panel, "Library")
        self.left_tabs.addTab(self.history_panel, "History")
        self.splitter = QSplitter(Qt.Orientation.Horizontal)
        self.splitter.addWidget(self.left_tabs)
        self.splitter.addWidget(self.ask_panel)
        self.splitter.addWidget(self.tree_panel)
        self.splitter.setChildrenCollapsible(False)
        self.splitter.setSizes([380, 480, 540])
        self.setCentralWidget(self.splitter)
        self._build_menus()
        self._connect()
        self._restore_layout()
        self.statusBar().showMessage("Ready. Everything runs on this computer.")

    # --- setup --------------------------------------------------------------------------
    def _build_menus(self) -> None:
        def action(menu: Any, text: str, slot: Any, shortcut: Any = None, tip: str = "") -> QAction:
            act = QAction(text, self)
            if shortcut is not None:
                act.setShortcut(QKeySequence(shortcut))
            act.setStatusTip(tip)
            act.triggered.connect(slot)
            menu.addAction(act)
            return act

        bar = self.menuBar()
        file_menu = bar.addMenu("&File")
        action(file_menu, "Add &folder…", self.library_panel._choose_folder, None, "Add a folder to the library")
        action(file_menu, "Use the &sample folder", self.use_samples, None, "Add the bundled sample documents")
        file_menu.addSeparator()
        action(file_menu, "&Quit", self.close, QKeySequence.StandardKey.Quit)
        run_menu = bar.addMenu("&Run")
        action(run_menu, "&Ask", self.ask_panel.submit, None, "Ask the question (Enter in the question box)")
        action(run_menu, "&Stop", self.runs.stop, None, "Stop the run (Esc)")
        action(run_menu, "Focus the &question", self.ask_panel.question.setFocus, "Ctrl+L")
        action(run_menu, "&Follow the newest step", self.tree_panel.follow, "Ctrl+End")
        tools = bar.addMenu("&Tools")
        action(tools, "&Settings…", self.open_settings, "Ctrl+,", "Models, budgets, sandbox limits, ignore rules")
        action(tools, "&Models…", self.open_models, "Ctrl+M", "Installed and installable models")
        help_menu = bar.addMenu("&Help")
        action(help_menu, "Open the &log file", self._open_log)
        action(help_menu, "&About", self._about)

    def _connect(self) -> None:
        self.library.foldersChanged.connect(lambda folders: self.ask_panel.scope.set_folders([f.path for f in folders]))
        self.library.error.connect(lambda exc: errors.show_error(self, exc, "library"))
        self.library.folderMissing.connect(self._on_folder_missing)
        self.library.scanFinished.connect(
            lambda report: self.statusBar().showMessage(f"Indexing done in {report.elapsed_s:.1f} s", 5000))
        self.library_panel.sampleRequested.connect(self.use_samples)
        self.ask_panel.askRequested.connect(self._ask)
        self.ask_panel.stopRequested.connect(self.runs.stop)
        self.ask_panel.citationClicked.connect(self.open_citation)
        self.runs.busyChanged.connect(self.ask_panel.set_busy)
        self.runs.progress.connect(self.ask_panel.set_status)
        self.runs.runFinished.connect(self._on_run_finished)
        self.runs.runFailed.connect(self._on_run_failed)
        self.runs.modelsMissing.connect(self._on_models_missing)
        self.history_panel.openRequested.connect(self.open_run)

    def start(self) -> None:
        """Fill the panels (after the window exists, so errors have a parent)."""
        folders = self.library.refresh()
        self.history_panel.refresh()
        if folders:
            self.library.rescan()  # catch up with changes made while the app was closed
        self.library.start_watching()

    # --- actions ------------------------------------------------------------------------
    def add_paths(self, paths_: list[str]) -> None:
        """Dropped or chosen paths: ``.gguf`` files become models, the rest library folders."""
        models = [p for p in paths_ if p.lower().endswith(".gguf")]
        others = [p for p in paths_ if not p.lower().endswith(".gguf")]
        for path in models:
            try:
                name = self.services.add_model(path)
            except Exception as exc:  # noqa: BLE001 - shown, logged
                errors.show_error(self, exc, f"adding model {path}")
                continue
            self.statusBar().showMessage(f"Added model {name}; choose it in Settings.", 8000)
        if others:
            self.library.add_paths(others)

    def use_samples(self) -> None:
        samples = paths.samples_dir()
        self.library.add_paths([str(samples)])
        question = samples / "QUESTION.txt"
        if question.is_file() and not self.ask_panel.question.toPlainText().strip():
            self.ask_panel.question.setPlainText(question.read_text(encoding="utf-8").strip())

    def _ask(self, question: str, roots: list[str]) -> None:
        if not self.library.folders and not roots:
            QMessageBox.information(self, "No files yet", "Add a folder first: drop it on the window or use Add folder…")
            return
        if self.runs.ask(question, roots):
            self.statusBar().showMessage("Running…")

    def _on_run_finished(self, finished: RunFinished) -> None:
        self.ask_panel.show_answer(finished)
        self.history_panel.refresh()
        self.statusBar().showMessage(f"Run finished: {finished.status}", 8000)

    def _on_run_failed(self, exc: BaseException) -> None:
        title, text = errors.explain(exc)
        self.ask_panel.show_message(f"**{title}**\n\n{text}")
        errors.show_error(self, exc, "run")

    def _on_models_missing(self, names: list[str]) -> None:
        if errors.offer_install(self, names):
            self.open_models(install=names)

    def _on_folder_missing(self, path: str) -> None:
        if errors.ask_remove_missing_folder(self, path):
            self.library.remove(path)

    def _resolver(self) -> Resolver | None:
        try:
            return suffix_resolver(f.path for f in self.library.library.files())
        except Exception:  # noqa: BLE001 - links are a nicety; the answer still shows
            log.warning("could not list library files for citation links", exc_info=True)
            return None

    def open_citation(self, citation: Citation) -> DocumentViewer | None:
        try:
            text, line = document_text(citation, self.library.library)
        except Exception as exc:  # noqa: BLE001 - shown, logged
            errors.show_error(self, exc, f"opening {citation.path}")
            return None
        viewer = DocumentViewer(Citation(citation.path, line, citation.page), text, self)
        viewer.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        viewer.destroyed.connect(lambda: self._viewers.remove(viewer) if viewer in self._viewers else None)
        self._viewers.append(viewer)
        viewer.show()
        return viewer

    def open_run(self, run_id: str) -> None:
        if self.runs.running:
            self.statusBar().showMessage("Stop the current run first.", 5000)
            return
        try:
            events = self.services.run_events(run_id)
        except Exception as exc:  # noqa: BLE001 - shown, logged
            errors.show_error(self, exc, f"opening run {run_id}")
            return
        self.tree_model.load(events)
        self.ask_panel.question.setPlainText(self.tree_model.question)
        if self.tree_model.finished is not None:
            self.ask_panel.show_answer(self.tree_model.finished)

    def open_settings(self) -> Settings | None:
        try:
            names = [m.name for m in self.services.models() if m.installed]
        except Exception:  # noqa: BLE001 - the dialog still works with typed names
            log.warning("could not list models", exc_info=True)
            names = []
        dialog = SettingsDialog(self.settings, names, self)
        if dialog.exec() != SettingsDialog.DialogCode.Accepted:
            return None
        self.settings = dialog.settings()
        save_settings(self.store, self.settings)
        self.services.use_settings(self.settings)
        return self.settings

    def open_models(self, install: list[str] | None = None) -> ModelManager:
        dialog = ModelManager(self.services, self, install or ())
        dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        dialog.show()
        self._models_dialog = dialog
        return dialog

    def _open_log(self) -> None:
        QDesktopServices.openUrl(QUrl.fromLocalFile(str(paths.log_file())))

    def _about(self) -> None:
        QMessageBox.about(self, "About RLM Desktop",
                          f"<b>RLM Desktop {__version__}</b><p>Offline question answering over your own files "
                          "with Recursive Language Models. Nothing leaves this computer.</p>"
                          f"<p>Data: {paths.data_dir()}<br>Models: {paths.models_dir()}</p>")

    # --- drag and drop ------------------------------------------------------------------
    def dragEnterEvent(self, event: QDragEnterEvent) -> None:  # noqa: N802 - Qt override
        if dropped_paths(event.mimeData().urls()):
            event.acceptProposedAction()
        else:
            event.ignore()

    def dragMoveEvent(self, event: Any) -> None:  # noqa: N802 - Qt override
        event.acceptProposedAction()

    def dropEvent(self, event: QDropEvent) -> None:  # noqa: N802 - Qt override
        paths_ = dropped_paths(event.mimeData().urls())
        if paths_:
            event.acceptProposedAction()
            self.add_paths(paths_)

    # --- layout memory and shutdown -----------------------------------------------------
    def _restore_layout(self) -> None:
        geometry = self.store.value("window/geometry")
        if isinstance(geometry, QByteArray) and not geometry.isEmpty():
            self.restoreGeometry(geometry)
        else:
            self.resize(1400, 860)
        for key, splitter in self._splitters().items():
            state = self.store.value(f"window/{key}")
            if isinstance(state, QByteArray) and not state.isEmpty():
                splitter.restoreState(state)

    def _splitters(self) -> dict[str, QSplitter]:
        return {"splitter": self.splitter, "tree_splitter": self.tree_panel.splitter}

    def save_layout(self) -> None:
        self.store.setValue("window/geometry", self.saveGeometry())
        for key, splitter in self._splitters().items():
            self.store.setValue(f"window/{key}", splitter.saveState())
        self.store.sync()

    def closeEvent(self, event: QCloseEvent) -> None:  # noqa: N802 - Qt override
        self.save_layout()
        if not self.runs.shutdown():
            log.warning("the run did not stop within the wait; closing anyway")
        self.library.shutdown()
        self.history_panel.shutdown()
        for viewer in list(self._viewers):
            viewer.close()
        self.services.close()
        event.accept()
