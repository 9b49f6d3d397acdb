"""Training: architecture editor, optimiser settings, start/pause/stop, progress and live curves.

Training is the compute core's generator :func:`lrp_studio.nn.train`, wrapped by
:func:`training_updates` (which thins its records and adds weight snapshots) and run on a copy of
the shown network by the controller's generic worker (:meth:`Controller.start_generator
<lrp_studio.gui.controller.Controller.start_generator>`): pause, resume and stop are superqt's,
checked between updates. Weight snapshots come back at epoch ends (and about once a second) and
are copied into the shown network, which re-explains the current sample so the graph follows the
training.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any, Iterator

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Signal
from PySide6.QtWidgets import (
    QComboBox, QDoubleSpinBox, QFormLayout, QGridLayout, QGroupBox, QHBoxLayout, QHeaderView, QLabel, QProgressBar,
    QPushButton, QSpinBox, QStyle, QTableWidget, QVBoxLayout, QWidget,
)
from PySide6.QtGui import QIcon
from superqt.utils import GeneratorWorker

from lrp_studio.data import Dataset, split_indices
from lrp_studio.errors import LRPStudioError, ParameterError, TrainingDiverged
from lrp_studio.gui import dialogs
from lrp_studio.gui.controller import Controller, error_message
from lrp_studio.gui.heatmap_widget import style_plot
from lrp_studio.gui.state import AppState
from lrp_studio.nn import LOSSES, OPTIMIZERS, Network, layer_from_spec, train
from lrp_studio.nn.builders import residual_block
from lrp_studio.nn.layers import Activation, AvgPool2d, Conv2d, Dense, MaxPool2d
from lrp_studio.nn.training import Progress

ACTIVATIONS = ["relu", "sigmoid", "tanh"]


def standard_icon(widget: QWidget, name: str) -> QIcon:
    """The widget style's standard icon ``name`` (a ``QStyle.StandardPixmap`` member, e.g. ``"SP_MediaPause"``)."""
    return widget.style().standardIcon(getattr(QStyle.StandardPixmap, name))
POOLS = ["none", "maxpool2d", "avgpool2d"]
#: The pooling cell of a residual-block row holds its stride.
STRIDES = ["stride 1", "stride 2"]
NORMS = ["none", "batchnorm"]
#: Short texts the editor shows for row values (its columns are narrow); rows() returns the values.
LABELS = {"maxpool2d": "max", "avgpool2d": "avg", "stride 1": "s=1", "stride 2": "s=2", "batchnorm": "BN"}
ROW_TYPES = ["dense", "conv", "res"]


def _stride(row: dict[str, Any]) -> int:
    """The stride of a residual-block row (its pooling cell reads ``"stride S"``)."""
    text = str(row.get("pool", "stride 1"))
    try:
        return int(text.split()[-1]) if text.startswith("stride") else 1
    except ValueError:
        raise ParameterError(f"cannot read the stride {text!r}") from None


def build_network(rows: list[dict[str, Any]], dataset: Dataset, seed: int = 0, n_outputs: int | None = None) -> Network:
    """A network for ``dataset`` from editor rows.

    Rows are ``{"type": "dense"|"conv"|"res", "size", "kernel", "activation", "pool", "norm"}``: ``conv``
    is conv(size, kernel x kernel) [- batchnorm when ``norm == "batchnorm"``] - activation [- 2x2 pool];
    ``dense`` is dense(size) [- batchnorm] - activation; ``res`` is a residual basic block of ``size``
    channels with stride ``S`` from its pooling cell ``"stride S"`` (:func:`lrp_studio.nn.builders.residual_block`:
    two 3x3 convs with batchnorm, a projection shortcut when channels or stride change). Conv and res
    rows must come before dense rows; a flatten (or, after a residual block, global average pooling)
    and a dense output layer (one unit per class, or ``n_outputs=1`` for the notes' binary classifier
    trained with loss "bce") are added. With a ``res`` row the network is a graph.

    Raises
    ------
    ParameterError
        A row that does not fit (named by its number) or does not fit the dataset's samples.
    """
    n_out = int(n_outputs or dataset.n_classes)
    shape: tuple[int, ...] = dataset.sample_shape
    specs: list[dict[str, Any]] = []
    graph = any(row["type"] == "res" for row in rows)
    blocks = 0

    def add(spec: dict[str, Any]) -> None:
        nonlocal shape
        shape = tuple(layer_from_spec(spec).output_shape(shape))
        specs.append({**spec, "name": str(len(specs))} if graph else spec)

    def to_vector() -> dict[str, Any]:
        """Global average pooling right after a residual block, else flatten."""
        after_block = bool(specs) and str(specs[-1].get("name", "")).startswith("block")
        return {"type": "globalavgpool"} if after_block else {"type": "flatten"}

    try:
        for number, row in enumerate(rows, start=1):
            if row["type"] in ("conv", "res") and len(shape) != 3:
                raise ParameterError(f"row {number}: conv layers and residual blocks need image inputs and must "
                                     "come before dense layers")
            if row["type"] == "res":
                blocks += 1
                source = specs[-1]["name"] if specs else "input"
                block, shape = residual_block(shape, int(row["size"]), _stride(row), f"block{blocks}", source)
                specs.extend(block)
                continue
            if row["type"] == "conv":
                add({"type": "conv2d", "in_channels": shape[0], "out_channels": int(row["size"]),
                     "kernel_size": int(row["kernel"]), "stride": 1, "padding": 0})
            else:
                if len(shape) != 1:
                    add(to_vector())
                add({"type": "dense", "in_features": shape[0], "out_features": int(row["size"])})
            if row.get("norm", "none") == "batchnorm":
                add({"type": "batchnorm", "num_features": shape[0]})
            add({"type": row["activation"]})
            if row["type"] == "conv" and row.get("pool", "none") != "none":
                add({"type": row["pool"], "kernel_size": 2, "stride": 2})
        if len(shape) != 1:
            add(to_vector())
        add({"type": "dense", "in_features": shape[0], "out_features": n_out})
    except ParameterError as error:
        raise ParameterError(f"architecture: {error}") from None
    classes = list(dataset.classes) if n_out == dataset.n_classes else [dataset.classes[-1]] if n_out == 1 else None
    arch = {"input_shape": list(dataset.sample_shape), "layers": specs, "classes": classes,
            "input_range": list(dataset.input_range)}
    return Network.from_spec(arch, seed=seed)


def _block_prefix(net: Network, index: int) -> str | None:
    """``"blockK"`` when layer ``index`` belongs to a residual block built by the vocabulary, else None."""
    name = net.names[index] if not net.is_sequential else ""
    head, dot, _ = name.partition(".")
    return head if dot and head.startswith("block") else None


def rows_from_network(net: Network) -> list[dict[str, Any]]:
    """Editor rows describing ``net`` (its last dense layer is the fixed output layer).

    Residual blocks built by the vocabulary (nodes named ``blockK.*``) become ``res`` rows; a conv or
    dense layer whose output a batchnorm reads gets ``norm = "batchnorm"``.
    """
    rows: list[dict[str, Any]] = []
    linear = net.linear_indices
    seen: set[str] = set()
    for position, index in enumerate(linear[:-1]):
        layer = net.layers[index]
        prefix = _block_prefix(net, index)
        if prefix is not None:
            if prefix not in seen:
                seen.add(prefix)
                rows.append({"type": "res", "size": layer.spec()["out_channels"], "kernel": 3, "activation": "relu",
                             "pool": f"stride {layer.spec()['stride']}", "norm": "batchnorm"})
            continue
        following = net.layers[index + 1 : linear[position + 1]]
        activation = next((l.type_name for l in following if isinstance(l, Activation)), "relu")
        pool = next((l.type_name for l in following if isinstance(l, (MaxPool2d, AvgPool2d))), "none")
        norm = "batchnorm" if following and following[0].type_name == "batchnorm" else "none"
        if isinstance(layer, Conv2d):
            spec = layer.spec()
            rows.append({"type": "conv", "size": spec["out_channels"], "kernel": spec["kernel_size"],
                         "activation": activation, "pool": pool, "norm": norm})
        elif isinstance(layer, Dense):
            rows.append({"type": "dense", "size": layer.spec()["out_features"], "kernel": 3,
                         "activation": activation, "pool": "none", "norm": norm})
    return rows


def training_split(dataset: Dataset) -> tuple[np.ndarray, np.ndarray | None]:
    """Training and validation indices: MNIST's fixed split, else a seeded 85/15 split."""
    if dataset.name in ("mnist", "mnist:all") and len(dataset) == 5000:
        train_idx, test_idx = split_indices()
        return np.asarray(train_idx), np.asarray(test_idx)
    n = len(dataset)
    if n < 40:
        return np.arange(n), None
    order = np.random.default_rng(0).permutation(n)
    cut = int(round(0.85 * n))
    return np.sort(order[:cut]), np.sort(order[cut:])


Weights = dict[str, np.ndarray]


@dataclass(frozen=True)
class TrainingUpdate:
    """What the training worker sends to the GUI thread: a progress record, a weight snapshot, or both.

    Attributes
    ----------
    record : Progress or None
        A batch or epoch record of :func:`lrp_studio.nn.train` (None: a snapshot only).
    weights : dict of str to ndarray, or None
        A copy of the trained network's parameters (``Network.state_dict`` keys, NumPy arrays).
    """

    record: Progress | None = None
    weights: Weights | None = None


def snapshot(net: Network) -> Weights:
    """A copy of ``net``'s parameters as NumPy arrays (safe to hand to another thread)."""
    return {key: np.array(value, copy=True) for key, value in net.state_dict().items()}


def training_updates(net: Network, x: np.ndarray, y: np.ndarray, *, epochs: int, batch_size: int, lr: float,
                     optimizer: str, loss: str, validation: tuple[np.ndarray, np.ndarray] | None = None,
                     batch_interval: float = 0.05, weights_interval: float = 1.0) -> Iterator[TrainingUpdate]:
    """Train ``net`` in place with :func:`lrp_studio.nn.train`, yielding what the GUI should see.

    Every epoch record comes with a weight snapshot; batch records come at most every
    ``batch_interval`` seconds (the first batch of every epoch always), snapshots at most every
    ``weights_interval`` seconds in between. Fewer, larger updates keep the GUI thread's queue
    short; a worker pauses or quits at the next update, so ``batch_interval`` also bounds the
    delay of Pause and Stop (plus one batch).

    Parameters
    ----------
    net : Network
        Trained in place: pass a copy the GUI does not show.
    x : ndarray, shape (N, *input_shape)
    y : ndarray, shape (N,)
        Integer labels.
    epochs, batch_size, lr, optimizer, loss, validation
        As for :func:`lrp_studio.nn.train`.
    batch_interval : float, default 0.05
        Seconds between two batch records sent.
    weights_interval : float, default 1.0
        Seconds between two snapshots sent inside an epoch.

    Yields
    ------
    TrainingUpdate

    Raises
    ------
    TrainingDiverged
        After a last update holding the last good weights (the core restored them).
    ParameterError, DataError
        Bad settings or data, before the first update.
    """
    updates = train(net, x, y, epochs=epochs, batch_size=batch_size, lr=lr, optimizer=optimizer, loss=loss,
                    validation=validation)
    last_batch = last_weights = time.perf_counter()
    sent_epoch: int | None = None
    try:
        for record in updates:
            now = time.perf_counter()
            if record.kind == "epoch":
                last_batch = last_weights = now
                yield TrainingUpdate(record, snapshot(net))
                continue
            send_record = now - last_batch >= batch_interval or record.epoch != sent_epoch
            send_weights = now - last_weights >= weights_interval
            if send_record:
                last_batch, sent_epoch = now, record.epoch
            if send_weights:
                last_weights = now
            if send_record or send_weights:
                yield TrainingUpdate(record if send_record else None, snapshot(net) if send_weights else None)
    except TrainingDiverged:
        yield TrainingUpdate(None, snapshot(net))
        raise
    finally:
        updates.close()


class TrainingPanel(QWidget):
    """Edit the architecture, set up and run training, watch the curves."""

    saveModelRequested = Signal()
    openModelRequested = Signal()
    #: ``"done"``, ``"stopped"`` or ``"failed"``, after the panel has handled the run's end.
    trainingFinished = Signal(str)

    def __init__(self, state: AppState, controller: Controller, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("trainingPanel")
        self.state = state
        self.controller = controller
        self.worker: GeneratorWorker | None = None
        #: The copy of the shown network that the worker trains (read it only while no worker runs).
        self.trained_copy: Network | None = None
        self._trained_net: Network | None = None
        self._outcome = "done"
        self._epoch_text = ""  # the last epoch's summary, kept under the within-epoch progress line
        self.history: dict[str, list[float]] = {k: [] for k in ("x", "loss", "acc", "ex", "eloss", "eacc", "vloss", "vacc")}

        # architecture editor
        self.arch_table = QTableWidget(0, 6)
        self.arch_table.setObjectName("architectureTable")
        self.arch_table.setHorizontalHeaderLabels(["type", "size", "kernel", "activation", "pool", "norm"])
        self.arch_table.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.Stretch)
        self.arch_table.verticalHeader().setVisible(False)
        self.arch_table.setMaximumHeight(132)  # header + 3 rows
        self.arch_table.horizontalHeader().setMinimumSectionSize(30)
        self.arch_table.setToolTip("Hidden layers in order (conv layers and residual blocks first). size = neurons "
                                   "(dense) or channels (conv, res); kernel and pooling apply to conv layers; a res "
                                   "row is a residual block (two 3x3 convs with batchnorm, a projection shortcut "
                                   "when channels or stride change) whose pool cell is its stride (s=1, s=2); pool: "
                                   "2x2 max or average pooling; norm BN adds a batchnorm after a conv or dense layer.")
        self.output_label = QLabel()
        self.output_label.setWordWrap(True)
        self.add_dense_button = QPushButton("+ dense")
        self.add_conv_button = QPushButton("+ conv")
        self.add_res_button = QPushButton("+ res block")
        self.add_res_button.setToolTip("Add a residual block (conv3x3-bn-relu-conv3x3-bn + shortcut, relu); "
                                       "stride 2 halves the feature maps")
        self.remove_button = QPushButton("\u2212 remove")
        self.from_model_button = QPushButton("From model")
        self.from_model_button.setToolTip("Fill the editor with the shown network's architecture.")
        self.build_button = QPushButton("Build new model")
        self.build_button.setToolTip("Replace the shown network by a new, untrained one with this architecture.")
        arch_buttons = QGridLayout()
        for i, button in enumerate((self.add_dense_button, self.add_conv_button, self.add_res_button,
                                    self.remove_button, self.from_model_button, self.build_button)):
            arch_buttons.addWidget(button, i // 3, i % 3)
        self.save_button = QPushButton("Save model\u2026")
        self.open_button = QPushButton("Open model\u2026")
        file_buttons = QHBoxLayout()
        file_buttons.addWidget(self.open_button)
        file_buttons.addWidget(self.save_button)
        arch_box = QGroupBox("Architecture (hidden layers)")
        arch_layout = QVBoxLayout(arch_box)
        arch_layout.setContentsMargins(4, 4, 4, 4)
        arch_layout.addWidget(self.arch_table, 1)
        arch_layout.addWidget(self.output_label)
        arch_layout.addLayout(arch_buttons)
        arch_layout.addLayout(file_buttons)
        arch_layout.addStretch(0)  # the table takes the height first (up to 3 rows)

        # optimiser settings
        self.loss_combo = QComboBox()
        self.loss_combo.addItems(list(LOSSES))
        self.optimizer_combo = QComboBox()
        self.optimizer_combo.addItems(list(OPTIMIZERS))
        self.lr_spin = QDoubleSpinBox()
        self.lr_spin.setDecimals(5)
        self.lr_spin.setRange(1e-5, 10.0)
        self.lr_spin.setSingleStep(0.005)
        self.lr_spin.setValue(0.05)
        self.batch_spin = QSpinBox()
        self.batch_spin.setRange(1, 8192)
        self.batch_spin.setValue(64)
        self.epochs_spin = QSpinBox()
        self.epochs_spin.setRange(1, 10000)
        self.epochs_spin.setValue(5)
        settings = QFormLayout()
        settings.setVerticalSpacing(3)
        settings.addRow("loss", self.loss_combo)
        settings.addRow("optimizer", self.optimizer_combo)
        settings.addRow("learning rate", self.lr_spin)
        settings.addRow("batch size", self.batch_spin)
        settings.addRow("epochs", self.epochs_spin)
        # the style's own media icons: the glyphs U+23F8 etc. show as boxes in fonts without them
        self.start_button = QPushButton(standard_icon(self, "SP_MediaPlay"), "Start")
        self.pause_button = QPushButton(standard_icon(self, "SP_MediaPause"), "Pause")
        self.stop_button = QPushButton(standard_icon(self, "SP_MediaStop"), "Stop")
        self.pause_button.setCheckable(True)
        run_buttons = QHBoxLayout()
        for button in (self.start_button, self.pause_button, self.stop_button):
            run_buttons.addWidget(button)
        self.progress = QProgressBar()
        self.progress.setObjectName("trainingProgress")
        self.status = QLabel("Idle")
        self.status.setWordWrap(True)
        settings_box = QGroupBox("Training")
        settings_layout = QVBoxLayout(settings_box)
        settings_layout.setContentsMargins(4, 4, 4, 4)
        settings_layout.addLayout(settings)
        settings_layout.addLayout(run_buttons)
        settings_layout.addWidget(self.progress)
        settings_layout.addWidget(self.status)
        settings_layout.addStretch(1)

        # curves
        self.curves_widget = pg.GraphicsLayoutWidget()
        self.curves_widget.setBackground("w")
        self.curves_widget.setObjectName("trainingCurves")
        self.loss_plot = self.curves_widget.addPlot(row=0, col=0, title="<span style='color:#222'>loss</span>")
        self.acc_plot = self.curves_widget.addPlot(row=0, col=1, title="<span style='color:#222'>accuracy</span>")
        self.curves: dict[str, pg.PlotDataItem] = {}
        for plot, prefix in ((self.loss_plot, "loss"), (self.acc_plot, "acc")):
            style_plot(plot)
            plot.setLabel("bottom", "epoch")
            plot.showGrid(y=True, alpha=0.25)
            legend = plot.addLegend(labelTextColor="#222", brush=pg.mkBrush(255, 255, 255, 200))
            legend.setOffset((-5, -5))
            self.curves[prefix] = plot.plot([], [], pen=pg.mkPen("#9bbcd8", width=1), name="batch")
            self.curves["e" + prefix] = plot.plot([], [], pen=pg.mkPen("#1f77b4", width=2), symbol="o",
                                                   symbolSize=5, symbolBrush="#1f77b4", name="epoch (train)")
            self.curves["v" + prefix] = plot.plot([], [], pen=pg.mkPen("#e8872b", width=2), symbol="s",
                                                   symbolSize=5, symbolBrush="#e8872b", name="validation")
        self.acc_plot.setYRange(0, 1)

        self.arch_box, self.settings_box = arch_box, settings_box
        self.curves_widget.setMinimumHeight(150)
        self.grid = QGridLayout(self)
        self.grid.setContentsMargins(4, 4, 4, 4)
        self._wide: str | None = None
        self._arrange("wide")

        self.add_dense_button.clicked.connect(lambda: self.add_row("dense", 64))
        self.add_conv_button.clicked.connect(lambda: self.add_row("conv", 8, insert_before_dense=True))
        self.add_res_button.clicked.connect(lambda: self.add_row("res", 16, 3, pool="stride 1", norm="batchnorm",
                                                                 insert_before_dense=True))
        self.remove_button.clicked.connect(self.remove_row)
        self.from_model_button.clicked.connect(self.load_rows_from_model)
        self.build_button.clicked.connect(self.build_model)
        self.start_button.clicked.connect(self.start)
        self.pause_button.toggled.connect(self.set_paused)
        self.stop_button.clicked.connect(self.stop)
        self.save_button.clicked.connect(self.saveModelRequested)
        self.open_button.clicked.connect(self.openModelRequested)
        state.modelChanged.connect(self._model_changed)
        state.datasetChanged.connect(self._update_output_label)
        state.datasetChanged.connect(self._dataset_defaults)
        self.loss_combo.currentTextChanged.connect(lambda _: self._update_output_label())
        self._model_changed()  # rows from the model; loss "bce" for a single-output network
        self._dataset_defaults()
        self._set_running(False)

    # ------------------------------------------------------------------ layout
    WIDE, MEDIUM = 1000, 560  # widths at which the panel switches between 3, 2 and 1 columns

    def _arrange(self, mode: str) -> None:
        """``wide``: editor | settings | curves; ``medium``: editor | settings over curves; ``narrow``: one column."""
        if mode == self._wide:
            return
        self._wide = mode
        for widget in (self.arch_box, self.settings_box, self.curves_widget):
            self.grid.removeWidget(widget)
        for index in range(3):
            self.grid.setColumnStretch(index, 0)
            self.grid.setRowStretch(index, 0)
        if mode == "wide":
            places = [(0, 0, 1, 1), (0, 1, 1, 1), (0, 2, 1, 1)]
            columns, rows = (3, 2, 5), (1, 0, 0)
        elif mode == "medium":
            places = [(0, 0, 1, 1), (0, 1, 1, 1), (1, 0, 1, 2)]
            columns, rows = (3, 2, 0), (2, 3, 0)
        else:
            places = [(0, 0, 1, 1), (1, 0, 1, 1), (2, 0, 1, 1)]
            columns, rows = (1, 0, 0), (2, 0, 3)
        for widget, place in zip((self.arch_box, self.settings_box, self.curves_widget), places):
            self.grid.addWidget(widget, *place)
        for index in range(3):
            self.grid.setColumnStretch(index, columns[index])
            self.grid.setRowStretch(index, rows[index])

    def arrange_for_width(self, width: int) -> None:
        """Choose the column layout for the width available (the dock's, not the panel's own)."""
        self._arrange("wide" if width >= self.WIDE else "medium" if width >= self.MEDIUM else "narrow")

    # ------------------------------------------------------------------ architecture editor
    def add_row(self, kind: str, size: int, kernel: int = 5, activation: str = "relu", pool: str = "maxpool2d",
                insert_before_dense: bool = False, norm: str = "none") -> None:
        """Add an editor row (``kind`` "dense", "conv" or "res"; ``pool`` "stride S" for "res")."""
        table = self.arch_table
        row = table.rowCount()
        if insert_before_dense:
            row = next((r for r in range(table.rowCount()) if self._cell(r, 0) == "dense"), row)
        table.insertRow(row)
        type_combo = QComboBox()
        type_combo.addItems(ROW_TYPES)
        type_combo.setCurrentText(kind)
        size_spin = QSpinBox()
        size_spin.setRange(1, 4096)
        size_spin.setValue(size)
        kernel_spin = QSpinBox()
        kernel_spin.setRange(1, 15)
        kernel_spin.setValue(kernel)
        act_combo = QComboBox()
        act_combo.addItems(ACTIVATIONS)
        act_combo.setCurrentText(activation)
        pool_combo = QComboBox()
        self._fill(pool_combo, STRIDES if kind == "res" else POOLS, pool if kind != "dense" else "none")
        norm_combo = QComboBox()
        self._fill(norm_combo, NORMS, norm)
        for column, widget in enumerate((type_combo, size_spin, kernel_spin, act_combo, pool_combo, norm_combo)):
            widget.setMinimumWidth(30)
            table.setCellWidget(row, column, widget)
        type_combo.currentTextChanged.connect(lambda text, combo=pool_combo: self._type_changed(combo, text))
        self._update_row_enabled()
        self._update_output_label()

    def _type_changed(self, pool_combo: QComboBox, kind: str) -> None:
        """A row's type changed: its pooling cell lists strides (res) or pools (conv, dense)."""
        items = STRIDES if kind == "res" else POOLS
        if [pool_combo.itemData(i) for i in range(pool_combo.count())] != items:
            self._fill(pool_combo, items, items[0] if kind == "res" else "none")
        self._update_row_enabled()
        self._update_output_label()

    @staticmethod
    def _fill(combo: QComboBox, values: list[str], current: str) -> None:
        """Replace ``combo``'s items by ``values`` (shown as their :data:`LABELS`) and select ``current``."""
        combo.clear()
        for value in values:
            combo.addItem(LABELS.get(value, value), value)
        combo.setCurrentIndex(max(0, combo.findData(current)))

    def remove_row(self) -> None:
        row = self.arch_table.currentRow()
        if row < 0:
            row = self.arch_table.rowCount() - 1
        if row >= 0:
            self.arch_table.removeRow(row)
            self._update_output_label()

    def rows(self) -> list[dict[str, Any]]:
        return [{"type": self._cell(r, 0), "size": self._cell(r, 1), "kernel": self._cell(r, 2),
                 "activation": self._cell(r, 3), "pool": self._cell(r, 4), "norm": self._cell(r, 5)}
                for r in range(self.arch_table.rowCount())]

    def load_rows_from_model(self) -> None:
        self.arch_table.setRowCount(0)
        for row in rows_from_network(self.state.net):
            self.add_row(row["type"], row["size"], row["kernel"], row["activation"], row["pool"],
                         norm=row.get("norm", "none"))
        self._update_output_label()

    def build_model(self) -> None:
        """Replace the shown network by a new, untrained one built from the editor (asks first if it is unsaved)."""
        try:
            binary = self.loss_combo.currentText() == "bce" and self.state.dataset.n_classes == 2
            net = build_network(self.rows(), self.state.dataset, n_outputs=1 if binary else None)
        except LRPStudioError as error:
            dialogs.show_error(self, "Cannot build the model", str(error))
            return
        if not self.state.may_replace_model("build a new model"):
            return
        self.state.set_network(net, "new model (untrained)")
        self.state.statusMessage.emit(f"Built an untrained model with {net.n_parameters():,} parameters")

    def _cell(self, row: int, column: int) -> Any:
        widget = self.arch_table.cellWidget(row, column)
        if isinstance(widget, QComboBox):
            data = widget.currentData()
            return data if data is not None else widget.currentText()
        return widget.value()

    def _update_row_enabled(self) -> None:
        for r in range(self.arch_table.rowCount()):
            kind = self._cell(r, 0)
            self.arch_table.cellWidget(r, 2).setEnabled(kind == "conv")
            self.arch_table.cellWidget(r, 3).setEnabled(kind != "res")  # a block's activations are relu
            self.arch_table.cellWidget(r, 4).setEnabled(kind != "dense")
            self.arch_table.cellWidget(r, 5).setEnabled(kind != "res")  # a block always has its batchnorms
            if kind == "res":
                self.arch_table.cellWidget(r, 3).setCurrentText("relu")
                norm = self.arch_table.cellWidget(r, 5)
                norm.setCurrentIndex(max(0, norm.findData("batchnorm")))

    def _update_output_label(self) -> None:
        if self.loss_combo.currentText() == "bce" and self.state.dataset.n_classes == 2:
            self.output_label.setText("+ output: dense 1, sigmoid + cross-entropy (loss bce: the notes' binary "
                                      f"classifier, z > 0 means class '{self.state.dataset.classes[1]}')")
            return
        rows = self.rows()
        pooling = "global average pooling, " if rows and rows[-1]["type"] == "res" else ""
        self.output_label.setText(f"+ output: {pooling}dense {self.state.dataset.n_classes} (one unit per class of "
                                  f"'{self.state.dataset.name}')")

    def _dataset_defaults(self) -> None:
        """Toy (2-D) data: settings that train the small binary classifier in about a second."""
        if tuple(self.state.dataset.sample_shape) == (2,) and not self.is_running():
            self.optimizer_combo.setCurrentText("momentum")
            self.lr_spin.setValue(0.05)
            self.batch_spin.setValue(16)
            self.epochs_spin.setValue(100)

    # ------------------------------------------------------------------ training
    def is_running(self) -> bool:
        """A training run was started and its end has not been handled yet."""
        return self.worker is not None

    @property
    def paused(self) -> bool:
        """Pause was asked for (the worker stops at its next update; its ``paused`` signal says when)."""
        return self.worker is not None and self.pause_button.isChecked()

    def start(self) -> None:
        """Train a copy of the shown network on the dataset's training split in the controller's worker."""
        if self.is_running():
            return
        state = self.state
        if not state.fits():
            dialogs.show_error(self, "Cannot train", f"the dataset '{state.dataset.name}' does not fit the model's "
                               f"input {state.net.input_shape}; build a new model first")
            return
        dataset = state.dataset
        train_idx, val_idx = training_split(dataset)
        validation = None if val_idx is None else (dataset.x[val_idx], dataset.y[val_idx])
        self._trained_net = state.net
        self.trained_copy = state.net.copy()
        self._outcome = "done"
        self.clear_progress()
        n_batches = (len(train_idx) + self.batch_spin.value() - 1) // self.batch_spin.value()
        self.progress.setRange(0, self.epochs_spin.value() * n_batches)
        self.progress.setValue(0)
        self.status.setText(f"Training on {len(train_idx)} samples"
                            + (f", validating on {len(val_idx)}" if val_idx is not None else ""))
        self._set_running(True)
        # connected before the job starts (a short run could end before a later connect); the
        # signals are queued, so `started[0]` is set before any slot runs
        started: list[GeneratorWorker] = []
        slots = {"yielded": lambda update: self._on_update(started[0], update),
                 "aborted": lambda: self._on_aborted(started[0]),
                 "errored": lambda error: self._on_error(started[0], error),
                 "finished": lambda: self._on_finished(started[0]),
                 "paused": lambda: self._on_paused(started[0], True),
                 "resumed": lambda: self._on_paused(started[0], False)}
        worker = self.controller.start_generator(
            training_updates, self.trained_copy, dataset.x[train_idx], dataset.y[train_idx],
            epochs=self.epochs_spin.value(), batch_size=self.batch_spin.value(), lr=self.lr_spin.value(),
            optimizer=self.optimizer_combo.currentText(), loss=self.loss_combo.currentText(), validation=validation,
            _connect=slots)
        started.append(worker)
        self.worker = worker

    def clear_progress(self) -> None:
        """Back to "Idle": empty progress bar, text and curves (a new model; a run's end keeps them)."""
        for values in self.history.values():
            values.clear()
        for curve in self.curves.values():
            curve.setData([], [])
        self.progress.setValue(0)
        self._epoch_text = ""
        self.status.setText("Idle")

    def set_paused(self, paused: bool) -> None:
        """Pause (at the next update) or resume the run."""
        if self.worker is None:
            return
        if paused:
            self.worker.pause()
            self.status.setText("Pausing after the batch in hand\u2026")
        else:
            self.worker.resume()

    def _on_paused(self, worker: GeneratorWorker, paused: bool) -> None:
        """The worker has paused (every update it sent before has arrived) or resumed."""
        if worker is self.worker:
            self.status.setText("Paused" if paused else "Training")

    def stop(self) -> None:
        """Stop at the next update; the shown network keeps the last completed update's weights."""
        if self.worker is not None:
            self.worker.quit()

    def shutdown(self) -> None:
        """Ask the run to quit (window closing; the controller's shutdown waits for the thread)."""
        if self.worker is not None:
            self.worker.quit()

    def _set_running(self, running: bool) -> None:
        self.start_button.setEnabled(not running)
        self.pause_button.setEnabled(running)
        self.stop_button.setEnabled(running)
        self.build_button.setEnabled(not running)
        self.open_button.setEnabled(not running)
        if not running:
            self.pause_button.setChecked(False)

    def _on_progress(self, record: Any) -> None:
        position = record.epoch + (record.batch + 1) / record.n_batches
        self.progress.setValue(record.epoch * record.n_batches + record.batch + 1)
        h = self.history
        if record.kind == "batch":
            # within an epoch too: a 60,000-sample epoch takes tens of seconds
            text = (f"epoch {record.epoch + 1}/{self.epochs_spin.value()}, batch {record.batch + 1}/{record.n_batches}: "
                    f"loss {record.loss:.4f}, acc {record.accuracy:.3f}")
            self.status.setText(text + (f"\nlast {self._epoch_text}" if self._epoch_text else ""))
            h["x"].append(position)
            h["loss"].append(record.loss)
            h["acc"].append(record.accuracy)
            self.curves["loss"].setData(h["x"], h["loss"])
            self.curves["acc"].setData(h["x"], h["acc"])
        else:
            h["ex"].append(record.epoch + 1)
            h["eloss"].append(record.loss)
            h["eacc"].append(record.accuracy)
            self.curves["eloss"].setData(h["ex"], h["eloss"])
            self.curves["eacc"].setData(h["ex"], h["eacc"])
            text = f"epoch {record.epoch + 1}/{self.epochs_spin.value()}: loss {record.loss:.4f}, acc {record.accuracy:.3f}"
            if record.val_loss is not None:
                h["vloss"].append(record.val_loss)
                h["vacc"].append(record.val_accuracy)
                self.curves["vloss"].setData(h["ex"], h["vloss"])
                self.curves["vacc"].setData(h["ex"], h["vacc"])
                text += f"; validation loss {record.val_loss:.4f}, acc {record.val_accuracy:.3f}"
            self._epoch_text = text
            self.status.setText(text)

    def _on_update(self, worker: GeneratorWorker, update: TrainingUpdate) -> None:
        if worker is not self.worker:
            return
        if update.record is not None:
            self._on_progress(update.record)
        if update.weights is not None:
            self._on_weights(update.weights)

    def _on_weights(self, weights: Weights) -> None:
        if self.state.net is not self._trained_net:
            return
        self.state.net.load_state_dict(weights)
        self.state.model_name = "trained in the app"
        self.state.notify_weights()

    def _on_aborted(self, worker: GeneratorWorker) -> None:
        """Stopped: the worker left the generator between updates, so the copy can be read here."""
        if worker is not self.worker:
            return
        self._outcome = "stopped"
        if self.trained_copy is not None:
            self._on_weights(snapshot(self.trained_copy))

    def _on_error(self, worker: GeneratorWorker, error: BaseException) -> None:
        if worker is not self.worker:
            return
        self._outcome = "failed"
        message = error_message(error)
        self.status.setText("Failed: " + message.strip().splitlines()[-1])
        traceback_shown = not isinstance(error, LRPStudioError)
        dialogs.show_error(self, "Training failed", message.strip().splitlines()[-1] if traceback_shown else message,
                           message if traceback_shown else None)

    def _on_finished(self, worker: GeneratorWorker) -> None:
        if worker is not self.worker:
            return
        self.worker = None
        self._set_running(False)
        reason = self._outcome
        if reason == "stopped":
            self.status.setText(self.status.text() + " \u2014 stopped")
        elif reason == "done":
            self.progress.setValue(self.progress.maximum())
        if reason != "failed":
            self.state.statusMessage.emit(f"Training {reason}")
        self.trainingFinished.emit(reason)

    def _model_changed(self) -> None:
        if self.is_running() and self.state.net is not self._trained_net:
            self.stop()
        if not self.is_running():  # the previous model's progress, text and curves are not this model's
            self.clear_progress()
        if self.state.net.n_classes == 1:  # a single output trains with sigmoid + cross-entropy
            self.loss_combo.setCurrentText("bce")
        elif self.loss_combo.currentText() == "bce":
            self.loss_combo.setCurrentText("cross-entropy")
        self.load_rows_from_model()
