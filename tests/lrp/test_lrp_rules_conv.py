"""Fast conv-layer and pooling relevance vs slow loop twins (DESIGN.md 3.3), float64."""

from __future__ import annotations

import numpy as np
import pytest

from lrp_studio.backend import to_numpy
from lrp_studio.lrp import explain, make_rule
from lrp_studio.lrp.propagate import layer_context, relevance_through

IN_SHAPE = (2, 6, 7)  # non-square so that a transposed axis shows
OUT_C = 3
GEOMETRIES = [(3, 1, 0), (3, 1, 1), (3, 2, 0), (3, 2, 1), (2, 2, 1)]  # (kernel, stride, padding)


def conv_arch(kernel: int, stride: int, padding: int, in_shape=IN_SHAPE, out_c: int = OUT_C) -> dict:
    return {
        "input_shape": list(in_shape),
        "layers": [
            {"type": "conv2d", "in_channels": in_shape[0], "out_channels": out_c, "kernel_size": kernel,
             "stride": stride, "padding": padding},
            {"type": "flatten"},
        ],
    }


def conv_twin_batch(twins, name, params, x, weight, bias, relevance, stride, padding, use_bias):
    fields, channels, out_shape = twins.conv_fields(weight, x.shape[1:], stride, padding)
    biases = np.array([bias[o] for o in channels])
    low = high = None
    if name == "zbox":
        low, high = (twins.bounds_per_input(params[k], x.shape[1:]) for k in ("low", "high"))
    return np.stack([
        twins.rule_twin(name, params, x[n].reshape(-1), fields, biases, relevance[n].reshape(-1), use_bias,
                        low, high).reshape(x.shape[1:])
        for n in range(len(x))
    ])


@pytest.mark.parametrize("use_bias", [True, False], ids=["bias", "nobias"])
@pytest.mark.parametrize("geometry", GEOMETRIES, ids=[f"k{k}s{s}p{p}" for k, s, p in GEOMETRIES])
def test_conv_rule_matches_twin(backend, twins, rule_case, geometry, use_bias):
    name, raw = rule_case
    kernel, stride, padding = geometry
    rng = np.random.default_rng(21)
    net = twins.build(conv_arch(*geometry), None, backend, seed=6)
    weight, bias = (to_numpy(net.layers[0].params[k]) for k in ("weight", "bias"))
    x = rng.normal(0.0, 1.0, size=(2,) + IN_SHAPE)
    trace = net.trace(backend.asarray(x))
    z = to_numpy(trace.inputs[1])
    assert (z > 0).any() and (z < 0).any()
    relevance = rng.normal(0.0, 1.0, size=z.shape)

    params = twins.rule_params(raw, IN_SHAPE[0])  # per-channel bounds for zbox
    ctx = layer_context(net, trace, 0, bias=use_bias)
    fast = make_rule(name, **params)(ctx, backend.asarray(relevance))
    assert fast.shape == x.shape and fast.dtype == np.float64
    expected = conv_twin_batch(twins, name, params, x, weight, bias, relevance, stride, padding, use_bias)
    twins.assert_close(fast, expected, rtol=1e-10)


@pytest.mark.parametrize("name", ["zplus", "alphabeta", "gamma"])
def test_conv_rule_nonnegative_inputs(backend, twins, name):
    """All inputs >= 0 takes the rules' shortcut without the x- terms; same numbers as the twin."""
    rng = np.random.default_rng(5)
    net = twins.build(conv_arch(3, 1, 1), None, backend, seed=7)
    weight, bias = (to_numpy(net.layers[0].params[k]) for k in ("weight", "bias"))
    x = np.abs(rng.normal(size=(2,) + IN_SHAPE))
    trace = net.trace(backend.asarray(x))
    relevance = rng.normal(size=to_numpy(trace.inputs[1]).shape)
    fast = make_rule(name)(layer_context(net, trace, 0), backend.asarray(relevance))
    twins.assert_close(fast, conv_twin_batch(twins, name, {}, x, weight, bias, relevance, 1, 1, True))


def test_conv_explain_single_layer_matches_twin(backend, twins, rule_case):
    """Through explain() (float32) on a conv + flatten network with padding and stride 2."""
    name, raw = rule_case
    rng = np.random.default_rng(9)
    net = twins.build(conv_arch(3, 2, 1), None, backend, float64=False, seed=10)
    weight, bias = (to_numpy(net.layers[0].params[k]).astype(np.float64) for k in ("weight", "bias"))
    x = rng.normal(size=(2,) + IN_SHAPE).astype(np.float32)
    params = twins.rule_params(raw, IN_SHAPE[0])
    targets = [5, 17]
    exp = explain(net, x, target=targets, method=name, **params)
    start = np.zeros_like(exp.logits, dtype=np.float64)
    start[[0, 1], targets] = exp.logits[[0, 1], targets]
    expected = conv_twin_batch(twins, name, params, x.astype(np.float64), weight, bias,
                               start.reshape((2, OUT_C, 3, 4)), 2, 1, True)
    twins.assert_close(exp.relevance, expected, rtol=2e-4, atol_scale=2e-5)


def test_flat_on_padded_first_conv_counts_only_real_inputs(backend, twins):
    """Corner output of a 3x3 conv with padding 1 sees 2x2 real inputs per channel: each gets R/stab(C*4)."""
    arch = conv_arch(3, 1, 1, in_shape=(2, 4, 4), out_c=1)
    net = twins.build(arch, None, backend, seed=1)
    x = backend.asarray(np.random.default_rng(0).normal(size=(1, 2, 4, 4)))
    trace = net.trace(x)
    relevance = np.zeros((1, 1, 4, 4))
    relevance[0, 0, 0, 0] = 8.0
    got = to_numpy(make_rule("flat")(layer_context(net, trace, 0), backend.asarray(relevance)))
    expected = np.zeros((1, 2, 4, 4))
    expected[0, :, :2, :2] = 8.0 / (8 + 1e-6)
    np.testing.assert_allclose(got, expected, rtol=1e-12)
    # an inner output sees all 2 * 9 inputs
    relevance[:] = 0
    relevance[0, 0, 1, 2] = 9.0
    got = to_numpy(make_rule("flat")(layer_context(net, trace, 0), backend.asarray(relevance)))
    expected[:] = 0
    expected[0, :, 0:3, 1:4] = 9.0 / (18 + 1e-6)
    np.testing.assert_allclose(got, expected, rtol=1e-12)


@pytest.mark.parametrize("name", ["wsquare", "zbox", "lrp0"])
def test_padding_contributes_nothing(backend, twins, name):
    """Relevance stays on real inputs and is conserved (zero bias) at the padded corner."""
    arch = conv_arch(3, 1, 1, in_shape=(1, 3, 3), out_c=1)
    weight = np.arange(1.0, 10.0).reshape(1, 1, 3, 3) / 10
    net = twins.build(arch, {"0.weight": weight, "0.bias": np.zeros(1)}, backend)
    x = np.full((1, 1, 3, 3), 0.5)
    trace = net.trace(backend.asarray(x))
    relevance = np.zeros((1, 1, 3, 3))
    relevance[0, 0, 0, 0] = 1.0
    params = {"low": -1.0, "high": 1.0} if name == "zbox" else {}
    got = to_numpy(make_rule(name, **params)(layer_context(net, trace, 0), backend.asarray(relevance)))
    w_seen = weight[0, 0, 1:, 1:]  # kernel offsets that land on real inputs
    if name == "wsquare":
        expected = w_seen**2 / (w_seen**2).sum()
    elif name == "zbox":
        num = 0.5 * w_seen - (-1.0) * w_seen - 0.0
        expected = num / num.sum()
    else:
        expected = 0.5 * w_seen / (0.5 * w_seen).sum()
    np.testing.assert_allclose(got[0, 0, :2, :2], expected, rtol=1e-5)
    assert np.count_nonzero(got) == 4
    assert got.sum() == pytest.approx(1.0, rel=1e-5)


POOLS = [(2, 2, (3, 4, 6)), (2, 1, (2, 5, 5)), (3, 2, (2, 7, 8)), (3, 3, (2, 7, 7))]  # kernel, stride, input


@pytest.mark.parametrize("pool", POOLS, ids=[f"k{k}s{s}" for k, s, _ in POOLS])
def test_maxpool_winner_takes_all_with_first_tie(backend, twins, pool):
    kernel, stride, shape = pool
    arch = {"input_shape": list(shape), "layers": [
        {"type": "maxpool2d", "kernel_size": kernel, "stride": stride}, {"type": "flatten"}]}
    net = twins.build(arch, {}, backend)
    rng = np.random.default_rng(kernel * 10 + stride)
    x = rng.integers(-2, 2, size=(2,) + shape).astype(np.float64)  # many ties
    trace = net.trace(backend.asarray(x))
    out = to_numpy(trace.inputs[1])
    relevance = rng.normal(size=out.shape)
    got = to_numpy(relevance_through(net, trace, 0, backend.asarray(relevance), {}))
    expected = np.stack([twins.maxpool_twin(x[n], relevance[n], kernel, stride) for n in range(2)])
    np.testing.assert_allclose(got, expected, rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(got.sum(), relevance.sum(), rtol=1e-10)


def test_maxpool_tie_goes_to_first_in_row_major_order(backend, twins):
    arch = {"input_shape": [1, 2, 2], "layers": [{"type": "maxpool2d", "kernel_size": 2, "stride": 2},
                                                {"type": "flatten"}]}
    net = twins.build(arch, {}, backend)
    for window, winner in (([[1, 3], [3, 3]], (0, 1)), ([[0, 0], [0, 0]], (0, 0)), ([[0, 1], [2, 2]], (1, 0))):
        trace = net.trace(backend.asarray(np.array(window, dtype=np.float64)[None, None]))
        got = to_numpy(relevance_through(net, trace, 0, backend.asarray(np.array([[[[5.0]]]])), {}))
        expected = np.zeros((1, 1, 2, 2))
        expected[0, 0][winner] = 5.0
        np.testing.assert_array_equal(got, expected)


@pytest.mark.parametrize("pool", POOLS, ids=[f"k{k}s{s}" for k, s, _ in POOLS])
def test_avgpool_matches_twin(backend, twins, pool):
    kernel, stride, shape = pool
    arch = {"input_shape": list(shape), "layers": [
        {"type": "avgpool2d", "kernel_size": kernel, "stride": stride}, {"type": "flatten"}]}
    net = twins.build(arch, {}, backend)
    rng = np.random.default_rng(3)
    x = rng.normal(size=(2,) + shape)
    trace = net.trace(backend.asarray(x))
    relevance = rng.normal(size=to_numpy(trace.inputs[1]).shape)
    got = relevance_through(net, trace, 0, backend.asarray(relevance), {})
    expected = np.stack([twins.avgpool_twin(x[n], relevance[n], kernel, stride) for n in range(2)])
    twins.assert_close(got, expected)


@pytest.mark.parametrize("activation", ["relu", "sigmoid", "tanh", "flatten"])
def test_activations_pass_relevance_unchanged(backend, twins, activation):
    arch = {"input_shape": [2, 3, 3], "layers": [{"type": activation}, {"type": "flatten"}]}
    net = twins.build(arch, {}, backend)
    rng = np.random.default_rng(0)
    trace = net.trace(backend.asarray(rng.normal(size=(2, 2, 3, 3))))
    relevance = rng.normal(size=to_numpy(trace.inputs[1]).shape)
    got = to_numpy(relevance_through(net, trace, 0, backend.asarray(relevance), {}))
    np.testing.assert_array_equal(got.reshape(-1), relevance.reshape(-1))
    assert got.shape == (2, 2, 3, 3)


# Per-channel z-box bounds that contain a zero: the rule skips a bound's products only when the whole
# bound is 0, so a zero channel next to non-zero ones must still take every term.
ZERO_CHANNEL_BOUNDS = [
    ((0.0, -1.0, 0.0), (1.0, 1.0, 1.0)),
    ((-1.0, -1.0, -1.0), (1.0, 0.0, 2.0)),
    ((0.5, -0.5, 0.0), (1.0, 0.0, 2.0)),  # low sums to 0 but is not 0
    ((0.0, 0.0, 0.0), (0.0, 1.0, 1.0)),  # low all 0 (skipped), high with a zero
    ((-0.0, 0.0, -0.0), (0.0, -0.0, 0.0)),  # both all 0 (either sign of zero)
]


@pytest.mark.parametrize("use_bias", [True, False], ids=["bias", "nobias"])
@pytest.mark.parametrize("geometry", GEOMETRIES[:3], ids=[f"k{k}s{s}p{p}" for k, s, p in GEOMETRIES[:3]])
@pytest.mark.parametrize("bounds", ZERO_CHANNEL_BOUNDS, ids=[f"low{b[0]}-high{b[1]}" for b in ZERO_CHANNEL_BOUNDS])
def test_zbox_per_channel_bounds_with_a_zero_match_twin(backend, twins, bounds, geometry, use_bias):
    in_shape = (3, 5, 6)
    net = twins.build(conv_arch(*geometry, in_shape=in_shape), None, backend, seed=12)
    weight, bias = (to_numpy(net.layers[0].params[k]) for k in ("weight", "bias"))
    rng = np.random.default_rng(13)
    x = rng.normal(0.0, 1.0, size=(2,) + in_shape)
    trace = net.trace(backend.asarray(x))
    relevance = rng.normal(size=to_numpy(trace.inputs[1]).shape)
    params = {"low": np.array(bounds[0]), "high": np.array(bounds[1])}
    fast = make_rule("zbox", **params)(layer_context(net, trace, 0, bias=use_bias), backend.asarray(relevance))
    expected = conv_twin_batch(twins, "zbox", params, x, weight, bias, relevance, geometry[1], geometry[2], use_bias)
    twins.assert_close(fast, expected, rtol=1e-10)


@pytest.mark.parametrize("bounds", ZERO_CHANNEL_BOUNDS[:3], ids=["low-0-1-0", "high-1-0-2", "low-sum-0"])
def test_zbox_per_channel_bounds_with_a_zero_through_explain(backend, twins, bounds):
    in_shape = (3, 5, 6)
    net = twins.build(conv_arch(3, 1, 1, in_shape=in_shape), None, backend, float64=False, seed=14)
    weight, bias = (to_numpy(net.layers[0].params[k]).astype(np.float64) for k in ("weight", "bias"))
    x = np.random.default_rng(15).uniform(-1.0, 2.0, size=(2,) + in_shape).astype(np.float32)
    low, high = (list(b) for b in bounds)
    exp = explain(net, x, target=[4, 40], method="zbox", low=low, high=high)
    start = np.zeros_like(exp.logits, dtype=np.float64)
    start[[0, 1], [4, 40]] = exp.logits[[0, 1], [4, 40]]
    expected = conv_twin_batch(twins, "zbox", {"low": low, "high": high}, x.astype(np.float64), weight, bias,
                               start.reshape((2, OUT_C, 5, 6)), 1, 1, True)
    twins.assert_close(exp.relevance, expected, rtol=2e-4, atol_scale=2e-5)
