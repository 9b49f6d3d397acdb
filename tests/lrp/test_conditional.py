"""CRP conditional relevance (lrp/conditional.py): a hand-written twin, linearity, the explain_neuron relation,
conservation, and the receptive-field crop on hand-worked images."""

from __future__ import annotations

import numpy as np
import pytest

from lrp_studio.data import load_mnist_subset
from lrp_studio.errors import ParameterError
from lrp_studio.lrp import explain, explain_neuron
from lrp_studio.lrp.atlas import atlas_layers
from lrp_studio.lrp.conditional import conditional_relevance, crop_box
from lrp_studio.nn import mlp
from lrp_studio.zoo import build_architecture, load_any_model


def _stab(z: float, eps: float = 1e-6) -> float:
    return z + eps * (1.0 if z >= 0 else -1.0)


def twin_conditional(w1, b1, w2, b2, x, unit):
    """LRP-0 written out for dense-relu-dense: output logit -> hidden (masked to ``unit``) -> input."""
    z1 = [sum(w1[j, i] * x[i] for i in range(len(x))) + b1[j] for j in range(len(b1))]
    a1 = [max(v, 0.0) for v in z1]
    z2 = [sum(w2[k, j] * a1[j] for j in range(len(a1))) + b2[k] for k in range(len(b2))]
    c = int(np.argmax(z2))
    r_hidden = [a1[j] * w2[c, j] / _stab(z2[c]) * z2[c] for j in range(len(a1))]
    r_unit = r_hidden[unit]  # the mask: only the unit keeps its relevance
    return np.array([x[i] * w1[unit, i] / _stab(z1[unit]) * r_unit for i in range(len(x))]), r_unit


@pytest.mark.parametrize("unit", [0, 2, 4])
def test_dense_conditional_heatmap_matches_the_written_out_formula(unit):
    net = mlp([6, 5, 3], seed=3)
    x = np.random.default_rng(1).normal(size=(4, 6)).astype(np.float32)
    state = {key: np.asarray(value, np.float64) for key, value in net.state_dict().items()}
    w1, b1, w2, b2 = state["0.weight"], state["0.bias"], state["2.weight"], state["2.bias"]
    result = conditional_relevance(net, x, 2, unit, "lrp0")
    for row in range(4):
        expected, r_unit = twin_conditional(w1, b1, w2, b2, x[row].astype(np.float64), unit)
        np.testing.assert_allclose(result.relevance[row], expected, rtol=1e-4, atol=1e-6)
        assert result.unit_relevance[row] == pytest.approx(r_unit, rel=1e-4, abs=1e-7)


@pytest.mark.parametrize("name,position", [("cnn", 0), ("mlp", 1)])
def test_conditional_heatmaps_of_all_units_of_a_layer_add_up_to_the_heatmap(name, position):
    """The rules are linear in the relevance for a fixed forward pass: sum over theta of R(x|theta) = R(x)."""
    net = load_any_model(name)
    x = load_mnist_subset("test").x[:3]
    full = explain(net, x).relevance
    layer = atlas_layers(net)[position]  # the CNN's first conv layer (16 channels), the MLP's dense 100
    total = sum(conditional_relevance(net, x, layer.stage, u).relevance.astype(np.float64) for u in range(layer.units))
    np.testing.assert_allclose(total, full, rtol=1e-4, atol=2e-5 * np.abs(full).max())


def test_unit_relevance_is_the_stage_relevance_of_the_ordinary_explanation():
    net = load_any_model("cnn")
    x = load_mnist_subset("test").x[:4]
    exp = explain(net, x)
    layer = atlas_layers(net)[1]
    stage_relevance = exp.layers[layer.stage].relevance  # (N, C, H, W)
    for channel in (0, 7, 31):
        got = conditional_relevance(net, x, layer.stage, channel).unit_relevance
        np.testing.assert_allclose(got, stage_relevance[:, channel].reshape(4, -1).sum(axis=1), rtol=1e-5, atol=1e-7)


def test_dense_conditional_heatmap_is_explain_neuron_rescaled_to_the_units_relevance():
    """Starting at the unit's relevance R_j instead of its activation a_j scales everything below by R_j / a_j."""
    net = load_any_model("mlp")
    x = load_mnist_subset("test").x[5:6]
    exp = explain(net, x)
    stage, unit = 3, int(np.argmax(exp.layers[3].relevance[0]))
    a, r = float(exp.layers[stage].activation[0, unit]), float(exp.layers[stage].relevance[0, unit])
    assert a > 0 and r > 0
    crp = conditional_relevance(net, x, stage, unit).relevance
    start_at_activation = explain_neuron(net, x, stage, unit).relevance
    np.testing.assert_allclose(crp, start_at_activation * (r / a), rtol=1e-4, atol=1e-6 * np.abs(crp).max())


def test_without_bias_lrp0_conserves_the_units_relevance():
    net = load_any_model("mlp")
    x = load_mnist_subset("test").x[:6]
    result = conditional_relevance(net, x, 3, 17, "lrp0", bias=False)
    np.testing.assert_allclose(result.relevance.reshape(6, -1).sum(axis=1), result.unit_relevance, rtol=1e-3,
                               atol=1e-5)


def test_graph_network_conditional_relevance_runs_and_conserves_without_bias():
    net = build_architecture("conv:4:3:1:1,relu,conv:4:3:1:1,relu,res:4,gap,dense:3", (1, 8, 8), 3, seed=2)
    x = np.random.default_rng(0).uniform(size=(3, 1, 8, 8)).astype(np.float32)
    first = atlas_layers(net)[0]
    result = conditional_relevance(net, x, first.stage, 1, "lrp0", bias=False)
    assert result.relevance.shape == (3, 1, 8, 8)
    np.testing.assert_allclose(result.relevance.reshape(3, -1).sum(axis=1), result.unit_relevance, rtol=1e-3,
                               atol=1e-5)


def test_bad_stage_and_unit_are_refused():
    net = load_any_model("mlp")
    x = load_mnist_subset("test").x[:1]
    with pytest.raises(ParameterError, match="hidden stage"):
        conditional_relevance(net, x, len(net.layers), 0)
    with pytest.raises(ParameterError, match="unit must be in 0..299"):
        conditional_relevance(net, x, 2, 300)


def test_crop_box_on_hand_worked_heatmaps():
    heat = np.zeros((6, 7))
    heat[1, 2], heat[3, 5], heat[4, 3] = 1.0, 0.5, 0.05  # 0.05 is below 0.1 * max
    heat[0, 0] = -3.0  # negative relevance never widens the crop
    assert crop_box(heat) == (1, 4, 2, 6)
    assert crop_box(heat, threshold=0.0) == (1, 5, 2, 6)
    assert crop_box(heat[None]) == (1, 4, 2, 6)  # (C, H, W) is summed over channels
    assert crop_box(-np.ones((3, 3))) == (0, 3, 0, 3)  # no positive relevance: the whole image
    with pytest.raises(ParameterError):
        crop_box(heat, threshold=1.0)
