"""Backward passes against central finite differences, computed in float64.

Every layer is dtype-agnostic, so parameters and inputs are set to float64 arrays here; the
scalar under test is ``sum(y * r)`` with random ``r``, whose gradient w.r.t. y is ``r``.
Inputs avoid the points where ReLU and max-pooling are not differentiable (values near zero,
ties inside a pooling window).
"""

from __future__ import annotations

import numpy as np
import pytest

from lrp_studio.backend import to_numpy
from lrp_studio.nn import layers as L
from lrp_studio.nn.losses import get_loss
from lrp_studio.nn.network import Network, mlp

from finite_differences import numerical_grad

RTOL, ATOL = 1e-6, 1e-7


def to_float64(layer, xp, rng):
    """Give ``layer`` random float64 parameters (weights and biases of order 1)."""
    for name, value in layer.params.items():
        layer.params[name] = xp.asarray(rng.standard_normal(value.shape) * 0.5)
    return layer


def distinct_values(rng, shape, gap=0.01):
    """Array of the given shape with all values distinct, neighbours in value ``gap`` apart."""
    size = int(np.prod(shape))
    return (rng.permutation(size) - size / 2).reshape(shape) * gap


def away_from_zero(rng, shape, margin=0.05):
    """Random values with |x| >= margin."""
    return np.sign(rng.standard_normal(shape)) * (margin + rng.uniform(0, 2, shape))


def check_layer_gradients(layer, x, xp, rng):
    y, cache = layer.forward(x)
    r = xp.asarray(rng.standard_normal(y.shape))
    r_before = to_numpy(r).copy()
    x_before = to_numpy(x).copy()
    grad_x, param_grads = layer.backward(r, cache)
    # backward must not change its arguments
    np.testing.assert_array_equal(to_numpy(r), r_before)
    np.testing.assert_array_equal(to_numpy(x), x_before)
    assert grad_x.shape == x.shape
    assert grad_x.dtype == np.float64
    assert set(param_grads) == set(layer.params)

    def scalar():
        return float((layer.forward(x)[0] * r).sum())

    np.testing.assert_allclose(to_numpy(grad_x), numerical_grad(scalar, x), rtol=RTOL, atol=ATOL)
    for name, param in layer.params.items():
        assert param_grads[name].shape == param.shape
        np.testing.assert_allclose(
            to_numpy(param_grads[name]), numerical_grad(scalar, param), rtol=RTOL, atol=ATOL, err_msg=name
        )


CONV_CASES = [
    # (in_c, out_c, kernel, stride, padding, input (N, C, H, W))
    (2, 3, 3, 1, 0, (2, 2, 7, 6)),
    (2, 3, 3, 1, 1, (2, 2, 7, 6)),
    (2, 3, 3, 1, 2, (2, 2, 7, 6)),
    (2, 3, 3, 2, 0, (2, 2, 7, 6)),
    (2, 3, 3, 2, 1, (2, 2, 7, 6)),
    (2, 3, 3, 2, 2, (2, 2, 7, 6)),
    (1, 2, 2, 2, 1, (1, 1, 5, 5)),
    (3, 2, 1, 1, 0, (2, 3, 3, 4)),
    (1, 2, 4, 3, 1, (1, 1, 9, 8)),
]


@pytest.mark.parametrize("in_c,out_c,kernel,stride,padding,shape", CONV_CASES,
                         ids=[f"k{c[2]}s{c[3]}p{c[4]}" for c in CONV_CASES])
def test_conv2d_gradients(backend, in_c, out_c, kernel, stride, padding, shape):
    rng = np.random.default_rng(1)
    layer = to_float64(L.Conv2d(in_c, out_c, kernel, stride, padding), backend, rng)
    x = backend.asarray(rng.standard_normal(shape))
    check_layer_gradients(layer, x, backend, rng)


def test_dense_gradients(backend):
    rng = np.random.default_rng(2)
    layer = to_float64(L.Dense(5, 4), backend, rng)
    check_layer_gradients(layer, backend.asarray(rng.standard_normal((3, 5))), backend, rng)


POOL_CASES = [
    # (kernel, stride, input shape): non-overlapping tiling, overlapping, non-divisible, gaps
    (2, 2, (2, 3, 6, 6)),
    (3, 2, (2, 2, 7, 7)),
    (2, 1, (1, 2, 4, 5)),
    (2, 2, (1, 2, 5, 7)),
    (2, 3, (1, 1, 8, 8)),
]


@pytest.mark.parametrize("kernel,stride,shape", POOL_CASES, ids=[f"k{k}s{s}" for k, s, _ in POOL_CASES])
def test_maxpool2d_gradients(backend, kernel, stride, shape):
    rng = np.random.default_rng(3)
    x = backend.asarray(distinct_values(rng, shape))  # no ties: differentiable everywhere near x
    check_layer_gradients(L.MaxPool2d(kernel, stride), x, backend, rng)


@pytest.mark.parametrize("kernel,stride,shape", POOL_CASES, ids=[f"k{k}s{s}" for k, s, _ in POOL_CASES])
def test_avgpool2d_gradients(backend, kernel, stride, shape):
    rng = np.random.default_rng(4)
    x = backend.asarray(rng.standard_normal(shape))
    check_layer_gradients(L.AvgPool2d(kernel, stride), x, backend, rng)


def test_flatten_gradients(backend):
    rng = np.random.default_rng(5)
    check_layer_gradients(L.Flatten(), backend.asarray(rng.standard_normal((2, 3, 4, 5))), backend, rng)


@pytest.mark.parametrize("layer_type", [L.ReLU, L.Sigmoid, L.Tanh], ids=["relu", "sigmoid", "tanh"])
@pytest.mark.parametrize("shape", [(4, 7), (2, 3, 4, 5)], ids=["dense", "image"])
def test_activation_gradients(backend, layer_type, shape):
    rng = np.random.default_rng(6)
    x = backend.asarray(away_from_zero(rng, shape))  # ReLU's kink at 0 is avoided
    check_layer_gradients(layer_type(), x, backend, rng)


# ------------------------------------------------------------------ whole networks


def network_to_float64(net, xp, rng):
    for layer in net.layers:
        for name, value in layer.params.items():
            # keep the initialised scale, add noise so that biases are not all zero
            layer.params[name] = xp.asarray(to_numpy(value).astype(np.float64) + 0.1 * rng.standard_normal(value.shape))
    return net


def small_cnn():
    layers = [
        L.Conv2d(2, 4, 3, stride=1, padding=1), L.ReLU(), L.MaxPool2d(3, stride=2),
        L.Conv2d(4, 3, 3, stride=2, padding=2), L.Tanh(), L.AvgPool2d(2, stride=1),
        L.Flatten(), L.Dense(12, 6), L.Sigmoid(), L.Dense(6, 3),
    ]
    net = Network(layers, (2, 9, 9))
    net.init_weights(seed=3)
    return net


def check_network_gradients(net, x, xp, rng):
    trace = net.trace(x)
    r = xp.asarray(rng.standard_normal(trace.output.shape))
    grad_x, grads = net.backward(r, trace)
    assert len(grads) == len(net.layers)

    def scalar():
        return float((net.forward(x) * r).sum())

    np.testing.assert_allclose(to_numpy(grad_x), numerical_grad(scalar, x), rtol=RTOL, atol=ATOL)
    for i, layer in enumerate(net.layers):
        assert set(grads[i]) == set(layer.params)
        for name, param in layer.params.items():
            np.testing.assert_allclose(
                to_numpy(grads[i][name]), numerical_grad(scalar, param), rtol=RTOL, atol=ATOL, err_msg=f"{i}.{name}"
            )


def test_small_cnn_gradients(backend):
    rng = np.random.default_rng(7)
    net = network_to_float64(small_cnn(), backend, rng)
    assert net.shapes[-1] == (3,)
    x = backend.asarray(rng.standard_normal((2, 2, 9, 9)))
    check_network_gradients(net, x, backend, rng)


@pytest.mark.parametrize("activation", ["relu", "sigmoid", "tanh"])
def test_mlp_gradients(backend, activation):
    rng = np.random.default_rng(8)
    net = network_to_float64(mlp([5, 7, 6, 3], activation=activation, seed=1), backend, rng)
    x = backend.asarray(rng.standard_normal((4, 5)))
    check_network_gradients(net, x, backend, rng)


# ------------------------------------------------------------------ losses


def _loss_inputs(name, xp, rng):
    if name == "bce":
        return xp.asarray(rng.standard_normal((6, 1)) * 2), xp.asarray(np.array([0, 1, 1, 0, 1, 0]))
    labels = xp.asarray(np.array([0, 2, 1, 2, 0, 1]))
    return xp.asarray(rng.standard_normal((6, 3)) * 2), labels


@pytest.mark.parametrize("name", ["cross-entropy", "bce", "mse"])
def test_loss_gradient_wrt_output(backend, name):
    rng = np.random.default_rng(9)
    output, labels = _loss_inputs(name, backend, rng)
    loss_fn = get_loss(name)
    _, grad = loss_fn(output, labels)
    assert grad.shape == output.shape
    numeric = numerical_grad(lambda: loss_fn(output, labels)[0], output)
    np.testing.assert_allclose(to_numpy(grad), numeric, rtol=RTOL, atol=1e-9)


def test_mse_gradient_with_float_targets(backend):
    rng = np.random.default_rng(10)
    output = backend.asarray(rng.standard_normal((5, 2)))
    targets = backend.asarray(rng.uniform(0, 1, (5, 2)))
    loss_fn = get_loss("mse")
    _, grad = loss_fn(output, targets)
    numeric = numerical_grad(lambda: loss_fn(output, targets)[0], output)
    np.testing.assert_allclose(to_numpy(grad), numeric, rtol=RTOL, atol=1e-9)


@pytest.mark.parametrize("name,outputs", [("cross-entropy", 3), ("bce", 1), ("mse", 3)])
def test_loss_through_network_matches_finite_differences(backend, name, outputs):
    """The training step's gradient: loss gradient fed into Network.backward."""
    rng = np.random.default_rng(11)
    net = network_to_float64(mlp([4, 5, outputs], activation="tanh", seed=2), backend, rng)
    x = backend.asarray(rng.standard_normal((6, 4)))
    labels = backend.asarray(rng.integers(0, max(outputs, 2), 6))
    loss_fn = get_loss(name)
    trace = net.trace(x)
    _, grad_out = loss_fn(trace.output, labels)
    _, grads = net.backward(grad_out, trace)
    for i, layer in enumerate(net.layers):
        for pname, param in layer.params.items():
            numeric = numerical_grad(lambda: loss_fn(net.forward(x), labels)[0], param)
            np.testing.assert_allclose(to_numpy(grads[i][pname]), numeric, rtol=RTOL, atol=1e-9, err_msg=f"{i}.{pname}")
