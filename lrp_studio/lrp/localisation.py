"""Localisation metrics with ground-truth masks (Arras, Osman and Samek 2022, CLEVR-XAI, Information Fusion 81).

For one heatmap R (pooled over channels by summing: R[h, w] = sum_c R[c, h, w]) and its ground-truth
mask GT (the pixels of the object that carries the class evidence):

- relevance mass accuracy = sum_{p in GT} max(R_p, 0) / sum_p max(R_p, 0): the share of the positive
  relevance that falls inside the mask (0 when the heatmap has no positive relevance);
- relevance rank accuracy = |P_top-K intersect GT| / K with K = |GT|: of the K most relevant pixels,
  the share inside the mask. Ties in R are broken by pixel index (row-major, the earlier pixel
  ranks higher), so the metric is deterministic.

A heatmap that spreads relevance uniformly (or ranks pixels at random) scores the mask's share of the
image on both, which the reports give as the reference ``uniform``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Iterator, Mapping, Sequence

import numpy as np

from lrp_studio.errors import DataError
from lrp_studio.lrp.faithfulness import explain_in_batches
from lrp_studio.nn.network import Network

__all__ = ["LocalisationScore", "evaluate_localisation", "iter_localisation", "pooled_heatmaps", "relevance_mass_accuracy",
           "relevance_rank_accuracy"]


def pooled_heatmaps(relevance: np.ndarray) -> np.ndarray:
    """(N, C, H, W) relevance -> (N, H, W), summed over channels (CLEVR-XAI's sum pooling)."""
    array = np.asarray(relevance, dtype=np.float64)
    if array.ndim != 4:
        raise DataError(f"localisation needs image relevance (N, C, H, W), got shape {array.shape}")
    return array.sum(axis=1)


def _check(heatmaps: np.ndarray, masks: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    h = np.asarray(heatmaps, dtype=np.float64)
    m = np.asarray(masks).astype(bool)
    if h.ndim != 3 or h.shape != m.shape:
        raise DataError(f"heatmaps {h.shape} and masks {m.shape} must both be (N, H, W)")
    return h, m


def relevance_mass_accuracy(heatmaps: np.ndarray, masks: np.ndarray) -> np.ndarray:
    """Share of positive relevance inside the mask, per sample.

    Parameters
    ----------
    heatmaps : (N, H, W) float
        Pooled relevance (:func:`pooled_heatmaps`).
    masks : (N, H, W) bool
        Ground truth.

    Returns
    -------
    (N,) float64 in [0, 1]; 0 for a heatmap without positive relevance.
    """
    h, m = _check(heatmaps, masks)
    positive = np.clip(h, 0.0, None)
    total = positive.sum(axis=(1, 2))
    inside = (positive * m).sum(axis=(1, 2))
    return np.divide(inside, total, out=np.zeros_like(total), where=total > 0)


def relevance_rank_accuracy(heatmaps: np.ndarray, masks: np.ndarray) -> np.ndarray:
    """Share of the K = |mask| most relevant pixels that lie inside the mask, per sample.

    Parameters
    ----------
    heatmaps : (N, H, W) float
    masks : (N, H, W) bool, each with at least one pixel

    Returns
    -------
    (N,) float64 in [0, 1]

    Raises
    ------
    DataError
        A mask without pixels (K = 0).
    """
    h, m = _check(heatmaps, masks)
    flat_h, flat_m = h.reshape(len(h), -1), m.reshape(len(m), -1)
    sizes = flat_m.sum(axis=1)
    if (sizes == 0).any():
        raise DataError(f"rank accuracy needs non-empty masks; sample {int(np.argmax(sizes == 0))} has none")
    order = np.argsort(-flat_h, axis=1, kind="stable")  # stable: equal relevance -> the earlier pixel first
    scores = np.empty(len(h))
    for i, k in enumerate(sizes):
        scores[i] = flat_m[i, order[i, :k]].mean()
    return scores


@dataclass
class LocalisationScore:
    """One method's localisation over a set of samples.

    Attributes
    ----------
    method : str
    mass, rank : (N,) float64
        Per-sample relevance mass and rank accuracy.
    """

    method: str
    mass: np.ndarray = field(repr=False)
    rank: np.ndarray = field(repr=False)

    @staticmethod
    def _sem(values: np.ndarray) -> float:
        return float(values.std(ddof=1) / np.sqrt(len(values))) if len(values) > 1 else 0.0

    def as_dict(self) -> dict[str, Any]:
        """Means, standard errors of the mean and the per-sample values (JSON-ready)."""
        return {"mass_accuracy": float(self.mass.mean()), "mass_sem": self._sem(self.mass),
                "rank_accuracy": float(self.rank.mean()), "rank_sem": self._sem(self.rank),
                "per_sample_mass": [float(v) for v in self.mass], "per_sample_rank": [float(v) for v in self.rank]}


def iter_localisation(net: Network, x: np.ndarray, masks: np.ndarray, targets: np.ndarray | None,
                      methods: Sequence[Any], method_params: Mapping[str, Mapping[str, Any]] | None = None,
                      batch_size: int = 50) -> Iterator[LocalisationScore]:
    """:func:`evaluate_localisation` one method at a time (a generator the GUI runs in a worker, cancellable
    between methods); ``targets`` None explains each sample's predicted class. ``uniform`` comes last."""
    x = np.asarray(x, dtype=np.float32)
    if targets is None:
        targets = np.asarray(net.predict(x).argmax(axis=1), dtype=np.int64)
    for method in methods:
        yield evaluate_localisation(net, x, masks, targets, [method], method_params, batch_size)[str(method)]
    share = np.asarray(masks).reshape(len(masks), -1).mean(axis=1)
    yield LocalisationScore("uniform", share, share)


def evaluate_localisation(net: Network, x: np.ndarray, masks: np.ndarray, targets: np.ndarray,
                          methods: Sequence[Any], method_params: Mapping[str, Mapping[str, Any]] | None = None,
                          batch_size: int = 50) -> dict[str, LocalisationScore]:
    """Relevance mass and rank accuracy of each method, plus the ``uniform`` reference (the mask's share).

    Parameters
    ----------
    net : Network
        With image inputs (C, H, W).
    x : (N, C, H, W) float
    masks : (N, H, W) bool
    targets : (N,) int
        The class explained per sample (the true class, as in CLEVR-XAI, or the prediction).
    methods : sequence of method names
    method_params : mapping, optional
        Keywords of :func:`lrp_studio.explain` per method name.

    Returns
    -------
    dict of method -> LocalisationScore, in the order given, then ``"uniform"``.
    """
    masks = np.asarray(masks).astype(bool)
    if masks.shape != (x.shape[0],) + tuple(x.shape[2:]):
        raise DataError(f"masks {masks.shape} do not fit the inputs {tuple(x.shape)}")
    params = method_params or {}
    scores = {}
    for method in methods:
        relevance = explain_in_batches(net, x, targets, method, batch_size, **params.get(str(method), {}))
        heatmaps = pooled_heatmaps(relevance)
        scores[str(method)] = LocalisationScore(str(method), relevance_mass_accuracy(heatmaps, masks),
                                                relevance_rank_accuracy(heatmaps, masks))
    share = masks.reshape(len(masks), -1).mean(axis=1)
    scores["uniform"] = LocalisationScore("uniform", share, share)
    return scores
