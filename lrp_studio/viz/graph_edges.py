"""Which relevance messages the network graph draws, and where: edges and the selection overlay.

Plain NumPy, no Qt. An explanation's ``messages[layer]`` (from ``explain(..., messages=True)``)
holds R_{i<-j}, the relevance input unit i receives from output unit j of that layer; summing a
row gives unit i's relevance. Per connection of a :class:`~lrp_studio.viz.graph_scene.GraphLayout`
the rows are summed per channel where the source column draws channels (:func:`aggregate_messages`);
the graph then draws, for every target, its ``k`` strongest incoming messages, at most
:data:`MAX_EDGES_PER_CONNECTION` per connection, in pens binned by sign and magnitude.

Merge layers (add, concat) record no messages; :func:`merge_messages` makes them from the
explanation's stage records with the rule LRP used there (Zennit's ``Sum`` with ``Norm`` for an
addition, the slice for a concatenation), summed per channel for feature maps. Skip edges (a
connection with a ``lane``) are polylines of three segments (:func:`~lrp_studio.viz.graph_scene.edge_polylines`).
"""

from __future__ import annotations

from typing import Any, Iterable, Mapping, NamedTuple

import numpy as np

from lrp_studio.viz.graph_layout import bin_edges_by_sign_and_magnitude, strongest, top_k_edges
from lrp_studio.viz.graph_scene import Column, Connection, GraphLayout, edge_polylines

__all__ = [
    "MAX_EDGES_PER_CONNECTION",
    "N_BINS",
    "OVERLAY_EDGES",
    "Edges",
    "aggregate_messages",
    "binned_segments",
    "cap_strongest",
    "connection_messages",
    "merge_messages",
    "overlay_segments",
    "select_edges",
    "shown_nodes",
]

#: Strongest edges drawn per pair of columns (of the top-k per target): painting cost grows with
#: the line count (DESIGN.md 4: 300 lines ~12 ms, 900 ~37 ms on a 2-core machine).
MAX_EDGES_PER_CONNECTION = 200
#: Magnitude bins per sign: 2 * N_BINS pens.
N_BINS = 8
#: Edges of the selected unit drawn on the overlay (per neighbouring connection).
OVERLAY_EDGES = 12
#: Stabilizer of the addition's Norm rule (DESIGN.md 3.3: stab(z) = z + eps * sign(z), sign(0) = +1).
ADD_EPS = 1e-6


class Edges(NamedTuple):
    """The drawn edges of one connection.

    Attributes
    ----------
    layer_index : int
        The dense/conv layer whose messages these are.
    connection : int
        Index into ``layout.connections``.
    src, dst : ndarray (E,) int64
        Source node (row of the aggregated messages) and target node of each edge.
    values : ndarray (E,)
        The message of each edge.
    """

    layer_index: int
    connection: int
    src: np.ndarray
    dst: np.ndarray
    values: np.ndarray


def aggregate_messages(messages: np.ndarray, group: int) -> np.ndarray:
    """Sum the rows of (C * group, n_out) messages per channel -> (C, n_out); ``group == 1``: unchanged."""
    messages = np.asarray(messages)
    if group == 1:
        return messages
    return messages.reshape(-1, group, messages.shape[1]).sum(axis=1)


def _per_node(values: np.ndarray) -> np.ndarray:
    """(C, H, W) -> per channel sums (C,); flat values unchanged."""
    values = np.asarray(values, dtype=np.float64)
    return values.reshape(values.shape[0], -1).sum(axis=1) if values.ndim == 3 else values.reshape(-1)


def merge_messages(connection: Connection, activations: Mapping[int, np.ndarray],
                   relevances: Mapping[int, np.ndarray]) -> np.ndarray | None:
    """Relevance one input of a merge layer receives, per node, as a (n_in, n_out) message matrix.

    Parameters
    ----------
    connection : Connection
        A merge connection (``merge`` is ``"add"`` or ``"concat"``).
    activations, relevances : dict stage -> ndarray (one sample's shape)
        Sample 0's stage records (``exp.layers``).

    Returns
    -------
    ndarray (n_in, n_out) float32 or None
        ``add``: diagonal, input ``slot`` getting ``x_slot / stab(sum_i x_i) * R`` (Zennit ``Sum``
        + ``Norm``; stab as DESIGN.md 3.3 with eps :data:`ADD_EPS`); ``concat``: its channel
        slice of R, at the output nodes of that slice. Summed over H, W for (C, H, W) stages.
        None when the records needed are missing (e.g. a baseline's hidden relevance).
    """
    relevance = relevances.get(connection.layer_index + 1)
    if relevance is None or any(activations.get(s) is None for s in connection.reads):
        return None
    relevance = np.asarray(relevance, dtype=np.float64)
    if connection.merge == "add":
        xs = [np.asarray(activations[s], dtype=np.float64) for s in connection.reads]
        total = np.sum(xs, axis=0)
        stab = total + ADD_EPS * np.where(total >= 0, 1.0, -1.0)
        share = _per_node(xs[connection.slot] / stab * relevance)
        return np.diag(share).astype(np.float32)
    sizes = [int(np.shape(activations[s])[0]) for s in connection.reads]
    offset = sum(sizes[: connection.slot])
    share = _per_node(relevance[offset: offset + sizes[connection.slot]])
    n_out = len(_per_node(relevance))
    matrix = np.zeros((len(share), n_out), dtype=np.float32)
    matrix[np.arange(len(share)), offset + np.arange(len(share))] = share
    return matrix


def _records_by_stage(records: Iterable[Any]) -> tuple[dict[int, np.ndarray], dict[int, np.ndarray]]:
    activations, relevances = {}, {}
    for record in records:
        activations[record.stage] = np.asarray(record.activation[0])
        if record.relevance is not None:
            relevances[record.stage] = np.asarray(record.relevance[0])
    return activations, relevances


def connection_messages(layout: GraphLayout, messages: Mapping[int, np.ndarray],
                        records: Iterable[Any] = ()) -> dict[int, np.ndarray]:
    """Per connection index, the layer's messages between drawn nodes, (n_sources, n_targets) float32.

    Parameters
    ----------
    layout : GraphLayout
    messages : dict layer index -> ndarray
        ``exp.messages`` (dense/conv layers).
    records : iterable of LayerRecord
        ``exp.layers``, for the messages of merge layers (:func:`merge_messages`).

    Connections whose layer has no messages (baselines, explanations without ``messages=True``)
    are left out.
    """
    result = {}
    merges = [c for c in layout.connections if c.merge is not None]
    activations, relevances = _records_by_stage(records) if merges else ({}, {})
    for index, conn in enumerate(layout.connections):
        if conn.merge is not None:
            merged = merge_messages(conn, activations, relevances) if messages else None
            if merged is not None:
                result[index] = shown_nodes(layout, conn, merged)
            continue
        layer_messages = messages.get(conn.layer_index)
        if layer_messages is not None:
            aggregated = aggregate_messages(np.asarray(layer_messages, dtype=np.float32), conn.group)
            result[index] = shown_nodes(layout, conn, aggregated)
    return result


def shown_nodes(layout: GraphLayout, conn: Connection, matrix: np.ndarray) -> np.ndarray:
    """(all source units, all target units) messages -> (source nodes, target nodes): the rows and
    columns of the units the two columns show (unchanged where a column shows all of them)."""
    source, target = layout.columns[conn.source], layout.columns[conn.target]
    if source.units is not None and source.kind != "image":
        matrix = matrix[source.units]
    if target.units is not None:
        matrix = matrix[:, target.units]
    return matrix


def cap_strongest(src: np.ndarray, dst: np.ndarray, values: np.ndarray,
                  cap: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Keep the ``cap`` edges of largest |value| (all when there are at most ``cap``; order not kept)."""
    if len(values) <= cap:
        return src, dst, values
    keep = np.argpartition(-np.abs(values), cap)[:cap]
    return src[keep], dst[keep], values[keep]


def select_edges(layout: GraphLayout, aggregated: Mapping[int, np.ndarray], top_k: int,
                 cap: int = MAX_EDGES_PER_CONNECTION) -> list[Edges]:
    """The edges to draw: per target its ``top_k`` strongest non-zero messages, ``cap`` per connection.

    Parameters
    ----------
    layout : GraphLayout
    aggregated : dict connection index -> ndarray (n_sources, n_targets)
        From :func:`connection_messages`.
    top_k : int
        Incoming edges per target node (0: none).
    cap : int
        Most edges of one connection; the strongest of the per-target candidates are kept.

    Returns
    -------
    list of Edges
        One entry per connection with messages (possibly with no edges), left to right.
    """
    if top_k <= 0:
        return []
    edges = []
    for index, conn in enumerate(layout.connections):
        messages = aggregated.get(index)
        if messages is None:
            continue
        src, dst, values = cap_strongest(*top_k_edges(messages, top_k, drop_zero=True), cap)
        edges.append(Edges(conn.layer_index, index, src, dst, values))
    return edges


def _pairs(start: np.ndarray, end: np.ndarray) -> np.ndarray:
    """(E, 2) starts and ends -> (2E, 2) interleaved for ``connect='pairs'``."""
    segments = np.empty((2 * len(start), 2))
    segments[0::2], segments[1::2] = start, end
    return segments


def _segments_per_edge(conn: Connection) -> int:
    return 1 if conn.lane is None else 3


def edge_segments(layout: GraphLayout, edges: Edges) -> np.ndarray:
    """(2Ek, 2) end points of one connection's edges (right side of sources to left of targets);
    k = 1 straight segment, or 3 for a skip edge routed around the columns it bypasses."""
    conn = layout.connections[edges.connection]
    source, target = layout.columns[conn.source], layout.columns[conn.target]
    return edge_polylines(layout, conn, source.out_anchors()[edges.src], target.in_anchors()[edges.dst])


def binned_segments(layout: GraphLayout, edges: list[Edges], n_bins: int = N_BINS,
                    shared_scale: bool = False) -> list[np.ndarray]:
    """Edge segments grouped into ``2 * n_bins`` pens: negative bins, then positive, weakest first.

    Parameters
    ----------
    layout : GraphLayout
    edges : list of Edges
        From :func:`select_edges`.
    n_bins : int
        Magnitude bins per sign.
    shared_scale : bool
        Bin every connection against the largest |message| drawn anywhere (the "global" scale);
        by default each connection against its own largest.

    Returns
    -------
    list of ndarray (2E_b, 2)
        Per pen, the interleaved end points of its edges (possibly empty).
    """
    vmax = max((float(np.max(np.abs(e.values), initial=0.0)) for e in edges), default=0.0)
    buckets: list[list[np.ndarray]] = [[] for _ in range(2 * n_bins)]
    for part in edges:
        if len(part.values) == 0:
            continue
        segments = edge_segments(layout, part)
        points = 2 * _segments_per_edge(layout.connections[part.connection])
        groups = bin_edges_by_sign_and_magnitude(part.values, n_bins, vmax if shared_scale else None)
        for slot, (_, _, mask) in enumerate(groups):
            if mask.any():
                buckets[slot].append(segments[np.repeat(mask, points)])
    return [np.concatenate(parts) if parts else np.zeros((0, 2)) for parts in buckets]


def _split_by_sign(segments: np.ndarray, values: np.ndarray, parts: tuple[list, list]) -> None:
    positive = values >= 0
    points = len(segments) // max(len(values), 1)
    parts[1].append(segments[np.repeat(positive, points)])
    parts[0].append(segments[np.repeat(~positive, points)])


def _pixel_fan_in(layout: GraphLayout, column: Column, node: int, messages: Mapping[int, np.ndarray],
                  count: int, parts: tuple[list, list]) -> None:
    """Strongest pixel -> neuron messages of a dense layer fed by the input image."""
    if column.index == 0 or column.layer_index is None:
        return
    sources = [layout.columns[i] for i in layout.parents.get(column.index, [column.index - 1])]
    source = next((c for c in sources if c.kind == "image"), None)
    layer_messages = messages.get(column.layer_index)
    if source is None or layer_messages is None or np.ndim(layer_messages) != 2 \
            or layer_messages.shape[0] != source.n_units:
        return
    values = np.asarray(layer_messages[:, column.node_unit(node)])
    order = strongest(values, count)
    if len(order) == 0:
        return
    start = np.array([source.pixel_centre(int(unit)) for unit in order])
    end = np.repeat(column.in_anchors()[node][None], len(order), axis=0)
    _split_by_sign(_pairs(start, end), values[order], parts)


def overlay_segments(layout: GraphLayout, aggregated: Mapping[int, np.ndarray], messages: Mapping[int, np.ndarray],
                     stage: int, unit: int, count: int = OVERLAY_EDGES) -> tuple[np.ndarray, np.ndarray]:
    """The selected unit's strongest fan-in and fan-out messages, split by sign.

    Parameters
    ----------
    layout : GraphLayout
    aggregated : dict connection index -> ndarray (n_sources, n_targets)
        From :func:`connection_messages`.
    messages : dict layer index -> ndarray (n_in, n_out)
        The explanation's raw messages (for the pixel -> neuron fan-in of a dense first layer,
        which the graph draws only here).
    stage, unit : int
        The selected unit (a stage with a column).
    count : int
        Strongest non-zero messages drawn per neighbouring connection and direction.

    Returns
    -------
    negative, positive : ndarray (2E, 2)
        Interleaved end points of the negative and the non-negative messages.
    """
    column = layout.column_of_stage(stage)
    parts: tuple[list, list] = ([], [])
    if column.kind == "image":
        return np.zeros((0, 2)), np.zeros((0, 2))
    node = column.unit_to_node(unit)
    for index, conn in enumerate(layout.connections):
        conn_messages = aggregated.get(index)
        if conn_messages is None or column.index not in (conn.source, conn.target):
            continue
        source, target = layout.columns[conn.source], layout.columns[conn.target]
        if conn.target == column.index:
            values = conn_messages[:, node]
            order = strongest(values, count)
            start = source.out_anchors()[order]
            end = np.repeat(target.in_anchors()[node][None], len(order), axis=0)
        else:
            values = conn_messages[node, :]
            order = strongest(values, count)
            start = np.repeat(source.out_anchors()[node][None], len(order), axis=0)
            end = target.in_anchors()[order]
        _split_by_sign(edge_polylines(layout, conn, start, end), values[order], parts)
    _pixel_fan_in(layout, column, node, messages, count, parts)
    return tuple(np.concatenate(p) if p else np.zeros((0, 2)) for p in parts)  # type: ignore[return-value]
