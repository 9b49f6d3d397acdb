"""Composites (DESIGN.md 3.3 table) equal chaining the twin rules layer by layer; custom composites."""

from __future__ import annotations

import numpy as np
import pytest

from lrp_studio.backend import to_numpy
from lrp_studio.errors import ParameterError
from lrp_studio.lrp import COMPOSITES, explain, make_rule
from lrp_studio.lrp.explain import resolve_rules
from lrp_studio.lrp.propagate import one_hot_start, propagate

EPS_SMALL = ("epsilon", {"epsilon": 1e-6})
ZPLUS = ("zplus", {})
BOX = "box"
# name: (first dense/conv layer, other conv, other dense), written from the DESIGN.md table.
TABLE = {
    "epsilon-plus": ("by type", ZPLUS, EPS_SMALL),
    "epsilon-plus-flat": (("flat", {}), ZPLUS, EPS_SMALL),
    "epsilon-alpha2-beta1": ("by type", ("alphabeta", {"alpha": 2.0, "beta": 1.0}), EPS_SMALL),
    "epsilon-gamma-box": (BOX, ("gamma", {"gamma": 0.25}), EPS_SMALL),
    "deep-taylor": (BOX, ZPLUS, ZPLUS),
    "deep-taylor-unbounded": (("wsquare", {}), ZPLUS, ZPLUS),   # issue 20: the notes' recipe
}


def table_rules(arch: dict, composite: str, box: dict) -> dict[int, tuple[str, dict]]:
    first, conv, dense = TABLE[composite]
    rules, seen_first = {}, False
    for index, layer in enumerate(arch["layers"]):
        if layer["type"] not in ("dense", "conv2d"):
            continue
        by_type = conv if layer["type"] == "conv2d" else dense
        if not seen_first and first != "by type":
            rules[index] = ("zbox", box) if first == BOX else first
        else:
            rules[index] = by_type
        seen_first = True
    return rules


def fast_stages(net, x, targets, method, xp, bias=True, **params):
    rules = resolve_rules(net, method, params)
    trace = net.trace(xp.asarray(x))
    start = one_hot_start(trace.output, xp.asarray(np.asarray(targets, dtype=np.int64)))
    return [None if s is None else to_numpy(s) for s in propagate(net, trace, start, rules, bias=bias)], trace


def twin_stages(twins, arch, state, x, logits, targets, rules, use_bias=True):
    per_sample = []
    for n in range(len(x)):
        start = np.zeros(logits.shape[1])
        start[targets[n]] = logits[n, targets[n]]
        stages, _ = twins.network_twin(arch, state, x[n], start, rules, use_bias)
        per_sample.append(stages)
    return [np.stack([s[i] for s in per_sample]) for i in range(len(per_sample[0]))]


def compare_all_stages(twins, fast, expected, rtol=1e-9):
    assert len(fast) == len(expected)
    for stage, (got, want) in enumerate(zip(fast, expected)):
        twins.assert_close(got.reshape(len(want), -1), want, rtol=rtol, atol_scale=1e-10)


def network_case(twins, kind, xp, seed=0):
    arch = twins.cnn_arch() if kind == "cnn" else twins.mlp_arch()
    net = twins.build(arch, None, xp, seed=seed)
    state = {k: to_numpy(v).astype(np.float64) for k, v in net.state_dict().items()}
    rng = np.random.default_rng(seed + 100)
    x = rng.uniform(-1.0, 2.0, size=(2,) + tuple(arch["input_shape"]))
    return arch, net, state, x


@pytest.mark.parametrize("use_bias", [True, False], ids=["bias", "nobias"])
@pytest.mark.parametrize("kind", ["cnn", "mlp"])
@pytest.mark.parametrize("composite", list(TABLE))
def test_composite_equals_chained_twin_rules(backend, twins, composite, kind, use_bias):
    arch, net, state, x = network_case(twins, kind, backend, seed=1)
    logits = to_numpy(net.forward(backend.asarray(x)))
    targets = [1, 2]
    fast, _ = fast_stages(net, x, targets, composite, backend, bias=use_bias)
    rules = table_rules(arch, composite, {"low": -1.0, "high": 2.0})  # the model's input_range
    expected = twin_stages(twins, arch, state, x, logits, targets, rules, use_bias)
    compare_all_stages(twins, fast, expected)


@pytest.mark.parametrize("composite", ["epsilon-gamma-box", "deep-taylor"])
def test_box_composites_take_user_per_channel_bounds(backend, twins, composite):
    arch, net, state, x = network_case(twins, "cnn", backend, seed=2)
    logits = to_numpy(net.forward(backend.asarray(x)))
    box = {"low": np.array([-1.5, -0.25]), "high": np.array([2.5, 1.1])}
    fast, _ = fast_stages(net, x, [0, 0], composite, backend, **box)
    expected = twin_stages(twins, arch, state, x, logits, [0, 0], table_rules(arch, composite, box))
    compare_all_stages(twins, fast, expected)


def test_box_defaults_to_unit_range_without_input_range(backend, twins):
    arch = twins.mlp_arch(input_range=None)
    net = twins.build(arch, None, backend, seed=3)
    state = {k: to_numpy(v) for k, v in net.state_dict().items()}
    x = np.random.default_rng(0).uniform(0, 1, size=(2, 10))
    logits = to_numpy(net.forward(backend.asarray(x)))
    fast, _ = fast_stages(net, x, [0, 1], "deep-taylor", backend)
    expected = twin_stages(twins, arch, state, x, logits, [0, 1],
                           table_rules(arch, "deep-taylor", {"low": 0.0, "high": 1.0}))
    compare_all_stages(twins, fast, expected)


def test_registered_composites_are_the_table(twins):
    assert sorted(COMPOSITES) == sorted(TABLE)
    net = twins.build(twins.cnn_arch(), None, np, float64=False)
    for name, composite in COMPOSITES.items():
        takes = {p.name for p in composite.params}
        rules = composite.rules(net, {k: v for k, v in {"low": 0.0, "high": 1.0}.items() if k in takes})
        assert sorted(rules) == net.linear_indices
        expected = table_rules(twins.cnn_arch(), name, {"low": 0.0, "high": 1.0})
        for index, rule in rules.items():
            want_name, want_params = expected[index]
            assert rule.name == want_name
            for key, value in want_params.items():
                assert getattr(rule, key) == value


def test_composite_through_explain_float32(backend, twins):
    arch, net, state, x = network_case(twins, "cnn", backend, seed=4)
    net32 = twins.build(arch, state, backend, float64=False)
    state32 = {k: to_numpy(v).astype(np.float64) for k, v in net32.state_dict().items()}
    x32 = x.astype(np.float32)
    exp = explain(net32, x32, method="epsilon-plus-flat")
    targets = exp.logits.argmax(axis=1)
    np.testing.assert_array_equal(exp.targets, targets)
    expected = twin_stages(twins, arch, state32, x32.astype(np.float64), exp.logits.astype(np.float64),
                           targets, table_rules(arch, "epsilon-plus-flat", {}))
    for record, want in zip(exp.layers, expected):
        twins.assert_close(record.relevance.reshape(2, -1), want, rtol=1e-3, atol_scale=1e-4)
    assert exp.rules == {0: "flat", 3: "zplus", 6: "epsilon(epsilon=1e-06)", 8: "epsilon(epsilon=1e-06)"}


@pytest.mark.parametrize("kind", ["cnn", "mlp"])
def test_custom_composite_mapping(backend, twins, kind):
    arch, net, state, x = network_case(twins, kind, backend, seed=5)
    logits = to_numpy(net.forward(backend.asarray(x)))
    linear = net.linear_indices
    names = ["flat", "alphabeta", "gamma"] if kind == "cnn" else ["wsquare", "gamma"]
    mapping = {index: name for index, name in zip(linear, names)}  # the last layer is left out
    params = {"epsilon": 0.1, "gamma": 0.5}
    fast, _ = fast_stages(net, x, [2, 0], mapping, backend, **params)
    rules = {index: (name, {"alpha": 2.0, "beta": 1.0, "gamma": 0.5}) for index, name in mapping.items()}
    rules[linear[-1]] = ("epsilon", {"epsilon": 0.1})  # missing layers get epsilon with the user's epsilon
    expected = twin_stages(twins, arch, state, x, logits, [2, 0], rules)
    compare_all_stages(twins, fast, expected)


def test_custom_composite_with_rule_objects_and_string_keys(backend, twins):
    arch, net, state, x = network_case(twins, "cnn", backend, seed=6)
    logits = to_numpy(net.forward(backend.asarray(x)))
    mapping = {"0": make_rule("zbox", low=-2.0, high=3.0), 3: make_rule("zplus"),
               6: make_rule("epsilon", epsilon=0.3), 8: "lrp0"}
    fast, _ = fast_stages(net, x, [1, 1], mapping, backend)
    rules = {0: ("zbox", {"low": -2.0, "high": 3.0}), 3: ("zplus", {}), 6: ("epsilon", {"epsilon": 0.3}),
             8: ("lrp0", {})}
    compare_all_stages(twins, fast, twin_stages(twins, arch, state, x, logits, [1, 1], rules))
    exp = explain(twins.build(arch, state, backend, float64=False), x.astype(np.float32), method=mapping)
    assert exp.method == "custom" and exp.rules[8] == "lrp0" and exp.rules[3] == "zplus"


@pytest.mark.parametrize("mapping", [{1: "flat"}, {"relu": "flat"}, {0: "nonsense"}, {99: "zplus"}])
def test_custom_composite_rejects_bad_layers_and_rules(backend, twins, mapping):
    net = twins.build(twins.cnn_arch(), None, backend, float64=False)
    x = np.zeros((1, 2, 8, 8), np.float32)
    with pytest.raises(ParameterError):
        explain(net, x, method=mapping)
