"""Relevance propagation through a traced network, layer by layer from the top down."""

from __future__ import annotations

from typing import Any, Mapping

from lrp_studio.backend import xp_of
from lrp_studio.lrp.rules import DEFAULT_STABILIZER, LayerContext, Rule, apply_terms, stabilize, term_messages
from lrp_studio.nn.layers import Activation, AvgPool2d, Flatten, MaxPool2d
from lrp_studio.nn.network import Network, Trace

Array = Any


def layer_context(net: Network, trace: Trace, index: int, bias: bool = True) -> LayerContext:
    """The rule's view of dense/conv layer ``index`` in ``trace``."""
    layer = net.layers[index]
    x = trace.inputs[index]
    cols = trace.caches[index][1] if layer.type_name == "conv2d" else x
    return LayerContext(layer, x, cols, trace.inputs[index + 1], bias)


def relevance_through(net: Network, trace: Trace, index: int, relevance: Array,
                      rules: Mapping[int, Rule], bias: bool = True,
                      messages: dict[int, Array] | None = None) -> Array:
    """Relevance of layer ``index``'s input from the relevance of its output.

    With a ``messages`` dict, dense/conv layers also store their sample-0 messages there
    (see :func:`lrp_studio.lrp.rules.term_messages`); without it a rule may take its shortcut.
    """
    layer = net.layers[index]
    if layer.is_linear:
        ctx = layer_context(net, trace, index, bias)
        if messages is None:
            return rules[index](ctx, relevance)
        terms = rules[index].terms(ctx, relevance)
        messages[index] = term_messages(ctx, terms)
        return apply_terms(ctx, terms)
    if isinstance(layer, (Activation, Flatten)):
        return relevance.reshape(trace.inputs[index].shape)
    if isinstance(layer, MaxPool2d):
        return layer.route(relevance, trace.caches[index])
    if isinstance(layer, AvgPool2d):
        x = trace.inputs[index]
        z = trace.inputs[index + 1]
        return x * layer.spread(relevance / stabilize(z, DEFAULT_STABILIZER), x.shape)
    raise TypeError(f"no relevance rule for layer type {layer.type_name}")


def propagate(net: Network, trace: Trace, relevance: Array, rules: Mapping[int, Rule],
              start: int | None = None, bias: bool = True,
              messages: dict[int, Array] | None = None, keep: bool = True,
              sums: list[Array | None] | None = None) -> list[Array | None]:
    """Propagate ``relevance`` given at stage ``start`` down to the input.

    Stage i is the input of layer i; stage ``len(layers)`` is the network output.

    Parameters
    ----------
    keep : bool
        Keep every stage's relevance (default). With False only the input relevance (stage 0)
        and the top stage are kept; the others are None and freed as soon as the next is known.
    sums : list, optional
        A list of ``len(layers) + 1`` entries that receives each computed stage's per-sample
        relevance sums (N,) float64, also for stages that are not kept.

    Returns
    -------
    list of arrays
        ``stages[i]`` is the relevance at stage i (None above ``start`` and, with ``keep=False``,
        between the top and the input).
    """
    top = len(net.layers) if start is None else start
    stages: list[Array | None] = [None] * (len(net.layers) + 1)
    stages[top] = relevance
    n = relevance.shape[0]
    if sums is not None:
        sums[top] = _sample_sums(relevance, n)
    for index in range(top - 1, -1, -1):
        relevance = relevance_through(net, trace, index, relevance, rules, bias, messages)
        if sums is not None:
            sums[index] = sums[index + 1] if keeps_values(net.layers[index]) else _sample_sums(relevance, n)
        if keep or index == 0:
            stages[index] = relevance
    return stages


def keeps_values(layer: Any) -> bool:
    """True when the layer passes its output relevance down as the same multiset of values.

    Activations and flatten pass it unchanged; max pooling with non-overlapping windows
    (stride >= kernel) moves each value to its one winner and zeros elsewhere. The per-sample
    sums are then exactly those of the stage above (no pass over the larger input).
    """
    if isinstance(layer, (Activation, Flatten)):
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
