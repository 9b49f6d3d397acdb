"""NetworkView: columns, colours, top-k edges, mouse/keyboard selection, tooltips, export."""

from __future__ import annotations

import os
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import numpy as np
import pytest

pytest.importorskip("PySide6")
pytest.importorskip("pytestqt")

import pyqtgraph as pg  # noqa: E402
from PySide6 import QtGui  # noqa: E402
from PySide6.QtCore import QPoint, Qt  # noqa: E402

from lrp_studio.errors import ParameterError  # noqa: E402
from lrp_studio.lrp.explain import explain  # noqa: E402
from lrp_studio.nn import lenet, mlp  # noqa: E402

RESOURCES = Path(__file__).parents[2] / "resources"


@pytest.fixture(scope="module")
def samples() -> np.ndarray:
    data = np.load(RESOURCES / "mnist_5k.npz")
    return data["images"][:4].astype(np.float32)[:, None] / 255.0


@pytest.fixture(scope="module")
def small_mlp():
    return mlp([784, 32, 16, 10], input_shape=(1, 28, 28), input_range=(0, 1))


@pytest.fixture(scope="module")
def small_cnn():
    return lenet(channels=(4, 8), hidden=16)


def _explain(net, x):
    return explain(net, x, method="epsilon-plus", messages=True)


@pytest.fixture
def make_view(network_view):
    return network_view  # tests/gui/conftest.py


def _click(qtbot, view, stage, unit, double=False):
    viewport = view.graphics_view().viewport()
    pos = view.viewport_position(stage, unit)
    assert viewport.rect().contains(pos), (stage, unit, pos)
    if double:
        qtbot.mouseDClick(viewport, Qt.MouseButton.LeftButton, pos=pos)
    else:
        qtbot.mouseClick(viewport, Qt.MouseButton.LeftButton, pos=pos)


# ---------------------------------------------------------------------------- structure
def test_mlp_columns(make_view, small_mlp, samples):
    view = make_view(small_mlp, _explain(small_mlp, samples[:1]))
    columns = view.columns()
    assert view.objectName() == "networkView"
    assert [c.stage for c in columns] == [0, 3, 5, 6]
    assert [c.kind for c in columns] == ["image", "dots", "dots", "dots"]
    assert [c.n_nodes for c in columns] == [1, 32, 16, 10]
    assert columns[1].title == "dense 32 · relu" and columns[1].subtitle == "32 neurons"
    assert "logits" in columns[-1].title
    for column in columns[1:]:
        assert len(view.node_brushes(column.stage)) == column.n_nodes
    assert view.node_colors(0).shape == (28, 28, 4)


def test_cnn_columns(make_view, small_cnn, samples):
    view = make_view(small_cnn, _explain(small_cnn, samples[:1]))
    columns = view.columns()
    assert [c.stage for c in columns] == [0, 3, 6, 9, 10]
    assert [c.kind for c in columns] == ["image", "maps", "maps", "dots", "dots"]
    assert [c.n_nodes for c in columns] == [1, 4, 8, 16, 10]
    assert view.node_colors(3).shape == (4, 12, 12, 4)
    assert view.node_colors(6).shape == (8, 4, 4, 4)


# ---------------------------------------------------------------------------- edges
def _check_edges(view, exp, k):
    drawn = view.edge_data()
    assert drawn, "no edges drawn"
    total = 0
    for layer_index, src, dst, values in drawn:
        messages = np.asarray(exp.messages[layer_index])
        conn = next(c for c in view._layout.connections if c.layer_index == layer_index)
        if conn.group > 1:
            messages = messages.reshape(-1, conn.group, messages.shape[1]).sum(axis=1)
        np.testing.assert_allclose(values, messages[src, dst])
        for target in np.unique(dst):
            chosen = np.sort(np.abs(values[dst == target]))[::-1]
            assert len(chosen) <= k
            expected = np.sort(np.abs(messages[:, target]))[::-1][: len(chosen)]
            np.testing.assert_allclose(chosen, expected, rtol=1e-6)
        # targets without edges receive only zero messages
        silent = np.setdiff1d(np.arange(messages.shape[1]), dst)
        if len(silent) and k > 0:
            assert np.all(messages[:, silent] == 0)
        total += len(values)
    points = sum(len(c.xData) for c in view.edge_curves() if c.isVisible() and c.xData is not None)
    assert points == 2 * total
    assert len(view.edge_curves()) == 16


@pytest.mark.parametrize("k", [1, 3, 5])
def test_edges_are_top_k_messages_mlp(make_view, small_mlp, samples, k):
    exp = _explain(small_mlp, samples[:1])
    view = make_view(small_mlp, exp)
    view.set_top_k(k)
    _check_edges(view, exp, k)
    assert {e[0] for e in view.edge_data()} == {3, 5}  # pixel -> dense edges are not drawn


def test_edges_are_top_k_messages_cnn(make_view, small_cnn, samples):
    exp = _explain(small_cnn, samples[1:2])
    view = make_view(small_cnn, exp)
    _check_edges(view, exp, 3)
    assert {e[0] for e in view.edge_data()} == {0, 3, 7, 9}


def test_top_k_zero_hides_edges(make_view, small_mlp, samples):
    view = make_view(small_mlp, _explain(small_mlp, samples[:1]))
    view.set_top_k(0)
    assert view.edge_data() == []
    assert not any(c.isVisible() for c in view.edge_curves())
    with pytest.raises(ParameterError):
        view.set_top_k(-1)


# ---------------------------------------------------------------------------- colours
def _rgb(view, stage):
    return np.asarray(view.node_colors(stage))[..., :3]


def test_brushes_follow_explanation_and_mode(make_view, small_mlp, samples):
    view = make_view(small_mlp, _explain(small_mlp, samples[:1]))
    before = _rgb(view, 3).copy()
    view.set_explanation(_explain(small_mlp, samples[1:2]))
    after = _rgb(view, 3).copy()
    assert not np.array_equal(before, after)
    view.set_color_mode("activation")
    activation = _rgb(view, 3).copy()
    assert not np.array_equal(after, activation)
    # relu activations are >= 0: no node may be coloured on the negative (blue) side
    assert np.all(activation[:, 0] >= activation[:, 2])
    view.set_color_mode("relevance")
    np.testing.assert_array_equal(_rgb(view, 3), after)
    with pytest.raises(ParameterError):
        view.set_color_mode("weights")


def test_colormap_and_scale_modes(make_view, small_cnn, samples):
    view = make_view(small_cnn, _explain(small_cnn, samples[:1]))
    maps = _rgb(view, 3).copy()
    view.set_colormap("coldnhot")
    assert not np.array_equal(_rgb(view, 3), maps)
    view.set_colormap("bwr")
    view.set_scale_mode("global")
    assert view._colorbar.levels()[1] > 1.0  # the logits set the shared scale
    assert not np.array_equal(_rgb(view, 3), maps)  # small relevance of hidden maps fades
    view.set_scale_mode("layer")
    np.testing.assert_array_equal(_rgb(view, 3), maps)
    assert tuple(view._colorbar.levels()) == (-1.0, 1.0)


def test_baseline_colours_come_from_its_records(make_view, small_mlp, samples):
    # baselines record every stage's activation; the view shows those and runs no network itself
    baseline = explain(small_mlp, samples[:1], method="gradient")
    view = make_view(small_mlp, baseline)
    assert view.edge_data() == []
    view.set_color_mode("activation")
    colours = _rgb(view, 3)
    assert len({tuple(c) for c in colours}) > 1
    assert "n/a" in view.hover_text(3, 0)  # no hidden relevance for a baseline
    record = next(r for r in baseline.layers if r.stage == 3)
    record.activation = -record.activation  # a forward pass would give relu >= 0 (red side) again
    view.set_explanation(baseline)
    flipped = _rgb(view, 3)
    active = np.abs(record.activation[0]) > 0
    assert np.all(flipped[active, 2] > flipped[active, 0])  # now every active node is on the blue side


def test_explanation_without_records_is_refused(make_view, small_mlp, samples):
    view = make_view(small_mlp)
    with pytest.raises(ParameterError, match="keep_layers"):
        view.set_explanation(explain(small_mlp, samples[:1], method="epsilon-plus", keep_layers=False))


def test_explanation_must_match_network(make_view, small_mlp, small_cnn, samples):
    view = make_view(small_mlp)
    other = mlp([2, 4, 2])
    with pytest.raises(ParameterError):
        view.set_explanation(explain(other, np.ones((1, 2), np.float32), messages=True))


# ---------------------------------------------------------------------------- interaction
def test_click_selects_dense_neuron(qtbot, make_view, small_mlp, samples):
    view = make_view(small_mlp, _explain(small_mlp, samples[:1]))
    for stage, unit in [(3, 7), (5, 15), (6, 2)]:
        with qtbot.waitSignal(view.neuronSelected, timeout=2000) as blocker:
            _click(qtbot, view, stage, unit)
        assert blocker.args == [stage, unit]
        assert view.selection() == (stage, unit)


def test_click_selects_feature_map_and_pixel(qtbot, make_view, small_cnn, samples):
    view = make_view(small_cnn, _explain(small_cnn, samples[:1]))
    with qtbot.waitSignal(view.neuronSelected, timeout=2000) as blocker:
        _click(qtbot, view, 6, 5)
    assert blocker.args == [6, 5]
    pixel = 14 * 28 + 9
    with qtbot.waitSignal(view.neuronSelected, timeout=2000) as blocker:
        _click(qtbot, view, 0, pixel)
    assert blocker.args == [0, pixel]


def test_click_on_empty_space_keeps_selection(qtbot, make_view, small_mlp, samples):
    view = make_view(small_mlp, _explain(small_mlp, samples[:1]))
    view.select(5, 3)
    with qtbot.assertNotEmitted(view.neuronSelected):
        qtbot.mouseClick(view.graphics_view().viewport(), Qt.MouseButton.LeftButton, pos=QPoint(3, 3))
    assert view.selection() == (5, 3)


def test_double_click_activates(qtbot, make_view, small_mlp, samples):
    view = make_view(small_mlp, _explain(small_mlp, samples[:1]))
    with qtbot.waitSignal(view.neuronActivated, timeout=2000) as blocker:
        _click(qtbot, view, 5, 4, double=True)
    assert blocker.args == [5, 4]


def test_keyboard_navigation(qtbot, make_view, small_mlp, samples):
    view = make_view(small_mlp, _explain(small_mlp, samples[:1]))
    graphics = view.graphics_view()
    graphics.setFocus()
    view.select(3, 31)
    with qtbot.waitSignal(view.neuronSelected, timeout=1000) as blocker:
        qtbot.keyClick(graphics, Qt.Key.Key_Up)
    assert blocker.args == [3, 30]
    with qtbot.waitSignal(view.neuronSelected, timeout=1000) as blocker:
        qtbot.keyClick(graphics, Qt.Key.Key_Right)
    assert blocker.args == [5, round(30 / 31 * 15)]  # keeps the relative position
    qtbot.keyClick(graphics, Qt.Key.Key_Right)
    assert view.selection()[0] == 6
    qtbot.keyClick(graphics, Qt.Key.Key_Down)
    qtbot.keyClick(graphics, Qt.Key.Key_Down)
    assert view.selection() == (6, 9)  # clamped at the last class
    qtbot.keyClick(graphics, Qt.Key.Key_Left)
    qtbot.keyClick(graphics, Qt.Key.Key_Left)
    assert view.selection() == (3, 31)
    qtbot.keyClick(graphics, Qt.Key.Key_Left)
    stage, unit = view.selection()
    assert stage == 0 and unit // 28 == 27  # bottom row of the image
    with qtbot.waitSignal(view.neuronActivated, timeout=1000) as blocker:
        qtbot.keyClick(graphics, Qt.Key.Key_Return)
    assert blocker.args == [stage, unit]


def test_select_validates_and_draws_overlay(make_view, small_mlp, samples):
    view = make_view(small_mlp, _explain(small_mlp, samples[:1]))
    exp = view._exp
    active = int(np.argmax(np.abs(exp.layers[5].relevance[0])))
    view.select(5, active)
    points = sum(len(c.xData) for c in view._overlay_curves if c.xData is not None)
    assert points > 0
    with pytest.raises(ParameterError):
        view.select(5, 16)
    with pytest.raises(ParameterError):
        view.select(4, 0)  # not a column


def test_tooltip_text(qtbot, make_view, small_mlp, samples):
    exp = _explain(small_mlp, samples[:1])
    view = make_view(small_mlp, exp)
    unit = int(np.argmax(exp.layers[3].activation[0]))
    text = view.hover_text(3, unit)
    assert "dense 32" in text and f"neuron {unit}" in text
    assert f"activation {exp.layers[3].activation[0, unit]:.4g}" in text
    assert f"relevance {exp.layers[3].relevance[0, unit]:.4g}" in text
    assert "class 4" in view.hover_text(6, 4)
    pixel = view.hover_text(0, 5 * 28 + 6)
    assert "pixel (5, 6)" in pixel and "activation" in pixel and "relevance" in pixel
    # hovering sets the tooltip through the scene's mouse-move signal
    viewport = view.graphics_view().viewport()
    qtbot.mouseMove(viewport, view.viewport_position(3, unit))
    qtbot.waitUntil(lambda: view.graphics_view().toolTip() == text, timeout=2000)


# ---------------------------------------------------------------------------- export
def test_export_png_and_svg(make_view, small_cnn, samples, tmp_path):
    view = make_view(small_cnn, _explain(small_cnn, samples[:1]))
    size = view.graphics_view().viewport().size()
    png = tmp_path / "graph.png"
    view.export_image(str(png))
    image = QtGui.QImage(str(png))
    assert not image.isNull() and (image.width(), image.height()) == (size.width(), size.height())
    pixels = np.asarray(image.convertToFormat(QtGui.QImage.Format.Format_RGB32).constBits()).size
    assert pixels > 0
    from PIL import Image

    with Image.open(png) as pil:
        colours = pil.convert("RGB").getcolors(1 << 20)
    assert len(colours) > 20  # not a blank picture
    view.export_image(str(tmp_path / "big.png"), scale=2)
    assert QtGui.QImage(str(tmp_path / "big.png")).width() == 2 * size.width()
    svg = tmp_path / "graph.svg"
    view.export_image(str(svg))
    assert svg.stat().st_size > 1000 and "<svg" in svg.read_text(errors="replace")
    with pytest.raises(ParameterError):
        view.export_image(str(tmp_path / "graph.gif"))


# ---------------------------------------------------------------------------- PySide6 6.12 guard
def test_many_repaints_do_not_crash(qtbot):
    """PySide6 6.12.0 aborts ("none_dealloc") after ~20k QPainter calls; 6.11 must survive this."""
    widget = pg.PlotWidget()
    qtbot.addWidget(widget)
    widget.resize(160, 120)
    widget.show()
    curve = widget.plot(pen="r")
    x = np.linspace(0, 1, 16)
    for step in range(3000):
        curve.setData(x, np.sin(x * 6 + step * 0.01))
        widget.viewport().repaint()
    widget.grab()
    assert curve.xData is not None


def test_flat_input_network(make_view, qtbot):
    net = mlp([2, 8, 6, 3], classes=["a", "b", "c"])
    x = np.array([[0.5, -1.0]], np.float32)
    view = make_view(net, explain(net, x, method="epsilon", messages=True))
    columns = view.columns()
    assert [c.kind for c in columns] == ["dots"] * 4
    assert [c.n_nodes for c in columns] == [2, 8, 6, 3]
    assert 0 in {e[0] for e in view.edge_data()}  # input -> first layer edges are drawn for dots
    with qtbot.waitSignal(view.neuronSelected, timeout=2000) as blocker:
        _click(qtbot, view, 0, 1)
    assert blocker.args == [0, 1]
    assert "class c" in view.hover_text(columns[-1].stage, 2)
    fitted = np.array(view.view_box().viewRange())
    view.view_box().scaleBy((0.2, 0.2))
    assert not np.allclose(np.array(view.view_box().viewRange()), fitted)
    view.reset_zoom()
    np.testing.assert_allclose(np.array(view.view_box().viewRange()), fitted, rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize("net_name", ["small_mlp", "small_cnn"])
def test_edge_and_overlay_segments_lie_inside_their_fixed_bounds(request, make_view, samples, net_name):
    # the edge curves report the graph's extent instead of their data's bounds (pyqtgraph's is
    # slow); Qt culls and repaints by that rectangle, so every segment must lie inside it
    net = request.getfixturevalue(net_name)
    view = make_view(net, _explain(net, samples[:1]))
    view.set_top_k(5)
    last = view.columns()[-1]
    view.select(last.stage, int(np.argmax(np.abs(view._exp.layers[-1].relevance[0]))))
    curves = [c for c in view.edge_curves() + view._overlay_curves if c.xData is not None and len(c.xData)]
    assert len(curves) >= 3
    for curve in curves:
        rect = curve.boundingRect()
        assert rect.width() > 0 and rect.height() > 0
        assert rect.left() <= curve.xData.min() and curve.xData.max() <= rect.right()
        assert rect.top() <= curve.yData.min() and curve.yData.max() <= rect.bottom()
