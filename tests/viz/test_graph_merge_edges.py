"""Edges of merge nodes: messages made from stage records (formula twins), skip edges in the pens."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest

from lrp_studio.viz.graph_edges import (
    ADD_EPS,
    binned_segments,
    connection_messages,
    merge_messages,
    overlay_segments,
    select_edges,
)
from lrp_studio.viz.graph_scene import Connection, build_layout


def _add_twin(xs: list[np.ndarray], relevance: np.ndarray, slot: int) -> np.ndarray:
    """Loop twin: per channel c, sum over (i, j) of x_slot / stab(sum_k x_k) * R (DESIGN.md 3.3)."""
    c_n, h_n, w_n = relevance.shape
    out = np.zeros(c_n)
    for c in range(c_n):
        for i in range(h_n):
            for j in range(w_n):
                z = sum(float(x[c, i, j]) for x in xs)
                stab = z + ADD_EPS * (1.0 if z >= 0 else -1.0)
                out[c] += float(xs[slot][c, i, j]) / stab * float(relevance[c, i, j])
    return out


def test_add_messages_match_the_loop_twin_and_conserve() -> None:
    rng = np.random.default_rng(3)
    xs = [rng.normal(size=(3, 4, 5)), rng.normal(size=(3, 4, 5))]
    xs[1][0, 0, 0] = -xs[0][0, 0, 0]  # an exact zero sum: stab(0) = +eps
    relevance = rng.normal(size=(3, 4, 5))
    activations = {8: xs[0], 3: xs[1]}
    for slot in (0, 1):
        conn = Connection(8, 3, 4, slot=slot, merge="add", reads=(8, 3))
        matrix = merge_messages(conn, activations, {9: relevance})
        assert matrix.shape == (3, 3) and matrix.dtype == np.float32
        assert np.allclose(np.diag(matrix), _add_twin(xs, relevance, slot), rtol=1e-5, atol=1e-4)
        assert np.count_nonzero(matrix - np.diag(np.diag(matrix))) == 0
    # without the zero-sum position the two inputs' messages add up to the output relevance per channel
    xs[1][0, 0, 0] += 1.0
    both = sum(np.diag(merge_messages(Connection(8, 3, 4, slot=s, merge="add", reads=(8, 3)),
                                      {8: xs[0], 3: xs[1]}, {9: relevance})) for s in (0, 1))
    assert np.allclose(both, relevance.sum(axis=(1, 2)), rtol=1e-4, atol=1e-4)


def test_flat_add_and_concat_messages() -> None:
    x0, x1 = np.array([1.0, -2.0, 3.0]), np.array([1.0, 1.0, -1.0])
    relevance = np.array([4.0, 2.0, -6.0])
    add = merge_messages(Connection(2, 0, 1, slot=1, merge="add", reads=(4, 5)), {4: x0, 5: x1}, {3: relevance})
    # by hand: x1 / (x0 + x1) * R = [1/2*4, 1/-1*2, -1/2*-6] (eps negligible)
    assert np.allclose(np.diag(add), [2.0, -2.0, 3.0], atol=1e-5)
    a, b = np.zeros((2, 3, 3)), np.zeros((3, 3, 3))
    relevance = np.arange(5 * 9, dtype=float).reshape(5, 3, 3)
    concat = merge_messages(Connection(6, 0, 1, slot=1, merge="concat", reads=(4, 6)), {4: a, 6: b}, {7: relevance})
    assert concat.shape == (3, 5)
    expected = np.zeros((3, 5))
    expected[[0, 1, 2], [2, 3, 4]] = relevance[2:].sum(axis=(1, 2))
    assert np.array_equal(concat, expected)
    assert merge_messages(Connection(6, 0, 1, slot=0, merge="concat", reads=(4, 6)), {4: a, 6: b}, {}) is None


def _records(net, rng):
    """Fake stage records: random activations and relevances of every stage, batch of one."""
    return [SimpleNamespace(stage=k, activation=rng.normal(size=(1,) + tuple(s)),
                            relevance=rng.normal(size=(1,) + tuple(s))) for k, s in enumerate(net.shapes)]


@pytest.fixture(scope="module")
def scene(resnet):
    layout = build_layout(resnet)
    rng = np.random.default_rng(0)
    records = _records(resnet, rng)
    messages = {j: rng.normal(size=(resnet.shapes[resnet.node_inputs[j][0]][0], resnet.layers[j].out_channels
                                    if resnet.layers[j].type_name == "conv2d" else 10))
                for j in resnet.linear_indices}
    messages[20] = rng.normal(size=(6, 10))
    return layout, records, messages


def test_connection_messages_cover_both_paths_of_every_addition(scene) -> None:
    layout, records, messages = scene
    aggregated = connection_messages(layout, messages, records)
    merges = [i for i, c in enumerate(layout.connections) if c.merge]
    assert merges and all(i in aggregated for i in merges)
    for i in merges:
        conn = layout.connections[i]
        n_src, n_tgt = layout.columns[conn.source].n_sources, layout.columns[conn.target].n_nodes
        assert aggregated[i].shape == (n_src, n_tgt)
    # without messages (a baseline) merge edges are left out too
    assert connection_messages(layout, {}, records) == {}


def test_skip_edges_are_three_segments_in_the_pens_and_on_the_overlay(scene) -> None:
    layout, records, messages = scene
    aggregated = connection_messages(layout, messages, records)
    edges = select_edges(layout, aggregated, top_k=3)
    skip = [e for e in edges if layout.connections[e.connection].lane is not None]
    straight = [e for e in edges if layout.connections[e.connection].lane is None]
    points = sum(len(p) for p in binned_segments(layout, edges))
    assert len(skip) == 2 and all(len(e.values) == 4 or len(e.values) == 6 for e in skip)
    assert points == 6 * sum(len(e.values) for e in skip) + 2 * sum(len(e.values) for e in straight)
    # selecting channel 1 of the first addition: its fan-in runs along both paths, the skip one routed
    negative, positive = overlay_segments(layout, aggregated, messages, stage=10, unit=1)
    drawn = np.concatenate([negative, positive])
    assert (drawn[:, 1] > max(c.bottom for c in layout.columns[2:4])).any()  # routed below the bypassed
    stem = layout.column_of_stage(3)
    assert any(np.allclose(p, stem.out_anchors()[1]) for p in drawn)  # it starts at the stem's channel 1


@pytest.mark.parametrize("method", ["epsilon-plus", "zplus"])
def test_merge_edges_carry_what_lrp_sent_down_each_path(resnet, method) -> None:
    """Against the LRP engine: per input, the drawn messages sum to what the addition sent it, and
    for an addend read only by the addition they equal that stage's relevance per channel."""
    from lrp_studio.lrp.explain import explain

    data = np.load(__import__("pathlib").Path(__file__).parents[2] / "resources" / "mnist_5k.npz")
    x = data["images"][:1].astype(np.float32)[:, None] / 255.0
    exp = explain(resnet, x, method=method, messages=True)
    layout = build_layout(resnet)
    aggregated = connection_messages(layout, exp.messages, exp.layers)
    sent = exp.conservation().merge_sums
    checked = 0
    for index, conn in enumerate(layout.connections):
        if conn.merge is None:
            continue
        total = float(sent[conn.layer_index][conn.slot, 0])
        assert float(aggregated[index].sum()) == pytest.approx(total, rel=1e-4, abs=1e-6)
        read = conn.reads[conn.slot]
        if resnet.consumers(read) == [conn.layer_index]:
            stage_relevance = exp.layers[read].relevance[0].sum(axis=(1, 2))
            assert np.allclose(np.diag(aggregated[index]), stage_relevance, rtol=1e-4, atol=1e-6)
            checked += 1
    assert checked == 3  # the residual branch of each block and the projection shortcut
