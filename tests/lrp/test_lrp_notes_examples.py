"""The worked examples of the source notes (shared/seeds), reproduced numerically.

000: the basic rule R_i = sum_j z_ij / sum_i' z_i'j R_j with z_ij = x_i w_ij, conservation
sum_p R_p = f(x), the 2-neuron example (layer H3 with two neurons feeding one output, layer H2 with
three neurons feeding H3) and the same rule as matrix products (equation 7).
003: deep-Taylor alpha1-beta0 in the hidden layers (z = W+ a; s = R ./ z; c = W+' s; R = a .* c)
and the w^2 rule at the input.
"""

from __future__ import annotations

import numpy as np
import pytest

from lrp_studio.backend import to_numpy
from lrp_studio.lrp import explain, make_rule
from lrp_studio.lrp.params import MIN_EPSILON
from lrp_studio.lrp.propagate import layer_context, one_hot_start, propagate

# H2 (3 neurons) -> H3 (2 neurons) -> output (1 neuron); the notes write w_ij with i the lower layer.
X2 = np.array([1.0, 2.0, 3.0])
W23 = np.array([[1.0, 0.5], [0.5, 1.0], [1.0, 1.0]])  # w_ij^(2,3), i = H2 neuron, j = H3 neuron
W34 = np.array([[0.4], [0.2]])  # w_i1^(3,4)


def notes_net(twins, xp, float64=True):
    arch = {"input_shape": [3], "layers": [
        {"type": "dense", "in_features": 3, "out_features": 2}, {"type": "relu"},
        {"type": "dense", "in_features": 2, "out_features": 1}]}
    # PyTorch order (out, in) is the transpose of the notes' w_ij
    state = {"0.weight": W23.T, "0.bias": np.zeros(2), "2.weight": W34.T, "2.bias": np.zeros(1)}
    return twins.build(arch, state, xp, float64=float64)


def test_two_neuron_example_by_hand(backend, twins):
    x3 = X2 @ W23  # activations of H3: (5, 5.5), all positive so the ReLU is the identity
    f = float(x3 @ W34[:, 0])  # 3.1
    # R_1^3 = x_1^3 w_11 / (x_1^3 w_11 + x_2^3 w_21) * f(x), likewise R_2^3
    r3 = np.array([x3[0] * W34[0, 0] / (x3[0] * W34[0, 0] + x3[1] * W34[1, 0]) * f,
                   x3[1] * W34[1, 0] / (x3[0] * W34[0, 0] + x3[1] * W34[1, 0]) * f])
    # R_i^2 = z_i1 / (z_11 + z_21 + z_31) R_1^3 + z_i2 / (z_12 + z_22 + z_32) R_2^3, z_ij = x_i^2 w_ij
    z = X2[:, None] * W23
    r2 = np.array([z[i, 0] / (z[0, 0] + z[1, 0] + z[2, 0]) * r3[0] + z[i, 1] / (z[0, 1] + z[1, 1] + z[2, 1]) * r3[1]
                   for i in range(3)])
    np.testing.assert_allclose(x3, [5.0, 5.5])
    assert f == pytest.approx(3.1)
    np.testing.assert_allclose(r3, [2.0, 1.1])
    np.testing.assert_allclose(r2, [0.5, 0.8, 1.8])

    net = notes_net(twins, backend)
    exp = explain(net, X2[None], method="lrp0")
    assert exp.logits[0, 0] == pytest.approx(f, rel=1e-6)
    np.testing.assert_allclose(exp.layers[2].relevance[0], r3, rtol=1e-6)  # after the ReLU = H3
    np.testing.assert_allclose(exp.layers[1].relevance[0], r3, rtol=1e-6)  # through the ReLU unchanged
    np.testing.assert_allclose(exp.relevance[0], r2, rtol=1e-6)
    # conservation: sum_p R_p = f(x) at every layer
    np.testing.assert_allclose(exp.conservation().sums[:, 0], f, rtol=1e-6)


def test_share_of_output_in_words(backend, twins):
    """'R_1^3 ist der relative Anteil von x_1^3 am Output der Schicht H3': R^3 / f = z_i1 / sum z_i'1."""
    net = notes_net(twins, backend)
    exp = explain(net, X2[None], method="lrp0")
    x3 = X2 @ W23
    shares = x3 * W34[:, 0] / (x3 @ W34[:, 0])
    np.testing.assert_allclose(exp.layers[2].relevance[0] / exp.logits[0, 0], shares, rtol=1e-6)


def test_matrix_form_equation_7(backend, twins):
    """R^l = matmul((x^T . W^T) : matmul(W, x))^T, R^(l+1)) on a random layer equals the rule."""
    rng = np.random.default_rng(0)
    n, m = 6, 4
    x = rng.uniform(0.1, 1.0, size=n)
    w = rng.uniform(0.1, 1.0, size=(n, m))  # w_ij, i lower layer
    r_up = rng.uniform(0.0, 1.0, size=m)
    contributions = x[None, :] * w.T  # (m, n): x_i w_ij
    totals = w.T @ x  # (m,): sum_i x_i w_ij
    r_matrix = (contributions / totals[:, None]).T @ r_up
    r_loops = np.array([sum(x[i] * w[i, j] / sum(x[k] * w[k, j] for k in range(n)) * r_up[j] for j in range(m))
                        for i in range(n)])
    np.testing.assert_allclose(r_matrix, r_loops, rtol=1e-12)

    arch = {"input_shape": [n], "layers": [{"type": "dense", "in_features": n, "out_features": m}]}
    net = twins.build(arch, {"0.weight": w.T, "0.bias": np.zeros(m)}, backend)
    trace = net.trace(backend.asarray(x[None]))
    eps = MIN_EPSILON  # the smallest stabiliser the rules accept: each share is off by at most eps / z_j
    fast = to_numpy(make_rule("epsilon", epsilon=eps)(layer_context(net, trace, 0), backend.asarray(r_up[None])))
    rtol = 1e-12 + eps / totals.min()
    np.testing.assert_allclose(fast[0], r_matrix, rtol=rtol)
    assert fast.sum() == pytest.approx(r_up.sum(), rel=rtol)


def test_deep_taylor_alpha1_beta0_and_w_squared_input_rule(backend, twins):
    """Seed 003's MLP recipe, written as its MATLAB lines, equals the custom composite {w^2, zplus, zplus}."""
    arch = {"input_shape": [12], "layers": [
        {"type": "dense", "in_features": 12, "out_features": 8}, {"type": "relu"},
        {"type": "dense", "in_features": 8, "out_features": 5}, {"type": "relu"},
        {"type": "dense", "in_features": 5, "out_features": 3}]}
    net = twins.build(arch, None, backend, seed=3)
    state = {k: (np.zeros_like(v) if k.endswith("bias") else v) for k, v in net.state_dict().items()}
    twins.set_state64(net, state, backend)
    x = np.random.default_rng(1).uniform(0, 1, size=(1, 12))
    trace = net.trace(backend.asarray(x))
    acts = [to_numpy(a)[0] for a in trace.inputs]
    target = int(np.argmax(acts[-1]))

    # R{l} = output (only the explained class); hidden layers: alpha1-beta0 on positive activations
    relevance = np.zeros(3)
    relevance[target] = acts[-1][target]
    for layer, a in ((4, acts[4]), (2, acts[2])):
        w_pos = np.maximum(state[f"{layer}.weight"], 0)  # (out, in): rows = next layer, as in the question
        z = w_pos @ a
        # the MATLAB line s = R ./ z gives 0/0 for units with no positive input; stab() makes those 0
        s = np.divide(relevance, z, out=np.zeros_like(z), where=z != 0)
        c = w_pos.T @ s
        relevance = a * c
    # input layer: R_i = sum_j w_ij^2 / sum_k w_kj^2 R_j
    w = state["0.weight"]
    r_input = np.array([sum(w[j, i] ** 2 / sum(w[j, k] ** 2 for k in range(12)) * relevance[j] for j in range(8))
                        for i in range(12)])

    rules = {0: make_rule("wsquare"), 2: make_rule("zplus"), 4: make_rule("alphabeta", alpha=1, beta=0)}
    start = one_hot_start(trace.output, backend.asarray(np.array([target])))
    fast = to_numpy(propagate(net, trace, start, rules)[0])[0]
    np.testing.assert_allclose(fast, r_input, rtol=1e-3)  # stab(z) vs the unstabilised z on small logits
    via_explain = explain(net, x, method={0: "wsquare", 2: "zplus", 4: "zplus"}).relevance[0]
    np.testing.assert_allclose(via_explain, r_input, rtol=1e-3, atol=1e-6)
