"""Settings: stored with QSettings (the GUI's only persistence of ``Settings``) and edited
in a dialog. The core never sees QSettings, only the ``Settings`` dataclass."""

from __future__ import annotations

import dataclasses
import threading
from collections.abc import Sequence
from typing import Any

from PySide6.QtCore import QObject, QSettings, Signal
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QDoubleSpinBox,
    QFormLayout,
    QGroupBox,
    QLabel,
    QLineEdit,
    QMessageBox,
    QPlainTextEdit,
    QPushButton,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from rlm_desktop import paths
from rlm_desktop.settings import Settings

GROUP = "settings"


def gui_settings() -> QSettings:
    """The GUI's settings file, in the data dir so ``RLM_DESKTOP_DATA`` isolates it too."""
    return QSettings(str(paths.data_dir() / "gui.ini"), QSettings.Format.IniFormat)


def load_settings(store: QSettings) -> Settings:
    store.beginGroup(GROUP)
    try:
        values: dict[str, Any] = {key: store.value(key) for key in store.childKeys()}
    finally:
        store.endGroup()
    return Settings.from_dict({k: v for k, v in values.items() if v is not None})


def save_settings(store: QSettings, settings: Settings) -> None:
    store.beginGroup(GROUP)
    try:
        for key, value in settings.to_dict().items():
            store.setValue(key, "\n".join(value) if isinstance(value, list) else value)
    finally:
        store.endGroup()
    store.sync()


# field -> (label, tooltip, min, max) for the number editors
_NUMBERS: dict[str, tuple[str, str, float, float]] = {
    "n_threads": ("Threads", "CPU threads for the model (physical cores is best)", 1, 256),
    "n_gpu_layers": ("GPU layers", "Layers to put on the GPU: -1 all, 0 none (CPU only)", -1, 1000),
    "n_ctx": ("Context size", "Tokens the model sees at once", 512, 131072),
    "max_iterations": ("Max turns", "Root turns before the run stops with its best answer", 1, 1000),
    "max_sub_calls": ("Max sub-calls", "Sub-model calls per run", 0, 100000),
    "max_depth": ("Max depth", "How deep child RLMs may nest (1: sub-calls are plain model calls)", 1, 3),
    "max_total_tokens": ("Max tokens", "Model tokens (in + out) per run", 1000, 1_000_000_000),
    "timeout_s": ("Time limit (s)", "Wall-clock limit of a run", 10, 86400),
    "cell_timeout_s": ("Cell time limit (s)", "A code cell is killed after this long", 1, 3600),
    "sandbox_memory_mb": ("Sandbox memory (MB)", "Memory limit of the code sandbox", 128, 65536),
    "output_chars": ("Output shown to the model", "Characters of a cell's output the model sees", 200, 100000),
    "max_file_mb": ("Largest file (MB)", "Bigger files are skipped when indexing", 1, 10000),
    "server_concurrency": ("Sub-calls in flight", "Requests sent at once to a served sub-call model", 1, 64),
}
_TEXTS: dict[str, tuple[str, str]] = {
    "root_server": ("Root model server", "e.g. http://gpu-box:8080 (llama-server, vLLM, Ollama); empty: the model runs here"),
    "root_server_model": ("Root model name there", "the model's name on that server (rlm-desktop models list --server URL lists them)"),
    "sub_server": ("Sub-call model server", "e.g. http://gpu-box:8080; empty: the sub-call model runs here"),
    "sub_server_model": ("Sub-call model name there", "the model's name on that server"),
}
SERVER_PRIVACY = ("Off while the server fields are empty. With a server set, the question and the text the model "
                  "reads are sent to that host; nothing else leaves this machine. The API key, if the server needs "
                  "one, is read from the environment variable RLM_DESKTOP_SERVER_KEY and never stored.")
_SECTIONS = (
    ("Models", ("root_model", "sub_model", "n_threads", "n_gpu_layers", "n_ctx", "subcall_cache")),
    ("Budgets", ("max_iterations", "max_sub_calls", "max_depth", "max_total_tokens", "timeout_s")),
    ("Sandbox", ("cell_timeout_s", "sandbox_memory_mb", "output_chars")),
    ("Library", ("max_file_mb", "ignore_globs")),
    ("Model servers on your network", ("root_server", "root_server_model", "sub_server", "sub_server_model",
                                       "server_concurrency", "server_allow_public")),
)


class _Reply(QObject):
    """Carries a worker thread's result to the GUI thread (queued signal)."""

    done = Signal(str)


class SettingsDialog(QDialog):
    def __init__(self, settings: Settings, model_names: Sequence[str] = (), parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Settings")
        self._base = settings
        self._editors: dict[str, QWidget] = {}
        layout = QVBoxLayout(self)
        names = list(dict.fromkeys([*model_names, settings.root_model, settings.sub_model]))
        for title, fields in _SECTIONS:
            box = QGroupBox(title)
            form = QFormLayout(box)
            for name in fields:
                editor, label = self._editor(name, getattr(settings, name), names)
                self._editors[name] = editor
                form.addRow(label, editor)
            if title.startswith("Model servers"):
                self._add_server_rows(form)
            layout.addWidget(box)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel
                                   | QDialogButtonBox.StandardButton.RestoreDefaults)
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        buttons.button(QDialogButtonBox.StandardButton.RestoreDefaults).clicked.connect(self._restore)
        layout.addWidget(buttons)

    def _add_server_rows(self, form: QFormLayout) -> None:
        note = QLabel(SERVER_PRIVACY)
        note.setWordWrap(True)
        note.setAccessibleName("server privacy")
        form.addRow(note)
        self.test_button = QPushButton("Test connection")
        self.test_button.setAccessibleName("test connection")
        self.test_result = QLabel("")
        self.test_result.setWordWrap(True)
        self.test_result.setAccessibleName("connection result")
        self.test_button.clicked.connect(self._test_connection)
        form.addRow(self.test_button, self.test_result)
        self._reply = _Reply()
        self._reply.done.connect(self._tested)

    def _test_connection(self) -> None:
        """Ask each server set which models it serves, off the GUI thread."""
        edited = self.settings()
        targets = [(url, model) for url, model in ((edited.root_server, edited.root_server_model),
                                                   (edited.sub_server, edited.sub_server_model)) if url.strip()]
        if not targets:
            self.test_result.setText("No server set: both models run on this machine.")
            return
        self.test_button.setEnabled(False)
        self.test_result.setText("Connecting…")

        def work() -> None:
            from rlm_desktop.llm.server_backend import ServerBackend, ServerConfig, host_scope

            lines = []
            for url, model in targets:
                backend = ServerBackend(ServerConfig(url=url, model=model, connect_timeout_s=5, timeout_s=10))
                try:
                    names = backend.list_models()
                    where = {"loopback": "this machine", "private": "your network", "public": "the internet"}[host_scope(url)]
                    found = "serves it" if model in names else (f"does not serve {model!r}" if model else "no model name given")
                    lines.append(f"{backend.host} ({where}): {found}; models: {', '.join(names) or 'none listed'}")
                except Exception as exc:  # noqa: BLE001 - shown to the user as the test's result
                    lines.append(f"{backend.host}: {exc}")
                finally:
                    backend.close()
            self._reply.done.emit("\n".join(lines))

        threading.Thread(target=work, name="test-connection", daemon=True).start()

    def _tested(self, text: str) -> None:
        self.test_result.setText(text)
        self.test_button.setEnabled(True)

    def accept(self) -> None:
        """A server outside this machine and private networks needs an explicit yes."""
        from rlm_desktop.llm.server_backend import host_scope

        edited = self.settings()
        public = [u for u in (edited.root_server, edited.sub_server) if u.strip() and host_scope(u) == "public"]
        if public and not edited.server_allow_public:
            answer = QMessageBox.question(
                self, "Send text over the internet?",
                f"{', '.join(public)} is not on this machine or a private network. The question and the text the model "
                "reads would be sent there. Use it anyway?")
            if answer != QMessageBox.StandardButton.Yes:
                return
            allow = self._editors["server_allow_public"]
            assert isinstance(allow, QCheckBox)
            allow.setChecked(True)
        super().accept()

    def _editor(self, name: str, value: Any, model_names: list[str]) -> tuple[QWidget, str]:
        if name in _TEXTS:
            label, tip = _TEXTS[name]
            line = QLineEdit(str(value))
            line.setToolTip(tip)
            line.setPlaceholderText(tip.split(";")[0])
            line.setAccessibleName(name)
            return line, label
        if name == "server_allow_public":
            box = QCheckBox("Allow a server outside this machine and private networks")
            box.setChecked(bool(value))
            return box, "Internet hosts"
        if name in ("root_model", "sub_model"):
            combo = QComboBox()
            combo.setEditable(True)
            combo.addItems(model_names)
            combo.setCurrentText(str(value))
            combo.setToolTip("A catalog model, a model you added, or a path to a .gguf file")
            return combo, "Root model" if name == "root_model" else "Sub-call model"
        if name == "subcall_cache":
            box = QCheckBox("Reuse answers of identical sub-calls")
            box.setChecked(bool(value))
            return box, "Sub-call cache"
        if name == "ignore_globs":
            edit = QPlainTextEdit("\n".join(value))
            edit.setPlaceholderText("One pattern a line, e.g. *.log or node_modules/")
            edit.setToolTip("Files matching these patterns are not indexed (gitignore syntax)")
            edit.setMaximumHeight(80)
            return edit, "Ignore"
        label, tip, low, high = _NUMBERS[name]
        spin: QSpinBox | QDoubleSpinBox
        if isinstance(value, float):
            spin = QDoubleSpinBox()
            spin.setDecimals(1)
        else:
            spin = QSpinBox()
        spin.setRange(low, high)  # type: ignore[arg-type]
        spin.setValue(value)
        spin.setToolTip(tip)
        return spin, label

    def _restore(self) -> None:
        self._set_values(Settings())

    def _set_values(self, settings: Settings) -> None:
        for name, editor in self._editors.items():
            value = getattr(settings, name)
            if isinstance(editor, QComboBox):
                editor.setCurrentText(str(value))
            elif isinstance(editor, QLineEdit):
                editor.setText(str(value))
            elif isinstance(editor, QCheckBox):
                editor.setChecked(bool(value))
            elif isinstance(editor, QPlainTextEdit):
                editor.setPlainText("\n".join(value))
            elif isinstance(editor, (QSpinBox, QDoubleSpinBox)):
                editor.setValue(value)

    def settings(self) -> Settings:
        """The edited settings (fields the dialog does not show keep their values)."""
        changes: dict[str, Any] = {}
        for name, editor in self._editors.items():
            if isinstance(editor, QComboBox):
                changes[name] = editor.currentText().strip() or getattr(self._base, name)
            elif isinstance(editor, QLineEdit):
                changes[name] = editor.text().strip()
            elif isinstance(editor, QCheckBox):
                changes[name] = editor.isChecked()
            elif isinstance(editor, QPlainTextEdit):
                changes[name] = [ln.strip() for ln in editor.toPlainText().splitlines() if ln.strip()]
            elif isinstance(editor, (QSpinBox, QDoubleSpinBox)):
                changes[name] = editor.value()
        return dataclasses.replace(self._base, **changes)
