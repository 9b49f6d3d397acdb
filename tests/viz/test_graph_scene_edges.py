"""Graph edges without Qt: the messages they draw conserve relevance, top-k + cap selection, pens, overlay."""

from __future__ import annotations

import numpy as np
import pytest

from lrp_studio.lrp.explain import explain
from lrp_studio.nn import lenet, mlp
from lrp_studio.viz.graph_edges import (
    binned_segments,
    connection_messages,
    edge_segments,
    overlay_segments,
    select_edges,
)
from lrp_studio.viz.graph_scene import build_layout

#: Every rule case of lrp/rules.py with the parameters that reach its distinct terms.
RULE_CASES = [
    ("lrp0", {}),
    ("epsilon", {"epsilon": 0.25}),
    ("zplus", {}),
    ("alphabeta", {"alpha": 2.0, "beta": 1.0}),
    ("alphabeta", {"alpha": 1.0, "beta": 0.0}),
    ("gamma", {"gamma": 0.25}),
    ("wsquare", {}),
    ("flat", {}),
    ("zbox", {"low": -1.0, "high": 2.0}),
    ("zbox", {"low": 0.0, "high": 1.0}),
]


@pytest.fixture(scope="module")
def flat_net():
    """Dense layers only, with a flat input drawn as dots (so input -> dense edges exist)."""
    return mlp([12, 9, 7, 4], seed=1)


@pytest.fixture(scope="module")
def conv_net():
    return lenet(channels=(3, 5), hidden=8)


@pytest.fixture(scope="module")
def flat_x():
    return np.random.default_rng(0).normal(size=(1, 12)).astype(np.float32)  # both signs: x- terms matter


@pytest.fixture(scope="module")
def conv_x():
    return np.random.default_rng(1).uniform(-0.5, 1.0, size=(1, 1, 28, 28)).astype(np.float32)


def _relevance_per_source(exp, column) -> np.ndarray:
    """The source column's relevance, summed per drawn node (channels of maps and images)."""
    record = next(r for r in exp.layers if r.stage == column.stage)
    relevance = np.asarray(record.relevance[0], dtype=np.float64)
    if column.kind in ("maps", "image") and relevance.ndim == 3:
        return relevance.reshape(relevance.shape[0], -1).sum(axis=1)
    return relevance.reshape(-1)


def _check_conservation(net, x, rule, params, bias) -> None:
    layout = build_layout(net)
    exp = explain(net, x, method=rule, bias=bias, messages=True, **params)
    aggregated = connection_messages(layout, exp.messages)
    assert sorted(aggregated) == list(range(len(layout.connections)))  # every connection has messages
    for index, conn in enumerate(layout.connections):
        source = layout.columns[conn.source]
        received = aggregated[index].astype(np.float64).sum(axis=1)  # each source node's messages
        expected = _relevance_per_source(exp, source)
        scale = max(float(np.abs(expected).max()), 1e-6)
        np.testing.assert_allclose(received, expected, rtol=1e-4, atol=1e-5 * scale,
                                   err_msg=f"{rule} {params} layer {conn.layer_index}")


@pytest.mark.parametrize("bias", [True, False])
@pytest.mark.parametrize(("rule", "params"), RULE_CASES)
def test_dense_messages_sum_to_each_units_relevance(flat_net, flat_x, rule, params, bias) -> None:
    _check_conservation(flat_net, flat_x, rule, params, bias)


@pytest.mark.parametrize("bias", [True, False])
@pytest.mark.parametrize(("rule", "params"), RULE_CASES)
def test_conv_messages_sum_to_each_channels_relevance(conv_net, conv_x, rule, params, bias) -> None:
    _check_conservation(conv_net, conv_x, rule, params, bias)


def test_baseline_has_no_edges(flat_net, flat_x) -> None:
    layout = build_layout(flat_net)
    exp = explain(flat_net, flat_x, method="gradient")
    assert connection_messages(layout, exp.messages) == {}
    assert select_edges(layout, {}, 3) == []


# ---------------------------------------------------------------------------- selection
def slow_select(messages: np.ndarray, k: int, cap: int) -> list[tuple[int, int, float]]:
    """Brute-force twin: per target the k largest |message| (non-zero), then the cap largest of those."""
    candidates = []
    for j in range(messages.shape[1]):
        column = sorted(range(messages.shape[0]), key=lambda i: -abs(messages[i, j]))[:k]
        candidates += [(i, j, float(messages[i, j])) for i in column if messages[i, j] != 0]
    return sorted(candidates, key=lambda e: -abs(e[2]))[:cap]


@pytest.fixture(scope="module")
def cnn_scene(conv_net, conv_x):
    layout = build_layout(conv_net)
    exp = explain(conv_net, conv_x, method="epsilon-plus", messages=True)
    return layout, exp, connection_messages(layout, exp.messages)


@pytest.mark.parametrize(("k", "cap"), [(1, 200), (3, 200), (4, 10), (6, 7), (50, 1000)])
def test_selection_matches_a_brute_force_twin(cnn_scene, k, cap) -> None:
    layout, _, aggregated = cnn_scene
    # a few exact zeros and sign changes, so dropping zeros and ordering by magnitude both matter
    rng = np.random.default_rng(k)
    aggregated = {i: np.where(rng.random(m.shape) < 0.2, 0.0, m * rng.choice([-1, 1], m.shape)).astype(np.float32)
                  for i, m in aggregated.items()}
    edges = select_edges(layout, aggregated, k, cap=cap)
    assert [e.connection for e in edges] == sorted(aggregated)
    for part in edges:
        messages = aggregated[part.connection]
        expected = slow_select(messages, k, cap)
        assert part.layer_index == layout.connections[part.connection].layer_index
        np.testing.assert_array_equal(part.values, messages[part.src, part.dst])
        assert len(part.values) == len(expected)
        np.testing.assert_allclose(np.sort(np.abs(part.values)), np.sort([abs(v) for *_, v in expected]))
        if len(expected) < cap:  # no cap applied: exactly the same edges
            assert sorted(zip(part.src.tolist(), part.dst.tolist())) == sorted((i, j) for i, j, _ in expected)


def test_top_k_zero_selects_nothing(cnn_scene) -> None:
    layout, _, aggregated = cnn_scene
    assert select_edges(layout, aggregated, 0) == []


def test_segments_join_source_and_target_anchors(cnn_scene) -> None:
    layout, _, aggregated = cnn_scene
    for part in select_edges(layout, aggregated, 3):
        conn = layout.connections[part.connection]
        source, target = layout.columns[conn.source], layout.columns[conn.target]
        segments = edge_segments(layout, part)
        assert segments.shape == (2 * len(part.values), 2)
        np.testing.assert_array_equal(segments[0::2], source.out_anchors()[part.src])
        np.testing.assert_array_equal(segments[1::2], target.in_anchors()[part.dst])
        assert np.all(segments[0::2, 0] < segments[1::2, 0])  # left to right


@pytest.mark.parametrize("shared", [False, True])
def test_pens_hold_every_edge_once_by_sign_and_magnitude(cnn_scene, shared) -> None:
    layout, _, aggregated = cnn_scene
    edges = select_edges(layout, aggregated, 3)
    pens = binned_segments(layout, edges, n_bins=8, shared_scale=shared)
    assert len(pens) == 16
    assert sum(len(p) for p in pens) == 2 * sum(len(e.values) for e in edges)
    vmax_all = max(float(np.abs(e.values).max()) for e in edges)
    expected: list[set] = [set() for _ in range(16)]
    for part in edges:
        segments = edge_segments(layout, part)
        vmax = vmax_all if shared else float(np.abs(part.values).max())
        for e, value in enumerate(part.values):
            slot = min(int(abs(value) / vmax * 8), 7) + (8 if value >= 0 else 0)
            expected[slot].add(tuple(segments[2 * e: 2 * e + 2].ravel()))
    got = [{tuple(p[2 * e: 2 * e + 2].ravel()) for e in range(len(p) // 2)} for p in pens]
    assert got == expected


def test_shared_scale_moves_weak_connections_to_weak_pens(cnn_scene) -> None:
    layout, _, aggregated = cnn_scene
    edges = select_edges(layout, aggregated, 3)
    own = binned_segments(layout, edges, shared_scale=False)
    shared = binned_segments(layout, edges, shared_scale=True)
    strongest_pens = lambda pens: len(pens[7]) + len(pens[15])  # noqa: E731
    assert strongest_pens(shared) < strongest_pens(own)


# ---------------------------------------------------------------------------- overlay
def slow_overlay(layout, aggregated, messages, stage, unit, count):
    """Brute-force twin of the fan-in/fan-out overlay: (start, end, value) of each drawn message."""
    column = layout.column_of_stage(stage)
    lines = []
    for index, conn in enumerate(layout.connections):
        m = aggregated.get(index)
        source, target = layout.columns[conn.source], layout.columns[conn.target]
        if m is None:
            continue
        if conn.target == column.index:
            values = m[:, unit]
            pick = [i for i in sorted(range(len(values)), key=lambda i: -abs(values[i]))[:count] if values[i] != 0]
            lines += [(tuple(source.out_anchors()[i]), tuple(target.in_anchors()[unit]), values[i]) for i in pick]
        if conn.source == column.index:
            values = m[unit, :]
            pick = [j for j in sorted(range(len(values)), key=lambda j: -abs(values[j]))[:count] if values[j] != 0]
            lines += [(tuple(source.out_anchors()[unit]), tuple(target.in_anchors()[j]), values[j]) for j in pick]
    previous = layout.columns[column.index - 1] if column.index else None
    per_pixel = column.layer_index in messages and len(messages[column.layer_index]) == layout.columns[0].n_units
    if previous is not None and previous.kind == "image" and per_pixel:  # a dense layer on the image
        values = messages[column.layer_index][:, unit]
        pick = [i for i in sorted(range(len(values)), key=lambda i: -abs(values[i]))[:count] if values[i] != 0]
        lines += [(previous.pixel_centre(i), tuple(column.in_anchors()[unit]), values[i]) for i in pick]
    return lines


def _as_lines(segments: np.ndarray) -> set:
    return {(tuple(segments[2 * e]), tuple(segments[2 * e + 1])) for e in range(len(segments) // 2)}


@pytest.mark.parametrize("net_name", ["conv_net", "mlp_image"])
def test_overlay_matches_a_brute_force_twin(request, net_name) -> None:
    if net_name == "mlp_image":
        net = mlp([784, 20, 10], input_shape=(1, 28, 28), input_range=(0, 1))
        x = np.random.default_rng(2).uniform(size=(1, 1, 28, 28)).astype(np.float32)
    else:
        net, x = request.getfixturevalue("conv_net"), request.getfixturevalue("conv_x")
    layout = build_layout(net)
    exp = explain(net, x, method="epsilon-plus", messages=True)
    aggregated = connection_messages(layout, exp.messages)
    checked = 0
    for column in layout.columns[1:]:
        for unit in range(column.n_units):
            negative, positive = overlay_segments(layout, aggregated, exp.messages, column.stage, unit, count=5)
            expected = slow_overlay(layout, aggregated, exp.messages, column.stage, unit, 5)
            assert _as_lines(positive) == {(a, b) for a, b, v in expected if v >= 0}
            assert _as_lines(negative) == {(a, b) for a, b, v in expected if v < 0}
            checked += len(expected)
    assert checked > 40
    assert all(len(p) == 0 for p in overlay_segments(layout, aggregated, exp.messages, 0, 5))  # image: none

