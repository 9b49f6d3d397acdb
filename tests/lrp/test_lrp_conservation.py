"""Conservation (sum of relevance per stage = explained logit) and LRP-0 = gradient x input."""

from __future__ import annotations

import numpy as np
import pytest

from lrp_studio.backend import to_numpy
from lrp_studio.lrp import explain, explain_neuron, make_rule
from lrp_studio.lrp.baselines import gradient_x_input
from lrp_studio.lrp.params import MIN_EPSILON
from lrp_studio.lrp.propagate import one_hot_start, propagate


def zero_bias_state(twins, arch, seed):
    net = twins.build(arch, None, np, float64=False, seed=seed)
    state = twins.random_state(net, seed)
    return {k: (np.zeros_like(v) if k.endswith("bias") else v) for k, v in state.items()}


def avgpool_cnn_arch():
    return {
        "input_shape": [1, 8, 8],
        "layers": [
            {"type": "conv2d", "in_channels": 1, "out_channels": 3, "kernel_size": 3, "stride": 1, "padding": 1},
            {"type": "relu"},
            {"type": "avgpool2d", "kernel_size": 2, "stride": 2},
            {"type": "conv2d", "in_channels": 3, "out_channels": 2, "kernel_size": 3, "stride": 2, "padding": 1},
            {"type": "relu"},
            {"type": "flatten"},
            {"type": "dense", "in_features": 8, "out_features": 4},
        ],
    }


ARCHS = {"cnn": lambda t: t.cnn_arch(), "mlp": lambda t: t.mlp_arch(), "avgpool-cnn": lambda t: avgpool_cnn_arch()}


def positive_logit_inputs(net, shape, rng, n=3):
    """Inputs whose predicted logit is clearly positive (so relative checks are meaningful)."""
    xs = []
    while len(xs) < n:
        x = rng.uniform(-1.0, 2.0, size=(16,) + tuple(shape)).astype(np.float32)
        logits = net.predict(x)
        xs.extend(x[logits.max(axis=1) > 0.2])
    return np.stack(xs[:n])


@pytest.mark.parametrize("kind", list(ARCHS))
def test_lrp0_without_bias_conserves_at_every_stage(backend, twins, kind):
    arch = ARCHS[kind](twins)
    net = twins.build(arch, zero_bias_state(twins, arch, 1), backend, float64=False)
    x = positive_logit_inputs(net, arch["input_shape"], np.random.default_rng(0))
    report = explain(net, x, method="lrp0").conservation()
    assert report.sums.shape == (len(arch["layers"]) + 1, len(x))
    np.testing.assert_allclose(report.sums, np.broadcast_to(report.explained, report.sums.shape), rtol=1e-4)
    np.testing.assert_allclose(report.ratio(), 1.0, rtol=1e-4)
    np.testing.assert_allclose(report.absorbed, 0.0, atol=1e-4 * np.abs(report.explained).max())


def epsilon_gap_bound(net, trace, stages, eps):
    """Per sample (N,): the most relevance the stabiliser can absorb on a bias-free network.

    A bias-free dense/conv layer with the epsilon rule passes on sum_k z_k R_k / stab(z_k), so it
    loses sum_k R_k eps s(z_k) / stab(z_k), at most eps * sum_k |R_k| / (|z_k| + eps).
    """
    n = trace.output.shape[0]
    bound = np.zeros(n)
    for index in net.linear_indices:
        z = to_numpy(trace.inputs[index + 1]).reshape(n, -1)
        r = to_numpy(stages[index + 1]).reshape(n, -1)
        bound += eps * (np.abs(r) / (np.abs(z) + eps)).sum(axis=1)
    return bound


@pytest.mark.parametrize("kind", list(ARCHS))
def test_lrp0_without_bias_conserves_float64(backend, twins, kind):
    arch = ARCHS[kind](twins)
    net = twins.build(arch, zero_bias_state(twins, arch, 2), backend)
    x = positive_logit_inputs(net, arch["input_shape"], np.random.default_rng(1)).astype(np.float64)
    trace = net.trace(backend.asarray(x))
    targets = trace.output.argmax(axis=1)
    logit = to_numpy(trace.output)[np.arange(len(x)), to_numpy(targets)]
    rules = {i: make_rule("lrp0") for i in net.linear_indices}
    stages = propagate(net, trace, one_hot_start(trace.output, targets), rules)
    for stage in stages:
        np.testing.assert_allclose(to_numpy(stage).reshape(len(x), -1).sum(axis=1), logit, rtol=2e-5)
    # the smallest epsilon the API allows: every stage's sum is the logit up to what eps can absorb
    eps = MIN_EPSILON
    tight = propagate(net, trace, one_hot_start(trace.output, targets),
                      {i: make_rule("epsilon", epsilon=eps) for i in net.linear_indices})
    bound = epsilon_gap_bound(net, trace, tight, eps)
    assert (bound < 1e-7 * np.abs(logit)).all()  # the bound itself is tiny: the check is strict
    for stage in tight:
        gap = np.abs(to_numpy(stage).reshape(len(x), -1).sum(axis=1) - logit)
        if kind == "avgpool-cnn":  # average pooling keeps its own 1e-6 stabiliser
            np.testing.assert_allclose(gap, 0.0, atol=2e-5 * np.abs(logit).max())
        else:
            assert (gap <= bound + 1e-12 * np.abs(logit)).all(), (gap, bound)


def test_biases_absorb_relevance(backend, twins):
    """With biases LRP-0 is not conservative in general: the report shows where it went."""
    arch = twins.mlp_arch()
    net = twins.build(arch, None, backend, float64=False, seed=3)
    report = explain(net, np.random.default_rng(0).uniform(-1, 2, (4, 10)), method="lrp0").conservation()
    assert np.abs(report.absorbed).max() > 1e-3
    np.testing.assert_allclose(report.sums[-1], report.explained, rtol=1e-6)
    np.testing.assert_allclose(report.sums[0], report.sums[-1] - report.absorbed.sum(axis=0), rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("kind", list(ARCHS))
def test_gradient_x_input_equals_lrp0_without_bias(backend, twins, kind):
    arch = ARCHS[kind](twins)
    net = twins.build(arch, zero_bias_state(twins, arch, 4), backend)
    x = positive_logit_inputs(net, arch["input_shape"], np.random.default_rng(2)).astype(np.float64)
    xb = backend.asarray(x)
    trace = net.trace(xb)
    targets = trace.output.argmax(axis=1)
    gxi = to_numpy(gradient_x_input(net, xb, targets))
    assert gxi.dtype == np.float64
    start = one_hot_start(trace.output, targets)
    gaps = {eps: np.abs(to_numpy(propagate(net, trace, start, {i: make_rule("epsilon", epsilon=eps)
                                                                 for i in net.linear_indices})[0]) - gxi)
            for eps in (1e-6, MIN_EPSILON)}
    scale = np.abs(gxi).max()
    if kind == "avgpool-cnn":  # average pooling divides by stab(window mean): only close, not equal
        np.testing.assert_allclose(gaps[MIN_EPSILON], 0.0, atol=1e-4 * scale)
    else:
        # LRP-epsilon differs from gradient x input only through eps: the difference is 1e-8 of the
        # relevance at eps = 1e-9 and shrinks in proportion to eps (1000x smaller than at 1e-6)
        assert gaps[MIN_EPSILON].max() <= 1e-7 * scale
        assert (gaps[MIN_EPSILON] <= 1.1e-3 * gaps[1e-6] + 1e-13 * scale).all()
    lrp0 = propagate(net, trace, one_hot_start(trace.output, targets),
                     {i: make_rule("lrp0") for i in net.linear_indices})[0]
    twins.assert_close(lrp0, gxi, rtol=1e-2 if kind == "avgpool-cnn" else 1e-4, atol_scale=1e-4)
    # and through the public API (float32)
    net32 = twins.build(arch, zero_bias_state(twins, arch, 4), backend, float64=False)
    exp_lrp = explain(net32, x, method="lrp0")
    exp_gxi = explain(net32, x, method="gradient-x-input")
    twins.assert_close(exp_lrp.relevance, exp_gxi.relevance, rtol=1e-3, atol_scale=1e-4)


@pytest.mark.parametrize("kind", ["cnn", "mlp"])
def test_explain_neuron_starts_at_unit_activation_and_conserves(backend, twins, kind):
    arch = ARCHS[kind](twins)
    net = twins.build(arch, zero_bias_state(twins, arch, 5), backend, float64=False)
    x = np.random.default_rng(3).uniform(0, 1, size=(2,) + tuple(arch["input_shape"])).astype(np.float32)
    trace_acts = [to_numpy(a) for a in net.trace(net.prepare_input(x)).inputs]
    stage = 2  # output of the first ReLU
    acts = trace_acts[stage].reshape(2, -1)
    unit = int(np.argmax(acts.min(axis=0)))  # a unit alive in both samples
    assert (acts[:, unit] > 0).all()
    exp = explain_neuron(net, x, stage, unit, method="lrp0")
    start = exp.layers[stage].relevance.reshape(2, -1)
    expected = np.zeros_like(start)
    expected[:, unit] = acts[:, unit]
    np.testing.assert_array_equal(start, expected)
    for record in exp.layers[stage + 1:]:
        assert record.relevance is None
    sums = exp.conservation().sums
    assert np.isnan(sums[stage + 1:]).all()
    for s in range(stage + 1):
        np.testing.assert_allclose(sums[s], acts[:, unit], rtol=1e-4)
    assert exp.relevance.shape == x.shape


def test_explain_neuron_on_conv_map_and_deeper_stage(backend, twins):
    arch = twins.cnn_arch()
    net = twins.build(arch, zero_bias_state(twins, arch, 6), backend, float64=False)
    x = np.random.default_rng(4).uniform(0, 1, size=(1, 2, 8, 8)).astype(np.float32)
    acts = [to_numpy(a) for a in net.trace(net.prepare_input(x)).inputs]
    stage = 5  # output of the second conv's ReLU, shape (4, 2, 2)
    c, i, j = np.unravel_index(int(np.argmax(acts[stage][0])), acts[stage][0].shape)
    unit = int(c * 4 + i * 2 + j)
    exp = explain_neuron(net, x, stage, unit, method="lrp0")
    assert exp.layers[stage].relevance[0, c, i, j] == acts[stage][0, c, i, j]
    assert np.count_nonzero(exp.layers[stage].relevance) == 1
    np.testing.assert_allclose(exp.conservation().sums[:stage + 1, 0], acts[stage][0, c, i, j], rtol=1e-4)
