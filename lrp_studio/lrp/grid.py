"""The 2-D playground's numbers (no Qt): a grid over the input plane, the network's decision over
it and every hidden neuron's output (or relevance) at every grid point. (Moved here from
``viz.playground_grid``: these run the network, and viz only draws.)

Grid points are ordered row by row from the lowest second coordinate upwards, so a value array
of length ``R * R`` reshapes to ``(R, R)`` with ``[row, column] = [y index, x index]``; drawn with
row 0 at the bottom and ``extent = (x_min, x_max, y_min, y_max)`` it lies over the data.

Hidden stages follow :class:`~lrp_studio.lrp.LayerRecord` numbering (stage 0 is the input,
stage ``i + 1`` the output of layer ``i``): for every dense layer but the last, the output of the
activation after it (the neuron's post-activation value), or of the dense layer itself when no
activation follows.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from lrp_studio.backend import to_numpy
from lrp_studio.errors import DataError, ParameterError
from lrp_studio.lrp.explain import explain
from lrp_studio.lrp.outputs import probabilities
from lrp_studio.nn.layers import Activation
from lrp_studio.nn.network import Network

__all__ = ["decision_map", "grid_points", "hidden_stages", "neuron_maps", "relevance_maps"]

MAX_RESOLUTION = 1024


def grid_points(x: Any, resolution: int = 80, padding: float = 0.1) -> tuple[np.ndarray, tuple[float, float, float, float]]:
    """A ``resolution x resolution`` grid over the range of 2-D data, padded on every side.

    Parameters
    ----------
    x : array (N, 2)
        The data (only its minimum and maximum per coordinate are used).
    resolution : int
        Grid points per axis (2 to 1024).
    padding : float
        Fraction of each coordinate's range added on both sides (0.1 = 10 %).

    Returns
    -------
    points : ndarray (R * R, 2) float32
        Row-major: ``points[r * R + c] = (xs[c], ys[r])``.
    extent : (x_min, x_max, y_min, y_max)
        The padded range (first and last grid coordinates).
    """
    data = np.asarray(x, dtype=np.float64)
    if data.ndim != 2 or data.shape[1] != 2 or data.shape[0] < 1:
        raise DataError(f"the playground needs 2-D points (N, 2), got shape {data.shape}")
    if not np.isfinite(data).all():
        raise DataError("the points contain NaN or infinite values")
    if int(resolution) != resolution or not 2 <= resolution <= MAX_RESOLUTION:
        raise ParameterError(f"resolution must be an integer in 2..{MAX_RESOLUTION}, got {resolution!r}")
    if not np.isfinite(padding) or padding < 0:
        raise ParameterError(f"padding must be a finite number >= 0, got {padding!r}")
    low, high = data.min(axis=0), data.max(axis=0)
    span = high - low
    span = np.where(span > 0, span, 1.0)  # a single point or a line: a unit-wide window
    low, high = low - padding * span, high + padding * span
    xs = np.linspace(low[0], high[0], int(resolution))
    ys = np.linspace(low[1], high[1], int(resolution))
    gx, gy = np.meshgrid(xs, ys)  # (R, R), rows follow y
    points = np.stack([gx.ravel(), gy.ravel()], axis=1).astype(np.float32)
    return points, (float(low[0]), float(high[0]), float(low[1]), float(high[1]))


def _side(points: np.ndarray) -> int:
    side = int(round(np.sqrt(points.shape[0])))
    if side * side != points.shape[0]:
        raise DataError(f"{points.shape[0]} grid points do not form a square grid")
    return side


def _check(net: Network, points: Any) -> np.ndarray:
    array = np.asarray(points, dtype=np.float32)
    if tuple(net.input_shape) != (2,):
        raise DataError(f"the playground needs a network with 2 inputs, this one takes {net.input_shape}")
    if array.ndim != 2 or array.shape[1] != 2:
        raise DataError(f"grid points must have shape (N, 2), got {array.shape}")
    return array


def hidden_stages(net: Network) -> list[int]:
    """Stages holding hidden neurons' outputs (post-activation), one per hidden dense layer."""
    linear = net.linear_indices
    stages = []
    for position, index in enumerate(linear[:-1]):
        stop = linear[position + 1]
        stage = index + 1
        for j in range(index + 1, stop):
            if isinstance(net.layers[j], Activation):
                stage = j + 1
                break
        if len(net.shapes[stage]) == 1:
            stages.append(stage)
    return stages


def neuron_maps(net: Network, points: Any) -> dict[int, np.ndarray]:
    """Every hidden neuron's output over a square grid: stage -> (units, R, R) float32.

    One forward pass (:meth:`Network.trace`) over all grid points.
    """
    array = _check(net, points)
    side = _side(array)
    trace = net.trace(net.prepare_input(array))
    maps = {}
    for stage in hidden_stages(net):
        values = to_numpy(trace.inputs[stage]).astype(np.float32, copy=False)
        maps[stage] = np.ascontiguousarray(values.T.reshape(values.shape[1], side, side))
    return maps


def decision_map(net: Network, points: Any) -> np.ndarray:
    """The network's decision over a square grid, (R, R) float32 in [0, 1].

    One output (the notes' binary classifier): sigmoid(z), the probability of class 1. Two
    outputs: softmax probability of class 1. More: the predicted class / (classes - 1).
    """
    array = _check(net, points)
    side = _side(array)
    logits = np.asarray(net.predict(array, batch_size=8192), dtype=np.float64)
    if logits.shape[1] <= 2:  # P(class 1): sigmoid of one output, softmax of two
        value = probabilities(logits)[:, -1]
    else:
        value = logits.argmax(axis=1) / (logits.shape[1] - 1)
    return value.astype(np.float32).reshape(side, side)


def relevance_maps(net: Network, points: Any, method: Any = "epsilon-plus", target: Any = None,
                   **kwargs: Any) -> dict[int, np.ndarray]:
    """Every hidden neuron's relevance over a square grid: stage -> (units, R, R) float32.

    All grid points are explained in one :func:`~lrp_studio.lrp.explain` call. ``target=None``
    explains each point's predicted class (a single-output network: its only output, the logit z,
    so positive relevance is evidence for class 1). Baselines give no hidden relevance: ``{}``.
    """
    array = _check(net, points)
    side = _side(array)
    exp = explain(net, array, target=target, method=method, **kwargs)
    maps = {}
    for stage in hidden_stages(net):
        relevance = exp.layers[stage].relevance if stage < len(exp.layers) else None
        if relevance is None:
            return {}
        values = np.asarray(relevance, dtype=np.float32)
        maps[stage] = np.ascontiguousarray(values.T.reshape(values.shape[1], side, side))
    return maps
