"""Tab a dock behind another once the main window is shown (works around a Qt dock-layout defect).

With PySide6 6.11, a second ``QMainWindow.tabifyDockWidget`` group created while the window is still
hidden gets two tab bars, and the stale one stays painted over the docks (the main window already
tabs "Conservation" and "Training" in its constructor). Tabbing after the window is shown gives one
bar, so :func:`tabify_when_shown` tabs on the first show event, raises the dock that should stay in
front, and refreshes the window's default layout (View > Reset layout) to include the tabs.
A dock the restored layout already placed (tabbed, floating or in another area) is left alone.
"""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import QEvent, QObject, Qt
from PySide6.QtWidgets import QDockWidget, QMainWindow, QTabBar

from lrp_studio.gui.settings import STATE_VERSION


class _ShowHook(QObject):
    def __init__(self, window: QMainWindow) -> None:
        super().__init__(window)
        self.window = window
        self.pending: list[tuple[QDockWidget, QDockWidget]] = []
        window.installEventFilter(self)

    def eventFilter(self, obj: Any, event: Any) -> bool:  # noqa: N802 (Qt API)
        if obj is self.window and event.type() == QEvent.Type.Show and self.pending:
            pending, self.pending = self.pending, []
            self.apply(pending)
        return False

    def apply(self, pending: list[tuple[QDockWidget, QDockWidget]]) -> None:
        window = self.window
        changed = False
        for front, dock in pending:
            if (dock.isFloating() or window.tabifiedDockWidgets(dock)
                    or window.dockWidgetArea(dock) != window.dockWidgetArea(front)):
                continue
            window.tabifyDockWidget(front, dock)
            front.raise_()
            changed = True
        readable_tabs(window)
        if changed and hasattr(window, "_default_state"):
            window._default_state = window.saveState(STATE_VERSION)
            if hasattr(window, "apply_default_dock_sizes"):
                window.apply_default_dock_sizes()


def tabify_when_shown(window: QMainWindow, front: QDockWidget, dock: QDockWidget) -> None:
    """Tab ``dock`` behind ``front`` (now if the window is visible, else on its first show)."""
    if window.isVisible():
        window.tabifyDockWidget(front, dock)
        front.raise_()
        readable_tabs(window)
        return
    hook = getattr(window, "_tabify_hook", None)
    if hook is None:
        hook = window._tabify_hook = _ShowHook(window)
    hook.pending.append((front, dock))


def readable_tabs(window: QMainWindow) -> None:
    """Dock tab bars keep their titles whole ("Conservation", not "Conserva..."): scroll arrows instead."""
    for bar in window.findChildren(QTabBar):
        bar.setElideMode(Qt.TextElideMode.ElideNone)
        bar.setUsesScrollButtons(True)


#: Share of the window's height a bottom dock gets when it comes to the front: the network graph
#: in the centre keeps at least half of the height (menu bar and status bar take the rest).
BOTTOM_SHARE = 0.4


def give_room(window: QMainWindow, dock: QDockWidget) -> None:
    """Give a docked panel (training, compare grid, faithfulness curves) room when it comes to the front.

    Up to :data:`BOTTOM_SHARE` of the window's height (never more: the graph keeps half) and 70 % of
    the bottom width next to the output chart. Floating docks and docks that have the room already
    are left alone.
    """
    if dock.isFloating() or not window.isVisible() or dock.height() >= 0.3 * window.height():
        return
    window.resizeDocks([dock], [int(window.height() * BOTTOM_SHARE)], Qt.Orientation.Vertical)
    docks = getattr(window, "docks", {})
    output = docks.get("output")
    if output is not None and output.isVisible() and not output.isFloating() and dock.width() < 0.6 * window.width():
        both = output.width() + dock.width()
        window.resizeDocks([output, dock], [int(both * 0.3), int(both * 0.7)], Qt.Orientation.Horizontal)


__all__ = ["BOTTOM_SHARE", "give_room", "readable_tabs", "tabify_when_shown"]
