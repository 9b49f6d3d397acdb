"""Point 2 of issue 13: the mouse wheel never changes an unfocused combo box, spin box or slider."""

from __future__ import annotations

import pytest
from PySide6.QtCore import QPoint, QPointF, Qt
from PySide6.QtGui import QWheelEvent
from PySide6.QtWidgets import (
    QApplication, QComboBox, QDoubleSpinBox, QLineEdit, QScrollArea, QSlider, QSpinBox, QVBoxLayout, QWidget,
)

from lrp_studio.gui.wheel_guard import GUARDED, install_wheel_guard


def wheel(widget: QWidget, steps: int = -1) -> bool:
    """Send a real QWheelEvent (``steps`` notches, negative = towards the user) to the widget's centre.

    Returns whether the widget accepted it. Qt hands a spontaneous (user's) wheel event that the
    widget left unaccepted on to its parents (a scroll area then scrolls); a synthesised one, as
    here, stops at the receiver, so the tests check acceptance rather than the scroll position.
    """
    centre = QPointF(widget.width() / 2, widget.height() / 2)
    event = QWheelEvent(centre, QPointF(widget.mapToGlobal(centre.toPoint())), QPoint(0, 0), QPoint(0, 120 * steps),
                        Qt.MouseButton.NoButton, Qt.KeyboardModifier.NoModifier, Qt.ScrollPhase.NoScrollPhase, False)
    QApplication.sendEvent(widget, event)
    return event.isAccepted()


def value_of(widget: QWidget):
    return widget.currentIndex() if isinstance(widget, QComboBox) else widget.value()


@pytest.fixture
def panel(qtbot):
    """A tall scroll area holding one widget of each guarded kind (plus the app-wide guard)."""
    install_wheel_guard()
    scroll = QScrollArea()
    inner = QWidget()
    layout = QVBoxLayout(inner)
    sink = QLineEdit()  # holds the focus, as a user's last click elsewhere would
    layout.addWidget(sink)
    combo = QComboBox()
    combo.addItems(["sgd", "momentum", "adam"])
    spin, dspin = QSpinBox(), QDoubleSpinBox()
    spin.setRange(1, 8192)
    spin.setValue(64)
    dspin.setValue(0.5)
    slider = QSlider(Qt.Orientation.Horizontal)
    slider.setRange(0, 100)
    slider.setValue(50)
    widgets = [combo, spin, dspin, slider]
    for widget in widgets:
        layout.addWidget(widget)
    layout.addSpacing(2000)  # the area can scroll
    scroll.setWidget(inner)
    scroll.setWidgetResizable(True)
    scroll.resize(300, 200)
    qtbot.addWidget(scroll)
    scroll.show()
    qtbot.waitExposed(scroll)
    sink.setFocus()
    qtbot.waitUntil(sink.hasFocus)
    return scroll, widgets


def test_unfocused_value_widgets_leave_the_wheel_to_their_parent(panel):
    scroll, widgets = panel
    for widget in widgets:
        assert not widget.hasFocus()
        assert widget.focusPolicy() == Qt.FocusPolicy.StrongFocus  # a wheel does not give it focus either
        before = value_of(widget)
        assert not wheel(widget, -1), f"a {type(widget).__name__} kept the wheel event from its scroll area"
        assert not wheel(widget, 1)
        assert value_of(widget) == before, type(widget).__name__
        assert not widget.hasFocus()


def test_the_scroll_area_itself_still_scrolls(panel):
    scroll, _ = panel
    bar = scroll.verticalScrollBar()
    assert bar.maximum() > 0
    wheel(scroll.viewport(), -1)
    assert bar.value() > 0


def test_a_focused_widget_still_takes_the_wheel(panel, qtbot):
    scroll, widgets = panel
    for widget in widgets:
        widget.setFocus()
        qtbot.waitUntil(widget.hasFocus)
        before = value_of(widget)
        assert wheel(widget, -1)
        assert value_of(widget) != before, type(widget).__name__


def test_every_value_widget_of_the_main_window_is_guarded(window):
    """The whole app, not only the training panel: the optimizer, loss and batch size keep their values."""
    panel = window.training_panel
    window.docks["training"].show()
    window.docks["training"].raise_()
    QApplication.processEvents()
    settings = [panel.optimizer_combo, panel.loss_combo, panel.batch_spin, panel.lr_spin, panel.epochs_spin]
    before = [value_of(w) for w in settings]
    for widget in settings:
        wheel(widget, -1)
        wheel(widget, 1)
        wheel(widget, 1)
    assert [value_of(w) for w in settings] == before
    values = [w for w in QApplication.allWidgets() if isinstance(w, GUARDED) and w.window() is window]
    assert len(values) > 10
    loose = [type(w).__name__ for w in values if w.focusPolicy() & Qt.FocusPolicy.WheelFocus == Qt.FocusPolicy.WheelFocus]
    assert not loose
