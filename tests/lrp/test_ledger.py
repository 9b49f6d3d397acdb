"""The relevance ledger adds up: received = sent + bias part + stabiliser part + dropped, per layer, in float64.

Every rule on a dense and a conv layer, with and without bias; whole sequential and graph (add, concat)
networks; one hand-worked epsilon layer (explicit loops); and the float32 bundled models against
:meth:`ConservationReport.absorbed`.
"""

from __future__ import annotations

import numpy as np
import pytest

from lrp_studio.lrp import explain, make_rule
from lrp_studio.lrp.explain import resolve_rules
from lrp_studio.lrp.ledger import explain_ledger, layer_ledger, trace_ledger
from lrp_studio.lrp.propagate import one_hot_start
from lrp_studio.zoo import bundled_model_path, load_model
from tests.lrp.test_graph_lrp import RESIDUAL_CNN, RESIDUAL_MLP, build_graph

RTOL = 1e-10


def one_layer_arch(kind):
    if kind == "dense":
        return {"input_shape": [7], "layers": [{"type": "dense", "in_features": 7, "out_features": 5}],
                "input_range": [-1.0, 2.0]}
    return {"input_shape": [2, 6, 6], "layers": [
        {"type": "conv2d", "in_channels": 2, "out_channels": 3, "kernel_size": 3, "stride": 2, "padding": 1},
        {"type": "flatten"}],
        "input_range": [-1.0, 2.0]}


def assert_adds_up(row, scale):
    """The ledger identity of one layer, relative to the relevance it handles."""
    np.testing.assert_allclose(row.residual, 0.0, atol=RTOL * scale)
    if row.parts:
        for part in row.parts:  # each denominator adds up on its own
            np.testing.assert_allclose(part.received - part.bias - part.stabiliser - part.sent, 0.0, atol=RTOL * scale)
        np.testing.assert_allclose(sum(p.sent for p in row.parts), row.sent, rtol=RTOL, atol=RTOL * scale)


@pytest.mark.parametrize("bias", [True, False], ids=["bias", "no-bias"])
@pytest.mark.parametrize("kind", ["dense", "conv"])
def test_every_rule_adds_up_on_one_layer(twins, rule_case, kind, bias):
    name, params = rule_case
    arch = one_layer_arch(kind)
    net = twins.build(arch, None, np, seed=3)
    rng = np.random.default_rng(4)
    x = rng.uniform(-1.0, 2.0, size=(3,) + tuple(arch["input_shape"]))
    rule = make_rule(name, **twins.rule_params(params, int(np.prod(arch["input_shape"]))))
    trace = net.trace(x)
    relevance = rng.normal(size=trace.inputs[1].shape)  # mixed signs: every branch of gamma and alpha-beta is hit
    row = layer_ledger(net, trace, 0, relevance, {0: rule}, bias=bias)
    scale = float(np.abs(relevance).reshape(3, -1).sum(axis=1).max())
    assert_adds_up(row, scale)
    np.testing.assert_allclose(row.received, relevance.reshape(3, -1).sum(axis=1), rtol=RTOL)
    uses_bias = bias and rule.uses_bias
    if not uses_bias:
        np.testing.assert_array_equal(row.bias, 0.0)
    else:  # random biases of scale 0.3 absorb a visible share
        assert np.abs(row.bias).max() > 1e-3 * scale
    if name in ("alphabeta",) and params["beta"] > 0 or name == "gamma":
        assert len(row.parts) == 2
    if name != "gamma":
        np.testing.assert_allclose(row.dropped, 0.0, atol=RTOL * scale)


def test_epsilon_ledger_matches_hand_worked_loops(twins):
    """Bias and stabiliser parts of LRP-epsilon on a dense layer from explicit loops over k."""
    net = twins.build(one_layer_arch("dense"), None, np, seed=8)
    w, b = net.layers[0].params["weight"], net.layers[0].params["bias"]
    x = np.random.default_rng(1).uniform(-1.0, 2.0, size=(1, 7))
    relevance = np.array([[0.3, -1.2, 2.0, 0.7, -0.4]])
    eps = 0.5
    row = layer_ledger(net, net.trace(x), 0, relevance, {0: make_rule("epsilon", epsilon=eps)})
    bias_part = stab_part = sent = 0.0
    for k in range(5):
        z = sum(x[0, j] * w[k, j] for j in range(7)) + b[k]
        den = z + (eps if z >= 0 else -eps)
        bias_part += relevance[0, k] * b[k] / den
        stab_part += relevance[0, k] * (den - z) / den
        sent += sum(x[0, j] * w[k, j] / den * relevance[0, k] for j in range(7))
    np.testing.assert_allclose([row.bias[0], row.stabiliser[0], row.sent[0]], [bias_part, stab_part, sent], rtol=1e-12)


def test_gamma_drops_the_relevance_of_outputs_at_zero(twins):
    """gamma gives no relevance to outputs with z_k = 0: the ledger books it as dropped."""
    net = twins.build(one_layer_arch("dense"), None, np, seed=2)
    net.layers[0].params["bias"][:] = 0.0
    x = np.zeros((1, 7))  # z = 0 everywhere
    relevance = np.array([[1.0, 2.0, -0.5, 0.25, 3.0]])
    row = layer_ledger(net, net.trace(x), 0, relevance, {0: make_rule("gamma", gamma=0.25)})
    np.testing.assert_allclose(row.dropped, relevance.sum(), rtol=RTOL)
    np.testing.assert_allclose(row.sent, 0.0)


def network_cases(twins):
    yield "mlp", twins.build(twins.mlp_arch(), None, np, seed=5), ["epsilon-plus", "epsilon-gamma-box", "alphabeta"]
    yield "cnn", twins.build(twins.cnn_arch(), None, np, seed=6), ["epsilon-plus-flat", "epsilon-gamma-box", "gamma"]
    yield "residual-cnn", build_graph(RESIDUAL_CNN, np, seed=7)[0], ["epsilon-plus", "gamma", "alphabeta"]
    yield "residual-mlp", build_graph(RESIDUAL_MLP, np, seed=8)[0], ["epsilon", "zplus"]


def test_networks_add_up_from_logit_to_input(twins):
    """Sequential and graph networks: every layer adds up, and the layers' absorbed sum to logit - input total."""
    for label, net, methods in network_cases(twins):
        x = np.random.default_rng(9).uniform(-1.0, 2.0, size=(2,) + tuple(net.input_shape))
        trace = net.trace(x)
        start = one_hot_start(trace.output, trace.output.argmax(axis=1))
        for method in methods:
            rules = resolve_rules(net, method, {})
            book = trace_ledger(net, trace, start, rules)
            scale = float(np.abs(start).sum(axis=1).max())
            for row in book.layers:
                assert_adds_up(row, scale)
            absorbed = sum(row.absorbed for row in book.layers)
            np.testing.assert_allclose(book.start_total - absorbed, book.input_total, rtol=RTOL, atol=RTOL * scale,
                                       err_msg=f"{label} {method}")
            steps = book.waterfall(1)
            assert steps[0][1] == pytest.approx(float(book.start_total[1]))
            assert steps[-2][2] == pytest.approx(float(book.input_total[1]), rel=1e-9)
        if label.startswith("residual"):
            assert any(row.kind == "add" for row in book.layers)


@pytest.mark.parametrize("model", ["mlp", "cnn"])
def test_bundled_ledger_agrees_with_conservation_report(model):
    """float32 bundled models: per layer, the ledger's absorbed is the report's (stage sums) absorbed."""
    from lrp_studio.data import load_mnist_subset

    net = load_model(bundled_model_path(model))
    x = load_mnist_subset("test").x[:3]
    book = explain_ledger(net, x, method="epsilon-gamma-box")
    report = explain(net, x, method="epsilon-gamma-box").conservation()
    for row in book.layers:
        np.testing.assert_allclose(row.absorbed, report.absorbed[row.index], atol=1e-4)
        np.testing.assert_allclose(row.residual, 0.0, atol=1e-5 * float(np.abs(report.explained).max()))
    np.testing.assert_allclose(book.input_total, report.input_sum, rtol=1e-5)
    assert book.total("bias") != 0.0
    text = "\n".join(book.lines())
    assert "stabiliser" in text and book.layers[0].name in text
