"""Neuron atlas core (lrp/atlas.py): chunked top-k and statistics against a brute-force twin over the whole
set, ties by sample index, and merge results independent of chunking and arrival order."""

from __future__ import annotations

import numpy as np
import pytest

from lrp_studio.data import load_mnist_subset
from lrp_studio.errors import ParameterError
from lrp_studio.lrp import explain
from lrp_studio.lrp.atlas import TreeReducer, atlas_layers, atlas_part, layer_for_stage, merge_parts, top_k
from lrp_studio.nn import mlp
from lrp_studio.zoo import build_architecture, load_any_model


def brute_force(net, x, k, chunk, target=None):
    """Whole-set twin: rank every unit over all samples with Python's sorted over (-value, index).

    The samples are explained in the same chunks as the atlas (a sample's float32 values may differ in the
    last bits with the batch it is explained in); the ranking and statistics are then over the whole set.
    """
    parts = [explain(net, x[i:i + chunk], target=target) for i in range(0, x.shape[0], chunk)]
    targets = np.concatenate([p.targets for p in parts])
    found = []
    for layer in atlas_layers(net):
        activation = np.concatenate([p.layers[layer.stage].activation for p in parts])
        relevance = np.concatenate([p.layers[layer.stage].relevance for p in parts])
        n = x.shape[0]
        act = activation.reshape(n, layer.units, -1).max(axis=2).astype(np.float64)
        rel = relevance.reshape(n, layer.units, -1).astype(np.float64).sum(axis=2)
        units = []
        for u in range(layer.units):
            by_rel = sorted(range(n), key=lambda i: (-rel[i, u], i))[:k]
            by_act = sorted(range(n), key=lambda i: (-act[i, u], i))[:k]
            relevant = sum(1 for i in range(n) if rel[i, u] > np.abs(rel[i]).sum() / layer.units)
            per_class = np.zeros(net.n_classes)
            for i in range(n):
                per_class[targets[i]] += rel[i, u]
            units.append((by_rel, rel[by_rel, u], by_act, act[by_act, u], act[:, u].mean(), act[:, u].max(),
                          relevant, per_class))
        found.append(units)
    return found


def chunked(net, x, k, chunk, order=None, **kwargs):
    reducer = TreeReducer()
    starts = list(range(0, x.shape[0], chunk))
    positions = list(range(len(starts))) if order is None else order
    for position in positions:
        start = starts[position]
        stop = min(start + chunk, x.shape[0])
        reducer.add(position, atlas_part(net, x[start:stop], np.arange(start, stop), k, position, **kwargs))
    return reducer.result()


@pytest.mark.parametrize("name,chunk", [("cnn", 23), ("mlp", 40)])
def test_chunked_atlas_matches_the_whole_set_twin(name, chunk):
    net = load_any_model(name)
    x = load_mnist_subset("test").x[:90]
    k = 5
    part = chunked(net, x, k, chunk)
    assert part.count == 90
    for j, units in enumerate(brute_force(net, x, k, chunk)):
        for u, (by_rel, rel_values, by_act, act_values, mean, peak, relevant, per_class) in enumerate(units):
            assert part.top_relevance[j][:, u].tolist() == by_rel
            assert part.top_activation[j][:, u].tolist() == by_act
            np.testing.assert_allclose(part.relevance_values[j][:, u], rel_values, rtol=1e-6, atol=1e-9)
            np.testing.assert_allclose(part.activation_values[j][:, u], act_values, rtol=1e-6)
            assert part.sum_activation[j][u] / part.count == pytest.approx(mean, rel=1e-6, abs=1e-9)
            assert part.max_activation[j][u] == pytest.approx(peak)
            assert part.relevant_count[j][u] == relevant
            np.testing.assert_allclose(part.class_relevance[j][u], per_class, rtol=1e-6, atol=1e-9)


def test_a_chosen_class_ranks_by_the_relevance_for_that_class():
    net = load_any_model("mlp")
    x = load_mnist_subset("test").x[:50]
    part = chunked(net, x, 4, 16, target=7)
    twin = brute_force(net, x, 4, 16, target=7)
    for j, units in enumerate(twin):
        assert [part.top_relevance[j][:, u].tolist() for u in range(len(units))] == [t[0] for t in units]
        assert np.all(part.class_relevance[j][:, [c for c in range(10) if c != 7]] == 0)


def test_ties_go_to_the_lower_sample_index_across_chunks():
    """Every sample twice (i and i + 40): equal values, so each pair must be listed lower index first.

    The copies fill the second chunk in the same order, so they get bit-identical values and really tie.
    """
    net = load_any_model("cnn")
    base = load_mnist_subset("test").x[:40]
    x = np.concatenate([base, base])
    part = chunked(net, x, 6, 40, order=[1, 0])
    tops = zip(part.top_activation + part.top_relevance, part.activation_values + part.relevance_values)
    for top, values in tops:
        for column, column_values in zip(top.T, values.T):
            listed = column.tolist()
            for position, index in enumerate(listed):
                if index >= 40:  # a copy comes only after its original, which has the same value
                    assert index - 40 in listed[:position]
                    assert column_values[listed.index(index - 40)] == column_values[position]
            for a, b, va, vb in zip(column, column[1:], column_values, column_values[1:]):
                assert va > vb or (va == vb and a < b)


def test_top_k_hand_worked():
    values = np.array([[1.0, 5.0], [3.0, 5.0], [3.0, 2.0], [0.5, 5.0]])
    top, vals = top_k(values, np.array([10, 11, 12, 13]), 3)
    assert top[:, 0].tolist() == [11, 12, 10] and vals[:, 0].tolist() == [3.0, 3.0, 1.0]
    assert top[:, 1].tolist() == [10, 11, 13] and vals[:, 1].tolist() == [5.0, 5.0, 5.0]
    indices = np.array([[7, 1], [3, 2], [5, 0], [2, 9]])  # per-unit candidate indices (merges)
    top, _ = top_k(values, indices, 2)
    assert top[:, 0].tolist() == [3, 5] and top[:, 1].tolist() == [1, 2]


def test_merge_order_and_chunking_do_not_change_a_single_bit():
    net = load_any_model("mlp")
    x = load_mnist_subset("test").x[:200]
    in_order = chunked(net, x, 4, 16)  # 13 chunks: the tree ends with three roots (8, 4 and 1 chunks)
    orders = [list(np.random.default_rng(5).permutation(13)), list(range(12, -1, -1))]
    for order in orders:
        other = chunked(net, x, 4, 16, order=order)
        for name in ("top_relevance", "relevance_values", "top_activation", "activation_values", "sum_activation",
                     "max_activation", "relevant_count", "class_relevance"):
            for a, b in zip(getattr(in_order, name), getattr(other, name)):
                assert a.tobytes() == b.tobytes(), name


def test_merging_parts_smaller_than_k_keeps_all_candidates():
    net = load_any_model("mlp")
    x = load_mnist_subset("test").x[:6]
    left = atlas_part(net, x[:3], np.arange(3), 8)
    right = atlas_part(net, x[3:], np.arange(3, 6), 8, first=1)
    merged = merge_parts(left, right)
    assert merged.top_relevance[0].shape == (6, 300)
    assert sorted(merged.top_activation[1][:, 0].tolist()) == list(range(6))


def test_atlas_layers_and_stage_lookup():
    cnn = load_any_model("cnn")
    layers = atlas_layers(cnn)
    assert [(l.stage, l.name, l.units, l.is_map) for l in layers] == [
        (2, "conv2d 16", 16, True), (5, "conv2d 32", 32, True), (9, "dense 100", 100, False)]
    assert layer_for_stage(layers, cnn, 1).stage == 2  # the conv's own output, under its relu
    assert layer_for_stage(layers, cnn, 3).stage == 2  # the pooled maps keep the channels (the graph's column)
    assert layer_for_stage(layers, cnn, 6).stage == 5
    assert layer_for_stage(layers, cnn, 7) is None  # flatten: units are no longer channels
    assert layer_for_stage(layers, cnn, 10) is None  # the output
    graph = build_architecture("conv:4:3:1:1,relu,res:4,gap,dense:3", (1, 8, 8), 3)
    assert all(layer.is_map and layer.units == 4 for layer in atlas_layers(graph))
    x = np.random.default_rng(0).uniform(size=(5, 1, 8, 8)).astype(np.float32)
    part = atlas_part(graph, x, np.arange(5), 2)
    assert len(part.top_relevance) == len(atlas_layers(graph))


def test_bad_requests_are_refused():
    net = load_any_model("mlp")
    x = load_mnist_subset("test").x[:4]
    with pytest.raises(ParameterError, match=">= 1"):
        atlas_part(net, x, np.arange(4), 0)
    with pytest.raises(ParameterError, match="no per-layer relevance"):
        atlas_part(net, x, np.arange(4), 2, method="gradient")
    with pytest.raises(ParameterError, match="no hidden"):
        atlas_part(mlp([784, 10]), x, np.arange(4), 2)


@pytest.mark.parametrize("count", [1, 2, 5, 13])
def test_tree_reducer_builds_the_same_tree_for_every_arrival_order(count):
    """With a merge that records its operands, the tree itself is visible: fixed by the chunk count alone."""
    def tree(order):
        reducer = TreeReducer(merge=lambda left, right: f"({left}+{right})")
        for position in order:
            reducer.add(position, str(position))
        return reducer.result()

    expected = tree(range(count))
    rng = np.random.default_rng(count)
    for _ in range(5):
        assert tree(rng.permutation(count)) == expected
    assert tree(range(count - 1, -1, -1)) == expected
    if count == 5:
        assert expected == "(((0+1)+(2+3))+4)"
