"""The perturbation protocol's tie rule and random streams (issue 18).

- Ties: regions with equal summed relevance go in the order of seeded random keys (the ``ties``
  stream), not in region-index (row-major) order, and every method gets the same keys.
- Seeds: the uniform noise, the random order and the tie keys come from three separate streams of
  one seed, and the seed reaches every row of an evaluation (methods and ``random`` alike).

The curves are checked against a formula-literal twin (:func:`slow_curve`): a Python loop over
samples, regions and steps that ranks the regions with ``sorted`` on (score, tie key), builds each
perturbed image by hand and runs one forward pass per image.
"""

from __future__ import annotations

import numpy as np
import pytest

from lrp_studio.errors import ParameterError
from lrp_studio.lrp.faithfulness import (
    STREAMS,
    baseline_values,
    evaluate_methods,
    perturbation_curve,
    protocol_rng,
    region_order,
)
from lrp_studio.nn.network import Network


def linear_net(weight, input_shape):
    """f(x) = W flatten(x), no bias."""
    weight = np.asarray(weight, dtype=np.float32)
    net = Network.from_spec({"input_shape": list(input_shape), "input_range": [0.0, 1.0],
                             "layers": [{"type": "flatten"},
                                        {"type": "dense", "in_features": weight.shape[1], "out_features": weight.shape[0]}]})
    net.load_state_dict({"1.weight": weight, "1.bias": np.zeros(weight.shape[0], np.float32)})
    return net


def slow_curve(net, x, relevance, targets, region, steps, per_step, baseline, seed, order="morf"):
    """Formula-literal region perturbation of (N, C, H, W) images with H, W multiples of ``region``.

    Regions are numbered row-major over the patch grid; sample i's tie keys are row i of
    ``protocol_rng(seed, "ties").random((N, R))``, its random-order keys row i of the ``order``
    stream, its uniform noise sample i of ``protocol_rng(seed, "noise").uniform(low, high, x.shape)``.
    """
    n, _, h, w = x.shape
    per_row = w // region
    n_regions = (h // region) * per_row
    ties = protocol_rng(seed, "ties").random((n, n_regions))
    random_keys = protocol_rng(seed, "order").random((n, n_regions))
    low, high = net.input_range
    noise = protocol_rng(seed, "noise").uniform(low, high, size=x.shape).astype(np.float32)
    curves = np.zeros((n, steps + 1))
    for i in range(n):
        scores = []
        for r in range(n_regions):
            top, left = (r // per_row) * region, (r % per_row) * region
            scores.append(float(np.sum(np.asarray(relevance[i], np.float64)[:, top:top + region, left:left + region]))
                          if relevance is not None else 0.0)
        if order == "random":
            ranked = sorted(range(n_regions), key=lambda r: random_keys[i, r])
        else:
            ranked = sorted(range(n_regions), key=lambda r: (-scores[r], ties[i, r]))
        fill = {"zero": np.zeros_like(x[i]), "mean": np.full_like(x[i], x[i].mean()), "uniform": noise[i]}[baseline]
        for k in range(steps + 1):
            image = x[i].copy()
            for r in ranked[: k * per_step]:
                top, left = (r // per_row) * region, (r % per_row) * region
                image[:, top:top + region, left:left + region] = fill[:, top:top + region, left:left + region]
            curves[i, k] = net.predict(image[None])[0, targets[i]]
    return curves


# --------------------------------------------------------------------------- ties
def test_ties_go_in_the_order_of_the_seeded_keys_not_row_major():
    scores = np.array([[0.0, 5.0, 0.0, 0.0, 2.0, 0.0, 0.0, 0.0, 0.0, 0.0],
                       [1.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 3.0]])
    keys = protocol_rng(4, "ties").random(scores.shape)
    morf = region_order(scores, "morf", seed=4)
    for i, row in enumerate(morf):
        zeros = [r for r in range(10) if scores[i, r] == 0]
        assert list(row[:2]) == [1, 4] if i == 0 else list(row[:2]) == [9, 0]
        assert list(row[2:]) == sorted(zeros, key=lambda r: keys[i, r])
        assert list(row[2:]) != zeros  # the keys do reorder the tied regions
    lerf = region_order(scores, "lerf", seed=4)
    assert list(lerf[0][:8]) == sorted([r for r in range(10) if scores[0, r] == 0], key=lambda r: keys[0, r])
    assert list(lerf[0][8:]) == [4, 1]
    np.testing.assert_array_equal(morf, region_order(scores, "morf", seed=4))  # same seed, same order
    assert not np.array_equal(morf, region_order(scores, "morf", seed=5))
    # distinct scores: the keys play no part
    np.testing.assert_array_equal(region_order(np.array([[3.0, 1.0, 2.0]]), "morf", seed=9), [[0, 2, 1]])


def test_a_sparse_map_ties_exactly_and_its_curve_follows_the_keys():
    """Gradient x input on the bundled CNN is exactly 0 on blank regions: about 34 positive 2x2
    regions, so steps past them remove tied regions. The curve equals the twin's (keyed ties) and
    differs from a row-major tie order's."""
    from lrp_studio import explain
    from lrp_studio.data import load_mnist_subset
    from lrp_studio.lrp.faithfulness import region_scores
    from lrp_studio.zoo import load_any_model

    net = load_any_model("cnn")
    x = load_mnist_subset("test").x[:3]
    targets = net.predict(x).argmax(axis=1)
    relevance = np.asarray(explain(net, x, method="gradient-x-input", keep_layers=False).relevance)
    scores = region_scores(relevance, 2)
    positive = (scores > 0).sum(axis=1)
    assert np.all(positive < 50), positive  # ties inside the 50 steps
    fast = perturbation_curve(net, x, relevance, targets, region=2, steps=50, baseline="mean", seed=0)
    slow = slow_curve(net, x, relevance, targets, 2, 50, 1, "mean", seed=0)
    assert fast == pytest.approx(slow, abs=1e-4)
    row_major = np.argsort(-scores, axis=1, kind="stable")  # the old tie rule
    assert not np.array_equal(row_major[:, :50], region_order(scores, "morf", seed=0)[:, :50])


def test_equal_maps_of_different_methods_give_identical_curves():
    """LRP-0 by name and as a custom composite compute the same map; with ties in it, both rows
    must still get the same curve (the same tie keys for every method, not keys drawn per method)."""
    rng = np.random.default_rng(2)
    weight = rng.normal(size=(2, 36))
    net = linear_net(weight, (1, 6, 6))
    x = np.zeros((4, 1, 6, 6), np.float32)
    x[:, :, 2:4, 1:5] = rng.uniform(0.2, 1.0, size=(4, 1, 2, 4))  # 2 of 9 regions with ink: 7 ties
    for baseline in ("mean", "uniform"):
        scores = evaluate_methods(net, x, [0, 1, 0, 1], methods=["lrp0", {1: "lrp0"}], region=2, steps=8,
                                  baseline=baseline, seed=3)
        np.testing.assert_array_equal(scores["lrp0"].curves, scores["custom"].curves)
        relevance = x * weight[[0, 1, 0, 1]].reshape(4, 1, 6, 6)
        slow = slow_curve(net, x, relevance, [0, 1, 0, 1], 2, 8, 1, baseline, seed=3)
        assert scores["lrp0"].curves == pytest.approx(slow, abs=1e-5)


# --------------------------------------------------------------------------- seeds
def test_noise_random_order_and_tie_keys_are_separate_streams():
    shape = (3, 1, 4, 4)
    x = np.zeros(shape, np.float32)
    noise = baseline_values(x, "uniform", value_range=(0.0, 1.0), seed=11)
    order = region_order(np.zeros((3, 16)), "random", seed=11)
    # one shared generator made the random order the argsort of the first noise values
    assert not np.array_equal(order, np.argsort(noise.reshape(3, 16), axis=1))
    np.testing.assert_array_equal(order, np.argsort(protocol_rng(11, "order").random((3, 16)), axis=1))
    np.testing.assert_array_equal(noise, protocol_rng(11, "noise").uniform(0.0, 1.0, size=shape).astype(np.float32))
    first = {purpose: protocol_rng(11, purpose).random(16) for purpose in STREAMS}
    assert len({tuple(values) for values in first.values()}) == 3
    np.testing.assert_array_equal(first["ties"], protocol_rng(11, "ties").random(16))  # fresh on every call
    assert first["ties"][0] == np.random.default_rng(np.random.SeedSequence(11).spawn(3)[2]).random()
    with pytest.raises(ParameterError, match="stream"):
        protocol_rng(0, "colour")


def test_the_seed_reaches_every_row_alike():
    """Each method's row and the random row use the evaluation's seed for noise and tie keys
    (the formula-literal twin with that seed); another seed changes every row."""
    rng = np.random.default_rng(5)
    weight = rng.normal(size=(3, 64))
    net = linear_net(weight, (1, 8, 8))
    x = rng.uniform(0.0, 1.0, size=(3, 1, 8, 8)).astype(np.float32)
    x[:, :, :4] = 0.0  # blank top half: tied regions
    targets = np.array([0, 1, 2])
    relevance = x * weight[targets].reshape(3, 1, 8, 8)
    rows = {}
    for seed in (0, 7):
        scores = evaluate_methods(net, x, targets, methods=["gradient-x-input"], region=2, steps=12,
                                  baseline="uniform", seed=seed)
        for name, expected_relevance, order in (("gradient-x-input", relevance, "morf"), ("random", None, "random")):
            slow = slow_curve(net, x, expected_relevance, targets, 2, 12, 1, "uniform", seed=seed, order=order)
            assert scores[name].curves == pytest.approx(slow, abs=1e-5), (name, seed)
        rows[seed] = scores
    for name in ("gradient-x-input", "random"):
        assert not np.allclose(rows[0][name].curves, rows[7][name].curves)
