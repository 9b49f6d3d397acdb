"""Agreement of ``evaluate``'s per-sample curves with Quantus (issue 18).

Quantus 0.6 (Hedström et al. 2023, an independent implementation of Samek et al.'s region
perturbation and of pixel flipping) runs on a PyTorch copy of the bundled CNN with the same weights;
LRP Studio's curves come from :func:`lrp_studio.lrp.faithfulness.evaluate_methods`, the function
behind ``lrp-studio evaluate``. Runs where ``torch`` and ``quantus`` import (the ``test`` and
``eval`` extras), skipped otherwise.

Quantus's ``RegionPerturbation`` returns f(x) - f(x^k) for k = 1..L, its ``PixelFlipping`` f(x^k)
for every step; both sort with an unstable ``argsort``, so they are given maps whose order is
unambiguous: a dense map (epsilon-gamma-box) on samples whose compared ranks are clear, and for a
sparse map with exact ties (LRP-0) a rank map built from LRP Studio's own tie-broken order (each
region's pixels get ``R - rank``), which checks that the curve is the one of that order. Fills:
zero (Quantus's own replacement with the value 0), the sample's mean (Quantus's replacement with
the unperturbed sample's mean as the value: Quantus's own ``"mean"`` recomputes the mean from the
already perturbed image, see the last test) and LRP Studio's seeded uniform noise injected as a
Quantus perturbation function (Quantus's own ``"uniform"`` draws one grey value per sample).
"""

from __future__ import annotations

import warnings
from functools import lru_cache
from typing import Any

import numpy as np
import pytest

torch = pytest.importorskip("torch", reason="the Quantus cross-check needs torch (pip install '.[eval]')")
quantus = pytest.importorskip("quantus", reason="the Quantus cross-check needs quantus (pip install '.[eval]')")

from lrp_studio.data import load_mnist_subset  # noqa: E402
from lrp_studio.lrp.faithfulness import (  # noqa: E402
    EvaluationSettings,
    baseline_values,
    evaluate_methods,
    explain_in_batches,
    region_order,
    region_scores,
)
from lrp_studio.zoo import load_any_model  # noqa: E402

TOLERANCE = 1e-4  # absolute, on logits of about 20; measured worst 9.5e-6 (6 samples, every case)
STEPS = 50  # 2x2 regions, one per step (the default protocol)
PIXEL_STEPS = 50  # pixel flipping: 4 pixels a step, 200 pixels
SAMPLES = 6
FILLS = ("zero", "mean", "uniform")


def torch_cnn(net: Any) -> Any:
    """The bundled CNN as a ``torch.nn.Sequential`` with the same layer indices and float32 weights."""
    modules = []
    for layer in net.spec()["layers"]:
        kind = layer["type"]
        if kind == "conv2d":
            modules.append(torch.nn.Conv2d(layer["in_channels"], layer["out_channels"], layer["kernel_size"],
                                           stride=layer["stride"], padding=layer["padding"]))
        elif kind == "maxpool2d":
            modules.append(torch.nn.MaxPool2d(layer["kernel_size"], layer["stride"]))
        elif kind == "dense":
            modules.append(torch.nn.Linear(layer["in_features"], layer["out_features"]))
        elif kind == "flatten":
            modules.append(torch.nn.Flatten())
        elif kind == "relu":
            modules.append(torch.nn.ReLU())
        else:
            raise KeyError(kind)
    model = torch.nn.Sequential(*modules)
    model.load_state_dict({k: torch.from_numpy(np.asarray(v, np.float32)) for k, v in net.state_dict().items()})
    return model.eval()


@lru_cache(maxsize=None)
def setting() -> tuple[Any, Any, np.ndarray, np.ndarray]:
    net = load_any_model("cnn")
    x = np.asarray(net.prepare_input(load_mnist_subset("test").x[:SAMPLES]), np.float32)
    targets = np.asarray(net.predict(x).argmax(axis=1), np.int64)
    return net, torch_cnn(net), x, targets


@lru_cache(maxsize=None)
def ours(method: str, fill: str, region: int, steps: int, per_step: int) -> tuple[np.ndarray, np.ndarray]:
    """``evaluate``'s per-sample curves (N, steps + 1) and the relevance maps they ranked."""
    net, _, x, targets = setting()
    settings = EvaluationSettings(region=region, steps=steps, per_step=per_step, baseline=fill, seed=0)
    curves = evaluate_methods(net, x, targets, [method], settings, include_random=False)[method].curves
    return curves, explain_in_batches(net, x, targets, method)


def clear_samples(scores: np.ndarray, count: int) -> np.ndarray:
    """Samples whose ``count`` largest scores are distinct by more than 1e-6 of the largest |score|."""
    top = np.sort(scores, axis=1)[:, ::-1][:, :count]
    gaps = -np.diff(top, axis=1) / np.abs(scores).max(axis=1, keepdims=True)
    return np.flatnonzero(gaps.min(axis=1) > 1e-6)


def rank_map(scores: np.ndarray, cells: np.ndarray) -> np.ndarray:
    """(N, 1, H, W) map whose region sums fall strictly along LRP Studio's removal order."""
    ranking = region_order(scores, "morf", seed=0)
    rank = np.empty_like(ranking)
    rank[np.arange(ranking.shape[0])[:, None], ranking] = np.arange(ranking.shape[1])[None, :]
    value = (ranking.shape[1] - rank).astype(np.float64)  # (N, R)
    return value[:, cells][:, None]


def inject_fill(arr: np.ndarray, indices: np.ndarray, fill: np.ndarray, **kwargs: Any) -> np.ndarray:
    """A Quantus perturbation function: set ``indices`` of each flattened sample to ``fill``'s values there."""
    out = np.array(arr, copy=True)
    rows = np.arange(arr.shape[0])[:, None]
    out[rows, indices] = fill.reshape(arr.shape[0], -1)[rows, indices]
    return out


def quantus_run(metric_class: Any, a_batch: np.ndarray, fill: str, rows: np.ndarray, **metric_kwargs: Any) -> np.ndarray:
    """Quantus's per-sample output for samples ``rows`` under one fill (zero, the sample's mean or our noise)."""
    net, model, x, targets = setting()
    common = dict(abs=False, normalise=False, disable_warnings=True, display_progressbar=False, **metric_kwargs)
    call = dict(model=model, softmax=False, device="cpu", channel_first=True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        if fill == "zero":
            metric = metric_class(perturb_baseline=0.0, **common)
            return np.asarray(metric(x_batch=x[rows], y_batch=targets[rows], a_batch=a_batch[rows], **call))
        if fill == "uniform":
            noise = baseline_values(x, "uniform", value_range=net.input_range, seed=0)
            metric = metric_class(perturb_func=inject_fill, perturb_func_kwargs={"fill": noise[rows]}, **common)
            return np.asarray(metric(x_batch=x[rows], y_batch=targets[rows], a_batch=a_batch[rows], **call))
        out = []
        for i in rows:  # Quantus takes one fill value per call; the unperturbed sample's mean
            metric = metric_class(perturb_baseline=float(x[i].mean()), **common)
            out.append(metric(x_batch=x[i : i + 1], y_batch=targets[i : i + 1], a_batch=a_batch[i : i + 1], **call)[0])
        return np.asarray(out)


@pytest.mark.parametrize("fill", FILLS)
@pytest.mark.parametrize("method", ["epsilon-gamma-box", "lrp0"])
def test_region_perturbation_curves_agree_with_quantus(method, fill):
    from lrp_studio.lrp.perturbation import region_cells

    curves, relevance = ours(method, fill, region=2, steps=STEPS, per_step=1)
    scores = region_scores(relevance, 2)
    if method == "lrp0":  # exact ties: Quantus gets LRP Studio's tie-broken order as a rank map
        assert np.all((scores > 0).sum(axis=1) < STEPS)  # ties within the compared steps
        rows = np.arange(SAMPLES)
        a_batch = rank_map(scores, region_cells((1, 28, 28), 2)[0])
    else:
        rows = clear_samples(scores, STEPS + 1)
        a_batch = np.asarray(relevance, np.float64)
    assert rows.size >= 3, rows
    drops = quantus_run(quantus.RegionPerturbation, a_batch, fill, rows, patch_size=2, order="morf",
                        regions_evaluation=STEPS)
    assert drops.shape == (rows.size, STEPS)
    expected = curves[rows, :1] - curves[rows, 1:]
    np.testing.assert_allclose(drops, expected, rtol=0, atol=TOLERANCE)
    assert np.abs(expected).max() > 1.0  # the curves do move


@pytest.mark.parametrize("fill", FILLS)
@pytest.mark.parametrize("method", ["epsilon-gamma-box", "lrp0"])
def test_pixel_flipping_curves_agree_with_quantus(method, fill):
    curves, relevance = ours(method, fill, region=1, steps=PIXEL_STEPS, per_step=4)
    scores = region_scores(relevance, 1)  # (N, 784)
    if method == "lrp0":
        rows = np.arange(SAMPLES)
        a_batch = rank_map(scores, np.arange(784).reshape(28, 28))
    else:
        rows = clear_samples(scores, 4 * PIXEL_STEPS + 1)
        a_batch = np.asarray(relevance, np.float64)
    assert rows.size >= 3, rows
    values = quantus_run(quantus.PixelFlipping, a_batch, fill, rows, features_in_step=4)
    assert values.shape == (rows.size, 196)  # Quantus flips every pixel, 4 a step
    np.testing.assert_allclose(values[:, :PIXEL_STEPS], curves[rows, 1:], rtol=0, atol=TOLERANCE)


def test_quantus_own_mean_and_uniform_fills_are_other_protocols():
    """Quantus's ``"mean"`` takes the mean of the already perturbed image at every step and its
    ``"uniform"`` one grey value per sample: neither is LRP Studio's fill (README, protocol)."""
    from lrp_studio.lrp.perturbation import region_cells

    net, model, x, targets = setting()
    curves, relevance = ours("lrp0", "mean", region=2, steps=STEPS, per_step=1)
    a_batch = rank_map(region_scores(relevance, 2), region_cells((1, 28, 28), 2)[0])
    call = dict(model=model, x_batch=x, y_batch=targets, a_batch=a_batch, softmax=False, device="cpu",
                channel_first=True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        own_mean = np.asarray(quantus.RegionPerturbation(patch_size=2, regions_evaluation=STEPS, abs=False, normalise=False,
                                                         perturb_baseline="mean", disable_warnings=True)(**call))
        np.random.seed(0)
        own_uniform = np.asarray(quantus.RegionPerturbation(patch_size=2, regions_evaluation=STEPS, abs=False,
                                                            normalise=False, perturb_baseline="uniform",
                                                            disable_warnings=True)(**call))
    ours_mean = curves[:, :1] - curves[:, 1:]
    assert np.abs(own_mean - ours_mean).max() > 0.05
    uniform_curves, _ = ours("lrp0", "uniform", region=2, steps=STEPS, per_step=1)
    assert np.abs(own_uniform - (uniform_curves[:, :1] - uniform_curves[:, 1:])).max() > 0.05
