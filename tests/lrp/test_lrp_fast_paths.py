"""The shortcuts of the batch path compute the numbers of the rules' definitions (float64).

- :meth:`Rule.__call__` (with the flat rule's shortcut) equals :func:`apply_terms` of the rule's terms,
  and the per-connection messages of :func:`term_messages` add up to that relevance, for every rule
  on dense and conv layers (padding, stride), for any sample of the batch.
- The per-stage sums of the lean path equal the sums of the full per-stage records, also where
  stages are skipped (activations, flatten, non-overlapping max pooling) or computed in the
  batch-last memory order of conv maps (overlapping max pooling, average pooling).
"""

from __future__ import annotations

import numpy as np
import pytest

from lrp_studio.backend import to_numpy
from lrp_studio.lrp import explain, make_rule
from lrp_studio.lrp.propagate import keeps_values, layer_context
from lrp_studio.lrp.rules import apply_terms, term_messages
from lrp_studio.nn.layers import AvgPool2d, MaxPool2d

CONV_GEOMETRIES = [(3, 1, 1), (3, 2, 0), (2, 2, 1)]  # (kernel, stride, padding)


def conv_net(twins, backend, kernel, stride, padding):
    arch = {"input_shape": [2, 6, 7], "layers": [
        {"type": "conv2d", "in_channels": 2, "out_channels": 3, "kernel_size": kernel, "stride": stride,
         "padding": padding},
        {"type": "flatten"}]}
    return twins.build(arch, None, backend, seed=4)


def dense_net(twins, backend):
    return twins.build(twins.mlp_arch((7, 5)), None, backend, seed=4)


def layer_case(twins, backend, net, nonnegative=False):
    rng = np.random.default_rng(3)
    x = rng.normal(size=(3,) + net.input_shape)
    x = np.abs(x) if nonnegative else x
    trace = net.trace(backend.asarray(x))
    relevance = backend.asarray(rng.normal(size=to_numpy(trace.inputs[1]).shape))
    return layer_context(net, trace, 0), relevance


def check_rule(twins, ctx, name, params, relevance):
    rule = make_rule(name, **params)
    fast = to_numpy(rule(ctx, relevance))
    terms = rule.terms(ctx, relevance)
    twins.assert_close(fast, apply_terms(ctx, terms), rtol=1e-10)
    for sample in range(fast.shape[0]):
        messages = to_numpy(term_messages(ctx, terms, sample))
        per_unit = fast[sample] if fast.ndim == 2 else fast[sample].sum(axis=(1, 2))  # conv: per channel
        twins.assert_close(messages.sum(axis=1), per_unit, rtol=1e-9)


@pytest.mark.parametrize("nonnegative", [False, True], ids=["mixed", "nonneg"])
def test_dense_shortcut_terms_and_messages_agree(backend, twins, rule_case, nonnegative):
    name, raw = rule_case
    net = dense_net(twins, backend)
    ctx, relevance = layer_case(twins, backend, net, nonnegative)
    check_rule(twins, ctx, name, twins.rule_params(raw, 7), relevance)


@pytest.mark.parametrize("geometry", CONV_GEOMETRIES, ids=[f"k{k}s{s}p{p}" for k, s, p in CONV_GEOMETRIES])
def test_conv_shortcut_terms_and_messages_agree(backend, twins, rule_case, geometry):
    name, raw = rule_case
    net = conv_net(twins, backend, *geometry)
    ctx, relevance = layer_case(twins, backend, net)
    check_rule(twins, ctx, name, twins.rule_params(raw, 2), relevance)


def test_flat_shortcut_is_uniform_over_channels_and_conserves(backend, twins):
    """Flat gives every channel of a position the same relevance; without padding it conserves exactly."""
    net = conv_net(twins, backend, 3, 1, 0)
    ctx, relevance = layer_case(twins, backend, net)
    got = to_numpy(make_rule("flat")(ctx, relevance))
    np.testing.assert_allclose(got[:, 0], got[:, 1], rtol=1e-12)
    np.testing.assert_allclose(got.reshape(3, -1).sum(axis=1), to_numpy(relevance).reshape(3, -1).sum(axis=1),
                               rtol=1e-5)  # stab(count) = count + 1e-6 loses ~1e-6 / count


POOL_ARCHS = {
    "maxpool-k2s2": {"type": "maxpool2d", "kernel_size": 2, "stride": 2},
    "maxpool-k3s2": {"type": "maxpool2d", "kernel_size": 3, "stride": 2},  # overlapping windows
    "avgpool-k2s1": {"type": "avgpool2d", "kernel_size": 2, "stride": 1},
}


@pytest.mark.parametrize("pool", list(POOL_ARCHS))
@pytest.mark.parametrize("method", ["epsilon-plus-flat", "lrp0", "epsilon-gamma-box"])
def test_lean_stage_sums_equal_the_records_sums(backend, twins, pool, method):
    arch = {"input_shape": [2, 9, 9], "input_range": [-1.0, 2.0], "layers": [
        {"type": "conv2d", "in_channels": 2, "out_channels": 4, "kernel_size": 3, "stride": 1, "padding": 1},
        {"type": "relu"}, POOL_ARCHS[pool],
        {"type": "conv2d", "in_channels": 4, "out_channels": 3, "kernel_size": 2, "stride": 1, "padding": 0},
        {"type": "relu"}, {"type": "flatten"}]}
    arch["layers"].append({"type": "dense", "in_features": _flat_size(twins, backend, arch), "out_features": 3})
    net = twins.build(arch, None, backend, seed=8)
    x = np.random.default_rng(1).uniform(-1.0, 2.0, size=(4, 2, 9, 9))
    full = explain(net, x, method=method)
    lean = explain(net, x, method=method, keep_layers=False)
    sums = np.stack([r.relevance.reshape(4, -1).sum(axis=1) for r in full.layers])
    np.testing.assert_allclose(lean.stage_sums, sums, rtol=1e-12, atol=1e-12 * np.abs(sums).max())
    np.testing.assert_array_equal(lean.stage_sums, full.stage_sums)


def _flat_size(twins, backend, arch):
    probe = twins.build({**arch, "layers": arch["layers"]}, None, backend, seed=0)
    return int(np.prod(probe.shapes[-1]))


def test_keeps_values_only_for_layers_that_move_values_unchanged():
    assert keeps_values(MaxPool2d(2, 2)) and keeps_values(MaxPool2d(2, 3))
    assert not keeps_values(MaxPool2d(3, 2))  # overlapping windows add values that meet at one input
    assert not keeps_values(AvgPool2d(2, 2))
