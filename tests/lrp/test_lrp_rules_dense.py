"""Fast dense-layer rules vs their slow formula-literal twins (DESIGN.md 3.3), float64."""

from __future__ import annotations

import numpy as np
import pytest

from lrp_studio.backend import to_numpy
from lrp_studio.lrp import explain, make_rule, stabilize
from lrp_studio.lrp.propagate import layer_context

N_IN, N_OUT = 7, 5


def dense_arch(n_in: int = N_IN, n_out: int = N_OUT) -> dict:
    return {"input_shape": [n_in], "layers": [{"type": "dense", "in_features": n_in, "out_features": n_out}]}


def twin_batch(twins, name, params, x, weight, bias, relevance, use_bias, low=None, high=None):
    fields = twins.dense_fields(weight)
    return np.stack([
        twins.rule_twin(name, params, x[n], fields, bias, relevance[n], use_bias, low, high) for n in range(len(x))
    ])


@pytest.mark.parametrize("use_bias", [True, False], ids=["bias", "nobias"])
@pytest.mark.parametrize("inputs", ["mixed", "nonneg"])
def test_dense_rule_matches_twin(backend, twins, rule_case, use_bias, inputs):
    name, raw = rule_case
    rng = np.random.default_rng(11)
    net = twins.build(dense_arch(), None, backend, seed=3)
    weight, bias = (to_numpy(net.layers[0].params[k]) for k in ("weight", "bias"))
    x = rng.normal(0.0, 1.0, size=(4, N_IN))
    if inputs == "nonneg":
        x = np.abs(x)
    else:
        assert (x < 0).any() and (x > 0).any()
    trace = net.trace(backend.asarray(x))
    z = to_numpy(trace.output)
    assert (z > 0).any() and (z < 0).any(), "the test needs outputs of both signs"
    relevance = rng.normal(0.0, 1.0, size=z.shape)

    params = twins.rule_params(raw, N_IN)
    ctx = layer_context(net, trace, 0, bias=use_bias)
    fast = make_rule(name, **params)(ctx, backend.asarray(relevance))
    assert fast.dtype == np.float64

    low = high = None
    if name == "zbox":
        low, high = (twins.bounds_per_input(params[k], (N_IN,)) for k in ("low", "high"))
    expected = twin_batch(twins, name, params, x, weight, bias, relevance, use_bias, low, high)
    twins.assert_close(fast, expected, rtol=1e-10)


def test_dense_explain_single_layer_matches_twin(backend, twins, rule_case):
    """Through explain(): float32, relevance starting at the target logit."""
    name, raw = rule_case
    rng = np.random.default_rng(2)
    net = twins.build(dense_arch(), None, backend, float64=False, seed=4)
    weight, bias = (to_numpy(net.layers[0].params[k]).astype(np.float64) for k in ("weight", "bias"))
    x = rng.normal(0.0, 1.0, size=(3, N_IN)).astype(np.float32)
    params = twins.rule_params(raw, N_IN)
    exp = explain(net, x, target=[0, 2, 4], method=name, **params)
    assert exp.relevance.shape == x.shape and exp.relevance.dtype == np.float32
    start = np.zeros((3, N_OUT))
    start[np.arange(3), [0, 2, 4]] = exp.logits[np.arange(3), [0, 2, 4]]
    low = high = None
    if name == "zbox":
        low, high = (twins.bounds_per_input(params[k], (N_IN,)) for k in ("low", "high"))
    expected = twin_batch(twins, name, params, x.astype(np.float64), weight, bias, start, True, low, high)
    twins.assert_close(exp.relevance, expected, rtol=2e-4, atol_scale=2e-5)


@pytest.mark.parametrize("eps", [1e-6, 0.25])
def test_stabilizer_sign_of_zero_is_plus(backend, eps):
    z = backend.asarray(np.array([0.0, -0.0, 2.0, -2.0, 1e-9, -1e-9]))
    got = to_numpy(stabilize(z, eps))
    np.testing.assert_array_equal(got, [eps, eps, 2.0 + eps, -2.0 - eps, 1e-9 + eps, -1e-9 - eps])


def test_lrp0_zero_denominator_uses_plus_eps(backend, twins):
    """z_k = 0 exactly: R_j = x_j w_jk R_k / (+1e-6)."""
    net = twins.build(dense_arch(2, 1), {"0.weight": np.array([[1.0, -1.0]]), "0.bias": np.array([0.0])}, backend)
    x = backend.asarray(np.array([[1.0, 1.0]]))
    trace = net.trace(x)
    assert float(to_numpy(trace.output)[0, 0]) == 0.0
    got = to_numpy(make_rule("lrp0")(layer_context(net, trace, 0), backend.asarray(np.array([[1.0]]))))
    np.testing.assert_allclose(got, [[1e6, -1e6]], rtol=1e-12)


def test_gamma_zero_output_gets_nothing_and_negative_outputs_use_w_minus(backend, twins):
    """Unit 0: z = 0 with non-zero weights -> no relevance; unit 1: z < 0; unit 2: z > 0."""
    weight = np.array([[1.0, -1.0, 0.0], [0.5, -2.0, 0.3], [1.0, 0.5, -0.25]])
    bias = np.array([0.0, 0.1, -0.2])
    net = twins.build(dense_arch(3, 3), {"0.weight": weight, "0.bias": bias}, backend)
    x = np.array([[1.0, 1.0, -2.0]])
    trace = net.trace(backend.asarray(x))
    z = to_numpy(trace.output)[0]
    assert z[0] == 0.0 and z[1] < 0 and z[2] > 0
    ctx = layer_context(net, trace, 0)
    for gamma in (0.25, 1.0):
        rule = make_rule("gamma", gamma=gamma)
        only_zero = to_numpy(rule(ctx, backend.asarray(np.array([[5.0, 0.0, 0.0]]))))
        np.testing.assert_array_equal(only_zero, 0.0)
        relevance = np.array([[5.0, -1.5, 2.0]])
        expected = twin_batch(twins, "gamma", {"gamma": gamma}, x, weight, bias, relevance, True)
        twins.assert_close(rule(ctx, backend.asarray(relevance)), expected)
        # literal values for the negative unit 1: x+ (w + g w-) + x- (w + g w+), den + b + g b-
        num = [1.0 * (0.5 + 0), 1.0 * (-2.0 + gamma * -2.0), -2.0 * (0.3 + gamma * 0.3)]
        den = sum(num) + 0.1 + 0.0
        unit1 = to_numpy(rule(ctx, backend.asarray(np.array([[0.0, -1.5, 0.0]]))))[0]
        np.testing.assert_allclose(unit1, np.array(num) * -1.5 / (den + 1e-6 * np.sign(den)), rtol=1e-12)


def test_zplus_equals_alpha1_beta0(backend, twins):
    net = twins.build(dense_arch(), None, backend, seed=8)
    x = np.random.default_rng(0).normal(size=(3, N_IN))
    trace = net.trace(backend.asarray(x))
    ctx = layer_context(net, trace, 0)
    relevance = backend.asarray(np.random.default_rng(1).normal(size=(3, N_OUT)))
    twins.assert_close(make_rule("zplus")(ctx, relevance),
                       to_numpy(make_rule("alphabeta", alpha=1, beta=0)(ctx, relevance)))


@pytest.mark.parametrize("name", ["lrp0", "epsilon", "zplus", "alphabeta", "gamma", "wsquare", "flat", "zbox"])
def test_bias_flag_only_changes_rules_that_use_the_bias(backend, twins, name):
    net = twins.build(dense_arch(), None, backend, seed=9)
    x = np.random.default_rng(3).normal(size=(2, N_IN))
    trace = net.trace(backend.asarray(x))
    relevance = backend.asarray(np.random.default_rng(4).normal(size=(2, N_OUT)))
    rule = make_rule(name)
    with_bias = to_numpy(rule(layer_context(net, trace, 0, bias=True), relevance))
    without = to_numpy(rule(layer_context(net, trace, 0, bias=False), relevance))
    if name in ("flat", "zbox"):
        np.testing.assert_array_equal(with_bias, without)
    else:
        assert not np.allclose(with_bias, without)


@pytest.mark.parametrize("low, high", [
    ([0.0, -1.0, 0.0, -0.5, 0.0, 0.0, -2.0], [1.0] * 7),
    ([-1.0] * 7, [1.0, 0.0, 2.0, 0.0, 0.5, 0.0, 1.0]),
    ([0.5, -0.5, 0.0, 0.0, 0.0, 0.0, 0.0], [1.0, 0.0, 1.0, 0.0, 0.0, 0.0, 0.0]),
], ids=["low-zeros", "high-zeros", "both-with-zeros"])
def test_zbox_per_feature_bounds_with_zeros_match_twin(backend, twins, low, high):
    net = twins.build(dense_arch(), None, backend, seed=5)
    weight, bias = (to_numpy(net.layers[0].params[k]) for k in ("weight", "bias"))
    x = np.random.default_rng(6).normal(size=(3, N_IN))
    trace = net.trace(backend.asarray(x))
    relevance = np.random.default_rng(7).normal(size=(3, N_OUT))
    low, high = np.array(low), np.array(high)
    fast = make_rule("zbox", low=low, high=high)(layer_context(net, trace, 0), backend.asarray(relevance))
    expected = twin_batch(twins, "zbox", {}, x, weight, bias, relevance, True, low, high)
    twins.assert_close(fast, expected, rtol=1e-10)
