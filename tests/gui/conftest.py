"""Fixtures for the GUI tests: offscreen Qt, isolated QSettings, recorded dialogs, a ready main window."""

from __future__ import annotations

import os

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import pytest  # noqa: E402

import PySide6  # noqa: E402,F401 - a hard dependency: a broken install fails the suite, never skips it
import pytestqt  # noqa: E402,F401


@pytest.fixture(autouse=True)
def isolated_settings(tmp_path_factory: pytest.TempPathFactory) -> None:
    """QSettings (INI, user scope) live in a temporary folder, never in the user's home."""
    from PySide6.QtCore import QSettings

    folder = tmp_path_factory.mktemp("qsettings")
    QSettings.setPath(QSettings.Format.IniFormat, QSettings.Scope.UserScope, str(folder))
    QSettings.setDefaultFormat(QSettings.Format.IniFormat)
    yield


@pytest.fixture
def error_dialogs(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, str]]:
    """Replace modal error boxes by a list of (title, message) so tests never block."""
    from lrp_studio.gui import dialogs

    shown: list[tuple[str, str]] = []
    monkeypatch.setattr(dialogs, "show_error", lambda parent, title, message, details=None: shown.append((title, message)))
    monkeypatch.setattr(dialogs, "show_info", lambda parent, title, message: shown.append((title, message)))
    return shown


@pytest.fixture
def make_window(qtbot, error_dialogs):
    """Factory for main windows that are shown, explained once and shut down after the test."""
    from lrp_studio.gui.main_window import MainWindow

    windows = []

    def factory(*args, restore: bool = False, **kwargs):
        window = MainWindow(*args, restore=restore, **kwargs)
        qtbot.addWidget(window)
        window.resize(1600, 1000)
        window.show()
        assert window.wait_idle(30.0)
        windows.append(window)
        return window

    yield factory
    from PySide6.QtCore import QCoreApplication, QEvent

    stuck = []
    for window in windows:
        window.shutdown()
        # every job of this window has ended before the next test starts (none blocks a later one)
        if not window.controller.shutdown(30.0):
            stuck.append(window)
        QCoreApplication.processEvents()  # deliver the ended jobs' queued signals while the window lives
        window.close()
        window.deleteLater()
    QCoreApplication.sendPostedEvents(None, QEvent.Type.DeferredDelete)  # really free the windows
    assert not stuck, f"{len(stuck)} window(s) still had a running worker job 30 s after shutdown"


@pytest.fixture
def window(make_window):
    """The default window: bundled MNIST subset and bundled MLP."""
    return make_window()
