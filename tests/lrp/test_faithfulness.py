"""Region perturbation and AOPC: hand-computed curves, the optimality of MoRF on a linear model,
seeded random orders, the three baselines, vectorisation, and evaluate_methods on the bundled CNN."""

from __future__ import annotations

import numpy as np
import pytest

from lrp_studio.errors import ParameterError
from lrp_studio.lrp.faithfulness import (
    aopc,
    aopc_per_sample,
    area_under_curve,
    baseline_values,
    evaluate_methods,
    gaussian_blur,
    iter_evaluation,
    paired_difference,
    perturbation_curve,
    region_cells,
    region_order,
    region_scores,
    removed_percent,
)
from lrp_studio.nn.network import Network


def linear_net(weight, bias=None, input_shape=None):
    """f(x) = W x + b, optionally behind a flatten layer for image-shaped inputs."""
    weight = np.asarray(weight, dtype=np.float32)
    out_f, in_f = weight.shape
    layers = [{"type": "dense", "in_features": in_f, "out_features": out_f}]
    shape = [in_f] if input_shape is None else list(input_shape)
    if input_shape is not None and len(input_shape) > 1:
        layers.insert(0, {"type": "flatten"})
    net = Network.from_spec({"input_shape": shape, "layers": layers})
    index = len(layers) - 1
    bias = np.zeros(out_f, np.float32) if bias is None else np.asarray(bias, np.float32)
    net.load_state_dict({f"{index}.weight": weight, f"{index}.bias": bias})
    return net


# --------------------------------------------------------------------------- AOPC by hand
def test_aopc_of_given_curves_by_hand():
    curves = np.array([[10.0, 6.0, 3.0, 1.0, 0.0],
                       [2.0, 2.0, 1.0, 0.0, 0.0]])
    # sample 1: (0 + 4 + 7 + 9 + 10) / 5 = 6;  sample 2: (0 + 0 + 1 + 2 + 2) / 5 = 1
    assert aopc_per_sample(curves) == pytest.approx([6.0, 1.0])
    assert aopc(curves) == pytest.approx(3.5)
    # mean curve 6, 4, 2, 0.5, 0 over x = 0, 1/4, ..., 1: trapezoids (5 + 3 + 1.25 + 0.25) / 4
    assert area_under_curve(curves) == pytest.approx(9.5 / 4)
    assert area_under_curve(np.array([[3.0]])) == pytest.approx(3.0)


def test_curve_and_aopc_of_a_linear_model_by_hand():
    """f(x) = 4 x0 + 3 x1 + 2 x2 + 1 x3 + 0.5 at x = 1: removing (zero) the features in MoRF order
    gives 10.5, 6.5, 3.5, 1.5, 0.5, so AOPC = (0 + 4 + 7 + 9 + 10) / 5 = 6."""
    net = linear_net([[4, 3, 2, 1], [1, 1, 1, 1]], bias=[0.5, 0.0])
    x = np.ones((1, 4), np.float32)
    relevance = x * np.array([4, 3, 2, 1], np.float32)
    curves = perturbation_curve(net, x, relevance, [0], region=1, steps=4, per_step=1, baseline="zero")
    assert curves == pytest.approx(np.array([[10.5, 6.5, 3.5, 1.5, 0.5]]))
    assert aopc(curves) == pytest.approx(6.0)
    # least relevant first: 10.5, 9.5, 7.5, 4.5, 0.5 -> AOPC (0 + 1 + 3 + 6 + 10) / 5 = 4
    lerf = perturbation_curve(net, x, relevance, [0], region=1, steps=4, per_step=1, baseline="zero", order="lerf")
    assert aopc(lerf) == pytest.approx(4.0)


def test_mean_baseline_by_hand_two_features_per_step():
    """x = (3, 1, 0, 0), mean 1; w = (1, 2, 3, 4); regions of 1 feature, 2 per step.
    Relevance (3, 2, 0, 0) removes features 0, 1 first, then 2, 3 (index order on ties)."""
    net = linear_net([[1, 2, 3, 4]])
    x = np.array([[3, 1, 0, 0]], np.float32)
    relevance = x * np.array([1, 2, 3, 4], np.float32)
    curves = perturbation_curve(net, x, relevance, [0], region=1, steps=2, per_step=2, baseline="mean")
    # f(x) = 5; step 1: x = (1, 1, 0, 0) -> 3; step 2: x = (1, 1, 1, 1) -> 10
    assert curves == pytest.approx(np.array([[5.0, 3.0, 10.0]]))
    assert aopc(curves) == pytest.approx((0 + 2 - 5) / 3)


def test_default_per_step_spreads_all_regions_over_the_steps():
    net = linear_net([[1, 1, 1, 1, 1]])
    x = np.ones((1, 5), np.float32)
    curves = perturbation_curve(net, x, x, [0], region=1, steps=2, per_step=None, baseline="zero")
    assert curves == pytest.approx(np.array([[5.0, 2.0, 0.0]]))  # ceil(5 / 2) = 3 per step
    assert removed_percent(5, 2, None) == pytest.approx([0, 60, 100])
    assert removed_percent(196, 50, 1)[-1] == pytest.approx(100 * 50 / 196)


# --------------------------------------------------------------------------- MoRF is steepest with the true relevance
def test_morf_with_true_linear_relevance_is_the_steepest():
    """For f = w.x + b and the zero baseline, f(x^k) = f(x) - (sum of the removed regions' w*x).
    MoRF by region sums of w*x removes the largest sums first, so its curve lies below every other
    order's at every step: below LeRF and below random orders, and its AOPC is the largest."""
    rng = np.random.default_rng(3)
    shape = (1, 6, 6)
    w = rng.normal(size=(3, 36)).astype(np.float32)
    net = linear_net(w, bias=[0.3, -0.2, 0.1], input_shape=shape)
    x = rng.uniform(0, 1, size=(8,) + shape).astype(np.float32)
    targets = np.array([0, 1, 2, 0, 1, 2, 0, 1])
    relevance = x * w[targets].reshape((8,) + shape)
    morf = perturbation_curve(net, x, relevance, targets, region=2, steps=9, baseline="zero")
    # exact: f(x) minus the cumulative sum of the sorted region sums
    sums = np.sort(region_scores(relevance, 2), axis=1)[:, ::-1]
    expected = morf[:, :1] - np.concatenate([np.zeros((8, 1)), np.cumsum(sums, axis=1)], axis=1)
    assert morf == pytest.approx(expected, abs=1e-4)
    lerf = perturbation_curve(net, x, relevance, targets, region=2, steps=9, baseline="zero", order="lerf")
    assert np.all(morf <= lerf + 1e-4)
    for seed in range(5):
        random = perturbation_curve(net, x, None, targets, region=2, steps=9, baseline="zero", order="random", seed=seed)
        assert np.all(morf <= random + 1e-4)
        assert aopc(morf) >= aopc(random)


def test_random_order_is_reproducible_with_its_seed():
    rng = np.random.default_rng(0)
    net = linear_net(rng.normal(size=(2, 16)), input_shape=(1, 4, 4))
    x = rng.uniform(size=(5, 1, 4, 4)).astype(np.float32)
    a = perturbation_curve(net, x, None, [0] * 5, region=1, steps=8, order="random", seed=7)
    b = perturbation_curve(net, x, None, [0] * 5, region=1, steps=8, order="random", seed=7)
    c = perturbation_curve(net, x, None, [0] * 5, region=1, steps=8, order="random", seed=8)
    assert np.array_equal(a, b)
    assert not np.allclose(a, c)
    orders = region_order(np.zeros((5, 16)), "random", seed=1)
    assert np.array_equal(np.sort(orders, axis=1), np.tile(np.arange(16), (5, 1)))  # permutations
    assert len({tuple(row) for row in orders}) == 5  # an independent order per sample


# --------------------------------------------------------------------------- baselines
def test_uniform_baseline_is_seeded_noise_in_the_range():
    x = np.random.default_rng(1).random((3, 1, 6, 6), dtype=np.float32)
    first = baseline_values(x, "uniform", value_range=(0.0, 1.0), seed=5)
    assert first.shape == x.shape and first.dtype == x.dtype
    assert first.min() >= 0.0 and first.max() <= 1.0 and first.std() > 0.2
    np.testing.assert_array_equal(first, baseline_values(x, "uniform", value_range=(0.0, 1.0), seed=5))
    assert not np.array_equal(first, baseline_values(x, "uniform", value_range=(0.0, 1.0), seed=6))
    wide = baseline_values(x, "uniform", value_range=(-3.0, 3.0), seed=5)
    assert wide.min() < -1.0 and wide.max() > 1.0


def test_baseline_values():
    x = np.arange(2 * 1 * 4 * 4, dtype=np.float32).reshape(2, 1, 4, 4)
    mean = baseline_values(x, "mean")
    assert mean.shape == x.shape
    assert np.allclose(mean[0], x[0].mean()) and np.allclose(mean[1], x[1].mean())
    assert np.array_equal(baseline_values(x, "zero"), np.zeros_like(x))
    blurred = baseline_values(x, "blur", blur_sigma=1.0)
    assert blurred.shape == x.shape and blurred.dtype == x.dtype
    with pytest.raises(ParameterError, match="baseline"):
        baseline_values(x, "noise")
    with pytest.raises(ParameterError, match="image"):
        baseline_values(np.ones((2, 5), np.float32), "blur")


def test_gaussian_blur_keeps_constants_and_spreads_a_point():
    constant = np.full((1, 2, 7, 9), 0.4, np.float32)
    assert np.allclose(gaussian_blur(constant, 1.5), 0.4, atol=1e-6)
    point = np.zeros((1, 1, 13, 13), np.float32)
    point[0, 0, 6, 6] = 1.0
    blurred = gaussian_blur(point, 1.0)[0, 0]  # kernel radius 3: no row reaching the point is cut
    assert blurred.sum() == pytest.approx(1.0, abs=1e-5)
    assert blurred[6, 6] == blurred.max() < 0.5
    assert np.allclose(blurred, blurred.T) and np.allclose(blurred, blurred[::-1, ::-1])
    with pytest.raises(ParameterError):
        gaussian_blur(point, 0.0)


@pytest.mark.parametrize("baseline", ["mean", "zero", "blur"])
def test_removing_everything_ends_at_the_baseline_image(baseline):
    rng = np.random.default_rng(1)
    net = linear_net(rng.normal(size=(2, 25)), bias=[0.1, 0.2], input_shape=(1, 5, 5))
    x = rng.uniform(size=(3, 1, 5, 5)).astype(np.float32)
    relevance = rng.normal(size=x.shape)
    curves = perturbation_curve(net, x, relevance, [1, 1, 1], region=2, steps=3, per_step=None, baseline=baseline)
    fill = baseline_values(x, baseline)
    assert curves[:, -1] == pytest.approx(net.predict(fill)[:, 1], abs=1e-4)
    assert curves[:, 0] == pytest.approx(net.predict(x)[:, 1], abs=1e-4)


# --------------------------------------------------------------------------- regions, vectorisation, outputs
def test_region_cells_cover_borders():
    cells, n = region_cells((1, 5, 5), 2)
    assert n == 9 and cells.shape == (5, 5)
    assert cells[0, 0] == cells[1, 1] == 0 and cells[4, 4] == 8 and cells[0, 4] == 2
    cells, n = region_cells((7,), 3)
    assert n == 3 and list(cells) == [0, 0, 0, 1, 1, 1, 2]
    with pytest.raises(ParameterError):
        region_cells((1, 4, 4), 0)
    scores = region_scores(np.ones((2, 2, 5, 5)), 2)  # channels summed too
    assert scores[0, 0] == 8 and scores[0, 8] == 2


def test_batch_equals_one_sample_at_a_time_and_chunking_does_not_matter():
    from lrp_studio.zoo import load_any_model
    from lrp_studio.data import load_mnist_subset

    net = load_any_model("cnn")
    x = load_mnist_subset("test").x[:5]
    relevance = np.random.default_rng(0).normal(size=x.shape)
    targets = net.predict(x).argmax(axis=1)
    batch = perturbation_curve(net, x, relevance, targets, region=4, steps=6, chunk=5)  # 5 copies per forward
    single = np.concatenate([perturbation_curve(net, x[i : i + 1], relevance[i : i + 1], targets[i : i + 1],
                                                region=4, steps=6) for i in range(5)])
    assert batch == pytest.approx(single, rel=1e-4, abs=1e-4)
    probability = perturbation_curve(net, x, relevance, targets, region=4, steps=6, output="probability")
    assert np.all((probability >= 0) & (probability <= 1))
    assert probability[:, 0] == pytest.approx(np.max(_softmax(net.predict(x)), axis=1), abs=1e-5)


def _softmax(logits):
    e = np.exp(logits - logits.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


@pytest.mark.parametrize("kwargs, message", [
    (dict(order="sideways"), "order"), (dict(output="loss"), "output"), (dict(baseline="noise"), "baseline"),
    (dict(steps=0), "steps"), (dict(per_step=0), "per step"), (dict(region=0), "region"),
])
def test_bad_protocol_is_a_parameter_error(kwargs, message):
    net = linear_net([[1, 2, 3, 4]])
    x = np.ones((1, 4), np.float32)
    with pytest.raises(ParameterError, match=message):
        perturbation_curve(net, x, x, [0], **{"region": 1, **kwargs})


def test_morf_needs_relevance():
    net = linear_net([[1, 2]])
    with pytest.raises(ParameterError, match="relevance"):
        perturbation_curve(net, np.ones((1, 2)), None, [0], region=1)


def test_paired_difference():
    mean, sem, wins = paired_difference(np.array([3.0, 5.0, 4.0]), np.array([1.0, 2.0, 4.0]))
    assert mean == pytest.approx(5 / 3) and wins == pytest.approx(2 / 3)
    assert sem == pytest.approx(np.std([2, 3, 0], ddof=1) / np.sqrt(3))


# --------------------------------------------------------------------------- many methods
def clear_morf_orders(net, x, steps: int, region: int = 2, margin: float = 3e-3) -> np.ndarray:
    """Indices of samples whose first ``steps + 1`` MoRF regions (gradient x input) differ by > ``margin``.

    LRP-0 and gradient x input agree to about 2e-4 of the largest pixel relevance in float32 (the
    rounding of BLAS, which depends on its thread count and on buffer alignment); two regions whose
    scores are closer than that are removed in either order, a coin flip between runs.
    """
    from lrp_studio import explain

    relevance = np.asarray(explain(net, x, method="gradient-x-input").relevance, dtype=np.float64)
    top = np.sort(region_scores(relevance.reshape(x.shape), region), axis=1)[:, ::-1][:, : steps + 1]
    gaps = np.abs(np.diff(top, axis=1)) / np.abs(top).max(axis=1, keepdims=True)
    return np.flatnonzero(gaps.min(axis=1) > margin)


def test_evaluate_methods_on_the_bundled_cnn():
    from lrp_studio.zoo import load_any_model
    from lrp_studio.data import load_mnist_subset

    net = load_any_model("cnn")
    x = load_mnist_subset("test").x[:60]
    clear = clear_morf_orders(net, x, steps=10)
    assert clear.size >= 12
    x = x[clear[:12]]
    scores = evaluate_methods(net, x, methods=["lrp0", "gradient-x-input", "gradient"], region=2, steps=10)
    assert list(scores) == ["lrp0", "gradient-x-input", "gradient", "random"]
    for score in scores.values():
        assert score.curves.shape == (12, 11)
        assert np.isfinite(score.aopc) and score.aopc_sem >= 0
        assert score.curve_mean.shape == (11,)
        report = score.as_dict()
        assert len(report["curve_mean"]) == 11 and len(report["aopc_per_sample"]) == 12
    # LRP-0 equals gradient x input on a ReLU network, so their curves agree
    assert scores["lrp0"].curves == pytest.approx(scores["gradient-x-input"].curves, rel=1e-3, abs=1e-3)
    assert scores["lrp0"].aopc > scores["random"].aopc
    # all methods start from the same f(x^0): the predicted class's logit
    start = net.predict(x).max(axis=1)
    assert scores["gradient"].curves[:, 0] == pytest.approx(start, rel=1e-5)


def test_iter_evaluation_yields_one_score_per_method_and_rejects_unknown_names():
    net = linear_net([[1, 2, 3, 4], [0, 1, 0, 1]])
    x = np.random.default_rng(0).uniform(size=(4, 4)).astype(np.float32)
    names = [score.method for score in iter_evaluation(net, x, None, ["lrp0", "gradient"])]
    assert names == ["lrp0", "gradient", "random"]
    with pytest.raises(ParameterError, match="unknown method"):
        evaluate_methods(net, x, methods=["lrp0", "nonsense"])


def test_target_outputs_logit_and_probability():
    from lrp_studio.lrp.outputs import probabilities, target_outputs

    logits = np.array([[1.0, 3.0, -2.0], [800.0, 0.0, 799.0]], np.float32)
    np.testing.assert_array_equal(target_outputs(logits, [1, 2]), [3.0, 799.0])
    p = target_outputs(logits, [1, 2], "probability")
    shifted = np.exp([[1.0 - 3.0, 0.0, -5.0]])
    assert p[0] == pytest.approx(1.0 / shifted.sum()) and p[1] == pytest.approx(1 / (1 + np.exp(1.0)))  # e^-1 / (1 + e^-1), no overflow
    one = np.array([[0.0], [-1000.0], [2.0]])
    np.testing.assert_allclose(probabilities(one)[:, 0], [0.5, 0.0, 1 / (1 + np.exp(-2.0))])
    np.testing.assert_allclose(probabilities(logits).sum(axis=1), 1.0)
    with pytest.raises(ParameterError, match="unknown output 'loss'"):
        target_outputs(logits, [0, 0], "loss")


def test_probability_curves_of_a_one_output_network_use_the_sigmoid():
    net = linear_net([[1.0, -2.0, 0.5]])
    x = np.array([[0.3, 0.1, 0.9]], np.float32)
    curves = perturbation_curve(net, x, x, [0], region=1, steps=1, baseline="zero", output="probability")
    z = float(x[0] @ np.array([1.0, -2.0, 0.5]))
    assert curves[0, 0] == pytest.approx(1 / (1 + np.exp(-z)), rel=1e-6)


def test_evaluation_scores_the_model_default_method():
    import lrp_studio

    net = linear_net([[1, 2, 3, 4], [0, 1, 0, 1]])
    x = np.random.default_rng(1).uniform(size=(3, 4)).astype(np.float32)
    scores = evaluate_methods(net, x, region=1, steps=2)
    assert list(scores) == [lrp_studio.lrp.default_method(net), "random"] == ["epsilon-plus", "random"]
