"""Baselines: gradient (finite differences), integrated gradients (completeness), SmoothGrad, occlusion."""

from __future__ import annotations

import numpy as np
import pytest

from lrp_studio.backend import to_numpy
from lrp_studio.errors import ParameterError
from lrp_studio.lrp import explain
from lrp_studio.lrp.baselines import gradient, integrated_gradients


def smooth_mlp_arch():
    arch = {"input_shape": [6], "layers": [
        {"type": "dense", "in_features": 6, "out_features": 5}, {"type": "tanh"},
        {"type": "dense", "in_features": 5, "out_features": 4}, {"type": "sigmoid"},
        {"type": "dense", "in_features": 4, "out_features": 3}]}
    return arch


def finite_difference(net, x, target, h=1e-6):
    flat = x.reshape(-1)
    grad = np.zeros_like(flat)
    for i in range(flat.size):
        up, down = flat.copy(), flat.copy()
        up[i] += h
        down[i] -= h
        f_up = to_numpy(net.forward(_batch(net, up)))[0, target]
        f_down = to_numpy(net.forward(_batch(net, down)))[0, target]
        grad[i] = (f_up - f_down) / (2 * h)
    return grad.reshape(x.shape)


def _batch(net, flat):
    from lrp_studio.backend import get_xp

    return get_xp().asarray(flat.reshape((1,) + net.input_shape))


@pytest.mark.parametrize("kind", ["smooth-mlp", "cnn"])
def test_gradient_matches_finite_differences(backend, twins, kind):
    arch = smooth_mlp_arch() if kind == "smooth-mlp" else twins.cnn_arch()
    net = twins.build(arch, None, backend, seed=2)
    rng = np.random.default_rng(0)
    x = rng.uniform(-1, 2, size=(1,) + net.input_shape)
    for target in range(net.n_classes):
        grad = to_numpy(gradient(net, backend.asarray(x), backend.asarray(np.array([target]))))
        fd = finite_difference(net, x[0], target)
        np.testing.assert_allclose(grad[0], fd, rtol=1e-5, atol=1e-7 * max(1.0, np.abs(fd).max()))


def test_gradient_through_explain_is_float32_and_shaped_like_x(backend, twins):
    net = twins.build(smooth_mlp_arch(), None, backend, float64=False, seed=2)
    x = np.random.default_rng(0).uniform(-1, 2, size=(3, 6))
    exp = explain(net, x, method="gradient", target=1)
    assert exp.relevance.shape == x.shape and exp.relevance.dtype == np.float32
    np.testing.assert_array_equal(exp.targets, [1, 1, 1])
    x_flat = x.astype(np.float32).astype(np.float64)
    for n in range(3):
        net64 = twins.build(smooth_mlp_arch(), {k: v.astype(np.float64) for k, v in net.state_dict().items()},
                            backend)
        np.testing.assert_allclose(exp.relevance[n], finite_difference(net64, x_flat[n], 1), rtol=1e-3, atol=1e-5)
    gxi = explain(net, x, method="gradient-x-input", target=1)
    np.testing.assert_allclose(gxi.relevance, x.astype(np.float32) * exp.relevance, rtol=1e-6)


@pytest.mark.parametrize("kind", ["mlp", "cnn"])
def test_integrated_gradients_completeness_improves_with_steps(backend, twins, kind):
    arch = twins.mlp_arch() if kind == "mlp" else twins.cnn_arch()
    net = twins.build(arch, None, backend, seed=5)  # random non-zero biases: f(0) != 0
    x = np.random.default_rng(1).uniform(-1, 2, size=(3,) + net.input_shape)
    xb = backend.asarray(x)
    targets = to_numpy(net.forward(xb).argmax(axis=1))
    rows = np.arange(3)
    f_x = to_numpy(net.forward(xb))[rows, targets]
    f_0 = to_numpy(net.forward(backend.zeros_like(xb)))[rows, targets]
    assert np.abs(f_0).max() > 1e-3
    errors = []
    for steps in (4, 64, 512):
        attr = to_numpy(integrated_gradients(net, xb, backend.asarray(targets), steps=steps))
        assert attr.shape == x.shape
        errors.append(np.abs(attr.reshape(3, -1).sum(axis=1) - (f_x - f_0)).max())
    assert errors[0] > errors[1] > errors[2], errors
    assert errors[2] < 0.02 * np.abs(f_x - f_0).max(), errors


def test_integrated_gradients_default_is_32_steps(backend, twins):
    net = twins.build(twins.mlp_arch(), None, backend, float64=False, seed=5)
    x = np.random.default_rng(1).uniform(-1, 2, size=(2, 10)).astype(np.float32)
    default = explain(net, x, method="integrated-gradients", target=0).relevance
    explicit = explain(net, x, method="integrated-gradients", target=0, steps=32).relevance
    other = explain(net, x, method="integrated-gradients", target=0, steps=7).relevance
    np.testing.assert_array_equal(default, explicit)
    assert not np.allclose(default, other)
    with pytest.raises(ParameterError):
        explain(net, x, method="integrated-gradients", steps=0)


def test_integrated_gradients_is_exact_for_a_linear_model(backend, twins):
    arch = {"input_shape": [4], "layers": [{"type": "dense", "in_features": 4, "out_features": 2}]}
    net = twins.build(arch, None, backend, seed=1)
    x = np.random.default_rng(0).normal(size=(2, 4))
    attr = to_numpy(integrated_gradients(net, backend.asarray(x), backend.asarray(np.array([0, 1])), steps=3))
    weight = to_numpy(net.layers[0].params["weight"])
    np.testing.assert_allclose(attr, x * weight[[0, 1]], rtol=1e-12)


def test_smoothgrad_is_reproducible_per_seed(backend, twins):
    net = twins.build(twins.cnn_arch(), None, backend, float64=False, seed=3)
    x = np.random.default_rng(2).uniform(-1, 2, size=(2, 2, 8, 8)).astype(np.float32)
    first = explain(net, x, method="smoothgrad", seed=7, samples=8).relevance
    again = explain(net, x, method="smoothgrad", seed=7, samples=8).relevance
    other = explain(net, x, method="smoothgrad", seed=8, samples=8).relevance
    assert first.shape == x.shape
    np.testing.assert_array_equal(first, again)
    assert not np.allclose(first, other)
    plain = explain(net, x, method="gradient").relevance
    no_noise = explain(net, x, method="smoothgrad", seed=7, samples=4, noise=0.0).relevance
    np.testing.assert_allclose(no_noise, plain, rtol=1e-5, atol=1e-7)
    with pytest.raises(ParameterError):
        explain(net, x, method="smoothgrad", noise=-0.1)
    with pytest.raises(ParameterError):
        explain(net, x, method="smoothgrad", samples=0)


def test_occlusion_dense_feature_set_to_mean(backend, twins):
    """Seed 004's perturbation: replace one input value by the sample's mean, record the drop."""
    net = twins.build(twins.mlp_arch(), None, backend, float64=False, seed=4)
    x = np.random.default_rng(5).uniform(-1, 2, size=(3, 10)).astype(np.float32)
    exp = explain(net, x, method="occlusion")
    assert exp.relevance.shape == x.shape
    logits = net.predict(x)
    for n in range(3):
        target = int(exp.targets[n])
        for i in range(10):
            occluded = x[n].copy()
            occluded[i] = x[n].mean()
            expected = logits[n, target] - net.predict(occluded[None])[0, target]
            assert exp.relevance[n, i] == pytest.approx(expected, rel=1e-4, abs=1e-6)


@pytest.mark.parametrize("patch", [4, 3])
def test_occlusion_image_patches(backend, twins, patch):
    """Each pixel gets (drop of its patch) / (patch size); patches cover all channels."""
    net = twins.build(twins.cnn_arch(), None, backend, float64=False, seed=6)
    x = np.random.default_rng(6).uniform(-1, 2, size=(2, 2, 8, 8)).astype(np.float32)
    exp = explain(net, x, method="occlusion", target=1, patch=patch)
    logits = net.predict(x)
    expected = np.zeros_like(x)
    for n in range(2):
        mean = x[n].mean()
        for top in range(0, 8, patch):
            for left in range(0, 8, patch):
                occluded = x[n].copy()
                occluded[:, top:top + patch, left:left + patch] = mean
                drop = logits[n, 1] - net.predict(occluded[None])[0, 1]
                size = occluded[:, top:top + patch, left:left + patch].size
                expected[n, :, top:top + patch, left:left + patch] = drop / size
    np.testing.assert_allclose(exp.relevance, expected, rtol=1e-4, atol=1e-6)
    with pytest.raises(ParameterError):
        explain(net, x, method="occlusion", patch=0)
