"""The "Faithfulness" dock: region-perturbation (MoRF) curves and AOPC of chosen methods.

Runs the core's generator :func:`lrp_studio.lrp.faithfulness.iter_evaluation` (one method at a
time) on a copy of the network in the controller's generic worker
(:meth:`~lrp_studio.gui.controller.Controller.start_generator`), on the current sample, N class-balanced
samples of the dataset (:func:`lrp_studio.lrp.sample_selection.select_samples`, sample seed 0) or
its first N samples, and plots the mean MoRF curve of every method plus the random
order, with each method's AOPC in the legend. With no method checked it scores the network's
model-aware default (:func:`lrp_studio.lrp.default_method`). Cancel takes effect after the method
in hand.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QSizePolicy, QButtonGroup, QComboBox, QHBoxLayout, QLabel, QProgressBar, QPushButton, QRadioButton, QSpinBox,
    QTabWidget, QVBoxLayout, QWidget,
)

from superqt.utils import GeneratorWorker

from lrp_studio.gui.background_run import MethodChecklist
from lrp_studio.gui.controller import Controller, error_message
from lrp_studio.gui.dock_tabs import give_room, tabify_when_shown
from lrp_studio.gui.heatmap_widget import style_plot
from lrp_studio.gui.sanity_tabs import add_sanity_tabs
from lrp_studio.gui.localisation_panel import remember_masks, start_localisation
from lrp_studio.gui.scrolling import scrolled
from lrp_studio.gui.state import AppState, default_params, explain_kwargs
from lrp_studio.lrp import COMPOSITES, METHODS, default_method
from lrp_studio.lrp.faithfulness import (
    BASELINE_VALUES, RANDOM, EvaluationSettings, MethodScore, iter_evaluation, region_cells, removed_percent,
)
from lrp_studio.lrp.sample_selection import select_samples
from lrp_studio.viz.curves import PALETTE

DEFAULT_METHODS = (*COMPOSITES, "gradient")
OUTDATED = "<span style='color:#b35900'>Model, weights or dataset changed since this run; press Run.</span><br>"
BASELINE_LABELS = {"uniform": "uniform noise", "mean": "sample mean", "zero": "zero", "blur": "blurred sample"}


class FaithfulnessView(QWidget):
    """Method list, scope, baseline, Run/Cancel, progress and the MoRF curve plot."""

    #: ``"done"``, ``"cancelled"`` or ``"failed"`` when a run has ended and the view shows its end.
    runFinished = Signal(str)

    def __init__(self, state: AppState, controller: Controller, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("faithfulnessView")
        self.state = state
        self.controller = controller
        self.scores: dict[str, MethodScore] = {}
        self.x_axis: np.ndarray | None = None
        #: The worker of the run in hand (None when idle); results of any other worker are ignored.
        self.worker: GeneratorWorker | None = None
        self._outcome = "done"
        self._methods: list[str] = []

        self.method_list = MethodChecklist(list(METHODS), DEFAULT_METHODS, "faithfulnessMethods")
        self.sample_radio = QRadioButton("current sample")
        self.batch_radio = QRadioButton("N balanced")
        self.batch_radio.setToolTip("N samples taking the classes in turn, each class's samples in a seeded "
                                    "random order (sample seed 0)")
        self.first_radio = QRadioButton("first N")
        self.first_radio.setToolTip("the first N samples in file order (the bundled MNIST splits are sorted by label)")
        self.sample_radio.setChecked(True)
        scope_group = QButtonGroup(self)
        scope_group.addButton(self.sample_radio)
        scope_group.addButton(self.batch_radio)
        scope_group.addButton(self.first_radio)
        self.count_spin = QSpinBox()
        self.count_spin.setRange(1, 10000)
        self.count_spin.setValue(50)
        self.count_spin.setToolTip("N: how many samples of the open dataset (e.g. mnist:test)")
        self.baseline_combo = QComboBox()
        for name in ("uniform", "mean", "zero", "blur"):
            if name in BASELINE_VALUES:
                self.baseline_combo.addItem(BASELINE_LABELS.get(name, name), name)
        self.baseline_combo.setToolTip("What a removed 2x2 region is replaced by (uniform noise: Samek et al. 2017).")
        self.run_button = QPushButton("Run")
        self.run_button.setObjectName("faithfulnessRun")
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.setEnabled(False)
        self.progress = QProgressBar()
        self.progress.setTextVisible(True)
        self.progress.setMinimumWidth(60)
        self.status = QLabel("Region perturbation: 2x2 regions, most relevant first, L = 50 steps.<br>Press Run.")
        self.status.setWordWrap(False)  # word wrap would make the scroll area size the view by height-for-width

        # methods as a wrapping grid of check boxes on top, the options in two rows, the plot below
        scope = QHBoxLayout()
        scope.addWidget(QLabel("Scope:"))
        scope.addWidget(self.sample_radio)
        scope.addWidget(self.batch_radio)
        scope.addWidget(self.first_radio)
        scope.addWidget(self.count_spin)
        scope.addStretch(1)
        options = QHBoxLayout()
        options.addWidget(QLabel("Fill:"))
        options.addWidget(self.baseline_combo)
        options.addWidget(self.run_button)
        options.addWidget(self.cancel_button)
        options.addWidget(self.progress, 1)

        self.plot = pg.PlotWidget(background="w")
        self.plot.setObjectName("faithfulnessPlot")
        self.plot.setMinimumHeight(160)
        item = self.plot.getPlotItem()
        style_plot(item)
        item.setLabel("bottom", "regions removed (%)")
        item.setLabel("left", "target logit")
        item.showGrid(x=True, y=True, alpha=0.2)
        # MoRF curves fall from the top left: the legend goes bottom left
        self.legend = item.addLegend(offset=(10, -10), labelTextColor="#222", brush=pg.mkBrush(255, 255, 255, 220))
        self.curves: dict[str, pg.PlotDataItem] = {}
        self.status.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)

        main = QVBoxLayout(self)
        main.setContentsMargins(4, 4, 4, 4)
        main.addWidget(self.method_list)
        main.addLayout(scope)
        main.addLayout(options)
        main.addWidget(self.plot, 1)
        main.addWidget(self.status)

        self.run_button.clicked.connect(self.run)
        self.cancel_button.clicked.connect(self.cancel)
        for signal in (state.modelChanged, state.weightsChanged, state.datasetChanged):
            signal.connect(self._outdated)

    # ------------------------------------------------------------------ public
    def checked_methods(self) -> list[str]:
        return self.method_list.checked_methods()

    def set_methods(self, methods: list[str]) -> None:
        self.method_list.set_methods(methods)

    def set_scope(self, batch: int | None, first: bool = False) -> None:
        """None: the current sample; an int: ``batch`` class-balanced samples (``first``: the first ``batch``)."""
        if batch is None:
            self.sample_radio.setChecked(True)
        else:
            (self.first_radio if first else self.batch_radio).setChecked(True)
            self.count_spin.setValue(int(batch))

    def set_baseline(self, name: str) -> None:
        index = self.baseline_combo.findData(name)
        if index >= 0:
            self.baseline_combo.setCurrentIndex(index)

    def is_running(self) -> bool:
        """A run was started and its end has not been shown yet."""
        return self.worker is not None

    def legend_texts(self) -> dict[str, str]:
        """Method -> its legend text (tests)."""
        return {name: self._legend_text(name) for name in self.scores}

    def run(self) -> None:
        state = self.state
        methods = self.checked_methods() or [default_method(state.net)]
        if self.sample_radio.isChecked():
            if not state.input_fits():
                self.status.setText("The model does not fit the current input.")
                return
            x = np.array(state.sample(), dtype=np.float32)[None]
            scope = "the current sample"
            remember_masks(self, None if state.custom_input is not None else [state.index])
        else:
            if not state.fits() or not len(state.dataset):
                self.status.setText("The model does not fit the dataset.")
                return
            n = min(self.count_spin.value(), len(state.dataset))
            selection = select_samples(state.dataset.y, n, "first" if self.first_radio.isChecked() else "balanced")
            x = np.array(np.asarray(state.dataset.x)[selection.indices], dtype=np.float32)
            remember_masks(self, selection.indices)
            scope = f"{n} samples of {state.dataset.name}, {selection.describe()}"
        params = {}
        for method in methods:
            kwargs = explain_kwargs(method, state.params_by_method.get(method) or default_params(method, state.net), {})
            kwargs.pop("method", None)
            params[method] = kwargs
        settings = EvaluationSettings(baseline=str(self.baseline_combo.currentData()), method_params=params)
        features = int(np.prod(x.shape[1:]))
        if x.ndim == 2 and features < 2 * settings.steps:  # few flat features (2-D toy data): one per region
            settings.region, settings.steps = 1, features
        self.scores = {}
        self._methods = methods
        self._clear_plot()
        n_regions = region_cells(x.shape[1:], settings.region)[1]
        self.x_axis = removed_percent(n_regions, settings.steps, settings.per_step)
        self.progress.setRange(0, len(methods) + 1)
        self.progress.setValue(0)
        self.progress.setFormat(f"%v / %m ({methods[0]})")
        self.status.setText(f"Evaluating {len(methods)} methods and the random order on {scope},<br>"
                            f"removed regions \u2192 {self.baseline_combo.currentText()}\u2026")
        self._scope = scope
        self.run_button.setEnabled(False)
        self.cancel_button.setEnabled(True)
        if self.worker is not None:  # a run started from code while one runs: the new one replaces it
            self.worker.quit()
        self._outcome = "done"
        # connected before the job starts (a one-sample run can end before a later connect); the
        # signals are queued, so `started[0]` is set before any slot runs
        started: list[GeneratorWorker] = []
        slots = {"yielded": lambda score: self._scored(started[0], score),
                 "aborted": lambda: self._aborted(started[0]),
                 "errored": lambda error: self._failed(started[0], error),
                 "finished": lambda: self._finished(started[0])}
        worker = self.controller.start_generator(iter_evaluation, state.net.copy(), x, None, methods, settings,
                                                 _connect=slots)
        started.append(worker)
        self.worker = worker
        start_localisation(self, x, methods, params)  # datasets with ground-truth masks (toy:shapes)

    def cancel(self) -> None:
        """Stop after the method in hand (its curve is not shown)."""
        if self.worker is None:
            return
        self.worker.quit()
        self.status.setText("Cancelling after the method in hand\u2026")
        self.cancel_button.setEnabled(False)

    def shutdown(self) -> None:
        """Ask a run to quit (window closing; the controller waits for its thread)."""
        if self.worker is not None:
            self.worker.quit()
        self.worker = None

    # ------------------------------------------------------------------ results
    def _outdated(self, *_: Any) -> None:
        """The shown curves belong to the previous model, weights or dataset: say so (Run recomputes)."""
        if self.scores and not self.status.text().startswith(OUTDATED):
            self.status.setText(OUTDATED + self.status.text())

    def _legend_text(self, name: str) -> str:
        score = self.scores[name]
        return f"{name}  AOPC {score.aopc:.3f}"

    def _clear_plot(self) -> None:
        for curve in self.curves.values():
            self.plot.removeItem(curve)
        self.curves = {}
        self.legend.clear()

    def _scored(self, worker: GeneratorWorker, score: MethodScore) -> None:
        if worker is not self.worker or worker.abort_requested:
            return
        self.scores[score.method] = score
        done = len(self.scores)
        order = [*self._methods, RANDOM]
        self.progress.setValue(done)
        if done < len(order):
            self.progress.setFormat(f"%v / %m ({order[done]})")
        if score.method == RANDOM:
            pen = pg.mkPen((120, 120, 120), width=2, style=Qt.PenStyle.DashLine)
        else:
            colour = PALETTE[(order.index(score.method) if score.method in order else done) % len(PALETTE)]
            pen = pg.mkPen(colour, width=2)
        x_axis = self.x_axis if self.x_axis is not None and len(self.x_axis) == score.curves.shape[1] else None
        mean = score.curve_mean
        curve = self.plot.plot(x_axis if x_axis is not None else np.arange(mean.size), mean, pen=pen,
                               name=self._legend_text(score.method))
        self.curves[score.method] = curve

    def _aborted(self, worker: GeneratorWorker) -> None:
        if worker is self.worker:
            self._outcome = "cancelled"

    def _finished(self, worker: GeneratorWorker) -> None:
        if worker is not self.worker:
            return
        self.worker = None
        reason = self._outcome
        if reason == "failed":
            self.runFinished.emit(reason)
            return
        self.run_button.setEnabled(True)
        self.cancel_button.setEnabled(False)
        if reason == "cancelled":
            self.status.setText(f"Cancelled after {len(self.scores)} of {len(self._methods) + 1} curves.")
        else:
            self.progress.setFormat("%v / %m")
            best = max((s for s in self.scores.values() if s.method != RANDOM), key=lambda s: s.aopc, default=None)
            seconds = sum(s.seconds for s in self.scores.values())
            n = next(iter(self.scores.values())).curves.shape[0] if self.scores else 0
            text = f"Mean MoRF curves on {self._scope} ({n} sample{'s' if n != 1 else ''}), {seconds:.1f} s."
            if best is not None:
                text += f"<br>Highest AOPC: <b>{best.method}</b> ({best.aopc:.3f})"
            if RANDOM in self.scores:
                text += f"; random order: {self.scores[RANDOM].aopc:.3f}."
            self.status.setText(text)
        self.runFinished.emit(reason)

    def _failed(self, worker: GeneratorWorker, error: BaseException) -> None:
        """The evaluation raised: say so (its end arrives with ``finished``)."""
        if worker is not self.worker:
            return
        self._outcome = "failed"
        self.run_button.setEnabled(True)
        self.cancel_button.setEnabled(False)
        self.status.setText(f"Evaluation failed: {error_message(error).strip().splitlines()[-1]}")


def install_faithfulness_dock(window: Any) -> FaithfulnessView:
    """Add the "Faithfulness" dock, tabbed behind the conservation plot."""
    view = FaithfulnessView(window.state, window.controller)
    scroll = scrolled(view, "faithfulnessScroll")
    tabs = QTabWidget()
    tabs.setObjectName("faithfulnessTabs")
    tabs.addTab(scroll, "AOPC")
    add_sanity_tabs(window, tabs, view)  # "Sanity" and "Tune" (gui/sanity_view.py, gui/tune_view.py)
    dock = window._dock("faithfulness", "Faithfulness", tabs, Qt.DockWidgetArea.BottomDockWidgetArea,
                        "Region perturbation (AOPC), sanity checks and rule tuning of the chosen methods.")
    front = window.docks.get("conservation")
    if front is not None:
        tabify_when_shown(window, front, dock)
    dock.visibilityChanged.connect(lambda shown: give_room(window, dock) if shown else None)
    shutdown = window.shutdown

    def shutdown_all() -> None:  # stop an evaluation with the window's other threads
        view.shutdown()
        shutdown()

    window.shutdown = shutdown_all
    window.faithfulness_view = view
    return view


__all__ = ["DEFAULT_METHODS", "FaithfulnessView", "install_faithfulness_dock"]
