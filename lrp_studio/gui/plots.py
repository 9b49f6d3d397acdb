"""Small plots of the explanation panel: the output bar chart (target choice) and the conservation plot."""

from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QPointF, QSignalBlocker, Qt
from PySide6.QtGui import QFont, QFontMetricsF
from PySide6.QtWidgets import QComboBox, QHBoxLayout, QLabel, QPushButton, QVBoxLayout, QWidget

from lrp_studio.gui.formatting import percent
from lrp_studio.gui.heatmap_widget import style_plot
from lrp_studio.gui.state import AppState
from lrp_studio.gui.tick_labels import fitted_labels
from lrp_studio.lrp.outputs import output_classes
from lrp_studio.nn import Conv2d, Dense
from lrp_studio.nn.layers import AvgPool2d, MaxPool2d

#: The output chart's start relevance choices: label, value for :meth:`AppState.set_start`.
START_CHOICES = (("logit", None), ("all outputs", "outputs"), ("contrast", "contrast"))

BAR_COLOR = "#9aa7b8"
TARGET_COLOR = "#e8872b"
PREDICTED_PEN = "#1f3b73"
#: Layer types whose outputs the conservation plot shows for a graph network (where they are cuts).
GRAPH_PLOTTED = frozenset({"dense", "conv2d", "maxpool2d", "avgpool2d", "globalavgpool", "add", "concat"})
#: Point size of the conservation plot's title line.
TITLE_PT = 9.0
GRAPH_LEGEND = "\u03a3 R where every path passes"
SEQUENTIAL_LEGEND = "\u03a3 R at this layer"
CONSERVATION_TIP = ("If relevance is conserved every point lies on the dashed line; a gap shows relevance "
                    "absorbed by biases or the epsilon stabiliser.")
GRAPH_TIP = (" Graph network: only the layers every path from input to output passes through are plotted "
             "(the relevance of parallel branches adds up only there), and the outputs of the additions; "
             "they are named by node.")


class OutputBars(QWidget):
    """Logits (or softmax probabilities) of the current sample; click a bar to explain that class."""

    def __init__(self, state: AppState, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("outputBars")
        self.state = state
        self.plot = pg.PlotWidget(background="w")
        self.plot.setObjectName("outputPlot")
        self.plot.setMouseEnabled(False, False)
        self.plot.hideButtons()
        self.plot.setMenuEnabled(False)
        item = self.plot.getPlotItem()
        style_plot(item)
        item.setLabel("bottom", "class")
        item.setLabel("left", "logit")
        self.bars = pg.BarGraphItem(x=[0], height=[0], width=0.7, brush=BAR_COLOR)
        self.plot.addItem(self.bars)
        self.plot.setToolTip("Click a bar to explain that class; 'Predicted' goes back to the predicted class.")

        self.mode = QComboBox()
        self.mode.addItems(["logits", "softmax"])
        self.mode.setToolTip("Show raw logits (what LRP explains) or softmax probabilities.")
        self.start_box = QComboBox()
        self.start_box.setObjectName("startBox")
        for label, value in START_CHOICES:
            self.start_box.addItem(label, value)
        self.start_box.setToolTip("Start relevance of LRP: the explained logit (default), all outputs (the notes' "
                                  "MATLAB code), or the explained class against class B (why A and not B). "
                                  "Conservation then refers to the start total. Baselines always explain the logit.")
        self.contrast_box = QComboBox()
        self.contrast_box.setObjectName("contrastBox")
        self.contrast_box.setToolTip("Class B of the contrast: relevance starts as logit A at A minus logit B at B.")
        self.predicted_button = QPushButton("Predicted")
        self.predicted_button.setToolTip("Explain the predicted class (default).")
        self.info = QLabel("Target: predicted class")
        self.info.setWordWrap(True)
        self.info.setMinimumWidth(60)
        controls = QHBoxLayout()
        controls.addWidget(QLabel("Show:"))
        controls.addWidget(self.mode)
        controls.addWidget(QLabel("Start:"))
        controls.addWidget(self.start_box)
        controls.addWidget(self.contrast_box)
        controls.addStretch(1)
        controls.addWidget(self.predicted_button)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 4)
        layout.addWidget(self.info)
        layout.addLayout(controls)
        layout.addWidget(self.plot, 1)

        self.plot.scene().sigMouseClicked.connect(self._clicked)
        self.predicted_button.clicked.connect(lambda: state.set_target(None))
        self.mode.currentIndexChanged.connect(lambda _: self.refresh())
        self.start_box.currentIndexChanged.connect(lambda _: self._start_chosen())
        self.contrast_box.currentIndexChanged.connect(lambda _: self._start_chosen())
        state.explanationSettled.connect(self.refresh)
        state.modelChanged.connect(lambda: self._set_ticks())
        self._set_ticks()

    def _start_chosen(self) -> None:
        """Send the chosen start relevance to the state (None, ``"outputs"`` or ``("contrast", None, B)``)."""
        kind = self.start_box.currentData()
        self.contrast_box.setVisible(kind == "contrast")
        if kind == "contrast":
            self.state.set_start(("contrast", None, max(0, self.contrast_box.currentIndex())))
        else:
            self.state.set_start(kind)

    def _reset_start(self) -> None:
        """A new model: the start box back to the logit, the contrast choices its classes."""
        classes = self.state.net.classes
        with QSignalBlocker(self.start_box), QSignalBlocker(self.contrast_box):
            self.start_box.setCurrentIndex(0)
            self.contrast_box.clear()
            self.contrast_box.addItems([f"vs {name}" for name in classes])
        self.contrast_box.setVisible(False)
        self.start_box.setEnabled(len(classes) > 1)

    def _set_ticks(self, names: list[str] | None = None) -> None:
        if names is None:
            self._reset_start()
            outputs = output_classes(self.state.net.classes, self.state.net.n_classes)
            names = ["z"] if outputs.binary and self.mode.currentText() != "softmax" else list(outputs.names)
        step = max(1, len(names) // 20)
        ticks = [(i, name) for i, name in enumerate(names) if i % step == 0]
        self.plot.getPlotItem().getAxis("bottom").setTicks([ticks])

    def refresh(self) -> None:
        exp = self.state.explanation
        if exp is None:
            return
        outputs = output_classes(self.state.net.classes, self.state.net.n_classes)
        logits = exp.logits[0].astype(np.float64)
        probability = self.mode.currentText() == "softmax"
        target, predicted = int(exp.targets[0]), int(outputs.predicted(logits)[0])
        if probability:  # one bar per class: softmax, or P(class 0), P(class 1) = 1 - sigmoid(z), sigmoid(z)
            values, names = outputs.probabilities(logits)[0], list(outputs.names)
            target_bar, predicted_bar = (1 if outputs.binary else target), predicted
        else:  # one bar per output unit: the logits (one output: z alone)
            values, names = logits, (["z"] if outputs.binary else list(outputs.names))
            target_bar, predicted_bar = target, (None if outputs.binary else predicted)
        n = len(values)
        brushes = [pg.mkBrush(TARGET_COLOR if i == target_bar else BAR_COLOR) for i in range(n)]
        pens = [pg.mkPen(PREDICTED_PEN, width=2.5) if i == predicted_bar else pg.mkPen("#555", width=0.5) for i in range(n)]
        self.bars.setOpts(x=np.arange(n), height=values, width=0.7, brushes=brushes, pens=pens)
        self._set_ticks(names)
        item = self.plot.getPlotItem()
        item.setLabel("left", "probability" if probability else "logit")
        item.setLabel("bottom", "class" if probability or not outputs.binary else "output")
        low, high = min(0.0, float(values.min())), max(0.0, float(values.max()))
        pad = 0.08 * (high - low or 1.0)
        item.setRange(xRange=(-0.6, n - 0.4), yRange=(low - pad, high + pad), padding=0)
        if outputs.binary:  # the notes' binary classifier: one logit z, class 1 when z > 0
            z = float(logits[0])
            p1 = float(outputs.probabilities(logits)[0, 1])
            self.info.setText(f"One output z = {z:.3g}: P(class {outputs.names[1]}) = sigmoid(z) = {p1:.2f}, "
                              f"predicted class <b>{outputs.names[predicted]}</b>. LRP explains z (positive "
                              f"relevance = evidence for class {outputs.names[1]}, negative for {outputs.names[0]}).")
            return
        kind = "predicted" if self.state.target is None else "chosen by click"
        start = "" if exp.start == "logit" else (f" Relevance starts from <b>{exp.start}</b> "
                                                  f"(total {float(exp.conservation().explained[0]):.3g}).")
        self.info.setText(f"Explaining class <b>{outputs.names[target]}</b> ({kind}, orange); predicted "
                          f"<b>{outputs.names[predicted]}</b> (dark outline). Click a bar to explain another class."
                          f"{start}")

    def bar_scene_pos(self, index: int) -> QPointF:
        """Scene position of the middle of bar ``index`` (for tests and keyboard use)."""
        height = 0.0
        if self.state.explanation is not None:
            height = float(self.state.explanation.logits[0, index]) / 2
        return self.plot.getPlotItem().vb.mapViewToScene(QPointF(index, height))

    def _clicked(self, event: object) -> None:
        if getattr(event, "button", lambda: None)() != Qt.MouseButton.LeftButton:
            return
        vb = self.plot.getPlotItem().vb
        if not vb.sceneBoundingRect().contains(event.scenePos()):
            return
        x = vb.mapSceneToView(event.scenePos()).x()
        index = int(round(x))
        if self.state.net.n_classes > 1 and 0 <= index < self.state.net.n_classes and abs(x - index) <= 0.45:
            self.state.set_target(index)


class ConservationPlot(pg.PlotWidget):
    """Sum of relevance per layer (input to output) against the explained logit."""

    def __init__(self, state: AppState, parent: QWidget | None = None) -> None:
        super().__init__(parent, background="w")
        self.setObjectName("conservationPlot")
        self.state = state
        self.setMenuEnabled(False)
        self.hideButtons()
        item = self.getPlotItem()
        style_plot(item)
        item.setLabel("left", "sum of relevance")
        item.setLabel("bottom", "layer (input \u2192 output)")
        item.showGrid(x=False, y=True, alpha=0.25)
        self.legend = item.addLegend(offset=(-10, -30), labelTextColor="#222", brush=pg.mkBrush(255, 255, 255, 200))
        self.sums_curve = item.plot([], [], pen=pg.mkPen("#1f77b4", width=2), symbol="o", symbolSize=8,
                                    symbolBrush="#1f77b4", name=SEQUENTIAL_LEGEND)
        self.logit_curve = item.plot([], [], pen=pg.mkPen(TARGET_COLOR, width=2, style=Qt.PenStyle.DashLine),
                                     name="explained logit f(x)")
        self.setToolTip(CONSERVATION_TIP)
        self.stage_values: np.ndarray | None = None
        self.tick_names: list[str] = []
        self._annotation = ""
        self._tip = CONSERVATION_TIP
        self._compact, self._title = "", None
        self._spacing = 0.0
        self._fitted: tuple[list[str], bool] | None = None
        state.explanationSettled.connect(self.refresh)

    def annotation(self) -> str:
        """The line above the plot: the input's sum of relevance against the explained logit."""
        return self._annotation

    def tick_labels(self) -> list[str]:
        """The bottom axis' texts as drawn (names or numbers, with their line breaks)."""
        return [] if self._fitted is None else list(self._fitted[0])

    def resizeEvent(self, event) -> None:  # noqa: N802 - Qt's name
        super().resizeEvent(event)
        if getattr(self, "tick_names", None):  # not during PlotWidget's own construction
            self._fit_to_width()

    def _plot_width(self) -> float:
        """Pixels of the data area inside this widget (never more than the widget shows)."""
        item = self.getPlotItem()
        return min(float(item.vb.width()), float(self.width() - item.getAxis("left").width() - 16))

    def _pads(self, first: float, last: float, width: float) -> tuple[float, float, float]:
        """(left, right, spacing): x pads in tick spacings (at least 0.7) so the first and last labels,
        ``first`` and ``last`` px wide, stay inside a ``width`` px axis (pyqtgraph hides a label that
        sticks out)."""
        n = len(self.tick_names)
        left = right = 0.7
        for _ in range(3):  # the pads change the spacing they are measured in
            spacing = width / max(n - 1 + left + right, 1e-9)
            left, right = max(0.7, (first / 2 + 3) / spacing), max(0.7, (last / 2 + 3) / spacing)
        return left, right, width / max(n - 1 + left + right, 1e-9)

    def tick_spacing(self) -> float:
        """Pixels between neighbouring ticks as last laid out (0 before the first explanation)."""
        return self._spacing

    def _fit_to_width(self) -> None:
        """Labels staggered (or numbered) to the plot's width; title and legend only as wide as it."""
        item = self.getPlotItem()
        axis = item.getAxis("bottom")
        width = self._plot_width()
        if not self.tick_names or width <= 0:
            return
        metrics = QFontMetricsF(axis.font())
        n = len(self.tick_names)
        widths = [metrics.horizontalAdvance(t) for t in self.tick_names]
        numbers = [metrics.horizontalAdvance(str(i)) for i in range(n)]
        left, right, spacing = self._pads(widths[0], widths[-1], width)
        fitted = fitted_labels(self.tick_names, widths, numbers, spacing)
        if fitted[1]:  # numbers: narrower end labels, the spacing only grows
            left, right, spacing = self._pads(numbers[0], numbers[-1], width)
        self._spacing = spacing
        item.setXRange(-left, n - 1 + right, padding=0)
        self.legend.setVisible(self.legend.boundingRect().width() + 16.0 <= width)
        title_font = QFont(axis.font())
        title_font.setPointSizeF(TITLE_PT)
        title = self._annotation if QFontMetricsF(title_font).horizontalAdvance(self._annotation) <= width else self._compact
        if title != self._title:
            self._title = title
            item.setTitle(title, size=f"{TITLE_PT:g}pt", color="#222")
            item.titleLabel.setMinimumWidth(0)  # the text is chosen to fit; never widen the plot past the dock
            item.setGeometry(self.range)  # the view clamped the plot to the old minimum: fit it to the view again
        if fitted == self._fitted:
            return
        self._fitted = fitted
        labels, numbered = fitted
        axis.setTicks([list(enumerate(labels))])
        item.setLabel("bottom", "layer number" if numbered else "layer (input \u2192 output)")
        names = "".join(f"\n{i}: {name}" for i, name in enumerate(self.tick_names)) if numbered else ""
        self.setToolTip(self._tip + names)
        lines = max(label.count("\n") for label in labels) + 1  # pyqtgraph sizes the axis for about two
        axis.setHeight(int(round((lines + 1) * metrics.height() + 6)))

    def stages(self) -> list[int]:
        """Stages worth plotting: the input and the outputs of dense, conv and pooling layers.

        For a graph network only the stages every path from the input to the output goes
        through (cuts: ``net.skip_stages(stage)`` is empty) are summed, since the relevance of
        parallel branches adds up only across such a cut, plus the outputs of the merge nodes
        (add, concat), which are always cuts.
        """
        net = self.state.net
        kept = [0]
        for i, layer in enumerate(net.layers):
            if net.is_sequential:
                if isinstance(layer, (Dense, Conv2d, MaxPool2d, AvgPool2d)):
                    kept.append(i + 1)
            elif layer.type_name in GRAPH_PLOTTED and not net.skip_stages(i + 1):
                kept.append(i + 1)
        return kept

    def _stage_label(self, report, stage: int) -> str:
        """Tick label of a stage: a graph's node name where it has one, else the layer's short name."""
        net = self.state.net
        if stage > 0 and not net.is_sequential and not net.names[stage - 1].isdigit():
            return net.names[stage - 1]
        return self._short(report.stage_names[stage])

    def refresh(self) -> None:
        exp = self.state.explanation
        if exp is None:
            return
        report = exp.conservation()
        stages = [s for s in self.stages() if s < len(report.stage_names)]
        values = np.array([report.sums[s, 0] for s in stages], dtype=np.float64)
        finite = np.isfinite(values)
        xs = np.arange(len(stages), dtype=np.float64)
        self.stage_values = values
        self.sums_curve.setData(xs[finite], values[finite])
        logit = float(report.explained[0])
        self.logit_curve.setData([-0.3, len(stages) - 0.7], [logit, logit])
        names = [self._stage_label(report, s) for s in stages]
        graph = not self.state.net.is_sequential
        self.legend.getLabel(self.sums_curve).setText(GRAPH_LEGEND if graph else SEQUENTIAL_LEGEND)
        self._tip = CONSERVATION_TIP + (GRAPH_TIP if graph else "")
        self.setToolTip(self._tip)
        self.tick_names, self._fitted = names, None
        finite_values = values[finite]
        low = min([0.0, logit, *finite_values.tolist()])
        high = max([0.0, logit, *finite_values.tolist()])
        pad = 0.15 * (high - low or 1.0)
        self.getPlotItem().setRange(yRange=(low - pad, high + pad), padding=0)
        share = 100.0 * values[0] / logit if logit != 0 and np.isfinite(values[0]) else float("nan")
        start = "" if report.label == "explained logit" else "start "
        self._annotation = f"input: {values[0]:.3g} = {percent(share)} of {start}{logit:.3g}"
        self._compact = f"input: {percent(share)}"
        self._fit_to_width()

    @staticmethod
    def _short(name: str) -> str:
        return name.replace("maxpool2d", "maxpool").replace("avgpool2d", "avgpool").replace("conv2d", "conv")
