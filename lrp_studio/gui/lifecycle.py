"""The application's life cycle: ordered shutdown at quit and at interpreter exit, SIGINT and SIGTERM.

Three faults this module removes (issue 17):

- an interpreter that exits with a main window open (a script, a notebook kernel) used to abort
  (status 134/139): Python tore down the window and the ``QThreadPool`` while a worker job still ran
  ("QThread: Destroyed while thread is still running"). :func:`install` registers :func:`release_all`
  with :mod:`atexit` (and the application's ``aboutToQuit``): every window's worker threads are
  stopped and waited for (:meth:`Controller.shutdown <lrp_studio.gui.controller.Controller.shutdown>`),
  their queued results delivered, then the windows are deleted, before Python and PySide free anything.
- Ctrl-C (SIGINT) in the terminal did nothing: while ``app.exec()`` runs, Python's signal handler only
  runs when Python code runs. :func:`handle_signals` points :func:`signal.set_wakeup_fd` at a socket pair
  watched by a ``QSocketNotifier``: the C-level handler writes the signal number to the socket, the
  notifier wakes the event loop, and :func:`dispatch` acts on it in the GUI thread. SIGINT closes every
  main window as its close button does (the window may ask about unsaved work; a second SIGINT while a
  window stays open forces the exit); the loop then ends with status 130 (128 + SIGINT).
- SIGTERM killed the app without a trace: now the recovery copy of unsaved work is written
  (:func:`write_recovery_copies`, when :mod:`lrp_studio.io.recovery` is present), the workers stopped,
  and the loop ends with status 143 (128 + SIGTERM), with no prompt.

The signal handlers are installed only around a blocking event loop that LRP Studio runs itself
(``lrp-studio gui``, :func:`lrp_studio.run`, ``view(..., block=True)``), never inside IPython or
Jupyter, whose own Ctrl-C / interrupt handling must stay as it is; they are restored afterwards.
"""

from __future__ import annotations

import atexit
import signal
import socket
import threading
from typing import Any, Callable

from PySide6.QtCore import QCoreApplication, QEvent, QObject, QSocketNotifier
from PySide6.QtWidgets import QApplication
from shiboken6 import isValid

#: Exit status of the event loop after SIGINT / SIGTERM (the shell's 128 + signal number).
SIGINT_STATUS = 128 + int(signal.SIGINT)
SIGTERM_STATUS = 128 + int(signal.SIGTERM)
#: Seconds :func:`release_all` waits for each window's worker jobs.
SHUTDOWN_TIMEOUT = 30.0

_installed: list[QObject] = []  # the application install() connected to (at most one)
_interrupts: list[int] = []     # SIGINTs received since the last window close was asked


def main_windows() -> list[Any]:
    """Every live LRP Studio main window (top-level widgets with a controller and a ``shutdown``)."""
    app = QApplication.instance()
    if app is None:
        return []
    return [w for w in QApplication.topLevelWidgets()
            if isValid(w) and hasattr(w, "controller") and callable(getattr(w, "shutdown", None))]


def write_recovery_copies(windows: list[Any] | None = None) -> int:
    """Write the recovery copy of every window's unsaved model; returns how many were written.

    Uses the window's own ``write_recovery_copy()`` (issue 13's unsaved-work support) when it has
    one, else :func:`lrp_studio.io.recovery.write_recovery` for a state whose ``model_dirty`` is set.
    Without :mod:`lrp_studio.io.recovery` nothing is written (0). Errors are swallowed: this runs while
    the process is being terminated and must not stop it.
    """
    try:
        from lrp_studio.io import recovery
    except ImportError:
        return 0
    written = 0
    for window in main_windows() if windows is None else windows:
        state = getattr(window, "state", None)
        if state is None or not getattr(state, "model_dirty", False):
            continue
        try:
            writer = getattr(window, "write_recovery_copy", None)
            if callable(writer):
                written += bool(writer())
            else:
                recovery.write_recovery(state.net, state.model_name, state.dataset.name,
                                        getattr(state, "dataset_spec", None))
                written += 1
        except Exception:  # noqa: BLE001 - a full disk must not keep a terminated process alive
            continue
    return written


def release_all(timeout: float = SHUTDOWN_TIMEOUT) -> None:
    """Stop every window's worker threads, deliver their queued results, then delete the windows.

    Idempotent; safe without a QApplication. The order matters: a ``QThreadPool`` destroyed while
    its thread runs a job aborts the process, and a worker emitting into a deleted window prints
    "Signal source has been deleted" tracebacks.
    """
    app = QApplication.instance()
    if app is None:
        return
    windows = main_windows()
    for window in windows:
        window.shutdown()
        window.controller.shutdown(timeout)
    QCoreApplication.processEvents()  # the ended jobs' queued signals reach their live receivers
    for window in windows:
        if isValid(window):  # a window closed with WA_DeleteOnClose may be gone already
            window.hide()
            window.deleteLater()
    QCoreApplication.sendPostedEvents(None, QEvent.Type.DeferredDelete)
    QCoreApplication.processEvents()


def install(app: QCoreApplication | None = None) -> None:
    """Register :func:`release_all` at ``aboutToQuit`` and at interpreter exit (once per process)."""
    app = app or QApplication.instance()
    if app is None or any(installed is app for installed in _installed):
        return
    if not _installed:
        atexit.register(release_all)  # runs before PySide's own exit handler (registered earlier)
    _installed.clear()
    _installed.append(app)
    app.aboutToQuit.connect(lambda: release_all())


def ensure_application() -> QApplication:
    """The QApplication: the running one, or a new one named like the app's (QSettings use the names).

    Unlike the ``lrp-studio`` entry point, the host allocator is not tuned: :func:`lrp_studio.view`
    runs inside the user's own process. :func:`install` is called on it.
    """
    import sys

    app = QApplication.instance()
    if app is None:
        app = QApplication(sys.argv[:1] or ["lrp-studio"])
        app.setApplicationName("LRP Studio")
        app.setOrganizationName("lrp-studio")
    install(app)
    return app


def close_like_button(force: bool) -> bool:
    """Close every main window as its close button does; ``force`` skips the questions. True when none is left."""
    for window in main_windows():
        if force:
            write_recovery_copies([window])
            window.shutdown()
            window.hide()
        elif not window.close():
            continue
    return not any(w.isVisible() for w in main_windows())


def dispatch(signum: int) -> None:
    """React to ``signum`` in the GUI thread (the notifier's slot; tests call it directly)."""
    app = QCoreApplication.instance()
    if app is None:
        return
    if signum == signal.SIGTERM:
        write_recovery_copies()
        release_all()
        app.exit(SIGTERM_STATUS)
    elif signum == signal.SIGINT:
        _interrupts.append(signum)
        if close_like_button(force=len(_interrupts) > 1):
            _interrupts.clear()
            app.exit(SIGINT_STATUS)


class SignalWatcher:
    """Route SIGINT and SIGTERM into the Qt event loop while it runs (a context manager).

    Inside the ``with`` block the Python handlers of both signals are no-ops and
    :func:`signal.set_wakeup_fd` writes each signal's number to a socket that a
    ``QSocketNotifier`` watches; :func:`dispatch` handles it. On exit the previous handlers and
    wake-up fd are restored. Outside the main thread it does nothing.
    """

    def __init__(self, app: QCoreApplication, handler: Callable[[int], None] = dispatch) -> None:
        self.app, self.handler = app, handler
        self._previous: dict[int, Any] = {}
        self._previous_fd = -1
        self._sockets: tuple[socket.socket, socket.socket] | None = None
        self._notifier: QSocketNotifier | None = None

    def __enter__(self) -> "SignalWatcher":
        if threading.current_thread() is not threading.main_thread():
            return self
        reader, writer = socket.socketpair()
        reader.setblocking(False)
        writer.setblocking(False)
        self._sockets = (reader, writer)
        self._previous_fd = signal.set_wakeup_fd(writer.fileno(), warn_on_full_buffer=False)
        for number in (signal.SIGINT, signal.SIGTERM):
            self._previous[number] = signal.signal(number, lambda *_: None)  # the notifier does the work
        self._notifier = QSocketNotifier(reader.fileno(), QSocketNotifier.Type.Read, self.app)
        self._notifier.activated.connect(self._drain)
        _interrupts.clear()
        return self

    def _drain(self, *_: Any) -> None:
        if self._sockets is None:
            return
        try:
            data = self._sockets[0].recv(64)
        except (BlockingIOError, OSError):
            return
        for signum in data:
            self.handler(signum)

    def __exit__(self, *_: Any) -> None:
        if self._sockets is None:
            return
        if self._notifier is not None:
            self._notifier.setEnabled(False)
            self._notifier.deleteLater()
            self._notifier = None
        signal.set_wakeup_fd(self._previous_fd)
        for number, previous in self._previous.items():
            signal.signal(number, previous if previous is not None else signal.SIG_DFL)
        for sock in self._sockets:
            sock.close()
        self._sockets = None


def exec_loop(app: QCoreApplication) -> int:
    """``app.exec()`` with the ordered shutdown installed and SIGINT/SIGTERM handled; returns its status."""
    install(app)
    with SignalWatcher(app):
        status = int(app.exec())
    release_all()
    return status


__all__ = ["SIGINT_STATUS", "SIGTERM_STATUS", "SignalWatcher", "close_like_button", "dispatch", "ensure_application",
           "exec_loop",
           "install", "main_windows", "release_all", "write_recovery_copies"]
