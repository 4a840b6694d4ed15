"""Dialogs a person can act on. Each says what happened and what to do; the traceback goes
to the log file (``paths.log_file()``), never into a dialog."""

from __future__ import annotations

import logging
from collections.abc import Sequence

from PySide6.QtWidgets import QMessageBox, QWidget

from rlm_desktop import paths
from rlm_desktop.errors import (
    BudgetExceeded,
    Cancelled,
    InstallError,
    LibraryError,
    ModelError,
    RlmDesktopError,
    SandboxError,
)

log = logging.getLogger(__name__)


def explain(exc: BaseException) -> tuple[str, str]:
    """A title and a message for an exception, in the user's terms."""
    if isinstance(exc, Cancelled):
        return "Stopped", "The operation was stopped. What was done so far is kept."
    if isinstance(exc, InstallError):
        return "The model could not be installed", f"{exc}\n\nCheck the disk space and try again from Models."
    if isinstance(exc, ModelError):
        return "The model could not be loaded", (
            f"{exc}\n\nPick another model in Settings, or install or re-install it from Models.")
    if isinstance(exc, BudgetExceeded):
        return "A budget ran out", f"The run used up its {exc.budget} budget. Raise it in Settings to let it work longer."
    if isinstance(exc, SandboxError):
        return "The code sandbox stopped", (
            f"{exc}\n\nThe model's code was stopped (time, memory, or a forbidden action). "
            "Ask again, or raise the sandbox limits in Settings.")
    if isinstance(exc, LibraryError):
        return "The library could not be read", f"{exc}\n\nRe-scan the folder, or remove it if it is gone."
    if isinstance(exc, RlmDesktopError):
        return "Something went wrong", str(exc)
    return "Something went wrong", (
        f"An unexpected error occurred ({type(exc).__name__}). The details are in the log file:\n{paths.log_file()}")


def show_error(parent: QWidget | None, exc: BaseException, doing: str = "") -> None:
    log.error("%s failed", doing or "operation", exc_info=exc)
    title, text = explain(exc)
    box = QMessageBox(QMessageBox.Icon.Warning, title, text, QMessageBox.StandardButton.Ok, parent)
    box.setDetailedText(f"Details are in the log file: {paths.log_file()}")
    box.open()


def offer_install(parent: QWidget | None, names: Sequence[str]) -> bool:
    """Missing models: ask whether to install them now."""
    listed = "\n".join(f"  • {n}" for n in names)
    answer = QMessageBox.question(
        parent, "A model is missing",
        f"These models are not installed yet:\n{listed}\n\nInstall them now? They are downloaded once and "
        "then everything runs offline. You can also choose other models in Settings.",
        QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.No, QMessageBox.StandardButton.Yes)
    return answer == QMessageBox.StandardButton.Yes


def ask_remove_missing_folder(parent: QWidget | None, path: str) -> bool:
    answer = QMessageBox.question(
        parent, "A folder is gone",
        f"The folder\n{path}\nno longer exists (moved, deleted, or on a drive that is not attached).\n\n"
        "Remove it from the library? Choose No to keep its index until it comes back.",
        QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.No, QMessageBox.StandardButton.No)
    return answer == QMessageBox.StandardButton.Yes
