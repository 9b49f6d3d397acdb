"""The network view of graph networks without Qt: drawn stages, depth slots, skip routing, moves."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest

from lrp_studio.nn import Add, Dense, ReLU, lenet, mlp
from lrp_studio.viz.graph_dag import drawn_stages, skip_lanes
from lrp_studio.viz.graph_scene import (
    BAND_GAP,
    build_layout,
    edge_polylines,
    moved,
    node_at,
)

PIXEL = (1.6, 1.6)


@pytest.fixture(scope="module")
def res_layout(resnet):
    return build_layout(resnet)


def test_residual_columns_by_depth_with_the_projection_stacked(res_layout) -> None:
    cols = res_layout.columns
    assert [c.stage for c in cols] == [0, 3, 6, 8, 10, 13, 17, 15, 19, 21]
    assert [c.depth for c in cols] == [0, 1, 2, 3, 4, 5, 5, 6, 7, 8]
    assert [c.band for c in cols] == [0, 0, 0, 0, 0, 0, 1, 0, 0, 0]
    assert [c.title for c in cols[1:5]] == ["conv2d 4 · batchnorm · relu", "conv2d 4 · batchnorm · relu",
                                           "conv2d 4 · batchnorm", "add · relu"]
    assert cols[6].title == "conv2d 6 · batchnorm" and cols[6].subtitle == "6 maps 14×14"
    assert cols[-1].title == "dense 10 (logits)"
    # the projection shares its slot with the block's first conv: same x, below it with a gap
    upper, lower = cols[5], cols[6]
    assert upper.x == lower.x and lower.top - upper.bottom >= BAND_GAP - 1e-9
    assert lower.bottom <= res_layout.height + 1e-9 and upper.top >= 0.0
    xs = [c.x for c in cols]
    steps = np.diff(xs)
    assert (steps >= 0).all() and np.count_nonzero(steps == 0) == 1  # one shared slot, else left to right


def test_residual_connections_have_one_edge_set_per_merge_input(res_layout) -> None:
    got = [(c.layer_index, c.source, c.target, c.slot, c.merge, c.lane) for c in res_layout.connections]
    assert got == [
        (0, 0, 1, 0, None, None), (3, 1, 2, 0, None, None), (6, 2, 3, 0, None, None),
        (8, 3, 4, 0, "add", None), (8, 1, 4, 1, "add", 0),            # identity skip stem -> add1
        (10, 4, 5, 0, None, None), (13, 5, 7, 0, None, None), (15, 4, 6, 0, None, None),
        (17, 7, 8, 0, "add", None), (17, 6, 8, 1, "add", 0),          # projection -> add2 skips a slot
        (20, 8, 9, 0, None, None),                                    # dense after global avg pooling
    ]
    assert res_layout.connections[4].reads == (8, 3)
    assert res_layout.parents[4] == [3, 1] and res_layout.parents[8] == [7, 6]


def test_only_a_sole_reader_is_absorbed() -> None:
    """A relu read by two layers stays its own stage; the dense layer before it ends its column."""
    layers = [Dense(4, 4), ReLU(), Dense(4, 4), Add(), Dense(4, 2)]
    net = SimpleNamespace(layers=layers, node_inputs=[(0,), (1,), (2,), (3, 1), (4,)],
                          shapes=[(4,)] * 5 + [(2,)])
    drawn = drawn_stages(net)
    assert [(d.stage, d.layer_index, d.absorbed) for d in drawn] == [
        (0, None, ()), (1, 0, ()), (3, 2, ()), (4, 3, ()), (5, 4, ())]
    # sequential: the same layers in a chain absorb the relu
    chain = SimpleNamespace(layers=[Dense(4, 4), ReLU(), Dense(4, 2)], shapes=[(4,), (4,), (4,), (2,)])
    assert [(d.stage, d.absorbed) for d in drawn_stages(chain)] == [(0, ()), (2, ("relu",)), (3, ())]


@pytest.mark.parametrize("net", [mlp([784, 32, 16, 10], input_shape=(1, 28, 28)), lenet(channels=(4, 8), hidden=16),
                                 mlp([2, 8, 6, 3])], ids=["mlp", "cnn", "flat"])
def test_sequential_networks_get_one_column_per_slot_and_no_skips(net) -> None:
    layout = build_layout(net)
    assert [c.depth for c in layout.columns] == list(range(len(layout.columns)))
    assert all(c.band == 0 for c in layout.columns) and layout.n_lanes == 0
    assert layout.parents == {i: ([i - 1] if i else []) for i in range(len(layout.columns))}


def test_skip_lanes_separate_overlapping_runs() -> None:
    # (0,3) and (1,4) overlap: two lanes; (3,5) starts where (0,3) ends: shares lane 0; (2,6) overlaps all
    assert skip_lanes([(0, 3), (1, 4), (3, 5), (2, 6)]) == [0, 1, 0, 2]
    assert skip_lanes([]) == []


def _segments_cross_box(segments: np.ndarray, box: tuple[float, float, float, float]) -> bool:
    """Whether any segment of (2S, 2) pairs passes through the rectangle (x0, y0, x1, y1) (sampled)."""
    x0, y0, x1, y1 = box
    t = np.linspace(0.0, 1.0, 201)[:, None]
    for a, b in zip(segments[0::2], segments[1::2]):
        points = a + t * (b - a)
        inside = (points[:, 0] > x0) & (points[:, 0] < x1) & (points[:, 1] > y0) & (points[:, 1] < y1)
        if inside.any():
            return True
    return False


def test_skip_edges_run_around_the_columns_they_bypass(res_layout) -> None:
    cols = res_layout.columns
    for conn in res_layout.connections:
        if conn.lane is None:
            continue
        source, target = cols[conn.source], cols[conn.target]
        n = min(source.n_sources, target.n_nodes)
        start, end = source.out_anchors()[:n], target.in_anchors()[:n]
        segments = edge_polylines(res_layout, conn, start, end)
        assert segments.shape == (6 * n, 2)
        assert np.allclose(segments[0::6], start) and np.allclose(segments[5::6], end)
        lane = segments[2::6, 1]
        assert np.allclose(lane, segments[3::6, 1])  # the run along the lane is horizontal
        bypassed = [c for c in cols if source.depth < c.depth < target.depth]
        assert bypassed
        assert lane.min() > max(c.bottom for c in bypassed)  # below every node it bypasses
        for column in bypassed:
            half = max(column.width, column.size) / 2 + 2
            box = (column.x - half, column.top, column.x + half, column.bottom)
            assert not _segments_cross_box(segments, box), column.title
        # straight edges stay straight: an adjacent connection is one segment per edge
    adjacent = res_layout.connections[0]
    assert edge_polylines(res_layout, adjacent, np.zeros((3, 2)), np.ones((3, 2))).shape == (6, 2)


def test_bounds_hold_the_skip_lanes(res_layout) -> None:
    x0, y0, width, height = res_layout.bounds()
    assert res_layout.n_lanes == 1 and res_layout.lanes_bottom > max(c.bottom for c in res_layout.columns[2:4])
    assert y0 + height > res_layout.lanes_bottom
    for column in res_layout.columns:
        assert y0 < column.top and column.bottom < y0 + height


def test_headers_of_stacked_columns_sit_under_the_drawing(res_layout) -> None:
    """A stacked column's header goes below everything (columns and skip lanes), never between the columns,
    where it covered edges and thumbnails (fresh-user review); the top header line is unchanged."""
    positions = res_layout.header_positions()
    lower = res_layout.columns[6]
    _, title_y, scale_y = positions[6]
    lowest = max(c.bottom for c in res_layout.columns)
    assert lowest < title_y <= scale_y and lower.bottom < title_y
    top_line = {round(p[2], 6) for c, p in zip(res_layout.columns, positions) if c.band == 0}
    assert top_line == {round(res_layout.header_y, 6)}


def test_arrow_keys_follow_the_graph(res_layout) -> None:
    # left from the second addition goes to the conv of its own path (nearest slot), not the projection
    assert moved(res_layout, (19, 2), "left") == (15, 2)
    # right from the first addition: both readers are one slot on; the one at the unit's height wins
    cols = res_layout.columns
    top_unit, bottom_unit = 0, cols[4].n_units - 1
    assert moved(res_layout, (10, top_unit), "right")[0] == 13
    assert moved(res_layout, (10, bottom_unit), "right")[0] == 17
    # the projection: left to the addition it reads, right to the addition it feeds
    assert moved(res_layout, (17, 0), "left")[0] == 10 and moved(res_layout, (17, 0), "right")[0] == 19
    # down past the last channel of a stacked column enters the column below it, and back up
    assert moved(res_layout, (13, cols[5].n_units - 1), "down") == (17, 0)
    assert moved(res_layout, (17, 0), "up") == (13, cols[5].n_units - 1)
    assert moved(res_layout, (17, cols[6].n_units - 1), "down") == (17, cols[6].n_units - 1)  # clamped
    assert moved(res_layout, (21, 0), "right") is None
    # the skip from the stem: right from the stem goes to the next conv (the nearer slot)
    assert moved(res_layout, (3, 1), "right") == (6, 1)


@pytest.mark.parametrize("skip_first", [False, True])
def test_left_prefers_the_nearest_slot_whatever_the_input_order(make_branchy, skip_first) -> None:
    layout = build_layout(make_branchy(skip_first))
    add = next(c for c in layout.columns if c.title == "add")
    assert sorted(layout.parents[add.index]) == [1, 5]
    for unit in range(add.n_units):
        assert moved(layout, (add.stage, unit), "left") == (8, unit)  # dense 8, one slot left
    # right from the first hidden layer: its three readers; the nearest slot holds two, by height
    first = layout.columns[1]
    assert moved(layout, (first.stage, 0), "right")[0] == 4
    assert moved(layout, (first.stage, first.n_units - 1), "right")[0] == 6


def test_hit_testing_finds_the_stacked_column(res_layout) -> None:
    for column in res_layout.columns[5:7]:
        for unit in (0, column.n_units - 1):
            x, y = column.unit_position(unit)
            assert node_at(res_layout, x, y, PIXEL) == (column.stage, unit)


def test_overlapping_skips_share_a_lane_top_below_all_they_bypass() -> None:
    """Two overlapping skips (an add around a short and a long column, a concat around a tall one):
    separate lanes under one top, below the lowest node either bypasses; no edge crosses a node."""
    from lrp_studio.nn import Concat, Network

    layers = [Dense(4, 8), Dense(8, 2), Dense(2, 8), Add(), Dense(8, 20), Concat(), Dense(22, 3)]
    inputs = [(0,), (1,), (2,), (3, 1), (4,), (5, 2), (6,)]
    layout = build_layout(Network(layers, (4,), inputs=inputs))
    cols = layout.columns
    skips = [c for c in layout.connections if c.lane is not None]
    assert [(cols[c.source].depth, cols[c.target].depth, c.lane) for c in skips] == [(1, 4, 0), (2, 6, 1)]
    assert skips[0].lane_top == skips[1].lane_top
    assert skips[0].lane_top > max(c.bottom for c in cols if 1 < c.depth < 6)
    for conn in skips:
        source, target = cols[conn.source], cols[conn.target]
        n = min(source.n_sources, target.n_nodes)
        segments = edge_polylines(layout, conn, source.out_anchors()[:n], target.in_anchors()[:n])
        for column in cols:
            if source.depth < column.depth < target.depth:
                box = (column.x - 10, column.top, column.x + 10, column.bottom)
                assert not _segments_cross_box(segments, box), column.title


def test_stagger_rows_lifts_only_overlapping_labels() -> None:
    from lrp_studio.viz.graph_scene import stagger_rows

    assert stagger_rows([0, 100, 200], [90, 190, 290], pad=8) == [0, 0, 0]
    # the second overlaps the first: one row up; the third fits on the line again
    assert stagger_rows([0, 80, 200], [100, 180, 300], pad=8) == [0, 1, 0]
    # within the padding counts as overlapping; order of the input does not matter
    assert stagger_rows([95, 0], [150, 90], pad=8) == [1, 0]
    assert stagger_rows([0, 10, 20], [100, 110, 120]) == [0, 1, 2]
