"""Scene geometry of the network graph: columns, node positions, labels, hit testing, navigation.

Plain NumPy, no Qt and no network runs: :mod:`lrp_studio.gui.graph_view` turns this geometry into
pyqtgraph items and forwards mouse and keyboard events to :func:`node_at` and :func:`moved`.
Edge selection lives in :mod:`lrp_studio.viz.graph_edges`, node colours and texts in
:mod:`lrp_studio.viz.graph_values`.

Coordinates are scene units with y growing downwards (the view box is y-inverted).

Columns
-------
The drawn stages are those of :func:`lrp_studio.viz.graph_dag.drawn_stages`:

* stage 0, the input: ``"image"`` (one picture) unless it is flat with few features, then
  ``"dots"``;
* every dense layer: the stage after its (batch norm and) activation if they follow directly,
  else its own output;
* every conv layer: the stage after the activations, batch norms and pooling layers that follow
  it (one column of feature-map thumbnails per conv layer, channels as nodes);
* every merge layer (add, concat): the stage after its activation, as maps or dots;
* the last stage (the logits) always ends the graph.

Columns stand in horizontal slots by depth (the longest path from the input, in drawn stages);
columns of equal depth (parallel branches) share a slot, stacked in bands from the top. An edge
between columns more than one slot apart (a skip connection) is routed below the node area, in
a lane of its own, around the columns it bypasses. A sequential network has one column per slot
and no skip edges: exactly the sequential layout.

Units
-----
A node's ``unit`` is the neuron index for flat stages, the channel for (C, H, W) hidden stages
and the flat input index ``c*H*W + i*W + j`` for an image input (stage 0).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from lrp_studio.viz.graph_dag import depths, drawn_stages, input_stages, links, parents, residual_blocks, skip_lanes

__all__ = [
    "COLUMN_KINDS",
    "DIRECTIONS",
    "FLAT_INPUT_DOTS",
    "SCENE_HEIGHT",
    "Column",
    "Connection",
    "GraphLayout",
    "Marker",
    "Shown",
    "box_segments",
    "build_layout",
    "edge_polylines",
    "initial_selection",
    "moved",
    "node_at",
    "selection_marker",
    "stagger_rows",
]

COLUMN_KINDS = ("image", "dots", "maps")
#: Keyboard moves understood by :func:`moved`.
DIRECTIONS = ("up", "down", "left", "right")
#: Flat inputs with at most this many features are drawn as dots, larger ones as an image.
FLAT_INPUT_DOTS = 64
#: Height of the drawing area in scene units (grows for very wide conv layers).
SCENE_HEIGHT = 1000.0
#: ... and at least this much per horizontal slot when no slot stacks parallel branches (long
#: sequential networks grow taller).
SLOT_HEIGHT = 200.0
#: Horizontal free space between two columns, in scene units (GRAPH_COLUMN_GAP for graph networks,
#: whose extra columns would otherwise shrink everything).
COLUMN_GAP, GRAPH_COLUMN_GAP = 300.0, 220.0
#: Largest vertical distance between two neighbouring dots.
MAX_DOT_SPACING = 70.0
#: Largest thumbnail side of a feature map.
MAX_THUMBNAIL = 110.0
#: Width of the input image in scene units.
IMAGE_WIDTH = 260.0
#: Scale labels sit this far above the highest node; column titles a further TITLE_GAP above.
HEADER_GAP, TITLE_GAP = 12.0, 22.0
#: Headers of stacked columns start this far below the lowest node or skip lane.
FOOTER_GAP = 10.0
#: Last columns with at most this many dots get a class-name label per dot.
MAX_CLASS_LABELS = 40
#: Half width of the grey track behind a dot column.
TRACK_HALF_WIDTH = 9.0
#: Vertical space between two columns stacked in one slot (their one-line header sits in it).
BAND_GAP = 240.0
#: Skip edges run this far below the node area, lanes LANE_GAP apart, each lane LANE_SPREAD wide.
SKIP_MARGIN, LANE_GAP, LANE_SPREAD = 60.0, 70.0, 40.0
#: Horizontal run of a skip edge's slanted ends, as a fraction of the gap between columns.
SKIP_BEND = 0.4
#: A column's "+ k more" marker stands this far below its lowest node.
MARKER_GAP = 8.0


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
    depth : int
        Horizontal slot (longest path from the input in drawn stages).
    band : int
        Position in its slot from the top (0 unless parallel branches share the slot).
    name : str
        The producing node's name (``net.names``), "" for the input.
    units : ndarray (n_nodes,) int64 or None
        The units the nodes show, ascending, when the column shows only some of its ``n_units``
        (the most relevant, :mod:`lrp_studio.viz.graph_focus`); None: node k shows unit k.
    more : int
        Units not shown (the "+ k more" marker below the column); 0 when all are.
    block : str
        The residual block this column stands for when the block is collapsed into it, else "".
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
    depth: int = 0
    band: int = 0
    name: str = ""
    units: np.ndarray | None = None
    more: int = 0
    block: str = ""

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

    @property
    def bottom(self) -> float:
        """Lower edge of the lowest node (dots: half a spacing below the last centre)."""
        extent = self.spacing if self.kind == "dots" else self.size
        return float(self.centres[:, 1].max() + extent / 2)

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
    def source_units(self) -> int:
        """Rows of a layer's messages this column sends from: channels of an image, else all its units."""
        return self.shape[0] if self.kind == "image" else self.n_units

    @property
    def n_sources(self) -> int:
        """Edge sources the column offers: channels of an image or of maps, else its nodes."""
        return self.shape[0] if self.kind == "image" else self.n_nodes

    def unit_to_node(self, unit: int) -> int:
        """The drawn node holding ``unit`` (an image is one node; a unit not shown: the nearest node)."""
        if self.kind == "image":
            return 0
        if self.units is None:
            return int(unit)
        return int(np.clip(np.searchsorted(self.units, unit), 0, len(self.units) - 1))

    def node_unit(self, node: int) -> int:
        """The unit node ``node`` shows (the node itself unless only some units are shown)."""
        return int(node) if self.units is None else int(self.units[node])

    def shows(self, unit: int) -> bool:
        """Whether ``unit`` has a node of its own (always, unless only some units are shown)."""
        return self.units is None or self.kind == "image" or bool(np.any(self.units == unit))

    def node_values(self, values: np.ndarray | None) -> np.ndarray | None:
        """One sample's values of this stage, per node: (n_nodes, ...) rows of the shown units."""
        if values is None or self.units is None:
            return values
        array = np.asarray(values)
        return array[self.units] if array.ndim > 1 else array.reshape(-1)[self.units]

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
        node = self.unit_to_node(unit)
        return float(self.centres[node, 0]), float(self.centres[node, 1])

    def relative_height(self, unit: int) -> float:
        """Vertical position of a unit in 0 (top) .. 1 (bottom), for moving between columns."""
        if self.kind == "image":
            h, w = self.image_hw
            return (unit % (h * w)) // w / max(h - 1, 1)
        return unit / max(self.n_units - 1, 1)


@dataclass
class Connection:
    """Edges of one input of a dense/conv/merge layer between two columns.

    For a dense/conv layer ``messages[layer_index]`` has shape (rows, n_targets); ``group`` > 1
    means the rows are the flattened (C, H, W) units of a source column and are summed per
    channel (``group = H * W``). A merge layer (``merge`` = ``"add"`` or ``"concat"``) has one
    connection per input ``slot``; its messages are made from the explanation's stage records
    (:func:`lrp_studio.viz.graph_edges.merge_messages`), ``reads`` being the stages it adds or
    concatenates. ``lane`` is the skip lane of an edge that bypasses columns (None: straight);
    ``lane_top`` the y of lane 0 for it: below the lowest node of every column bypassed by it or by
    a skip edge overlapping it.
    """

    layer_index: int
    source: int
    target: int
    group: int = 1
    slot: int = 0
    merge: str | None = None
    reads: tuple[int, ...] = ()
    lane: int | None = None
    lane_top: float = 0.0


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
    parents : dict column index -> list of column index
        The columns each column comes from (graph neighbours for the arrow keys); a sequential
        layout's column i comes from column i - 1.
    """

    columns: list[Column]
    connections: list[Connection]
    height: float
    classes: tuple[str, ...] = ()
    input_range: tuple[float, float] | None = None
    parents: dict[int, list[int]] = field(default_factory=dict)
    gap: float = COLUMN_GAP

    @property
    def n_lanes(self) -> int:
        """Skip lanes in use below the node area (0 for a sequential network)."""
        return 1 + max((c.lane for c in self.connections if c.lane is not None), default=-1)

    def lane_y(self, connection: Connection) -> float:
        """Upper edge of a skip connection's lane (its edges spread over LANE_SPREAD below it)."""
        return connection.lane_top + connection.lane * LANE_GAP

    @property
    def lanes_bottom(self) -> float:
        """Lowest point of any skip edge (the node area's height without skip edges)."""
        return max((self.lane_y(c) + LANE_SPREAD for c in self.connections if c.lane is not None),
                   default=self.height)

    def children(self, index: int) -> list[int]:
        """The columns that come from column ``index``."""
        return [i for i, sources in self.parents.items() if index in sources]

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
        """Per column (x, y of the title's lower edge, y of the scale label's lower edge).

        Columns at the top of their slot share one header line above every node; a column
        stacked below another has its one-line header under the whole drawing (below the skip
        lanes, :attr:`footer_y`, its upper edge), where no node or edge is; both y are that line.
        """
        y = self.header_y
        result = []
        for column in self.columns:
            if column.band == 0:
                result.append((column.x, y - TITLE_GAP, y))
            else:
                result.append((column.x, self.footer_y, self.footer_y))
        return result

    @property
    def footer_y(self) -> float:
        """Upper edge of the headers of stacked columns: below every node and skip lane."""
        return max(self.height, self.lanes_bottom) + FOOTER_GAP

    def marker_position(self, column: Column) -> tuple[float, float]:
        """Where a column's "+ k more" / "expand" marker stands: centred under its lowest node."""
        return column.x, column.bottom + MARKER_GAP

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
        bottom = max(self.height, self.lanes_bottom) + 20.0
        return left, top, right - left, bottom - top


def _describe(net, stage: int, layer_index: int | None, absorbed: tuple[str, ...], last: bool) -> tuple[str, str]:
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
        head = layer.type_name if width is None else f"{layer.type_name} {width}"
        title = " · ".join([head] + list(absorbed))
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


def _node_name(net, layer_index: int | None) -> str:
    names = getattr(net, "names", None)
    if layer_index is None or not names:
        return ""
    return str(names[layer_index])


@dataclass(frozen=True)
class Shown:
    """How much of a large network the layout draws (the defaults draw everything).

    Attributes
    ----------
    channels : int or None
        Most feature maps drawn per conv column (the most relevant ones, chosen per explanation by
        :mod:`lrp_studio.viz.graph_focus`); None: all.
    neurons : int or None
        Most neurons drawn per hidden dense column; None: all. The output column is always whole.
    expanded : frozenset of int
        Stages drawn whole whatever the limits (the user clicked their "+ k more").
    collapsed : frozenset of str
        Residual blocks (:func:`lrp_studio.viz.graph_dag.residual_blocks`) drawn as one column.
    whole_up_to : int
        Columns with at most this many units are drawn whole whatever the limits (the app's
        default keeps the bundled models' 16-32 channels; a limit the user chooses sets 0).
    """

    channels: int | None = None
    neurons: int | None = None
    expanded: frozenset = frozenset()
    collapsed: frozenset = frozenset()
    whole_up_to: int = 0

    def limit(self, kind: str, stage: int, last: bool) -> int | None:
        """Most nodes of a column of ``kind`` at ``stage`` (None: no limit)."""
        if last or stage in self.expanded or kind == "image":
            return None
        return self.channels if kind == "maps" else self.neurons


def _collapse(net, drawn: list, parent_stages: dict[int, list[int]], collapsed: frozenset
              ) -> tuple[list, dict[int, list[int]], dict[int, str]]:
    """Drop the columns of collapsed residual blocks but their last (the merge); it reads what the block read."""
    if not collapsed:
        return drawn, parent_stages, {}
    blocks = {name: stages for name, stages in residual_blocks(net, drawn).items() if name in collapsed}
    removed = {stage for stages in blocks.values() for stage in stages[:-1]}
    kept_as = {stages[-1]: name for name, stages in blocks.items()}
    result = {stage: list(found) for stage, found in parent_stages.items() if stage not in removed}
    for name, stages in blocks.items():
        inside = set(stages)
        sources = [p for stage in stages for p in parent_stages.get(stage, []) if p not in inside]
        result[stages[-1]] = list(dict.fromkeys(sources))
    return [d for d in drawn if d.stage not in removed], result, kept_as


def _make_columns(net, shown: Shown = Shown()) -> tuple[list[Column], dict[int, list[int]]]:
    """Columns sorted by (depth, stage), and per column index the indices of its parents."""
    drawn = drawn_stages(net)
    drawn, parent_stages, blocks = _collapse(net, drawn, parents(net, drawn), shown.collapsed)
    depth = depths(drawn, parent_stages)
    order = sorted(drawn, key=lambda d: (depth[d.stage], d.stage))
    columns: list[Column] = []
    bands: dict[int, int] = {}
    for position, node in enumerate(order):
        stage = node.stage
        shape = tuple(int(v) for v in net.shapes[stage])
        title, subtitle = _describe(net, stage, node.layer_index, node.absorbed, stage == len(net.layers))
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
        limit = shown.limit(kind, stage, stage == len(net.layers))
        units, more = None, 0
        if limit is not None and n_units > max(limit, shown.whole_up_to):
            n_nodes, units, more = int(limit), np.arange(int(limit), dtype=np.int64), n_units - int(limit)
        band = bands.get(depth[stage], 0)
        bands[depth[stage]] = band + 1
        block = blocks.get(stage, "")
        if block:
            title = f"{block} (collapsed) · " + title
        columns.append(Column(position, stage, kind, title, subtitle, node.layer_index, shape, n_nodes, n_units,
                              depth=depth[stage], band=band, name=_node_name(net, node.layer_index), units=units,
                              more=more, block=block))
    index_of = {c.stage: c.index for c in columns}
    parent_map = {index_of[stage]: [index_of[p] for p in found] for stage, found in parent_stages.items()}
    return columns, parent_map


def _slots(columns: list[Column]) -> list[list[Column]]:
    """Columns grouped by depth, left to right; within a slot from the top."""
    slots: dict[int, list[Column]] = {}
    for column in columns:
        slots.setdefault(column.depth, []).append(column)
    return [slots[d] for d in sorted(slots)]


def _scene_height(columns: list[Column]) -> float:
    """SCENE_HEIGHT, or more for slots whose feature maps need more (40 units per channel), or for
    many slots (SLOT_HEIGHT each: a wide drawing fitted to the view would shrink every node)."""
    need = 0.0
    slots = _slots(columns)
    for slot in slots:
        maps = sum(c.n_nodes * 40.0 for c in slot if c.kind == "maps")
        need = max(need, maps + (len(slot) - 1) * BAND_GAP if maps else 0.0)
    stacked = any(len(slot) > 1 for slot in slots)  # graphs with parallel branches keep their proportions
    return max(SCENE_HEIGHT, need, 0.0 if stacked else SLOT_HEIGHT * len(slots))


def _size_column(column: Column, height: float) -> None:
    """Node size, width and spacing of a column given the height of its band."""
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


def _place(columns: list[Column], height: float, gap: float = COLUMN_GAP) -> None:
    """Set sizes and node centres slot by slot, left to right, ``gap`` apart; a slot's bands split
    ``height``."""
    x_right = 0.0
    for depth, slot in enumerate(_slots(columns)):
        band_height = (height - (len(slot) - 1) * BAND_GAP) / len(slot)
        for column in slot:
            _size_column(column, band_height)
        slot_width = max(column.width for column in slot)
        x = x_right + (gap if depth else 0.0) + slot_width / 2
        for band, column in enumerate(slot):
            n = column.n_nodes
            centre = band * (band_height + BAND_GAP) + band_height / 2
            ys = centre + (np.arange(n) - (n - 1) / 2.0) * column.spacing
            column.centres = np.stack([np.full(n, x), ys], axis=1)
        x_right = x + slot_width / 2


def _linear_group(net, link, source: Column) -> int | None:
    """Rows of a dense/conv layer's messages per source node (None: the edges are not drawn)."""
    layer = net.layers[link.layer_index]
    in_shape = tuple(net.shapes[link.read])
    rows = int(np.prod(in_shape)) if layer.type_name == "dense" else in_shape[0]
    if source.kind == "image" and layer.type_name == "dense":
        return None  # hundreds of lines into one picture: the inspector's heatmap shows this
    if rows == source.source_units:
        return 1
    if source.kind in ("image", "maps") and rows == int(np.prod(source.shape)):
        return rows // source.shape[0]
    return None


def _merge_drawable(net, link, source: Column) -> bool:
    """A merge input is drawn per channel (maps) or per neuron (flat), never pixel by pixel."""
    read_shape = tuple(net.shapes[link.read])
    rows = read_shape[0] if len(read_shape) == 3 else int(np.prod(read_shape))
    if source.kind == "image" and len(source.shape) != 3:
        return False
    return rows == source.source_units


def _connections(net, columns: list[Column]) -> list[Connection]:
    by_stage = {c.stage: c for c in columns}
    inputs = input_stages(net)
    connections = []
    for link in links(net, drawn_stages(net)):
        if link.source not in by_stage or link.target not in by_stage:
            continue  # inside a collapsed residual block
        source, target = by_stage[link.source], by_stage[link.target]
        layer = net.layers[link.layer_index]
        if layer.is_linear:
            group = _linear_group(net, link, source)
            if group is None:
                continue
            connections.append(Connection(link.layer_index, source.index, target.index, group))
        elif _merge_drawable(net, link, source):
            connections.append(Connection(link.layer_index, source.index, target.index, 1, link.slot,
                                          layer.type_name, inputs[link.layer_index]))
    skips = [i for i, c in enumerate(connections) if columns[c.target].depth - columns[c.source].depth > 1]
    spans = [(columns[connections[i].source].depth, columns[connections[i].target].depth) for i in skips]
    for i, lane in zip(skips, skip_lanes(spans)):
        connections[i].lane = lane
    _set_lane_tops([connections[i] for i in skips], spans, columns)
    return connections


def _set_lane_tops(skips: list[Connection], spans: list[tuple[int, int]], columns: list[Column]) -> None:
    """Lane 0 of each group of overlapping skip edges runs SKIP_MARGIN below the lowest node any
    of them bypasses (so lanes of one group never cross, and a short skip stays close)."""
    order = sorted(range(len(skips)), key=lambda i: spans[i])
    groups: list[list[int]] = []
    end = None
    for i in order:
        if end is None or spans[i][0] >= end:
            groups.append([])
            end = spans[i][1]
        groups[-1].append(i)
        end = max(end, spans[i][1])
    for group in groups:
        bypassed = [c.bottom for c in columns for i in group if spans[i][0] < c.depth < spans[i][1]]
        top = max(bypassed) + SKIP_MARGIN
        for i in group:
            skips[i].lane_top = top


def build_layout(net, shown: Shown = Shown()) -> GraphLayout:
    """Columns, node positions and edge connections of ``net`` (see the module docstring).

    Parameters
    ----------
    net : lrp_studio.nn.Network
        Read for its layers, ``node_inputs`` (sequential without it), stage shapes, node names,
        classes and input range; never run.
    shown : Shown
        Limits on the nodes per column and the collapsed residual blocks (default: everything).

    Returns
    -------
    GraphLayout
    """
    columns, parent_map = _make_columns(net, shown)
    height = _scene_height(columns)
    sequential = all(stages == (j,) for j, stages in enumerate(input_stages(net)))
    gap = COLUMN_GAP if sequential else GRAPH_COLUMN_GAP
    _place(columns, height, gap)
    input_range = tuple(net.input_range) if net.input_range is not None else None
    classes = tuple(str(c) for c in net.classes) if net.classes is not None else ()
    return GraphLayout(columns, _connections(net, columns), height, classes, input_range, parent_map, gap)


def edge_polylines(layout: GraphLayout, connection: Connection, start: np.ndarray, end: np.ndarray,
                   rank: np.ndarray | None = None) -> np.ndarray:
    """End points of the drawn edges of one connection, interleaved for ``connect='pairs'``.

    Parameters
    ----------
    layout : GraphLayout
    connection : Connection
    start, end : ndarray (E, 2)
        Where each edge leaves its source and enters its target.
    rank : ndarray (E,), optional
        Position of each edge inside its skip lane in 0 .. 1 (the target node's relative
        height by default), so a lane's edges run side by side.

    Returns
    -------
    ndarray (2 E k, 2)
        k = 1 (one straight segment per edge) between neighbouring slots; k = 3 for a skip
        edge: down (or up) to its lane below the node area, along the lane, up into the target.
    """
    start, end = np.asarray(start, dtype=float).reshape(-1, 2), np.asarray(end, dtype=float).reshape(-1, 2)
    if connection.lane is None or len(start) == 0:
        return _interleave([start, end])
    if rank is None:
        target = layout.columns[connection.target]
        rank = (end[:, 1] - target.top) / max(target.bottom - target.top, 1e-9)
    lane_y = layout.lane_y(connection) + LANE_SPREAD * np.clip(rank, 0.0, 1.0)
    bend = SKIP_BEND * layout.gap
    bend_in = np.stack([start[:, 0] + bend, lane_y], axis=1)
    bend_out = np.stack([end[:, 0] - bend, lane_y], axis=1)
    return _interleave([start, bend_in, bend_in, bend_out, bend_out, end])


def _interleave(points: list[np.ndarray]) -> np.ndarray:
    """[(E, 2) p0, p1, p2, ...] -> (len * E, 2) with every edge's points consecutive."""
    stacked = np.stack(points, axis=1)  # (E, len, 2)
    return stacked.reshape(-1, 2)


def stagger_rows(lefts: list[float], rights: list[float], pad: float = 8.0) -> list[int]:
    """Rows for labels on one line so that no two in a row overlap (greedy, left to right).

    Parameters
    ----------
    lefts, rights : list of float
        Horizontal extent of each label (e.g. in screen pixels).
    pad : float
        Least free space between two labels of a row.

    Returns
    -------
    list of int
        Row of each label: 0 (the line itself) where it fits, else the lowest row above it that
        has room; all 0 when no labels overlap.
    """
    order = sorted(range(len(lefts)), key=lambda i: lefts[i])
    row_ends: list[float] = []
    rows = [0] * len(lefts)
    for i in order:
        row = next((r for r, end in enumerate(row_ends) if end + pad <= lefts[i]), len(row_ends))
        if row == len(row_ends):
            row_ends.append(rights[i])
        else:
            row_ends[row] = rights[i]
        rows[i] = row
    return rows


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
            return column.stage, node if column.kind == "image" else column.node_unit(node)
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


def _moved_vertically(layout: GraphLayout, column: Column, unit: int, step: int) -> tuple[int, int] | None:
    """One unit up or down; past the end of a column stacked in a slot, into its neighbour there."""
    if column.kind == "image":
        new = unit + step * column.image_hw[1]
        return (column.stage, new) if 0 <= new < column.n_units else None
    new = column.unit_to_node(unit) + step  # nodes: with only some units shown, to the next shown one
    if not 0 <= new < column.n_nodes:
        band = column.band + step
        stacked = [c for c in layout.columns if c.depth == column.depth and c.band == band]
        if stacked and stacked[0].kind != "image":
            neighbour = stacked[0]
            return neighbour.stage, neighbour.node_unit(0 if step > 0 else neighbour.n_nodes - 1)
    return column.stage, column.node_unit(int(np.clip(new, 0, column.n_nodes - 1)))


def _neighbour(layout: GraphLayout, column: Column, unit: int, direction: str) -> Column | None:
    """The column left/right moves to: a graph neighbour in the nearest slot, nearest in height.

    Left goes to the columns this one comes from, right to those coming from it; among them the
    one in the nearest slot wins, then the one whose nodes span the unit's height best.
    """
    found = layout.parents.get(column.index, []) if direction == "left" else layout.children(column.index)
    if not found:
        return None
    y = column.unit_position(unit)[1]

    def cost(index: int) -> tuple[int, float]:
        other = layout.columns[index]
        outside = max(other.top - y, y - other.bottom, 0.0)
        return abs(other.depth - column.depth), outside

    return layout.columns[min(found, key=cost)]


def moved(layout: GraphLayout, selection: tuple[int, int], direction: str) -> tuple[int, int] | None:
    """The selection after an arrow key.

    Up/down move one neuron or channel (one pixel row in the image, clamped at the column's
    ends; past the end of a column stacked with others in its slot, into the next one there);
    left/right follow the graph to a column this one comes from / feeds (the nearest slot, then
    the nearest in height), at the same relative height.

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
        return _moved_vertically(layout, column, unit, -1 if direction == "up" else 1)
    target = _neighbour(layout, column, unit, direction)
    if target is None:
        return None
    relative = column.relative_height(unit)
    if target.kind == "image":
        h, w = target.image_hw
        return target.stage, int(round(relative * (h - 1))) * w + w // 2
    unit = int(round(relative * (target.n_units - 1)))
    return target.stage, target.node_unit(target.unit_to_node(unit))  # a unit with a node of its own
