"""Message and file dialogs in one place (tests replace these functions), plus the GUI excepthook."""

from __future__ import annotations

import sys
import traceback
from types import TracebackType
from typing import Callable

from PySide6.QtWidgets import QApplication, QFileDialog, QMessageBox, QWidget

from lrp_studio.errors import LRPStudioError


def show_error(parent: QWidget | None, title: str, message: str, details: str | None = None) -> None:
    """A modal error box with a one-line message (and optional details, e.g. a traceback)."""
    box = QMessageBox(QMessageBox.Icon.Critical, title, message, QMessageBox.StandardButton.Ok, parent)
    if details:
        box.setDetailedText(details)
    box.exec()


def show_info(parent: QWidget | None, title: str, message: str) -> None:
    QMessageBox.information(parent, title, message)


def get_open_path(parent: QWidget | None, title: str, filters: str) -> str:
    """A file to open, or "" when cancelled."""
    path, _ = QFileDialog.getOpenFileName(parent, title, "", filters)
    return path


def get_open_paths(parent: QWidget | None, title: str, filters: str) -> list[str]:
    paths, _ = QFileDialog.getOpenFileNames(parent, title, "", filters)
    return list(paths)


def get_save_path(parent: QWidget | None, title: str, filters: str, default: str = "") -> str:
    """A file to write, or "" when cancelled."""
    path, _ = QFileDialog.getSaveFileName(parent, title, default, filters)
    return path


def get_directory(parent: QWidget | None, title: str) -> str:
    return QFileDialog.getExistingDirectory(parent, title)


def error_text(error: BaseException) -> str:
    """One line for the user: our own errors as they are, others with their type."""
    if isinstance(error, LRPStudioError):
        return str(error)
    if isinstance(error, OSError) and error.strerror:
        return f"{error.strerror}: {error.filename}" if error.filename else error.strerror
    return f"{type(error).__name__}: {error}"


def install_excepthook(parent_getter: Callable[[], QWidget | None] = lambda: None) -> Callable:
    """Show uncaught exceptions in a dialog instead of ending the app; returns the previous hook."""
    previous = sys.excepthook

    def hook(kind: type[BaseException], value: BaseException, tb: TracebackType | None) -> None:
        if issubclass(kind, KeyboardInterrupt):
            QApplication.quit()
            return
        details = "".join(traceback.format_exception(kind, value, tb))
        sys.stderr.write(details)
        try:
            show_error(parent_getter(), "Unexpected error", error_text(value), details)
        except Exception:  # never let the hook itself fail
            pass

    sys.excepthook = hook
    return previous
