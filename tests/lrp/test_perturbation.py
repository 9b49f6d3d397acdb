"""The notes' perturbation comparison: replace units by the mean of their layer, record the change."""

from __future__ import annotations

import numpy as np
import pytest

from lrp_studio.errors import ParameterError
from lrp_studio.lrp.perturbation import (
    correlation,
    neuron_perturbation,
    perturbation_heatmap,
)
from lrp_studio.nn.network import Network


def image_linear_net(rng, shape=(1, 4, 4), n_out=3):
    size = int(np.prod(shape))
    net = Network.from_spec({"input_shape": list(shape), "layers": [
        {"type": "flatten"}, {"type": "dense", "in_features": size, "out_features": n_out}]})
    w = rng.normal(size=(n_out, size)).astype(np.float32)
    b = rng.normal(size=n_out).astype(np.float32)
    net.load_state_dict({"1.weight": w, "1.bias": b})
    return net, w


def test_perturbation_heatmap_of_a_linear_model_is_w_times_x_minus_mean():
    rng = np.random.default_rng(0)
    net, w = image_linear_net(rng)
    x = rng.uniform(size=(3, 1, 4, 4)).astype(np.float32)
    targets = np.array([2, 0, 1])
    heat = perturbation_heatmap(net, x, target=targets)
    means = x.reshape(3, -1).mean(axis=1)
    expected = w[targets].reshape(3, 1, 4, 4) * (x - means[:, None, None, None])
    assert heat.shape == x.shape
    assert heat == pytest.approx(expected, abs=1e-5)


def test_patches_share_their_change_equally():
    rng = np.random.default_rng(1)
    net, w = image_linear_net(rng)
    x = rng.uniform(size=(1, 1, 4, 4)).astype(np.float32)
    heat = perturbation_heatmap(net, x, target=0, region=2)[0, 0]
    contribution = (w[0].reshape(4, 4) * (x[0, 0] - x.mean()))
    for i in (0, 2):
        for j in (0, 2):
            patch = contribution[i : i + 2, j : j + 2].sum()
            assert heat[i : i + 2, j : j + 2] == pytest.approx(np.full((2, 2), patch / 4), abs=1e-5)


def test_default_target_is_the_prediction():
    rng = np.random.default_rng(2)
    net, w = image_linear_net(rng)
    x = rng.uniform(size=(2, 1, 4, 4)).astype(np.float32)
    predicted = net.predict(x).argmax(axis=1)
    assert perturbation_heatmap(net, x) == pytest.approx(perturbation_heatmap(net, x, target=predicted))


def two_layer_net(rng):
    net = Network.from_spec({"input_shape": [5], "layers": [
        {"type": "dense", "in_features": 5, "out_features": 6}, {"type": "relu"},
        {"type": "dense", "in_features": 6, "out_features": 2}]})
    state = {"0.weight": rng.normal(size=(6, 5)), "0.bias": rng.normal(size=6) * 0.1,
             "2.weight": rng.normal(size=(2, 6)), "2.bias": rng.normal(size=2)}
    net.load_state_dict({k: v.astype(np.float32) for k, v in state.items()})
    return net, state


def test_hidden_neuron_perturbation_after_the_last_relu_is_linear():
    """After the ReLU the rest is linear: the change is w2[t, i] * (a_i - mean(a))."""
    rng = np.random.default_rng(3)
    net, state = two_layer_net(rng)
    x = rng.normal(size=(4, 5)).astype(np.float32)
    a = np.maximum(x @ state["0.weight"].T + state["0.bias"], 0)
    drops = neuron_perturbation(net, x, stage=2, target=1)
    expected = state["2.weight"][1] * (a - a.mean(axis=1, keepdims=True))
    assert drops.shape == (4, 6)
    assert drops == pytest.approx(expected, abs=1e-4)


def test_neuron_perturbation_matches_a_loop_on_a_conv_stage():
    from lrp_studio.zoo import load_any_model
    from lrp_studio.data import load_mnist_subset

    net = load_any_model("cnn")
    x = load_mnist_subset("test").x[:2]
    stage = 4  # output of the second conv layer (32, 8, 8)
    t = net.predict(x).argmax(axis=1)
    for mean in ("layer", "channel"):
        drops = neuron_perturbation(net, x, stage, target=t, mean=mean, chunk=300)
        assert drops.shape == (2,) + net.shapes[stage]
        activation = np.asarray(net.forward_to(net.prepare_input(x), stage))
        for n, (c, i, j) in [(0, (0, 0, 0)), (1, (5, 3, 4)), (0, (31, 7, 7))]:
            copy = activation[n : n + 1].copy()
            copy[0, c, i, j] = activation[n].mean() if mean == "layer" else activation[n, c].mean()
            base = net.forward_from(activation[n : n + 1], stage)[0, t[n]]
            changed = net.forward_from(copy, stage)[0, t[n]]
            assert drops[n, c, i, j] == pytest.approx(float(base - changed), abs=1e-4)


def test_forward_from_after_forward_to_is_the_full_forward():
    from lrp_studio.zoo import load_any_model
    from lrp_studio.data import load_mnist_subset

    net = load_any_model("cnn")
    x = net.prepare_input(load_mnist_subset("test").x[:3])
    full = np.asarray(net.forward(x))
    trace = net.trace(x)
    for stage in range(len(net.layers) + 1):
        activation = net.forward_to(x, stage)
        np.testing.assert_array_equal(np.asarray(activation), np.asarray(trace.inputs[stage]))
        np.testing.assert_array_equal(np.asarray(net.forward_from(activation, stage)), full)
    for bad in (-1, len(net.layers) + 1, 1.5, True):
        with pytest.raises(ParameterError, match="stage must be an integer"):
            net.forward_from(x, bad)
        with pytest.raises(ParameterError, match="stage must be an integer"):
            net.forward_to(x, bad)


@pytest.mark.parametrize("model, patch", [("cnn", 4), ("cnn", 3), ("mlp", 7)])
def test_occlusion_is_the_perturbation_heatmap(model, patch):
    """One implementation: the occlusion baseline is the notes' input perturbation with patch-sized regions."""
    import lrp_studio
    from lrp_studio.data import load_mnist_subset

    net = lrp_studio.load_model(model)
    x = load_mnist_subset("test").x[:4]
    exp = lrp_studio.explain(net, x, method="occlusion", patch=patch)
    heat = perturbation_heatmap(net, x, target=exp.targets, region=patch)
    assert exp.relevance.dtype == np.float32 and exp.relevance.shape == x.shape
    np.testing.assert_array_equal(exp.relevance, heat.astype(np.float32))
    assert np.abs(heat).max() > 0


def test_occlusion_of_a_flat_input_replaces_one_feature_at_a_time():
    import lrp_studio

    rng = np.random.default_rng(8)
    net = Network.from_spec({"input_shape": [6], "layers": [
        {"type": "dense", "in_features": 6, "out_features": 2}]})
    w = rng.normal(size=(2, 6)).astype(np.float32)
    net.load_state_dict({"0.weight": w, "0.bias": np.zeros(2, np.float32)})
    x = rng.normal(size=(3, 6)).astype(np.float32)
    relevance = lrp_studio.explain(net, x, target=1, method="occlusion", patch=4).relevance
    expected = w[1] * (x - x.mean(axis=1, keepdims=True))  # the patch does not group flat features
    np.testing.assert_allclose(relevance, expected, rtol=1e-5, atol=1e-6)


def test_probability_output_is_bounded():
    rng = np.random.default_rng(4)
    net, _ = image_linear_net(rng)
    x = rng.uniform(size=(2, 1, 4, 4)).astype(np.float32)
    heat = perturbation_heatmap(net, x, output="probability")
    assert np.all(np.abs(heat) <= 1.0)
    logits = np.asarray(net.forward(net.prepare_input(x)), dtype=np.float64)
    p = np.exp(logits - logits.max(axis=1, keepdims=True))
    p /= p.sum(axis=1, keepdims=True)
    target = logits.argmax(axis=1)
    first = np.array(x)
    first[:, 0, 0, 0] = x.reshape(2, -1).mean(axis=1)  # unit (0, 0) set to the sample mean
    changed = np.asarray(net.forward(net.prepare_input(first)), dtype=np.float64)
    q = np.exp(changed - changed.max(axis=1, keepdims=True))
    q /= q.sum(axis=1, keepdims=True)
    expected = p[np.arange(2), target] - q[np.arange(2), target]
    np.testing.assert_allclose(heat[:, 0, 0, 0], expected, rtol=1e-5, atol=1e-7)
    with pytest.raises(ParameterError, match="output"):
        perturbation_heatmap(net, x, output="loss")


def test_correlation():
    rng = np.random.default_rng(5)
    a, b = rng.normal(size=(3, 10)), rng.normal(size=(3, 10))
    assert correlation(a, a) == pytest.approx(1.0)
    assert correlation(a, -2 * a + 1) == pytest.approx(-1.0)
    assert correlation(a, b) == pytest.approx(np.corrcoef(a.ravel(), b.ravel())[0, 1])
    per = correlation(a, b, per_sample=True)
    assert per.shape == (3,)
    assert per == pytest.approx([np.corrcoef(a[i], b[i])[0, 1] for i in range(3)])
    assert np.isnan(correlation(np.ones(5), np.arange(5)))
    with pytest.raises(ParameterError):
        correlation(np.ones(4), np.ones(5))


def test_lrp0_agrees_with_perturbation_on_a_linear_model_up_to_the_mean():
    """LRP-0 on f = w.x + b gives w*x (+ bias share); perturbation gives w*(x - mean): for
    zero-mean weights and centred inputs the two coincide, so the correlation is ~1."""
    from lrp_studio.lrp import explain

    rng = np.random.default_rng(6)
    net, w = image_linear_net(rng)
    net.load_state_dict({"1.weight": w, "1.bias": np.zeros(3, np.float32)})
    x = rng.normal(size=(1, 1, 4, 4)).astype(np.float32)
    x -= x.mean()
    relevance = explain(net, x, target=0, method="lrp0").relevance
    assert correlation(relevance, perturbation_heatmap(net, x, target=0)) == pytest.approx(1.0, abs=1e-4)
