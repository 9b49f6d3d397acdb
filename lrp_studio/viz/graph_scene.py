"""Scene geometry of the network graph: columns, node positions, labels, hit testing, navigation.

Plain NumPy, no Qt and no network runs: :mod:`lrp_studio.gui.graph_view` turns this geometry into
pyqtgraph items and forwards mouse and keyboard events to :func:`node_at` and :func:`moved`.
Edge selection lives in :mod:`lrp_studio.viz.graph_edges`, node colours and texts in
:mod:`lrp_studio.viz.graph_values`.

Coordinates are scene units with y growing downwards (the view box is y-inverted).

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
    "COLUMN_KINDS",
    "DIRECTIONS",
    "FLAT_INPUT_DOTS",
    "SCENE_HEIGHT",
    "Column",
    "Connection",
    "GraphLayout",
    "Marker",
    "box_segments",
    "build_layout",
    "initial_selection",
    "moved",
    "node_at",
    "selection_marker",
]

COLUMN_KINDS = ("image", "dots", "maps")
#: Keyboard moves understood by :func:`moved`.
DIRECTIONS = ("up", "down", "left", "right")
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
#: Scale labels sit this far above the highest node; column titles a further TITLE_GAP above.
HEADER_GAP, TITLE_GAP = 12.0, 22.0
#: Last columns with at most this many dots get a class-name label per dot.
MAX_CLASS_LABELS = 40
#: Half width of the grey track behind a dot column.
TRACK_HALF_WIDTH = 9.0


def box_segments(x0: float, y0: float, x1: float, y1: float) -> np.ndarray:
    """The four sides of a rectangle as (8, 2) end points for ``connect='pairs'`` drawing."""
    return np.array([(x0, y0), (x1, y0), (x1, y0), (x1, y1), (x1, y1), (x0, y1), (x0, y1), (x0, y0)], dtype=float)


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
    spacing : float
        Vertical distance between neighbouring node centres (the image height for an image).
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
        """Horizontal centre of the column."""
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

    @property
    def top(self) -> float:
        """Upper edge of the highest node (dots: half a spacing above the first centre)."""
        extent = self.spacing if self.kind == "dots" else self.size
        return float(self.centres[:, 1].min() - extent / 2)

    def in_anchors(self) -> np.ndarray:
        """(n_nodes, 2) where incoming edges end: the left edge of thumbnails, node centres otherwise."""
        anchors = self.centres.copy()
        if self.kind == "maps":
            anchors[:, 0] -= self.size / 2
        return anchors

    def out_anchors(self) -> np.ndarray:
        """(n_sources, 2) where outgoing edges start: right edge of thumbnails, of the image per channel."""
        if self.kind == "image":
            n = self.n_sources
            top = self.centres[0, 1] - self.size / 2
            ys = top + (np.arange(n) + 0.5) * self.size / n
            return np.stack([np.full(n, self.centres[0, 0] + self.width / 2), ys], axis=1)
        anchors = self.centres.copy()
        if self.kind == "maps":
            anchors[:, 0] += self.size / 2
        return anchors

    @property
    def n_sources(self) -> int:
        """Edge sources the column offers: channels of an image or of maps, else its nodes."""
        return self.shape[0] if self.kind == "image" else self.n_nodes

    def unit_to_node(self, unit: int) -> int:
        """The drawn node holding ``unit`` (an image is one node)."""
        return 0 if self.kind == "image" else int(unit)

    def image_rect(self) -> tuple[float, float, float, float]:
        """(x0, y0, width, height) of an image column's picture."""
        x, y = self.centres[0]
        return float(x - self.width / 2), float(y - self.size / 2), float(self.width), float(self.size)

    def node_rects(self) -> np.ndarray:
        """(n_nodes, 4) ``x0, y0, width, height`` of each thumbnail of a maps column."""
        s = self.size
        rects = np.empty((self.n_nodes, 4))
        rects[:, :2] = self.centres - s / 2
        rects[:, 2:] = s
        return rects

    def frame_segments(self) -> np.ndarray:
        """(8 * n_nodes, 2) outline of every thumbnail of a maps column."""
        rects = self.node_rects()
        if len(rects) == 0:
            return np.zeros((0, 2))
        return np.concatenate([box_segments(x, y, x + w, y + h) for x, y, w, h in rects])

    def track_rect(self) -> tuple[float, float, float, float]:
        """(x0, y0, width, height) of the grey track behind a dots column."""
        ys = self.centres[:, 1]
        pad = self.spacing / 2 + 6.0
        return (self.x - TRACK_HALF_WIDTH, float(ys.min() - pad), 2 * TRACK_HALF_WIDTH,
                float(ys.max() - ys.min() + 2 * pad))

    def pixel_centre(self, unit: int) -> tuple[float, float]:
        """Centre of the pixel of an image column holding flat input index ``unit`` (any channel)."""
        h, w = self.image_hw
        i, j = divmod(unit % (h * w), w)
        x0, y0, width, height = self.image_rect()
        return float(x0 + (j + 0.5) * width / w), float(y0 + (i + 0.5) * height / h)

    def unit_position(self, unit: int) -> tuple[float, float]:
        """Centre of a unit: its pixel in an image, else its node."""
        if self.kind == "image":
            return self.pixel_centre(unit)
        return float(self.centres[unit, 0]), float(self.centres[unit, 1])

    def relative_height(self, unit: int) -> float:
        """Vertical position of a unit in 0 (top) .. 1 (bottom), for moving between columns."""
        if self.kind == "image":
            h, w = self.image_hw
            return (unit % (h * w)) // w / max(h - 1, 1)
        return unit / max(self.n_units - 1, 1)


@dataclass
class Connection:
    """Edges of one dense/conv layer between two neighbouring columns.

    ``messages[layer_index]`` has shape (rows, n_targets); ``group`` > 1 means the rows are the
    flattened (C, H, W) units of a source column and are summed per channel (``group = H * W``).
    """

    layer_index: int
    source: int
    target: int
    group: int = 1


@dataclass
class GraphLayout:
    """The laid-out graph: columns left to right, the connections drawn as edges, the scene height.

    Attributes
    ----------
    columns : list of Column
    connections : list of Connection
    height : float
        Height of the node area in scene units.
    classes : tuple of str
        Class names of the output column (for its labels and tooltips).
    input_range : (float, float) or None
        The model's input range (grey scale of the input image in activation mode).
    """

    columns: list[Column]
    connections: list[Connection]
    height: float
    classes: tuple[str, ...] = ()
    input_range: tuple[float, float] | None = None

    def column_of_stage(self, stage: int) -> Column | None:
        """The column showing ``stage``, or None."""
        for column in self.columns:
            if column.stage == stage:
                return column
        return None

    @property
    def width(self) -> float:
        """Right edge of the last column."""
        last = self.columns[-1]
        return last.x + last.width / 2

    @property
    def output_stage(self) -> int:
        """Stage of the last column (the logits)."""
        return self.columns[-1].stage

    @property
    def header_y(self) -> float:
        """Baseline of the scale labels (above every column's highest node)."""
        return min(column.top for column in self.columns) - HEADER_GAP

    def header_positions(self) -> list[tuple[float, float, float]]:
        """Per column (x, y of the title's lower edge, y of the scale label's lower edge)."""
        y = self.header_y
        return [(column.x, y - TITLE_GAP, y) for column in self.columns]

    def class_label_positions(self) -> np.ndarray:
        """(n, 2) anchor points of the class-name labels (empty unless the last column is few dots)."""
        last = self.columns[-1]
        if last.kind != "dots" or last.n_nodes > MAX_CLASS_LABELS:
            return np.zeros((0, 2))
        return last.centres[: len(self.classes)].copy()

    def bounds(self) -> tuple[float, float, float, float]:
        """(x0, y0, width, height) of the whole drawing: columns, headers and class labels.

        The class labels are sized in pixels ("9   -12.34  ◀", ~110 px), so the room right of the
        last column grows with the layout's width.
        """
        labels = len(self.class_label_positions()) > 0
        right = self.width + (170.0 + 0.1 * self.width if labels else 40.0)
        first = self.columns[0]
        left = first.x - first.width / 2 - 70.0
        top = self.header_y - 150.0
        return left, top, right - left, self.height + 20.0 - top


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
    if last and shape[0] == 1:  # one output z: the binary classifier, class 1 when z > 0
        return title, "1 output (z > 0: class 1)"
    return title, f"{shape[0]} neurons" if not last else f"{shape[0]} classes"


def _dot_size(spacing: float) -> float:
    """Dot diameter in pixels for a spacing in scene units (the view shows ~0.6 px per unit)."""
    return float(np.clip(spacing * 0.5, 4.0, 16.0))


def _make_columns(net) -> list[Column]:
    columns: list[Column] = []
    for position, (stage, layer_index, absorbed) in enumerate(_column_stages(net)):
        shape = tuple(int(v) for v in net.shapes[stage])
        title, subtitle = _describe(net, stage, layer_index, absorbed, stage == len(net.layers))
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
    return columns


def _place(columns: list[Column], height: float) -> None:
    """Set sizes and node centres, left to right, every column centred at ``height / 2``."""
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
        ys = height / 2 + (np.arange(n) - (n - 1) / 2.0) * column.spacing
        column.centres = np.stack([np.full(n, x), ys], axis=1)
        x_right = x + column.width / 2


def _connections(net, columns: list[Column]) -> list[Connection]:
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
        if rows == source.n_sources:
            group = 1
        elif source.kind in ("image", "maps") and rows == int(np.prod(source.shape)):
            group = rows // source.shape[0]
        else:
            continue
        connections.append(Connection(target.layer_index, source.index, target.index, group))
    return connections


def build_layout(net) -> GraphLayout:
    """Columns, node positions and edge connections of ``net`` (see the module docstring).

    Parameters
    ----------
    net : lrp_studio.nn.Network
        Read for its layers, stage shapes, classes and input range; never run.

    Returns
    -------
    GraphLayout
    """
    columns = _make_columns(net)
    max_channels = max((c.n_nodes for c in columns if c.kind == "maps"), default=0)
    height = max(SCENE_HEIGHT, max_channels * 40.0)
    _place(columns, height)
    input_range = tuple(net.input_range) if net.input_range is not None else None
    return GraphLayout(columns, _connections(net, columns), height, tuple(str(c) for c in net.classes), input_range)


# ---------------------------------------------------------------------------- hit testing
def _hit_image(column: Column, x: float, y: float) -> int | None:
    x0, y0, width, height = column.image_rect()
    if not (x0 <= x < x0 + width and y0 <= y < y0 + height):
        return None
    h, w = column.image_hw
    j = min(int((x - x0) / width * w), w - 1)
    i = min(int((y - y0) / height * h), h - 1)
    return i * w + j


def _hit_maps(column: Column, x: float, y: float, px: float, py: float) -> int | None:
    if abs(x - column.x) > column.size / 2 + 2 * px:
        return None
    distance = np.abs(column.centres[:, 1] - y)
    node = int(np.argmin(distance))
    return node if distance[node] <= column.size / 2 + 2 * py else None


def _hit_dots(column: Column, x: float, y: float, px: float, py: float) -> int | None:
    radius = max(column.size / 2 + 3, 5)  # pixels: dots are drawn at a fixed screen size
    if abs(x - column.x) > radius * px:
        return None
    y0 = column.centres[0, 1]
    node = int(np.clip(np.rint((y - y0) / column.spacing), 0, column.n_nodes - 1))
    return node if abs(column.centres[node, 1] - y) <= radius * py else None


def node_at(layout: GraphLayout, x: float, y: float, pixel_size: tuple[float, float]) -> tuple[int, int] | None:
    """The unit under scene point (x, y), or None.

    Parameters
    ----------
    layout : GraphLayout
    x, y : float
        Scene coordinates.
    pixel_size : (float, float)
        Scene units per screen pixel (x, y): dots have a size in pixels, and every node a
        2-3 pixel margin around it.

    Returns
    -------
    (stage, unit) or None
        Units as in the module docstring (an image's flat input index).
    """
    px, py = pixel_size
    for column in layout.columns:
        if column.kind == "image":
            node = _hit_image(column, x, y)
        elif column.kind == "maps":
            node = _hit_maps(column, x, y, px, py)
        else:
            node = _hit_dots(column, x, y, px, py)
        if node is not None:
            return column.stage, node
    return None


# ---------------------------------------------------------------------------- selection
@dataclass
class Marker:
    """How the selected unit is marked: a ring around a dot or a box around a map/pixel.

    Attributes
    ----------
    kind : str
        ``"ring"`` or ``"box"``.
    centre : (float, float)
        Scene position of the unit.
    size : float
        Ring diameter in pixels (``"ring"``; 0 for a box).
    segments : ndarray (8, 2)
        The box's sides as ``connect='pairs'`` end points (empty for a ring).
    """

    kind: str
    centre: tuple[float, float]
    size: float = 0.0
    segments: np.ndarray = field(default_factory=lambda: np.zeros((0, 2)))


def selection_marker(layout: GraphLayout, stage: int, unit: int) -> Marker:
    """The ring or box that marks ``(stage, unit)`` (a stage that is a column, a valid unit)."""
    column = layout.column_of_stage(stage)
    x, y = column.unit_position(unit)
    if column.kind == "dots":
        return Marker("ring", (x, y), size=column.size + 7)
    if column.kind == "maps":
        half_w = half_h = column.size / 2 + 4
    else:
        h, w = column.image_hw
        half_w, half_h = column.width / w / 2 + 1.5, column.size / h / 2 + 1.5
    return Marker("box", (x, y), segments=box_segments(x - half_w, y - half_h, x + half_w, y + half_h))


def initial_selection(layout: GraphLayout, target: int | None) -> tuple[int, int]:
    """Where the first arrow key press lands: the explained class (or neuron 0) of the last column."""
    column = layout.columns[-1]
    return column.stage, min(int(target or 0), column.n_units - 1)


def _moved_vertically(column: Column, unit: int, step: int) -> int | None:
    if column.kind == "image":
        new = unit + step * column.image_hw[1]
        return new if 0 <= new < column.n_units else None
    return int(np.clip(unit + step, 0, column.n_units - 1))


def moved(layout: GraphLayout, selection: tuple[int, int], direction: str) -> tuple[int, int] | None:
    """The selection after an arrow key.

    Up/down move one neuron or channel (one pixel row in the image, clamped at the column's
    ends); left/right move to the neighbouring column at the same relative height.

    Parameters
    ----------
    layout : GraphLayout
    selection : (stage, unit)
    direction : str
        One of :data:`DIRECTIONS`.

    Returns
    -------
    (stage, unit) or None
        None where the move leaves the graph (left of the input, right of the logits, past the
        image's first or last row).
    """
    stage, unit = selection
    column = layout.column_of_stage(stage)
    if direction in ("up", "down"):
        new = _moved_vertically(column, unit, -1 if direction == "up" else 1)
        return None if new is None else (stage, new)
    index = column.index + (-1 if direction == "left" else 1)
    if not 0 <= index < len(layout.columns):
        return None
    relative = column.relative_height(unit)
    target = layout.columns[index]
    if target.kind == "image":
        h, w = target.image_hw
        return target.stage, int(round(relative * (h - 1))) * w + w // 2
    return target.stage, int(round(relative * (target.n_units - 1)))
