"""Geometry and edge selection for the network graph (pure NumPy, no Qt).

The GUI draws layers as columns of neurons and only the strongest relevance messages as
edges, grouped into a few pens by sign and magnitude (one ``PlotCurveItem(connect='pairs')``
per pen); these helpers compute all of that as arrays.
"""

from __future__ import annotations

import numpy as np

from lrp_studio.errors import ParameterError
from lrp_studio.viz.heatmap import as_numpy

__all__ = [
    "bin_edges_by_sign_and_magnitude",
    "column_positions",
    "edge_segments",
    "top_k_edges",
]


def column_positions(
    layer_sizes: list[int], width: float, height: float, max_spacing: float | None = None
) -> list[np.ndarray]:
    """Place neurons in one column per layer.

    Parameters
    ----------
    layer_sizes : list of int
        Number of neurons n_i of each layer, left to right (each >= 1).
    width, height : float
        Size of the drawing area (> 0); column i sits at ``x = width * (i + 0.5) / L``.
    max_spacing : float, optional
        Largest vertical distance between neighbouring neurons; small layers are then drawn
        compactly. By default each column spans the full height (spacing ``height / n_i``).

    Returns
    -------
    list of numpy.ndarray, shapes (n_i, 2), float64
        ``(x, y)`` of every neuron, top to bottom, each column centred at ``height / 2``.
    """
    if width <= 0 or height <= 0:
        raise ParameterError(f"graph area must have positive size, got {width} x {height}")
    if any(int(n) != n or n < 1 for n in layer_sizes):
        raise ParameterError(f"layer sizes must be integers >= 1, got {list(layer_sizes)}")
    n_layers = len(layer_sizes)
    positions = []
    for column, size in enumerate(int(n) for n in layer_sizes):
        spacing = height / size if max_spacing is None else min(height / size, max_spacing)
        y = height / 2.0 + (np.arange(size) - (size - 1) / 2.0) * spacing
        x = np.full(size, width * (column + 0.5) / n_layers)
        positions.append(np.stack([x, y], axis=1))
    return positions


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


def edge_segments(
    src_positions: np.ndarray, dst_positions: np.ndarray, src_idx: np.ndarray, dst_idx: np.ndarray
) -> np.ndarray:
    """Interleave edge end points for ``PlotCurveItem(connect='pairs')``.

    Parameters
    ----------
    src_positions : numpy.ndarray, shape (n_in, 2)
        Neuron positions of the source column (from :func:`column_positions`).
    dst_positions : numpy.ndarray, shape (n_out, 2)
        Neuron positions of the target column.
    src_idx, dst_idx : numpy.ndarray, shape (E,)
        Edge end points (e.g. from :func:`top_k_edges`, optionally masked by a pen's bin).

    Returns
    -------
    numpy.ndarray, shape (2 * E, 2)
        Rows ``2e`` and ``2e + 1`` are the start and end of edge ``e``.
    """
    segments = np.empty((2 * len(src_idx), 2), dtype=np.float64)
    segments[0::2] = src_positions[src_idx]
    segments[1::2] = dst_positions[dst_idx]
    return segments
