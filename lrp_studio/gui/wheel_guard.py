"""One application-wide guard: value widgets without keyboard focus never take mouse-wheel events.

Scrolling a dock (the Training panel, the method parameters, the compare view) with the wheel
must scroll the dock, not silently change an optimiser, a loss, a batch size or a slider under
the pointer. :class:`WheelGuard` is installed once on the ``QApplication`` (so it covers every
window, dock and dialog, also the ones created later): a wheel event that reaches a
``QComboBox``, ``QAbstractSpinBox`` or ``QSlider`` without focus is ignored and goes to
the parent (the scroll area scrolls). Each such widget is given ``Qt.StrongFocus`` when it is
polished, so a wheel no longer gives it focus either; a click or Tab does, and then the wheel
changes its value as usual.
"""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import QEvent, QObject, Qt
from PySide6.QtWidgets import QAbstractSpinBox, QApplication, QComboBox, QSlider

#: Widget classes whose value a wheel event changes.
GUARDED = (QComboBox, QAbstractSpinBox, QSlider)  # not QScrollBar: scroll bars keep the wheel


def guarded(obj: Any) -> bool:
    """Whether ``obj`` is a value widget the guard protects."""
    return isinstance(obj, GUARDED)


class WheelGuard(QObject):
    """Event filter: ignores wheel events on unfocused value widgets; sets their focus policy."""

    def eventFilter(self, obj: Any, event: Any) -> bool:  # noqa: N802 (Qt API)
        kind = event.type()
        if kind == QEvent.Type.Wheel and guarded(obj) and not obj.hasFocus():
            event.ignore()  # propagates to the parent widget (a scroll area scrolls instead)
            return True
        if kind == QEvent.Type.Polish and guarded(obj) and obj.focusPolicy() == Qt.FocusPolicy.WheelFocus:
            obj.setFocusPolicy(Qt.FocusPolicy.StrongFocus)
        return False


def install_wheel_guard(app: QApplication | None = None) -> WheelGuard:
    """Install the guard on ``app`` (the running QApplication by default) once; returns it.

    Widgets get their focus policy when Qt polishes them (before they are first shown), so install
    the guard before building windows (MainWindow does so first thing). Widgets already polished keep
    theirs: walking ``app.allWidgets()`` here crashed (segmentation fault) on widgets whose C++ side a
    closed window had already deleted.
    """
    app = app or QApplication.instance()
    existing = getattr(app, "_lrp_wheel_guard", None)
    if existing is None:
        existing = WheelGuard(app)
        app.installEventFilter(existing)
        app._lrp_wheel_guard = existing
    return existing


def is_installed(app: QApplication | None = None) -> bool:
    """Whether :func:`install_wheel_guard` ran on ``app``."""
    app = app or QApplication.instance()
    return getattr(app, "_lrp_wheel_guard", None) is not None


__all__ = ["GUARDED", "WheelGuard", "guarded", "install_wheel_guard", "is_installed"]
