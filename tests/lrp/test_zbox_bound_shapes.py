"""z-box bounds of shape (C,), one sample's shape or scalars work for every first layer (issue 13, point 6)."""

from __future__ import annotations

import numpy as np
import pytest

from lrp_studio.errors import ParameterError
from lrp_studio.lrp import explain
from lrp_studio.nn import Network

LOW = np.array([-1.0, 0.0, 0.5])
HIGH = np.array([1.0, 2.0, 1.5])


def dense_first():
    """An image network whose first linear layer is dense (flatten first), as in the issue."""
    return Network.from_spec({"input_shape": [3, 4, 4], "layers": [
        {"type": "flatten"}, {"type": "dense", "in_features": 48, "out_features": 6}, {"type": "relu"},
        {"type": "dense", "in_features": 6, "out_features": 3}]}, seed=1)


def conv_first():
    return Network.from_spec({"input_shape": [3, 4, 4], "layers": [
        {"type": "conv2d", "in_channels": 3, "out_channels": 2, "kernel_size": 3, "stride": 1, "padding": 1},
        {"type": "relu"}, {"type": "flatten"}, {"type": "dense", "in_features": 32, "out_features": 3}]}, seed=2)


def by_hand(bound):
    return np.broadcast_to(np.asarray(bound, np.float64).reshape(3, 1, 1), (3, 4, 4)).copy()


def zbox_literal(net, x, low, high, target):
    """Formula-literal z-box on a dense-first net: R_j = sum_k (x_j w_jk - l_j w+_jk - h_j w-_jk) / z_k R_k,
    with the relevance above the first dense layer from the composite's own upper layers (epsilon 1e-6)."""
    exp = explain(net, x, target=target, method="epsilon-gamma-box", low=low, high=high)
    upper = exp.layers[2].relevance[0]  # relevance at the first dense layer's output
    w = net.layers[1].params["weight"].astype(np.float64)  # (out, in)
    xf, lf, hf = x.reshape(-1).astype(np.float64), low.reshape(-1), high.reshape(-1)
    numer = xf[None, :] * w - lf[None, :] * np.maximum(w, 0) - hf[None, :] * np.minimum(w, 0)
    z = numer.sum(axis=1)
    z = z + 1e-6 * np.where(z >= 0, 1.0, -1.0)
    return ((numer / z[:, None]) * upper[:, None]).sum(axis=0).reshape(x.shape[1:])


@pytest.mark.parametrize("make", [dense_first, conv_first])
@pytest.mark.parametrize("shape_kind", ["channels", "sample", "flat", "scalar"])
@pytest.mark.parametrize("method", ["epsilon-gamma-box", "deep-taylor", "custom"])
def test_bound_shapes_agree_with_bounds_expanded_by_hand(make, shape_kind, method):
    net = make()
    if method == "custom":  # zbox on the first linear layer only, as a custom composite
        method = {index: ("zbox" if index == net.linear_indices[0] else "epsilon") for index in net.linear_indices}
    x = np.random.default_rng(0).uniform(-1, 1.5, size=(2, 3, 4, 4)).astype(np.float32)
    low, high = by_hand(LOW), by_hand(HIGH)
    if shape_kind == "scalar":
        given_low, given_high, low, high = -1.0, 2.0, np.full((3, 4, 4), -1.0), np.full((3, 4, 4), 2.0)
    else:
        given_low, given_high = {"channels": (LOW, HIGH), "sample": (low, high),
                                 "flat": (low.reshape(-1), high.reshape(-1))}[shape_kind]
    result = explain(net, x, target=1, method=method, low=given_low, high=given_high).relevance
    expected = explain(net, x, target=1, method=method, low=low, high=high).relevance
    np.testing.assert_allclose(result, expected, rtol=1e-6, atol=1e-7)
    assert np.isfinite(result).all()


def test_per_channel_bounds_on_a_dense_first_layer_match_the_formula():
    net = dense_first()
    x = np.random.default_rng(1).uniform(-1, 1.5, size=(1, 3, 4, 4)).astype(np.float32)
    result = explain(net, x, target=0, method="epsilon-gamma-box", low=LOW, high=HIGH).relevance[0]
    np.testing.assert_allclose(result, zbox_literal(net, x, by_hand(LOW), by_hand(HIGH), 0), rtol=1e-4, atol=1e-6)


@pytest.mark.parametrize("bad", [np.zeros(2), np.zeros((3, 4)), np.zeros((2, 3, 4, 4)), np.zeros(47)])
def test_other_bound_shapes_are_a_parameter_error(bad):
    """Shapes that are neither (C,), one sample (flat or not) nor a scalar: one clear ParameterError."""
    net = dense_first()
    x = np.zeros((1, 3, 4, 4), np.float32)
    with pytest.raises(ParameterError, match=r"low: z-box bounds must be a number, 3 per-channel values"):
        explain(net, x, method="epsilon-gamma-box", low=bad, high=1.0)


def test_flat_input_takes_one_sample_of_bounds():
    net = Network.from_spec({"input_shape": [5], "layers": [{"type": "dense", "in_features": 5, "out_features": 2}]},
                            seed=0)
    x = np.ones((1, 5), np.float32)
    low = np.linspace(-1, 0, 5)
    result = explain(net, x, target=0, method="zbox", low=low, high=2.0).relevance
    assert result.shape == (1, 5) and np.isfinite(result).all()
    with pytest.raises(ParameterError, match=r"one sample's shape \(5,\); got shape \(3,\)"):
        explain(net, x, method="zbox", low=np.zeros(3), high=2.0)


def test_array_bounds_on_a_hidden_layer_are_a_parameter_error():
    """The rule zbox on every layer: input-shaped bounds cannot bound a hidden layer's input."""
    net = dense_first()
    with pytest.raises(ParameterError, match=r"zbox bounds of shape \(3, 4, 4\) do not fit this layer's input"):
        explain(net, np.zeros((1, 3, 4, 4), np.float32), method="zbox", low=LOW, high=HIGH)
