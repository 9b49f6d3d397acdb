"""The structure of a graph network: which stages each layer reads, node names, shapes.

Stage numbering (the same for sequential and graph networks): stage 0 is the network input,
stage j + 1 the output of layer j, stage ``len(layers)`` the network output. Layer j reads the
stages ``node_inputs[j]``, each at most j, so the layer list is a topological order.
"""

from __future__ import annotations

from typing import Any, Sequence

from lrp_studio.errors import ParameterError
from lrp_studio.nn.base import Layer

INPUT_NAME = "input"  # the network input's name in model files; no node may take it


def check_node_inputs(layers: Sequence[Layer], inputs: Sequence[Sequence[int]] | None) -> list[tuple[int, ...]]:
    """Validate the stages each layer reads; ``None`` means sequential (layer j reads stage j).

    Parameters
    ----------
    layers : sequence of Layer
    inputs : sequence of sequences of int, optional
        ``inputs[j]``: the stages layer j reads, each in 0..j; merge layers read two or more,
        every other layer exactly one.

    Returns
    -------
    list of tuple of int

    Raises
    ------
    ParameterError
        Wrong length, a stage that is not an earlier one, a wrong number of inputs for the layer.
    """
    if inputs is None:
        return [(j,) for j in range(len(layers))]
    if len(inputs) != len(layers):
        raise ParameterError(f"{len(inputs)} input lists given for {len(layers)} layers")
    checked: list[tuple[int, ...]] = []
    for j, (layer, stages) in enumerate(zip(layers, inputs)):
        try:
            stages = tuple(stages)
        except TypeError:
            raise ParameterError(f"layer {j}: inputs must be a list of stages, got {stages!r}") from None
        for stage in stages:
            if isinstance(stage, bool) or not isinstance(stage, int) or not 0 <= stage <= j:
                raise ParameterError(f"layer {j} may read only stages 0..{j} (the input and earlier layers), got {stage!r}")
        if layer.is_merge:
            if len(stages) < getattr(layer, "min_inputs", 2):
                raise ParameterError(f"layer {j} ({layer.type_name}) needs at least 2 inputs, got {len(stages)}")
        elif len(stages) != 1:
            raise ParameterError(f"layer {j} ({layer.type_name}) reads exactly one input, got {len(stages)}")
        checked.append(stages)
    return checked


def check_names(names: Sequence[str] | None, count: int) -> list[str]:
    """Node names: default ``str(j)``; otherwise ``count`` unique non-empty strings, none ``"input"``.

    Raises
    ------
    ParameterError
    """
    if names is None:
        return [str(j) for j in range(count)]
    names = list(names)
    if len(names) != count:
        raise ParameterError(f"{len(names)} names given for {count} layers")
    seen: set[str] = set()
    for j, name in enumerate(names):
        if not isinstance(name, str) or not name:
            raise ParameterError(f"layer {j}: a node name must be a non-empty string, got {name!r}")
        if name == INPUT_NAME:
            raise ParameterError(f"layer {j}: {INPUT_NAME!r} names the network input and cannot name a node")
        if name in seen:
            raise ParameterError(f"node name {name!r} is used twice")
        seen.add(name)
    return names


def consumers_of(node_inputs: Sequence[tuple[int, ...]], n_stages: int) -> list[list[int]]:
    """``result[s]``: the layers reading stage s, in order (each listed once)."""
    readers: list[list[int]] = [[] for _ in range(n_stages)]
    for j, stages in enumerate(node_inputs):
        for stage in dict.fromkeys(stages):
            readers[stage].append(j)
    return readers


def check_no_dead_nodes(readers: Sequence[list[int]], names: Sequence[str]) -> None:
    """Every stage but the last must be read by some layer.

    Raises
    ------
    ParameterError
        Naming the nodes whose output nothing reads.
    """
    dead = [INPUT_NAME if s == 0 else repr(names[s - 1]) for s in range(len(readers) - 1) if not readers[s]]
    if dead:
        raise ParameterError(f"the output of {', '.join(dead)} is read by no layer (only the last node may be the output)")


def infer_shapes(layers: Sequence[Layer], node_inputs: Sequence[tuple[int, ...]],
                 input_shape: tuple[int, ...], names: Sequence[str] | None = None) -> list[tuple[int, ...]]:
    """Per-sample shapes of every stage, computed without allocating anything.

    Raises
    ------
    ParameterError
        A layer refuses its input shape(s); the message names the layer (index, and name if not
        the default).
    """
    shapes = [tuple(input_shape)]
    for j, (layer, stages) in enumerate(zip(layers, node_inputs)):
        given: Any = [shapes[s] for s in stages] if layer.is_merge else shapes[stages[0]]
        try:
            shapes.append(tuple(layer.output_shape(given)))
        except ParameterError as error:
            label = f"layer {j}" if names is None or names[j] == str(j) else f"layer {j} ({names[j]!r})"
            raise ParameterError(f"{label}: {error}") from None
    return shapes


def last_readers(node_inputs: Sequence[tuple[int, ...]], n_stages: int) -> list[int]:
    """``result[s]``: the last layer reading stage s (-1 if none): the stage can be freed after it."""
    last = [-1] * n_stages
    for j, stages in enumerate(node_inputs):
        for stage in stages:
            last[stage] = j
    return last


def resolve_entries(entries: Sequence[dict[str, Any]]) -> tuple[list[str] | None, list[tuple[int, ...]] | None]:
    """Node names and input stages of model-file layer entries (version 2; v1 entries have neither).

    An entry may carry ``"name"`` (default ``str(j)``) and ``"inputs"``, a list of earlier node
    names or ``"input"`` for the network input; without ``"inputs"`` it reads the previous node.

    Returns
    -------
    names : list of str, or None when no entry is named
    node_inputs : list of tuple of int, or None when every entry reads the previous node

    Raises
    ------
    ParameterError
        A name that is not a non-empty string, used twice or ``"input"``; ``inputs`` that is not a
        list of names of earlier nodes.
    """
    named = any("name" in entry for entry in entries)
    names = check_names([entry.get("name", str(j)) for j, entry in enumerate(entries)], len(entries))
    stage_of = {INPUT_NAME: 0}
    node_inputs: list[tuple[int, ...]] = []
    for j, entry in enumerate(entries):
        refs = entry.get("inputs")
        if refs is None:
            node_inputs.append((j,))
        elif not isinstance(refs, list) or not refs or not all(isinstance(r, str) for r in refs):
            raise ParameterError(f"node {names[j]!r}: 'inputs' must be a non-empty list of node names, got {refs!r}")
        else:
            unknown = [r for r in refs if r not in stage_of]
            if unknown:
                raise ParameterError(f"node {names[j]!r} reads {unknown[0]!r}, which is not an earlier node or 'input'")
            node_inputs.append(tuple(stage_of[r] for r in refs))
        stage_of[names[j]] = j + 1
    sequential = all(stages == (j,) for j, stages in enumerate(node_inputs))
    return (names if named else None), (None if sequential else node_inputs)


def entry_inputs(node_inputs: Sequence[tuple[int, ...]], names: Sequence[str], j: int) -> list[str]:
    """Layer j's ``"inputs"`` as model-file names (``"input"`` for stage 0)."""
    return [INPUT_NAME if s == 0 else names[s - 1] for s in node_inputs[j]]
