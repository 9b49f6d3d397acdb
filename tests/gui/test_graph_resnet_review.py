"""A fresh user's review of the bundled residual model in the app (1280x800 window: the network
view is about 690x500 pixels): stacked headers off the drawing, output dots and their class labels
apart, the conservation plot of a graph, the merge split near the top of the inspector."""

from __future__ import annotations

import os

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import numpy as np
import pytest

import PySide6  # noqa: F401 - a hard dependency: fail, never skip
from PySide6 import QtCore, QtWidgets  # noqa: E402

from lrp_studio.lrp.explain import explain  # noqa: E402
from lrp_studio.nn import lenet  # noqa: E402
from lrp_studio.zoo import load_model  # noqa: E402

from tests.gui.test_graph_resnet import _viewport_rect, exp, resnet, sample  # noqa: E402,F401 - shared fixtures

#: The network view's size in a 1280x800 and a 1600x1000 window.
VIEW_SIZES = [(690, 500), (960, 680)]


@pytest.fixture
def make_view(network_view):
    return network_view  # tests/gui/conftest.py


def _device_point(view, x: float, y: float) -> QtCore.QPointF:
    return view.view_box().mapViewToDevice(QtCore.QPointF(x, y))


def _lowest_drawn_y(view) -> float:
    """Viewport y of the lowest node edge or skip lane of the drawing."""
    layout = view._layout  # noqa: SLF001 - the drawn layout
    lowest = max(max(c.bottom for c in layout.columns), layout.lanes_bottom)
    return _device_point(view, 0.0, lowest).y()


@pytest.mark.parametrize("size", VIEW_SIZES)
def test_the_stacked_columns_header_sits_under_the_drawing_inside_the_view(make_view, resnet, exp, size) -> None:
    view = make_view(resnet, exp, size)
    stacked = [c.index for c in view.columns() if c.band]
    assert stacked
    viewport = QtCore.QRectF(view.graphics_view().viewport().rect())
    for index in stacked:
        rect = _viewport_rect(view, view.header_items()[index])
        assert rect.top() >= _lowest_drawn_y(view)  # below every node and skip edge, none drawn over
        assert viewport.contains(rect)


@pytest.mark.parametrize("size", VIEW_SIZES)
def test_output_dots_and_their_class_labels_never_overlap(make_view, resnet, exp, size) -> None:
    view = make_view(resnet, exp, size)
    last = view.columns()[-1]
    centres = [_device_point(view, *c) for c in last.centres[:2]]
    spacing_px = abs(centres[1].y() - centres[0].y())
    assert view.dot_sizes()[last.index] <= spacing_px
    rects = [_viewport_rect(view, label) for label in view.class_label_items()]
    assert len(rects) == 10
    for upper, lower in zip(rects, rects[1:]):
        assert upper.bottom() <= lower.top() + 1.0, (upper, lower)


def test_a_sequential_views_output_dots_keep_their_size(make_view) -> None:
    net = lenet(channels=(16, 32), hidden=100)
    explanation = explain(net, np.zeros((1, 1, 28, 28), np.float32) + 0.5, method="epsilon-plus", messages=True)
    view = make_view(net, explanation, (960, 680))
    assert all(view.dot_sizes()[c.index] == c.size for c in view.columns() if c.kind == "dots")


def test_the_conservation_plot_of_a_graph_shows_cuts_and_additions_by_node_name(qtbot, resnet, sample) -> None:
    from lrp_studio.gui.main_window import MainWindow

    window = MainWindow(resnet, None, restore=False, model_name="resnet")
    qtbot.addWidget(window)
    plot = window.findChild(QtWidgets.QWidget, "conservationPlot")
    stages = plot.stages()
    assert all(not resnet.skip_stages(s) for s in stages)  # never a stage inside one branch
    adds = [j + 1 for j, layer in enumerate(resnet.layers) if layer.type_name == "add"]
    assert set(adds) <= set(stages) and 17 not in stages  # 17: the projection shortcut's conv output
    assert [plot._stage_label(None, s) for s in adds] == ["block1.add", "block2.add"]  # noqa: SLF001
