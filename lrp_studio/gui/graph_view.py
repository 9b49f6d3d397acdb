"""The network graph: columns of neurons / feature maps, coloured by activation or relevance.

A thin Qt view: the geometry (columns, node centres, labels, bounds, hit testing, keyboard moves)
comes from :mod:`lrp_studio.viz.graph_scene`, the edges and the selection overlay from
:mod:`lrp_studio.viz.graph_edges`, node colours and texts from :mod:`lrp_studio.viz.graph_values`;
this module turns them into pyqtgraph items and forwards mouse and keyboard events. It runs no
network: every value shown comes from the explanation's per-stage records.

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
from lrp_studio.viz.colormaps import get_colormap
from lrp_studio.viz.graph_edges import (
    MAX_EDGES_PER_CONNECTION,
    N_BINS,
    binned_segments,
    connection_messages,
    overlay_segments,
    select_edges,
)
from lrp_studio.viz.graph_scene import (
    Column,
    GraphLayout,
    build_layout,
    initial_selection,
    moved,
    node_at,
    selection_marker,
)
from lrp_studio.viz.graph_values import (
    COLOR_MODES,
    NEUTRAL_RGB,
    SCALE_MODES,
    class_label_texts,
    color_indices,
    colorbar_levels,
    column_scales,
    hover_text,
    image_rgba,
    maps_rgba,
    scale_label,
    stage_values,
)

__all__ = ["NetworkView", "COLOR_MODES", "SCALE_MODES", "MAX_EDGES_PER_CONNECTION"]

POSITIVE_RGB = (200, 30, 30)
NEGATIVE_RGB = (30, 80, 200)
BACKGROUND = "#ffffff"
#: Pixels kept free between two neighbouring column headers.
HEADER_GAP_PX = 8
#: The line under the graph while it names no unit with values.
STATUS_HINT = "Scroll to zoom, drag to pan, Home to fit. Click a neuron to select it; arrow keys move, Enter inspects."

Z_TRACK, Z_EDGES, Z_NODES, Z_OVERLAY, Z_RING, Z_TEXT = -10, 0, 10, 15, 20, 30

_ARROW_KEYS = {Qt.Key.Key_Up: "up", Qt.Key.Key_Down: "down", Qt.Key.Key_Left: "left", Qt.Key.Key_Right: "right"}
_EMPTY = np.zeros(0)


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


_NEUTRAL_BRUSH: list[QtGui.QBrush] = []


def _neutral_brush() -> QtGui.QBrush:
    """The brush of units without values, made once (pyqtgraph's symbol atlas keys brushes by object)."""
    if not _NEUTRAL_BRUSH:
        _NEUTRAL_BRUSH.append(pg.mkBrush(NEUTRAL_RGB))
    return _NEUTRAL_BRUSH[0]


def _set_segments(curve: pg.PlotCurveItem, segments: np.ndarray) -> None:
    """Give a ``connect='pairs'`` curve its (2E, 2) end points (empty: no lines)."""
    if len(segments):
        curve.setData(segments[:, 0], segments[:, 1], connect="pairs")
    else:
        curve.setData(_EMPTY, _EMPTY, connect="pairs")


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
        if event.button() == Qt.MouseButton.LeftButton and self._owner.activate_at(event.position().toPoint()):
            event.accept()
            return
        super().mouseDoubleClickEvent(event)

    def keyPressEvent(self, event: QtGui.QKeyEvent) -> None:  # noqa: N802 (Qt name)
        if not self._owner.handle_key(event.key()):
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
        self._exp = None
        self._layout: GraphLayout | None = None
        self._color_mode = "relevance"
        self._scale_mode = "layer"
        self._lut = get_colormap("bwr")
        self._brush_lut = self._make_brush_lut(self._lut)
        self._top_k = 3
        self._selection: tuple[int, int] | None = None
        self._hover: tuple[int, int] | None = None
        self._activations: dict[int, np.ndarray] = {}
        self._relevances: dict[int, np.ndarray] = {}
        self._aggregated: dict[int, np.ndarray] = {}  # connection index -> (n_sources, n_targets)
        self._edges: list[tuple[int, np.ndarray, np.ndarray, np.ndarray]] = []
        self._colorbar_label = ""
        self._bounds = QtCore.QRectF()

        self._view = _GraphicsView(self)
        self._view.setBackground(BACKGROUND)
        self._view.ci.layout.setContentsMargins(4, 4, 4, 4)
        self._vb = pg.ViewBox(invertY=True, lockAspect=True, enableMenu=False)
        self._view.addItem(self._vb, row=0, col=0)
        self._colorbar = self._make_colorbar()
        self._view.addItem(self._colorbar, row=0, col=1)
        self._update_colorbar_map()

        self._status = QtWidgets.QLabel(STATUS_HINT)
        self._status_unit: tuple[int, int] | None = None  # the unit whose values the line under the graph shows
        self._status.setObjectName("networkViewStatus")
        self._status.setStyleSheet("color: #555; padding: 2px 6px;")
        box = QtWidgets.QVBoxLayout(self)
        box.setContentsMargins(0, 0, 0, 0)
        box.setSpacing(0)
        box.addWidget(self._view, 1)
        box.addWidget(self._status)
        self.setFocusProxy(self._view)

        self._pens = _edge_pens()
        self._scatters: dict[int, pg.ScatterPlotItem] = {}
        self._map_items: dict[int, list[pg.ImageItem]] = {}
        self._image_items: dict[int, pg.ImageItem] = {}
        self._scale_labels: dict[int, _Label] = {}
        self._class_labels: list[_Label] = []
        self._new_overlay_items()

        self._vb.sigResized.connect(lambda *_: self.fit_headers())
        self._vb.sigRangeChanged.connect(lambda *_: self.fit_headers())
        scene = self._view.scene()
        scene.sigMouseClicked.connect(self._on_click)
        scene.sigMouseMoved.connect(self._on_mouse_moved)

    # ------------------------------------------------------------------ public interface
    def set_network(self, net) -> None:
        """Rebuild the columns for ``net`` (clears the explanation and the selection)."""
        self._exp = None
        self._selection = None
        self._hover = None
        self._layout = build_layout(net)
        self._input_shape = tuple(net.input_shape)
        self._activations, self._relevances, self._aggregated, self._edges = {}, {}, {}, []
        self._build_items()
        self._show_unit_status(None)

    def set_explanation(self, exp) -> None:
        """Recolour every column and redraw the edges from ``exp`` (sample 0).

        Raises
        ------
        ParameterError
            Before :meth:`set_network`, for an explanation of another input shape, or one
            without per-stage records (``keep_layers=False``).
        """
        if self._layout is None:
            raise ParameterError("set_network must be called before set_explanation")
        if not exp.layers:
            raise ParameterError("the explanation has no per-stage records; explain with keep_layers=True")
        first = exp.layers[0].activation
        if tuple(first.shape[1:]) != self._input_shape:
            raise ParameterError(
                f"explanation input {tuple(first.shape[1:])} does not match the network input {self._input_shape}"
            )
        self._activations, self._relevances = stage_values(self._layout, exp.layers)
        self._exp = exp
        self._aggregated = connection_messages(self._layout, exp.messages)
        self._recolor()
        self._update_edges()
        self._update_class_labels()
        self.refresh_status()  # the line under the graph shows this explanation's values, never an older one's

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
        self._show_unit_status(self._selection)

    def status_text(self) -> str:
        """The line under the graph (the hint, or the values of the last hovered or selected unit)."""
        return self._status.text()

    def forget_values(self) -> None:
        """The shown values belong to another sample or dataset: no unit values until the next explanation."""
        self._activations, self._relevances = {}, {}
        self.refresh_status()

    def refresh_status(self) -> None:
        """Show the current values of the unit the line names (the hint when there is none or no explanation)."""
        self._show_unit_status(self._status_unit)

    def _show_unit_status(self, unit: tuple[int, int] | None) -> None:
        column = None if unit is None or self._layout is None else self._layout.column_of_stage(unit[0])
        self._status_unit = unit if column is not None else None
        if column is None or not self._activations:
            self._status.setText(STATUS_HINT)
            return
        self._status.setText(self.hover_text(*unit).replace("\n", " · "))

    def selection(self) -> tuple[int, int] | None:
        """The selected (stage, unit), or None."""
        return self._selection

    def reset_zoom(self) -> None:
        """Show the whole network again (also the Home key)."""
        if self._layout is not None:
            self._vb.setRange(rect=self._bounds, padding=0.0)

    def export_image(self, path: str, scale: float = 1.0) -> None:
        """Save what the view shows as PNG/JPEG (raster, ``scale`` x the widget size) or SVG, atomically."""
        from lrp_studio.io import atomic_write

        atomic_write(str(path), lambda temp: self._write_image(temp, Path(path).suffix.lower(), scale))

    # ------------------------------------------------------------------ read-outs (tests, main window)
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
        """Centre of a unit's node (an image's pixel) in view coordinates."""
        return self._column(stage).unit_position(unit)

    def viewport_position(self, stage: int, unit: int) -> QtCore.QPoint:
        """Where a unit's node appears in the graphics viewport (for clicks)."""
        x, y = self.node_position(stage, unit)
        scene_point = self._vb.mapViewToScene(QtCore.QPointF(x, y))
        return self._view.mapFromScene(scene_point)

    def graphics_view(self) -> pg.GraphicsLayoutWidget:
        """The pyqtgraph widget that draws the graph."""
        return self._view

    def view_box(self) -> pg.ViewBox:
        """The view box holding the graph's items (y inverted, locked aspect)."""
        return self._vb

    def hover_text(self, stage: int, unit: int) -> str:
        """Tooltip: layer name, unit index, activation and relevance."""
        if self._layout is None:
            return ""
        return hover_text(self._layout, stage, unit, self._activations, self._relevances)

    # ------------------------------------------------------------------ input (mouse, keyboard)
    def unit_at(self, viewport_pos: QtCore.QPoint) -> tuple[int, int] | None:
        """The (stage, unit) under a point of the graphics viewport, or None."""
        point = self._vb.mapSceneToView(self._view.mapToScene(viewport_pos))
        return self._unit_at_view(point)

    def activate_at(self, viewport_pos: QtCore.QPoint) -> bool:
        """Double-click: select and activate the unit under ``viewport_pos``; returns whether one was hit."""
        hit = self.unit_at(viewport_pos) if self._layout is not None else None
        if hit is None:
            return False
        if hit != self._selection:
            self._select_by_user(hit)
        self.neuronActivated.emit(*hit)
        return True

    def handle_key(self, key: int) -> bool:
        """Arrow keys move the selection, Enter activates it, Home fits; returns whether the key was used."""
        if self._layout is None:
            return False
        if key == Qt.Key.Key_Home:
            self.reset_zoom()
            return True
        if key in (Qt.Key.Key_Return, Qt.Key.Key_Enter):
            if self._selection is not None:
                self.neuronActivated.emit(*self._selection)
            return True
        direction = _ARROW_KEYS.get(key)
        if direction is None:
            return False
        if self._selection is None:
            target = int(np.asarray(self._exp.targets).reshape(-1)[0]) if self._exp is not None else None
            new = initial_selection(self._layout, target)
        else:
            new = moved(self._layout, self._selection, direction)
        if new is not None and new != self._selection:
            self._select_by_user(new)
        return True

    def _select_by_user(self, hit: tuple[int, int]) -> None:
        self.select(*hit)
        self.neuronSelected.emit(*hit)

    def _unit_at_view(self, point: QtCore.QPointF) -> tuple[int, int] | None:
        return node_at(self._layout, point.x(), point.y(), self._vb.viewPixelSize())

    def _on_click(self, event) -> None:
        if event.button() != Qt.MouseButton.LeftButton or self._layout is None:
            return
        hit = self._unit_at_view(self._vb.mapSceneToView(event.scenePos()))
        if hit is None:
            return
        event.accept()
        if event.double():
            return  # handled by activate_at
        self._select_by_user(hit)
        self._view.setFocus(Qt.FocusReason.MouseFocusReason)

    def _on_mouse_moved(self, scene_pos: QtCore.QPointF) -> None:
        if self._layout is None:
            return
        hit = self._unit_at_view(self._vb.mapSceneToView(scene_pos))
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
        self._show_unit_status(hit)

    # ------------------------------------------------------------------ building
    @staticmethod
    def _make_brush_lut(lut: np.ndarray) -> np.ndarray:
        brushes = np.empty(256, dtype=object)
        for i, (r, g, b) in enumerate(lut.tolist()):
            brushes[i] = QtGui.QBrush(QtGui.QColor(r, g, b))
        return brushes

    @staticmethod
    def _make_colorbar() -> pg.ColorBarItem:
        colorbar = pg.ColorBarItem(values=(-1.0, 1.0), width=14, interactive=False,
                                   colorMapMenu=False, label="relevance (÷ column max)")
        colorbar.getAxis("right").setTextPen("#333333")
        colorbar.getAxis("left").setTextPen("#333333")
        colorbar.getAxis("left").setPen("#999999")
        for key in ("top", "bottom", "right"):
            colorbar.getAxis(key).setPen("#999999")
        return colorbar

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
        self._titles: list[tuple[float, pg.TextItem]] = []
        self._new_overlay_items()
        for curve in self._edge_curves + self._overlay_curves + [self._ring, self._rect]:
            self._vb.addItem(curve)
        layout = self._layout
        builders = {"dots": self._build_dots, "maps": self._build_maps, "image": self._build_image}
        for column, (x, title_y, scale_y) in zip(layout.columns, layout.header_positions()):
            builders[column.kind](column)
            self._add_header(column, x, title_y, scale_y)
        self._build_class_labels(layout)
        self._bounds = QtCore.QRectF(*layout.bounds())
        for curve in self._edge_curves + self._overlay_curves + [self._rect]:
            curve.set_extent(self._bounds)
        self.reset_zoom()
        self._update_overlay()
        self.fit_headers()

    def fit_headers(self) -> None:
        """Wrap each column header to the pixel gap between its neighbours, so headers never overlap.

        Headers are fixed-size text at view positions: when the view shrinks (a short window,
        a tall bottom dock) the columns come closer in pixels than the header lines are wide
        (``16 maps 12x12`` ran into ``32 maps 4x4``). Called on every resize and zoom.
        """
        titles = getattr(self, "_titles", [])
        if len(titles) < 2:
            return
        xs = [self._vb.mapViewToScene(QtCore.QPointF(x, 0.0)).x() for x, _ in titles]
        for i, (_, title) in enumerate(titles):
            gaps = [abs(xs[i] - xs[j]) for j in (i - 1, i + 1) if 0 <= j < len(xs)]
            room = max(24.0, min(gaps) - HEADER_GAP_PX)
            variants = getattr(title, "_header_variants", [])
            title.setTextWidth(-1)
            for number, html_text in enumerate(variants):  # the full header, else without the operations line
                if getattr(title, "_header_shown", 0) != number:
                    title.setHtml(html_text)
                    title._header_shown = number
                if title.textItem.document().idealWidth() <= room:
                    break
            natural = title.textItem.document().idealWidth()
            title.setTextWidth(room if natural > room else -1)  # still too wide: wrap (the lines grow upwards)

    def _build_dots(self, column: Column) -> None:
        track = QtWidgets.QGraphicsRectItem(*column.track_rect())
        track.setBrush(pg.mkBrush("#ececec"))
        track.setPen(pg.mkPen(None))
        track.setZValue(Z_TRACK)
        self._vb.addItem(track)
        pen = pg.mkPen("#808080", width=1.0) if column.size >= 6 else pg.mkPen(None)
        neutral = pg.mkBrush(NEUTRAL_RGB)
        scatter = pg.ScatterPlotItem(pxMode=True, size=column.size, pen=pen, brush=neutral, antialias=True)
        scatter.setData(x=column.centres[:, 0], y=column.centres[:, 1], brush=[neutral] * column.n_nodes)
        scatter.setZValue(Z_NODES)
        self._vb.addItem(scatter)
        self._scatters[column.index] = scatter

    def _build_maps(self, column: Column) -> None:
        blank = maps_rgba(column, None, 0.0, self._lut)[0]
        items = []
        for rect in column.node_rects():
            item = pg.ImageItem(blank, axisOrder="row-major", autoLevels=False)
            item.setRect(QtCore.QRectF(*rect))
            item.setZValue(Z_NODES)
            self._vb.addItem(item)
            items.append(item)
        border = column.frame_segments()
        frame = pg.PlotCurveItem(border[:, 0], border[:, 1], connect="pairs", pen=pg.mkPen("#9a9a9a", width=1))
        frame.setZValue(Z_NODES + 1)
        self._vb.addItem(frame)
        self._map_items[column.index] = items

    def _build_image(self, column: Column) -> None:
        rect = column.image_rect()
        blank = image_rgba(column, None, 0.0, self._lut, self._color_mode, None)
        item = pg.ImageItem(blank, axisOrder="row-major", autoLevels=False)
        item.setRect(QtCore.QRectF(*rect))
        item.setZValue(Z_NODES)
        self._vb.addItem(item)
        frame = QtWidgets.QGraphicsRectItem(*rect)
        frame.setPen(pg.mkPen("#9a9a9a", width=1))
        frame.setZValue(Z_NODES + 1)
        self._vb.addItem(frame)
        self._image_items[column.index] = item

    def _add_header(self, column: Column, x: float, title_y: float, scale_y: float) -> None:
        name, *ops = column.title.split(" · ")
        lines = [f"<b>{name}</b>"]
        if ops:
            lines.append(f"<span style='color:#555'>{' · '.join(ops)}</span>")
        lines.append(column.subtitle)
        short = [lines[0], lines[-1]]  # without the activation/pool line
        style = "text-align:center; color:#222"
        htmls = [f"<div style='{style}'>{'<br>'.join(lines)}</div>"]
        if ops:
            htmls.append(f"<div style='{style}'>{'<br>'.join(short)}</div>")
        htmls.append(f"<div style='{style}; font-size:7pt'>{'<br>'.join(short)}</div>")  # last: smaller, before wrapping
        title = pg.TextItem(html=htmls[0], anchor=(0.5, 1.0))
        title._header_variants = htmls  # fit_headers picks the first that fits between the neighbours
        title.setPos(x, title_y)
        title.setZValue(Z_TEXT)
        self._vb.addItem(title)
        self._titles.append((x, title))
        scale = _Label("", color="#555555", anchor=(0.5, 1.0))
        scale.setPos(x, scale_y)
        self._vb.addItem(scale)
        self._scale_labels[column.index] = scale

    def _build_class_labels(self, layout: GraphLayout) -> None:
        offset = layout.columns[-1].size / 2 + 6
        for (x, y), name in zip(layout.class_label_positions(), layout.classes):
            label = _Label(name, color="#333333", anchor=(0.0, 0.5), offset=(offset, 0))
            label.setPos(x, y)
            self._vb.addItem(label)
            self._class_labels.append(label)

    # ------------------------------------------------------------------ values and colours
    def _column(self, stage: int) -> Column | None:
        return self._layout.column_of_stage(stage) if self._layout else None

    def _shown_values(self) -> dict[int, np.ndarray]:
        return self._relevances if self._color_mode == "relevance" else self._activations

    def _recolor(self) -> None:
        if self._exp is None or self._layout is None:
            return
        shown = self._shown_values()
        scales = column_scales(self._layout, shown, self._color_mode, self._scale_mode)
        for column in self._layout.columns:
            values = shown.get(column.stage)
            vmax = scales.get(column.index, 0.0)
            if column.kind == "dots":
                self._color_dots(column, values, vmax)
            elif column.kind == "maps":
                for item, channel in zip(self._map_items[column.index], maps_rgba(column, values, vmax, self._lut)):
                    item.setImage(channel, autoLevels=False)
            else:
                rgba = image_rgba(column, values, vmax, self._lut, self._color_mode, self._layout.input_range)
                self._image_items[column.index].setImage(rgba, autoLevels=False)
            self._scale_labels[column.index].set_text(scale_label(column, values, vmax, self._color_mode))
        self._update_colorbar_levels(scales)

    def _color_dots(self, column: Column, values: np.ndarray | None, vmax: float) -> None:
        if values is None:  # one cached brush: a new QBrush would add a symbol to the scatter's atlas every time
            brushes = [_neutral_brush()] * column.n_nodes
        else:
            brushes = self._brush_lut[color_indices(values.reshape(-1), vmax)].tolist()
        self._scatters[column.index].setBrush(brushes)

    def _update_colorbar_levels(self, scales: dict[int, float]) -> None:
        levels, label = colorbar_levels(self._layout, scales, self._color_mode, self._scale_mode)
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
        for label, (text, bold) in zip(self._class_labels, class_label_texts(self._layout, logits, target)):
            label.set_text(text, bold=bold)

    # ------------------------------------------------------------------ edges and selection overlay
    def _update_edges(self) -> None:
        edges = select_edges(self._layout, self._aggregated, self._top_k) if self._exp is not None else []
        self._edges = [(e.layer_index, e.src, e.dst, e.values) for e in edges]
        pens = binned_segments(self._layout, edges, N_BINS, shared_scale=self._scale_mode == "global")
        for curve, segments in zip(self._edge_curves, pens):
            if len(segments):
                _set_segments(curve, segments)
                curve.setVisible(True)
            elif curve.isVisible():
                _set_segments(curve, segments)
                curve.setVisible(False)
        self._update_overlay()

    def _update_overlay(self) -> None:
        selection = self._selection
        for curve in self._overlay_curves:
            _set_segments(curve, _EMPTY.reshape(0, 2))
        self._ring.setData([], [])
        _set_segments(self._rect, _EMPTY.reshape(0, 2))
        opacity = 0.3 if selection is not None and self._exp is not None else 1.0
        if self._edge_curves and self._edge_curves[0].opacity() != opacity:
            for curve in self._edge_curves:
                curve.setOpacity(opacity)
        if selection is None or self._layout is None:
            return
        marker = selection_marker(self._layout, *selection)
        if marker.kind == "ring":
            self._ring.setData([marker.centre[0]], [marker.centre[1]], size=marker.size)
        else:
            _set_segments(self._rect, marker.segments)
        if self._exp is None:
            return
        parts = overlay_segments(self._layout, self._aggregated, self._exp.messages, *selection)
        for curve, segments in zip(self._overlay_curves, parts):
            if len(segments):
                _set_segments(curve, segments)

    # ------------------------------------------------------------------ export
    def _write_image(self, path: str, suffix: str, scale: float) -> None:
        """Render into ``path`` (a temporary file with the target's suffix)."""
        source = self._view.viewport().rect()
        if suffix == ".svg":
            self._write_svg(path, source)
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

    def _write_svg(self, path: str, source: QtCore.QRect) -> None:
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
