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
from lrp_studio.gui.axes import plain_axes
from lrp_studio.gui.edge_curve import EdgeCurve
from lrp_studio.gui.graph_markers import GraphMarkers
from lrp_studio.viz.graph_focus import apply_focus, focus_units
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
    stagger_rows,
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
#: The line under the graph while it names no unit with values.
STATUS_HINT = "Scroll to zoom, drag to pan, Home to fit. Click a neuron to select it; arrow keys move, Enter inspects."

Z_TRACK, Z_EDGES, Z_NODES, Z_OVERLAY, Z_RING, Z_TEXT = -10, 0, 10, 15, 20, 30

#: Pixels between two header rows, and kept free above the highest header when fitting the view
#: (0: the fitted range grows only where a header would be cut off, so sequential views stay as they were).
HEADER_ROW_GAP, HEADER_MARGIN_PX = 4.0, 0.0
#: A title may reach this many pixels into its scale label's box (the empty line spacing above the
#: digits); where the layout's gap is smaller at the current scale the title moves up.
OWN_LABEL_OVERLAP_PX = 6.0
#: Smallest font (points) of the class labels beside the output dots when those stand close, and the
#: share of the pixel spacing a dot may fill there (dots are sized in pixels, their spacing in scene units).
MIN_LABEL_POINTS, DOT_FILL = 6.0, 0.9
#: Fill behind the header of a column stacked below another (edges pass behind it).
STACKED_HEADER_FILL = (255, 255, 255, 215)

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
        self._anchor, self._offset, self._shift = anchor, offset, 0.0
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
        self._place()

    def fit_height(self, pixels: float) -> None:
        """Use a smaller font (down to MIN_LABEL_POINTS) where a line is taller than ``pixels``."""
        base = self._base_points
        line = QtGui.QFontMetricsF(self._font_at(base)).height()
        points = base if line <= pixels else max(MIN_LABEL_POINTS, base * pixels / line)
        if abs(points - self._font.pointSizeF()) < 0.05:
            return
        bold = self.font().bold()
        self._font, self._bold = self._font_at(points), self._font_at(points)
        self._bold.setBold(True)
        self.setFont(self._bold if bold else self._font)
        self._place()

    def set_shift(self, dy: float) -> None:
        """Move the label ``dy`` pixels down from its anchor point (to spread close labels)."""
        if abs(dy - self._shift) > 0.01:
            self._shift = dy
            self._place()

    def line_height(self) -> float:
        """Height in pixels of one line in the current font."""
        return QtGui.QFontMetricsF(self.font()).height()

    def _font_at(self, points: float) -> QtGui.QFont:
        font = QtGui.QFont(self._font)
        font.setBold(False)
        font.setPointSizeF(points)
        return font

    @property
    def _base_points(self) -> float:
        return QtGui.QFont().pointSizeF()

    def _place(self) -> None:
        rect = self.boundingRect()
        # with ItemIgnoresTransformations the transform works in pixels around pos()
        self.setTransform(QtGui.QTransform.fromTranslate(
            self._offset[0] - self._anchor[0] * rect.width(),
            self._offset[1] + self._shift - self._anchor[1] * rect.height()))


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
        self._net = None
        self.markers = GraphMarkers(self._relayout)  # node limits, "+ k more", collapsible residual blocks

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
        self._titles: dict[int, tuple[pg.TextItem, float, float]] = {}  # column -> (item, x, title y)
        self._title_html: dict[int, tuple[str, str]] = {}  # column -> (full, compact) header
        self._title_sizes: dict[int, dict[bool, QtCore.QSizeF]] = {}  # column -> pixel size by compactness
        self._header_positions: list[tuple[float, float, float]] = []  # the layout's, per column
        self._compact_headers = False
        self._header_rows: dict[int, int] = {}
        self._new_overlay_items()
        self._fit_target: QtCore.QRectF | None = None  # the range reset_zoom asked for last
        self._vb.sigRangeChanged.connect(self._stagger_headers)
        self._vb.sigRangeChanged.connect(self._fit_dots_to_scale)
        self._vb.sigResized.connect(self._on_resized)

        scene = self._view.scene()
        scene.sigMouseClicked.connect(self._on_click)
        scene.sigMouseMoved.connect(self._on_mouse_moved)

    # ------------------------------------------------------------------ public interface
    def set_network(self, net) -> None:
        """Rebuild the columns for ``net`` (clears the explanation and the selection)."""
        self._exp = None
        self._selection = None
        self._hover = None
        self._net = net
        self._layout = build_layout(net, self.markers.reset(net))
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
        apply_focus(self._layout, focus_units(self._layout, self._relevances, self._activations, self._selection))
        self._exp = exp
        self._aggregated = connection_messages(self._layout, exp.messages, exp.layers)
        self._recolor()
        self._update_edges()
        self._update_class_labels()
        self.refresh_status()  # the line under the graph shows this explanation's values, never an older one's

    def _relayout(self) -> None:
        """Lay the network out again with the markers' limits, keeping the explanation and selection."""
        if self._net is None:
            return
        exp, selection = self._exp, self._selection
        self._layout = build_layout(self._net, self.markers.shown)
        self._activations, self._relevances, self._aggregated, self._edges = {}, {}, {}, []
        self._exp = None
        self._selection = selection if selection is not None and self._column(selection[0]) is not None else None
        self._build_items()
        if exp is not None:
            self.set_explanation(exp)
        self._update_overlay()

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
        self._refocus()
        self._update_overlay()
        self._show_unit_status(self._selection)

    def _refocus(self) -> None:
        """Draw the selected unit in its capped column (in place of the weakest) if it is not drawn."""
        if self._exp is None:
            return
        focus = focus_units(self._layout, self._relevances, self._activations, self._selection)
        if apply_focus(self._layout, focus):
            self._recolor()
            self._update_edges()

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
        """Show the whole network again (also the Home key).

        Headers that would overlap at the fitted scale are lifted into rows above the header
        line; the fitted range grows upwards until the highest of them is inside it.
        """
        if self._layout is None:
            return
        rect = QtCore.QRectF(self._bounds)
        for _ in range(6):
            self._vb.setRange(rect=rect, padding=0.0)
            self._stagger_headers()
            needed = self._headers_top() - HEADER_MARGIN_PX * self._pixel_size()[1]
            below = self._headers_bottom()
            view = self._vb.viewRect()
            if needed >= view.top() - 1e-9 and below <= view.bottom() + 1e-9:
                break
            rect.setTop(min(rect.top(), needed - 2.0 * self._pixel_size()[1]))  # 2 px slack: the scale shrinks
            rect.setBottom(max(rect.bottom(), below + 2.0 * self._pixel_size()[1]))
        self._fit_target = self._vb.targetRect()

    @property
    def _fitted(self) -> bool:
        """Whether the view shows what reset_zoom fitted (not zoomed or panned since)."""
        target = self._fit_target
        if target is None:
            return False
        now = self._vb.targetRect()
        scale = max(target.width(), target.height(), 1e-12)
        return all(abs(a - b) <= 1e-6 * scale for a, b in zip(
            (now.left(), now.top(), now.right(), now.bottom()),
            (target.left(), target.top(), target.right(), target.bottom())))

    def _on_resized(self, *_: object) -> None:
        """A fitted view is fitted again at its new size (the headers' room depends on the scale)."""
        if self._fitted:
            self.reset_zoom()

    def header_rows(self) -> dict[int, int]:
        """Row of each column's header: 0 on the header line, 1, 2, ... lifted above it (read-out)."""
        return dict(self._header_rows)

    def header_items(self) -> dict[int, pg.TextItem]:
        """The title item of each column (read-out for tests)."""
        return {index: item for index, (item, _, _) in self._titles.items()}

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
        if not event.double() and self.markers.click(self._view, event.scenePos()):
            event.accept()  # "+ k more", "expand block", ...: the layout changed
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
        plain_axes(colorbar)
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
        self._titles, self._header_rows, self._title_html, self._compact_headers = {}, {}, {}, False
        self._title_sizes = {}
        self._new_overlay_items()
        for curve in self._edge_curves + self._overlay_curves + [self._ring, self._rect]:
            self._vb.addItem(curve)
        layout = self._layout
        builders = {"dots": self._build_dots, "maps": self._build_maps, "image": self._build_image}
        self._header_positions = layout.header_positions()
        for column, (x, title_y, scale_y) in zip(layout.columns, self._header_positions):
            builders[column.kind](column)
            self._add_header(column, x, title_y, scale_y)
        self._build_class_labels(layout)
        self.markers.build(layout, self._vb)
        self._bounds = self.markers.room(QtCore.QRectF(*layout.bounds()))
        for curve in self._edge_curves + self._overlay_curves + [self._rect]:
            curve.set_extent(self._bounds)
        self.reset_zoom()
        self._fit_dots_to_scale()
        self._update_overlay()

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
        if ops and column.band:  # stacked below another column: one line (the size is in the tooltip)
            lines[0] += f"<span style='color:#555'> · {' · '.join(ops)}</span>"
        elif ops:
            lines.append(f"<span style='color:#555'>{' · '.join(ops)}</span>")
        if not column.band:
            lines.append(column.subtitle)
        fill = STACKED_HEADER_FILL if column.band else None
        full = f"<div style='text-align:center; color:#222'>{'<br>'.join(lines)}</div>"
        compact = f"<div style='text-align:center; color:#222'><b>{name}</b></div>"
        self._title_html[column.index] = (full, compact)
        title = pg.TextItem(html=compact, anchor=(0.5, 0.0) if column.band else (0.5, 1.0), fill=fill)
        compact_size = QtCore.QSizeF(title.textItem.boundingRect().size())
        title.setHtml(full)
        self._title_sizes[column.index] = {False: QtCore.QSizeF(title.textItem.boundingRect().size()),
                                           True: compact_size}
        title.setPos(x, title_y)
        title.setToolTip(f"{column.title}\n{column.subtitle}" + (f"\n{column.name}" if column.name else ""))
        title.setZValue(Z_TEXT)
        self._vb.addItem(title)
        self._titles[column.index] = (title, x, title_y)
        scale = _Label("", color="#555555", anchor=(0.5, 1.0))
        scale.setPos(x, scale_y)
        self._vb.addItem(scale)
        self._scale_labels[column.index] = scale

    def _stagger_headers(self, *_: object) -> None:
        """Place the headers for the current scale (titles and scale labels are sized in pixels).

        Top-line headers that would overlap are lifted, title and scale label together, into
        rows above the line (:func:`stagger_rows`); where none overlaps they keep the layout's
        positions. A stacked column's one-line header sits right above its own scale label.
        """
        if self._layout is None or not self._titles:
            return
        px, py = self._pixel_size()
        if not (px > 0 and py > 0):
            return
        columns = self._layout.columns
        top_line = [c.index for c in columns if c.band == 0 and c.index in self._titles]
        label_size = {i: label.boundingRect() for i, label in self._scale_labels.items()}
        for compact in (False, True):  # full headers, or names only when they would need 2+ rows
            title_size = {i: self._title_sizes[i][compact] for i in top_line}
            widths = {i: max(title_size[i].width(), label_size[i].width()) for i in top_line}
            lefts = [self._titles[i][1] / px - widths[i] / 2 for i in top_line]
            rights = [self._titles[i][1] / px + widths[i] / 2 for i in top_line]
            rows = dict(zip(top_line, stagger_rows(lefts, rights)))
            if max(rows.values(), default=0) <= 1:
                break
        self._set_compact_headers(compact)
        title_h = max((title_size[i].height() for i in top_line), default=0.0)
        label_h = max((label_size[i].height() for i in top_line), default=0.0)
        positions = self._header_positions
        row_bottom = {0: None}
        base_title_y = min((min(positions[i][1], positions[i][2] - (label_size[i].height() - OWN_LABEL_OVERLAP_PX) * py)
                            for i in top_line), default=0.0)
        for row in range(1, max(rows.values(), default=0) + 1):
            top_of_previous = (base_title_y if row == 1 else row_bottom[row - 1]) - title_h * py
            row_bottom[row] = top_of_previous - HEADER_ROW_GAP * py - label_h * py  # title bottom
        footer_rows = self._footer_rows(px)
        for index, (item, x, title_y) in self._titles.items():
            column = columns[index]
            label = self._scale_labels[index]
            scale_y = positions[index][2]
            if column.band:  # under the drawing, rows downwards where two would overlap
                title_y = positions[index][1] + footer_rows.get(index, 0) * (
                    item.textItem.boundingRect().height() + HEADER_ROW_GAP) * py
            elif rows.get(index, 0):
                title_y = row_bottom[rows[index]]
                scale_y = title_y + label_h * py
            elif label.text():
                title_y = min(title_y, scale_y - (label_size[index].height() - OWN_LABEL_OVERLAP_PX) * py)
            if item.pos().y() != title_y:
                item.setPos(x, title_y)
            if label.pos().y() != scale_y:
                label.setPos(x, scale_y)
            self._header_rows[index] = rows.get(index, 0)

    def _footer_rows(self, px: float) -> dict[int, int]:
        """Row (0, 1, ... downwards) of each stacked column's header under the drawing."""
        stacked = [c.index for c in self._layout.columns if c.band and c.index in self._titles]
        widths = {i: self._titles[i][0].textItem.boundingRect().width() for i in stacked}
        lefts = [self._titles[i][1] / px - widths[i] / 2 for i in stacked]
        rights = [self._titles[i][1] / px + widths[i] / 2 for i in stacked]
        return dict(zip(stacked, stagger_rows(lefts, rights)))

    def _headers_bottom(self) -> float:
        """Lowest y (view coordinates) a stacked column's header reaches at the current scale."""
        py = self._pixel_size()[1]
        bottoms = [item.pos().y() + item.textItem.boundingRect().height() * py
                   for index, (item, _, _) in self._titles.items() if self._layout.columns[index].band]
        return max(bottoms, default=self._bounds.bottom())

    def _fit_dots_to_scale(self, *_: object) -> None:
        """Keep dots (pixel-sized) and class labels from overlapping where their spacing is few pixels."""
        if self._layout is None:
            return
        py = self._pixel_size()[1]
        if not py > 0:
            return
        if self._class_labels:  # the output dots (other dot columns may touch: many units, one band)
            column = self._layout.columns[-1]
            scatter = self._scatters[column.index]
            size = min(column.size, max(3.0, DOT_FILL * column.spacing / py))
            if abs(scatter.opts["size"] - size) > 0.25:
                scatter.setSize(size)
            spacing_px = self._layout.columns[-1].spacing / py
            for label in self._class_labels:
                label.fit_height(spacing_px)
            # still taller than the dots' spacing (smallest font): fan the labels out around their middle
            step = max(spacing_px, max(label.line_height() for label in self._class_labels))
            middle = (len(self._class_labels) - 1) / 2
            for i, label in enumerate(self._class_labels):
                label.set_shift((i - middle) * (step - spacing_px))

    def dot_sizes(self) -> dict[int, float]:
        """Drawn diameter (pixels) of each dots column's nodes now (read-out)."""
        return {index: float(scatter.opts["size"]) for index, scatter in self._scatters.items()}

    def class_label_items(self) -> list[QtWidgets.QGraphicsSimpleTextItem]:
        """The class-name labels beside the output dots (read-out)."""
        return list(self._class_labels)

    def _set_stacked_scale(self, index: int, text: str) -> None:
        """Append the scale to the one-line header of a stacked column."""
        full = self._title_html[index][0]
        html = full if not text else full.replace("</div>", f"<span style='color:#555'>&nbsp;&nbsp;{text}</span></div>")
        item = self._titles[index][0]
        if item.textItem.toHtml() != html and getattr(item, "_shown_html", None) != html:
            item.setHtml(html)
            item._shown_html = html

    def _set_compact_headers(self, compact: bool) -> None:
        """Top-line headers as full text (name, layers, size) or the name only (details in the tooltip)."""
        if compact == self._compact_headers:
            return
        self._compact_headers = compact
        for index, (item, _, _) in self._titles.items():
            if self._layout.columns[index].band == 0:
                item.setHtml(self._title_html[index][1 if compact else 0])

    def compact_headers(self) -> bool:
        """Whether the top-line headers show only the layer names (too crowded for more)."""
        return self._compact_headers

    def _pixel_size(self) -> tuple[float, float]:
        """View units per screen pixel now (``viewPixelSize`` lags behind a new range until painted)."""
        rect, size = self._vb.viewRect(), self._vb.size()
        if size.width() <= 0 or size.height() <= 0:
            return 0.0, 0.0
        return rect.width() / size.width(), rect.height() / size.height()

    def _headers_top(self) -> float:
        """Highest y (view coordinates) any header reaches at the current scale."""
        py = self._pixel_size()[1]
        tops = [item.pos().y() - item.textItem.boundingRect().height() * py for item, _, _ in self._titles.values()]
        return min(tops, default=self._bounds.top())

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
            values = column.node_values(shown.get(column.stage))  # the units the nodes show
            vmax = scales.get(column.index, 0.0)
            if column.kind == "dots":
                self._color_dots(column, values, vmax)
            elif column.kind == "maps":
                for item, channel in zip(self._map_items[column.index], maps_rgba(column, values, vmax, self._lut)):
                    item.setImage(channel, autoLevels=False)
            else:
                rgba = image_rgba(column, values, vmax, self._lut, self._color_mode, self._layout.input_range)
                self._image_items[column.index].setImage(rgba, autoLevels=False)
            text = scale_label(column, values, vmax, self._color_mode)
            if column.band:  # a stacked column: the scale joins its one-line header, on the header's fill
                self._set_stacked_scale(column.index, text)
                text = ""
            self._scale_labels[column.index].set_text(text)
        self._update_colorbar_levels(scales)
        fitted = self._fitted
        self._stagger_headers()  # the scale labels' widths changed: the headers may need other rows
        view, py = self._vb.viewRect(), self._pixel_size()[1]
        if fitted and (self._headers_top() < view.top() - py or self._headers_bottom() > view.bottom() + py):  # > 1 px out
            self.reset_zoom()  # and more room above

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
