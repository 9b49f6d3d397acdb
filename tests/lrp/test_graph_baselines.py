"""Baselines and perturbation on graph networks: gradients through merges, perturbing a stage that a
skip connection goes around (the skipped stage keeps its value)."""

from __future__ import annotations

import numpy as np
import pytest

from lrp_studio.backend import to_numpy
from lrp_studio.lrp import explain
from lrp_studio.lrp.perturbation import neuron_perturbation
from lrp_studio.nn import Network

INPUT = "input"

#: d1 -> relu -> d2, plus a skip from the relu's output around d2 into the add.
GRAPH = {"format": "lrp-studio-model", "version": 2, "input_shape": [4], "layers": [
    {"name": "d1", "inputs": [INPUT], "type": "dense", "in_features": 4, "out_features": 5},
    {"name": "r1", "inputs": ["d1"], "type": "relu"},
    {"name": "d2", "inputs": ["r1"], "type": "dense", "in_features": 5, "out_features": 5},
    {"name": "r2", "inputs": ["d2"], "type": "relu"},
    {"name": "add", "inputs": ["r2", "r1"], "type": "add"},
    {"name": "out", "inputs": ["add"], "type": "dense", "in_features": 5, "out_features": 3}]}


def graph_net():
    net = Network.from_spec(GRAPH, seed=3)
    rng = np.random.default_rng(0)
    for layer in net.layers:
        if layer.is_linear:
            layer.params["bias"] = rng.normal(0, 0.2, size=layer.params["bias"].shape).astype(np.float32)
    return net


def test_perturbing_a_stage_inside_the_skip_keeps_the_skipped_stage():
    """Stage 4 (r2) lies between r1 and the add; r1 reaches the add around it and must keep its value."""
    net = graph_net()
    x = np.random.default_rng(1).normal(size=(3, 4)).astype(np.float32)
    stage = net.names.index("r2") + 1
    got = neuron_perturbation(net, x, stage, target=0)
    r1 = to_numpy(net.forward_to(x, net.names.index("r1") + 1)).astype(np.float64)
    r2 = to_numpy(net.forward_to(x, stage)).astype(np.float64)
    w = to_numpy(net.layers[5].params["weight"]).astype(np.float64)
    b = to_numpy(net.layers[5].params["bias"]).astype(np.float64)
    for n in range(3):
        base = w[0] @ (r2[n] + r1[n]) + b[0]
        for u in range(5):
            changed = r2[n].copy()
            changed[u] = r2[n].mean()
            assert got[n, u] == pytest.approx(base - (w[0] @ (changed + r1[n]) + b[0]), rel=1e-4, abs=1e-5)


def test_gradient_x_input_on_a_graph_equals_finite_differences_times_input():
    net = graph_net()
    x = np.random.default_rng(2).normal(size=(2, 4)).astype(np.float64)
    exp = explain(net, x.astype(np.float32), target=1, method="gradient-x-input")
    h = 1e-3
    for n in range(2):
        for i in range(4):
            up, down = x[n].copy(), x[n].copy()
            up[i] += h
            down[i] -= h
            slope = (net.predict(up[None])[0, 1] - net.predict(down[None])[0, 1]) / (2 * h)
            assert exp.relevance[n, i] == pytest.approx(x[n, i] * slope, rel=2e-2, abs=2e-3)
