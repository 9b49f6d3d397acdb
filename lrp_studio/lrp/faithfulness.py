"""Faithfulness of explanations: pixel flipping / region perturbation and AOPC.

Region perturbation (Samek et al. 2017, "Evaluating the visualization of what a deep neural
network has learned"): split the input into regions (``region`` x ``region`` patches over all
channels, or groups of ``region`` consecutive features for flat inputs), rank them by summed
relevance, and remove them step by step, most relevant first (MoRF), replacing them by a
baseline. With ``x^0 = x`` and ``x^k`` the input after k steps, the perturbation curve of a
sample is ``f(x^0), f(x^1), ..., f(x^L)`` for the target output f (logit or probability), and

    AOPC = < 1/(L+1) * sum_{k=0..L} ( f(x^0) - f(x^k) ) >_samples

A faithful explanation removes the evidence first, so its curve drops fast and its AOPC is
large; a random order of the regions is the reference every method should beat.

Ties and seeds. Regions with equal summed relevance (sparse maps such as LRP-0 or gradient x
input give every blank 2 x 2 region exactly 0) are removed in the order of a seeded random key
per region, not in row-major order: a stable sort would remove the top-left border first. The
protocol's randomness comes from three separate streams of one seed,
``np.random.SeedSequence(seed).spawn(3)``: ``noise`` (the uniform fill), ``order`` (the random
removal order) and ``ties`` (the tie-break keys). Each stream is drawn afresh for every method,
so every method, the ``random`` row included, sees the same noise and the same tie keys on a
sample (row i of the batch), and a seed changes all rows alike (:func:`protocol_rng`).

Everything is vectorised over samples and steps: all perturbed copies go through
``net.forward`` in chunks, with no Python loop over samples.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from typing import Any, Iterator, Sequence

import numpy as np

from lrp_studio.backend import to_numpy
from lrp_studio.errors import ParameterError
from lrp_studio.lrp.composites import default_method
from lrp_studio.lrp.explain import explain
from lrp_studio.lrp.methods import METHODS
from lrp_studio.lrp.outputs import check_output, check_targets, target_outputs
from lrp_studio.lrp.perturbation import region_cells
from lrp_studio.nn.budget import forward_chunk
from lrp_studio.nn.network import Network

Array = Any

BASELINE_VALUES = ("mean", "zero", "blur", "uniform")
ORDERS = ("morf", "lerf", "random")
RANDOM = "random"

DEFAULT_REGION = 2
DEFAULT_STEPS = 50
DEFAULT_PER_STEP = 1
DEFAULT_BLUR_SIGMA = 2.0

#: The protocol's random streams, in the order of ``np.random.SeedSequence(seed).spawn(3)``.
STREAMS = ("noise", "order", "ties")
TIE_RULE = "ties broken by a seeded random key per region (stream 'ties'), the same for every method"


def protocol_rng(seed: int | None, purpose: str) -> np.random.Generator:
    """A fresh generator for one purpose of the perturbation protocol's randomness.

    Parameters
    ----------
    seed : int or None
        The protocol seed (``--seed``); None draws fresh entropy (then nothing is repeatable,
        not even between two methods of one evaluation).
    purpose : {"noise", "order", "ties"}
        ``noise``: the uniform fill; ``order``: the keys of the random removal order;
        ``ties``: the tie-break keys of ranked regions.

    Returns
    -------
    numpy.random.Generator
        ``default_rng(SeedSequence(seed).spawn(3)[i])`` with i the purpose's index in
        :data:`STREAMS`: independent streams, each starting afresh on every call, so every
        method gets the same values.

    Raises
    ------
    ParameterError
        An unknown purpose.
    """
    if purpose not in STREAMS:
        raise ParameterError(f"unknown random stream {purpose!r}; choose one of {', '.join(STREAMS)}")
    return np.random.default_rng(np.random.SeedSequence(seed).spawn(len(STREAMS))[STREAMS.index(purpose)])


# --------------------------------------------------------------------------- regions
def region_scores(relevance: np.ndarray, region: int) -> np.ndarray:
    """Summed relevance per region (all channels together), shape (N, n_regions)."""
    relevance = np.asarray(to_numpy(relevance), dtype=np.float64)
    cells, n_regions = region_cells(relevance.shape[1:], region)
    n = relevance.shape[0]
    spatial = relevance.sum(axis=1) if relevance.ndim == 4 else relevance  # (N, H, W) or (N, F)
    flat = spatial.reshape(n, cells.size)
    # one-hot membership product: (N, positions) @ (positions, regions)
    membership = np.zeros((cells.size, n_regions))
    membership[np.arange(cells.size), cells.reshape(-1)] = 1.0
    return flat @ membership


def region_order(scores: np.ndarray, order: str = "morf", seed: int | None = 0,
                 keys: np.ndarray | None = None) -> np.ndarray:
    """Regions in removal order, shape (N, n_regions).

    Parameters
    ----------
    scores : ndarray (N, n_regions)
        Summed relevance per region (:func:`region_scores`).
    order : {"morf", "lerf", "random"}
        ``morf``: descending score; ``lerf``: ascending score; ``random``: a permutation per
        sample from the ``order`` stream of ``seed`` (independent of the scores).
    seed : int or None
        Protocol seed (:func:`protocol_rng`). For ``morf``/``lerf``, equal scores are ordered
        by the keys ``protocol_rng(seed, "ties").random((N, n_regions))`` (smallest key first),
        the same keys for every method on the same batch; not by region index.
    keys : ndarray (N, n_regions), optional
        The random keys to use instead of drawing them from ``seed`` (the ``order`` keys for
        ``random``, the ``ties`` keys otherwise): the rows of a whole run's draws, so that a chunk of
        the run orders its samples as the whole run does (:mod:`lrp_studio.app.distributed_evaluation`).

    Returns
    -------
    ndarray of int64 (N, n_regions)
        Row i lists sample i's region indices, the first removed first.

    Raises
    ------
    ParameterError
        An unknown order.
    """
    if order not in ORDERS:
        raise ParameterError(f"unknown order {order!r}; choose one of {', '.join(ORDERS)}")
    scores = np.asarray(scores, dtype=np.float64)
    if keys is not None and np.shape(keys) != scores.shape:
        raise ParameterError(f"random keys of shape {np.shape(keys)} for scores of shape {scores.shape}")
    if order == RANDOM:
        draws = protocol_rng(seed, "order").random(scores.shape) if keys is None else keys
        return np.argsort(draws, axis=1, kind="stable")
    ties = protocol_rng(seed, "ties").random(scores.shape) if keys is None else keys
    primary = -scores if order == "morf" else scores
    return np.lexsort((ties, primary), axis=1)  # the last key sorts first: score, then the tie key


# --------------------------------------------------------------------------- baselines
def baseline_values(x: np.ndarray, baseline: str = "mean", blur_sigma: float = DEFAULT_BLUR_SIGMA,
                    value_range: tuple[float, float] | None = None, seed: int | None = 0) -> np.ndarray:
    """What removed regions are replaced by, same shape as ``x`` (N, ...).

    ``mean``: each sample's mean over all its input values (the notes' "mean of the layer",
    as in the occlusion baseline); ``zero``: 0; ``blur``: the sample blurred with a Gaussian of
    standard deviation ``blur_sigma`` pixels per channel (images only, zero padding beyond
    the border renormalised away); ``uniform``: one value per input value (pixel and channel),
    drawn uniformly from ``value_range`` (default: the batch's min..max) from the ``noise``
    stream of ``seed`` (:func:`protocol_rng`), the region perturbation of Samek et al. 2017.
    Sample i's noise depends only on ``seed``, i and the range, so every method sees the same noise.
    """
    x = np.asarray(x)
    if baseline == "uniform":
        low, high = value_range if value_range is not None else (float(x.min()), float(x.max()))
        return protocol_rng(seed, "noise").uniform(low, high, size=x.shape).astype(x.dtype)
    if baseline == "mean":
        means = x.reshape(x.shape[0], -1).mean(axis=1)
        return np.broadcast_to(means.reshape((-1,) + (1,) * (x.ndim - 1)), x.shape).astype(x.dtype)
    if baseline == "zero":
        return np.zeros_like(x)
    if baseline == "blur":
        if x.ndim != 4:
            raise ParameterError("the blur baseline needs image inputs (N, C, H, W); use mean or zero")
        return gaussian_blur(x, blur_sigma)
    raise ParameterError(f"unknown baseline {baseline!r}; choose one of {', '.join(BASELINE_VALUES)}")


def gaussian_blur(images: np.ndarray, sigma: float) -> np.ndarray:
    """Separable Gaussian blur of (N, C, H, W) images over H and W, normalised at the borders."""
    if not np.isfinite(sigma) or sigma <= 0:
        raise ParameterError(f"blur sigma must be a number > 0, got {sigma}")
    radius = max(1, int(math.ceil(3 * sigma)))
    offsets = np.arange(-radius, radius + 1)
    kernel = np.exp(-0.5 * (offsets / sigma) ** 2)
    kernel /= kernel.sum()

    def blur_axis(a: np.ndarray, axis: int) -> np.ndarray:
        length = a.shape[axis]
        # (length, length) band matrix; rows renormalised so a constant image stays constant
        matrix = np.zeros((length, length))
        for offset, weight in zip(offsets, kernel):
            matrix += weight * np.eye(length, k=int(offset))
        matrix /= matrix.sum(axis=1, keepdims=True)
        return np.moveaxis(np.tensordot(a, matrix, axes=([axis], [1])), -1, axis)

    out = blur_axis(blur_axis(images.astype(np.float64), 2), 3)
    return out.astype(images.dtype)


# --------------------------------------------------------------------------- curves
def resolve_per_step(n_regions: int, steps: int, per_step: int | None) -> int:
    """Regions removed per step: ``per_step``, or with None enough to remove all of them in ``steps``."""
    if int(steps) != steps or steps < 1:
        raise ParameterError(f"steps must be an integer >= 1, got {steps}")
    if per_step is None:
        return max(1, -(-n_regions // int(steps)))
    if int(per_step) != per_step or per_step < 1:
        raise ParameterError(f"regions per step must be an integer >= 1, got {per_step}")
    return int(per_step)


def perturbation_curve(net: Network, x: Any, relevance: Any | None, targets: Any, region: int = DEFAULT_REGION,
                       steps: int = DEFAULT_STEPS, per_step: int | None = DEFAULT_PER_STEP, baseline: str = "mean",
                       order: str = "morf", seed: int | None = 0, output: str = "logit",
                       blur_sigma: float = DEFAULT_BLUR_SIGMA, chunk: int | None = None,
                       keys: np.ndarray | None = None, fill: np.ndarray | None = None) -> np.ndarray:
    """Region-perturbation curves f(x^0), ..., f(x^L) of every sample.

    Parameters
    ----------
    net : Network
    x : array (N, C, H, W) or (N, F)
    relevance : array like ``x``, or None for ``order="random"``
        Ranks the regions (summed over each region and all channels).
    targets : (N,) ints
        The output explained (usually the predicted class).
    region : int
        Patch side in pixels (default 2: 196 regions on 28 x 28 MNIST).
    steps : int
        L, the number of perturbation steps (default 50).
    per_step : int or None
        Regions removed per step (default 1, as in Samek et al. 2017: MNIST with 2 x 2
        regions and 50 steps removes 200 of 784 pixels, about the ink of a digit). None
        spreads all regions over the steps, so the last step has removed everything.
    baseline : {"mean", "zero", "blur", "uniform"}
        Replacement of removed regions, see :func:`baseline_values`: ``mean`` (default here;
        each sample's mean over all its input values, computed once from the unperturbed
        sample), ``zero``, ``blur`` (the sample blurred with a Gaussian of ``blur_sigma`` px)
        or ``uniform`` (per-value uniform noise over ``net.input_range``, seeded; the default of
        :class:`EvaluationSettings` and ``lrp-studio evaluate``, as in Samek et al. 2017).
    order : {"morf", "lerf", "random"}
        Most relevant first (the AOPC order), least relevant first, or a random order.
        Equal region scores are ordered by seeded random keys (:func:`region_order`).
    seed : int or None
        Protocol seed: the uniform noise, the random order and the tie-break keys come from
        its three separate streams (:func:`protocol_rng`); the same seed gives every method
        the same noise and tie keys (default 0).
    output : {"logit", "probability"}
        The recorded f: the target's logit or its softmax probability (sigmoid for 1 output).
    blur_sigma : float
        Gaussian sigma of the blur baseline, in pixels.
    chunk : int, optional
        Perturbed copies per forward pass; default :func:`lrp_studio.nn.budget.forward_chunk` (a
        memory budget, at most 1024).
    keys : ndarray (N, n_regions), optional
        Random keys instead of the seed's draws (:func:`region_order`).
    fill : array like ``x``, optional
        The baseline values instead of :func:`baseline_values` (a whole run's uniform noise, sliced).

    Returns
    -------
    ndarray (N, L + 1), float64
        Column 0 is f(x), column k the value after k steps.
    """
    check_output(output)
    if order not in ORDERS:
        raise ParameterError(f"unknown order {order!r}; choose one of {', '.join(ORDERS)}")
    xb = np.asarray(to_numpy(net.prepare_input(x)), dtype=np.float32)
    n = xb.shape[0]
    targets = np.broadcast_to(np.asarray(to_numpy(targets), dtype=np.int64).reshape(-1), (n,))
    cells, n_regions = region_cells(xb.shape[1:], region)
    per_step = resolve_per_step(n_regions, steps, per_step)
    steps = int(steps)
    if order == "random":
        scores = np.zeros((n, n_regions))
    else:
        if relevance is None:
            raise ParameterError(f"order {order!r} needs a relevance map")
        rel = np.asarray(to_numpy(relevance), dtype=np.float64).reshape(xb.shape)
        scores = region_scores(rel, region)
    ranking = region_order(scores, order, seed, keys)
    position = np.empty_like(ranking)
    position[np.arange(n)[:, None], ranking] = np.arange(n_regions)[None, :]
    removal_step = position // per_step + 1  # (N, regions): the step at which a region goes
    pixel_step = removal_step[:, cells.reshape(-1)]  # (N, positions)
    if fill is None:
        fill = baseline_values(xb, baseline, blur_sigma, net.input_range, seed)
    fill = np.asarray(fill, dtype=np.float32).reshape(xb.shape)

    spatial = int(cells.size)
    channels = xb.shape[1] if xb.ndim == 4 else 1
    flat_x = xb.reshape(n, channels, spatial)
    flat_fill = fill.reshape(n, channels, spatial)
    ks = np.arange(steps + 1)
    curves = np.empty((n, steps + 1))
    per_chunk = max(1, (int(chunk) if chunk is not None else forward_chunk(net, 1024)) // (steps + 1))
    for start in range(0, n, per_chunk):
        stop = min(n, start + per_chunk)
        removed = pixel_step[start:stop, None, :] <= ks[None, :, None]  # (n, L+1, positions)
        copies = np.where(removed[:, :, None, :], flat_fill[start:stop, None], flat_x[start:stop, None])
        batch = net.prepare_input(copies.reshape((-1,) + xb.shape[1:]))
        values = target_outputs(net.forward(batch), np.repeat(targets[start:stop], steps + 1), output)
        curves[start:stop] = values.reshape(stop - start, steps + 1)
    return curves


def aopc(curves: np.ndarray) -> float:
    """AOPC = mean over samples of 1/(L+1) * sum_{k=0..L} (f(x^0) - f(x^k)); curves (N, L+1)."""
    return float(aopc_per_sample(curves).mean())


def aopc_per_sample(curves: np.ndarray) -> np.ndarray:
    """Each sample's 1/(L+1) * sum_{k=0..L} (f(x^0) - f(x^k)), shape (N,)."""
    curves = np.asarray(curves, dtype=np.float64)
    if curves.ndim != 2 or curves.shape[1] < 1 or curves.shape[0] < 1:
        raise ParameterError(f"curves must be (N, L+1) with N >= 1, got shape {curves.shape}")
    return (curves[:, :1] - curves).mean(axis=1)


def area_under_curve(curves: np.ndarray) -> float:
    """Trapezoidal area under the mean curve over the fraction of steps done, x in [0, 1].

    Lower is better for MoRF curves (the output falls sooner). With L = 0 it is f(x^0).
    """
    curves = np.asarray(curves, dtype=np.float64)
    if curves.ndim == 1:
        curves = curves[None]
    mean = curves.mean(axis=0)
    if mean.size == 1:
        return float(mean[0])
    return float(np.sum((mean[1:] + mean[:-1]) / 2.0) / (mean.size - 1))


# --------------------------------------------------------------------------- many methods
@dataclass
class MethodScore:
    """Faithfulness of one method on a batch.

    Attributes
    ----------
    method : str
    aopc : float
    aopc_sem : float
        Standard error of the mean of the per-sample AOPC values.
    auc : float
        :func:`area_under_curve` of the curves.
    curves : ndarray (N, L+1)
    seconds : float
        Time to explain and perturb.
    """

    method: str
    aopc: float
    aopc_sem: float
    auc: float
    curves: np.ndarray
    seconds: float = 0.0

    @property
    def curve_mean(self) -> np.ndarray:
        return self.curves.mean(axis=0)

    @property
    def per_sample(self) -> np.ndarray:
        """Each sample's AOPC (N,)."""
        return aopc_per_sample(self.curves)

    @property
    def curve_std(self) -> np.ndarray:
        return self.curves.std(axis=0)

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready summary (no per-sample curves)."""
        return {"aopc": self.aopc, "aopc_sem": self.aopc_sem, "auc": self.auc,
                "curve_mean": [float(v) for v in self.curve_mean], "curve_std": [float(v) for v in self.curve_std],
                "aopc_per_sample": [float(v) for v in self.per_sample], "seconds": self.seconds}


def paired_difference(scores: np.ndarray, reference: np.ndarray) -> tuple[float, float, float]:
    """Mean and standard error of per-sample AOPC differences, and the share of samples won.

    Paired over the same samples, so the noise of sample difficulty cancels; a difference is
    clear when its mean is several standard errors from zero.
    """
    diff = np.asarray(scores, dtype=np.float64) - np.asarray(reference, dtype=np.float64)
    if diff.ndim != 1 or diff.size == 0:
        raise ParameterError(f"paired scores must be two (N,) arrays, got shape {diff.shape}")
    sem = float(diff.std(ddof=1) / math.sqrt(diff.size)) if diff.size > 1 else 0.0
    return float(diff.mean()), sem, float(np.mean(diff > 0))


def removed_percent(n_regions: int, steps: int, per_step: int | None) -> np.ndarray:
    """Share of regions removed after step k = 0..L, in percent (the x axis of a curve plot)."""
    per_step = resolve_per_step(n_regions, steps, per_step)
    return 100.0 * np.minimum(np.arange(int(steps) + 1) * per_step, n_regions) / n_regions


@dataclass
class EvaluationSettings:
    """The perturbation protocol shared by all methods of one evaluation.

    ``seed`` seeds the uniform noise, the random order and the tie-break keys (three separate
    streams, :func:`protocol_rng`), the same for every method and the ``random`` row.
    """

    region: int = DEFAULT_REGION
    steps: int = DEFAULT_STEPS
    per_step: int | None = DEFAULT_PER_STEP
    baseline: str = "uniform"  # Samek et al. 2017: regions replaced by uniform noise
    output: str = "logit"
    seed: int = 0
    blur_sigma: float = DEFAULT_BLUR_SIGMA
    batch_size: int = 50
    method_params: dict[str, dict[str, Any]] = field(default_factory=dict)

    def check(self) -> None:
        if self.baseline not in BASELINE_VALUES:
            raise ParameterError(f"unknown baseline {self.baseline!r}; choose one of {', '.join(BASELINE_VALUES)}")
        check_output(self.output)
        if int(self.batch_size) != self.batch_size or self.batch_size < 1:
            raise ParameterError(f"batch size must be an integer >= 1, got {self.batch_size}")
        region_cells((1,), self.region)
        resolve_per_step(1, self.steps, self.per_step)

    def protocol(self) -> dict[str, Any]:
        """The keywords of :func:`perturbation_curve` (all but ``order``)."""
        return dict(region=self.region, steps=self.steps, per_step=self.per_step, baseline=self.baseline,
                    output=self.output, blur_sigma=self.blur_sigma, seed=self.seed)


def explain_in_batches(net: Network, x: np.ndarray, targets: np.ndarray, method: Any, batch_size: int = 50,
                       **params: Any) -> np.ndarray:
    """Input relevance (N, ...) of ``method`` for the given targets, computed ``batch_size`` samples at a time."""
    parts = [explain(net, x[i : i + batch_size], target=targets[i : i + batch_size], method=method,
                     keep_layers=False, **params).relevance
             for i in range(0, x.shape[0], batch_size)]
    return np.concatenate(parts, axis=0)


def iter_evaluation(net: Network, x: Any, targets: Any = None, methods: Sequence[Any] | None = None,
                    settings: EvaluationSettings | None = None, include_random: bool = True) -> Iterator[MethodScore]:
    """Score the methods one after another, yielding a :class:`MethodScore` per method (cancellable).

    ``targets`` None explains each sample's predicted class; ``methods`` None scores the model's
    default method (:func:`~lrp_studio.lrp.default_method`). The random order comes last, under
    the name ``"random"``.

    Raises
    ------
    ParameterError
        An unknown method name or protocol setting (before any work is done).
    """
    settings = settings or EvaluationSettings()
    settings.check()
    methods = [default_method(net)] if methods is None else list(methods)
    for method in methods:
        if isinstance(method, str) and method not in METHODS:
            raise ParameterError(f"unknown method {method!r}; choose one of {', '.join(METHODS)}")
    xb = np.asarray(to_numpy(net.prepare_input(x)), dtype=np.float32)
    if targets is None:
        targets = np.asarray(net.predict(xb).argmax(axis=1), dtype=np.int64)
    flat = np.asarray(targets).reshape(-1) if np.ndim(targets) else targets
    targets = check_targets(flat, xb.shape[0], net.n_classes)  # whole: messages name the sample, not a chunk
    protocol = settings.protocol()  # one seed for every row: the same noise and tie keys
    for method in [*methods, *([RANDOM] if include_random else [])]:
        started = time.perf_counter()
        name = method if isinstance(method, str) else "custom"
        if method == RANDOM:
            curves = perturbation_curve(net, xb, None, targets, order="random", **protocol)
        else:
            relevance = explain_in_batches(net, xb, targets, method, settings.batch_size,
                                           **settings.method_params.get(name, {}))
            curves = perturbation_curve(net, xb, relevance, targets, order="morf", **protocol)
        yield method_score(name, curves, time.perf_counter() - started)


def method_score(name: str, curves: np.ndarray, seconds: float = 0.0) -> MethodScore:
    """AOPC, its standard error and the AUC of one method's curves (N, L+1): its :class:`MethodScore`."""
    per_sample = aopc_per_sample(curves)
    sem = float(per_sample.std(ddof=1) / math.sqrt(per_sample.size)) if per_sample.size > 1 else 0.0
    return MethodScore(name, float(per_sample.mean()), sem, area_under_curve(curves), curves, seconds)


def evaluate_methods(net: Network, x: Any, targets: Any = None, methods: Sequence[Any] | None = None,
                     settings: EvaluationSettings | None = None, include_random: bool = True,
                     **protocol: Any) -> dict[str, MethodScore]:
    """AOPC, AUC and mean curve of every method (plus ``"random"``) on one batch.

    Protocol keywords (region, steps, per_step, baseline, output, seed, blur_sigma, batch_size,
    method_params) may be given directly instead of ``settings``; ``methods`` None scores the
    model's default method.

    Raises
    ------
    ParameterError
        Unknown methods or protocol settings, or both ``settings`` and protocol keywords.
    """
    if settings is None:
        settings = EvaluationSettings(**protocol)
    elif protocol:
        raise ParameterError("give either settings or protocol keywords, not both")
    return {score.method: score for score in iter_evaluation(net, x, targets, methods, settings, include_random)}
