"""Layer forward passes against slow formula-literal twins; shapes, specs and validation."""

from __future__ import annotations

import numpy as np
import pytest

from lrp_studio.backend import to_numpy
from lrp_studio.errors import ParameterError
from lrp_studio.nn import layers as L


# ------------------------------------------------------------------ slow twins (plain loops)


def conv2d_twin(x, weight, bias, stride, padding):
    """y[n,o,i,j] = b[o] + sum_{c,ki,kj} w[o,c,ki,kj] * xpad[n,c,i*s+ki,j*s+kj] (PyTorch cross-correlation)."""
    n_samples, channels, height, width = x.shape
    out_c, _, kh, kw = weight.shape
    ho = (height + 2 * padding - kh) // stride + 1
    wo = (width + 2 * padding - kw) // stride + 1
    y = np.zeros((n_samples, out_c, ho, wo))
    for n in range(n_samples):
        for o in range(out_c):
            for i in range(ho):
                for j in range(wo):
                    total = bias[o]
                    for c in range(channels):
                        for ki in range(kh):
                            for kj in range(kw):
                                row = i * stride + ki - padding
                                col = j * stride + kj - padding
                                if 0 <= row < height and 0 <= col < width:  # zero padding
                                    total += weight[o, c, ki, kj] * x[n, c, row, col]
                    y[n, o, i, j] = total
    return y


def maxpool_twin(x, kernel, stride):
    """Forward and winner positions; on ties the first position in row-major order wins."""
    n_samples, channels, height, width = x.shape
    ho = (height - kernel) // stride + 1
    wo = (width - kernel) // stride + 1
    y = np.zeros((n_samples, channels, ho, wo))
    winners = {}
    for n in range(n_samples):
        for c in range(channels):
            for i in range(ho):
                for j in range(wo):
                    best, where = None, None
                    for ki in range(kernel):  # row-major scan, strict ">" keeps the first maximum
                        for kj in range(kernel):
                            value = x[n, c, i * stride + ki, j * stride + kj]
                            if best is None or value > best:
                                best, where = value, (i * stride + ki, j * stride + kj)
                    y[n, c, i, j] = best
                    winners[n, c, i, j] = where
    return y, winners


def maxpool_backward_twin(grad_y, winners, x_shape):
    grad_x = np.zeros(x_shape)
    for (n, c, i, j), (row, col) in winners.items():
        grad_x[n, c, row, col] += grad_y[n, c, i, j]
    return grad_x


def avgpool_twin(x, kernel, stride):
    n_samples, channels, height, width = x.shape
    ho = (height - kernel) // stride + 1
    wo = (width - kernel) // stride + 1
    y = np.zeros((n_samples, channels, ho, wo))
    for n in range(n_samples):
        for c in range(channels):
            for i in range(ho):
                for j in range(wo):
                    total = 0.0
                    for ki in range(kernel):
                        for kj in range(kernel):
                            total += x[n, c, i * stride + ki, j * stride + kj]
                    y[n, c, i, j] = total / kernel**2
    return y


def avgpool_backward_twin(grad_y, kernel, stride, x_shape):
    grad_x = np.zeros(x_shape)
    n_samples, channels, ho, wo = grad_y.shape
    for n in range(n_samples):
        for c in range(channels):
            for i in range(ho):
                for j in range(wo):
                    for ki in range(kernel):
                        for kj in range(kernel):
                            grad_x[n, c, i * stride + ki, j * stride + kj] += grad_y[n, c, i, j] / kernel**2
    return grad_x


# ------------------------------------------------------------------ convolution

CONV_CASES = [(k, s, p) for k in (3,) for s in (1, 2) for p in (0, 1, 2)] + [(2, 2, 1), (1, 1, 0), (5, 1, 2), (4, 3, 1)]


@pytest.mark.parametrize("kernel,stride,padding", CONV_CASES, ids=[f"k{k}s{s}p{p}" for k, s, p in CONV_CASES])
def test_conv2d_forward_matches_loop_twin(backend, kernel, stride, padding):
    rng = np.random.default_rng(kernel * 100 + stride * 10 + padding)
    x = rng.standard_normal((2, 3, 7, 6)).astype(np.float32)
    weight = rng.standard_normal((4, 3, kernel, kernel)).astype(np.float32)
    bias = rng.standard_normal(4).astype(np.float32)
    layer = L.Conv2d(3, 4, kernel, stride, padding)
    layer.params = {"weight": backend.asarray(weight), "bias": backend.asarray(bias)}
    y, _ = layer.forward(backend.asarray(x))
    expected = conv2d_twin(x.astype(np.float64), weight, bias, stride, padding)
    assert y.shape == expected.shape
    assert y.shape[1:] == layer.output_shape((3, 7, 6))
    assert y.dtype == np.float32
    np.testing.assert_allclose(to_numpy(y), expected, rtol=1e-5, atol=1e-5)


def test_conv2d_single_tap_is_cross_correlation_not_convolution(backend):
    """A kernel with one non-zero tap at (0, 0) shifts the image; a flipped kernel would shift it the other way."""
    x = np.arange(25, dtype=np.float32).reshape(1, 1, 5, 5)
    layer = L.Conv2d(1, 1, 3, 1, 0)
    weight = np.zeros((1, 1, 3, 3), np.float32)
    weight[0, 0, 0, 0] = 1.0
    layer.params["weight"] = backend.asarray(weight)
    y, _ = layer.forward(backend.asarray(x))
    np.testing.assert_array_equal(to_numpy(y)[0, 0], x[0, 0, :3, :3])


def test_dense_forward_is_x_wT_plus_b(backend):
    rng = np.random.default_rng(0)
    layer = L.Dense(4, 3)
    w = rng.standard_normal((3, 4)).astype(np.float32)
    b = rng.standard_normal(3).astype(np.float32)
    layer.params = {"weight": backend.asarray(w), "bias": backend.asarray(b)}
    x = rng.standard_normal((5, 4)).astype(np.float32)
    y, _ = layer.forward(backend.asarray(x))
    expected = np.array([[b[o] + sum(w[o, i] * x[n, i] for i in range(4)) for o in range(3)] for n in range(5)])
    np.testing.assert_allclose(to_numpy(y), expected, rtol=1e-5, atol=1e-5)


# ------------------------------------------------------------------ pooling

POOL_CASES = [(2, 2, (2, 3, 6, 6)), (3, 2, (2, 2, 7, 7)), (2, 1, (1, 2, 4, 5)), (2, 2, (1, 2, 5, 7)), (2, 3, (1, 1, 8, 8))]
POOL_IDS = ["tiling", "overlapping", "stride1", "non-divisible", "gaps"]


@pytest.mark.parametrize("kernel,stride,shape", POOL_CASES, ids=POOL_IDS)
def test_maxpool_forward_and_backward_match_twin_with_many_ties(backend, kernel, stride, shape):
    rng = np.random.default_rng(1)
    x = rng.integers(0, 3, shape).astype(np.float32)  # only three distinct values: ties everywhere
    layer = L.MaxPool2d(kernel, stride)
    y, cache = layer.forward(backend.asarray(x))
    expected_y, winners = maxpool_twin(x, kernel, stride)
    np.testing.assert_array_equal(to_numpy(y), expected_y)
    grad_y = rng.standard_normal(expected_y.shape).astype(np.float32)
    grad_x, params = layer.backward(backend.asarray(grad_y), cache)
    assert params == {}
    np.testing.assert_allclose(to_numpy(grad_x), maxpool_backward_twin(grad_y, winners, x.shape), rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize("kernel,stride,shape", POOL_CASES, ids=POOL_IDS)
def test_maxpool_tie_goes_to_first_row_major_position(backend, kernel, stride, shape):
    x = np.zeros(shape, np.float32)  # every window is one big tie
    layer = L.MaxPool2d(kernel, stride)
    y, cache = layer.forward(backend.asarray(x))
    grad_x = to_numpy(layer.backward(backend.ones(y.shape, dtype=np.float32), cache)[0])
    expected = np.zeros(shape, np.float32)
    ho, wo = y.shape[2:]
    for i in range(ho):
        for j in range(wo):
            expected[:, :, i * stride, j * stride] += 1  # top-left corner of every window
    np.testing.assert_array_equal(grad_x, expected)


def test_maxpool_tie_between_two_maxima_picks_the_earlier_one(backend):
    x = np.zeros((1, 1, 2, 2), np.float32)
    x[0, 0, 0, 1] = 5.0  # row-major position 1
    x[0, 0, 1, 0] = 5.0  # row-major position 2
    layer = L.MaxPool2d(2)
    y, cache = layer.forward(backend.asarray(x))
    assert float(to_numpy(y).ravel()[0]) == 5.0
    grad_x = to_numpy(layer.backward(backend.asarray(np.full((1, 1, 1, 1), 3.0, np.float32)), cache)[0])
    np.testing.assert_array_equal(grad_x[0, 0], [[0.0, 3.0], [0.0, 0.0]])


@pytest.mark.parametrize("kernel,stride,shape", POOL_CASES, ids=POOL_IDS)
def test_avgpool_forward_and_backward_match_twin(backend, kernel, stride, shape):
    rng = np.random.default_rng(2)
    x = rng.standard_normal(shape).astype(np.float32)
    layer = L.AvgPool2d(kernel, stride)
    y, cache = layer.forward(backend.asarray(x))
    np.testing.assert_allclose(to_numpy(y), avgpool_twin(x, kernel, stride), rtol=1e-5, atol=1e-6)
    assert y.shape[1:] == layer.output_shape(shape[1:])
    grad_y = rng.standard_normal(y.shape).astype(np.float32)
    grad_x = to_numpy(layer.backward(backend.asarray(grad_y), cache)[0])
    np.testing.assert_allclose(grad_x, avgpool_backward_twin(grad_y, kernel, stride, shape), rtol=1e-5, atol=1e-6)


def test_pool_stride_defaults_to_kernel():
    assert L.MaxPool2d(3).stride == 3
    assert L.AvgPool2d(2).spec() == {"type": "avgpool2d", "kernel_size": 2, "stride": 2}


# ------------------------------------------------------------------ activations and flatten


def test_activations_forward_formulas(backend):
    x = np.linspace(-6, 6, 25).astype(np.float32)
    xb = backend.asarray(x)
    np.testing.assert_allclose(to_numpy(L.ReLU().forward(xb)[0]), np.where(x > 0, x, 0))
    np.testing.assert_allclose(to_numpy(L.Sigmoid().forward(xb)[0]), 1 / (1 + np.exp(-x.astype(np.float64))), rtol=0, atol=1e-7)
    np.testing.assert_allclose(to_numpy(L.Tanh().forward(xb)[0]), np.tanh(x), rtol=1e-6)


def test_sigmoid_does_not_overflow_for_large_inputs(backend):
    x = backend.asarray(np.array([-1000.0, -100.0, 0.0, 100.0, 1000.0], np.float32))
    with np.errstate(over="raise", invalid="raise", divide="raise"):
        y = to_numpy(L.Sigmoid().forward(x)[0])
    assert np.all(np.isfinite(y))
    np.testing.assert_allclose(y, [0.0, 0.0, 0.5, 1.0, 1.0], atol=1e-7)
    assert y.dtype == np.float32


def test_flatten_is_c_order(backend):
    x = np.arange(2 * 3 * 4 * 5, dtype=np.float32).reshape(2, 3, 4, 5)
    y, cache = L.Flatten().forward(backend.asarray(x))
    np.testing.assert_array_equal(to_numpy(y), x.reshape(2, 60))
    assert L.Flatten().output_shape((3, 4, 5)) == (60,)
    back, _ = L.Flatten().backward(y, cache)
    np.testing.assert_array_equal(to_numpy(back), x)


# ------------------------------------------------------------------ specs, shapes and validation


@pytest.mark.parametrize("entry", [
    {"type": "dense", "in_features": 3, "out_features": 2},
    {"type": "conv2d", "in_channels": 1, "out_channels": 4, "kernel_size": 3, "stride": 2, "padding": 1},
    {"type": "maxpool2d", "kernel_size": 3, "stride": 2},
    {"type": "avgpool2d", "kernel_size": 2, "stride": 2},
    {"type": "flatten"}, {"type": "relu"}, {"type": "sigmoid"}, {"type": "tanh"},
])
def test_layer_spec_round_trip(entry):
    layer = L.layer_from_spec(entry)
    assert layer.spec() == entry
    assert L.layer_from_spec(layer.spec()).spec() == entry


def test_parameter_shapes_are_pytorch_shapes():
    assert L.Dense(7, 3).params["weight"].shape == (3, 7)
    assert L.Dense(7, 3).params["bias"].shape == (3,)
    conv = L.Conv2d(2, 5, 3)
    assert conv.params["weight"].shape == (5, 2, 3, 3)
    assert conv.params["bias"].shape == (5,)
    for layer in (L.MaxPool2d(2), L.AvgPool2d(2), L.Flatten(), L.ReLU(), L.Sigmoid(), L.Tanh()):
        assert layer.params == {}


def test_output_shapes():
    assert L.Conv2d(1, 16, 5).output_shape((1, 28, 28)) == (16, 24, 24)
    assert L.Conv2d(3, 8, 3, stride=2, padding=1).output_shape((3, 7, 6)) == (8, 4, 3)
    assert L.MaxPool2d(2).output_shape((16, 24, 24)) == (16, 12, 12)
    assert L.MaxPool2d(3, 2).output_shape((4, 7, 7)) == (4, 3, 3)
    assert L.Dense(5, 2).output_shape((5,)) == (2,)
    assert L.ReLU().output_shape((3, 4, 4)) == (3, 4, 4)


@pytest.mark.parametrize("layer,shape", [
    (L.Dense(5, 2), (4,)),
    (L.Dense(5, 2), (1, 5, 1)),
    (L.Conv2d(2, 3, 3), (1, 8, 8)),
    (L.Conv2d(1, 3, 5), (1, 4, 4)),
    (L.MaxPool2d(3), (1, 2, 2)),
    (L.AvgPool2d(2), (4,)),
])
def test_output_shape_rejects_misfits(layer, shape):
    with pytest.raises(ParameterError):
        layer.output_shape(shape)


@pytest.mark.parametrize("entry", [
    {"type": "dense", "in_features": 0, "out_features": 2},
    {"type": "dense", "in_features": 3, "out_features": -1},
    {"type": "dense", "in_features": 2.5, "out_features": 2},
    {"type": "dense", "in_features": True, "out_features": 2},
    {"type": "dense", "in_features": "3", "out_features": 2},
    {"type": "dense", "in_features": 3},
    {"type": "conv2d", "in_channels": 1, "out_channels": 2, "kernel_size": 3, "stride": 0, "padding": 0},
    {"type": "conv2d", "in_channels": 1, "out_channels": 2, "kernel_size": 3, "stride": 1, "padding": -1},
    {"type": "maxpool2d", "kernel_size": 0, "stride": 1},
    {"type": "softmax"},
    {"kernel_size": 2},
    "relu",
])
def test_layer_from_spec_rejects_bad_entries(entry):
    with pytest.raises(ParameterError):
        L.layer_from_spec(entry)


@pytest.mark.parametrize("make", [
    lambda: L.Dense(10**9, 10**9),
    lambda: L.Conv2d(10**5, 10**5, 3),
    lambda: L.Dense(2**14, 2**13 + 1),  # just over the limit
], ids=["dense-1e9", "conv-huge", "just-over-limit"])
def test_absurd_layer_sizes_raise_before_allocating(make):
    with pytest.raises(ParameterError):
        make()


def test_is_linear_marks_dense_and_conv_only():
    assert L.Dense(2, 2).is_linear and L.Conv2d(1, 1, 1).is_linear
    assert not any(layer.is_linear for layer in (L.MaxPool2d(2), L.AvgPool2d(2), L.Flatten(), L.ReLU()))
    assert isinstance(L.ReLU(), L.Activation) and not isinstance(L.MaxPool2d(2), L.Activation)
