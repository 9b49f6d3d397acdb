"""Relevance messages (graph edges, inspector rows) against the formula-literal twins.

A rule is linear in the output relevance R, so the message from output unit k (or output channel o)
into input j is the twin's input relevance for R restricted to k (or to channel o). Summing a layer's
messages over its outputs gives each input unit's (dense) or input channel's (conv) relevance. Inputs
have both signs so alpha-beta, gamma and z-box take all their terms.
"""

from __future__ import annotations

import numpy as np
import pytest

from lrp_studio.backend import to_numpy
from lrp_studio.lrp import explain, make_rule
from lrp_studio.lrp.propagate import layer_context
from lrp_studio.lrp.rules import term_messages

N_IN, N_OUT = 6, 4
CONV_IN = (3, 5, 6)
CONV_GEOMETRIES = [(3, 1, 1), (3, 2, 0), (2, 2, 1)]  # (kernel, stride, padding)


def dense_net(twins, xp, seed=3):
    arch = {"input_shape": [N_IN], "layers": [{"type": "dense", "in_features": N_IN, "out_features": N_OUT}]}
    return twins.build(arch, None, xp, seed=seed)


def conv_net(twins, xp, kernel, stride, padding, seed=4):
    arch = {"input_shape": list(CONV_IN), "layers": [
        {"type": "conv2d", "in_channels": CONV_IN[0], "out_channels": 2, "kernel_size": kernel, "stride": stride,
         "padding": padding}, {"type": "flatten"}]}
    return twins.build(arch, None, xp, seed=seed)


def mixed_inputs(shape, seed):
    x = np.random.default_rng(seed).normal(0.0, 1.0, size=shape)
    assert (x < 0).any() and (x > 0).any()
    return x


def twin_input_relevance(twins, name, params, layer_net, x, relevance, use_bias):
    """The twin's input relevance of one sample (flat) for one dense/conv layer."""
    layer = layer_net.layers[0]
    weight = to_numpy(layer.params["weight"])
    bias = to_numpy(layer.params["bias"])
    in_shape = x.shape
    if weight.ndim == 2:
        fields, biases = twins.dense_fields(weight), bias
    else:
        fields, channels, _ = twins.conv_fields(weight, in_shape, layer.stride, layer.padding)
        biases = np.array([bias[o] for o in channels])
    low = high = None
    if name == "zbox":
        low, high = (twins.bounds_per_input(params[k], in_shape) for k in ("low", "high"))
    return twins.rule_twin(name, params, x.reshape(-1), fields, biases, relevance.reshape(-1), use_bias, low, high)


@pytest.mark.parametrize("use_bias", [True, False], ids=["bias", "nobias"])
def test_dense_messages_match_the_twin_and_sum_to_input_relevance(backend, twins, rule_case, use_bias):
    name, raw = rule_case
    net = dense_net(twins, backend)
    x = mixed_inputs((3, N_IN), seed=1)
    trace = net.trace(backend.asarray(x))
    z = to_numpy(trace.output)
    assert (z > 0).any() and (z < 0).any()
    relevance = np.random.default_rng(2).normal(size=z.shape)
    params = twins.rule_params(raw, N_IN)
    rule = make_rule(name, **params)
    ctx = layer_context(net, trace, 0, bias=use_bias)
    r = backend.asarray(relevance)
    input_relevance = to_numpy(rule(ctx, r))
    for sample in (0, 2):
        messages = to_numpy(term_messages(ctx, rule.terms(ctx, r), sample))
        assert messages.shape == (N_IN, N_OUT)
        twins.assert_close(messages.sum(axis=1), input_relevance[sample])
        for k in range(N_OUT):
            only_k = np.zeros(N_OUT)
            only_k[k] = relevance[sample, k]
            expected = twin_input_relevance(twins, name, params, net, x[sample], only_k, use_bias)
            twins.assert_close(messages[:, k], expected, rtol=1e-10, atol_scale=1e-12)


@pytest.mark.parametrize("use_bias", [True, False], ids=["bias", "nobias"])
@pytest.mark.parametrize("geometry", CONV_GEOMETRIES, ids=[f"k{k}s{s}p{p}" for k, s, p in CONV_GEOMETRIES])
def test_conv_messages_match_the_twin_and_sum_to_channel_relevance(backend, twins, rule_case, geometry, use_bias):
    name, raw = rule_case
    net = conv_net(twins, backend, *geometry)
    x = mixed_inputs((2,) + CONV_IN, seed=3)
    trace = net.trace(backend.asarray(x))
    z = to_numpy(trace.inputs[1])
    assert (z > 0).any() and (z < 0).any()
    relevance = np.random.default_rng(4).normal(size=z.shape)
    params = twins.rule_params(raw, CONV_IN[0])  # per-channel z-box bounds
    rule = make_rule(name, **params)
    ctx = layer_context(net, trace, 0, bias=use_bias)
    r = backend.asarray(relevance)
    per_channel = to_numpy(rule(ctx, r)).sum(axis=(2, 3))
    out_channels = z.shape[1]
    for sample in (0, 1):
        messages = to_numpy(term_messages(ctx, rule.terms(ctx, r), sample))
        assert messages.shape == (CONV_IN[0], out_channels)
        twins.assert_close(messages.sum(axis=1), per_channel[sample], rtol=1e-9, atol_scale=1e-11)
        for o in range(out_channels):
            only_o = np.zeros_like(relevance[sample])
            only_o[o] = relevance[sample, o]
            expected = twin_input_relevance(twins, name, params, net, x[sample], only_o, use_bias)
            twins.assert_close(messages[:, o], expected.reshape(CONV_IN).sum(axis=(1, 2)), rtol=1e-9,
                               atol_scale=1e-11)


@pytest.mark.parametrize("method", ["epsilon-plus", "epsilon-alpha2-beta1", "epsilon-gamma-box", "deep-taylor",
                                    "lrp0", "gamma", "alphabeta", "wsquare", "flat", "zbox"])
@pytest.mark.parametrize("kind", ["cnn", "mlp"])
def test_explain_messages_sum_to_each_layers_input_relevance(backend, twins, kind, method):
    """Through explain(messages=True): every dense/conv layer's messages of sample 0 sum to its input's relevance."""
    arch = twins.cnn_arch() if kind == "cnn" else twins.mlp_arch()
    net = twins.build(arch, None, backend, seed=7)
    x = np.random.default_rng(8).uniform(-1, 2, size=(2,) + tuple(arch["input_shape"]))
    exp = explain(net, x, method=method, messages=True)
    assert sorted(exp.messages) == net.linear_indices
    for index in net.linear_indices:
        messages = exp.messages[index]
        into = exp.layers[index].relevance[0]  # relevance of the layer's input (stage index)
        out = exp.layers[index + 1].relevance[0]
        assert messages.shape == (into.shape[0], out.shape[0])
        expected = into if into.ndim == 1 else into.sum(axis=(1, 2))
        twins.assert_close(messages.sum(axis=1), expected, rtol=1e-9, atol_scale=1e-11)
    lean = explain(net, x, method=method, messages=True, keep_layers=False)
    for index, messages in exp.messages.items():
        np.testing.assert_array_equal(lean.messages[index], messages)
