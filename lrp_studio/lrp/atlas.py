"""Neuron atlas: for every hidden dense neuron and conv channel, the samples of a dataset that drive it most.

Two rankings per unit over a whole dataset (Concept Relevance Propagation, Achtibat et al., Nature
Machine Intelligence 2023, section "Relevance maximization"; zennit-crp's ``crp.maximization``):

* **activation maximisation**: the unit's activation (a conv channel: its maximum over positions);
* **relevance maximisation**: the unit's relevance when the explained class (the prediction, or a chosen
  class) is explained with the chosen LRP method (a conv channel: its relevance summed over positions).

Plus per-unit summary statistics: mean and maximum activation, the share of samples where the unit is
*relevant* (its relevance exceeds the layer's mean absolute unit relevance for that sample: more than an
equal share) and its relevance summed per explained class (its most relevant classes).

The work is streamed: :func:`atlas_part` summarises one chunk of samples into an :class:`AtlasPart`
(per-unit top-k candidates and running sums), :func:`merge_parts` merges two summaries, and
:class:`TreeReducer` merges chunk summaries in a fixed binary tree over chunk positions, whatever order
they arrive in. Memory stays bounded by one chunk plus O(log chunks) summaries. Ranking ties are
broken by the lower sample index, and every chunk is computed the same way wherever it runs, so any
number of workers gives bit-identical results.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, Sequence

import numpy as np

from lrp_studio.errors import ParameterError
from lrp_studio.lrp.explain import explain, stage_names
from lrp_studio.nn.layers import Activation
from lrp_studio.nn.network import Network

#: Layer types whose output unit (or channel) j depends on input unit (channel) j alone.
KEEPS_UNITS = frozenset({"relu", "sigmoid", "tanh", "maxpool2d", "avgpool2d", "batchnorm", "identity"})

__all__ = ["AtlasLayer", "AtlasPart", "TreeReducer", "atlas_layers", "atlas_part", "layer_for_stage",
           "merge_parts", "top_k"]


@dataclass(frozen=True)
class AtlasLayer:
    """One layer of units of the atlas.

    Attributes
    ----------
    stage : int
        The stage whose activation and relevance are ranked: a hidden dense/conv layer's output, or the
        activation right after it when one activation layer alone reads it (the post-nonlinearity value;
        its relevance is the same, activations pass relevance unchanged).
    name : str
        The stage's display name (e.g. ``"relu"`` after ``"conv2d 16"``: the name of the linear layer).
    units : int
        Dense neurons or conv channels.
    is_map : bool
        A conv stage (C, H, W): units are channels.
    """

    stage: int
    name: str
    units: int
    is_map: bool


def atlas_layers(net: Network) -> list[AtlasLayer]:
    """The atlas layers of ``net``: every dense/conv layer except those producing the network output."""
    names = stage_names(net)
    found = []
    for index in net.linear_indices:
        stage = index + 1
        if stage == len(net.layers):
            continue
        readers = net.consumers(stage)
        if len(readers) == 1 and isinstance(net.layers[readers[0]], Activation) \
                and tuple(net.node_inputs[readers[0]]) == (stage,):
            stage = readers[0] + 1
        shape = tuple(net.shapes[stage])
        found.append(AtlasLayer(stage, names[index + 1], int(shape[0]) if len(shape) == 3 else int(np.prod(shape)),
                                len(shape) == 3))
    return found


def layer_for_stage(layers: Sequence[AtlasLayer], net: Network, stage: int) -> AtlasLayer | None:
    """The atlas layer whose unit indices are those of ``stage``; None when there is none.

    The stage itself; else the linear output just below an activation the atlas ranks (the activation
    keeps the shape); else, going down, the first atlas stage under layers that keep each unit or channel
    index (activations, pooling, BatchNorm, identity), e.g. the pooled maps the network graph shows.
    """
    by_stage = {layer.stage: layer for layer in layers}
    if stage in by_stage:
        return by_stage[stage]
    readers = net.consumers(stage) if 0 < stage < len(net.layers) else []
    if len(readers) == 1 and readers[0] + 1 in by_stage and isinstance(net.layers[readers[0]], Activation):
        return by_stage[readers[0] + 1]
    while 0 < stage <= len(net.layers):
        layer = net.layers[stage - 1]
        if layer.is_linear or layer.is_merge or layer.type_name not in KEEPS_UNITS:
            return None
        stage = net.node_inputs[stage - 1][0]
        if stage in by_stage:
            return by_stage[stage]
    return None


@dataclass
class AtlasPart:
    """Summary of a range of samples for every atlas layer (mergeable with :func:`merge_parts`).

    Attributes
    ----------
    first : int
        Position of the part's first chunk (the merge order).
    count : int
        Samples summarised.
    k : int
        References kept per unit and ranking.
    top_relevance, top_activation : list of ndarray (k', U) int64
        Per layer: candidate sample indices, best first (k' = min(k, count)).
    relevance_values, activation_values : list of ndarray (k', U) float64
        Their values.
    sum_activation, max_activation, relevant_count : list of ndarray (U,)
        Running sums (float64), maxima (float64) and counts (int64) over the samples.
    class_relevance : list of ndarray (U, classes) float64
        The unit's relevance summed per explained class.
    """

    first: int
    count: int
    k: int
    top_relevance: list[np.ndarray] = field(default_factory=list)
    relevance_values: list[np.ndarray] = field(default_factory=list)
    top_activation: list[np.ndarray] = field(default_factory=list)
    activation_values: list[np.ndarray] = field(default_factory=list)
    sum_activation: list[np.ndarray] = field(default_factory=list)
    max_activation: list[np.ndarray] = field(default_factory=list)
    relevant_count: list[np.ndarray] = field(default_factory=list)
    class_relevance: list[np.ndarray] = field(default_factory=list)


def top_k(values: np.ndarray, indices: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Per column, the ``k`` largest values and their sample indices; ties go to the lower index.

    Parameters
    ----------
    values : ndarray (M, U) float64
        Candidate values per unit (column).
    indices : ndarray (M,) or (M, U) int64
        The candidates' sample indices.
    k : int
        >= 1; fewer when M < k.

    Returns
    -------
    (indices, values) : ndarray (min(k, M), U) int64 and float64, best first.
    """
    values = np.asarray(values, dtype=np.float64)
    indices = np.broadcast_to(np.asarray(indices, dtype=np.int64).reshape(values.shape[0], -1), values.shape)
    order = np.lexsort((indices.T, -values.T), axis=-1)[:, :k].T  # per unit: by -value, then by index
    return np.take_along_axis(indices, order, axis=0).copy(), np.take_along_axis(values, order, axis=0)


def unit_values(activation: np.ndarray, relevance: np.ndarray, is_map: bool) -> tuple[np.ndarray, np.ndarray]:
    """Per-sample unit activations and relevances (N, U) float64 from one stage's arrays.

    A conv channel's activation is its maximum over positions, its relevance the sum over positions.
    """
    n = activation.shape[0]
    if is_map:
        return (activation.reshape(n, activation.shape[1], -1).max(axis=2).astype(np.float64),
                relevance.reshape(n, relevance.shape[1], -1).sum(axis=2, dtype=np.float64))
    return activation.reshape(n, -1).astype(np.float64), relevance.reshape(n, -1).astype(np.float64)


def atlas_part(net: Network, x: np.ndarray, indices: np.ndarray, k: int, first: int = 0, method: Any = None,
               target: Any = None, bias: bool | None = None, params: dict[str, Any] | None = None) -> AtlasPart:
    """Summarise the samples ``x`` (dataset indices ``indices``, ascending) for every atlas layer of ``net``.

    Parameters
    ----------
    net : Network
    x : ndarray (n, *input shape)
    indices : ndarray (n,) int
        The samples' dataset indices (ties in the rankings go to the lower one).
    k : int
        References kept per unit and ranking (>= 1).
    first : int
        The chunk position (merge order, see :class:`TreeReducer`).
    method, target, bias, params
        As in :func:`lrp_studio.explain` (an LRP method: baselines have no per-layer relevance).

    Raises
    ------
    ParameterError
        k < 1, a network without hidden dense/conv layers, or any error of :func:`lrp_studio.explain`.
    """
    if k < 1:
        raise ParameterError(f"the number of references per unit must be >= 1, got {k}")
    layers = atlas_layers(net)
    if not layers:
        raise ParameterError("the network has no hidden dense or conv layer to build an atlas of")
    exp = explain(net, x, target=target, method=method, bias=bias, **(params or {}))
    if any(exp.layers[layer.stage].relevance is None for layer in layers):
        raise ParameterError(f"method {exp.method!r} gives no per-layer relevance: choose an LRP method")
    indices = np.asarray(indices, dtype=np.int64)
    part = AtlasPart(first, int(indices.size), int(k))
    classes = np.eye(net.n_classes, dtype=np.float64)[exp.targets]  # (n, classes) one-hot of the explained class
    for layer in layers:
        record = exp.layers[layer.stage]
        act, rel = unit_values(record.activation, record.relevance, layer.is_map)
        _add_top(part, indices, act, rel, k)
        part.sum_activation.append(act.sum(axis=0))
        part.max_activation.append(act.max(axis=0))
        fair_share = np.abs(rel).mean(axis=1, keepdims=True)
        part.relevant_count.append((rel > fair_share).sum(axis=0).astype(np.int64))
        part.class_relevance.append(rel.T @ classes)
    return part


def _add_top(part: AtlasPart, indices: np.ndarray, act: np.ndarray, rel: np.ndarray, k: int) -> None:
    top, values = top_k(rel, indices, k)
    part.top_relevance.append(top)
    part.relevance_values.append(values)
    top, values = top_k(act, indices, k)
    part.top_activation.append(top)
    part.activation_values.append(values)


def merge_parts(left: AtlasPart, right: AtlasPart) -> AtlasPart:
    """The summary of both parts' samples (``left`` holds the earlier chunks; sums are added left + right)."""
    k = max(left.k, right.k)
    merged = AtlasPart(min(left.first, right.first), left.count + right.count, k)
    for j in range(len(left.top_relevance)):
        for ids, vals in (("top_relevance", "relevance_values"), ("top_activation", "activation_values")):
            top, values = top_k(np.concatenate([getattr(left, vals)[j], getattr(right, vals)[j]]),
                                np.concatenate([getattr(left, ids)[j], getattr(right, ids)[j]]), k)
            getattr(merged, ids).append(top)
            getattr(merged, vals).append(values)
        merged.sum_activation.append(left.sum_activation[j] + right.sum_activation[j])
        merged.max_activation.append(np.maximum(left.max_activation[j], right.max_activation[j]))
        merged.relevant_count.append(left.relevant_count[j] + right.relevant_count[j])
        merged.class_relevance.append(left.class_relevance[j] + right.class_relevance[j])
    return merged


class TreeReducer:
    """Merges chunk summaries in a fixed binary tree over chunk positions, in any arrival order.

    Node (level, p) is the merge of (level - 1, 2p) and (level - 1, 2p + 1), formed as soon as both exist;
    :meth:`result` merges the remaining roots left to right. Which merges happen, and in which order of
    operands, depends only on the number of chunks, so the floating-point sums are the same for every
    arrival order (and so for any number of workers).

    Parameters
    ----------
    merge : callable (left, right) -> merged
    """

    def __init__(self, merge: Callable[[Any, Any], Any] = merge_parts) -> None:
        self._merge = merge
        self._nodes: dict[tuple[int, int], Any] = {}

    def add(self, position: int, item: Any) -> None:
        """Add the summary of chunk ``position`` (each position once)."""
        level, position = 0, int(position)
        while (level, position ^ 1) in self._nodes:
            sibling = self._nodes.pop((level, position ^ 1))
            item = self._merge(sibling, item) if position & 1 else self._merge(item, sibling)
            level, position = level + 1, position // 2
        self._nodes[(level, position)] = item

    def __len__(self) -> int:
        return len(self._nodes)

    def result(self) -> Any:
        """The merge of everything added (roots in chunk order); None when nothing was added."""
        roots = [self._nodes[key] for key in sorted(self._nodes, key=lambda key: key[1] << key[0])]
        if not roots:
            return None
        total = roots[0]
        for item in roots[1:]:
            total = self._merge(total, item)
        return total
