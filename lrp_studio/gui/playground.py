"""The 2-D playground: data, decision boundary and every hidden neuron over the input plane.

For networks with two inputs (the toy datasets) :class:`PlaygroundView` shows the dataset as
points coloured by class over an image of the network's decision (the probability of class 1 on a
grid over the data range, padded 10 %; white is the decision boundary, drawn as a line too), and a
thumbnail per hidden neuron of its post-activation output over the same grid, or, toggled, its
relevance for the predicted class (the whole grid explained in one call). Everything is computed
by :mod:`lrp_studio.lrp.grid` in the window's compute worker and follows the weights
while the training panel trains. Clicking the plane explains that point.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QRectF, QSize, Qt, QTimer, Signal
from PySide6.QtGui import QImage, QPixmap
from PySide6.QtWidgets import (
    QComboBox, QFrame, QGridLayout, QHBoxLayout, QLabel, QPushButton, QScrollArea, QSizePolicy, QVBoxLayout, QWidget,
)

from lrp_studio.gui.dock_tabs import tabify_when_shown
from lrp_studio.gui.heatmap_widget import pg_colormap, style_plot
from lrp_studio.gui.state import AppState
from lrp_studio.lrp import BASELINES
from lrp_studio.viz import get_colormap, heatmap_rgba
from lrp_studio.lrp.grid import decision_map, grid_points, hidden_stages, neuron_maps, relevance_maps

RESOLUTION = 80
PADDING = 0.1
THUMB = 56          # starting thumbnail size; it follows the dock's width (THUMB_RANGE)
THUMB_RANGE = (30, 84)
COLUMNS = 8
CLASS_COLORS = ["#2166ac", "#b2182b", "#1b9e77", "#d95f02", "#7570b3", "#e7298a", "#66a61e", "#e6ab02"]
JOB_KEY = "playground"


def compute_playground(net: Any, x: np.ndarray, mode: str, explain_args: dict[str, Any] | None) -> dict[str, Any]:
    """Grid, decision map and per-stage neuron maps (outputs or relevance) for ``net`` on data ``x``."""
    points, extent = grid_points(x, RESOLUTION, PADDING)
    result: dict[str, Any] = {"extent": extent, "decision": decision_map(net, points), "mode": mode, "note": ""}
    if mode == "relevance" and explain_args is not None:
        args = dict(explain_args)
        method = args.pop("method")
        maps = {} if isinstance(method, str) and method in BASELINES else relevance_maps(net, points, method, **args)
        if not maps and hidden_stages(net):
            result["note"] = "baselines give no hidden-layer relevance: showing the neurons' outputs"
            maps, result["mode"] = neuron_maps(net, points), "output"
    else:
        maps = neuron_maps(net, points)
    result["maps"] = maps
    return result


def _pixmap(rgba: np.ndarray, size: int) -> QPixmap:
    data = np.ascontiguousarray(np.flipud(rgba))  # row 0 is the lowest y: draw it at the bottom
    image = QImage(data.data, data.shape[1], data.shape[0], data.strides[0], QImage.Format.Format_RGBA8888)
    return QPixmap.fromImage(image.copy()).scaled(size, size, Qt.AspectRatioMode.IgnoreAspectRatio,
                                                  Qt.TransformationMode.SmoothTransformation)


class PlaygroundView(QWidget):
    """Decision boundary and hidden-neuron thumbnails of a 2-input network (see the module doc)."""

    openDatasetRequested = Signal(str)

    def __init__(self, state: AppState, worker: Any = None, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("playground")
        self.state = state
        self.worker = worker
        self.result: dict[str, Any] | None = None
        self.n_updates = 0
        self._request: int | None = None
        self.thumb_size = THUMB

        self.info = QLabel()
        self.info.setObjectName("playgroundInfo")
        self.info.setWordWrap(True)
        self.mode_combo = QComboBox()
        self.mode_combo.setObjectName("playgroundMode")
        self.mode_combo.addItem("output (activation)", "output")
        self.mode_combo.addItem("relevance", "relevance")
        self.mode_combo.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon)
        self.mode_combo.setMinimumContentsLength(8)
        self.mode_combo.setToolTip("Thumbnails show each hidden neuron's output over the plane, or its relevance "
                                   "(current method) for the predicted class at every point.")
        self.toy_button = QPushButton("Open toy:moons")
        self.toy_button.setToolTip("Open the two-moons toy dataset with the notes' binary classifier.")
        controls = QHBoxLayout()
        controls.addWidget(QLabel("Neurons show:"))
        controls.addWidget(self.mode_combo, 1)

        # decision boundary with the data
        self.plot_widget = pg.GraphicsLayoutWidget()
        self.plot_widget.setBackground("w")
        self.plot_widget.setObjectName("playgroundPlot")
        self.plot_widget.setMinimumSize(200, 200)
        self.plot = self.plot_widget.addPlot(row=0, col=0)
        style_plot(self.plot)
        self.plot.setLabel("bottom", "x\u2081")
        self.plot.setLabel("left", "x\u2082")
        self.plot.setAspectLocked(False)
        self.plot.hideButtons()
        self.plot.setMenuEnabled(False)
        self.boundary_item = pg.ImageItem(axisOrder="row-major")
        lut = get_colormap("bwr")
        self.boundary_item.setLookupTable(lut)
        self.boundary_item.setLevels((0.0, 1.0))
        self.boundary_item.setOpacity(0.75)
        self.plot.addItem(self.boundary_item)
        self.isocurve = pg.IsocurveItem(level=0.5, pen=pg.mkPen("#222", width=1.5), axisOrder="row-major")
        self.isocurve.setParentItem(self.boundary_item)
        self.scatters: list[pg.ScatterPlotItem] = []
        self.current_marker = pg.ScatterPlotItem(size=16, pen=pg.mkPen("#111", width=2.5), brush=pg.mkBrush(0, 0, 0, 0),
                                                 symbol="o")
        self.current_marker.setZValue(20)
        self.plot.addItem(self.current_marker)
        self.colorbar = pg.ColorBarItem(values=(0.0, 1.0), colorMap=pg_colormap("bwr"), interactive=False, width=12,
                                        label="P(class 1)", colorMapMenu=False)
        style_plot(self.colorbar)
        self.plot_widget.addItem(self.colorbar, row=0, col=1)
        self.plot_widget.scene().sigMouseClicked.connect(self._plane_clicked)

        # thumbnails
        self.thumb_host = QWidget()
        self.thumb_host.setObjectName("playgroundThumbnails")
        self.thumb_grid = QGridLayout(self.thumb_host)
        self.thumb_grid.setContentsMargins(2, 2, 2, 2)
        self.thumb_grid.setHorizontalSpacing(3)
        self.thumb_grid.setVerticalSpacing(2)
        self.thumb_labels: dict[tuple[int, int], QLabel] = {}
        self.layer_labels: dict[int, QLabel] = {}
        scroll = QScrollArea()
        scroll.setWidget(self.thumb_host)
        scroll.setWidgetResizable(True)
        scroll.setFrameShape(QFrame.Shape.NoFrame)
        scroll.setMinimumHeight(120)
        self.thumb_scroll = scroll
        self.thumb_caption = QLabel()
        self.thumb_caption.setWordWrap(True)
        self.thumb_caption.setStyleSheet("color:#444")

        layout = QVBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 4)
        layout.addWidget(self.info)
        layout.addWidget(self.toy_button, 0, Qt.AlignmentFlag.AlignLeft)
        layout.addLayout(controls)
        layout.addWidget(self.plot_widget, 5)
        layout.addWidget(self.thumb_caption)
        layout.addWidget(scroll, 4)

        self.mode_combo.currentIndexChanged.connect(lambda _: self.request())
        self.toy_button.clicked.connect(lambda: self.openDatasetRequested.emit("toy:moons"))
        state.modelChanged.connect(self._structure_changed)
        state.datasetChanged.connect(self._structure_changed)
        state.weightsChanged.connect(self.request)
        state.methodChanged.connect(self._method_changed)
        state.sampleChanged.connect(self._show_current)
        if worker is not None:
            worker.finished.connect(self._job_finished)
            worker.failed.connect(self._job_failed)
        self._structure_changed()

    # ------------------------------------------------------------------ public
    @property
    def mode(self) -> str:
        return str(self.mode_combo.currentData())

    def set_mode(self, mode: str) -> None:
        index = self.mode_combo.findData(mode)
        if index >= 0:
            self.mode_combo.setCurrentIndex(index)

    def applies(self) -> bool:
        """Whether the shown network and dataset are 2-D (the playground has something to show)."""
        state = self.state
        return tuple(state.net.input_shape) == (2,) and tuple(state.dataset.sample_shape) == (2,) and len(state.dataset) > 0

    def boundary_image(self) -> np.ndarray | None:
        return None if self.result is None else self.result["decision"]

    def thumbnail_count(self) -> int:
        return len(self.thumb_labels)

    def request(self, *_: Any) -> None:
        """Recompute the maps for the current weights (in the worker when there is one)."""
        if not self.applies():
            return
        net, x, mode = self.state.net, np.asarray(self.state.dataset.x), self.mode
        args = self.state.explain_arguments() if mode == "relevance" else None
        if self.worker is None:
            self._show(compute_playground(net, x, mode, args))
            return
        self._request = self.worker.submit(JOB_KEY, compute_playground, net, x, mode, args)

    # ------------------------------------------------------------------ reacting
    def _method_changed(self) -> None:
        if self.mode == "relevance":
            self.request()

    def _job_finished(self, key: str, request_id: int, result: Any) -> None:
        if key != JOB_KEY or not self.worker.is_current(key, request_id):
            return
        self._request = None
        self._show(result)

    def _job_failed(self, key: str, request_id: int, message: str) -> None:
        if key != JOB_KEY or not self.worker.is_current(key, request_id):
            return
        self._request = None
        self.thumb_caption.setText("Playground failed: " + message.strip().splitlines()[-1])

    def _structure_changed(self) -> None:
        """New network or dataset: rebuild the scatter and the thumbnail grid, then compute."""
        applies = self.applies()
        self.mode_combo.setEnabled(applies)
        self.plot_widget.setVisible(applies)
        self.thumb_scroll.setVisible(applies)
        self.toy_button.setVisible(not applies)
        self._clear_thumbnails()
        if not applies:
            self.result = None
            self.info.setText("The playground shows networks with two inputs: the decision boundary over the plane "
                              "and what every hidden neuron computes. Open a toy dataset (Samples dock: toy: moons, "
                              "circles, xor, spiral, gaussians).")
            self.thumb_caption.setText("")
            return
        net, dataset = self.state.net, self.state.dataset
        hidden = [net.shapes[stage][0] for stage in hidden_stages(net)]
        sizes = "-".join(str(v) for v in [2, *hidden, net.n_classes])
        kind = ("one output, sigmoid + cross-entropy (the notes' binary classifier)" if net.n_classes == 1
                else f"{net.n_classes} outputs, softmax")
        self.info.setText(f"<b>{dataset.name}</b> &middot; network {sizes} ({kind}). Train it in the Training dock: "
                          "the boundary and the neurons follow the weights. Background: P(class 1); click the plane "
                          "to explain that point.")
        self._build_scatter()
        self._build_thumbnails()
        self._show_current()
        self.request()

    def _build_scatter(self) -> None:
        for item in self.scatters:
            self.plot.removeItem(item)
        self.scatters = []
        dataset = self.state.dataset
        x = np.asarray(dataset.x)
        keys = " ".join(f"<span style='color:{CLASS_COLORS[k % len(CLASS_COLORS)]}'>\u25cf</span> class {name}"
                        for k, name in enumerate(dataset.classes))
        self.plot.setTitle(f"<span style='color:#222'>{keys} &nbsp; \u2014 boundary P = 0.5</span>", size="9pt")
        for k, name in enumerate(dataset.classes):
            points = x[dataset.y == k]
            color = CLASS_COLORS[k % len(CLASS_COLORS)]
            item = pg.ScatterPlotItem(points[:, 0], points[:, 1], size=7, pen=pg.mkPen("w", width=0.8),
                                      brush=pg.mkBrush(color), name=f"class {name}")
            item.setZValue(10)
            self.plot.addItem(item)
            self.scatters.append(item)
        _, extent = grid_points(x, 2, PADDING)
        self.plot.setRange(xRange=extent[:2], yRange=extent[2:], padding=0)

    def _clear_thumbnails(self) -> None:
        while self.thumb_grid.count():
            item = self.thumb_grid.takeAt(0)
            if item.widget() is not None:
                item.widget().deleteLater()
        self.thumb_labels.clear()
        self.layer_labels.clear()

    def _build_thumbnails(self) -> None:
        net = self.state.net
        row = 0
        columns = COLUMNS
        for number, stage in enumerate(hidden_stages(net), start=1):
            units = net.shapes[stage][0]
            activation = net.layers[stage - 1].type_name
            header = QLabel(f"<b>hidden layer {number}</b> &middot; {units} neurons ({activation})")
            header.setStyleSheet("color:#222")
            self.thumb_grid.addWidget(header, row, 0, 1, columns)
            self.layer_labels[stage] = header
            row += 1
            for unit in range(units):
                label = QLabel()
                label.setObjectName(f"neuron_{stage}_{unit}")
                label.setFixedSize(QSize(self.thumb_size, self.thumb_size))
                label.setFrameShape(QFrame.Shape.Box)
                label.setStyleSheet("QLabel { border: 1px solid #bbb; background: #fafafa; }")
                label.setSizePolicy(QSizePolicy.Policy.Fixed, QSizePolicy.Policy.Fixed)
                self.thumb_grid.addWidget(label, row + unit // columns, unit % columns)
                self.thumb_labels[(stage, unit)] = label
            row += (units + columns - 1) // columns
        self.thumb_grid.setRowStretch(row, 1)
        self.thumb_grid.setColumnStretch(columns, 1)

    def _show(self, result: dict[str, Any]) -> None:
        if not self.applies():
            return
        self.result = result
        x0, x1, y0, y1 = result["extent"]
        decision = result["decision"]
        rows, cols = decision.shape
        dx, dy = (x1 - x0) / (cols - 1), (y1 - y0) / (rows - 1)
        self.boundary_item.setImage(decision, autoLevels=False, levels=(0.0, 1.0))
        self.boundary_item.setRect(QRectF(x0 - dx / 2, y0 - dy / 2, (x1 - x0) + dx, (y1 - y0) + dy))
        self.isocurve.setData(decision, level=0.5)
        self._render_thumbnails()
        self.n_updates += 1

    def _render_thumbnails(self) -> None:
        result = self.result
        if result is None:
            return
        maps = result["maps"]
        what = "relevance" if result["mode"] == "relevance" else "output"
        for (stage, unit), label in self.thumb_labels.items():
            values = maps.get(stage)
            if values is None or unit >= len(values):
                continue
            image = values[unit]
            vmax = float(np.max(np.abs(image))) or 1.0
            label.setPixmap(_pixmap(heatmap_rgba(image, cmap="bwr", vmax=vmax), self.thumb_size - 2))
            label.setToolTip(f"layer stage {stage}, neuron {unit}: {what} from {float(image.min()):.3g} "
                             f"to {float(image.max()):.3g} (colours scaled to \u00b1{vmax:.3g})")
        explained = ("relevance of each neuron for the predicted class at every point"
                     + (" (one output: for the logit z, red = evidence for class 1)" if self.state.net.n_classes == 1 else "")
                     if what == "relevance" else "each neuron's output after its activation")
        note = f" <span style='color:#b35900'>{result['note']}</span>" if result.get("note") else ""
        self.thumb_caption.setText(f"Thumbnails: {explained}, over the same plane; red positive, blue negative, "
                                   f"white zero, each scaled to its own maximum.{note}")

    def resizeEvent(self, event: Any) -> None:  # noqa: N802 (Qt API)
        """Thumbnails follow the width: eight per row."""
        super().resizeEvent(event)
        width = event.size().width() - 30 - (COLUMNS - 1) * self.thumb_grid.horizontalSpacing()
        size = int(np.clip(width // COLUMNS, *THUMB_RANGE))
        if size != self.thumb_size:
            self.thumb_size = size
            for label in self.thumb_labels.values():
                label.setFixedSize(QSize(size, size))
            self._render_thumbnails()

    def _show_current(self, *_: Any) -> None:
        if not self.applies():
            self.current_marker.setData([], [])
            return
        point = np.asarray(self.state.sample(), np.float64).reshape(-1)
        self.current_marker.setData([point[0]], [point[1]])

    def _plane_clicked(self, event: Any) -> None:
        if not self.applies() or event.button() != Qt.MouseButton.LeftButton:
            return
        view = self.plot.getViewBox()
        if not view.sceneBoundingRect().contains(event.scenePos()):
            return
        point = view.mapSceneToView(event.scenePos())
        self.state.set_custom_input(np.array([point.x(), point.y()], np.float32))


def install_playground_dock(window: Any) -> PlaygroundView:
    """Add the "2-D playground" dock (tabbed with the heatmap); raise it when a 2-D dataset opens."""
    view = PlaygroundView(window.state, window.controller)
    dock = window._dock("playground", "2-D playground", view, Qt.DockWidgetArea.RightDockWidgetArea,
                        "Toy datasets: the decision boundary and every hidden neuron over the input plane.")
    heatmap = window.docks.get("heatmap")
    if heatmap is not None:
        tabify_when_shown(window, heatmap, dock)
    view.openDatasetRequested.connect(window.open_dataset)

    shown_for: list[Any] = [None]

    def dataset_changed() -> None:
        """Raise the dock once per 2-D dataset (the model follows the dataset: check after either changes)."""
        if not view.applies():
            return
        if shown_for[0] is window.state.dataset:
            return
        shown_for[0] = window.state.dataset
        dock.show()
        dock.raise_()
        QTimer.singleShot(0, give_room)

    def give_room() -> None:
        """Most of the right column's height and a third of the width for the playground (docked only)."""
        if dock.isFloating() or not dock.isVisible():
            return
        inspector = window.docks.get("inspector")
        if dock.height() < 0.6 * window.height() and inspector is not None and inspector.isVisible():
            window.resizeDocks([dock, inspector], [int(window.height() * 0.66), int(window.height() * 0.2)],
                               Qt.Orientation.Vertical)
        if dock.width() < 0.3 * window.width():
            window.resizeDocks([dock], [int(window.width() * 0.33)], Qt.Orientation.Horizontal)

    window.state.datasetChanged.connect(dataset_changed)
    window.state.modelChanged.connect(dataset_changed)
    window.playground = view
    window.playground_dock = dock
    return view


__all__ = ["PlaygroundView", "compute_playground", "install_playground_dock"]
