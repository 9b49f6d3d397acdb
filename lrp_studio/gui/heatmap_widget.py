"""The input heatmap: the sample, its relevance map (optionally over the sample) and a colour bar.

Colours come from :mod:`lrp_studio.viz` (the same code the PNG export uses), with symmetric
scaling: zero relevance is the colour map's centre and +-max|R| its ends.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Signal
from PySide6.QtWidgets import QCheckBox, QComboBox, QHBoxLayout, QLabel, QVBoxLayout, QWidget

from lrp_studio.gui.axes import plain_axes
from lrp_studio.gui.state import AppState
from lrp_studio.gui.feature_bars import show_feature_bars
from lrp_studio.viz import COLORMAPS, DIVERGING, get_colormap, heatmap_rgba, overlay, relevance_to_2d

COLORMAP_LABELS = {"bwr": "blue-white-red", "seismic": "seismic", "coldnhot": "cold-n-hot", "cbsafe": "colour-blind safe",
                   "gray": "gray"}


def style_plot(item: pg.PlotItem) -> None:
    """Dark axes and text on a white background, values shown as they are (:func:`plain_axes`)."""
    for name in ("left", "bottom", "right", "top"):
        axis = item.getAxis(name)
        axis.setPen(pg.mkPen("#444"))
        axis.setTextPen(pg.mkPen("#222"))
    plain_axes(item)


def as_image(values: np.ndarray) -> np.ndarray:
    """One sample's relevance or input as a 2-D array (flat inputs: square if possible, else one row)."""
    array = np.asarray(values, dtype=np.float32)
    if array.ndim == 3 and array.shape[0] in (1, 3) and array.shape[0] != 3:
        array = array[0]
    elif array.ndim == 3:
        array = relevance_to_2d(array)
    if array.ndim == 1:
        side = int(round(np.sqrt(array.size)))
        array = array.reshape(side, side) if side * side == array.size and side > 2 else array.reshape(1, -1)
    return array


def display_input(values: np.ndarray) -> np.ndarray:
    """One input sample as the picture shown: (H, W, 3) for colour (3, H, W), else :func:`as_image`."""
    array = np.asarray(values, dtype=np.float32)
    if array.ndim == 3 and array.shape[0] == 3:
        return np.ascontiguousarray(np.moveaxis(array, 0, -1))
    return as_image(array)


def pg_colormap(name: str) -> pg.ColorMap:
    lut = get_colormap(name)
    return pg.ColorMap(np.linspace(0.0, 1.0, len(lut)), lut)


class HeatmapView(QWidget):
    """Input sample and relevance heatmap with colour bar, colour-map choice and overlay toggle."""

    colormapChanged = Signal(str)

    def __init__(self, state: AppState, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("heatmapView")
        self.state = state
        self.rgba: np.ndarray | None = None
        self.vmax = 1.0
        self.n_updates = 0

        self.caption = QLabel("No explanation yet")
        self.caption.setWordWrap(True)
        self.cmap_combo = QComboBox()
        for name in COLORMAPS:
            self.cmap_combo.addItem(COLORMAP_LABELS.get(name, name), name)
        self.cmap_combo.setToolTip("Colour map: red = positive relevance (evidence for the class), "
                                   "blue = negative (evidence against), centre colour = 0.")
        self.overlay_box = QCheckBox("Overlay on input")
        self.overlay_box.setToolTip("Blend the heatmap over the grey input image.")
        controls = QHBoxLayout()
        controls.addWidget(QLabel("Colours:"))
        controls.addWidget(self.cmap_combo, 1)
        controls.addWidget(self.overlay_box)

        self.canvas = pg.GraphicsLayoutWidget()
        self.canvas.setBackground("w")
        self.canvas.setMinimumHeight(150)
        self.input_plot = self.canvas.addPlot(row=0, col=0, title="input")
        self.heat_plot = self.canvas.addPlot(row=0, col=1, title="relevance")
        for plot in (self.input_plot, self.heat_plot):
            plot.hideAxis("left")
            plot.hideAxis("bottom")
            plot.setAspectLocked(True)
            plot.invertY(True)
            plot.setMouseEnabled(False, False)
            plot.hideButtons()
            plot.setMenuEnabled(False)
            plain_axes(plot)  # hidden axes, shown as they are if a user turns them on
        self.input_item = pg.ImageItem(axisOrder="row-major")
        self.heat_item = pg.ImageItem(axisOrder="row-major")
        self.input_plot.addItem(self.input_item)
        self.heat_plot.addItem(self.heat_item)
        self.colorbar = pg.ColorBarItem(values=(-1.0, 1.0), colorMap=pg_colormap("bwr"), interactive=False,
                                        width=14, label="relevance", colorMapMenu=False)
        style_plot(self.colorbar)
        self.colorbar.axis.setWidth(66)  # pyqtgraph's 45 px hides labels such as "-0.0692" (5 significant places)
        self._colorbar_ticks: list[tuple[float, str]] = []
        self._label_colorbar(1.0)
        self.canvas.addItem(self.colorbar, row=0, col=2)
        self.canvas.ci.layout.setColumnStretchFactor(0, 2)
        self.canvas.ci.layout.setColumnStretchFactor(1, 3)

        layout = QVBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 4)
        layout.addWidget(self.caption)
        layout.addWidget(self.canvas, 1)
        layout.addLayout(controls)

        self.cmap_combo.currentIndexChanged.connect(self._colormap_changed)
        self.overlay_box.toggled.connect(lambda _: self.refresh())
        state.explanationChanged.connect(self.refresh)
        state.sampleChanged.connect(self._show_input)
        state.datasetChanged.connect(self._show_input)

    # ------------------------------------------------------------------ public
    @property
    def colormap(self) -> str:
        return str(self.cmap_combo.currentData())

    def set_colormap(self, name: str) -> None:
        index = self.cmap_combo.findData(name)
        if index >= 0:
            self.cmap_combo.setCurrentIndex(index)

    @property
    def overlay_enabled(self) -> bool:
        return self.overlay_box.isChecked()

    def set_overlay(self, enabled: bool) -> None:
        self.overlay_box.setChecked(enabled)

    def refresh(self) -> None:
        """Redraw from the state's current explanation."""
        exp = self.state.explanation
        index = self.state.explained_index
        if exp is None or index is None or index >= len(self.state.dataset) or (index < 0 and self.state.custom_input is None):
            return
        image = self.state.input_at(index)  # a custom (drawn) input has index CUSTOM_INDEX
        if not show_feature_bars(self, exp.relevance[0]):  # named tabular features: a bar chart instead
            self._draw_maps(exp, image)
        self._caption(exp, index)

    def _draw_maps(self, exp: Any, image: np.ndarray) -> None:
        """The input and relevance images, with the colour bar (and the overlay when ticked)."""
        relevance2d = as_image(exp.relevance[0])
        self.vmax = float(np.max(np.abs(relevance2d))) or 1.0
        rgba = heatmap_rgba(relevance2d, cmap=self.colormap, vmax=self.vmax)
        input2d = display_input(image)
        if self.overlay_enabled and input2d.shape[:2] == relevance2d.shape:  # colour inputs: over the colour image
            picture = image if input2d.ndim == 3 else input2d
            rgba = overlay(rgba, np.asarray(picture), alpha=0.65, input_range=self.state.dataset.input_range)
        self.rgba = rgba
        self.heat_item.setImage(rgba, autoLevels=False, levels=(0, 255))
        self._label_colorbar(self.vmax)
        self._set_input_image(input2d)

    def _caption(self, exp: Any, index: int) -> None:
        target = int(exp.targets[0])
        classes = self.state.net.classes
        predicted = int(self.state.predicted_class(exp.logits[0]))
        label = int(self.state.dataset.y[index]) if index >= 0 else None
        total = float(np.sum(exp.relevance[0]))
        kind = "predicted" if self.state.target is None else "chosen"
        self.caption.setText(
            (f"<b>Sample #{index}</b> (label {self._name(label)}, " if label is not None else "<b>Your input</b> (")
            + f"predicted {self._name(predicted)}) &mdash; "
            f"<b>{exp.method}</b> explains class <b>{classes[target]}</b> ({kind}); "
            f"&Sigma;R = {total:.3g}, logit {float(exp.logits[0, target]):.3g}" + self._warning(exp))
        self.n_updates += 1

    # ------------------------------------------------------------------ internals
    def _label_colorbar(self, vmax: float) -> None:
        """Label the bar's fixed (-1, 1) range with -vmax .. vmax.

        The bar keeps one range and only its five tick labels change: a new range would make
        pyqtgraph re-derive the ticks of both bar axes on every explanation (~3 ms a repaint).
        """
        ticks = [(-1.0, f"{-vmax:.3g}"), (-0.5, f"{-vmax / 2:.3g}"), (0.0, "0"), (0.5, f"{vmax / 2:.3g}"),
                 (1.0, f"{vmax:.3g}")]
        if ticks != self._colorbar_ticks:
            self._colorbar_ticks = ticks
            self.colorbar.axis.setTicks([ticks])

    def _warning(self, exp: object) -> str:
        """A note when the picture is uniform by construction (flat rule on a dense first layer)."""
        net = self.state.net
        linear = net.linear_indices
        rule = getattr(exp, "rules", {}).get(linear[0], "") if linear else ""
        if rule.startswith("flat") and net.layers[linear[0]].type_name == "dense":
            return ("<br><span style='color:#b35900'>The flat rule on a dense first layer spreads relevance "
                    "evenly over all inputs: the map is uniform by construction.</span>")
        return ""

    def _name(self, label: int) -> str:
        names = self.state.dataset.classes
        return names[label] if 0 <= label < len(names) else str(label)

    def _set_input_image(self, input2d: np.ndarray) -> None:
        low, high = self.state.dataset.input_range
        self.input_item.setImage(input2d, autoLevels=False, levels=(low, high))

    def _show_input(self, *_: object) -> None:
        if len(self.state.dataset):
            self._set_input_image(display_input(self.state.sample()))

    def _colormap_changed(self) -> None:
        name = self.colormap
        self.colorbar.setColorMap(pg_colormap(name))
        if name not in DIVERGING:
            self.colorbar.setToolTip("gray: black = most negative, white = most positive")
        self.refresh()
        self.colormapChanged.emit(name)
