"""The notes' perturbation comparison: replace a neuron by the mean of its layer, watch the output.

For every unit i of a stage (the input or a hidden layer's output) the activation a_i is
replaced by the mean of that stage's activations (per sample), the rest of the network runs
from there, and the change of the target output is recorded:

    P_i = f(a) - f(a with a_i := mean(a))

A positive P_i means the unit's actual value supports the target more than an average value
would. Shown beside an LRP heatmap, with their :func:`correlation`, it asks whether LRP points
at the units whose perturbation changes the decision. On a linear model f(x) = w.x + b the map
is exactly w_i (x_i - mean(x)).

Units can be grouped into ``region`` x ``region`` patches (image stages; each channel on its
own for hidden maps, all channels together for the input) that are replaced together; each unit
of a patch then gets the patch's change divided by the patch size, so the map sums to the sum
of the changes.
"""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np

from lrp_studio.backend import get_xp, to_numpy
from lrp_studio.errors import ParameterError
from lrp_studio.lrp.outputs import check_output, resolve_targets, target_outputs
from lrp_studio.nn.budget import forward_chunk
from lrp_studio.nn.network import Network, Trace

Array = Any

MEAN_KINDS = ("layer", "channel")


def region_cells(sample_shape: Sequence[int], region: int) -> tuple[np.ndarray, int]:
    """Region index of every spatial position (images) or feature (flat inputs).

    Parameters
    ----------
    sample_shape : (C, H, W) or (F,)
    region : int
        Patch side (images) or group length (flat inputs), >= 1. Patches at the right and
        bottom border are smaller when H or W is not a multiple of ``region``.

    Returns
    -------
    cells : ndarray of int64, shape (H, W) or (F,)
        Region index of each position, row-major over the patch grid.
    n_regions : int
    """
    if int(region) != region or region < 1:
        raise ParameterError(f"region size must be an integer >= 1, got {region}")
    region = int(region)
    shape = tuple(int(v) for v in sample_shape)
    if len(shape) == 1:
        cells = np.arange(shape[0]) // region
    elif len(shape) == 3:
        _, h, w = shape
        per_row = -(-w // region)
        cells = (np.arange(h) // region)[:, None] * per_row + (np.arange(w) // region)[None, :]
    else:
        raise ParameterError(f"inputs must be (C, H, W) or (F,) per sample, got {shape}")
    return cells.astype(np.int64), int(cells.max()) + 1


def unit_groups(stage_shape: tuple[int, ...], region: int, across_channels: bool) -> tuple[np.ndarray, int]:
    """Group index of every unit of one sample (flat, C order) and the number of groups.

    Image stages (C, H, W) use the ``region`` x ``region`` patches of
    :func:`region_cells`, shared by all channels (``across_channels``)
    or one group per channel and patch; flat stages group ``region`` consecutive units.

    Raises
    ------
    ParameterError
        ``region`` is not an integer >= 1.
    """
    if len(stage_shape) == 3:
        cells, n_cells = region_cells(stage_shape, region)
        c = stage_shape[0]
        if across_channels:
            return np.broadcast_to(cells, tuple(stage_shape)).reshape(-1).astype(np.int64), n_cells
        groups = np.arange(c)[:, None, None] * n_cells + cells[None]
        return groups.reshape(-1).astype(np.int64), c * n_cells
    return region_cells((int(np.prod(stage_shape)),), region)


def _stage_means(activation: np.ndarray, mean: str) -> np.ndarray:
    """Replacement values shaped like ``activation``: the mean over the whole stage or per channel."""
    n = activation.shape[0]
    if mean == "layer" or activation.ndim != 4:
        values = activation.reshape(n, -1).mean(axis=1).reshape((n,) + (1,) * (activation.ndim - 1))
    elif mean == "channel":
        values = activation.mean(axis=(2, 3), keepdims=True)
    else:
        raise ParameterError(f"unknown mean {mean!r}; choose one of {', '.join(MEAN_KINDS)}")
    return np.broadcast_to(values, activation.shape)


def neuron_perturbation(net: Network, x: Any, stage: int, target: Any = None, region: int = 1, mean: str = "layer",
                        output: str = "logit", chunk: int | None = None,
                        across_channels: bool | None = None) -> np.ndarray:
    """Change of the target output when each unit (or patch) of ``stage`` is set to the stage mean.

    Parameters
    ----------
    net : Network
    x : array (N, ...) inputs (a single sample without batch axis is accepted)
    stage : int
        0 = the input, i + 1 = the output of layer i (as in ``Explanation.layers``). In a graph
        network with a skip connection around the stage, the stages the skip carries keep their
        unperturbed values (one traced forward pass of the batch).
    target : None (predicted class), int, or (N,) ints
    region : int
        Patch side for image-shaped stages, group length for flat ones (default 1: every unit).
    mean : {"layer", "channel"}
        Replace by the mean over the whole stage (the notes) or over the unit's feature map.
    output : {"logit", "probability"}
    chunk : int, optional
        Perturbed copies per forward pass; default :func:`lrp_studio.nn.budget.forward_chunk` (a
        memory budget, at most 2048).
    across_channels : bool, optional
        Whether a patch spans all channels; default True for the input, False for hidden maps.

    Returns
    -------
    ndarray, shape (N, *net.shapes[stage]), float64
        f(a) - f(a with the unit's patch set to the mean), divided by the patch size.
    """
    check_output(output)
    stage = net.check_stage(stage)
    xp = get_xp()
    xb = net.prepare_input(x)
    skipped = net.skip_stages(stage)
    trace = net.trace(xb) if skipped else None  # a skip around the stage: the skipped stages stay as they were
    activation = trace.inputs[stage] if trace is not None else net.forward_to(xb, stage)
    logits = trace.output if trace is not None else net.forward_from(activation, stage)
    targets = np.asarray(to_numpy(resolve_targets(target, logits)), dtype=np.int64)
    base = target_outputs(logits, targets, output)
    act = np.asarray(to_numpy(activation), dtype=np.float32)
    n = act.shape[0]
    shape = act.shape[1:]
    groups, n_groups = unit_groups(shape, region, stage == 0 if across_channels is None else across_channels)
    fill = _stage_means(act, mean).reshape(n, -1)
    flat = act.reshape(n, -1)
    drops = np.empty((n, n_groups))
    per_chunk = max(1, int(chunk)) if chunk is not None else forward_chunk(net)
    # copies ordered sample-major, then group; one forward per chunk of (sample, group) pairs
    pairs = n * n_groups
    for start in range(0, pairs, per_chunk):
        stop = min(pairs, start + per_chunk)
        index = np.arange(start, stop)
        samples, group_ids = index // n_groups, index % n_groups
        masks = groups[None, :] == group_ids[:, None]  # (copies, units): the replaced patch
        copies = np.where(masks, fill[samples], flat[samples])
        rows = None if trace is None else _rows(trace, skipped, xp.asarray(samples))
        out = net.forward_from(xp.asarray(copies.reshape((-1,) + shape)), stage, rows)
        drops[samples, group_ids] = base[samples] - target_outputs(out, targets[samples], output)
    sizes = np.bincount(groups, minlength=n_groups).astype(np.float64)
    return (drops / sizes)[:, groups].reshape((n,) + shape)


def _rows(trace: Trace, stages: Sequence[int], samples: Array) -> Trace:
    """A trace holding, for the given ``stages`` only, the rows ``samples`` (one per perturbed copy)."""
    wanted = set(stages)
    return Trace([a[samples] if s in wanted else None for s, a in enumerate(trace.inputs)], [])


def perturbation_heatmap(net: Network, x: Any, target: Any = None, region: int = 1, output: str = "logit",
                         chunk: int | None = None) -> np.ndarray:
    """Input heatmap of the notes: each input patch set to the input's mean, change of the target output.

    Same shape as the prepared input (N, *input_shape); see :func:`neuron_perturbation` (stage 0).
    """
    return neuron_perturbation(net, x, 0, target, region=region, mean="layer", output=output, chunk=chunk)


def correlation(a: Any, b: Any, per_sample: bool = False) -> float | np.ndarray:
    """Pearson correlation of two maps of the same size.

    Parameters
    ----------
    a, b : arrays with the same number of elements
    per_sample : bool
        If True, treat axis 0 as samples and return one coefficient per sample (N,).

    Returns
    -------
    float or ndarray (N,)
        NaN where one of the maps is constant (the coefficient is undefined).
    """
    a = np.asarray(to_numpy(a), dtype=np.float64)
    b = np.asarray(to_numpy(b), dtype=np.float64)
    if a.size != b.size:
        raise ParameterError(f"correlation needs maps of the same size, got {a.shape} and {b.shape}")
    if per_sample:
        if a.ndim < 1 or a.shape[0] != b.shape[0]:
            raise ParameterError(f"per-sample correlation needs the same number of samples, got {a.shape} and {b.shape}")
        a, b = a.reshape(a.shape[0], -1), b.reshape(b.shape[0], -1)
    else:
        a, b = a.reshape(1, -1), b.reshape(1, -1)
    a = a - a.mean(axis=1, keepdims=True)
    b = b - b.mean(axis=1, keepdims=True)
    denominator = np.sqrt((a * a).sum(axis=1) * (b * b).sum(axis=1))
    with np.errstate(divide="ignore", invalid="ignore"):
        r = np.where(denominator > 0, (a * b).sum(axis=1) / np.where(denominator > 0, denominator, 1.0), np.nan)
    r = np.clip(r, -1.0, 1.0)
    return r if per_sample else float(r[0])
