"""BatchNorm canonizer: folded weights against loop twins of the formulas, the merged network's function
against the original's (eval mode), where a BatchNorm goes, refusals, the cache, and explain using it."""

from __future__ import annotations

import math

import numpy as np
import pytest

from lrp_studio.backend import to_numpy
from lrp_studio.errors import ParameterError
from lrp_studio.lrp import explain, explain_neuron
from lrp_studio.lrp.canonizers import Identity, MergePlan, canonical, fold_after, fold_before, merge_batchnorm, plan_merges
from lrp_studio.nn import BatchNorm, Network

INPUT = "input"


def conv(name, inputs, c_in, c_out, k, s=1, p=0):
    return {"name": name, "inputs": inputs, "type": "conv2d", "in_channels": c_in, "out_channels": c_out,
            "kernel_size": k, "stride": s, "padding": p}


def node(name, inputs, kind, **extra):
    return {"name": name, "inputs": inputs, "type": kind, **extra}


def bn(name, inputs, c):
    return node(name, inputs, "batchnorm", num_features=c)


def dense(name, inputs, a, b):
    return {"name": name, "inputs": inputs, "type": "dense", "in_features": a, "out_features": b}


def make(layers, input_shape, seed=0):
    """A v2 network with random weights, biases and BatchNorm statistics (gamma of both signs)."""
    arch = {"format": "lrp-studio-model", "version": 2, "input_shape": list(input_shape), "layers": layers}
    net = Network.from_spec(arch, seed=seed)
    rng = np.random.default_rng(seed + 100)
    for layer in net.layers:
        if layer.is_linear:
            layer.params["bias"] = rng.normal(0, 0.3, size=layer.params["bias"].shape).astype(np.float32)
        if isinstance(layer, BatchNorm):
            c = layer.num_features
            layer.params["weight"] = (rng.uniform(0.5, 2.0, c) * rng.choice([-1, 1], c)).astype(np.float32)
            layer.params["bias"] = rng.normal(0, 0.5, c).astype(np.float32)
            layer.buffers["running_mean"] = rng.normal(0, 0.5, c).astype(np.float32)
            layer.buffers["running_var"] = rng.uniform(0.3, 3.0, c).astype(np.float32)
    return net


# --------------------------------------------------------------------------- formula-literal twins
def bn_numbers(layer):
    g, b = to_numpy(layer.params["weight"]), to_numpy(layer.params["bias"])
    m, v = to_numpy(layer.buffers["running_mean"]), to_numpy(layer.buffers["running_var"])
    return [float(t) for t in g], [float(t) for t in b], [float(t) for t in m], [float(t) for t in v], layer.eps


def fold_after_twin(weight, bias, layer):
    """W'[o, ...] = W[o, ...] a_o, b'_o = (b_o - mean_o) a_o + beta_o, a_o = gamma_o / sqrt(var_o + eps)."""
    gamma, beta, mean, var, eps = bn_numbers(layer)
    w_new, b_new = np.zeros(weight.shape), np.zeros(bias.shape)
    for o in range(weight.shape[0]):
        a = gamma[o] / math.sqrt(var[o] + eps)
        for idx in np.ndindex(weight.shape[1:]):
            w_new[(o,) + idx] = float(weight[(o,) + idx]) * a
        b_new[o] = (float(bias[o]) - mean[o]) * a + beta[o]
    return w_new, b_new


def fold_before_twin(weight, bias, layer, per_channel=1):
    """W'[o, c, ...] = W[o, c, ...] a_c, b'_o = b_o + sum_{c, ...} W[o, c, ...] (beta_c - mean_c a_c).

    ``per_channel``: inputs per channel of a dense weight (H*W after a flatten), C-order.
    """
    gamma, beta, mean, var, eps = bn_numbers(layer)
    w_new, b_new = np.zeros(weight.shape), np.zeros(bias.shape)
    for o in range(weight.shape[0]):
        total = float(bias[o])
        for idx in np.ndindex(weight.shape[1:]):
            c = idx[0] if weight.ndim == 4 else idx[0] // per_channel
            a = gamma[c] / math.sqrt(var[c] + eps)
            w_new[(o,) + idx] = float(weight[(o,) + idx]) * a
            total += float(weight[(o,) + idx]) * (beta[c] - mean[c] * a)
        b_new[o] = total
    return w_new, b_new


# --------------------------------------------------------------------------- cases
CASES = {
    # name: (layers, input shape, expected plans)
    "conv-bn-after": ([conv("c", [INPUT], 2, 3, 3, 1, 1), bn("bn", ["c"], 3), node("r", ["bn"], "relu"),
                       node("f", ["r"], "flatten"), dense("fc", ["f"], 3 * 25, 4)], (2, 5, 5), [MergePlan(1, 0, True)]),
    "input-bn-conv-before": ([bn("bn", [INPUT], 2), conv("c", ["bn"], 2, 3, 3, 2, 0), node("r", ["c"], "relu"),
                              node("f", ["r"], "flatten"), dense("fc", ["f"], 12, 4)], (2, 5, 5), [MergePlan(0, 1, False)]),
    "dense-bn1d-after": ([dense("d", [INPUT], 6, 5), bn("bn", ["d"], 5), node("r", ["bn"], "relu"), dense("fc", ["r"], 5, 3)],
                         (6,), [MergePlan(1, 0, True)]),
    "bn1d-dense-before": ([bn("bn", [INPUT], 6), dense("d", ["bn"], 6, 5), node("r", ["d"], "relu"), dense("fc", ["r"], 5, 3)],
                          (6,), [MergePlan(0, 1, False)]),
    "bn-flatten-dense-before": ([conv("c", [INPUT], 2, 3, 3, 1, 1), node("r", ["c"], "relu"), bn("bn", ["r"], 3),
                                 node("f", ["bn"], "flatten"), dense("fc", ["f"], 3 * 16, 4)], (2, 4, 4),
                                [MergePlan(2, 4, False)]),
    "both-sides-of-one-conv": ([bn("bn0", [INPUT], 2), conv("c", ["bn0"], 2, 3, 3, 1, 0), bn("bn1", ["c"], 3),
                                node("r", ["bn1"], "relu"), node("f", ["r"], "flatten"), dense("fc", ["f"], 27, 4)],
                               (2, 5, 5), [MergePlan(0, 1, False), MergePlan(2, 1, True)]),
    # a residual block: conv-bn on both branches; the second conv's output is also read by the skip
    # side's add, so its BN (after a relu) must merge forward into the padding-free 1x1 conv
    "residual": ([conv("stem", [INPUT], 2, 3, 3, 1, 1), bn("bn0", ["stem"], 3), node("r0", ["bn0"], "relu"),
                  conv("c1", ["r0"], 3, 3, 3, 1, 1), bn("bn1", ["c1"], 3), node("r1", ["bn1"], "relu"),
                  conv("c2", ["r1"], 3, 3, 3, 1, 1), bn("bn2", ["c2"], 3),
                  conv("proj", ["r0"], 3, 3, 1, 1, 0), bn("bnp", ["proj"], 3),
                  node("add", ["bn2", "bnp"], "add"), node("r2", ["add"], "relu"), bn("bn3", ["r2"], 3),
                  conv("head", ["bn3"], 3, 2, 1, 1, 0), node("gap", ["head"], "globalavgpool"),
                  dense("fc", ["gap"], 2, 3)], (2, 5, 5),
                 [MergePlan(1, 0, True), MergePlan(4, 3, True), MergePlan(7, 6, True), MergePlan(9, 8, True),
                  MergePlan(12, 13, False)]),
}


@pytest.mark.parametrize("case", list(CASES))
def test_merged_network_computes_the_same_function_and_plans_as_expected(case):
    layers, shape, plans = CASES[case]
    net = make(layers, shape, seed=len(case))
    assert plan_merges(net) == plans
    merged = merge_batchnorm(net)
    assert len(merged.layers) == len(net.layers) and merged.names == net.names
    assert merged.node_inputs == net.node_inputs and merged.shapes == net.shapes
    for plan in plans:
        assert isinstance(merged.layers[plan.bn], Identity)
    assert not any(isinstance(layer, BatchNorm) for layer in merged.layers)
    x = np.random.default_rng(1).normal(size=(6,) + shape).astype(np.float32)
    expected = to_numpy(net.forward(net.prepare_input(x)))
    got = to_numpy(merged.forward(merged.prepare_input(x)))
    np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-5 * np.abs(expected).max())


@pytest.mark.parametrize("case", list(CASES))
def test_folded_weights_equal_the_formula_twins(case):
    layers, shape, plans = CASES[case]
    net = make(layers, shape, seed=len(case))
    merged = merge_batchnorm(net)
    targets: dict[int, tuple[np.ndarray, np.ndarray]] = {}
    for plan in plans:  # in layer order, each fold on the result of the previous ones (as the canonizer)
        layer = net.layers[plan.target]
        w, b = targets.get(plan.target, (to_numpy(layer.params["weight"]), to_numpy(layer.params["bias"])))
        bn_layer = net.layers[plan.bn]
        if plan.after:
            targets[plan.target] = fold_after_twin(w, b, bn_layer)
        else:
            per_channel = w.shape[1] // bn_layer.num_features if w.ndim == 2 else 1
            targets[plan.target] = fold_before_twin(w, b, bn_layer, per_channel)
    for index, (w, b) in targets.items():
        np.testing.assert_allclose(to_numpy(merged.layers[index].params["weight"]), w, rtol=1e-6, atol=1e-7)
        np.testing.assert_allclose(to_numpy(merged.layers[index].params["bias"]), b, rtol=1e-6, atol=1e-6)


def test_fold_functions_in_float64_match_the_twins_to_rounding():
    net = make(CASES["both-sides-of-one-conv"][0], (2, 5, 5), seed=3)
    w = to_numpy(net.layers[1].params["weight"]).astype(np.float64)
    b = to_numpy(net.layers[1].params["bias"]).astype(np.float64)
    for fold, twin, layer in ((fold_before, fold_before_twin, net.layers[0]), (fold_after, fold_after_twin, net.layers[2])):
        got_w, got_b = fold(w, b, layer)
        want_w, want_b = twin(w, b, layer)
        np.testing.assert_allclose(got_w, want_w, rtol=1e-12)
        np.testing.assert_allclose(got_b, want_b, rtol=1e-12, atol=1e-14)


# --------------------------------------------------------------------------- refusals
REFUSED = {
    "bn-before-padded-conv": ([bn("norm", [INPUT], 2), conv("c", ["norm"], 2, 3, 3, 1, 1), node("f", ["c"], "flatten"),
                               dense("fc", ["f"], 75, 2)], (2, 5, 5)),
    "bn-between-relus": ([conv("c", [INPUT], 2, 3, 3, 1, 1), node("r", ["c"], "relu"), bn("norm", ["r"], 3),
                          node("r2", ["norm"], "relu"), node("f", ["r2"], "flatten"), dense("fc", ["f"], 75, 2)], (2, 5, 5)),
    "conv-output-also-skipped": ([conv("c", [INPUT], 2, 2, 3, 1, 1), bn("norm", ["c"], 2), node("add", ["norm", "c"], "add"),
                                  node("f", ["add"], "flatten"), dense("fc", ["f"], 50, 2)], (2, 5, 5)),
    "bn-read-by-two": ([dense("d", [INPUT], 4, 4), node("r", ["d"], "relu"), bn("norm", ["r"], 4), dense("a", ["norm"], 4, 4),
                        dense("b", ["norm"], 4, 4), node("add", ["a", "b"], "add"), dense("fc", ["add"], 4, 2)], (4,)),
}


@pytest.mark.parametrize("case", list(REFUSED))
def test_unmergeable_batchnorm_is_refused_naming_it(case):
    net = make(*REFUSED[case])
    with pytest.raises(ParameterError, match="batchnorm node 'norm'"):
        merge_batchnorm(net)
    with pytest.raises(ParameterError, match="'norm'"):
        explain(net, np.zeros((1,) + net.input_shape, np.float32), method="epsilon")


# --------------------------------------------------------------------------- copies, cache, explain
def test_merge_batchnorm_is_an_independent_copy():
    net = make(CASES["residual"][0], (2, 5, 5))
    before = {k: v.copy() for k, v in net.state_dict().items()}
    merged = merge_batchnorm(net)
    for layer in merged.layers:
        for value in layer.params.values():
            value *= 0
    for key, value in net.state_dict().items():
        np.testing.assert_array_equal(value, before[key])


def test_canonical_is_cached_and_follows_in_place_updates():
    net = make(CASES["residual"][0], (2, 5, 5))
    x = np.random.default_rng(0).normal(size=(2, 2, 5, 5)).astype(np.float32)
    first = canonical(net)
    assert canonical(net) is first
    net.layers[4].params["weight"] *= -2.0  # an optimizer updates BatchNorm's gamma in place
    second = canonical(net)
    assert second is not first
    np.testing.assert_allclose(to_numpy(second.forward(x)), to_numpy(net.forward(x)), rtol=1e-5, atol=1e-5)
    net.layers[3].params["weight"] += 0.5  # the conv the BatchNorm folds into, in place
    third = canonical(net)
    assert third is not second
    np.testing.assert_allclose(to_numpy(third.forward(x)), to_numpy(net.forward(x)), rtol=1e-5, atol=1e-5)
    net.layers[13].params["weight"] += 0.5  # a conv BatchNorm merges forward into
    np.testing.assert_allclose(to_numpy(canonical(net).forward(x)), to_numpy(net.forward(x)), rtol=1e-5, atol=1e-5)
    plain = make(CASES["residual"][0][:1] + [node("gap", ["stem"], "globalavgpool"), dense("fc", ["gap"], 3, 2)], (2, 5, 5))
    assert canonical(plain) is plain  # no BatchNorm: the network itself


@pytest.mark.parametrize("method", ["epsilon-plus-flat", "epsilon-alpha2-beta1", "zplus"])
def test_explain_runs_on_the_merged_network(method):
    net = make(CASES["residual"][0], (2, 5, 5), seed=4)
    x = np.random.default_rng(5).uniform(0, 1, size=(3, 2, 5, 5)).astype(np.float32)
    exp = explain(net, x, method=method)
    reference = explain(merge_batchnorm(net), x, method=method)
    np.testing.assert_array_equal(exp.relevance, reference.relevance)
    np.testing.assert_array_equal(exp.logits, reference.logits)
    np.testing.assert_allclose(exp.logits, to_numpy(net.forward(net.prepare_input(x))), rtol=1e-5, atol=1e-5)
    assert exp.stage_names[5] == "batchnorm" and exp.layers[5].rule is None  # the original network's names
    neuron = explain_neuron(net, x, 7, 3, method=method)
    np.testing.assert_array_equal(neuron.relevance, explain_neuron(merge_batchnorm(net), x, 7, 3, method=method).relevance)


def test_gradient_baselines_use_the_unmerged_network_with_the_same_gradient():
    net = make(CASES["residual"][0], (2, 5, 5), seed=6)
    x = np.random.default_rng(7).normal(size=(2, 2, 5, 5)).astype(np.float32)
    grad = explain(net, x, target=1, method="gradient").relevance
    merged_grad = explain(merge_batchnorm(net), x, target=1, method="gradient").relevance
    np.testing.assert_allclose(grad, merged_grad, rtol=1e-4, atol=1e-5 * np.abs(grad).max())
