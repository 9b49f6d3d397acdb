"""LRP through graph networks: merges (add, concat), global average pooling, branching stages.

The reference is a slow twin written from the formulas: a dict of node name -> flat relevance,
filled by explicit loops over units (DESIGN.md 3.3 rules from the ``twins`` fixture for dense/conv
layers; add: R_i[e] = x_i[e] R[e] / stab(sum_i x_i[e]); concat: each input's own channel block;
global average pooling: R[c, h, w] = x[c, h, w] / (H W) R[c] / stab(z[c])), where a node read by
several nodes receives the sum of what each sends it.
"""

from __future__ import annotations

import json

import numpy as np
import pytest

from lrp_studio.backend import to_numpy
from lrp_studio.lrp import explain, explain_neuron, make_rule
from lrp_studio.lrp.composites import COMPOSITES, default_method, first_layers
from lrp_studio.lrp.propagate import add_relevance, global_avg_pool_relevance, one_hot_start, propagate
from lrp_studio.nn import Network

INPUT = "input"


def conv(name, inputs, c_in, c_out, k, s=1, p=0):
    return {"name": name, "inputs": inputs, "type": "conv2d", "in_channels": c_in, "out_channels": c_out,
            "kernel_size": k, "stride": s, "padding": p}


def node(name, inputs, kind, **extra):
    return {"name": name, "inputs": inputs, "type": kind, **extra}


#: A residual CNN: stem, a basic block with an identity skip, a branching stage (strided 1x1
#: projection and strided 3x3 conv) joined by concat, global average pooling, a dense head.
RESIDUAL_CNN = {
    "input_shape": [2, 6, 6],
    "layers": [
        conv("stem", [INPUT], 2, 3, 3, 1, 1), node("r0", ["stem"], "relu"),
        conv("c1", ["r0"], 3, 3, 3, 1, 1), node("r1", ["c1"], "relu"),
        conv("c2", ["r1"], 3, 3, 3, 1, 1), node("add", ["c2", "r0"], "add"), node("r2", ["add"], "relu"),
        conv("proj", ["r2"], 3, 2, 1, 2, 0), conv("c3", ["r2"], 3, 2, 3, 2, 1),
        node("cat", ["proj", "c3"], "concat"), node("r3", ["cat"], "relu"),
        node("gap", ["r3"], "globalavgpool"),
        {"name": "fc", "inputs": ["gap"], "type": "dense", "in_features": 4, "out_features": 3},
    ],
}

#: A dense residual net whose add has three addends, one of them the network input.
RESIDUAL_MLP = {
    "input_shape": [5],
    "layers": [
        {"name": "d1", "inputs": [INPUT], "type": "dense", "in_features": 5, "out_features": 5},
        node("a1", ["d1"], "relu"),
        {"name": "d2", "inputs": ["a1"], "type": "dense", "in_features": 5, "out_features": 5},
        node("sum3", ["d2", INPUT, "d1"], "add"), node("a2", ["sum3"], "relu"),
        {"name": "out", "inputs": ["a2"], "type": "dense", "in_features": 5, "out_features": 3},
    ],
}


def arch_v2(graph):
    return {"format": "lrp-studio-model", "version": 2, **json.loads(json.dumps(graph))}


def build_graph(graph, xp, seed=0, bias_scale=0.3):
    """The Network of a graph description with random float64 parameters (also returned by name)."""
    net = Network.from_spec(arch_v2(graph), seed=seed)
    rng = np.random.default_rng(seed)
    state = {}
    for name, layer in zip(net.names, net.layers):
        for key, value in layer.params.items():
            shape = tuple(value.shape)
            if key == "weight":
                state[f"{name}.weight"] = rng.normal(0.0, 1.0 / np.sqrt(np.prod(shape[1:])), size=shape)
            else:
                state[f"{name}.bias"] = rng.normal(0.0, bias_scale, size=shape)
            layer.params[key] = xp.asarray(state[f"{name}.{key}"])
    return net, state


# --------------------------------------------------------------------------- the dict-of-loops twin
def twin_forward(graph, state, x, twins):
    """Per node name: flat float64 activation and per-sample shape; also each linear node's fields."""
    acts, shapes, fields = {INPUT: np.asarray(x, np.float64).reshape(-1)}, {INPUT: tuple(graph["input_shape"])}, {}
    for entry in graph["layers"]:
        name, kind, ins = entry["name"], entry["type"], entry["inputs"]
        a, shape = acts[ins[0]], shapes[ins[0]]
        if kind == "dense":
            w = state[f"{name}.weight"]
            fields[name] = (twins.dense_fields(w), state[f"{name}.bias"])
            out, out_shape = twins.linear_forward(a, *fields[name]), (w.shape[0],)
        elif kind == "conv2d":
            w = state[f"{name}.weight"]
            f, channels, out_shape = twins.conv_fields(w, shape, entry["stride"], entry["padding"])
            fields[name] = (f, np.array([state[f"{name}.bias"][o] for o in channels]))
            out = twins.linear_forward(a, *fields[name])
        elif kind == "relu":
            out, out_shape = np.array([v if v > 0 else 0.0 for v in a]), shape
        elif kind == "add":
            out, out_shape = np.zeros(len(a)), shape
            for e in range(len(a)):
                for i in ins:
                    out[e] += acts[i][e]
        elif kind == "concat":
            out = np.concatenate([acts[i] for i in ins])  # C-order: channel blocks one after the other
            out_shape = (sum(shapes[i][0] for i in ins),) + tuple(shape[1:])
        elif kind == "globalavgpool":
            c, h, w = shape
            out, out_shape = np.zeros(c), (c,)
            for ch in range(c):
                for p in range(h * w):
                    out[ch] += a[ch * h * w + p] / (h * w)
        else:
            raise KeyError(kind)
        acts[name], shapes[name] = out, tuple(out_shape)
    return acts, shapes, fields


def twin_relevance(graph, state, x, start_node, start, rules, twins, use_bias=True):
    """Relevance per node name (None where none arrives): reverse order, contributions summed."""
    acts, shapes, fields = twin_forward(graph, state, x, twins)
    order = [e["name"] for e in graph["layers"]]
    rel = {name: None for name in [INPUT] + order}
    rel[start_node] = np.asarray(start, np.float64).reshape(-1)
    entries = {e["name"]: e for e in graph["layers"]}
    for name in reversed(order[: order.index(start_node) + 1]):
        r = rel[name]
        if r is None:
            continue
        entry, ins = entries[name], entries[name]["inputs"]
        kind = entry["type"]
        if kind in ("dense", "conv2d"):
            rule, params = rules[name]
            low = high = None
            if rule == "zbox":
                size = len(acts[ins[0]])
                low, high = np.full(size, params["low"]), np.full(size, params["high"])
            parts = [twins.rule_twin(rule, params, acts[ins[0]], *fields[name], r, use_bias, low, high)]
        elif kind == "relu":
            parts = [r.copy()]
        elif kind == "add":
            parts = [np.zeros(len(r)) for _ in ins]
            for e in range(len(r)):
                g = r[e] / twins.stab(acts[name][e])
                for k, i in enumerate(ins):
                    parts[k][e] = acts[i][e] * g
        elif kind == "concat":
            parts, offset = [], 0
            for i in ins:
                size = len(acts[i])
                parts.append(np.array([r[offset + e] for e in range(size)]))
                offset += size
        elif kind == "globalavgpool":
            c, h, w = shapes[ins[0]]
            part = np.zeros(c * h * w)
            for ch in range(c):
                g = r[ch] / twins.stab(acts[name][ch])
                for p in range(h * w):
                    part[ch * h * w + p] = acts[ins[0]][ch * h * w + p] / (h * w) * g
            parts = [part]
        for i, part in zip(ins, parts):
            if rel[i] is None:
                rel[i] = part
            else:
                for e in range(len(part)):
                    rel[i][e] += part[e]
    return rel, acts


def stage_of(net, name):
    return 0 if name == INPUT else net.names.index(name) + 1


# --------------------------------------------------------------------------- against the twin
CNN_RULES = [
    ("mixed", {"stem": ("zbox", {"low": -1.0, "high": 2.0}), "c1": ("zplus", {}), "c2": ("alphabeta", {"alpha": 2.0, "beta": 1.0}),
               "proj": ("gamma", {"gamma": 0.25}), "c3": ("epsilon", {"epsilon": 0.1}), "fc": ("epsilon", {"epsilon": 1e-6})}),
    ("flat-zplus", {"stem": ("flat", {}), "c1": ("zplus", {}), "c2": ("zplus", {}), "proj": ("zplus", {}),
                    "c3": ("zplus", {}), "fc": ("lrp0", {})}),
]


def rule_objects(net, rules):
    return {net.names.index(name): make_rule(rule, **params) for name, (rule, params) in rules.items()}


@pytest.mark.parametrize("use_bias", [True, False], ids=["bias", "nobias"])
@pytest.mark.parametrize("case", CNN_RULES, ids=[c[0] for c in CNN_RULES])
def test_residual_cnn_matches_the_dict_of_loops_twin_at_every_stage(backend, twins, case, use_bias):
    net, state = build_graph(RESIDUAL_CNN, backend, seed=3)
    rng = np.random.default_rng(7)
    x = rng.uniform(-1.0, 2.0, size=(2, 2, 6, 6))
    trace = net.trace(backend.asarray(x))
    targets = backend.asarray(np.array([0, 2]))
    stages = propagate(net, trace, one_hot_start(trace.output, targets), rule_objects(net, case[1]), bias=use_bias)
    for n in range(2):
        start = np.zeros(3)
        start[int(to_numpy(targets)[n])] = to_numpy(trace.output)[n, int(to_numpy(targets)[n])]
        rel, acts = twin_relevance(RESIDUAL_CNN, state, x[n], "fc", start, case[1], twins, use_bias)
        for name, expected in rel.items():
            twins.assert_close(to_numpy(stages[stage_of(net, name)])[n].reshape(-1), expected, rtol=1e-9)
            twins.assert_close(to_numpy(trace.inputs[stage_of(net, name)])[n].reshape(-1), acts[name], rtol=1e-9)


def test_three_addend_residual_mlp_matches_twin(backend, twins):
    net, state = build_graph(RESIDUAL_MLP, backend, seed=5)
    rules = {"d1": ("epsilon", {"epsilon": 0.25}), "d2": ("zplus", {}), "out": ("epsilon", {"epsilon": 0.01})}
    x = np.random.default_rng(1).normal(size=(3, 5))
    trace = net.trace(backend.asarray(x))
    targets = to_numpy(trace.output).argmax(axis=1)
    stages = propagate(net, trace, one_hot_start(trace.output, backend.asarray(targets)), rule_objects(net, rules))
    for n in range(3):
        start = np.zeros(3)
        start[targets[n]] = to_numpy(trace.output)[n, targets[n]]
        rel, _ = twin_relevance(RESIDUAL_MLP, state, x[n], "out", start, rules, twins)
        for name, expected in rel.items():
            twins.assert_close(to_numpy(stages[stage_of(net, name)])[n], expected, rtol=1e-9)


@pytest.mark.parametrize("start_node", ["r1", "c2", "add", "proj"])
def test_explain_neuron_from_inside_a_residual_block_matches_twin(backend, twins, start_node):
    """Relevance started at one unit inside the block flows down every path below it (the skip too)."""
    net, state = build_graph(RESIDUAL_CNN, backend, seed=11)
    rules = CNN_RULES[0][1]
    x = np.random.default_rng(2).uniform(-1.0, 2.0, size=(1, 2, 6, 6))
    stage = stage_of(net, start_node)
    trace = net.trace(backend.asarray(x))
    unit = int(np.argmax(np.abs(to_numpy(trace.inputs[stage])[0].reshape(-1))))
    start = one_hot_start(trace.inputs[stage], backend.asarray(np.array([unit])))
    stages = propagate(net, trace, start, rule_objects(net, rules), start=stage)
    rel, _ = twin_relevance(RESIDUAL_CNN, state, x[0], start_node, to_numpy(start)[0], rules, twins)
    for name, expected in rel.items():
        got = stages[stage_of(net, name)]
        if expected is None:
            assert got is None, name  # above the unit or on a branch that does not lead to it
        else:
            twins.assert_close(to_numpy(got)[0].reshape(-1), expected, rtol=1e-9)


def test_explain_neuron_api_in_a_graph_conserves_the_unit_and_skips_other_branches():
    net, _ = build_graph(RESIDUAL_CNN, np, seed=4, bias_scale=0.0)
    x = np.random.default_rng(3).uniform(0.0, 1.0, size=(1, 2, 6, 6)).astype(np.float32)
    stage = stage_of(net, "add")
    activation = to_numpy(net.forward_to(net.prepare_input(x), stage))[0].reshape(-1)
    unit = int(np.argmax(activation))
    exp = explain_neuron(net, x, stage, unit, method="epsilon", epsilon=1e-9, bias=False)
    assert abs(exp.relevance.sum() - activation[unit]) <= 1e-5 * abs(activation[unit])
    report = exp.conservation()
    assert np.isnan(report.sums[stage + 1:, 0]).all()  # nothing above the unit
    # r0 (stage 2) is read by c1 and by the add: it holds both paths' relevance
    r0 = stage_of(net, "r0")
    assert np.isfinite(report.sums[r0, 0])
    assert np.nanmax(np.abs(report.absorbed[:stage, 0])) < 1e-5 * abs(activation[unit])
    assert np.isnan(report.node_sums[stage:, 0]).all()


# --------------------------------------------------------------------------- the merge rules alone
def test_add_rule_formula_and_hand_worked_shares():
    """z = 3x + x: the dense branch's addend gets 3/4 of the relevance, the skip 1/4."""
    graph = {"input_shape": [2], "layers": [
        {"name": "w3", "inputs": [INPUT], "type": "dense", "in_features": 2, "out_features": 2},
        node("plus", ["w3", INPUT], "add"),
        {"name": "sum", "inputs": ["plus"], "type": "dense", "in_features": 2, "out_features": 1}]}
    net = Network.from_spec(arch_v2(graph), seed=0)
    net.layers[0].params.update(weight=np.float32(3) * np.eye(2, dtype=np.float32), bias=np.zeros(2, np.float32))
    net.layers[2].params.update(weight=np.ones((1, 2), np.float32), bias=np.zeros(1, np.float32))
    exp = explain(net, np.array([[1.0, 3.0]], np.float32), method="lrp0")
    assert exp.explained[0] == pytest.approx(16.0)
    np.testing.assert_allclose(exp.layers[2].relevance[0], [4.0, 12.0], rtol=1e-6)  # at the add's output
    np.testing.assert_allclose(exp.layers[1].relevance[0], [3.0, 9.0], rtol=1e-6)  # the 3x addend
    np.testing.assert_allclose(exp.relevance[0], [1.0 + 3.0, 3.0 + 9.0], rtol=1e-6)  # skip + dense path
    np.testing.assert_allclose(exp.merge_shares[1], [0.75, 0.25], rtol=1e-6)
    np.testing.assert_allclose(exp.merge_sums[1][:, 0], [12.0, 4.0], rtol=1e-6)


def test_add_and_globalavgpool_rules_against_loops(twins):
    rng = np.random.default_rng(0)
    xs = [rng.normal(size=(2, 3, 2, 2)) for _ in range(3)]
    xs[0][0, 0, 0, 0], xs[1][0, 0, 0, 0], xs[2][0, 0, 0, 0] = 1.0, -1.0, 0.0  # z = 0: stab(0) = +eps
    z = xs[0] + xs[1] + xs[2]
    r = rng.normal(size=z.shape)
    got = add_relevance(xs, z, r)
    for k in range(3):
        expected = np.zeros(z.size)
        for e in range(z.size):
            expected[e] = xs[k].reshape(-1)[e] * r.reshape(-1)[e] / twins.stab(z.reshape(-1)[e])
        twins.assert_close(got[k].reshape(-1), expected)
    x = rng.normal(size=(2, 3, 4, 5))
    zc = x.mean(axis=(2, 3))
    rc = rng.normal(size=zc.shape)
    got = global_avg_pool_relevance(x, zc, rc)
    expected = np.zeros_like(x)
    for n in range(2):
        for c in range(3):
            for i in range(4):
                for j in range(5):
                    expected[n, c, i, j] = x[n, c, i, j] / 20 * rc[n, c] / twins.stab(zc[n, c])
    twins.assert_close(got, expected)


# --------------------------------------------------------------------------- conservation
CONSERVING = [("cnn", RESIDUAL_CNN, "zplus", {}), ("cnn", RESIDUAL_CNN, "epsilon", {"epsilon": 1e-9}),
              ("mlp", RESIDUAL_MLP, "epsilon", {"epsilon": 1e-9})]


@pytest.mark.parametrize("case", CONSERVING, ids=[f"{c[0]}-{c[2]}" for c in CONSERVING])
def test_conservation_on_graphs_without_bias(case):
    """Zero biases, bias off: every node passes on what it receives, the input sums to the logit.

    Inputs are scaled to [0, 100] (zplus) or [-100, 100] (epsilon): the bias-free ReLU network is
    positively homogeneous, so the activations grow with the input and the 1e-6 stabilizer of the
    add and pooling rules stays far below 1e-5 of them. (z+ is not tested on the dense net: there a
    unit whose positive contributions are all zero but whose negative output an add still gives
    relevance to loses it, as z+ does by definition.)
    """
    _, graph, method, params = case
    net, _ = build_graph(graph, np, seed=8, bias_scale=0.0)
    for layer in net.layers:
        for key in layer.params:
            layer.params[key] = layer.params[key].astype(np.float32)
    low = 0.0 if method == "zplus" else -100.0
    x = np.random.default_rng(9).uniform(low, 100.0, size=(4,) + tuple(graph["input_shape"])).astype(np.float32)
    exp = explain(net, x, method=method, bias=False, **params)
    report = exp.conservation()
    scale = np.abs(exp.explained).max()
    np.testing.assert_allclose(report.input_sum, exp.explained, rtol=1e-5, atol=1e-6 * scale)
    np.testing.assert_allclose(report.absorbed, 0.0, atol=1e-5 * scale)
    assert exp.merge_shares
    for shares in exp.merge_shares.values():
        assert sum(shares) == pytest.approx(1.0, abs=1e-5)  # a merge divides, it never creates or absorbs


def test_per_node_absorption_at_a_branching_point():
    """r0 is read by c1 and by the add: its stage sum holds both paths, so the plain difference of
    adjacent stages is not what c1 absorbed; the per-node figure is (epsilon 1e-9, bias off: ~0)."""
    net, _ = build_graph(RESIDUAL_CNN, np, seed=8)
    x = np.random.default_rng(1).uniform(-1, 2, size=(2, 2, 6, 6)).astype(np.float32)
    exp = explain(net, x, method="epsilon", epsilon=1e-9, bias=False)
    report = exp.conservation()
    c1 = net.names.index("c1")
    scale = np.abs(exp.explained).max()
    naive = report.sums[c1 + 1] - report.sums[c1]
    assert np.abs(naive).max() > 1e-2 * scale
    np.testing.assert_allclose(report.absorbed[c1], 0.0, atol=1e-5 * scale)
    # what c1 sent is the r0 relevance minus what the add sent along the skip
    add = net.names.index("add")
    np.testing.assert_allclose(report.node_sums[c1], report.sums[c1] - exp.merge_sums[add][1], rtol=1e-4,
                               atol=1e-6 * scale)


def test_keep_false_and_chunks_give_the_same_graph_results(monkeypatch):
    import importlib

    explain_module = importlib.import_module("lrp_studio.lrp.explain")

    net, _ = build_graph(RESIDUAL_CNN, np, seed=2)
    x = np.random.default_rng(4).uniform(-1, 2, size=(5, 2, 6, 6)).astype(np.float32)
    full = explain(net, x, method="epsilon-plus-flat")
    lean = explain(net, x, method="epsilon-plus-flat", keep_layers=False)
    np.testing.assert_array_equal(lean.relevance, full.relevance)
    np.testing.assert_array_equal(lean.stage_sums, full.stage_sums)
    monkeypatch.setattr(explain_module, "chunk_size", lambda _net: 2)
    chunked = explain(net, x, method="epsilon-plus-flat")
    np.testing.assert_allclose(chunked.relevance, full.relevance, rtol=1e-6, atol=1e-9)
    np.testing.assert_allclose(chunked.node_sums, full.node_sums, rtol=1e-6, atol=1e-9)
    for index in full.merge_sums:
        np.testing.assert_allclose(chunked.merge_sums[index], full.merge_sums[index], rtol=1e-6, atol=1e-9)


# --------------------------------------------------------------------------- first layers
def test_first_layers_are_every_linear_layer_reachable_from_the_input_without_another():
    graph = {"input_shape": [1, 6, 6], "layers": [
        conv("a", [INPUT], 1, 2, 3, 1, 1),
        node("pool", [INPUT], "maxpool2d", kernel_size=2, stride=2),
        conv("b", ["pool"], 1, 2, 3, 1, 1),           # reads the input through a pool only: first
        conv("c", ["a"], 2, 2, 3, 2, 1),              # after a: not first
        node("cat", ["b", "c"], "concat"), node("flat", ["cat"], "flatten"),
        {"name": "fc", "inputs": ["flat"], "type": "dense", "in_features": 36, "out_features": 2}]}
    net = Network.from_spec(arch_v2(graph), seed=0)
    assert first_layers(net) == [0, 2]
    rules = COMPOSITES["epsilon-plus-flat"].rules(net, {})
    assert [rules[i].name for i in (0, 2, 3, 6)] == ["flat", "flat", "zplus", "epsilon"]
    assert default_method(net) == "epsilon-plus-flat"
    gamma_box = COMPOSITES["epsilon-gamma-box"].rules(net, {"low": 0.0, "high": 1.0})
    assert [gamma_box[i].name for i in (0, 2, 3)] == ["zbox", "zbox", "gamma"]


def test_first_layers_of_a_sequential_network_is_its_first_linear_layer():
    from lrp_studio.nn import lenet, mlp

    assert first_layers(lenet()) == [0]
    assert first_layers(mlp([4, 3, 2], input_shape=(1, 2, 2))) == [1]


def test_relevance_through_refuses_a_merge_layer():
    from lrp_studio.lrp.propagate import relevance_through

    net, _ = build_graph(RESIDUAL_MLP, np)
    trace = net.trace(np.zeros((1, 5)))
    with pytest.raises(TypeError, match="relevance_to_inputs"):
        relevance_through(net, trace, 3, np.zeros((1, 5)), {})  # the add reads three stages
