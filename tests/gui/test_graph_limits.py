"""A readable graph at any size: the most relevant N units per column, "+ k more", collapsible
residual blocks (gui/graph_markers.py, viz/graph_focus.py)."""

from __future__ import annotations

import numpy as np
import pytest
from PySide6 import QtWidgets
from PySide6.QtCore import Qt

from lrp_studio import explain
from lrp_studio.data import load_mnist_subset
from lrp_studio.gui.graph_markers import AUTO_COLLAPSE_BLOCKS
from lrp_studio.viz.graph_dag import drawn_stages, residual_blocks
from lrp_studio.viz.graph_edges import aggregate_messages
from lrp_studio.viz.graph_focus import focus_units
from lrp_studio.viz.graph_scene import Shown, build_layout
from lrp_studio.viz.graph_values import maps_rgba
from lrp_studio.zoo import build_architecture, load_model

WIDE = "conv:48:3:1:1,relu,maxpool:2,conv:40:3:1:1,relu,maxpool:2,flatten,dense:10"


@pytest.fixture(scope="module")
def sample() -> np.ndarray:
    return load_mnist_subset().x[:1]


@pytest.fixture
def make_view(network_view):
    return network_view  # tests/gui/conftest.py


def _click_marker(view, qtbot, text: str) -> None:
    """Click the marker reading ``text`` where the fitted view shows it."""
    QtWidgets.QApplication.processEvents()  # the new layout's range is applied on the next events
    index = [item.text() for item in view.markers.items].index(text)
    qtbot.mouseClick(view.graphics_view().viewport(), Qt.MouseButton.LeftButton,
                     pos=view.markers.viewport_centre(view.graphics_view(), index))


def _strength_twin(values: np.ndarray) -> np.ndarray:
    """Per channel sum of |R| written out channel by channel."""
    return np.array([sum(abs(float(v)) for v in np.ravel(values[c])) for c in range(values.shape[0])])


def test_focus_picks_the_most_relevant_units_in_unit_order(sample):
    net = build_architecture(WIDE, seed=1)
    exp = explain(net, sample, messages=True)
    layout = build_layout(net, Shown(channels=6))
    relevances = {r.stage: r.relevance[0] for r in exp.layers if r.relevance is not None}
    focus = focus_units(layout, relevances, {})
    capped = [c for c in layout.columns if c.units is not None]
    assert len(capped) == 2 and all(c.n_nodes == 6 and c.more == c.n_units - 6 for c in capped)
    for column in capped:
        strength = _strength_twin(relevances[column.stage])
        expected = sorted(sorted(range(len(strength)), key=lambda u: -strength[u])[:6])
        assert focus[column.index].tolist() == expected
    kept = focus_units(layout, relevances, {}, keep=(capped[0].stage, int(np.argmin(_strength_twin(
        relevances[capped[0].stage])))))
    assert int(np.argmin(_strength_twin(relevances[capped[0].stage]))) in kept[capped[0].index]


def test_nodes_and_edges_show_the_chosen_units(make_view, sample):
    net = build_architecture(WIDE, seed=1)
    exp = explain(net, sample, messages=True)
    view = make_view(net, exp)
    view.markers.set_limits(6, 100)
    columns = view.columns()
    first, second = [c for c in columns if c.kind == "maps"]
    rel = exp.layers[[r.stage for r in exp.layers].index(first.stage)].relevance[0]
    vmax = float(np.abs(rel).max())
    shown = view.node_colors(first.stage)
    expected = maps_rgba(first, rel[first.units], vmax, view._lut)  # noqa: SLF001 - the view's colour table
    np.testing.assert_array_equal(shown, expected)
    # every drawn edge between the two capped columns carries the message of the units its nodes show
    layer, src, dst, values = next(e for e in view.edge_data() if e[0] == second.layer_index)
    full = aggregate_messages(exp.messages[second.layer_index], 1)
    np.testing.assert_allclose(values, full[first.units[src], second.units[dst]], rtol=1e-6)
    assert len(values) > 0


def test_more_marker_click_draws_the_column_whole_and_back(make_view, qtbot, sample):
    net = build_architecture(WIDE, seed=1)
    view = make_view(net, explain(net, sample, messages=True))
    column = next(c for c in view.columns() if c.more)
    _click_marker(view, qtbot, f"+ {column.more} more")
    whole = view._column(column.stage)  # noqa: SLF001
    assert whole.n_nodes == whole.n_units == 48 and whole.units is None
    assert view._exp is not None and len(view.node_colors(column.stage)) == 48  # noqa: SLF001 - still explained
    _click_marker(view, qtbot, "show top 16")
    assert view._column(column.stage).n_nodes == 16  # noqa: SLF001


def test_a_click_on_a_node_of_a_capped_column_selects_the_unit_it_shows(make_view, qtbot, sample):
    net = build_architecture(WIDE, seed=1)
    view = make_view(net, explain(net, sample, messages=True))
    column = next(c for c in view.columns() if c.more)
    unit = int(column.units[3])
    qtbot.mouseClick(view.graphics_view().viewport(), Qt.MouseButton.LeftButton,
                     pos=view.viewport_position(column.stage, unit))
    assert view.selection() == (column.stage, unit)
    assert f"channel {unit}" in view.hover_text(column.stage, unit)


def test_residual_blocks_collapse_into_one_column_and_expand_on_click(make_view, qtbot, sample):
    net = load_model("resnet")
    view = make_view(net, explain(net, sample, messages=True))
    full = len(view.columns())
    view.markers.collapse_all(True)
    columns = view.columns()
    collapsed = [c for c in columns if c.block]
    assert [c.block for c in collapsed] == ["block1", "block2"] and len(columns) == full - 5
    assert all(c.title.startswith(f"{c.block} (collapsed)") for c in collapsed)
    assert [c.depth for c in columns] == list(range(len(columns)))  # one slot each: no stacked projection
    _click_marker(view, qtbot, "\u25b8 expand block1")
    assert [c.block for c in view.columns() if c.block] == ["block2"] and len(view.columns()) == full - 3
    assert view._exp is not None  # noqa: SLF001 - the explanation is shown again at once
    view.markers.set_collapsed("block1", True)
    assert len(view.columns()) == full - 5 and all(not item.text().startswith("\u25c2") for item in view.markers.items)


def test_a_network_with_many_blocks_starts_collapsed(make_view):
    spec = "conv:8:3:1:1,relu," + ",".join(["res:8"] * (AUTO_COLLAPSE_BLOCKS + 1)) + ",gap,dense:10"
    net = build_architecture(spec, seed=0)
    assert len(residual_blocks(net, drawn_stages(net))) == AUTO_COLLAPSE_BLOCKS + 1
    view = make_view(net)
    assert len([c for c in view.columns() if c.block]) == AUTO_COLLAPSE_BLOCKS + 1


def test_headers_carry_their_full_text_as_a_tooltip(make_view):
    view = make_view(build_architecture(WIDE, seed=1))
    for index, item in view.header_items().items():
        column = view.columns()[index]
        assert column.title in item.toolTip() and column.subtitle in item.toolTip()


def test_the_view_menu_sets_the_limits_and_collapses_blocks(make_window):
    window = make_window(load_model("resnet"), model_name="resnet")
    assert all(c.units is None for c in window.graph.columns())  # 16-32 channels: whole by default
    view_menu = next(a.menu() for a in window.menuBar().actions() if a.text() == "&View")
    limits = next(a.menu() for a in view_menu.actions() if a.menu() and a.text().startswith("Units shown"))
    next(a for a in limits.actions() if a.text().startswith("8 feature maps")).trigger()
    assert {c.n_nodes for c in window.graph.columns() if c.kind == "maps"} == {8}
    assert window.graph._exp is not None  # noqa: SLF001 - the explanation is kept
    next(a for a in view_menu.actions() if a.text() == "Collapse residual blocks").trigger()
    assert [c.block for c in window.graph.columns() if c.block] == ["block1", "block2"]
    next(a for a in view_menu.actions() if a.text() == "Expand residual blocks").trigger()
    assert not any(c.block for c in window.graph.columns())


def test_selecting_a_unit_that_is_not_drawn_draws_it_in_its_column(make_view, sample):
    net = build_architecture(WIDE, seed=1)
    exp = explain(net, sample, messages=True)
    view = make_view(net, exp)
    column = next(c for c in view.columns() if c.more)
    hidden = next(u for u in range(column.n_units) if u not in column.units)
    view.select(column.stage, hidden)  # what --select, the atlas and a restored session do
    drawn = view._column(column.stage)  # noqa: SLF001
    assert hidden in drawn.units and len(drawn.units) == drawn.n_nodes
    rel = exp.layers[[r.stage for r in exp.layers].index(column.stage)].relevance[0]
    expected = maps_rgba(drawn, rel[drawn.units], float(np.abs(rel).max()), view._lut)  # noqa: SLF001
    np.testing.assert_array_equal(view.node_colors(column.stage), expected)  # thumbnails redrawn for it
    assert f"channel {hidden}" in view.status_text()
