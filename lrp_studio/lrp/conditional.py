"""Conditional relevance (Concept Relevance Propagation): the input relevance of one unit's share of an explanation.

CRP (Achtibat et al., "From attribution maps to human-understandable explanations through Concept
Relevance Propagation", Nature Machine Intelligence 2023, eq. 5-7; zennit-crp's ``CondAttribution``)
explains the output as usual and, at the layer l of a concept theta (one dense neuron, or one conv
channel with all its positions), keeps only that concept's relevance before propagating further down:

    R^(l)_j(x | theta) = delta_{j in theta} R^(l)_j(x),
    R^(l-1)_i(x | theta) = sum_j z_ij / z_j R^(l)_j(x | theta)     (with the method's rules below l).

The input relevance R^(0)(x | theta) is the unit's *conditional heatmap*: where, in the input, the
evidence sits that the unit passed on to the explained class. It sums to the unit's relevance R_theta
(up to the stabilizers and biases of the layers below), and, the rules being linear in the relevance
for a fixed forward pass, the conditional heatmaps of all the units of a layer add up to the ordinary
heatmap. This differs from :func:`lrp_studio.lrp.explain.explain_neuron`, which starts at the unit's
*activation* and asks how the unit itself came about, whatever it meant for the output.

:func:`crop_box` gives the receptive-field crop of a heatmap, as zennit-crp's
``crp.image.get_crop_range``: the bounding box of the pixels whose relevance exceeds a fraction of the
maximum.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from lrp_studio.backend import get_xp, to_numpy
from lrp_studio.errors import ParameterError
from lrp_studio.lrp.canonizers import canonical
from lrp_studio.lrp.composites import default_method
from lrp_studio.lrp.explain import check_finite, resolve_rules
from lrp_studio.lrp.explanation import Explanation
from lrp_studio.lrp.outputs import resolve_targets
from lrp_studio.lrp.propagate import propagate
from lrp_studio.lrp.start import Start, start_relevance
from lrp_studio.nn.network import Network

__all__ = ["ConditionalRelevance", "conditional_relevance", "crop_box", "unit_mask"]

#: Default crop threshold: pixels with relevance above this fraction of the maximum (zennit-crp's ``crop_th``).
CROP_THRESHOLD = 0.1


@dataclass(frozen=True)
class ConditionalRelevance:
    """Result of :func:`conditional_relevance` (NumPy arrays).

    Attributes
    ----------
    relevance : ndarray (N, *input shape) float32
        The conditional heatmaps R^(0)(x | unit).
    unit_relevance : ndarray (N,) float64
        The unit's relevance R_theta at its stage in the ordinary explanation (a conv channel: summed
        over its positions); what the conditional heatmap redistributes.
    targets : ndarray (N,) int64
        The explained classes.
    """

    relevance: np.ndarray
    unit_relevance: np.ndarray
    targets: np.ndarray


def unit_mask(shape: tuple[int, ...], unit: int) -> np.ndarray:
    """The 0/1 mask (one sample's ``shape``) of a concept: a dense unit, or every position of a conv channel.

    Raises
    ------
    ParameterError
        A unit outside the stage (``shape[0]`` channels of a (C, H, W) stage, else ``prod(shape)`` units).
    """
    count = shape[0] if len(shape) == 3 else int(np.prod(shape))
    if not 0 <= int(unit) < count:
        raise ParameterError(f"unit must be in 0..{count - 1} for a stage of shape {shape}, got {unit}")
    mask = np.zeros((count,) + tuple(shape[1:]) if len(shape) == 3 else (count,), dtype=np.float32)
    mask[int(unit)] = 1.0
    return mask.reshape(shape)


def conditional_relevance(net: Network, x: Any, stage: int, unit: int, method: Any = None, *, target: Any = None,
                          bias: bool | None = None, **params: Any) -> ConditionalRelevance:
    """CRP conditional heatmaps of one unit of ``stage`` for a batch of inputs.

    Parameters
    ----------
    net : Network
    x : array (N, features) or (N, C, H, W)
    stage : int
        1..len(layers) - 1, a hidden stage (the output of layer ``stage - 1``).
    unit : int
        A channel of a (C, H, W) stage (all its positions form the concept) or a flat unit index otherwise.
    method, bias, **params
        The LRP method as in :func:`lrp_studio.explain` (default :func:`default_method` of ``net``).
    target : None, int or (N,) ints
        The explained class; None: the predicted one.

    Returns
    -------
    ConditionalRelevance

    Raises
    ------
    ParameterError
        A stage that is not hidden, a unit out of range, a baseline method, or any parameter error of
        :func:`lrp_studio.explain`.
    DataError
        Non-finite logits or relevance (see :func:`lrp_studio.lrp.explain.check_finite`).

    Notes
    -----
    One forward pass and two backward passes: output -> input (the ordinary explanation, keeping the
    unit's stage), then from the masked stage down to the input. In a graph network, relevance that
    bypasses ``stage`` (e.g. a residual skip around it) is not part of the unit's share.
    """
    if not 1 <= int(stage) < len(net.layers):
        raise ParameterError(f"stage must be a hidden stage 1..{len(net.layers) - 1}, got {stage}")
    stage = int(stage)
    shape = tuple(int(v) for v in net.shapes[stage])
    mask_np = unit_mask(shape, unit)
    method = default_method(net) if method is None else method
    rules = resolve_rules(net, method, params)
    use_bias = True if bias is None else bool(bias)
    xb = net.prepare_input(x)
    merged = canonical(net)
    with np.errstate(all="ignore"):
        trace = merged.trace(xb)
        targets = resolve_targets(target, trace.output)
        start = start_relevance(Start(), trace.output, targets)
        above = propagate(merged, trace, start, rules, bias=use_bias, keep=True)
        if above[stage] is None:
            raise ParameterError(f"stage {stage} receives no relevance from the output")
        masked = above[stage] * get_xp().asarray(mask_np)[None]
        below = propagate(merged, trace, masked, rules, start=stage, bias=use_bias, keep=False)
    n = xb.shape[0]
    relevance = to_numpy(below[0]).reshape((n,) + tuple(net.input_shape))
    unit_total = to_numpy(masked).reshape(n, -1).sum(axis=1, dtype=np.float64)
    check_finite(Explanation(relevance, to_numpy(trace.output), to_numpy(targets), _name(method)))
    return ConditionalRelevance(relevance.astype(np.float32, copy=False), unit_total,
                                to_numpy(targets).astype(np.int64))


def _name(method: Any) -> str:
    return method if isinstance(method, str) else "custom"


def crop_box(heatmap: np.ndarray, threshold: float = CROP_THRESHOLD) -> tuple[int, int, int, int]:
    """Receptive-field crop of one heatmap: (row0, row1, col0, col1), half-open, of the relevant region.

    As zennit-crp's ``crp.image.get_crop_range``: the bounding box of the pixels whose (channel-summed)
    relevance is above ``threshold`` times the maximum relevance. A heatmap without positive relevance
    gives the whole image.

    Parameters
    ----------
    heatmap : ndarray (H, W) or (C, H, W)
    threshold : float
        In [0, 1) (default 0.1, zennit-crp's ``crop_th``).

    Raises
    ------
    ParameterError
        A threshold outside [0, 1) or a heatmap that is not an image.
    """
    if not 0.0 <= float(threshold) < 1.0:
        raise ParameterError(f"the crop threshold must be in [0, 1), got {threshold}")
    values = np.asarray(heatmap, dtype=np.float64)
    if values.ndim == 3:
        values = values.sum(axis=0)
    if values.ndim != 2:
        raise ParameterError(f"a crop needs an image heatmap (H, W) or (C, H, W), got shape {values.shape}")
    peak = float(values.max(initial=0.0))
    if peak <= 0.0:
        return 0, values.shape[0], 0, values.shape[1]
    rows = np.flatnonzero((values > threshold * peak).any(axis=1))
    cols = np.flatnonzero((values > threshold * peak).any(axis=0))
    return int(rows[0]), int(rows[-1]) + 1, int(cols[0]), int(cols[-1]) + 1
