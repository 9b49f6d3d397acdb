"""Strongest-edge selection for the network graph (pure NumPy, no Qt).

The GUI draws only the strongest relevance messages as edges, grouped into a few pens by sign
and magnitude (one ``PlotCurveItem(connect='pairs')`` per pen). These are the array primitives;
:mod:`lrp_studio.viz.graph_edges` applies them to a laid-out graph.
"""

from __future__ import annotations

import numpy as np

from lrp_studio.errors import ParameterError
from lrp_studio.viz.heatmap import as_numpy

__all__ = [
    "bin_edges_by_sign_and_magnitude",
    "strongest",
    "top_k_edges",
]


def top_k_edges(
    messages: np.ndarray, k_per_target: int, drop_zero: bool = False
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Select, for every output neuron, its ``k`` incoming messages of largest magnitude.

    Parameters
    ----------
    messages : numpy.ndarray, shape (n_in, n_out)
        Relevance (or contribution) sent from input neuron i to output neuron j.
    k_per_target : int
        Edges kept per output neuron (>= 1); all ``n_in`` if larger.
    drop_zero : bool
        Also drop selected edges whose message is exactly 0.

    Returns
    -------
    src_idx : numpy.ndarray, shape (E,), int64
        Input neuron of each edge.
    dst_idx : numpy.ndarray, shape (E,), int64
        Output neuron of each edge; ascending, and within one output ordered by decreasing
        ``|value|``.
    values : numpy.ndarray, shape (E,)
        ``messages[src_idx, dst_idx]``.

    Notes
    -----
    Uses ``np.argpartition`` along the input axis: O(n_in * n_out), no Python loop over
    neurons. Among equal magnitudes the choice is arbitrary.
    """
    messages = as_numpy(messages)
    if messages.ndim != 2:
        raise ParameterError(f"messages must be (n_in, n_out), got shape {messages.shape}")
    if int(k_per_target) != k_per_target or k_per_target < 1:
        raise ParameterError(f"k_per_target must be an integer >= 1, got {k_per_target}")
    n_in, n_out = messages.shape
    k = min(int(k_per_target), n_in)
    magnitude = np.abs(messages.T)  # (n_out, n_in)
    if k < n_in:
        chosen = np.argpartition(magnitude, n_in - k, axis=1)[:, n_in - k:]  # (n_out, k)
    else:
        chosen = np.broadcast_to(np.arange(n_in), (n_out, n_in))
    order = np.argsort(-np.take_along_axis(magnitude, chosen, axis=1), axis=1, kind="stable")
    src = np.take_along_axis(chosen, order, axis=1).reshape(-1).astype(np.int64)
    dst = np.repeat(np.arange(n_out, dtype=np.int64), k)
    values = messages[src, dst]
    if drop_zero:
        keep = values != 0
        src, dst, values = src[keep], dst[keep], values[keep]
    return src, dst, values


def bin_edges_by_sign_and_magnitude(
    values: np.ndarray, n_bins_per_sign: int = 8, vmax: float | None = None
) -> list[tuple[int, int, np.ndarray]]:
    """Group edges into pens by sign and linear magnitude bin.

    Parameters
    ----------
    values : numpy.ndarray, shape (E,)
        Edge values (e.g. from :func:`top_k_edges`).
    n_bins_per_sign : int
        Magnitude bins per sign (>= 1); 8 gives 16 pens.
    vmax : float, optional
        Magnitude of the top bin's upper edge; defaults to ``max |values|``. Larger values fall
        in the top bin.

    Returns
    -------
    list of (sign, bin, mask)
        ``2 * n_bins_per_sign`` entries, negative bins first, magnitudes ascending:
        ``sign`` is -1 or +1 (zero counts as +1), ``bin`` is 0 (weakest) .. n-1 (strongest),
        ``mask`` a boolean array of shape (E,). Every edge is in exactly one mask; masks may
        be empty.
    """
    values = as_numpy(values).reshape(-1)
    if int(n_bins_per_sign) != n_bins_per_sign or n_bins_per_sign < 1:
        raise ParameterError(f"n_bins_per_sign must be an integer >= 1, got {n_bins_per_sign}")
    n_bins = int(n_bins_per_sign)
    magnitude = np.abs(values).astype(np.float64)
    scale = float(np.max(magnitude, initial=0.0)) if vmax is None else float(vmax)
    if scale > 0:
        bins = np.minimum((magnitude / scale * n_bins).astype(np.int64), n_bins - 1)
    else:
        bins = np.zeros(values.shape, dtype=np.int64)
    negative = values < 0
    groups = []
    for sign, sign_mask in ((-1, negative), (1, ~negative)):
        for bin_index in range(n_bins):
            groups.append((sign, bin_index, sign_mask & (bins == bin_index)))
    return groups


def strongest(values: np.ndarray, count: int) -> np.ndarray:
    """Indices of the ``count`` largest ``|values|`` that are non-zero, strongest first.

    Parameters
    ----------
    values : numpy.ndarray, shape (n,)
    count : int
        Most indices returned (>= 0).

    Returns
    -------
    numpy.ndarray, shape (<= count,), int64
        Ties keep their original order (stable sort).
    """
    magnitude = np.abs(as_numpy(values).reshape(-1))
    order = np.argsort(-magnitude, kind="stable")[: max(int(count), 0)]
    return order[magnitude[order] > 0].astype(np.int64)
