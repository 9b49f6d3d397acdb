"""The playground's grid helpers: grid layout, maps equal a direct forward pass, one explain call."""

from __future__ import annotations

import numpy as np
import pytest

from lrp_studio.data import make_toy
from lrp_studio.errors import DataError, ParameterError
from lrp_studio.lrp import explain
from lrp_studio.nn import Network, mlp
from lrp_studio.lrp.grid import decision_map, grid_points, hidden_stages, neuron_maps, relevance_maps


def binary_net(hidden=(8,), seed=0) -> Network:
    return mlp([2, *hidden, 1], seed=seed, classes=["1"], input_range=(-2.0, 2.0))


def test_grid_points_cover_the_padded_range():
    x = np.array([[0.0, -1.0], [2.0, 3.0], [1.0, 0.0]])
    points, extent = grid_points(x, resolution=5, padding=0.1)
    assert points.shape == (25, 2) and points.dtype == np.float32
    assert extent == pytest.approx((-0.2, 2.2, -1.4, 3.4))
    grid = points.reshape(5, 5, 2)
    np.testing.assert_allclose(grid[0, :, 1], -1.4, rtol=1e-6)    # row 0: lowest y
    np.testing.assert_allclose(grid[:, 0, 0], -0.2, rtol=1e-6)    # column 0: lowest x
    np.testing.assert_allclose(grid[-1, -1], [2.2, 3.4], rtol=1e-6)
    np.testing.assert_allclose(np.diff(grid[0, :, 0]), 0.6, rtol=1e-5)


def test_grid_points_degenerate_and_bad_input():
    points, extent = grid_points(np.ones((3, 2)), resolution=3, padding=0.5)
    assert extent == pytest.approx((0.5, 1.5, 0.5, 1.5))
    with pytest.raises(DataError):
        grid_points(np.ones((3, 3)))
    with pytest.raises(DataError):
        grid_points(np.array([[0.0, np.nan]]))
    with pytest.raises(ParameterError):
        grid_points(np.ones((3, 2)), resolution=1)
    with pytest.raises(ParameterError):
        grid_points(np.ones((3, 2)), padding=-1)


def test_hidden_stages_are_post_activation():
    net = binary_net((16, 16))
    assert [layer.type_name for layer in net.layers] == ["dense", "relu", "dense", "relu", "dense"]
    assert hidden_stages(net) == [2, 4]
    assert hidden_stages(mlp([2, 1])) == []


def test_neuron_maps_equal_a_direct_forward():
    net = binary_net((6, 4), seed=3)
    data = make_toy("moons", 60)
    points, _ = grid_points(data.x, resolution=7)
    maps = neuron_maps(net, points)
    assert set(maps) == {2, 4} and maps[2].shape == (6, 7, 7) and maps[4].shape == (4, 7, 7)
    # by hand: first hidden layer relu(W x + b), second relu(W2 h + b2)
    state = net.state_dict()
    h1 = np.maximum(points @ state["0.weight"].T + state["0.bias"], 0)
    h2 = np.maximum(h1 @ state["2.weight"].T + state["2.bias"], 0)
    for r in range(7):
        for c in range(7):
            np.testing.assert_allclose(maps[2][:, r, c], h1[r * 7 + c], rtol=1e-5, atol=1e-6)
            np.testing.assert_allclose(maps[4][:, r, c], h2[r * 7 + c], rtol=1e-5, atol=1e-6)


def test_decision_map_is_the_class_1_probability():
    net = binary_net()
    points, _ = grid_points(np.array([[-1.0, -1.0], [1.0, 1.0]]), resolution=4)
    z = net.predict(points)[:, 0].astype(np.float64)
    np.testing.assert_allclose(decision_map(net, points).ravel(), 1 / (1 + np.exp(-z)), rtol=1e-5)
    two = mlp([2, 5, 2], seed=1)
    logits = two.predict(points).astype(np.float64)
    p1 = np.exp(logits[:, 1]) / np.exp(logits).sum(axis=1)
    np.testing.assert_allclose(decision_map(two, points).ravel(), p1, rtol=1e-5)


def test_relevance_maps_match_explain_per_point():
    net = binary_net((5,), seed=2)
    points, _ = grid_points(np.array([[-1.0, -1.0], [1.0, 1.0]]), resolution=3)
    maps = relevance_maps(net, points, method="epsilon", epsilon=0.01)
    assert set(maps) == {2} and maps[2].shape == (5, 3, 3)
    for index in (0, 4, 8):
        single = explain(net, points[index : index + 1], method="epsilon", epsilon=0.01)
        np.testing.assert_allclose(maps[2][:, index // 3, index % 3], single.layers[2].relevance[0], rtol=1e-4,
                                   atol=1e-6)
    assert relevance_maps(net, points, method="gradient") == {}


def test_maps_refuse_non_2d_networks():
    with pytest.raises(DataError):
        neuron_maps(mlp([3, 4, 1]), np.zeros((4, 3)))
    with pytest.raises(DataError):
        neuron_maps(binary_net(), np.zeros((5, 2)))  # not a square grid
