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


REAL_QUESTIONS: dict[str, object] = {}


@pytest.fixture(autouse=True)
def unsaved_answers(monkeypatch: pytest.MonkeyPatch, tmp_path_factory: pytest.TempPathFactory) -> list[str]:
    """Recovery copies go to a temporary folder; the Save / Discard / Cancel question answers Discard,
    the restore question "Later", so no test blocks on a modal box.

    Tests that drive the real dialogs ask for :func:`real_unsaved_dialogs`. The list records the
    actions asked about.
    """
    from lrp_studio.gui import unsaved

    monkeypatch.setenv("LRP_STUDIO_RECOVERY_DIR", str(tmp_path_factory.mktemp("recovery")))
    REAL_QUESTIONS.setdefault("ask_unsaved", unsaved.ask_unsaved)
    REAL_QUESTIONS.setdefault("ask_restore", unsaved.ask_restore)
    asked: list[str] = []
    monkeypatch.setattr(unsaved, "ask_unsaved", lambda parent, name, action: asked.append(action) or unsaved.DISCARD)
    monkeypatch.setattr(unsaved, "ask_restore", lambda parent, info: asked.append("restore") or unsaved.CANCEL)
    return asked


@pytest.fixture(autouse=True)
def no_import_normalization(monkeypatch: pytest.MonkeyPatch):
    """File > Import model's mean/std dialog answers "none", so no import blocks on a modal dialog.

    Returns the real ``ask_import_normalization`` for tests that drive the dialog.
    """
    from lrp_studio.gui import import_normalization

    real = import_normalization.ask_import_normalization
    monkeypatch.setattr(import_normalization, "ask_import_normalization", lambda parent: {})
    return real


@pytest.fixture
def real_unsaved_dialogs(unsaved_answers, monkeypatch: pytest.MonkeyPatch) -> None:
    """The real QMessageBox questions of :mod:`lrp_studio.gui.unsaved` (drive them with a timer)."""
    from PySide6.QtCore import QTimer
    from PySide6.QtWidgets import QApplication, QMessageBox

    from lrp_studio.gui import unsaved

    for name, function in REAL_QUESTIONS.items():
        monkeypatch.setattr(unsaved, name, function)
    # a box no test answers (e.g. when pytest-qt closes a window with an unsaved model after a
    # failed test) is answered Discard after two sightings, so the run never hangs
    seen: list[int] = []

    def watch() -> None:
        box = QApplication.activeModalWidget()
        if isinstance(box, QMessageBox) and box.objectName() in (unsaved.UNSAVED_BOX, unsaved.RECOVERY_BOX):
            if id(box) in seen:
                box.button(QMessageBox.StandardButton.Discard).click()
            seen.append(id(box))

    watchdog = QTimer()
    watchdog.setInterval(500)
    watchdog.timeout.connect(watch)
    watchdog.start()
    yield
    watchdog.stop()


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

    import shiboken6

    stuck = []
    for window in windows:
        if not shiboken6.isValid(window):  # freed already (a modal box's event loop ran pytest-qt's deleteLater)
            continue
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


@pytest.fixture
def network_view(qtbot):
    """Factory for a shown NetworkView of ``net`` (optionally explained), ``size`` pixels."""
    from PySide6 import QtWidgets

    from lrp_studio.gui.graph_view import NetworkView

    def factory(net, explanation=None, size=(1000, 620)):
        view = NetworkView()
        qtbot.addWidget(view)
        view.resize(*size)
        view.show()
        qtbot.waitExposed(view)
        view.set_network(net)
        if explanation is not None:
            view.set_explanation(explanation)
        QtWidgets.QApplication.processEvents()
        return view
    return factory
