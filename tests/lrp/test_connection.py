"""The formula with numbers of one dense connection: its factors multiply to the message of term_messages."""

from __future__ import annotations

import numpy as np
import pytest

from lrp_studio.errors import ParameterError
from lrp_studio.lrp import make_rule
from lrp_studio.lrp.connection import connection_formula
from lrp_studio.lrp.propagate import layer_context
from lrp_studio.lrp.rules import term_messages


def test_factors_multiply_to_the_message_for_every_rule(twins, rule_case):
    name, params = rule_case
    arch = {"input_shape": [6], "layers": [{"type": "dense", "in_features": 6, "out_features": 4}],
            "input_range": [-1.0, 2.0]}
    net = twins.build(arch, None, np, seed=11)
    x = np.random.default_rng(3).uniform(-1.0, 2.0, size=(1, 6))
    trace = net.trace(x)
    relevance = np.array([[0.7, -1.1, 2.3, 0.4]])
    rule = make_rule(name, **twins.rule_params(params, 6))
    ctx = layer_context(net, trace, 0)
    messages = term_messages(ctx, rule.terms(ctx, relevance))
    for j, k in [(0, 0), (2, 1), (5, 3)]:
        formula = connection_formula(net, trace, 0, relevance, rule, j, k)
        assert formula.message == pytest.approx(float(messages[j, k]), rel=1e-10, abs=1e-14)
        assert formula.x_j == x[0, j] and formula.w_jk == net.layers[0].params["weight"][k, j]
        for d in formula.denominators:  # each denominator is stab(D_k) of its raw value
            assert abs(d.stabilised - d.raw) <= max(float(rule.values().get("epsilon", 1e-6)), 1e-6) * 1.0001
        if name == "epsilon":  # the notes' formula by hand: x_j w_jk / (z_k + eps sign z_k) R_k
            eps = params["epsilon"]
            z = formula.z_k
            hand = x[0, j] * formula.w_jk / (z + (eps if z >= 0 else -eps)) * relevance[0, k]
            assert formula.message == pytest.approx(hand, rel=1e-12)
            assert [t.u_label for t in formula.terms] == ["x_j"] and formula.terms[0].w_label == "w_jk"
        assert "R_(j<-k)" in formula.lines()[-1]
        for t in formula.terms:  # every printed factor multiplies to the term
            assert t.value == pytest.approx(t.coef * t.u * t.w / t.den * t.r, rel=1e-9, abs=1e-15)


def test_conv_layers_are_refused(twins):
    net = twins.build(twins.cnn_arch(), None, np, seed=1)
    trace = net.trace(np.zeros((1, 2, 8, 8)))
    with pytest.raises(ParameterError, match="dense"):
        connection_formula(net, trace, 0, np.zeros_like(trace.inputs[1]), make_rule("epsilon"), 0, 0)
