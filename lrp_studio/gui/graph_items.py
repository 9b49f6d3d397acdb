"""Data model of the network graph: which stages become columns, where nodes sit, edge sources.

Everything here is plain NumPy (the Qt drawing lives in :mod:`lrp_studio.gui.graph_view`), so the
layout rules can be read and tested without a window.

Columns
-------
* stage 0, the input: ``"image"`` (one picture) unless it is flat with few features, then
  ``"dots"``;
* every dense layer: the stage after its activation if one follows directly, else its own output;
* every conv layer: the stage after the activations and pooling layers that follow it (one
  column of feature-map thumbnails per conv layer, channels as nodes);
* the last stage (the logits) always ends the graph.

Units
-----
A node's ``unit`` is the neuron index for flat stages, the channel for (C, H, W) hidden stages
and the flat input index ``c*H*W + i*W + j`` for an image input (stage 0).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from lrp_studio.nn.layers import Activation, AvgPool2d, MaxPool2d

__all__ = [
    "Column",
    "Connection",
    "GraphLayout",
    "build_layout",
    "aggregate_messages",
    "FLAT_INPUT_DOTS",
    "SCENE_HEIGHT",
]

#: Flat inputs with at most this many features are drawn as dots, larger ones as an image.
FLAT_INPUT_DOTS = 64
#: Height of the drawing area in scene units (grows for very wide conv layers).
SCENE_HEIGHT = 1000.0
#: Horizontal free space between two columns, in scene units.
COLUMN_GAP = 300.0
#: Largest vertical distance between two neighbouring dots.
MAX_DOT_SPACING = 70.0
#: Largest thumbnail side of a feature map.
MAX_THUMBNAIL = 110.0
#: Width of the input image in scene units.
IMAGE_WIDTH = 260.0


@dataclass
class Column:
    """One column of the graph.

    Attributes
    ----------
    index : int
        Position from the left (0 = input).
    stage : int
        Network stage shown (0 = input, i + 1 = output of layer i).
    kind : str
        ``"image"``, ``"dots"`` or ``"maps"``.
    title : str
        Short description, e.g. ``"dense 300 · relu"``.
    subtitle : str
        Size, e.g. ``"300 neurons"`` or ``"4 maps 12×12"``.
    layer_index : int or None
        The dense/conv layer producing this stage (None for the input).
    shape : tuple of int
        One sample's shape at this stage.
    n_nodes : int
        Drawn nodes: neurons, channels, or 1 for an image.
    n_units : int
        Selectable units: neurons, channels, or every input value of an image.
    centres : ndarray (n_nodes, 2)
        Node centres in scene units (y grows downwards).
    size : float
        Dots: diameter in screen pixels; maps: thumbnail side in scene units; image: height.
    width : float
        Horizontal extent in scene units (0 for dots).
    """

    index: int
    stage: int
    kind: str
    title: str
    subtitle: str
    layer_index: int | None
    shape: tuple[int, ...]
    n_nodes: int
    n_units: int
    centres: np.ndarray = field(default_factory=lambda: np.zeros((0, 2)))
    size: float = 0.0
    width: float = 0.0
    spacing: float = 0.0

    @property
    def x(self) -> float:
        return float(self.centres[0, 0]) if len(self.centres) else 0.0

    @property
    def image_hw(self) -> tuple[int, int]:
        """(H, W) of an image column's picture (flat inputs become one square or a strip)."""
        if len(self.shape) == 3:
            return self.shape[1], self.shape[2]
        if len(self.shape) == 2:
            return self.shape
        side = int(round(np.sqrt(self.shape[0])))
        return (side, side) if side * side == self.shape[0] else (self.shape[0], 1)

    def in_anchors(self) -> np.ndarray:
        """Where incoming edges end: the left edge of thumbnails, node centres otherwise."""
        anchors = self.centres.copy()
        if self.kind == "maps":
            anchors[:, 0] -= self.size / 2
        return anchors

    def out_anchors(self, n_sources: int | None = None) -> np.ndarray:
        """Where outgoing edges start: right edge of thumbnails / of the image (one per channel)."""
        if self.kind == "image":
            n = n_sources or 1
            top = self.centres[0, 1] - self.size / 2
            ys = top + (np.arange(n) + 0.5) * self.size / n
            return np.stack([np.full(n, self.centres[0, 0] + self.width / 2), ys], axis=1)
        anchors = self.centres.copy()
        if self.kind == "maps":
            anchors[:, 0] += self.size / 2
        return anchors

    def unit_to_node(self, unit: int) -> int:
        return 0 if self.kind == "image" else int(unit)


@dataclass
class Connection:
    """Edges of one dense/conv layer between two neighbouring columns.

    ``messages[layer_index]`` has shape (rows, n_targets); ``group`` > 1 means the rows are the
    flattened (C, H, W) units of a map column and are summed per channel (``group = H * W``).
    """

    layer_index: int
    source: int
    target: int
    group: int = 1


@dataclass
class GraphLayout:
    columns: list[Column]
    connections: list[Connection]
    height: float

    def column_of_stage(self, stage: int) -> Column | None:
        for column in self.columns:
            if column.stage == stage:
                return column
        return None

    @property
    def width(self) -> float:
        last = self.columns[-1]
        return last.x + last.width / 2


def _column_stages(net) -> list[tuple[int, int | None, list[str]]]:
    """(stage, producing linear layer, names of the absorbed layers) for every column."""
    layers = net.layers
    result: list[tuple[int, int | None, list[str]]] = [(0, None, [])]
    for index, layer in enumerate(layers):
        if not layer.is_linear:
            continue
        stage, names, j = index + 1, [], index + 1
        is_conv = layer.type_name == "conv2d"
        while j < len(layers):
            follower = layers[j]
            if isinstance(follower, Activation) and (is_conv or not names):
                pass
            elif is_conv and isinstance(follower, (MaxPool2d, AvgPool2d)):
                pass
            else:
                break
            names.append(follower.type_name)
            stage, j = j + 1, j + 1
            if not is_conv:
                break
        result.append((stage, index, names))
    if result[-1][0] != len(layers):
        result.append((len(layers), None, [layers[-1].type_name]))
    return result


def _describe(net, stage: int, layer_index: int | None, absorbed: list[str], last: bool) -> tuple[str, str]:
    shape = tuple(net.shapes[stage])
    if stage == 0:
        dims = "×".join(str(v) for v in shape)
        return "input", f"{shape[0]} features" if len(shape) == 1 else dims
    if layer_index is None:
        title = f"output · {absorbed[0]}" if absorbed else "output"
    else:
        layer = net.layers[layer_index]
        spec = layer.spec()
        width = spec.get("out_features", spec.get("out_channels"))
        title = " · ".join([f"{layer.type_name} {width}"] + absorbed)
        if last and not absorbed:
            title += " (logits)"
    if len(shape) == 3:
        return title, f"{shape[0]} maps {shape[1]}×{shape[2]}"
    return title, f"{shape[0]} neurons" if not last else f"{shape[0]} classes"


def _dot_size(spacing: float) -> float:
    """Dot diameter in pixels for a spacing in scene units (the view shows ~0.6 px per unit)."""
    return float(np.clip(spacing * 0.5, 4.0, 16.0))


def build_layout(net) -> GraphLayout:
    """Columns, node positions and edge connections of ``net`` (see the module docstring)."""
    stages = _column_stages(net)
    columns: list[Column] = []
    for position, (stage, layer_index, absorbed) in enumerate(stages):
        shape = tuple(int(v) for v in net.shapes[stage])
        last = stage == len(net.layers)
        title, subtitle = _describe(net, stage, layer_index, absorbed, last)
        size = int(np.prod(shape))
        if stage == 0:
            kind = "dots" if (len(shape) == 1 and size <= FLAT_INPUT_DOTS) else "image"
        else:
            kind = "maps" if len(shape) == 3 else "dots"
        if kind == "image":
            n_nodes, n_units = 1, size
        elif kind == "maps":
            n_nodes = n_units = shape[0]
        else:
            n_nodes = n_units = size
        columns.append(Column(position, stage, kind, title, subtitle, layer_index, shape, n_nodes, n_units))

    max_channels = max((c.n_nodes for c in columns if c.kind == "maps"), default=0)
    height = max(SCENE_HEIGHT, max_channels * 40.0)
    centre_y = height / 2
    x_right = 0.0
    for column in columns:
        if column.kind == "image":
            h, w = column.image_hw
            width = IMAGE_WIDTH if w > 1 else 40.0
            img_height = width * h / w
            if img_height > height and w > 1:
                width, img_height = width * height / img_height, height
            column.size, column.width, column.spacing = min(img_height, height), width, min(img_height, height)
        elif column.kind == "maps":
            spacing = min(height / column.n_nodes, MAX_THUMBNAIL / 0.85)
            column.size, column.width, column.spacing = spacing * 0.85, spacing * 0.85, spacing
        else:
            spacing = min(height / column.n_nodes, MAX_DOT_SPACING)
            column.size, column.width, column.spacing = _dot_size(spacing), 0.0, spacing
        x = x_right + (COLUMN_GAP if column.index else 0.0) + column.width / 2
        n = column.n_nodes
        ys = centre_y + (np.arange(n) - (n - 1) / 2.0) * column.spacing
        column.centres = np.stack([np.full(n, x), ys], axis=1)
        x_right = x + column.width / 2

    connections = []
    for target in columns[1:]:
        if target.layer_index is None:
            continue
        source = columns[target.index - 1]
        layer = net.layers[target.layer_index]
        in_shape = tuple(net.shapes[target.layer_index])
        rows = int(np.prod(in_shape)) if layer.type_name == "dense" else in_shape[0]
        if source.kind == "image" and layer.type_name == "dense":
            continue  # hundreds of lines into one picture: the inspector's heatmap shows this
        n_sources = source.shape[0] if source.kind in ("image", "maps") else source.n_nodes
        if rows == n_sources:
            group = 1
        elif source.kind in ("image", "maps") and rows == int(np.prod(source.shape)):
            group = rows // source.shape[0]
        else:
            continue
        connections.append(Connection(target.layer_index, source.index, target.index, group))
    return GraphLayout(columns, connections, height)


def aggregate_messages(messages: np.ndarray, group: int) -> np.ndarray:
    """Sum the rows of (C * group, n_out) messages per channel -> (C, n_out)."""
    messages = np.asarray(messages)
    if group == 1:
        return messages
    return messages.reshape(-1, group, messages.shape[1]).sum(axis=1)
