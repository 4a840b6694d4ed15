"""Settings survive a restart through QSettings, edited in the dialog."""

from __future__ import annotations

import pytest
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


def test_model_servers_are_edited_kept_and_off_by_default(qtbot, store):
    from PySide6.QtWidgets import QLineEdit

    dialog = SettingsDialog(Settings())
    qtbot.addWidget(dialog)
    editors = dialog._editors
    assert isinstance(editors["sub_server"], QLineEdit) and editors["sub_server"].text() == ""  # off
    editors["sub_server"].setText(" http://192.168.1.20:8080 ")
    editors["sub_server_model"].setText("qwen2.5-7b")
    editors["server_concurrency"].setValue(8)
    save_settings(store, dialog.settings())
    loaded = load_settings(store)
    assert (loaded.sub_server, loaded.sub_server_model, loaded.server_concurrency) == ("http://192.168.1.20:8080", "qwen2.5-7b", 8)
    assert loaded.root_server == "" and loaded.server_allow_public is False


def test_a_public_server_needs_an_explicit_yes(qtbot, monkeypatch):
    from PySide6.QtWidgets import QMessageBox

    dialog = SettingsDialog(Settings())
    qtbot.addWidget(dialog)
    dialog._editors["root_server"].setText("http://8.8.8.8:8080")
    dialog._editors["root_server_model"].setText("m")
    asked: list[str] = []
    monkeypatch.setattr(QMessageBox, "question", lambda parent, title, text: asked.append(text) or QMessageBox.StandardButton.No)
    dialog.accept()
    assert asked and "would be sent there" in asked[0]
    assert dialog.result() != dialog.DialogCode.Accepted and dialog.settings().server_allow_public is False
    monkeypatch.setattr(QMessageBox, "question", lambda parent, title, text: QMessageBox.StandardButton.Yes)
    dialog.accept()
    assert dialog.result() == dialog.DialogCode.Accepted and dialog.settings().server_allow_public is True


def test_test_connection_reports_without_blocking_the_window(qtbot):
    import socket

    dialog = SettingsDialog(Settings())
    qtbot.addWidget(dialog)
    dialog.test_button.click()
    assert "No server set" in dialog.test_result.text()
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # nothing listens here once closed
    dialog._editors["sub_server"].setText(f"http://127.0.0.1:{port}")
    dialog._editors["sub_server_model"].setText("m")
    dialog.test_button.click()
    assert dialog.test_result.text() == "Connecting…" and not dialog.test_button.isEnabled()  # returned at once
    qtbot.waitUntil(lambda: dialog.test_button.isEnabled(), timeout=20000)
    assert f"127.0.0.1:{port}: cannot reach the model server" in dialog.test_result.text()


@pytest.mark.model
def test_test_connection_lists_a_real_servers_models(qtbot, small_model_path):
    from tests.llm.test_server_backend import ALIAS, _free_port, start_server

    port = _free_port()
    proc = start_server(small_model_path, port)
    try:
        dialog = SettingsDialog(Settings())
        qtbot.addWidget(dialog)
        dialog._editors["sub_server"].setText(f"http://127.0.0.1:{port}")
        dialog._editors["sub_server_model"].setText(ALIAS)
        dialog.test_button.click()
        qtbot.waitUntil(lambda: dialog.test_button.isEnabled(), timeout=30000)
        assert f"127.0.0.1:{port} (this machine): serves it; models: {ALIAS}" in dialog.test_result.text()
    finally:
        proc.kill()
        proc.wait(timeout=10)
