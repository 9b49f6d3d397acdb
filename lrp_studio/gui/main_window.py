"""The main window: network graph in the centre, panels in movable docks, menus and status bar."""

from __future__ import annotations

import os
import time
from functools import partial
from typing import Any

import numpy as np
from PySide6.QtCore import QByteArray, QSize, Qt, QTimer
from PySide6.QtGui import QAction, QActionGroup, QCloseEvent, QKeySequence
from PySide6.QtWidgets import (
    QApplication, QDockWidget, QLabel, QMainWindow, QMessageBox, QScrollArea, QTextBrowser, QWidget,
)

from lrp_studio import backend
from lrp_studio.data import Dataset, load_mnist_subset, resource_path
from lrp_studio.errors import LRPStudioError
from lrp_studio.gui import dialogs
from lrp_studio.gui.explanation_panel import ExplanationPanel
from lrp_studio.gui.file_actions import FileActionsMixin
from lrp_studio.gui.image_input import install_image_drop, open_image, open_image_folder
from lrp_studio.gui.normalization_action import QUESTION, set_input_normalization
from lrp_studio.gui.graph_view import NetworkView
from lrp_studio.gui.graph_markers import add_graph_size_menu
from lrp_studio.gui.heatmap_widget import HeatmapView
from lrp_studio.gui.inspector import NeuronInspector, conditional_heatmap
from lrp_studio.gui.method_help import method_html
from lrp_studio.gui.plots import ConservationPlot, OutputBars
from lrp_studio.gui.sample_browser import SampleBrowser
from lrp_studio.gui.predictions import install_lazy_predictions
from lrp_studio.gui.canvas import install_canvas_dock
from lrp_studio.gui.playground import install_playground_dock
from lrp_studio.gui.compare_view import install_compare_dock
from lrp_studio.gui.faithfulness_view import install_faithfulness_dock
from lrp_studio.gui.formula_numbers import install_formula_numbers
from lrp_studio.gui.ledger_view import install_ledger_dock
from lrp_studio.gui.neuron_perturbation import install_neuron_perturbation
from lrp_studio.gui.atlas_gallery import install_atlas_gallery
from lrp_studio.gui.session import SessionActionsMixin
from lrp_studio.gui.unsaved import UnsavedWorkMixin
from lrp_studio.gui.state import CUSTOM_INDEX, AppState, compute_explanation, method_names
from lrp_studio.lrp import BASELINES, default_method
from lrp_studio.gui.bundled_menu import add_bundled_models_menu
from lrp_studio.gui.training_panel import TrainingPanel
from lrp_studio.gui.scrolling import scrolled
from lrp_studio.gui.dock_tabs import give_room
from lrp_studio.gui.settings import STATE_VERSION, open_settings
from lrp_studio.gui.controller import Controller, limit_blas_threads
from lrp_studio.gui.wheel_guard import install_wheel_guard
from lrp_studio.gui.lifecycle import install as install_lifecycle
from lrp_studio.nn import Network, mlp

INSPECT_KEY = "inspect"  # the inspector's conditional heatmap (explain_neuron in the worker)
SETTLE_MS = 40  # secondary views update this long after the last explanation (smooth fast browsing)


def default_network() -> tuple[Network, str, str | None]:
    """The bundled MLP, or an untrained 784-300-100-10 MLP when it is missing (with a message)."""
    try:
        from lrp_studio.io import load_model

        path = resource_path("mlp_mnist.npz")
        return load_model(path), "bundled MLP (mlp_mnist.npz)", None
    except Exception as error:  # missing or unreadable resource: keep working untrained
        net = mlp([784, 300, 100, 10], input_shape=(1, 28, 28), classes=[str(d) for d in range(10)], input_range=(0, 1))
        return net, "untrained MLP", f"bundled model not available ({error}); showing an untrained MLP"


class _ResponsiveScroll(QScrollArea):
    """A scroll area that lets its panel re-flow its columns for the width it gets."""

    def resizeEvent(self, event: Any) -> None:  # noqa: N802 (Qt API)
        panel = self.widget()
        if hasattr(panel, "arrange_for_width"):
            panel.arrange_for_width(event.size().width())
        super().resizeEvent(event)


class MainWindow(UnsavedWorkMixin, SessionActionsMixin, FileActionsMixin, QMainWindow):
    """LRP Studio's window.

    Parameters
    ----------
    model : Network, optional
        Defaults to the bundled MLP (an untrained MLP if that file is missing).
    dataset : Dataset, optional
        Defaults to the bundled MNIST subset.
    restore : bool
        Restore geometry and dock layout from QSettings (off for screenshots).
    """

    def __init__(self, model: Network | None = None, dataset: Dataset | None = None, *, model_name: str = "model",
                 restore: bool = True) -> None:
        super().__init__()
        self.setObjectName("mainWindow")
        self.setWindowTitle("LRP Studio")
        install_wheel_guard()  # app-wide: unfocused combo/spin boxes and sliders ignore the wheel
        startup_message = None
        if model is None:
            model, model_name, startup_message = default_network()
        self.state = AppState(model, dataset if dataset is not None else load_mnist_subset("all"), self)
        self.state.model_name = model_name
        blas_threads = int(os.environ.get("LRP_STUDIO_GUI_BLAS_THREADS", "1") or 0)
        if blas_threads > 0:  # 0 leaves the BLAS library's own setting
            limit_blas_threads(blas_threads)
        self.controller = Controller(self)
        install_lifecycle()  # workers stopped and windows freed in order at quit and interpreter exit
        self._explain_request: int | None = None
        self._inspected: tuple[int, int] | None = None  # the unit the inspector shows (its scroll resets on a new one)
        self._closing = False
        self._settle_timer = QTimer(self)
        self._settle_timer.setSingleShot(True)
        self._settle_timer.setInterval(SETTLE_MS)
        self._settle_timer.timeout.connect(self._settled)

        self.graph = NetworkView()
        self.setCentralWidget(self.graph)
        self.sample_browser = SampleBrowser(self.state)
        self.predictions = install_lazy_predictions(self)  # chunks in the worker, visible rows first, cached
        self.explanation_panel = ExplanationPanel(self.state)
        self.method_selector = self.explanation_panel.method_selector
        self.heatmap = HeatmapView(self.state)
        self.output_bars = OutputBars(self.state)
        self.conservation_plot = ConservationPlot(self.state)
        self.inspector = NeuronInspector()
        install_formula_numbers(self.inspector, self.state)  # a message row's formula with the sample's numbers
        self.training_panel = TrainingPanel(self.state, self.controller)
        # long status texts inside these views must not dictate the window's minimum width
        self.graph.setMinimumSize(320, 240)
        self.inspector.setMinimumWidth(240)
        self.docks: dict[str, QDockWidget] = {}
        self._build_docks()
        install_canvas_dock(self)       # "Draw a digit", tabbed behind the samples
        install_playground_dock(self)   # "2-D playground", tabbed behind the heatmap
        install_compare_dock(self)      # "Compare methods", tabbed behind the conservation plot
        install_faithfulness_dock(self)  # "Faithfulness" (MoRF curves, AOPC), tabbed there too
        install_ledger_dock(self)  # "Relevance ledger" (waterfall + table), tabbed there too
        install_neuron_perturbation(self)  # unit set to its layer mean, under the inspector
        install_atlas_gallery(self)  # the selected unit's top references over the dataset, at the inspector's end
        self._build_status_bar()
        self._build_menus()
        self._connect()
        self._install_unsaved_work()  # Save / Discard / Cancel before a trained model is replaced; recovery copies

        self.graph.set_network(self.state.net)
        self._default_state = self.saveState(STATE_VERSION)
        self._default_size = self._fitting_size()
        self.resize(self._default_size)
        self.apply_default_dock_sizes()
        if restore:
            self.restore_settings()
        self._update_title()
        if startup_message:
            self.show_status(startup_message, 0)
        self.request_predictions()
        self.request_explanation()

    # ------------------------------------------------------------------ layout
    def _dock(self, key: str, title: str, widget: QWidget, area: Qt.DockWidgetArea, tip: str) -> QDockWidget:
        dock = QDockWidget(title, self)
        dock.setObjectName(f"dock_{key}")
        dock.setWidget(widget)
        dock.setToolTip(tip)
        dock.setFeatures(QDockWidget.DockWidgetFeature.DockWidgetMovable | QDockWidget.DockWidgetFeature.DockWidgetFloatable
                         | QDockWidget.DockWidgetFeature.DockWidgetClosable)
        self.addDockWidget(area, dock)
        self.docks[key] = dock
        return dock

    def _build_docks(self) -> None:
        left, right, bottom = (Qt.DockWidgetArea.LeftDockWidgetArea, Qt.DockWidgetArea.RightDockWidgetArea,
                               Qt.DockWidgetArea.BottomDockWidgetArea)
        self.setCorner(Qt.Corner.BottomLeftCorner, left)
        self.setCorner(Qt.Corner.BottomRightCorner, right)
        samples = self._dock("samples", "Samples", self.sample_browser, left, "The dataset: pick a sample to explain.")
        method = self._dock("method", "Explanation method", self.explanation_panel, left,
                            "Method, its parameters and what the formula does.")
        self.splitDockWidget(samples, method, Qt.Orientation.Vertical)
        heat = self._dock("heatmap", "Input heatmap", self.heatmap, right,
                          "Relevance of every input pixel for the explained class.")
        inspector_scroll = scrolled(self.inspector, "inspectorScroll")
        inspector = self._dock("inspector", "Neuron inspector", inspector_scroll, right,
                               "The selected neuron: activation, relevance, incoming messages, conditional heatmap.")
        self.splitDockWidget(heat, inspector, Qt.Orientation.Vertical)
        output = self._dock("output", "Output and target class", self.output_bars, bottom,
                            "The network's output; click a bar to explain that class.")
        conservation = self._dock("conservation", "Conservation", self.conservation_plot, bottom,
                                  "Sum of relevance per layer vs the explained logit.")
        scroll = scrolled(self.training_panel, "trainingScroll", _ResponsiveScroll())
        training = self._dock("training", "Training", scroll, bottom,
                              "Build and train a network; curves update live.")
        training.visibilityChanged.connect(self._training_shown)
        self.splitDockWidget(output, conservation, Qt.Orientation.Horizontal)
        self.tabifyDockWidget(conservation, training)
        conservation.raise_()

    def apply_default_dock_sizes(self) -> None:
        """Give the docks shares of the current window size (the graph keeps about half the width)."""
        width, height = max(self.width(), 800), max(self.height(), 600)
        d = self.docks
        self.resizeDocks([d["samples"], d["heatmap"]], [int(width * 0.19), int(width * 0.25)], Qt.Orientation.Horizontal)
        self.resizeDocks([d["samples"], d["method"]], [int(height * 0.36), int(height * 0.54)], Qt.Orientation.Vertical)
        self.resizeDocks([d["heatmap"], d["inspector"]], [int(height * 0.38), int(height * 0.52)], Qt.Orientation.Vertical)
        self.resizeDocks([d["output"]], [int(height * 0.3)], Qt.Orientation.Vertical)
        center = int(width * 0.56)
        self.resizeDocks([d["output"], d["conservation"]], [int(center * 0.45), int(center * 0.55)], Qt.Orientation.Horizontal)

    def _training_shown(self, visible: bool) -> None:
        """Give the training panel room when its tab comes to the front in a docked, small window."""
        dock = self.docks.get("training")
        if visible and dock is not None:
            give_room(self, dock)  # the same room as the compare and faithfulness docks: the graph keeps half

    def _fitting_size(self) -> QSize:
        screen = QApplication.primaryScreen()
        size = QSize(1600, 1000)
        if screen is not None:
            available = screen.availableGeometry().size()
            size = QSize(min(1600, int(available.width() * 0.96)), min(1000, int(available.height() * 0.94)))
        return size

    def _build_status_bar(self) -> None:
        bar = self.statusBar()
        self.backend_label = QLabel(f"Backend: {backend.describe()}")
        self.backend_label.setObjectName("backendLabel")
        self.timing_label = QLabel("forward \u2013 ms \u00b7 LRP \u2013 ms")
        self.timing_label.setObjectName("timingLabel")
        self.timing_label.setToolTip("Time of the last forward pass and explanation of the shown sample.")
        self.model_label = QLabel()
        bar.addPermanentWidget(self.model_label)
        bar.addPermanentWidget(self.timing_label)
        bar.addPermanentWidget(self.backend_label)

    def _action(self, menu: Any, text: str, slot: Any, shortcut: Any = None, tip: str = "") -> QAction:
        action = QAction(text, self)
        if shortcut is not None:
            shortcuts = shortcut if isinstance(shortcut, list) else [shortcut]
            action.setShortcuts([QKeySequence(s) for s in shortcuts])
        action.setStatusTip(tip)
        action.triggered.connect(slot)
        menu.addAction(action)
        return action

    def _build_menus(self) -> None:
        bar = self.menuBar()
        file_menu = bar.addMenu("&File")
        self.open_model_action = self._action(file_menu, "&Open model\u2026", self.open_model, QKeySequence.StandardKey.Open)
        add_bundled_models_menu(self, file_menu)  # mlp, cnn, resnet
        self._action(file_menu, "&Save model as\u2026", self.save_model, QKeySequence.StandardKey.Save)
        self.import_dataset_action = self._action(file_menu, "&Import dataset\u2026", lambda: self.open_dataset(""), "Ctrl+I",
                                                  "IDX (images,labels), CSV or NPZ")
        self.open_image_action = self._action(file_menu, "Open i&mage\u2026", partial(open_image, self), "Ctrl+Shift+O",
                                              "PNG, JPEG, BMP or TIFF, converted to the model's input")
        install_image_drop(self)  # image files dropped onto the window are explained as well
        self._action(file_menu, "Open image &folder\u2026", partial(open_image_folder, self), tip="one sub-folder per class")
        self._action(file_menu, "Input &normalisation\u2026", partial(set_input_normalization, self), tip=QUESTION)
        self._build_session_menu(file_menu)  # import model, sessions, recent files
        file_menu.addSeparator()
        self._action(file_menu, "Export &heatmap PNG\u2026", self.export_heatmap, "Ctrl+E")
        self._action(file_menu, "Export heatmaps of &filtered samples\u2026", self.export_filtered)
        self._action(file_menu, "Export &relevance (.npy/.csv)\u2026", self.export_relevance)
        self._action(file_menu, "Export &graph (PNG/SVG)\u2026", self.export_graph)
        file_menu.addSeparator()
        self._action(file_menu, "&Quit", self.close, QKeySequence.StandardKey.Quit)

        sample_menu = bar.addMenu("&Sample")
        self._action(sample_menu, "&Next sample", self.sample_browser.next, ["N", "Ctrl+Right"])
        self._action(sample_menu, "&Previous sample", self.sample_browser.previous, ["P", "Ctrl+Left"])
        self._action(sample_menu, "Explain the &predicted class", lambda: self.state.set_target(None), "Ctrl+0")

        view = bar.addMenu("&View")
        for dock in self.docks.values():
            view.addAction(dock.toggleViewAction())
        view.addSeparator()
        colour = view.addMenu("Colour neurons by")
        group = QActionGroup(self)
        for mode in ("relevance", "activation"):
            action = QAction(mode, self, checkable=True, checked=mode == "relevance")
            action.triggered.connect(lambda _=False, m=mode: self.graph.set_color_mode(m))
            group.addAction(action)
            colour.addAction(action)
        scale = view.addMenu("Colour scale")
        group = QActionGroup(self)
        for mode, title in (("layer", "per layer"), ("global", "one for all layers")):
            action = QAction(title, self, checkable=True, checked=mode == "layer")
            action.triggered.connect(lambda _=False, m=mode: self.graph.set_scale_mode(m))
            group.addAction(action)
            scale.addAction(action)
        edges = view.addMenu("Edges per neuron (top-k)")
        group = QActionGroup(self)
        for k in (0, 1, 3, 5, 10):
            action = QAction(str(k), self, checkable=True, checked=k == 3)
            action.triggered.connect(lambda _=False, n=k: self.graph.set_top_k(n))
            group.addAction(action)
            edges.addAction(action)
        add_graph_size_menu(self, view)  # units per layer, residual blocks collapsed
        view.addSeparator()
        self._action(view, "&Reset layout", self.reset_layout)

        help_menu = bar.addMenu("&Help")
        self._action(help_menu, "&Methods", self.show_methods_help, QKeySequence.StandardKey.HelpContents)
        self._action(help_menu, "&About", self.show_about)

    def _connect(self) -> None:
        state = self.state
        for signal in (state.sampleChanged, state.methodChanged, state.targetChanged, state.weightsChanged):
            signal.connect(self.request_explanation)
        state.weightsChanged.connect(self.request_predictions)
        state.weightsChanged.connect(self._update_title)  # "trained in the app" once training updates the weights
        state.modelChanged.connect(self._model_changed)
        state.dirtyChanged.connect(lambda _dirty: self._update_title())
        state.datasetChanged.connect(self._dataset_changed)
        state.explanationChanged.connect(self._explanation_changed)
        state.timingsChanged.connect(lambda f, l: self.timing_label.setText(f"forward {f:.2f} ms \u00b7 LRP {l:.2f} ms"))
        state.statusMessage.connect(lambda text: self.show_status(text))
        self.controller.finished.connect(self._job_finished)
        self.controller.failed.connect(self._job_failed)
        self.graph.neuronSelected.connect(self.inspect)
        self.graph.neuronActivated.connect(self._activate_neuron)
        self.heatmap.colormapChanged.connect(self._colormap_changed)
        self.sample_browser.openDatasetRequested.connect(self.open_dataset)
        self.training_panel.saveModelRequested.connect(self.save_model)
        self.training_panel.openModelRequested.connect(self.open_model)

    # ------------------------------------------------------------------ computing
    def request_explanation(self, *_: Any) -> None:
        """Explain the current sample in the worker thread (a newer request supersedes this one)."""
        state = self.state
        if self._closing or not state.input_fits():
            return
        net, x = state.net, np.array(state.sample(), copy=True)
        target, kwargs = state.target, {**state.explain_arguments(), **state.start_arguments()}
        index = state.index if state.custom_input is None else CUSTOM_INDEX
        self._explain_request = self.controller.submit("explain", compute_explanation, net, x, target, kwargs, index)

    def request_predictions(self, *_: Any) -> None:
        """Predict the dataset lazily in the worker (labels for the sample browser, :mod:`~lrp_studio.gui.predictions`)."""
        if self._closing:
            self.predictions.cancel()
            return
        self.predictions.start()

    def _job_finished(self, key: str, request_id: int, result: Any) -> None:
        """Route a current result (the controller drops stale ones before they get here)."""
        if key == "explain":
            self._explain_request = None
            self.state.set_explanation(result)
        elif key == INSPECT_KEY:
            self.inspector.show_conditional(result)

    def _job_failed(self, key: str, request_id: int, message: str) -> None:
        if key == "explain":
            self._explain_request = None
        elif key != INSPECT_KEY:
            return  # the views that submitted other keys report their own failures
        first = message.strip().splitlines()[-1] if "Traceback" in message else message
        if key == INSPECT_KEY:
            self.inspector.show_conditional(None, first)
            if "Traceback" not in message:
                return
        self.show_status(f"{key} failed: {first}", 10000)
        if "Traceback" in message:
            dialogs.show_error(self, "Computation failed", first, message)

    def is_busy(self) -> bool:
        return (self._explain_request is not None or self.predictions.is_running() or not self.controller.is_idle()
                or self._settle_timer.isActive() or self.explanation_panel.help_pending())

    def wait_idle(self, timeout: float = 10.0) -> bool:
        """Process events until no computation is pending (tests, screenshots); False on timeout."""
        deadline = time.perf_counter() + timeout
        app = QApplication.instance()
        while time.perf_counter() < deadline:
            app.processEvents()
            if not self.is_busy():
                app.processEvents()
                return True
            time.sleep(0.001)
        return False

    # ------------------------------------------------------------------ reacting
    def _explanation_changed(self) -> None:
        exp = self.state.explanation
        if exp is None:
            return
        try:
            self.graph.set_explanation(exp)
        except LRPStudioError as error:
            self.show_status(str(error), 5000)
            return
        self._settle_timer.start()

    def _settled(self) -> None:
        """Update the secondary views once browsing pauses (the graph and heatmap are already current)."""
        self.state.explanationSettled.emit()
        selection = self.graph.selection()
        if selection is not None and self.docks["inspector"].isVisible():
            self.inspect(*selection)

    def inspect(self, stage: int, unit: int) -> None:
        state = self.state
        exp = state.explanation
        if exp is None or state.explained_index is None:
            return
        arguments = state.explain_arguments()
        method = arguments.pop("method")
        if isinstance(method, str) and method in BASELINES:  # no per-layer rules: the model's default method
            method, arguments = default_method(state.net), {}
        try:
            self.inspector.show_neuron(state.net, exp, stage, unit)
        except LRPStudioError as error:
            self.show_status(str(error), 5000)
            return
        if (stage, unit) != self._inspected:  # a new selection starts at its heading, not where the last one was scrolled
            self._inspected = (stage, unit)
            self.docks["inspector"].widget().verticalScrollBar().setValue(0)
        channel = self._channel_map(exp, stage, unit)
        self.controller.submit(INSPECT_KEY, conditional_heatmap, state.net,
                               np.array(state.input_at(state.explained_index), copy=True), stage, unit, method,
                               arguments, channel)

    @staticmethod
    def _channel_map(exp: Any, stage: int, unit: int) -> np.ndarray | None:
        """The activation map (H, W) of channel ``unit`` of a conv stage in ``exp``, else None."""
        record = next((r for r in exp.layers if r.stage == stage), None)
        if stage == 0 or record is None or np.ndim(record.activation) != 4:
            return None
        return np.asarray(record.activation[0, unit], dtype=np.float32)

    def _activate_neuron(self, stage: int, unit: int) -> None:
        dock = self.docks["inspector"]
        dock.show()
        dock.raise_()
        self.inspect(stage, unit)

    def _model_changed(self) -> None:
        self.graph.set_network(self.state.net)
        self.inspector.clear()
        self._inspected = None
        self._update_title()
        if not self.state.fits():
            self.show_status(f"the model's input {self.state.net.input_shape} does not fit the dataset "
                             f"'{self.state.dataset.name}' {self.state.dataset.sample_shape}: open a matching dataset", 0)
        self.request_predictions()
        self.request_explanation()

    def _dataset_changed(self) -> None:
        self._update_title()
        self.graph.forget_values()  # until the new sample's explanation arrives: no old sample's values
        self.request_predictions()

    def _colormap_changed(self, name: str) -> None:
        self.graph.set_colormap(name)
        self.inspector.set_colormap(name)
        selection = self.graph.selection()
        if selection is not None:
            self.inspect(*selection)

    def _update_title(self) -> None:
        state = self.state
        unsaved = "*" if state.model_dirty else ""  # the usual mark of unsaved work
        self.setWindowTitle(f"LRP Studio \u2014 {unsaved}{state.model_name} \u2014 {state.dataset.name}")
        self.model_label.setText(f"{state.model_name} \u00b7 {state.net.n_parameters():,} parameters \u00b7 "
                                 f"{state.dataset.name} ({len(state.dataset)} samples)")

    def show_status(self, text: str, timeout: int = 6000) -> None:
        self.statusBar().showMessage(text, timeout)

    # ------------------------------------------------------------------ public helpers
    def set_sample(self, index: int) -> None:
        self.state.set_index(index)

    def set_method(self, method: str) -> None:
        if method not in method_names():
            raise LRPStudioError(f"unknown method {method!r}; choose one of {', '.join(method_names())}")
        self.state.set_method(method)

    def select_neuron(self, stage: int, unit: int) -> None:
        """Select a unit in the graph and show it in the inspector."""
        self.graph.select(stage, unit)
        self.inspect(stage, unit)

    # ------------------------------------------------------------------ help
    def show_methods_help(self) -> None:
        browser = QTextBrowser()
        browser.setHtml("<hr>".join(method_html(name) for name in method_names()))
        browser.setWindowTitle("LRP Studio \u2014 methods")
        browser.resize(720, 760)
        browser.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        browser.show()
        self._help_window = browser

    def show_about(self) -> None:
        QMessageBox.about(self, "About LRP Studio",
                          "<b>LRP Studio</b><br>Layer-wise Relevance Propagation for small dense and convolutional "
                          f"networks.<br>Backend: {backend.describe()}")

    # ------------------------------------------------------------------ settings
    def restore_settings(self) -> None:
        settings = open_settings()
        geometry = settings.value("geometry")
        state = settings.value("windowState")
        if isinstance(geometry, QByteArray) and not geometry.isEmpty():
            self.restoreGeometry(geometry)
        if isinstance(state, QByteArray) and not state.isEmpty():
            self.restoreState(state, STATE_VERSION)
        colormap = settings.value("colormap")
        if isinstance(colormap, str):
            self.heatmap.set_colormap(colormap)
        overlay = settings.value("overlay")
        if overlay is not None:
            self.heatmap.set_overlay(str(overlay).lower() in ("true", "1"))

    def save_settings(self) -> None:
        settings = open_settings()
        settings.setValue("geometry", self.saveGeometry())
        settings.setValue("windowState", self.saveState(STATE_VERSION))
        settings.setValue("colormap", self.heatmap.colormap)
        settings.setValue("overlay", self.heatmap.overlay_enabled)
        settings.sync()

    def reset_layout(self) -> None:
        for dock in self.docks.values():
            dock.setFloating(False)
        self.restoreState(self._default_state, STATE_VERSION)
        for dock in self.docks.values():
            dock.show()
        self.docks["conservation"].raise_()
        if not self.isMaximized() and not self.isFullScreen():
            self.resize(self._reset_size())
        self.apply_default_dock_sizes()

    def _reset_size(self) -> QSize:
        """The window's size after View > Reset layout: the current one, unless it no longer fits the screen
        (shrinking a 1536x940 window to a default fitted to a smaller screen squeezes every dock)."""
        screen = self.screen() or QApplication.primaryScreen()
        if screen is None:
            return self.size()
        available = screen.availableGeometry().size()
        if self.width() <= available.width() and self.height() <= available.height():
            return self.size()
        return self._default_size

    def shutdown(self) -> None:
        """Stop the worker threads (idempotent)."""
        if self._closing:
            return
        self._closing = True
        self.training_panel.shutdown()
        self.controller.shutdown()

    def closeEvent(self, event: QCloseEvent) -> None:  # noqa: N802 (Qt API)
        """Quit: an unsaved model is saved, discarded or the window stays (Cancel).

        A window already shut down by :meth:`shutdown` (screenshots, tests) closes without asking.
        """
        if not self._closing and not self.state.may_replace_model("quit"):
            event.ignore()
            return
        if not self._closing:
            self.save_settings()
        self.shutdown()
        super().closeEvent(event)
