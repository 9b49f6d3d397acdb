"""Losses: formulas, the notes' dL/dz = a - y, numerical stability, accuracy and softmax."""

from __future__ import annotations

import numpy as np
import pytest

from lrp_studio.backend import to_numpy
from lrp_studio.errors import ParameterError
from lrp_studio.nn.losses import LOSSES, accuracy, get_loss, one_hot, softmax


def _sigmoid(z):
    return 1.0 / (1.0 + np.exp(-z))


def test_loss_registry_names():
    assert set(LOSSES) == {"cross-entropy", "bce", "mse"}
    with pytest.raises(ParameterError):
        get_loss("hinge")


def test_bce_gradient_is_a_minus_y_over_n(backend):
    rng = np.random.default_rng(0)
    z = rng.standard_normal((8, 1)) * 3
    y = rng.integers(0, 2, 8)
    loss, grad = get_loss("bce")(backend.asarray(z), backend.asarray(y))
    a = _sigmoid(z[:, 0])
    np.testing.assert_allclose(to_numpy(grad)[:, 0], (a - y) / 8, rtol=1e-10, atol=1e-12)
    expected_loss = np.mean(-y * np.log(a) - (1 - y) * np.log(1 - a))  # the notes' L(a, y), averaged (J)
    assert loss == pytest.approx(expected_loss, rel=1e-10)
    assert isinstance(loss, float)


def test_bce_keeps_float32(backend):
    z = backend.asarray(np.array([[0.3], [-2.0]], np.float32))
    _, grad = get_loss("bce")(z, backend.asarray(np.array([1, 0])))
    assert grad.dtype == np.float32 and grad.shape == (2, 1)


def test_bce_is_stable_for_huge_logits(backend):
    z = backend.asarray(np.array([[1000.0], [-1000.0], [1000.0], [-1000.0]], np.float32))
    y = backend.asarray(np.array([1, 0, 0, 1]))
    with np.errstate(over="raise", invalid="raise", divide="raise"):
        loss, grad = get_loss("bce")(z, y)
    assert np.isfinite(loss)
    assert loss == pytest.approx((0 + 0 + 1000 + 1000) / 4, rel=1e-6)  # -log(sigmoid(-1000)) = 1000
    np.testing.assert_allclose(to_numpy(grad)[:, 0], np.array([0, 0, 1, -1]) / 4, atol=1e-7)


def test_bce_requires_one_output(backend):
    with pytest.raises(ParameterError):
        get_loss("bce")(backend.zeros((3, 2), dtype=np.float32), backend.asarray(np.array([0, 1, 0])))


def test_cross_entropy_formula(backend):
    rng = np.random.default_rng(1)
    logits = rng.standard_normal((5, 4)) * 2
    labels = np.array([0, 3, 1, 1, 2])
    loss, grad = get_loss("cross-entropy")(backend.asarray(logits), backend.asarray(labels))
    p = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    assert loss == pytest.approx(-np.mean(np.log(p[np.arange(5), labels])), rel=1e-10)
    onehot = np.eye(4)[labels]
    np.testing.assert_allclose(to_numpy(grad), (p - onehot) / 5, rtol=1e-10, atol=1e-12)


def test_cross_entropy_is_stable_for_logits_like_1000(backend):
    logits = np.array([[1000.0, 0.0, -1000.0], [1000.0, 1000.0, 0.0], [-1000.0, 0.0, 1000.0]], np.float32)
    labels = np.array([0, 1, 0])
    with np.errstate(over="raise", invalid="raise", divide="raise"):
        loss, grad = get_loss("cross-entropy")(backend.asarray(logits), backend.asarray(labels))
    grad = to_numpy(grad)
    assert np.isfinite(loss) and np.all(np.isfinite(grad))
    # sample 0: correct and certain -> 0; sample 1: two equal top logits -> log 2; sample 2: 2000 below the top
    assert loss == pytest.approx((0.0 + np.log(2.0) + 2000.0) / 3, rel=1e-5)
    np.testing.assert_allclose(grad[0], [0, 0, 0], atol=1e-7)
    np.testing.assert_allclose(grad[1], np.array([0.5, -0.5, 0]) / 3, atol=1e-6)
    np.testing.assert_allclose(grad[2], np.array([-1, 0, 1]) / 3, atol=1e-6)


def test_cross_entropy_is_shift_invariant(backend):
    rng = np.random.default_rng(2)
    logits = rng.standard_normal((4, 3)).astype(np.float32)
    labels = backend.asarray(np.array([2, 0, 1, 1]))
    loss_a, grad_a = get_loss("cross-entropy")(backend.asarray(logits), labels)
    loss_b, grad_b = get_loss("cross-entropy")(backend.asarray(logits + 1000), labels)
    assert loss_a == pytest.approx(loss_b, abs=1e-3)
    np.testing.assert_allclose(to_numpy(grad_a), to_numpy(grad_b), atol=1e-3)


def test_mse_formula_with_integer_labels(backend):
    rng = np.random.default_rng(3)
    out = rng.standard_normal((6, 3))
    labels = np.array([0, 1, 2, 2, 1, 0])
    loss, grad = get_loss("mse")(backend.asarray(out), backend.asarray(labels))
    target = np.eye(3)[labels]
    assert loss == pytest.approx(((out - target) ** 2).sum() / (2 * 6), rel=1e-10)  # 1/(2N) sum (out - t)^2
    np.testing.assert_allclose(to_numpy(grad), (out - target) / 6, rtol=1e-10)


def test_mse_formula_with_float_targets(backend):
    rng = np.random.default_rng(4)
    out, target = rng.standard_normal((4, 2)), rng.uniform(0, 1, (4, 2))
    loss, grad = get_loss("mse")(backend.asarray(out), backend.asarray(target))
    assert loss == pytest.approx(((out - target) ** 2).sum() / 8, rel=1e-10)
    np.testing.assert_allclose(to_numpy(grad), (out - target) / 4, rtol=1e-10)


def test_mse_with_a_single_output_uses_the_label_as_target(backend):
    out = np.array([[0.2], [0.9], [-0.5]])
    labels = np.array([0, 1, 1])
    loss, grad = get_loss("mse")(backend.asarray(out), backend.asarray(labels))
    diff = out[:, 0] - labels
    assert loss == pytest.approx((diff**2).sum() / 6, rel=1e-10)
    np.testing.assert_allclose(to_numpy(grad)[:, 0], diff / 3, rtol=1e-10)


def test_one_hot(backend):
    np.testing.assert_array_equal(to_numpy(one_hot(backend.asarray(np.array([2, 0])), 3)), [[0, 0, 1], [1, 0, 0]])


def test_softmax_rows_sum_to_one_and_order_is_kept(backend):
    logits = np.array([[1.0, 2.0, 3.0], [1000.0, -1000.0, 0.0]], np.float32)
    p = to_numpy(softmax(backend.asarray(logits)))
    np.testing.assert_allclose(p.sum(axis=1), [1, 1], rtol=1e-6)
    e = np.exp([1.0, 2.0, 3.0])
    np.testing.assert_allclose(p[0], e / e.sum(), rtol=1e-6)
    np.testing.assert_allclose(p[1], [1, 0, 0], atol=1e-7)


def test_accuracy_argmax_and_single_output(backend):
    out = backend.asarray(np.array([[0.1, 0.9], [0.8, 0.2], [0.3, 0.7], [0.6, 0.4]]))
    assert accuracy(out, backend.asarray(np.array([1, 0, 0, 0]))) == pytest.approx(0.75)
    single = backend.asarray(np.array([[2.0], [-1.0], [0.5], [-0.1]]))
    assert accuracy(single, backend.asarray(np.array([1, 0, 0, 0]))) == pytest.approx(0.75)
