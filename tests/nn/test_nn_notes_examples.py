"""The worked examples and matrix-form identities of the lecture notes (shared/seeds 001 and 002).

The notes write data column-wise (features x samples, e.g. X is 4 x 7, W^[1] is 3 x 4); the
network is batch-first, so every notes formula below is evaluated literally on transposed arrays
and compared with the layers' results.
"""

from __future__ import annotations

import numpy as np
import pytest

from lrp_studio.backend import to_numpy
from lrp_studio.nn import layers as L
from lrp_studio.nn.losses import get_loss
from lrp_studio.nn.network import Network
from lrp_studio.nn.optimizers import make_optimizer


def _sigmoid(z):
    return 1.0 / (1.0 + np.exp(-z))


# ------------------------------------------------------------------ seed 001: the ReLU example


def test_relu_worked_example_from_the_notes(backend):
    """001, "BSP.": Z -> relu -> A, and backwards dZ = dA * [Z > 0]."""
    z = np.array([[5, -7, 6], [2, 1, -4]], np.float32)
    d_a = np.array([[0.5, 0.05, 0.7], [0.1, -0.6, 0.8]], np.float32)  # incoming dL/dA
    relu = L.ReLU()
    a, cache = relu.forward(backend.asarray(z))
    np.testing.assert_array_equal(to_numpy(a), [[5, 0, 6], [2, 1, 0]])
    d_z, params = relu.backward(backend.asarray(d_a), cache)
    assert params == {}
    np.testing.assert_array_equal(to_numpy(d_z), np.array([[0.5, 0, 0.7], [0.1, -0.6, 0]], np.float32))
    # the mask [Z > 0] of the notes, obtained by sending ones backwards
    mask, _ = relu.backward(backend.ones(z.shape, dtype=np.float32), cache)
    np.testing.assert_array_equal(to_numpy(mask), [[1, 0, 1], [1, 1, 0]])


def test_relu_derivative_at_zero_is_zero(backend):
    """[z > 0] is False for z = 0: no gradient flows through an exactly-zero pre-activation."""
    relu = L.ReLU()
    _, cache = relu.forward(backend.asarray(np.array([[0.0, 1e-30, -1e-30]], np.float32)))
    grad, _ = relu.backward(backend.ones((1, 3), dtype=np.float32), cache)
    np.testing.assert_array_equal(to_numpy(grad), [[0, 1, 0]])


# ------------------------------------------------------------------ seed 001: derivatives


def test_sigmoid_derivative_is_a_times_one_minus_a(backend):
    """001 (2) and 002 2.3: d sigma / dz = a (1 - a)."""
    z = np.array([[-3.0, -0.5, 0.0, 0.5, 3.0]])
    sig = L.Sigmoid()
    a, cache = sig.forward(backend.asarray(z))
    grad, _ = sig.backward(backend.ones(z.shape, dtype=np.float64), cache)
    a_ref = _sigmoid(z)
    np.testing.assert_allclose(to_numpy(a), a_ref, rtol=1e-12)
    np.testing.assert_allclose(to_numpy(grad), a_ref * (1 - a_ref), rtol=1e-12)
    assert float(to_numpy(grad)[0, 2]) == pytest.approx(0.25)  # the maximum, at z = 0


def test_bce_chain_dl_da_times_da_dz_is_a_minus_y(backend):
    """001 (1)-(2): dL/da = (a - y) / (a (1 - a)); chained through the sigmoid layer it is a - y."""
    z = np.array([[-2.0], [-0.3], [0.4], [1.7], [3.0]])
    y = np.array([0, 1, 1, 0, 1])
    a = _sigmoid(z[:, 0])
    dl_da = (a - y) / (a * (1 - a))
    np.testing.assert_allclose(dl_da, -y / a + (1 - y) / (1 - a), rtol=1e-12)  # the notes' other form
    sig = L.Sigmoid()
    _, cache = sig.forward(backend.asarray(z))
    dl_dz, _ = sig.backward(backend.asarray(dl_da[:, None]), cache)
    np.testing.assert_allclose(to_numpy(dl_dz)[:, 0], a - y, rtol=1e-10, atol=1e-12)
    # the bce loss gives the same per sample, averaged over the batch (J = 1/m sum L)
    _, grad = get_loss("bce")(backend.asarray(z), backend.asarray(y))
    np.testing.assert_allclose(to_numpy(grad)[:, 0] * len(y), a - y, rtol=1e-10, atol=1e-12)


# ------------------------------------------------------------------ seed 001: the backprop map


def _notes_network(backend, rng):
    """The notes' 2-layer binary classifier: 4 inputs, 3 ReLU units, 1 sigmoid output (sigmoid inside bce)."""
    w1 = rng.standard_normal((3, 4))
    b1 = rng.standard_normal(3) * 0.5
    w2 = rng.standard_normal((1, 3))
    b2 = rng.standard_normal(1) * 0.5
    net = Network([L.Dense(4, 3), L.ReLU(), L.Dense(3, 1)], (4,))
    net.layers[0].params = {"weight": backend.asarray(w1), "bias": backend.asarray(b1)}
    net.layers[2].params = {"weight": backend.asarray(w2), "bias": backend.asarray(b2)}
    return net, w1, b1[:, None], w2, b2[:, None]


def test_backprop_map_of_the_notes(backend):
    """001 "THE BACKPROP MAP" with m = 7 samples, written column-wise exactly as in the notes."""
    rng = np.random.default_rng(0)
    m = 7
    net, w1, b1, w2, b2 = _notes_network(backend, rng)
    x_cols = rng.standard_normal((4, m))  # X (4 x 7)
    y_row = np.array([[1, 0, 1, 1, 0, 0, 1]])  # Y (1 x 7)

    # forward: Z1 = W1 X + b1 (broadcast), A1 = relu(Z1), Z2 = W2 A1 + b2, A2 = sigma(Z2)
    z1 = w1 @ x_cols + b1
    a1 = np.maximum(z1, 0)
    z2 = w2 @ a1 + b2
    a2 = _sigmoid(z2)
    cost = (1 / m) * np.sum(-y_row * np.log(a2) - (1 - y_row) * np.log(1 - a2))
    # backward
    dz2 = a2 - y_row
    dw2 = (1 / m) * dz2 @ a1.T
    db2 = (1 / m) * np.sum(dz2, axis=1, keepdims=True)
    da1 = w2.T @ dz2
    dz1 = da1 * (z1 > 0)
    dw1 = (1 / m) * dz1 @ x_cols.T
    db1 = (1 / m) * np.sum(dz1, axis=1, keepdims=True)
    dx = w1.T @ dz1

    trace = net.trace(backend.asarray(x_cols.T.copy()))
    np.testing.assert_allclose(to_numpy(trace.inputs[1]), z1.T, rtol=1e-12)
    np.testing.assert_allclose(to_numpy(trace.inputs[2]), a1.T, rtol=1e-12)
    np.testing.assert_allclose(to_numpy(trace.output), z2.T, rtol=1e-12)
    loss, grad_out = get_loss("bce")(trace.output, backend.asarray(y_row[0]))
    assert loss == pytest.approx(cost, rel=1e-12)
    np.testing.assert_allclose(to_numpy(grad_out), dz2.T / m, rtol=1e-12)
    grad_x, grads = net.backward(grad_out, trace)

    assert grads[0]["weight"].shape == (3, 4) and grads[2]["weight"].shape == (1, 3)
    np.testing.assert_allclose(to_numpy(grads[2]["weight"]), dw2, rtol=1e-10)
    np.testing.assert_allclose(to_numpy(grads[2]["bias"]), db2[:, 0], rtol=1e-10)
    np.testing.assert_allclose(to_numpy(grads[0]["weight"]), dw1, rtol=1e-10, atol=1e-14)
    np.testing.assert_allclose(to_numpy(grads[0]["bias"]), db1[:, 0], rtol=1e-10, atol=1e-14)
    # the notes' dX carries no 1/m (it is not a parameter gradient); the loss's 1/m reaches it here
    np.testing.assert_allclose(to_numpy(grad_x), dx.T / m, rtol=1e-10, atol=1e-14)


def test_gradient_descent_update_of_the_notes(backend):
    """001 "GEWICHTSAKTUALISIERUNGEN": theta_new = theta_old - alpha * dtheta, one SGD step."""
    rng = np.random.default_rng(1)
    net, *_ = _notes_network(backend, rng)
    x = backend.asarray(rng.standard_normal((7, 4)))
    y = backend.asarray(np.array([1, 0, 1, 1, 0, 0, 1]))
    old = {key: to_numpy(value).copy() for key, value in net.iter_params()}
    trace = net.trace(x)
    _, grad_out = get_loss("bce")(trace.output, y)
    _, grads = net.backward(grad_out, trace)
    alpha = 0.3
    opt = make_optimizer("sgd", alpha)
    for i, layer in enumerate(net.layers):
        for name, param in layer.params.items():
            opt.step(f"{i}.{name}", param, grads[i][name])
    for i, layer in enumerate(net.layers):
        for name in layer.params:
            key = f"{i}.{name}"
            np.testing.assert_allclose(to_numpy(layer.params[name]), old[key] - alpha * to_numpy(grads[i][name]), rtol=1e-12)


@pytest.mark.parametrize("m", [1, 5])
def test_dense_backward_equals_dw_is_1_over_m_dz_at(backend, m):
    """001: dW = 1/m dZ A^T and db = 1/m np.sum(dZ, axis=1), with the loss's 1/m inside grad_y."""
    rng = np.random.default_rng(2 + m)
    layer = L.Dense(4, 3)
    w = rng.standard_normal((3, 4))
    layer.params = {"weight": backend.asarray(w), "bias": backend.asarray(rng.standard_normal(3))}
    a_prev = rng.standard_normal((4, m))  # A^[l-1], column per sample
    dz = rng.standard_normal((3, m))  # dZ^[l] = per-sample dL/dZ (no 1/m)
    _, cache = layer.forward(backend.asarray(a_prev.T.copy()))
    grad_x, grads = layer.backward(backend.asarray(dz.T / m), cache)
    np.testing.assert_allclose(to_numpy(grads["weight"]), (1 / m) * dz @ a_prev.T, rtol=1e-12)
    np.testing.assert_allclose(to_numpy(grads["bias"]), (1 / m) * np.sum(dz, axis=1), rtol=1e-12)
    np.testing.assert_allclose(to_numpy(grad_x), (w.T @ dz).T / m, rtol=1e-12)  # dA^[l-1] = W^T dZ


# ------------------------------------------------------------------ seed 002: MSE, sigmoid, delta


def test_delta_recursion_with_mse_and_sigmoid(backend):
    """002 2.4-2.7: delta^L = (a^L - y) . sigma'(z^L), delta^l = (W^{l+1})^T delta^{l+1} . sigma'(z^l),
    dE/dW^l = [delta^l] (A^{l-1})^T, dE/db^l = sum over samples of delta^l; the update uses eta/N."""
    rng = np.random.default_rng(3)
    n_samples = 6
    w1, b1 = rng.standard_normal((4, 3)), rng.standard_normal((4, 1))
    w2, b2 = rng.standard_normal((2, 4)), rng.standard_normal((2, 1))
    net = Network([L.Dense(3, 4), L.Sigmoid(), L.Dense(4, 2), L.Sigmoid()], (3,))
    net.layers[0].params = {"weight": backend.asarray(w1), "bias": backend.asarray(b1[:, 0])}
    net.layers[2].params = {"weight": backend.asarray(w2), "bias": backend.asarray(b2[:, 0])}
    a0 = rng.standard_normal((3, n_samples))
    y = rng.uniform(0, 1, (2, n_samples))

    z1 = w1 @ a0 + b1
    a1 = _sigmoid(z1)
    z2 = w2 @ a1 + b2
    a2 = _sigmoid(z2)
    energy = 0.5 * np.sum((y - a2) ** 2)  # E summed over outputs and samples
    delta2 = (a2 - y) * a2 * (1 - a2)
    delta1 = (w2.T @ delta2) * a1 * (1 - a1)
    de_dw2, de_dw1 = delta2 @ a1.T, delta1 @ a0.T
    de_db2, de_db1 = delta2.sum(axis=1), delta1.sum(axis=1)

    trace = net.trace(backend.asarray(a0.T.copy()))
    np.testing.assert_allclose(to_numpy(trace.output), a2.T, rtol=1e-12)
    loss, grad_out = get_loss("mse")(trace.output, backend.asarray(y.T.copy()))
    assert loss == pytest.approx(energy / n_samples, rel=1e-12)  # mean over the N samples
    _, grads = net.backward(grad_out, trace)
    np.testing.assert_allclose(to_numpy(grads[2]["weight"]), de_dw2 / n_samples, rtol=1e-10)
    np.testing.assert_allclose(to_numpy(grads[0]["weight"]), de_dw1 / n_samples, rtol=1e-10)
    np.testing.assert_allclose(to_numpy(grads[2]["bias"]), de_db2 / n_samples, rtol=1e-10)
    np.testing.assert_allclose(to_numpy(grads[0]["bias"]), de_db1 / n_samples, rtol=1e-10)

    # 2.2: w -> w - eta/N sum_k dE^k/dw
    eta = 0.5
    expected = w2 - eta / n_samples * de_dw2  # computed before the in-place update
    make_optimizer("sgd", eta).step("2.weight", net.layers[2].params["weight"], grads[2]["weight"])
    np.testing.assert_allclose(to_numpy(net.layers[2].params["weight"]), expected, rtol=1e-12)
