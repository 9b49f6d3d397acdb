"""BatchNorm: loop twins of the formulas (eval and training mode, the running update with the
unbiased variance), finite differences for both backward passes, PyTorch agreement where torch is
importable, training mode set only by fit, spec and parameter checks."""

from __future__ import annotations

import numpy as np
import pytest

from lrp_studio.backend import to_numpy
from lrp_studio.errors import DataError, ParameterError
from lrp_studio.nn import layers as L
from lrp_studio.nn.network import Network
from lrp_studio.nn.training import fit

from finite_differences import numerical_grad


def random_bn(c, rng, dtype=np.float64, **kwargs):
    layer = L.BatchNorm(c, **kwargs)
    layer.params["weight"] = rng.uniform(0.5, 1.5, c).astype(dtype)
    layer.params["bias"] = rng.standard_normal(c).astype(dtype)
    layer.buffers["running_mean"] = rng.standard_normal(c).astype(dtype)
    layer.buffers["running_var"] = rng.uniform(0.5, 2.0, c).astype(dtype)
    return layer


def channel_values(x, c):
    """All values of channel c (the twin's gather, by loops)."""
    if x.ndim == 2:
        return [x[n, c] for n in range(x.shape[0])]
    return [x[n, c, i, j] for n in range(x.shape[0]) for i in range(x.shape[2]) for j in range(x.shape[3])]


SHAPES = [(5, 3), (3, 2, 4, 3)]


@pytest.mark.parametrize("shape", SHAPES, ids=["dense", "conv"])
def test_eval_forward_matches_the_formula_elementwise(backend, shape):
    rng = np.random.default_rng(0)
    layer = random_bn(shape[1], rng)
    x = rng.standard_normal(shape)
    layer.params = {k: backend.asarray(v) for k, v in layer.params.items()}
    layer.buffers = {k: backend.asarray(v) for k, v in layer.buffers.items()}
    y = to_numpy(layer.forward(backend.asarray(x))[0])
    p = {k: to_numpy(v) for k, v in {**layer.params, **layer.buffers}.items()}
    for index in np.ndindex(shape):
        c = index[1]
        twin = (x[index] - p["running_mean"][c]) / np.sqrt(p["running_var"][c] + 1e-5) * p["weight"][c] + p["bias"][c]
        assert y[index] == pytest.approx(twin, rel=1e-12, abs=1e-12)
    a, b = layer.scale_shift()
    view = (1, -1) if len(shape) == 2 else (1, -1, 1, 1)
    np.testing.assert_allclose(y, x * to_numpy(a).reshape(view) + to_numpy(b).reshape(view), rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("shape", SHAPES, ids=["dense", "conv"])
def test_training_forward_and_running_update_match_loops(shape):
    rng = np.random.default_rng(1)
    layer = random_bn(shape[1], rng, momentum=0.3, eps=1e-3)
    old_mean, old_var = layer.buffers["running_mean"].copy(), layer.buffers["running_var"].copy()
    x = rng.standard_normal(shape) * 2 + 1
    layer.training = True
    y, _ = layer.forward(x)
    for c in range(shape[1]):
        values = channel_values(x, c)
        m = len(values)
        mean = sum(values) / m
        biased = sum((v - mean) ** 2 for v in values) / m
        unbiased = sum((v - mean) ** 2 for v in values) / (m - 1)
        outs = channel_values(y, c)
        for v, out in zip(values, outs):
            twin = (v - mean) / np.sqrt(biased + 1e-3) * layer.params["weight"][c] + layer.params["bias"][c]
            assert out == pytest.approx(twin, rel=1e-10, abs=1e-12)
        assert layer.buffers["running_mean"][c] == pytest.approx(0.7 * old_mean[c] + 0.3 * mean, rel=1e-6)
        assert layer.buffers["running_var"][c] == pytest.approx(0.7 * old_var[c] + 0.3 * unbiased, rel=1e-6)


@pytest.mark.parametrize("training", [False, True], ids=["eval", "training"])
@pytest.mark.parametrize("shape", SHAPES, ids=["dense", "conv"])
def test_backward_matches_finite_differences(shape, training):
    rng = np.random.default_rng(2)
    layer = random_bn(shape[1], rng)
    layer.training = training
    x = rng.standard_normal(shape)
    y, cache = layer.forward(x)
    r = rng.standard_normal(y.shape)
    grad_x, grads = layer.backward(r, cache)
    assert set(grads) == {"weight", "bias"}

    def scalar():
        return float((layer.forward(x)[0] * r).sum())

    np.testing.assert_allclose(grad_x, numerical_grad(scalar, x), rtol=1e-5, atol=1e-8)
    for name in ("weight", "bias"):
        np.testing.assert_allclose(grads[name], numerical_grad(scalar, layer.params[name]), rtol=1e-5, atol=1e-8,
                                   err_msg=name)
    none, same = layer.backward(r, cache, need_input=False)
    assert none is None and all(np.allclose(same[k], grads[k]) for k in grads)


@pytest.mark.parametrize("shape", SHAPES, ids=["dense", "conv"])
def test_agrees_with_pytorch_in_both_modes(shape):
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(3)
    layer = random_bn(shape[1], rng, dtype=np.float32, momentum=0.2)
    module = (torch.nn.BatchNorm1d if len(shape) == 2 else torch.nn.BatchNorm2d)(shape[1], momentum=0.2)
    with torch.no_grad():
        for key in ("weight", "bias"):
            getattr(module, key).copy_(torch.from_numpy(layer.params[key]))
        for key in ("running_mean", "running_var"):
            getattr(module, key).copy_(torch.from_numpy(layer.buffers[key]))
    x = rng.standard_normal(shape).astype(np.float32)
    r = rng.standard_normal(shape).astype(np.float32)
    for training in (True, False):
        layer.training = training
        module.train(training)
        xt = torch.from_numpy(x).requires_grad_(True)
        out = module(xt)
        (out * torch.from_numpy(r)).sum().backward()
        y, cache = layer.forward(x)
        grad_x, grads = layer.backward(r, cache)
        np.testing.assert_allclose(y, out.detach().numpy(), rtol=1e-5, atol=1e-5)
        np.testing.assert_allclose(grad_x, xt.grad.numpy(), rtol=1e-4, atol=1e-5)
        np.testing.assert_allclose(grads["weight"], module.weight.grad.numpy(), rtol=1e-4, atol=1e-5)
        np.testing.assert_allclose(grads["bias"], module.bias.grad.numpy(), rtol=1e-4, atol=1e-5)
        for key in ("running_mean", "running_var"):
            np.testing.assert_allclose(layer.buffers[key], getattr(module, key).numpy(), rtol=1e-5, err_msg=key)
        module.zero_grad()


def test_one_value_per_channel_in_training_is_refused():
    layer = L.BatchNorm(3)
    layer.training = True
    with pytest.raises(DataError, match="more than one value per channel"):
        layer.forward(np.ones((1, 3), np.float32))
    layer.training = False
    layer.forward(np.ones((1, 3), np.float32))  # eval mode: fine


def test_spec_defaults_and_bad_values():
    layer = L.layer_from_spec({"type": "batchnorm", "num_features": 4})
    assert layer.spec() == {"type": "batchnorm", "num_features": 4, "eps": 1e-5, "momentum": 0.1}
    assert L.layer_from_spec(layer.spec()).spec() == layer.spec()
    assert set(layer.params) == {"weight", "bias"} and set(layer.buffers) == {"running_mean", "running_var"}
    np.testing.assert_array_equal(to_numpy(layer.params["weight"]), np.ones(4))
    np.testing.assert_array_equal(to_numpy(layer.buffers["running_var"]), np.ones(4))
    for bad, message in [({"eps": 0}, "eps must lie"), ({"eps": float("nan")}, "eps must lie"),
                         ({"momentum": 1.5}, "momentum must lie"), ({"momentum": "0.1"}, "momentum must be a number"),
                         ({"num_features": 0}, "num_features must be an integer")]:
        with pytest.raises(ParameterError, match=message):
            L.layer_from_spec({"type": "batchnorm", "num_features": 4, **bad})
    with pytest.raises(ParameterError, match=r"batchnorm expects inputs of shape \(4,\) or \(4, H, W\)"):
        layer.output_shape((3, 5, 5))


def bn_residual_cnn():
    """conv -> bn -> relu -> conv -> bn -> add(., stem relu) -> relu -> gap -> dense, on (1, 8, 8)."""
    layers = [L.Conv2d(1, 4, 3, 1, 1), L.BatchNorm(4), L.ReLU(), L.Conv2d(4, 4, 3, 1, 1), L.BatchNorm(4),
              L.Add(), L.ReLU(), L.GlobalAvgPool(), L.Dense(4, 2)]
    inputs = [(0,), (1,), (2,), (3,), (4,), (5, 3), (6,), (7,), (8,)]
    net = Network(layers, (1, 8, 8), inputs=inputs)
    net.init_weights(0)
    return net


def test_network_training_mode_switches_bn_and_state_dict_holds_buffers():
    net = bn_residual_cnn()
    assert not net.training and not net.layers[1].training
    keys = list(net.state_dict())
    assert "1.running_mean" in keys and "1.running_var" in keys and "4.weight" in keys
    assert "1.running_mean" not in dict(net.iter_params())
    x = net.prepare_input(np.random.default_rng(4).uniform(0, 1, (6, 1, 8, 8)))
    eval_out = to_numpy(net.forward(x))
    net.training = True
    assert all(layer.training for layer in net.layers)
    train_out = to_numpy(net.forward(x))
    net.training = False
    assert not np.allclose(eval_out, train_out)  # batch statistics differ from the initial (0, 1)
    assert not np.allclose(to_numpy(net.layers[1].buffers["running_mean"]), 0)  # the training forward moved them
    copy = bn_residual_cnn()
    copy.load_state_dict(net.state_dict())
    np.testing.assert_array_equal(to_numpy(copy.forward(x)), to_numpy(net.forward(x)))


def test_fit_trains_a_bn_residual_cnn_and_leaves_eval_mode():
    """Bright-left vs bright-right 8x8 images: learnable; running statistics must end near the data's."""
    rng = np.random.default_rng(5)
    y = rng.integers(0, 2, 256)
    x = rng.uniform(0, 0.3, (256, 1, 8, 8)).astype(np.float32)
    for n, label in enumerate(y):
        x[n, 0, :, 4 * label : 4 * label + 4] += 0.7
    net = bn_residual_cnn()
    seen = []
    history = fit(net, x, y, epochs=8, batch_size=32, lr=0.01, optimizer="adam",
                  callback=lambda record: seen.append(net.training))
    assert not net.training and not any(seen)  # eval mode between batches and after
    assert history["accuracy"][-1] > 0.95
    assert float(np.mean(net.predict(x).argmax(1) == y)) > 0.95  # eval mode (running statistics) works too
    # the first BN's running mean approaches the mean of its input over the data
    stem = to_numpy(net.forward_to(net.prepare_input(x), 1)).mean(axis=(0, 2, 3))
    np.testing.assert_allclose(to_numpy(net.layers[1].buffers["running_mean"]), stem, rtol=0.2, atol=0.05)
