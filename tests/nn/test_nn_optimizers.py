"""Optimizers: one and two steps against the update formulas written out by hand."""

from __future__ import annotations

import numpy as np
import pytest

from lrp_studio.backend import to_numpy
from lrp_studio.errors import ParameterError
from lrp_studio.nn.optimizers import OPTIMIZERS, Adam, Momentum, make_optimizer


def _setup(backend, seed=0):
    rng = np.random.default_rng(seed)
    w0 = rng.standard_normal((3, 4)).astype(np.float32)
    g1 = rng.standard_normal((3, 4)).astype(np.float32)
    g2 = rng.standard_normal((3, 4)).astype(np.float32)
    return w0, g1, g2


def test_sgd_step(backend):
    w0, g1, g2 = _setup(backend)
    param = backend.asarray(w0.copy())
    opt = make_optimizer("sgd", 0.1)
    same = param
    opt.step("0.weight", param, backend.asarray(g1))
    assert param is same  # updated in place
    np.testing.assert_allclose(to_numpy(param), w0 - 0.1 * g1, rtol=1e-6)
    opt.step("0.weight", param, backend.asarray(g2))
    np.testing.assert_allclose(to_numpy(param), w0 - 0.1 * g1 - 0.1 * g2, rtol=1e-5, atol=1e-6)
    assert param.dtype == np.float32


def test_momentum_steps(backend):
    w0, g1, g2 = _setup(backend, 1)
    lr, mu = 0.05, 0.9
    param = backend.asarray(w0.copy())
    opt = make_optimizer("momentum", lr)
    assert isinstance(opt, Momentum) and opt.momentum == mu
    opt.step("k", param, backend.asarray(g1))
    v1 = g1.astype(np.float64)  # v <- mu * 0 + g
    w1 = w0 - lr * v1
    np.testing.assert_allclose(to_numpy(param), w1, rtol=1e-5, atol=1e-6)
    opt.step("k", param, backend.asarray(g2))
    v2 = mu * v1 + g2
    np.testing.assert_allclose(to_numpy(param), w1 - lr * v2, rtol=1e-5, atol=1e-6)


def test_momentum_keeps_separate_velocity_per_key(backend):
    w0, g1, g2 = _setup(backend, 2)
    a, b = backend.asarray(w0.copy()), backend.asarray(w0.copy())
    opt = make_optimizer("momentum", 0.1)
    gradient = backend.asarray(g1)
    opt.step("a", a, gradient)
    opt.step("b", b, backend.asarray(g2))
    opt.step("a", a, gradient)
    np.testing.assert_allclose(to_numpy(a), w0 - 0.1 * g1 - 0.1 * (0.9 * g1 + g1), rtol=1e-5, atol=1e-6)
    np.testing.assert_array_equal(to_numpy(gradient), g1)  # the velocity is not an alias of the gradient


def test_adam_steps(backend):
    w0, g1, g2 = _setup(backend, 3)
    lr, b1, b2, eps = 0.01, 0.9, 0.999, 1e-8
    param = backend.asarray(w0.copy())
    opt = make_optimizer("adam", lr)
    assert isinstance(opt, Adam)
    m = np.zeros_like(w0, dtype=np.float64)
    v = np.zeros_like(w0, dtype=np.float64)
    w = w0.astype(np.float64)
    for t, g in enumerate((g1, g2), start=1):
        opt.step("k", param, backend.asarray(g))
        m = b1 * m + (1 - b1) * g
        v = b2 * v + (1 - b2) * g * g
        m_hat = m / (1 - b1**t)
        v_hat = v / (1 - b2**t)
        w = w - lr * m_hat / (np.sqrt(v_hat) + eps)
        np.testing.assert_allclose(to_numpy(param), w, rtol=1e-5, atol=1e-6, err_msg=f"step {t}")
    assert param.dtype == np.float32


def test_adam_first_step_moves_every_weight_by_about_lr(backend):
    """Bias correction: after one step m_hat/sqrt(v_hat) = sign(g), so |dw| = lr."""
    w0, g1, _ = _setup(backend, 4)
    param = backend.asarray(w0.copy())
    make_optimizer("adam", 0.001).step("k", param, backend.asarray(g1))
    np.testing.assert_allclose(np.abs(to_numpy(param) - w0), 0.001, rtol=1e-3)


def test_make_optimizer_validation():
    assert set(OPTIMIZERS) == {"sgd", "momentum", "adam"}
    with pytest.raises(ParameterError):
        make_optimizer("rmsprop", 0.1)
    for lr in (0.0, -1.0, float("nan")):
        with pytest.raises(ParameterError):
            make_optimizer("sgd", lr)
