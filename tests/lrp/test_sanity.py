"""Sanity checks (lrp/sanity.py): Gini, entropy, similarities, the randomisation cascade, eMPRT, random logit.

Gini and entropy are checked against hand-worked maps and against Quantus' Sparseness / Complexity;
eMPRT's discrete entropy against Quantus' ``discrete_entropy``; the cascade on the bundled CNN.
"""

from __future__ import annotations

import numpy as np
import pytest

from lrp_studio.data import load_mnist_subset
from lrp_studio.lrp.sanity import (
    cascade, complexity, discrete_entropy, gini, random_other_classes, randomisation_order, rankings,
    sanity_scores, spearman, ssim,
)
from lrp_studio.lrp.faithfulness import explain_in_batches
from lrp_studio.backend import to_numpy
from lrp_studio.zoo import bundled_model_path, load_model


def test_gini_and_entropy_of_hand_worked_maps():
    n = 16
    uniform, one_hot = np.ones((1, n)), np.eye(1, n)
    np.testing.assert_allclose(gini(uniform), 0.0, atol=1e-15)
    np.testing.assert_allclose(gini(one_hot), (n - 1) / n)
    np.testing.assert_allclose(complexity(uniform), np.log(n))
    np.testing.assert_allclose(complexity(one_hot), 0.0, atol=1e-15)
    # [1, 3] sorted: G = ((2*1-2-1)*1 + (2*2-2-1)*3) / (2*4) = 2/8; signs do not matter (|R|)
    np.testing.assert_allclose(gini(np.array([[-3.0, 1.0]])), 0.25)
    np.testing.assert_allclose(complexity(np.array([[-3.0, 1.0]])), -(0.75 * np.log(0.75) + 0.25 * np.log(0.25)))


def test_gini_entropy_and_histogram_entropy_agree_with_quantus():
    quantus = pytest.importorskip("quantus")
    from quantus.functions.complexity_func import discrete_entropy as quantus_discrete_entropy

    maps = np.random.default_rng(0).normal(size=(6, 1, 12, 12)) ** 3
    x = np.zeros_like(maps)
    theirs = quantus.Sparseness(abs=True, normalise=False, disable_warnings=True).evaluate_batch(
        x_batch=x, y_batch=np.zeros(6), a_batch=np.abs(maps).copy())
    np.testing.assert_allclose(gini(maps), theirs, atol=1e-5)
    theirs = quantus.Complexity(abs=True, normalise=False, disable_warnings=True).evaluate_batch(
        x_batch=x, y_batch=np.zeros(6), a_batch=np.abs(maps).copy())
    np.testing.assert_allclose(complexity(maps), theirs, rtol=1e-6)
    np.testing.assert_allclose(discrete_entropy(maps), [quantus_discrete_entropy(a=m, x=m, n_bins=100) for m in maps])


def test_similarities():
    rng = np.random.default_rng(1)
    a = rng.normal(size=(3, 1, 10, 10))
    np.testing.assert_allclose(spearman(a, a), 1.0)
    np.testing.assert_allclose(spearman(a, -a), 1.0)  # ranks of |R|: the sign does not count
    np.testing.assert_allclose(spearman(a, 1.0 / (np.abs(a) + 1)), -1.0)
    np.testing.assert_allclose(ssim(a, 3.0 * a), 1.0)  # each map is scaled by its max |R|
    assert (ssim(a, rng.normal(size=a.shape)) < 0.3).all()
    assert np.isnan(ssim(a.reshape(3, -1), a.reshape(3, -1))).all()  # flat vectors are no images


@pytest.fixture(scope="module")
def cnn():
    net = load_model(bundled_model_path("cnn"))
    data = load_mnist_subset("test")
    x = data.x[[0, 150, 300, 450, 600, 900]]
    targets = np.asarray(net.predict(net.prepare_input(x)).argmax(axis=1), dtype=np.int64)
    return net, x, targets


def test_cascade_randomises_one_more_layer_each_step_from_the_output(cnn):
    net = cnn[0]
    order = randomisation_order(net)
    assert order == sorted(net.linear_indices, reverse=True)
    for step, (name, model) in enumerate(cascade(net, seed=3)):
        for k, index in enumerate(order):
            changed = not np.array_equal(to_numpy(model.layers[index].params["weight"]),
                                         to_numpy(net.layers[index].params["weight"]))
            assert changed == (k <= step), (name, index)
        weight = to_numpy(model.layers[order[step]].params["weight"])
        trained = to_numpy(net.layers[order[step]].params["weight"])
        assert weight.std() == pytest.approx(trained.std(), rel=0.2)  # drawn with the trained layer's sd
    assert step == len(order) - 1


def test_random_other_class_is_never_the_target():
    targets = np.arange(200) % 10
    other = random_other_classes(targets, 10, seed=4)
    assert (other != targets).all() and set(other) == set(range(10))


def test_sanity_scores_on_the_bundled_cnn(cnn):
    net, x, targets = cnn
    scores = sanity_scores(net, x, targets, ["gradient", "lrp0"], seed=5)
    grad = scores["gradient"]
    assert len(grad.layers) == len(net.linear_indices) == len(grad.ssim) == len(grad.spearman)
    # the twin of the figures: the maps computed here again, step by step
    base = explain_in_batches(net, net.prepare_input(x), targets, "gradient")
    *_, (_, full) = [(name, explain_in_batches(m, net.prepare_input(x), targets, "gradient")) for name, m in cascade(net, 5)]
    np.testing.assert_allclose(grad.ssim[-1], np.nanmean(ssim(base, full)), rtol=1e-6)
    rise = (discrete_entropy(full) - discrete_entropy(base)) / discrete_entropy(base)
    np.testing.assert_allclose(grad.emprt, rise.mean(), rtol=1e-6)
    np.testing.assert_allclose(grad.sparseness, gini(base).mean(), rtol=1e-9)
    assert grad.ssim[-1] < 0.5  # gradients of a randomised network are other maps
    assert scores["lrp0"].logit_ssim == pytest.approx(scores["lrp0"].logit_ssim)  # finite
    order = rankings(scores, {"gradient": 1.0, "lrp0": 2.0})
    assert order["aopc"] == ["lrp0", "gradient"]
    assert set(order) >= {"mprt spearman", "emprt", "random-logit spearman", "sparseness", "complexity"}
