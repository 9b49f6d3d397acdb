"""Draw a digit: mouse strokes change the 28x28 image, which is classified and explained live."""

from __future__ import annotations

import numpy as np
import pytest
from PySide6.QtCore import Qt

from lrp_studio.data import make_toy
from lrp_studio.gui.canvas import SIDE, fits_canvas, segment_points, stroke_alpha
from lrp_studio.gui.state import CUSTOM_INDEX
from lrp_studio.lrp import explain


def _show_canvas(window):
    dock = window.docks["canvas"]
    dock.show()
    dock.raise_()
    window.wait_idle(5)
    return window.canvas


def _stroke(qtbot, canvas, points, button=Qt.MouseButton.LeftButton, steps=6):
    """Press at the first point, move through the others (in image pixel units), release at the last."""
    qtbot.mousePress(canvas, button, pos=canvas.widget_position(*points[0]).toPoint())
    for a, b in zip(points[:-1], points[1:]):
        for t in np.linspace(0.0, 1.0, steps + 1)[1:]:
            qtbot.mouseMove(canvas, canvas.widget_position(a[0] + (b[0] - a[0]) * t, a[1] + (b[1] - a[1]) * t).toPoint())
    qtbot.mouseRelease(canvas, button, pos=canvas.widget_position(*points[-1]).toPoint())


def test_brush_helpers():
    alpha = stroke_alpha(SIDE, np.array([[13.5, 13.5]]), 2.0)  # the centre of pixel (13, 13)
    assert alpha[13, 13] == 1.0 and alpha[13, 14] == 0.5 and alpha[13, 15] == 0.0 and alpha[0, 0] == 0.0 and 0.0 <= alpha.min() and alpha.max() <= 1.0
    assert stroke_alpha(SIDE, np.array([[13.5, 13.5]]), 4.0).sum() > alpha.sum()
    points = segment_points((0, 0), (2, 0), 0.5)
    np.testing.assert_allclose(points[[0, -1]], [[0, 0], [2, 0]])
    assert fits_canvas((1, 28, 28)) and fits_canvas((784,)) and not fits_canvas((2,))


def test_drawing_is_classified_and_explained(qtbot, window):
    canvas = _show_canvas(window)
    assert canvas.objectName() == "drawingCanvas" and not canvas.image.any()
    assert window.docks["canvas"].windowTitle() == "Draw a digit"
    _stroke(qtbot, canvas, [(14, 4), (14, 24)])  # a "1"
    assert canvas.image.max() > 0.95 and canvas.image[5:23, 13:15].min() > 0.8
    assert canvas.image[:, :8].max() == 0.0 and 0.0 <= canvas.image.min()
    assert window.wait_idle(20)
    state = window.state
    assert state.custom_input is not None and state.explained_index == CUSTOM_INDEX
    np.testing.assert_allclose(state.custom_input.reshape(SIDE, SIDE), canvas.image)
    expected = explain(state.net, canvas.image.reshape(1, 1, SIDE, SIDE), **state.explain_arguments())
    np.testing.assert_allclose(state.explanation.relevance[0], expected.relevance[0], rtol=1e-4, atol=1e-6)
    predicted = int(np.argmax(expected.logits[0]))
    assert "Your input" in window.heatmap.caption.text()
    assert f"<b>{predicted}</b>" in window.draw_panel.prediction.text()
    np.testing.assert_allclose(window.heatmap.input_item.image, canvas.image)
    assert window.graph.selection() is None  # the graph follows without errors


def test_live_updates_are_throttled_and_the_last_stroke_wins(qtbot, window):
    canvas = _show_canvas(window)
    panel = window.draw_panel
    sent = panel.n_sent
    _stroke(qtbot, canvas, [(6, 6), (22, 6), (12, 24)], steps=30)
    assert window.wait_idle(20)
    assert 1 <= panel.n_sent - sent < 60  # far fewer sends than the 60 mouse moves
    np.testing.assert_allclose(window.state.custom_input.reshape(SIDE, SIDE), canvas.image)
    np.testing.assert_allclose(window.heatmap.input_item.image, canvas.image)


def test_right_button_erases_and_clear_empties(qtbot, window):
    canvas = _show_canvas(window)
    _stroke(qtbot, canvas, [(4, 14), (24, 14)])
    assert canvas.image[14, 10] > 0.9
    _stroke(qtbot, canvas, [(8, 14), (12, 14)], button=Qt.MouseButton.RightButton)
    assert canvas.image[14, 10] < 0.05 and canvas.image[14, 20] > 0.9
    window.draw_panel.clear_button.click()
    assert not canvas.image.any()
    assert window.wait_idle(20)
    assert not window.state.custom_input.any() and window.state.explained_index == CUSTOM_INDEX
    assert "empty" in window.draw_panel.prediction.text()


def test_brush_size_changes_the_stroke_width(qtbot, window):
    canvas = _show_canvas(window)
    widths = {}
    for size in (1, 4):
        window.draw_panel.brush_slider.setValue(size)
        assert canvas.brush_size == size and window.draw_panel.brush_label.text() == f"{size} px"
        window.draw_panel.clear_button.click()
        _stroke(qtbot, canvas, [(4, 14), (24, 14)])
        widths[size] = int((canvas.image[:, 14] > 0.5).sum())
    assert widths[1] <= 2 and widths[4] >= 4 and widths[4] > widths[1]


def test_use_current_sample_and_back_to_the_dataset(qtbot, window):
    canvas = _show_canvas(window)
    window.set_sample(3)
    assert window.wait_idle(20)
    window.draw_panel.sample_button.click()
    np.testing.assert_allclose(canvas.image, window.state.dataset.x[3].reshape(SIDE, SIDE), atol=1e-6)
    assert window.wait_idle(20)
    assert window.state.explained_index == CUSTOM_INDEX
    # same input as sample 3: same explanation
    window.state.set_index(3)  # picking the sample again leaves the drawing
    assert window.wait_idle(20)
    assert window.state.custom_input is None and window.state.explained_index == 3
    assert "Sample #3" in window.heatmap.caption.text()


def test_needs_a_28x28_model(qtbot, window):
    window.open_dataset("toy:moons")
    assert window.wait_idle(20)
    panel = window.draw_panel
    assert not panel.available() and not window.canvas.isEnabled() and not panel.clear_button.isEnabled()
    assert "28x28" in panel.info.text() and "2" in panel.info.text()
    sent = panel.n_sent
    panel.send()
    assert panel.n_sent == sent and window.state.custom_input is None
    panel.use_current_sample()
    assert "no 28x28 images" in panel.prediction.text()


def test_one_tab_bar_per_dock_group(window):
    """The new docks are tabbed after the first show: no stale second tab bar painted over the docks."""
    from PySide6.QtWidgets import QTabBar

    groups = [tuple(bar.tabText(i) for i in range(bar.count())) for bar in window.findChildren(QTabBar)
              if bar.isVisible() and window.rect().intersects(bar.geometry())]
    assert sorted(groups) == sorted(set(groups))
    assert ("Samples", "Draw a digit") in groups and ("Input heatmap", "2-D playground") in groups
    assert not window.docks["samples"].visibleRegion().isEmpty()  # the samples in front
    assert window.docks["canvas"].visibleRegion().isEmpty()
    assert window.tabifiedDockWidgets(window.docks["canvas"]) == [window.docks["samples"]]


def test_dock_tab_titles_are_whole(window):
    """Five bottom docks in ~420 px: scroll arrows, not "Conserva..." / "Trai..." (elided titles)."""
    from PySide6.QtCore import Qt
    from PySide6.QtWidgets import QTabBar

    bars = [bar for bar in window.findChildren(QTabBar) if bar.isVisible()]
    assert any("Conservation" in [bar.tabText(i) for i in range(bar.count())] for bar in bars)
    assert all(bar.elideMode() == Qt.TextElideMode.ElideNone and bar.usesScrollButtons() for bar in bars)
