"""The network view and inspector on the bundled residual model: both paths drawn, headers never
overlap or leave the view, arrow keys and clicks follow the graph, the merge split in the inspector."""

from __future__ import annotations

import os
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import numpy as np
import pytest

import PySide6  # noqa: F401 - a hard dependency: fail, never skip
from PySide6 import QtCore, QtWidgets  # noqa: E402
from PySide6.QtCore import Qt  # noqa: E402

from lrp_studio.gui.graph_view import NetworkView  # noqa: E402
from lrp_studio.gui.inspector import NeuronInspector  # noqa: E402
from lrp_studio.lrp.explain import explain  # noqa: E402
from lrp_studio.nn import lenet  # noqa: E402
from lrp_studio.zoo import load_model  # noqa: E402

RESOURCES = Path(__file__).parents[2] / "resources"


@pytest.fixture(scope="module")
def resnet():
    return load_model("resnet")


@pytest.fixture(scope="module")
def sample() -> np.ndarray:
    data = np.load(RESOURCES / "mnist_5k.npz")
    return data["images"][:1].astype(np.float32)[:, None] / 255.0


@pytest.fixture(scope="module")
def exp(resnet, sample):
    return explain(resnet, sample, method="epsilon-plus-flat", messages=True)


@pytest.fixture
def make_view(network_view):
    return network_view  # tests/gui/conftest.py


def _column(view, stage):
    return next(c for c in view.columns() if c.stage == stage)


def test_the_residual_model_is_drawn_by_depth_with_merge_nodes(make_view, resnet, exp) -> None:
    view = make_view(resnet, exp)
    titles = [c.title for c in view.columns()]
    assert titles.count("add · relu") == 2
    assert [c.depth for c in view.columns()] == sorted(c.depth for c in view.columns())
    stacked = [c for c in view.columns() if c.band == 1]
    assert len(stacked) == 1 and stacked[0].shape[0] == 32  # the strided 1x1 projection
    # relevance messages along both paths of both additions, the skips among them
    adds = [j for j, layer in enumerate(resnet.layers) if layer.type_name == "add"]
    drawn = {}
    for layer_index, src, dst, values in view.edge_data():
        if layer_index in adds:
            drawn.setdefault(layer_index, []).append(len(values))
    assert sorted(drawn) == adds and all(len(v) == 2 and min(v) > 0 for v in drawn.values())


def _viewport_rect(view, item) -> QtCore.QRectF:
    text = getattr(item, "textItem", item)
    transform = text.deviceTransform(view.graphics_view().viewportTransform())
    return transform.mapRect(text.boundingRect())


#: A title may reach this far into its own scale label's box (the label's empty line spacing).
OWN_LABEL_SLACK = 6.0


def _header_rects(view) -> list[tuple[int, QtCore.QRectF]]:
    """(column index, viewport rectangle) of every title and scale label; a label's box is cut
    by OWN_LABEL_SLACK at the top (the line spacing above its digits)."""
    rects = []
    for index, title in view.header_items().items():
        rects.append((index, _viewport_rect(view, title)))
        label = view._scale_labels[index]  # noqa: SLF001 - the scale label drawn under the title
        if label.text():
            rects.append((index, _viewport_rect(view, label).adjusted(0, OWN_LABEL_SLACK, 0, 0)))
    return rects


@pytest.mark.parametrize("size", [(1000, 620), (700, 520), (560, 420), (1280, 800)])
@pytest.mark.parametrize("which", ["resnet", "cnn"])
def test_headers_never_overlap_and_stay_inside_the_view(make_view, resnet, exp, size, which) -> None:
    if which == "cnn":
        net = lenet(channels=(16, 32), hidden=100)
        explanation = explain(net, np.zeros((1, 1, 28, 28), np.float32) + 0.5, method="epsilon-plus",
                              messages=True)
    else:
        net, explanation = resnet, exp
    view = make_view(net, explanation, size)
    rects = _header_rects(view)
    assert len(rects) >= 2 * len(view.columns()) - 1
    for i, (_, a) in enumerate(rects):
        for _, b in rects[i + 1:]:
            common = a.intersected(b)
            assert common.width() < 0.5 or common.height() < 0.5, (a, b)  # touching is fine
    viewport = QtCore.QRectF(view.graphics_view().viewport().rect())
    for _, rect in rects:
        assert viewport.contains(rect), (rect, viewport)


def test_zooming_in_brings_staggered_headers_back_to_one_line(make_view, resnet, exp) -> None:
    view = make_view(resnet, exp, (700, 520))
    assert max(view.header_rows().values()) >= 1
    view.view_box().scaleBy((0.25, 0.25))
    QtWidgets.QApplication.processEvents()
    assert max(view.header_rows().values()) == 0 and not view.compact_headers()
    view.reset_zoom()
    assert max(view.header_rows().values()) >= 1


def test_arrow_keys_and_clicks_follow_the_graph(qtbot, make_view, resnet, exp) -> None:
    view = make_view(resnet, exp)
    view.markers.set_limits(None, None)  # every channel drawn (the limits: tests/gui/test_graph_limits.py)
    cols = view.columns()
    add2 = [c for c in cols if c.title == "add · relu"][1]
    projection = next(c for c in cols if c.band == 1)
    upper = next(c for c in cols if c.depth == projection.depth and c.band == 0)
    selected = []
    view.neuronSelected.connect(lambda s, u: selected.append((s, u)))
    view.select(add2.stage, 3)
    view.graphics_view().setFocus()
    qtbot.keyClick(view.graphics_view(), Qt.Key.Key_Left)
    main_path = cols[add2.index - 1]
    assert view.selection() == (main_path.stage, 3) and main_path.depth == add2.depth - 1
    # down past the last channel of the block's first conv enters the projection stacked below it
    view.select(upper.stage, upper.n_units - 1)
    qtbot.keyClick(view.graphics_view(), Qt.Key.Key_Down)
    assert view.selection() == (projection.stage, 0)
    qtbot.keyClick(view.graphics_view(), Qt.Key.Key_Right)  # the projection feeds the second addition
    assert view.selection()[0] == add2.stage
    # a click on a projection channel selects it
    qtbot.mouseClick(view.graphics_view().viewport(), Qt.MouseButton.LeftButton,
                     pos=view.viewport_position(projection.stage, 5))
    assert view.selection() == (projection.stage, 5) and selected[-1] == (projection.stage, 5)


def test_inspector_shows_how_an_addition_divided_its_relevance(qtbot, resnet, exp) -> None:
    inspector = NeuronInspector()
    qtbot.addWidget(inspector)
    inspector.resize(420, 700)
    inspector.show()
    add = next(j for j, layer in enumerate(resnet.layers) if layer.type_name == "add")
    stage = next(c.stage for c in NetworkView_columns(resnet) if c.layer_index == add)
    sent = exp.conservation().merge_sums[add][:, 0]
    channels = resnet.shapes[stage][0]
    totals = np.zeros(2)
    for unit in range(channels):
        inspector.show_neuron(resnet, exp, stage, unit)
        split = inspector.merge_split()
        assert [row for row, _, _ in split] == [0, 1]
        assert "(skip)" in split[1][1] and "(skip)" not in split[0][1]
        # the unit's relevance is what its inputs got (up to the stabilizer)
        unit_relevance = float(exp.layers[add + 1].relevance[0, unit].sum())
        assert sum(v for _, _, v in split) == pytest.approx(unit_relevance, rel=1e-4, abs=1e-6)
        totals += [v for _, _, v in split]
    np.testing.assert_allclose(totals, sent, rtol=1e-4, atol=1e-6)
    shares = exp.merge_shares[add]
    text = inspector.summary_text()
    text = text.replace("\u00a0", " ")  # percentages carry a no-break space (gui.formatting.percent)
    assert f"{100 * shares[0]:.1f} % to input 0" in text and f"{100 * shares[1]:.1f} % to input 1" in text
    assert inspector.contributions() == []  # the message table of dense/conv nodes is not shown
    # a conv node of the graph still lists its strongest incoming messages
    conv_stage = next(c.stage for c in NetworkView_columns(resnet) if c.band == 1)
    inspector.show_neuron(resnet, exp, conv_stage, 0)
    assert inspector.merge_split() == [] and len(inspector.contributions()) > 0


def NetworkView_columns(net):  # noqa: N802 - the view's columns without a widget
    from lrp_studio.viz.graph_scene import build_layout

    return build_layout(net).columns
