"""The deep-Taylor rules are first-order Taylor expansions at per-neuron root points (seed 003/004).

For one ReLU neuron without bias, R(x) = max(0, sum_i x_i w_i), expanded at a root point x~ on the
line x - t v (Montavon et al. 2017, section 4), gives R_i = (x - x~)_i * dR/dx_i(x~). With the
search direction of each input domain this is:

* z+ (x >= 0, v_i = x_i 1[w_i > 0]):                       x_i w+_i / sum_i x_i w+_i * R
* w^2 (unbounded input, v = w):                            w_i^2 / sum_i w_i^2 * R
* zB (l <= x <= h, v_i = x_i - l_i if w_i > 0 else x_i - h_i): (x_i w_i - l_i w+_i - h_i w-_i) / sum(.) * R

Here the root is found numerically (bisection on the network's own forward pass along the line),
the gradient at the root by central differences, and the product is compared with the rule's
output from ``explain`` on the one-neuron network (bias off). Nothing of the rules' code is used
on the theory side, so a change in a rule's numerator or denominator fails these tests.
"""

from __future__ import annotations

import numpy as np
import pytest

from lrp_studio.lrp import explain

D = 7
LOW, HIGH = -0.5, 1.5


def neuron_net(twins, xp, w):
    arch = {"input_shape": [D], "layers": [{"type": "dense", "in_features": D, "out_features": 1}, {"type": "relu"}]}
    return twins.build(arch, {"0.weight": w[None, :], "0.bias": np.zeros(1)}, xp, float64=True)


def f(net, x):
    """R(x) = max(0, w.x) from the network's own forward pass, in float64 (no float32 cast)."""
    return float(np.asarray(net.forward(np.asarray(x, dtype=np.float64)[None]))[0, 0])


def root_on_line(net, x, v):
    """x~ = x - t v with the smallest t > 0 where the neuron's output reaches 0 (bisection)."""
    high = 1.0
    while f(net, x - high * v) > 0:
        high *= 2
    low = 0.0
    for _ in range(200):
        mid = (low + high) / 2
        low, high = (mid, high) if f(net, x - mid * v) > 0 else (low, mid)
    return x - high * v


def gradient_at_root(net, x, root, h=1e-6):
    """dR/dx at the root, from the side of x (the linear piece the expansion uses), central differences."""
    point = root + 1e-4 * (x - root)
    grad = np.zeros(D)
    for i in range(D):
        e = np.zeros(D)
        e[i] = h
        grad[i] = (f(net, point + e) - f(net, point - e)) / (2 * h)
    return grad


def taylor_at(net, x, v):
    root = root_on_line(net, x, v)
    return (x - root) * gradient_at_root(net, x, root), root


def random_neuron(seed, domain):
    """Weights with both signs and an input in the rule's domain with positive pre-activation."""
    rng = np.random.default_rng(seed)
    while True:
        w = rng.normal(size=D)
        x = {"positive": rng.uniform(0.0, 1.0, D), "unbounded": rng.normal(size=D),
             "box": rng.uniform(LOW, HIGH, D)}[domain]
        if (w > 0).any() and (w < 0).any() and w @ x > 0.2:
            return w, x


def rule_relevance(net, x, method, **params):
    """The rule's input relevance from ``explain`` (which runs in float32: hence rtol 1e-5 below)."""
    return np.asarray(explain(net, x[None], method=method, bias=False, **params).relevance[0], dtype=np.float64)


@pytest.mark.parametrize("seed", range(8))
def test_zplus_is_the_expansion_at_the_positive_root(seed, twins):
    w, x = random_neuron(seed, "positive")
    net = neuron_net(twins, np, w)
    expansion, root = taylor_at(net, x, x * (w > 0))
    assert root.min() >= -1e-12, "the z+ root stays in the positive domain"
    assert f(net, root) == pytest.approx(0.0, abs=1e-10)
    np.testing.assert_allclose(rule_relevance(net, x, "zplus"), expansion, rtol=1e-5, atol=1e-7)
    assert expansion.sum() == pytest.approx(f(net, x), rel=1e-6)


@pytest.mark.parametrize("seed", range(8))
def test_wsquare_is_the_expansion_at_the_nearest_root(seed, twins):
    w, x = random_neuron(seed, "unbounded")
    net = neuron_net(twins, np, w)
    expansion, root = taylor_at(net, x, w)
    # the root along w is the nearest point of the hyperplane w.x = 0 (orthogonal projection)
    np.testing.assert_allclose(root, x - (w @ x) / (w @ w) * w, atol=1e-9)
    np.testing.assert_allclose(rule_relevance(net, x, "wsquare"), expansion, rtol=1e-5, atol=1e-7)


@pytest.mark.parametrize("seed", range(8))
def test_zbox_is_the_expansion_at_the_root_in_the_box(seed, twins):
    w, x = random_neuron(seed, "box")
    net = neuron_net(twins, np, w)
    v = np.where(w > 0, x - LOW, x - HIGH)
    expansion, root = taylor_at(net, x, v)
    assert root.min() >= LOW - 1e-9 and root.max() <= HIGH + 1e-9, "the z^B root stays in the box"
    np.testing.assert_allclose(rule_relevance(net, x, "zbox", low=LOW, high=HIGH), expansion, rtol=1e-5, atol=1e-7)


def test_the_three_roots_differ(twins):
    """The rules are different expansions of the same function: the root (input domain) decides."""
    w, x = random_neuron(0, "positive")
    net = neuron_net(twins, np, w)
    maps = [rule_relevance(net, x, "zplus"), rule_relevance(net, x, "wsquare"),
            rule_relevance(net, x, "zbox", low=LOW, high=HIGH)]
    for i in range(3):
        for j in range(i + 1, 3):
            assert np.abs(maps[i] - maps[j]).max() > 1e-3
