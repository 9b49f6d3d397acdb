"""The network graph: columns of neurons / feature maps, coloured by activation or relevance.

Rendering follows the budget of DESIGN.md 4: the input is one image, conv layers are columns of
feature-map thumbnails, dense layers are one ``ScatterPlotItem`` per column whose brushes come
from a table of 256 pre-built ``QBrush`` objects, and edges are the top-k relevance messages
per target neuron drawn as 16 ``PlotCurveItem(connect='pairs')`` items (sign x 8 magnitude
bins; :class:`EdgeCurve`, whose bounds are the graph's extent). Selecting a neuron draws only
its fan-in / fan-out on an overlay.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pyqtgraph as pg
from PySide6 import QtCore, QtGui, QtWidgets
from PySide6.QtCore import Qt, Signal

from lrp_studio.errors import ParameterError
from lrp_studio.gui.edge_curve import EdgeCurve
from lrp_studio.gui.graph_items import Column, GraphLayout, aggregate_messages, build_layout
from lrp_studio.viz.colormaps import get_colormap, lut_indices
from lrp_studio.viz.graph_layout import bin_edges_by_sign_and_magnitude, top_k_edges

#: Strongest edges drawn per pair of columns (of the top-k per target): painting cost grows with
#: the line count (DESIGN.md 4: 300 lines ~12 ms, 900 ~37 ms on this machine).
MAX_EDGES_PER_CONNECTION = 200

__all__ = ["NetworkView", "COLOR_MODES", "SCALE_MODES"]

COLOR_MODES = ("activation", "relevance")
SCALE_MODES = ("layer", "global")
N_BINS = 8
#: Edges of the selected neuron drawn on the overlay (per direction).
OVERLAY_EDGES = 12
POSITIVE_RGB = (200, 30, 30)
NEGATIVE_RGB = (30, 80, 200)
BACKGROUND = "#ffffff"
NEUTRAL_RGB = (205, 205, 205)

Z_TRACK, Z_EDGES, Z_NODES, Z_OVERLAY, Z_RING, Z_TEXT = -10, 0, 10, 15, 20, 30


def _edge_pens() -> list[QtGui.QPen]:
    """16 cosmetic pens: negative bins 0..7 then positive bins 0..7 (thicker, more opaque = larger)."""
    pens = []
    for rgb in (NEGATIVE_RGB, POSITIVE_RGB):
        for b in range(N_BINS):
            t = b / (N_BINS - 1)
            pen = pg.mkPen(color=(*rgb, int(60 + 180 * t)), width=0.7 + 2.8 * t)
            pen.setCapStyle(Qt.PenCapStyle.RoundCap)
            pens.append(pen)
    return pens


def _format(value: float | None) -> str:
    return "n/a" if value is None else f"{value + 0.0:.4g}"


_NEUTRAL_BRUSH: list[QtGui.QBrush] = []


def _neutral_brush() -> QtGui.QBrush:
    """The brush of units without values, made once (pyqtgraph's symbol atlas keys brushes by object)."""
    if not _NEUTRAL_BRUSH:
        _NEUTRAL_BRUSH.append(pg.mkBrush(NEUTRAL_RGB))
    return _NEUTRAL_BRUSH[0]


class _Label(QtWidgets.QGraphicsSimpleTextItem):
    """Cheap fixed-size text (no rich-text layout), anchored at a view position."""

    def __init__(self, text: str, color: str = "#222222", anchor: tuple[float, float] = (0.0, 0.0),
                 offset: tuple[float, float] = (0.0, 0.0)) -> None:
        super().__init__()
        self.setFlag(QtWidgets.QGraphicsItem.GraphicsItemFlag.ItemIgnoresTransformations)
        self.setBrush(pg.mkBrush(color))
        self.setZValue(Z_TEXT)
        self._anchor, self._offset = anchor, offset
        self._font = QtGui.QFont(self.font())
        self._bold = QtGui.QFont(self._font)
        self._bold.setBold(True)
        self.set_text(text)

    def set_text(self, text: str, bold: bool = False) -> None:
        font = self._bold if bold else self._font
        if text == self.text() and self.font() == font:
            return
        self.setFont(font)
        self.setText(text)
        rect = self.boundingRect()
        # with ItemIgnoresTransformations the transform works in pixels around pos()
        self.setTransform(QtGui.QTransform.fromTranslate(
            self._offset[0] - self._anchor[0] * rect.width(), self._offset[1] - self._anchor[1] * rect.height()))


class _GraphicsView(pg.GraphicsLayoutWidget):
    """Graphics widget that hands arrow keys and Enter to the owning :class:`NetworkView`."""

    def __init__(self, owner: "NetworkView") -> None:
        super().__init__()
        self._owner = owner
        self.setFocusPolicy(Qt.FocusPolicy.StrongFocus)

    def mouseDoubleClickEvent(self, event: QtGui.QMouseEvent) -> None:  # noqa: N802 (Qt name)
        if event.button() == Qt.MouseButton.LeftButton and self._owner._on_double_click(event.position().toPoint()):
            event.accept()
            return
        super().mouseDoubleClickEvent(event)

    def keyPressEvent(self, event: QtGui.QKeyEvent) -> None:  # noqa: N802 (Qt name)
        if not self._owner._handle_key(event.key()):
            super().keyPressEvent(event)


class NetworkView(QtWidgets.QWidget):
    """Columns of neurons and feature maps with relevance-message edges.

    Signals
    -------
    neuronSelected(stage, unit)
        The user clicked a neuron or moved the selection with the arrow keys (not emitted by
        :meth:`select`).
    neuronActivated(stage, unit)
        Enter or double-click: inspect the neuron.

    Units are neuron indices for flat stages, channels for feature-map stages and flat input
    indices (``c*H*W + i*W + j``) for an image input.
    """

    neuronSelected = Signal(int, int)
    neuronActivated = Signal(int, int)

    def __init__(self, parent: QtWidgets.QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("networkView")
        self._net = None
        self._exp = None
        self._layout: GraphLayout | None = None
        self._color_mode = "relevance"
        self._scale_mode = "layer"
        self._cmap_name = "bwr"
        self._lut = get_colormap("bwr")
        self._brush_lut = self._make_brush_lut(self._lut)
        self._top_k = 3
        self._selection: tuple[int, int] | None = None
        self._hover: tuple[int, int] | None = None
        self._activations: dict[int, np.ndarray] = {}
        self._relevances: dict[int, np.ndarray] = {}
        self._aggregated: dict[int, np.ndarray] = {}  # connection index -> (n_src, n_dst)
        self._edges: list[tuple[int, np.ndarray, np.ndarray, np.ndarray]] = []
        self._column_vmax: dict[int, float] = {}
        self._colorbar_label = ""

        self._view = _GraphicsView(self)
        self._view.setBackground(BACKGROUND)
        self._view.ci.layout.setContentsMargins(4, 4, 4, 4)
        self._vb = pg.ViewBox(invertY=True, lockAspect=True, enableMenu=False)
        self._view.addItem(self._vb, row=0, col=0)
        self._colorbar = pg.ColorBarItem(values=(-1.0, 1.0), width=14, interactive=False,
                                         colorMapMenu=False, label="relevance (÷ column max)")
        self._colorbar.getAxis("right").setTextPen("#333333")
        self._colorbar.getAxis("left").setTextPen("#333333")
        self._colorbar.getAxis("left").setPen("#999999")
        for key in ("top", "bottom", "right"):
            self._colorbar.getAxis(key).setPen("#999999")
        self._view.addItem(self._colorbar, row=0, col=1)
        self._update_colorbar_map()

        self._status = QtWidgets.QLabel(
            "Scroll to zoom, drag to pan, Home to fit. Click a neuron to select it; arrow keys move, Enter inspects."
        )
        self._status.setObjectName("networkViewStatus")
        self._status.setStyleSheet("color: #555; padding: 2px 6px;")
        box = QtWidgets.QVBoxLayout(self)
        box.setContentsMargins(0, 0, 0, 0)
        box.setSpacing(0)
        box.addWidget(self._view, 1)
        box.addWidget(self._status)
        self.setFocusProxy(self._view)

        self._pens = _edge_pens()
        self._edge_curves: list[pg.PlotCurveItem] = []
        self._scatters: dict[int, pg.ScatterPlotItem] = {}
        self._map_items: dict[int, list[pg.ImageItem]] = {}
        self._image_items: dict[int, pg.ImageItem] = {}
        self._scale_labels: dict[int, pg.TextItem] = {}
        self._class_labels: list[pg.TextItem] = []
        self._new_overlay_items()

        scene = self._view.scene()
        scene.sigMouseClicked.connect(self._on_click)
        scene.sigMouseMoved.connect(self._on_mouse_moved)

    # ------------------------------------------------------------------ public interface
    def set_network(self, net) -> None:
        """Rebuild the columns for ``net`` (clears the explanation and the selection)."""
        self._net = net
        self._exp = None
        self._selection = None
        self._hover = None
        self._layout = build_layout(net)
        self._activations, self._relevances, self._aggregated, self._edges = {}, {}, {}, []
        self._build_items()

    def set_explanation(self, exp) -> None:
        """Recolour every column and redraw the edges from ``exp`` (sample 0)."""
        if self._net is None:
            raise ParameterError("set_network must be called before set_explanation")
        first = exp.layers[0].activation
        if tuple(first.shape[1:]) != tuple(self._net.input_shape):
            raise ParameterError(
                f"explanation input {tuple(first.shape[1:])} does not match the network input {self._net.input_shape}"
            )
        self._exp = exp
        self._collect_values(exp)
        self._aggregated = {}
        for index, conn in enumerate(self._layout.connections):
            messages = exp.messages.get(conn.layer_index)
            if messages is not None:
                self._aggregated[index] = aggregate_messages(np.asarray(messages, dtype=np.float32), conn.group)
        self._recolor()
        self._update_edges()
        self._update_class_labels()

    def set_color_mode(self, mode: str) -> None:
        """Colour nodes by ``"activation"`` or ``"relevance"``."""
        if mode not in COLOR_MODES:
            raise ParameterError(f"unknown colour mode {mode!r}; choose one of {', '.join(COLOR_MODES)}")
        self._color_mode = mode
        self._recolor()

    def set_scale_mode(self, mode: str) -> None:
        """``"layer"``: symmetric scale per column; ``"global"``: one scale for all columns."""
        if mode not in SCALE_MODES:
            raise ParameterError(f"unknown scale mode {mode!r}; choose one of {', '.join(SCALE_MODES)}")
        self._scale_mode = mode
        self._recolor()
        self._update_edges()

    def set_colormap(self, name: str) -> None:
        """Use a colour map of :mod:`lrp_studio.viz.colormaps` for the nodes."""
        self._lut = get_colormap(name)
        self._cmap_name = name
        self._brush_lut = self._make_brush_lut(self._lut)
        self._update_colorbar_map()
        self._recolor()

    def set_top_k(self, k: int) -> None:
        """Number of incoming edges drawn per target neuron (>= 0; 0 hides the edges)."""
        if int(k) != k or k < 0:
            raise ParameterError(f"top-k must be an integer >= 0, got {k}")
        self._top_k = int(k)
        self._update_edges()

    def select(self, stage: int, unit: int) -> None:
        """Select a unit programmatically (no signal)."""
        column = self._column(stage)
        if column is None or not 0 <= unit < column.n_units:
            raise ParameterError(f"no unit {unit} in a column of stage {stage}")
        self._selection = (int(stage), int(unit))
        self._update_overlay()
        self._status.setText(self.hover_text(stage, unit).replace("\n", " · "))

    def selection(self) -> tuple[int, int] | None:
        return self._selection

    def export_image(self, path: str, scale: float = 1.0) -> None:
        """Save what the view shows as PNG/JPEG (raster, ``scale`` x the widget size) or SVG, atomically."""
        from lrp_studio.io import atomic_write

        atomic_write(str(path), lambda temp: self._write_image(temp, Path(path).suffix.lower(), scale))

    def _write_image(self, path: str, suffix: str, scale: float) -> None:
        """Render into ``path`` (a temporary file with the target's suffix)."""
        source = self._view.viewport().rect()
        if suffix == ".svg":
            from PySide6.QtSvg import QSvgGenerator

            generator = QSvgGenerator()
            generator.setFileName(path)
            generator.setSize(source.size())
            generator.setViewBox(QtCore.QRect(0, 0, source.width(), source.height()))
            generator.setTitle("LRP Studio network graph")
            painter = QtGui.QPainter(generator)
            try:
                self._view.render(painter, QtCore.QRectF(0, 0, source.width(), source.height()), source)
            finally:
                painter.end()
            return
        if suffix not in (".png", ".jpg", ".jpeg", ".bmp"):
            raise ParameterError(f"cannot export the graph as {suffix or 'a file without suffix'}; use .png or .svg")
        width, height = max(1, round(source.width() * scale)), max(1, round(source.height() * scale))
        image = QtGui.QImage(width, height, QtGui.QImage.Format.Format_ARGB32)
        image.fill(QtGui.QColor(BACKGROUND))
        painter = QtGui.QPainter(image)
        try:
            painter.setRenderHint(QtGui.QPainter.RenderHint.Antialiasing)
            self._view.render(painter, QtCore.QRectF(0, 0, width, height), source)
        finally:
            painter.end()
        if not image.save(path, suffix[1:].upper().replace("JPG", "JPEG")):
            raise OSError(f"could not write {path}")

    # ------------------------------------------------------------------ extra helpers (tests, main window)
    def columns(self) -> list[Column]:
        """The columns as laid out (stage, kind, title, node centres in view coordinates)."""
        return list(self._layout.columns) if self._layout else []

    def edge_data(self) -> list[tuple[int, np.ndarray, np.ndarray, np.ndarray]]:
        """Drawn edges per layer: (layer index, source node, target node, message value)."""
        return list(self._edges)

    def edge_curves(self) -> list[pg.PlotCurveItem]:
        """The 16 pen-bin curves (negative bins first)."""
        return list(self._edge_curves)

    def node_brushes(self, stage: int) -> list[QtGui.QBrush] | None:
        """Current brushes of a dot column."""
        column = self._column(stage)
        if column is None or column.index not in self._scatters:
            return None
        return list(self._scatters[column.index].data["brush"])

    def node_colors(self, stage: int) -> np.ndarray:
        """RGBA colours (n, 4) of a column's nodes (dots: brush colours; maps/images: pixels)."""
        column = self._column(stage)
        if column.index in self._scatters:
            return np.array([b.color().getRgb() for b in self._scatters[column.index].data["brush"]])
        if column.index in self._map_items:
            return np.stack([item.image for item in self._map_items[column.index]])
        return np.asarray(self._image_items[column.index].image)

    def node_position(self, stage: int, unit: int) -> tuple[float, float]:
        """Centre of a unit's node in view coordinates."""
        column = self._column(stage)
        if column.kind == "image":
            return self._pixel_centre(column, unit)
        return tuple(float(v) for v in column.centres[unit])

    def viewport_position(self, stage: int, unit: int) -> QtCore.QPoint:
        """Where a unit's node appears in the graphics viewport (for clicks)."""
        x, y = self.node_position(stage, unit)
        scene_point = self._vb.mapViewToScene(QtCore.QPointF(x, y))
        return self._view.mapFromScene(scene_point)

    def graphics_view(self) -> pg.GraphicsLayoutWidget:
        return self._view

    def view_box(self) -> pg.ViewBox:
        return self._vb

    def hover_text(self, stage: int, unit: int) -> str:
        """Tooltip: layer name, unit index, activation and relevance."""
        column = self._column(stage)
        if column is None:
            return ""
        act = self._activations.get(stage)
        rel = self._relevances.get(stage)
        if column.kind == "image":
            shape = column.shape if len(column.shape) == 3 else (1,) + tuple(column.image_hw)
            c, rest = divmod(unit, shape[1] * shape[2])
            i, j = divmod(rest, shape[2])
            where = f"pixel ({i}, {j})" + (f" channel {c}" if shape[0] > 1 else "")
            a = None if act is None else float(act.reshape(-1)[unit])
            r = None if rel is None else float(rel.reshape(-1)[unit])
            return f"{column.title} {column.subtitle}\n{where} (unit {unit})\nactivation {_format(a)}\nrelevance {_format(r)}"
        if column.kind == "maps":
            a_mean = a_max = r_sum = None
            if act is not None:
                a_mean, a_max = float(act[unit].mean()), float(act[unit].max())
            if rel is not None:
                r_sum = float(rel[unit].sum())
            return (f"{column.title} ({column.subtitle})\nchannel {unit}\n"
                    f"activation mean {_format(a_mean)}, max {_format(a_max)}\nrelevance {_format(r_sum)} (sum)")
        a = None if act is None else float(act.reshape(-1)[unit])
        r = None if rel is None else float(rel.reshape(-1)[unit])
        name = f"neuron {unit}"
        if stage == self._net_stages() and unit < len(self._net.classes):
            name = f"neuron {unit} (class {self._net.classes[unit]})"
        return f"{column.title}\n{name}\nactivation {_format(a)}\nrelevance {_format(r)}"

    # ------------------------------------------------------------------ building
    @staticmethod
    def _make_brush_lut(lut: np.ndarray) -> np.ndarray:
        brushes = np.empty(256, dtype=object)
        for i, (r, g, b) in enumerate(lut.tolist()):
            brushes[i] = QtGui.QBrush(QtGui.QColor(r, g, b))
        return brushes

    def _update_colorbar_map(self) -> None:
        self._colorbar.setColorMap(pg.ColorMap(np.linspace(0.0, 1.0, 256), self._lut))

    def _new_overlay_items(self) -> None:
        self._edge_curves = []
        for pen in self._pens:
            curve = EdgeCurve(pen, antialias=False)
            curve.setZValue(Z_EDGES)
            self._edge_curves.append(curve)
        self._overlay_curves = []
        for rgb in (NEGATIVE_RGB, POSITIVE_RGB):
            curve = EdgeCurve(pg.mkPen(color=rgb, width=2.6), antialias=True)
            curve.setZValue(Z_OVERLAY)
            self._overlay_curves.append(curve)
        self._ring = pg.ScatterPlotItem(pxMode=True, symbol="o", brush=None,
                                        pen=pg.mkPen("#111111", width=2.0))
        self._ring.setZValue(Z_RING)
        self._rect = EdgeCurve(pg.mkPen("#111111", width=2.5))
        self._rect.setZValue(Z_RING)

    def _build_items(self) -> None:
        self._vb.clear()
        self._scatters, self._map_items, self._image_items = {}, {}, {}
        self._scale_labels, self._class_labels = {}, []
        self._new_overlay_items()
        for curve in self._edge_curves + self._overlay_curves + [self._ring, self._rect]:
            self._vb.addItem(curve)
        layout = self._layout
        top = min(float(c.centres[:, 1].min() - (c.size if c.kind != "dots" else c.spacing) / 2)
                  for c in layout.columns)
        header_y = top - 12.0
        for column in layout.columns:
            if column.kind == "dots":
                self._build_dots(column)
            elif column.kind == "maps":
                self._build_maps(column)
            else:
                self._build_image(column)
            self._add_header(column, header_y)
        self._build_class_labels(layout.columns[-1])
        # class labels are sized in pixels ("9   -12.34  ◀", ~110 px): leave room in proportion to the width
        right = layout.width + (170.0 + 0.1 * layout.width if self._class_labels else 40.0)
        left = layout.columns[0].x - layout.columns[0].width / 2 - 70.0
        self._bounds = QtCore.QRectF(left, header_y - 150.0, right - left, layout.height + 170.0 - header_y)
        for curve in self._edge_curves + self._overlay_curves + [self._rect]:
            curve.set_extent(self._bounds)
        self.reset_zoom()
        self._update_overlay()

    def reset_zoom(self) -> None:
        """Show the whole network again (also the Home key)."""
        if self._layout is not None:
            self._vb.setRange(rect=self._bounds, padding=0.0)

    def _build_dots(self, column: Column) -> None:
        xs, ys = column.centres[:, 0], column.centres[:, 1]
        pad = column.spacing / 2 + 6.0
        track = QtWidgets.QGraphicsRectItem(column.x - 9.0, ys.min() - pad, 18.0, ys.max() - ys.min() + 2 * pad)
        track.setBrush(pg.mkBrush("#ececec"))
        track.setPen(pg.mkPen(None))
        track.setZValue(Z_TRACK)
        self._vb.addItem(track)
        pen = pg.mkPen("#808080", width=1.0) if column.size >= 6 else pg.mkPen(None)
        neutral = pg.mkBrush(NEUTRAL_RGB)
        scatter = pg.ScatterPlotItem(pxMode=True, size=column.size, pen=pen, brush=neutral, antialias=True)
        scatter.setData(x=xs, y=ys, brush=[neutral] * len(xs))
        scatter.setZValue(Z_NODES)
        self._vb.addItem(scatter)
        self._scatters[column.index] = scatter

    def _build_maps(self, column: Column) -> None:
        s = column.size
        items = []
        border = []
        h, w = column.shape[1:]
        blank = np.full((h, w, 4), (*NEUTRAL_RGB, 255), dtype=np.uint8)
        for x, y in column.centres:
            item = pg.ImageItem(blank, axisOrder="row-major", autoLevels=False)
            item.setRect(QtCore.QRectF(x - s / 2, y - s / 2, s, s))
            item.setZValue(Z_NODES)
            self._vb.addItem(item)
            items.append(item)
            x0, y0, x1, y1 = x - s / 2, y - s / 2, x + s / 2, y + s / 2
            border += [(x0, y0), (x1, y0), (x1, y0), (x1, y1), (x1, y1), (x0, y1), (x0, y1), (x0, y0)]
        border = np.asarray(border)
        frame = pg.PlotCurveItem(border[:, 0], border[:, 1], connect="pairs", pen=pg.mkPen("#9a9a9a", width=1))
        frame.setZValue(Z_NODES + 1)
        self._vb.addItem(frame)
        self._map_items[column.index] = items

    def _build_image(self, column: Column) -> None:
        h, w = column.image_hw
        x, y = column.centres[0]
        item = pg.ImageItem(np.full((h, w, 4), (*NEUTRAL_RGB, 255), dtype=np.uint8), axisOrder="row-major",
                            autoLevels=False)
        item.setRect(QtCore.QRectF(x - column.width / 2, y - column.size / 2, column.width, column.size))
        item.setZValue(Z_NODES)
        self._vb.addItem(item)
        frame = QtWidgets.QGraphicsRectItem(x - column.width / 2, y - column.size / 2, column.width, column.size)
        frame.setPen(pg.mkPen("#9a9a9a", width=1))
        frame.setZValue(Z_NODES + 1)
        self._vb.addItem(frame)
        self._image_items[column.index] = item

    def _add_header(self, column: Column, y: float) -> None:
        name, *ops = column.title.split(" · ")
        lines = [f"<b>{name}</b>"]
        if ops:
            lines.append(f"<span style='color:#555'>{' · '.join(ops)}</span>")
        lines.append(column.subtitle)
        title = pg.TextItem(html=f"<div style='text-align:center; color:#222'>{'<br>'.join(lines)}</div>",
                            anchor=(0.5, 1.0))
        title.setPos(column.x, y - 22.0)
        title.setZValue(Z_TEXT)
        self._vb.addItem(title)
        scale = _Label("", color="#555555", anchor=(0.5, 1.0))
        scale.setPos(column.x, y)
        self._vb.addItem(scale)
        self._scale_labels[column.index] = scale

    def _build_class_labels(self, column: Column) -> None:
        if column.kind != "dots" or column.n_nodes > 40:
            return
        for (x, y), name in zip(column.centres, self._net.classes):
            label = _Label(str(name), color="#333333", anchor=(0.0, 0.5), offset=(column.size / 2 + 6, 0))
            label.setPos(x, y)
            self._vb.addItem(label)
            self._class_labels.append(label)

    # ------------------------------------------------------------------ values and colours
    def _net_stages(self) -> int:
        return len(self._net.layers)

    def _column(self, stage: int) -> Column | None:
        return self._layout.column_of_stage(stage) if self._layout else None

    def _collect_values(self, exp) -> None:
        """Sample-0 activation and relevance of every column stage."""
        stages = [c.stage for c in self._layout.columns]
        records = {r.stage: r for r in exp.layers}
        missing = [s for s in stages if s not in records]
        computed = self._forward_stages(exp.layers[0].activation[:1]) if missing else {}
        self._activations, self._relevances = {}, {}
        for stage in stages:
            record = records.get(stage)
            if record is not None:
                self._activations[stage] = np.asarray(record.activation[0], dtype=np.float32)
                if record.relevance is not None:
                    self._relevances[stage] = np.asarray(record.relevance[0], dtype=np.float32)
            else:
                self._activations[stage] = computed[stage]

    def _forward_stages(self, x0: np.ndarray) -> dict[int, np.ndarray]:
        """Activations of all stages for one sample (for explanations without layer records)."""
        from lrp_studio.backend import to_numpy

        x = self._net.prepare_input(x0)
        out = {0: np.asarray(to_numpy(x)[0], dtype=np.float32)}
        for index, layer in enumerate(self._net.layers):
            x, _ = layer.forward(x)
            out[index + 1] = np.asarray(to_numpy(x)[0], dtype=np.float32)
        return out

    def _column_values(self, column: Column) -> np.ndarray | None:
        source = self._relevances if self._color_mode == "relevance" else self._activations
        return source.get(column.stage)

    def _scales(self) -> dict[int, float]:
        scales = {}
        for column in self._layout.columns:
            values = self._column_values(column)
            if values is None:
                continue
            scales[column.index] = float(np.max(np.abs(values), initial=0.0))
        if self._scale_mode == "global":
            shared = [v for i, v in scales.items()
                      if not (self._color_mode == "activation" and self._layout.columns[i].kind == "image")]
            top = max(shared, default=0.0)
            scales = {i: (v if (self._color_mode == "activation" and self._layout.columns[i].kind == "image") else top)
                      for i, v in scales.items()}
        return scales

    def _recolor(self) -> None:
        if self._exp is None or self._layout is None:
            return
        scales = self._scales()
        self._column_vmax = scales
        for column in self._layout.columns:
            values = self._column_values(column)
            vmax = scales.get(column.index, 0.0)
            if column.index in self._scatters:
                self._color_dots(column, values, vmax)
            elif column.index in self._map_items:
                self._color_maps(column, values, vmax)
            else:
                self._color_image(column, values, vmax)
            label = self._scale_labels[column.index]
            if values is None:
                label.set_text("no relevance" if self._color_mode == "relevance" else "")
            elif column.kind == "image" and self._color_mode == "activation":
                label.set_text("grayscale sample")
            else:
                label.set_text(f"±{vmax:.3g}")
        self._update_colorbar_levels(scales)

    def _indices(self, values: np.ndarray, vmax: float) -> np.ndarray:
        if vmax <= 0 or not np.isfinite(vmax):
            return np.full(values.shape, 128, dtype=np.uint8)
        return lut_indices(values * np.float32(1.0 / vmax))

    def _color_dots(self, column: Column, values: np.ndarray | None, vmax: float) -> None:
        scatter = self._scatters[column.index]
        if values is None:  # one cached brush: a new QBrush would add a symbol to the scatter's atlas every time
            brushes = [_neutral_brush()] * column.n_nodes
        else:
            brushes = self._brush_lut[self._indices(values.reshape(-1), vmax)].tolist()
        scatter.setBrush(brushes)

    def _rgba(self, values: np.ndarray, vmax: float) -> np.ndarray:
        indices = self._indices(values, vmax)
        rgba = np.empty(values.shape + (4,), dtype=np.uint8)
        rgba[..., :3] = self._lut[indices]
        rgba[..., 3] = 255
        return rgba

    def _color_maps(self, column: Column, values: np.ndarray | None, vmax: float) -> None:
        items = self._map_items[column.index]
        if values is None:
            rgba = np.empty(column.shape + (4,), dtype=np.uint8)
            rgba[...] = (*NEUTRAL_RGB, 255)
        else:
            rgba = self._rgba(values, vmax)
        for item, channel in zip(items, rgba):
            item.setImage(channel, autoLevels=False)

    def _color_image(self, column: Column, values: np.ndarray | None, vmax: float) -> None:
        h, w = column.image_hw
        item = self._image_items[column.index]
        if values is None:
            rgba = np.empty((h, w, 4), dtype=np.uint8)
            rgba[...] = (*NEUTRAL_RGB, 255)
        elif self._color_mode == "activation":
            image = values.reshape((-1, h, w))
            image = np.moveaxis(image, 0, -1) if image.shape[0] == 3 else image.mean(axis=0)[..., None]
            low, high = self._net.input_range or (float(image.min()), float(image.max()))
            gray = np.clip((image - low) / max(high - low, 1e-12), 0.0, 1.0)
            rgba = np.empty((h, w, 4), dtype=np.uint8)
            rgba[..., :3] = np.rint(255.0 * np.broadcast_to(gray, (h, w, 3)))
            rgba[..., 3] = 255
        else:
            rgba = self._rgba(values.reshape((-1, h, w)).sum(axis=0), vmax)
        item.setImage(rgba, autoLevels=False)

    def _update_colorbar_levels(self, scales: dict[int, float]) -> None:
        what = self._color_mode
        if self._scale_mode == "global":
            top = max((v for i, v in scales.items() if self._layout.columns[i].kind != "image"), default=1.0) or 1.0
            levels, label = (-top, top), f"{what} (one scale for all columns)"
        else:
            levels, label = (-1.0, 1.0), f"{what} ÷ column max (±max above each column)"
        if levels != tuple(self._colorbar.levels()):
            self._colorbar.setLevels(levels)
        if label != self._colorbar_label:
            self._colorbar.getAxis("left").setLabel(label)
            self._colorbar_label = label

    def _update_class_labels(self) -> None:
        if not self._class_labels or self._exp is None:
            return
        logits = np.asarray(self._exp.logits[0]).reshape(-1)
        target = int(np.asarray(self._exp.targets).reshape(-1)[0])
        for index, (label, name) in enumerate(zip(self._class_labels, self._net.classes)):
            text = f"{name}   {logits[index]:.2f}"
            if index == target:
                text += "  ◀"  # bold + arrow; the heatmap caption names the explained class
            label.set_text(text, bold=index == target)

    # ------------------------------------------------------------------ edges
    def _update_edges(self) -> None:
        self._edges = []
        buckets: list[list[np.ndarray]] = [[] for _ in self._pens]
        if self._exp is not None and self._top_k > 0:
            selected = []
            for index, conn in enumerate(self._layout.connections):
                messages = self._aggregated.get(index)
                if messages is None:
                    continue
                src, dst, values = top_k_edges(messages, self._top_k, drop_zero=True)
                if len(values) > MAX_EDGES_PER_CONNECTION:  # a few hundred lines: DESIGN.md 4 budget
                    keep = np.argpartition(-np.abs(values), MAX_EDGES_PER_CONNECTION)[:MAX_EDGES_PER_CONNECTION]
                    src, dst, values = src[keep], dst[keep], values[keep]
                self._edges.append((conn.layer_index, src, dst, values))
                selected.append((conn, src, dst, values))
            shared = max((float(np.max(np.abs(v), initial=0.0)) for *_, v in selected), default=0.0)
            for conn, src, dst, values in selected:
                if len(values) == 0:
                    continue
                source = self._layout.columns[conn.source]
                target = self._layout.columns[conn.target]
                start = source.out_anchors(messages_rows(source))[src]
                end = target.in_anchors()[dst]
                segments = np.empty((2 * len(src), 2))
                segments[0::2], segments[1::2] = start, end
                vmax = shared if self._scale_mode == "global" else None
                for slot, (_, _, mask) in enumerate(bin_edges_by_sign_and_magnitude(values, N_BINS, vmax)):
                    if mask.any():
                        buckets[slot].append(segments[np.repeat(mask, 2)])
        for curve, parts in zip(self._edge_curves, buckets):
            if parts:
                points = np.concatenate(parts)
                curve.setData(points[:, 0], points[:, 1], connect="pairs")
                curve.setVisible(True)
            elif curve.isVisible():
                curve.setData(np.zeros(0), np.zeros(0), connect="pairs")
                curve.setVisible(False)
        self._update_overlay()

    # ------------------------------------------------------------------ selection overlay
    def _update_overlay(self) -> None:
        selection = self._selection
        for curve in self._overlay_curves:
            curve.setData(np.zeros(0), np.zeros(0), connect="pairs")
        self._ring.setData([], [])
        self._rect.setData(np.zeros(0), np.zeros(0), connect="pairs")
        dim = selection is not None and self._exp is not None
        opacity = 0.3 if dim else 1.0
        if self._edge_curves and self._edge_curves[0].opacity() != opacity:
            for curve in self._edge_curves:
                curve.setOpacity(opacity)
        if selection is None or self._layout is None:
            return
        stage, unit = selection
        column = self._column(stage)
        if column.kind == "dots":
            self._ring.setData([column.centres[unit, 0]], [column.centres[unit, 1]], size=column.size + 7)
        else:
            if column.kind == "maps":
                x, y = column.centres[unit]
                half_w = half_h = column.size / 2 + 4
            else:
                x, y = self._pixel_centre(column, unit)
                h, w = column.image_hw
                half_w, half_h = column.width / w / 2 + 1.5, column.size / h / 2 + 1.5
            x0, x1, y0, y1 = x - half_w, x + half_w, y - half_h, y + half_h
            box = np.array([(x0, y0), (x1, y0), (x1, y0), (x1, y1), (x1, y1), (x0, y1), (x0, y1), (x0, y0)])
            self._rect.setData(box[:, 0], box[:, 1], connect="pairs")
        if self._exp is None or column.kind == "image":
            return
        node = column.unit_to_node(unit)
        parts: list[list[np.ndarray]] = [[], []]
        for index, conn in enumerate(self._layout.connections):
            messages = self._aggregated.get(index)
            if messages is None:
                continue
            source, target = self._layout.columns[conn.source], self._layout.columns[conn.target]
            if conn.target == column.index:
                values = messages[:, node]
                order = _strongest(values, OVERLAY_EDGES)
                start = source.out_anchors(messages_rows(source))[order]
                end = np.repeat(target.in_anchors()[node][None], len(order), axis=0)
            elif conn.source == column.index:
                values = messages[node, :]
                order = _strongest(values, OVERLAY_EDGES)
                start = np.repeat(source.out_anchors(messages_rows(source))[node][None], len(order), axis=0)
                end = target.in_anchors()[order]
            else:
                continue
            segments = np.empty((2 * len(order), 2))
            segments[0::2], segments[1::2] = start, end
            positive = values[order] >= 0
            parts[1].append(segments[np.repeat(positive, 2)])
            parts[0].append(segments[np.repeat(~positive, 2)])
        self._pixel_fan_in(column, node, parts)
        for curve, chunks in zip(self._overlay_curves, parts):
            if chunks:
                points = np.concatenate(chunks)
                curve.setData(points[:, 0], points[:, 1], connect="pairs")

    def _pixel_fan_in(self, column: Column, node: int, parts: list[list[np.ndarray]]) -> None:
        """Strongest pixel -> neuron messages of a dense layer fed by the input image (overlay only)."""
        if column.index == 0 or column.layer_index is None:
            return
        source = self._layout.columns[column.index - 1]
        messages = self._exp.messages.get(column.layer_index)
        if source.kind != "image" or messages is None or messages.shape[0] != source.n_units:
            return
        values = np.asarray(messages[:, node])
        order = _strongest(values, OVERLAY_EDGES)
        if len(order) == 0:
            return
        segments = np.empty((2 * len(order), 2))
        segments[0::2] = [self._pixel_centre(source, int(unit)) for unit in order]
        segments[1::2] = column.in_anchors()[node]
        positive = values[order] >= 0
        parts[1].append(segments[np.repeat(positive, 2)])
        parts[0].append(segments[np.repeat(~positive, 2)])

    # ------------------------------------------------------------------ hit testing and input
    def _pixel_centre(self, column: Column, unit: int) -> tuple[float, float]:
        h, w = column.image_hw
        rest = unit % (h * w)
        i, j = divmod(rest, w)
        x0 = column.centres[0, 0] - column.width / 2
        y0 = column.centres[0, 1] - column.size / 2
        return float(x0 + (j + 0.5) * column.width / w), float(y0 + (i + 0.5) * column.size / h)

    def _node_at(self, x: float, y: float) -> tuple[int, int] | None:
        """The unit under view point (x, y), or None."""
        if self._layout is None:
            return None
        px, py = self._vb.viewPixelSize()
        for column in self._layout.columns:
            cx = column.x
            if column.kind == "image":
                x0, y0 = cx - column.width / 2, column.centres[0, 1] - column.size / 2
                if x0 <= x < x0 + column.width and y0 <= y < y0 + column.size:
                    h, w = column.image_hw
                    j = min(int((x - x0) / column.width * w), w - 1)
                    i = min(int((y - y0) / column.size * h), h - 1)
                    return column.stage, i * w + j
            elif column.kind == "maps":
                half = column.size / 2 + 2 * px
                if abs(x - cx) <= half:
                    distance = np.abs(column.centres[:, 1] - y)
                    node = int(np.argmin(distance))
                    if distance[node] <= column.size / 2 + 2 * py:
                        return column.stage, node
            else:
                radius_x = max(column.size / 2 + 3, 5) * px
                if abs(x - cx) <= radius_x:
                    y0 = column.centres[0, 1]
                    node = int(np.clip(np.rint((y - y0) / column.spacing), 0, column.n_nodes - 1))
                    if abs(column.centres[node, 1] - y) <= max(column.size / 2 + 3, 5) * py:
                        return column.stage, node
        return None

    def _on_click(self, event) -> None:
        if event.button() != Qt.MouseButton.LeftButton or self._layout is None:
            return
        point = self._vb.mapSceneToView(event.scenePos())
        hit = self._node_at(point.x(), point.y())
        if hit is None:
            return
        event.accept()
        if event.double():
            return  # handled by _on_double_click
        self.select(*hit)
        self.neuronSelected.emit(*hit)
        self._view.setFocus(Qt.FocusReason.MouseFocusReason)

    def _on_double_click(self, viewport_pos: QtCore.QPoint) -> bool:
        """Select and activate the unit under a double-click; returns whether one was hit."""
        if self._layout is None:
            return False
        point = self._vb.mapSceneToView(self._view.mapToScene(viewport_pos))
        hit = self._node_at(point.x(), point.y())
        if hit is None:
            return False
        if hit != self._selection:
            self.select(*hit)
            self.neuronSelected.emit(*hit)
        self.neuronActivated.emit(*hit)
        return True

    def _on_mouse_moved(self, scene_pos: QtCore.QPointF) -> None:
        if self._layout is None:
            return
        point = self._vb.mapSceneToView(scene_pos)
        hit = self._node_at(point.x(), point.y())
        if hit == self._hover:
            return
        self._hover = hit
        if hit is None:
            self._view.setToolTip("")
            QtWidgets.QToolTip.hideText()
            return
        text = self.hover_text(*hit)
        self._view.setToolTip(text)
        QtWidgets.QToolTip.showText(QtGui.QCursor.pos(), text, self._view)
        self._status.setText(text.replace("\n", " · "))

    def _handle_key(self, key: int) -> bool:
        """Arrow keys move the selection, Enter activates it; returns whether the key was used."""
        if self._layout is None:
            return False
        if key == Qt.Key.Key_Home:
            self.reset_zoom()
            return True
        if key in (Qt.Key.Key_Return, Qt.Key.Key_Enter):
            if self._selection is not None:
                self.neuronActivated.emit(*self._selection)
            return True
        if key not in (Qt.Key.Key_Left, Qt.Key.Key_Right, Qt.Key.Key_Up, Qt.Key.Key_Down):
            return False
        if self._selection is None:
            column = self._layout.columns[-1]
            unit = int(np.asarray(self._exp.targets).reshape(-1)[0]) if self._exp is not None else 0
            new = (column.stage, min(unit, column.n_units - 1))
        else:
            new = self._moved(self._selection, key)
        if new is not None and new != self._selection:
            self.select(*new)
            self.neuronSelected.emit(*new)
        return True

    def _relative(self, column: Column, unit: int) -> float:
        if column.kind == "image":
            h, w = column.image_hw
            return (unit % (h * w)) // w / max(h - 1, 1)
        return unit / max(column.n_units - 1, 1)

    def _moved(self, selection: tuple[int, int], key: int) -> tuple[int, int] | None:
        stage, unit = selection
        column = self._column(stage)
        if key in (Qt.Key.Key_Up, Qt.Key.Key_Down):
            step = -1 if key == Qt.Key.Key_Up else 1
            if column.kind == "image":
                w = column.image_hw[1]
                new = unit + step * w
                return (stage, new) if 0 <= new < column.n_units else None
            return stage, int(np.clip(unit + step, 0, column.n_units - 1))
        step = -1 if key == Qt.Key.Key_Left else 1
        index = column.index + step
        if not 0 <= index < len(self._layout.columns):
            return None
        relative = self._relative(column, unit)
        target = self._layout.columns[index]
        if target.kind == "image":
            h, w = target.image_hw
            return target.stage, int(round(relative * (h - 1))) * w + w // 2
        return target.stage, int(round(relative * (target.n_units - 1)))


def messages_rows(column: Column) -> int | None:
    """Number of edge sources a column offers (channels for an image)."""
    return column.shape[0] if column.kind == "image" else None


def _strongest(values: np.ndarray, count: int) -> np.ndarray:
    """Indices of the ``count`` largest |values| that are non-zero, strongest first."""
    magnitude = np.abs(values)
    order = np.argsort(-magnitude, kind="stable")[:count]
    return order[magnitude[order] > 0]
