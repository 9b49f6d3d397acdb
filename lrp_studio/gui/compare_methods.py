"""Which methods the "Compare methods" dock explains: a default subset and a "Methods..." menu.

With every method of :data:`lrp_studio.lrp.METHODS` (21) plus the perturbation cell the grid
needs six rows in a short bottom dock and its heatmaps shrink to 12-38 px; by default it compares
:data:`DEFAULT_COMPARED` (the LRP rules and composites of the notes and the common baselines) plus
the active method, and the user ticks others in the menu of the button this module builds.
"""

from __future__ import annotations

from typing import Callable, Sequence

from PySide6.QtGui import QAction
from PySide6.QtWidgets import QMenu, QToolButton, QWidget

from lrp_studio.lrp import METHODS

__all__ = ["DEFAULT_COMPARED", "compared_methods", "methods_button"]

#: Methods compared by default (15; with the perturbation cell 16 cells, four rows of four).
DEFAULT_COMPARED = ("lrp0", "epsilon", "zplus", "alphabeta", "gamma", "flat", "epsilon-plus", "epsilon-plus-flat",
                    "epsilon-alpha2-beta1", "epsilon-gamma-box", "deep-taylor", "gradient", "gradient-x-input",
                    "integrated-gradients", "smoothgrad")


def compared_methods(chosen: Sequence[str], active: str) -> list[str]:
    """The chosen methods in :data:`METHODS` order, plus the active method when it is a known one."""
    wanted = set(chosen) | ({active} if active in METHODS else set())
    return [name for name in METHODS if name in wanted]


def methods_button(parent: QWidget, chosen: Sequence[str], changed: Callable[[list[str]], None]) -> QToolButton:
    """A "Methods..." button whose menu ticks the compared methods; ``changed(names)`` after each tick."""
    button = QToolButton(parent)
    button.setObjectName("compareMethods")
    button.setText("Methods\u2026")
    button.setToolTip("Choose the methods the grid compares (fewer methods: larger heatmaps)")
    button.setPopupMode(QToolButton.ToolButtonPopupMode.InstantPopup)
    menu = QMenu(button)
    actions: list[QAction] = []

    def emit() -> None:
        changed([action.text() for action in actions if action.isChecked()])

    for name in METHODS:
        action = QAction(name, menu, checkable=True, checked=name in chosen)
        action.toggled.connect(lambda _checked: emit())
        menu.addAction(action)
        actions.append(action)
    button.setMenu(menu)
    return button
