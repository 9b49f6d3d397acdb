"""Wrap a dock's content in a frameless, resizable scroll area."""

from __future__ import annotations

from PySide6.QtWidgets import QFrame, QScrollArea, QWidget


def scrolled(widget: QWidget, name: str, scroll: QScrollArea | None = None) -> QScrollArea:
    """Put ``widget`` in ``scroll`` (a new QScrollArea by default) named ``name``.

    A view's own minimum size then no longer sets the window's minimum size while all docks show.
    """
    scroll = scroll if scroll is not None else QScrollArea()
    scroll.setObjectName(name)
    scroll.setWidget(widget)
    scroll.setWidgetResizable(True)
    scroll.setFrameShape(QFrame.Shape.NoFrame)
    return scroll
