"""Relevance propagation through a traced network, from the top down over its graph of layers.

Layers are visited in reverse (topological) order. A stage read by several layers (a branching
point, e.g. the input of a residual block) receives the **sum** of what each of them sends down, as
autograd sums gradients in Zennit; a layer that reads several stages (a merge: add, concat) sends
one relevance array to each of them. Sequential networks are the special case of one reader per
stage, and give exactly the numbers they always did.
"""

from __future__ import annotations

from typing import Any, Mapping

from lrp_studio.backend import xp_of
from lrp_studio.lrp.rules import DEFAULT_STABILIZER, LayerContext, Rule, apply_terms, stabilize, term_messages
from lrp_studio.nn.layers import Activation, AvgPool2d, Flatten, MaxPool2d
from lrp_studio.nn.network import Network, Trace

Array = Any

#: Layers LRP passes relevance through unchanged (besides activations and flatten): a merged BatchNorm,
#: and the input normalisation (an element-wise bijection, see :mod:`lrp_studio.nn.preprocessing`).
PASS_TYPES = frozenset({"identity", "normalize"})


def layer_context(net: Network, trace: Trace, index: int, bias: bool = True) -> LayerContext:
    """The rule's view of dense/conv layer ``index`` in ``trace``."""
    layer = net.layers[index]
    x = trace.layer_input(index)
    cols = trace.caches[index][1] if layer.type_name == "conv2d" else x
    return LayerContext(layer, x, cols, trace.inputs[index + 1], bias)


def relevance_through(net: Network, trace: Trace, index: int, relevance: Array,
                      rules: Mapping[int, Rule], bias: bool = True,
                      messages: dict[int, Array] | None = None) -> Array:
    """Relevance of single-input layer ``index``'s input from the relevance of its output.

    With a ``messages`` dict, dense/conv layers also store their sample-0 messages there
    (see :func:`lrp_studio.lrp.rules.term_messages`); without it a rule may take its shortcut.
    Merge layers (several inputs) go through :func:`relevance_to_inputs`.

    Raises
    ------
    TypeError
        For a layer without a relevance rule (a BatchNorm that was not merged, a merge layer).
    """
    layer = net.layers[index]
    if layer.is_merge:
        raise TypeError(f"layer {index} ({layer.type_name}) reads several stages: use relevance_to_inputs")
    if layer.is_linear:
        ctx = layer_context(net, trace, index, bias)
        if messages is None:
            return rules[index](ctx, relevance)
        terms = rules[index].terms(ctx, relevance)
        messages[index] = term_messages(ctx, terms)
        return apply_terms(ctx, terms)
    if isinstance(layer, (Activation, Flatten)) or layer.type_name in PASS_TYPES:
        return relevance.reshape(trace.layer_input(index).shape)
    if isinstance(layer, MaxPool2d):
        return layer.route(relevance, trace.caches[index])
    if isinstance(layer, AvgPool2d):
        x = trace.layer_input(index)
        z = trace.inputs[index + 1]
        return x * layer.spread(relevance / stabilize(z, DEFAULT_STABILIZER), x.shape)
    if layer.type_name == "globalavgpool":
        return global_avg_pool_relevance(trace.layer_input(index), trace.inputs[index + 1], relevance)
    if layer.type_name == "batchnorm":
        raise TypeError("no relevance rule for a batchnorm layer: merge it into the adjacent dense/conv layer "
                        "first (lrp_studio.lrp.canonizers.merge_batchnorm; explain does this itself)")
    raise TypeError(f"no relevance rule for layer type {layer.type_name}")


def global_avg_pool_relevance(x: Array, z: Array, relevance: Array) -> Array:
    """Global average pooling as average pooling (Zennit's ``Norm`` rule).

    ``R_{c,h,w} = x_{c,h,w} / (H W) * R_c / stab(z_c)`` with ``z_c`` the channel mean, stab as in
    DESIGN.md 3.3 (eps 1e-6).

    Parameters
    ----------
    x : array (N, C, H, W)
        The layer input.
    z : array (N, C)
        The layer output (channel means).
    relevance : array (N, C)

    Returns
    -------
    array (N, C, H, W)
    """
    scaled = relevance / stabilize(z, DEFAULT_STABILIZER)
    return x * (scaled[:, :, None, None] / (x.shape[2] * x.shape[3]))


def add_relevance(xs: list[Array], z: Array, relevance: Array) -> list[Array]:
    """Relevance of each addend of ``z = sum_i x_i``: ``R_i = x_i R / stab(z)``.

    Zennit's canonical ``Sum`` layer with its ``Norm`` rule (the epsilon rule with the stabilizer
    eps 1e-6 only, and unit weights): relevance splits in proportion to each addend's contribution.

    Parameters
    ----------
    xs : list of arrays (N, ...), all the shape of ``z``
    z : array (N, ...)
        The sum from the forward pass.
    relevance : array shaped like ``z``

    Returns
    -------
    list of arrays, one per addend
    """
    scaled = relevance / stabilize(z, DEFAULT_STABILIZER)
    return [x * scaled for x in xs]


def concat_relevance(layer: Any, xs: list[Array], relevance: Array) -> list[Array]:
    """Relevance of each input of a channel concatenation: its own slice of the output's relevance."""
    return layer.split(relevance, [int(x.shape[1]) for x in xs])


def relevance_to_inputs(net: Network, trace: Trace, index: int, relevance: Array,
                        rules: Mapping[int, Rule], bias: bool = True,
                        messages: dict[int, Array] | None = None) -> list[Array]:
    """One relevance array per input stage of layer ``index`` (in ``net.node_inputs[index]`` order).

    Raises
    ------
    TypeError
        For a layer without a relevance rule.
    """
    layer = net.layers[index]
    if not layer.is_merge:
        return [relevance_through(net, trace, index, relevance, rules, bias, messages)]
    xs = trace.layer_inputs(index)
    if layer.type_name == "add":
        return add_relevance(xs, trace.inputs[index + 1], relevance)
    if layer.type_name == "concat":
        return concat_relevance(layer, xs, relevance)
    raise TypeError(f"no relevance rule for merge layer type {layer.type_name}")


def propagate(net: Network, trace: Trace, relevance: Array, rules: Mapping[int, Rule],
              start: int | None = None, bias: bool = True,
              messages: dict[int, Array] | None = None, keep: bool = True,
              sums: list[Array | None] | None = None,
              sent: dict[int, list[Array]] | None = None) -> list[Array | None]:
    """Propagate ``relevance`` given at stage ``start`` down to the input.

    Stage 0 is the network input, stage j + 1 the output of layer j; stage ``len(layers)`` is the
    network output. Relevance arriving at a stage from several readers is summed.

    Parameters
    ----------
    start : int, optional
        The stage ``relevance`` sits at (default: the output). Layers whose output receives no
        relevance (above ``start``, or on a branch that does not lead to it) send nothing.
    keep : bool
        Keep every stage's relevance (default). With False only the input relevance (stage 0)
        and the top stage are kept; the others are None and freed as soon as every layer reading
        them has sent its share down and they have passed their relevance on.
    sums : list, optional
        A list of ``len(layers) + 1`` entries that receives each computed stage's per-sample
        relevance sums (N,) float64, also for stages that are not kept.
    sent : dict, optional
        Receives, for every layer that propagated relevance, the per-sample sums (N,) float64 of
        what it sent to each of its inputs (a list in ``node_inputs`` order): the per-node
        conservation of graphs and the shares of each merge's inputs.

    Returns
    -------
    list of arrays
        ``stages[i]`` is the relevance at stage i (None where none arrived and, with ``keep=False``,
        between the top and the input).
    """
    top = len(net.layers) if start is None else start
    stages: list[Array | None] = [None] * (len(net.layers) + 1)
    reads = _read_counts(net) if sent is not None else []
    origin: list[int | None] = [None] * (len(net.layers) + 1)  # the single layer that sent a stage's relevance
    stages[top] = relevance
    n = relevance.shape[0]
    if sums is not None:
        sums[top] = _sample_sums(relevance, n)
    for index in range(top - 1, -1, -1):
        out = stages[index + 1]
        if out is None:
            continue
        if sums is not None and index + 1 != top:
            sums[index + 1] = _stage_sum(net, sums, origin[index + 1], out, n)
        parts = relevance_to_inputs(net, trace, index, out, rules, bias, messages)
        if sent is not None:
            sent[index] = _sent_sums(net, index, parts, sums, reads, n)
        if not keep and index + 1 != top:
            stages[index + 1] = None
        for stage, part in zip(net.node_inputs[index], parts):
            if stages[stage] is None:
                stages[stage], origin[stage] = part, index
            else:
                stages[stage], origin[stage] = stages[stage] + part, -1
    if sums is not None and top != 0 and stages[0] is not None:
        sums[0] = _stage_sum(net, sums, origin[0], stages[0], n)
    if sent is not None:  # a part that was its stage's only relevance has the stage's sum
        for index, values in sent.items():
            sent[index] = [sums[s] if v is None else v for s, v in zip(net.node_inputs[index], values)]
    return stages


def _read_counts(net: Network) -> list[int]:
    """How many layer inputs read each stage (a merge reading a stage twice counts twice)."""
    counts = [0] * (len(net.layers) + 1)
    for stages in net.node_inputs:
        for stage in stages:
            counts[stage] += 1
    return counts


def _sent_sums(net: Network, index: int, parts: list[Array], sums: list[Array | None] | None,
               reads: list[int], n: int) -> list[Array | None]:
    """Per-sample sums of what layer ``index`` sent to each input; None: the stage's own sum (filled later)."""
    if sums is not None and keeps_values(net.layers[index]):
        return [sums[index + 1]]
    return [None if sums is not None and reads[stage] == 1 else _sample_sums(part, n)
            for stage, part in zip(net.node_inputs[index], parts)]


def _stage_sum(net: Network, sums: list[Array | None], origin: int | None, relevance: Array, n: int) -> Array:
    """A complete stage's per-sample sums: copied from the stage above when one value-keeping layer sent it all."""
    if origin is not None and origin >= 0 and keeps_values(net.layers[origin]):
        return sums[origin + 1]
    return _sample_sums(relevance, n)


def keeps_values(layer: Any) -> bool:
    """True when the layer passes its output relevance down as the same multiset of values.

    Activations, flatten and identities pass it unchanged; max pooling with non-overlapping windows
    (stride >= kernel) moves each value to its one winner and zeros elsewhere. The per-sample
    sums are then exactly those of the stage above (no pass over the larger input).
    """
    if isinstance(layer, (Activation, Flatten)) or getattr(layer, "type_name", "") in PASS_TYPES:
        return True
    return isinstance(layer, MaxPool2d) and layer.stride >= layer.kernel_size


def _sample_sums(relevance: Array, n: int) -> Array:
    """Per-sample sums (N,) float64, reduced in the array's memory order (batch-last conv maps too)."""
    if relevance.ndim > 2 and not relevance.flags.c_contiguous:
        batch_last = relevance.transpose(tuple(range(1, relevance.ndim)) + (0,))
        if batch_last.flags.c_contiguous:
            return batch_last.reshape(-1, n).sum(axis=0, dtype="float64")
    return relevance.reshape(n, -1).sum(axis=1, dtype="float64")


def one_hot_start(activation: Array, targets: Array) -> Array:
    """Initial relevance: the activation at the target unit, zero elsewhere.

    Parameters
    ----------
    activation : array (N, ...)
    targets : array (N,) of flat unit indices
    """
    xp = xp_of(activation)
    flat = activation.reshape(activation.shape[0], -1)
    start = xp.zeros_like(flat)
    rows = xp.arange(flat.shape[0])
    start[rows, targets] = flat[rows, targets]
    return start.reshape(activation.shape)
