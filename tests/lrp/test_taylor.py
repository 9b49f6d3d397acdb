"""The ``taylor`` and ``taylor-segment`` methods: first-order Taylor decomposition at a root point (seed 004).

Hand-worked cases (a linear model, where the expansion is exact) pin the formula
R_p = (x - x~)_p * df/dx_p(x~) and both root searches; on a ReLU network the root really is a root,
the relevance is the product of the displacement and a finite-difference gradient at the root, and
the conservation gap (the notes' caveat: higher-order terms) is measured, not assumed away.
"""

from __future__ import annotations

import numpy as np
import pytest

import lrp_studio
from lrp_studio.backend import to_numpy
from lrp_studio.data import load_mnist_subset
from lrp_studio.errors import ParameterError
from lrp_studio.lrp import METHODS, explain, method_info
from lrp_studio.lrp.taylor import conservation_gap, gradient_root, segment_root, target_value_and_gradient

W = np.array([0.5, -1.0, 2.0, 0.25])
B = -0.75


def linear_net(twins, bias=B):
    """f(x) = w.x + b, one output (float64 parameters)."""
    arch = {"input_shape": [4], "layers": [{"type": "dense", "in_features": 4, "out_features": 1}]}
    return twins.build(arch, {"0.weight": W[None, :], "0.bias": np.array([bias])}, np, float64=True)


X = np.array([[1.0, 0.2, 1.5, 2.0]])   # w.x = 0.5 - 0.2 + 3 + 0.5 = 3.8, f = 3.05


def test_linear_gradient_root_by_hand(twins):
    net = linear_net(twins)
    fx = float(W @ X[0] + B)
    # the root along the gradient w: x~ = x - f(x) w / |w|^2, so R_p = f(x) w_p^2 / |w|^2 and sum R = f(x)
    expected = fx * W**2 / (W @ W)
    relevance = explain(net, X, method="taylor").relevance[0]
    np.testing.assert_allclose(relevance, expected, rtol=1e-5)
    assert relevance.sum() == pytest.approx(fx, rel=1e-5)


def test_linear_segment_root_by_hand(twins):
    net = linear_net(twins)
    # on the segment s x: f(s x) = s w.x + b = 0 at s = -b / w.x = 0.75 / 3.8; R_p = (1 - s) x_p w_p
    s = -B / float(W @ X[0])
    relevance = explain(net, X, method="taylor-segment").relevance[0]
    np.testing.assert_allclose(relevance, (1 - s) * X[0] * W, rtol=1e-5)
    assert relevance.sum() == pytest.approx(float(W @ X[0] + B), rel=1e-5)


def test_segment_without_sign_change_uses_the_reference(twins):
    """f(0) = b > 0 and f(x) > 0: no root on the segment, the zero input is the point; the gap is f(0)."""
    net = linear_net(twins, bias=0.5)
    relevance = explain(net, X, method="taylor-segment").relevance[0]
    np.testing.assert_allclose(relevance, X[0] * W, rtol=1e-5)   # (x - 0) * w
    gap = conservation_gap(net, net.prepare_input(X), relevance[None], np.zeros(1, np.int64))
    assert gap[0] == pytest.approx(-0.5, rel=1e-5)


@pytest.fixture(scope="module")
def mlp_batch():
    net = lrp_studio.load_model("mlp")
    x = net.prepare_input(load_mnist_subset("test").x[:12])
    return net, x, net.forward(x).argmax(axis=1)


@pytest.mark.parametrize("find", [gradient_root, segment_root])
def test_roots_are_roots_on_the_bundled_mlp(mlp_batch, find):
    net, x, targets = mlp_batch
    f_x, _ = target_value_and_gradient(net, x, targets)
    root = find(net, x, targets)
    f_root, _ = target_value_and_gradient(net, root, targets)
    ratio = np.abs(to_numpy(f_root)) / np.abs(to_numpy(f_x))
    assert np.median(ratio) < 1e-4
    assert not np.allclose(to_numpy(root), to_numpy(x))


def test_relevance_is_displacement_times_finite_difference_gradient(mlp_batch):
    """R_p = (x - x~)_p * df/dx_p(x~), the gradient checked by central differences on a few pixels."""
    net, x, targets = mlp_batch
    x1, t1 = x[:1], targets[:1]
    root = gradient_root(net, x1, t1)
    relevance = explain(net, to_numpy(x1), target=int(t1[0]), method="taylor").relevance.reshape(-1)
    displacement = to_numpy(x1 - root).reshape(-1)
    pixels = np.argsort(-np.abs(displacement))[:5]
    r64 = to_numpy(root).astype(np.float64).reshape(-1)
    for p in pixels:
        h = 1e-3
        plus, minus = r64.copy(), r64.copy()
        plus[p] += h
        minus[p] -= h
        values = np.asarray(net.forward(np.stack([plus, minus]).reshape((2,) + net.input_shape).astype(np.float32)))
        grad = (float(values[0, int(t1[0])]) - float(values[1, int(t1[0])])) / (2 * h)
        assert relevance[p] == pytest.approx(displacement[p] * grad, rel=2e-2, abs=1e-4)


def test_conservation_gap_is_reported_and_not_zero(mlp_batch):
    """The notes' caveat, measured: a single expansion on a ReLU network does not conserve f(x)."""
    net, x, targets = mlp_batch
    exp = explain(net, to_numpy(x), method="taylor", keep_layers=False)
    gap = conservation_gap(net, x, exp.relevance, targets)
    np.testing.assert_allclose(gap, exp.conservation().input_sum - exp.explained, rtol=1e-5, atol=1e-4)
    assert np.median(np.abs(gap) / np.abs(exp.explained)) > 1e-3


def test_registered_everywhere_methods_are():
    for name in ("taylor", "taylor-segment"):
        assert name in METHODS
        info = method_info(name)
        assert info.kind == "baseline" and not info.uses_bias
    assert [p.name for p in method_info("taylor").params] == ["iterations"]
    assert method_info("taylor-segment").params == ()


def test_iterations_is_validated(twins):
    net = linear_net(twins)
    with pytest.raises(ParameterError, match="iterations"):
        explain(net, X, method="taylor", iterations=0)
    with pytest.raises(ParameterError, match="does not take"):
        explain(net, X, method="taylor", epsilon=0.1)
