"""Settings survive a restart through QSettings, edited in the dialog."""

from __future__ import annotations

from PySide6.QtWidgets import QCheckBox, QComboBox, QPlainTextEdit, QSpinBox

from rlm_desktop.gui.settings_dialog import SettingsDialog, load_settings, save_settings
from rlm_desktop.settings import Settings


def test_defaults_when_nothing_is_stored(store):
    assert load_settings(store) == Settings()


def test_dialog_edits_round_trip_through_qsettings(qtbot, store, tmp_path):
    dialog = SettingsDialog(Settings(), ["model-a", "model-b"])
    qtbot.addWidget(dialog)
    editors = dialog._editors
    assert isinstance(editors["root_model"], QComboBox)
    editors["root_model"].setCurrentText("model-b")
    assert isinstance(editors["max_iterations"], QSpinBox)
    editors["max_iterations"].setValue(7)
    editors["n_gpu_layers"].setValue(0)
    editors["timeout_s"].setValue(120.5)
    assert isinstance(editors["subcall_cache"], QCheckBox)
    editors["subcall_cache"].setChecked(False)
    assert isinstance(editors["ignore_globs"], QPlainTextEdit)
    editors["ignore_globs"].setPlainText("*.log\nnode_modules/\n")
    edited = dialog.settings()
    save_settings(store, edited)

    from PySide6.QtCore import QSettings

    reopened = QSettings(store.fileName(), QSettings.Format.IniFormat)  # as after a restart
    loaded = load_settings(reopened)
    assert loaded == edited
    assert (loaded.root_model, loaded.max_iterations, loaded.n_gpu_layers, loaded.timeout_s) == ("model-b", 7, 0, 120.5)
    assert loaded.subcall_cache is False
    assert loaded.ignore_globs == ["*.log", "node_modules/"]


def test_restore_defaults_button(qtbot):
    dialog = SettingsDialog(Settings(max_iterations=3))
    qtbot.addWidget(dialog)
    dialog._restore()
    assert dialog.settings().max_iterations == Settings().max_iterations
