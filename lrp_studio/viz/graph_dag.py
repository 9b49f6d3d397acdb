"""Which stages of a (graph) network the network view draws, how they connect, and their depth.

Plain Python, no Qt and no network runs: :mod:`lrp_studio.viz.graph_scene` places the drawn stages
as columns (one horizontal slot per depth) and routes the links returned here as edges.

A network is read through its layers, ``node_inputs`` (the stages each layer reads; a network
without it is sequential, layer j reading stage j) and per-stage ``shapes``. Stage 0 is the input,
stage j + 1 the output of layer j, and layers are topologically ordered, so stage numbers are a
topological order of the drawn stages too.

Drawn stages
------------
* stage 0, the network input;
* every dense/conv layer's output after the layers it *absorbs*: a conv layer absorbs the
  activations, pooling and batch-norm layers that follow it, a dense layer one batch norm and one
  activation; an add/concat (merge) layer absorbs one activation. A follower is absorbed only when
  it is the only reader of the stage before it and reads nothing else, so for a sequential
  network these are exactly the columns of the sequential view;
* the network output (the last stage) always ends the graph.

Stages in between (flatten, global average pooling, a lone activation) are passed through: a
link runs from the drawn stage before them to the layer after them.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = [
    "DrawnStage",
    "Link",
    "depths",
    "drawn_stages",
    "input_stages",
    "links",
    "parents",
    "residual_blocks",
    "skip_lanes",
    "source_stage",
]

_ACTIVATIONS = frozenset({"relu", "sigmoid", "tanh"})
_POOLS = frozenset({"maxpool2d", "avgpool2d"})
_MERGES = frozenset({"add", "concat"})


def _is_merge(layer) -> bool:
    return bool(getattr(layer, "is_merge", False)) or layer.type_name in _MERGES


def _is_activation(layer) -> bool:
    from lrp_studio.nn.layers import Activation

    return isinstance(layer, Activation) or layer.type_name in _ACTIVATIONS


def input_stages(net) -> list[tuple[int, ...]]:
    """Per layer j the stages it reads: ``net.node_inputs``, or ``(j,)`` for a sequential network."""
    inputs = getattr(net, "node_inputs", None)
    if inputs is None:
        return [(j,) for j in range(len(net.layers))]
    return [tuple(int(s) for s in stages) for stages in inputs]


def _readers(inputs: list[tuple[int, ...]], n_stages: int) -> list[list[int]]:
    readers: list[list[int]] = [[] for _ in range(n_stages)]
    for j, stages in enumerate(inputs):
        for stage in stages:
            readers[stage].append(j)
    return readers


@dataclass(frozen=True)
class DrawnStage:
    """A stage the view draws as a column.

    Attributes
    ----------
    stage : int
        The stage shown (0 = input, j + 1 = output of layer j).
    layer_index : int or None
        The dense/conv/merge layer whose output (after the absorbed layers) this is; None for the
        input and for an output stage not produced by such a layer.
    absorbed : tuple of str
        Type names of the absorbed layers (e.g. ``("batchnorm", "relu")``); for an output stage
        without a layer, the type of the last layer.
    """

    stage: int
    layer_index: int | None
    absorbed: tuple[str, ...] = ()


def _absorbs(owner, follower, count: int) -> bool | None:
    """Whether ``owner`` absorbs ``follower`` as its ``count``-th follower: True (and go on),
    None (absorb and stop), False (stop before it)."""
    kind = follower.type_name
    if owner.type_name == "conv2d":
        return kind in _POOLS or kind == "batchnorm" or _is_activation(follower)
    if _is_merge(owner):
        return None if (count == 0 and _is_activation(follower)) else False
    if kind == "batchnorm" and count == 0:
        return True
    return None if _is_activation(follower) else False


def drawn_stages(net) -> list[DrawnStage]:
    """The drawn stages in stage (= topological) order, see the module docstring."""
    layers = net.layers
    inputs = input_stages(net)
    readers = _readers(inputs, len(layers) + 1)
    result = [DrawnStage(0, None)]
    for index, layer in enumerate(layers):
        if not (layer.is_linear or _is_merge(layer)):
            continue
        stage, names = index + 1, []
        while stage < len(layers) and len(readers[stage]) == 1:
            follower = readers[stage][0]
            if inputs[follower] != (stage,):
                break
            verdict = _absorbs(layer, layers[follower], len(names))
            if verdict is False:
                break
            names.append(layers[follower].type_name)
            stage = follower + 1
            if verdict is None:
                break
        result.append(DrawnStage(stage, index, tuple(names)))
    if result[-1].stage != len(layers):
        result.append(DrawnStage(len(layers), None, (layers[-1].type_name,)))
    return result


def source_stage(net, stage: int, drawn: set[int], inputs: list[tuple[int, ...]] | None = None) -> int | None:
    """The drawn stage ``stage`` comes from: itself if drawn, else walked back through the
    single-input layers in between (None when a merge or linear layer is in the way)."""
    inputs = input_stages(net) if inputs is None else inputs
    while stage not in drawn:
        producer = stage - 1
        layer = net.layers[producer]
        if len(inputs[producer]) != 1 or layer.is_linear or _is_merge(layer):
            return None
        stage = inputs[producer][0]
    return stage


@dataclass(frozen=True)
class Link:
    """One input of a drawn dense/conv/merge layer, traced back to the drawn stage it comes from.

    Attributes
    ----------
    layer_index : int
        The layer reading it.
    slot : int
        Which of the layer's inputs (0 for dense/conv layers).
    source : int
        The drawn stage the input comes from.
    target : int
        The drawn stage of the layer (after its absorbed layers).
    read : int
        The stage the layer actually reads (``source`` or a stage passed through after it).
    """

    layer_index: int
    slot: int
    source: int
    target: int
    read: int


def links(net, drawn: list[DrawnStage]) -> list[Link]:
    """Every input of every drawn layer whose source is a drawn stage, in layer order."""
    inputs = input_stages(net)
    stages = {d.stage for d in drawn}
    result = []
    for node in drawn:
        if node.layer_index is None:
            continue
        for slot, read in enumerate(inputs[node.layer_index]):
            source = source_stage(net, read, stages, inputs)
            if source is not None:
                result.append(Link(node.layer_index, slot, source, node.stage, read))
    return result


def parents(net, drawn: list[DrawnStage]) -> dict[int, list[int]]:
    """Per drawn stage, the drawn stages it comes from (for depth and left/right moves).

    Like :func:`links`, plus the source of an output stage without a layer of its own.
    """
    inputs = input_stages(net)
    stages = {d.stage for d in drawn}
    result: dict[int, list[int]] = {0: []}
    for node in drawn[1:]:
        producer = node.layer_index if node.layer_index is not None else node.stage - 1
        found = []
        for read in inputs[producer]:
            source = source_stage(net, read, stages, inputs)
            if source is not None and source not in found:
                found.append(source)
        result[node.stage] = found
    return result


def residual_blocks(net, drawn: list[DrawnStage]) -> dict[str, list[int]]:
    """Residual blocks: drawn stages grouped by the name prefix of their layer, where a group has a merge.

    The builders name a block's layers ``block{k}.conv1``, ``block{k}.add``, ... (``res:C`` tokens of
    :mod:`lrp_studio.nn.builders`); imported graphs named ``layer1.0.conv1`` etc. group the same way
    (the prefix is everything before the last dot). A group counts when it has at least two drawn
    stages and its last one is a merge (the block output).

    Returns
    -------
    dict block name -> list of int
        The drawn stages of each block in stage order, the merge's last; blocks in network order.
    """
    names = getattr(net, "names", None)
    if not names:
        return {}
    groups: dict[str, list[DrawnStage]] = {}
    for node in drawn:
        if node.layer_index is None or "." not in str(names[node.layer_index]):
            continue
        groups.setdefault(str(names[node.layer_index]).rsplit(".", 1)[0], []).append(node)
    return {name: [d.stage for d in nodes] for name, nodes in groups.items()
            if len(nodes) >= 2 and _is_merge(net.layers[nodes[-1].layer_index])}


def depths(drawn: list[DrawnStage], parent_map: dict[int, list[int]]) -> dict[int, int]:
    """Longest path (in drawn stages) from the input: 0 for the input, 1 + the deepest parent."""
    result: dict[int, int] = {}
    for node in drawn:
        found = [result[p] for p in parent_map.get(node.stage, []) if p in result]
        if found:
            result[node.stage] = 1 + max(found)
        else:  # the input, or a stage whose source is not drawn: after everything so far
            result[node.stage] = 1 + max(result.values()) if result else 0
    return result


def skip_lanes(spans: list[tuple[int, int]]) -> list[int]:
    """Lanes for skip edges so that edges whose horizontal runs overlap never share one.

    Parameters
    ----------
    spans : list of (start depth, end depth)
        Each skip edge runs from the column at ``start`` to the column at ``end`` (> start + 1).

    Returns
    -------
    list of int
        Lane of each span (0 = nearest the nodes); spans meeting only at a column share a lane.
    """
    order = sorted(range(len(spans)), key=lambda i: (spans[i][0], spans[i][1]))
    ends: list[int] = []
    lanes = [0] * len(spans)
    for i in order:
        start, end = spans[i]
        lane = next((k for k, last in enumerate(ends) if last <= start), len(ends))
        if lane == len(ends):
            ends.append(end)
        else:
            ends[lane] = end
        lanes[i] = lane
    return lanes
