"""The "Tune" tab of the Faithfulness dock: a background sweep over a method's parameters, scored by AOPC.

Runs :func:`lrp_studio.lrp.tuning.iter_tune` (one grid point at a time, cancellable) on N class-balanced
samples of the open dataset for the chosen composite or rule, fills a table (parameters, AOPC ± sem, Gini,
random-logit SSIM; default and best marked) and plots AOPC against the last parameter, one curve per value
of the others (default in bold, best highlighted). "Apply best" (or "Apply row") sets the method and its parameters in the explanation panel.
"""

from __future__ import annotations

import pyqtgraph as pg
from PySide6.QtCore import Qt
from PySide6.QtGui import QBrush, QColor
from PySide6.QtWidgets import (
    QComboBox, QHBoxLayout, QLabel, QPushButton, QSizePolicy, QSpinBox, QTableWidget, QTableWidgetItem, QVBoxLayout,
    QWidget,
)

from lrp_studio.errors import ParameterError
from lrp_studio.gui.background_run import BackgroundRunView, result_plot, result_table, table_and_plot
from lrp_studio.gui.controller import Controller
from lrp_studio.gui.sanity_view import balanced_batch
from lrp_studio.gui.state import AppState
from lrp_studio.lrp import COMPOSITES, RULES
from lrp_studio.lrp.tuning import TuneResult, TuneRow, grid_points, iter_tune, make_grid, parameter_groups
from lrp_studio.viz.curves import PALETTE

BEST_BRUSH = QBrush(QColor(255, 236, 179))


class TuneView(BackgroundRunView):
    """Method, N, Run/Cancel, Apply; the sweep's table and AOPC curves."""

    def __init__(self, state: AppState, controller: Controller, parent: QWidget | None = None) -> None:
        super().__init__(controller, parent)
        self.setObjectName("tuneView")
        self.state = state
        self.result: TuneResult | None = None
        self.method_combo = QComboBox()
        self.method_combo.setObjectName("tuneMethod")
        self.count_spin = QSpinBox()
        self.count_spin.setRange(2, 5000)
        self.count_spin.setValue(20)
        self.count_spin.setToolTip("N class-balanced samples of the open dataset (sample seed 0)")
        self.run_button.setObjectName("tuneRun")
        self.apply_button = QPushButton("Apply best")
        self.apply_button.setObjectName("tuneApply")
        self.apply_button.setToolTip("Use the best setting (highest AOPC) in the explanation panel")
        self.apply_button.setEnabled(False)
        self.apply_selected_button = QPushButton("Apply row")
        self.apply_selected_button.setToolTip("Use the selected row's setting in the explanation panel")
        self.apply_selected_button.setEnabled(False)
        self.groups_label = QLabel("")
        self.groups_label.setWordWrap(True)
        self.groups_label.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
        self.table = result_table("tuneTable")
        self.table.setSelectionBehavior(QTableWidget.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QTableWidget.SelectionMode.SingleSelection)
        self.plot = result_plot("tunePlot", "AOPC")
        self.status.setText("Sweep a method's parameters per layer group, scored by AOPC (2x2 regions, 50 steps, "
                            "uniform noise). Press Run.")
        self.method_combo.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon)
        self.method_combo.setMinimumContentsLength(12)
        row = QHBoxLayout()  # three short rows: the tab fits a narrow dock (1280 x 800 window) without scrolling
        row.addWidget(QLabel("Method:"))
        row.addWidget(self.method_combo, 1)
        row.addWidget(QLabel("N:"))
        row.addWidget(self.count_spin)
        run_row = QHBoxLayout()
        run_row.addWidget(self.run_button)
        run_row.addWidget(self.cancel_button)
        run_row.addWidget(self.progress, 1)
        apply_row = QHBoxLayout()
        apply_row.addWidget(self.groups_label, 1)
        apply_row.addWidget(self.apply_selected_button)
        apply_row.addWidget(self.apply_button)
        split = table_and_plot(self.table, self.plot)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 4)
        layout.addLayout(row)
        layout.addLayout(run_row)
        layout.addLayout(apply_row)
        layout.addWidget(split, 1)
        layout.addWidget(self.status)
        self.apply_button.clicked.connect(self.apply_best)
        self.apply_selected_button.clicked.connect(self.apply_selected)
        self.table.itemSelectionChanged.connect(
            lambda: self.apply_selected_button.setEnabled(self.result is not None and bool(self.table.selectedItems())))
        state.modelChanged.connect(self.fill_methods)
        self.fill_methods()

    def fill_methods(self) -> None:
        """The composites and rules of the open network that have a parameter to tune (epsilon-gamma-box first)."""
        current = self.method_combo.currentText() or "epsilon-gamma-box"
        self.method_combo.clear()
        for name in sorted([*COMPOSITES, *RULES], key=lambda n: n != "epsilon-gamma-box"):
            try:
                parameter_groups(self.state.net, name)
            except ParameterError:
                continue
            self.method_combo.addItem(name)
        index = self.method_combo.findText(current)
        self.method_combo.setCurrentIndex(max(index, 0))

    def set_method(self, method: str) -> None:
        self.method_combo.setCurrentIndex(self.method_combo.findText(method))

    def run(self) -> None:
        state = self.state
        method = self.method_combo.currentText()
        if not method:
            self.status.setText("This model has no method with a parameter to tune.")
            return
        if not state.fits() or not len(state.dataset):
            self.status.setText("The model does not fit the dataset.")
            return
        groups = parameter_groups(state.net, method)
        grid = make_grid(method, list(groups), None)
        x, targets, scope = balanced_batch(state, self.count_spin.value())
        self.result = TuneResult(method, groups)
        self._scope = scope
        names = list(groups)
        self.table.clear()
        self.table.setRowCount(0)
        self.table.setColumnCount(len(names) + 4)
        self.table.setHorizontalHeaderLabels([*names, "AOPC", "\u00b1 sem", "Gini", "logit SSIM"])
        self.plot.clear()
        self.apply_button.setEnabled(False)
        self.apply_selected_button.setEnabled(False)
        self.groups_label.setText("; ".join(f"<b>{n}</b>: {', '.join(layers)}" for n, layers in groups.items()))
        self.groups_label.setToolTip(self.groups_label.text())
        self.status.setText(f"Sweeping {len(grid_points(grid))} settings of {method} on {scope}\u2026")
        self.start(len(grid_points(grid)), iter_tune, state.net.copy(), x, targets, method, grid)

    def on_result(self, row: TuneRow) -> None:
        """One grid point: a table row and the curves redrawn."""
        self.result.rows.append(row)
        names = list(self.result.groups)
        r = self.table.rowCount()
        self.table.insertRow(r)
        values = [*(row.params[n] for n in names), row.aopc, row.aopc_sem, row.gini, row.logit_ssim]
        for c, value in enumerate(values):
            text = f"{value:.4g}" if c < len(names) else f"{value:.4f}" if c == len(names) else f"{value:.3f}"
            item = QTableWidgetItem(text)
            item.setTextAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
            if row.default:  # the method's default setting in bold
                font = item.font()
                font.setBold(True)
                item.setFont(font)
                item.setToolTip("the method's default setting")
            self.table.setItem(r, c, item)
        self._mark_best()
        self._draw()

    def _mark_best(self) -> None:
        best = self.result.best
        for r, row in enumerate(self.result.rows):
            for c in range(self.table.columnCount()):
                self.table.item(r, c).setBackground(BEST_BRUSH if row is best else QBrush())

    def _draw(self) -> None:
        """AOPC against the last parameter's values (as positions), one curve per setting of the others, coloured
        like the first column of their rows."""
        names = list(self.result.groups)
        last = names[-1]
        values = sorted({row.params[last] for row in self.result.rows})
        self.plot.clear()
        curves: dict[tuple, list[tuple[int, float]]] = {}
        for row in self.result.rows:
            key = tuple(row.params[n] for n in names[:-1])
            curves.setdefault(key, []).append((values.index(row.params[last]), row.aopc))
        keys = list(curves)
        for i, key in enumerate(keys):
            xs, ys = zip(*sorted(curves[key]))
            colour = PALETTE[i % len(PALETTE)]
            self.plot.plot(list(xs), list(ys), pen=pg.mkPen(colour, width=2), symbol="o", symbolSize=6,
                           symbolBrush=colour)
        for r, row in enumerate(self.result.rows):  # the table's first column has its curve's colour (no legend)
            key = tuple(row.params[n] for n in names[:-1])
            self.table.item(r, 0).setForeground(QBrush(pg.mkColor(PALETTE[keys.index(key) % len(PALETTE)])))
        axis = self.plot.getPlotItem().getAxis("bottom")
        axis.setTicks([[(i, f"{v:g}") for i, v in enumerate(values)]])
        self.plot.getPlotItem().setLabel("bottom", last)

    def on_end(self, outcome: str) -> None:
        if not self.result or not self.result.rows:
            self.status.setText("Cancelled before the first setting.")
            return
        has_default = any(r.default for r in self.result.rows)
        self.apply_button.setEnabled(True)
        text = self.result.best_vs_default() if has_default else ""
        prefix = "Cancelled; " if outcome == "cancelled" else ""
        self.status.setText(f"{prefix}{len(self.result.rows)} settings on {self._scope}. {text}")

    def apply_row(self, row: TuneRow) -> None:
        """Set the method and the row's parameters in the explanation panel."""
        self.state.set_method(self.result.method)
        for name, value in row.params.items():
            self.state.set_param(name, float(value))
        self.status.setText(f"Applied {self.result.method} with "
                            + ", ".join(f"{k}={v:g}" for k, v in row.params.items()) + ".")

    def apply_best(self) -> None:
        if self.result is not None and self.result.rows:
            self.apply_row(self.result.best)

    def apply_selected(self) -> None:
        rows = {index.row() for index in self.table.selectedIndexes()}
        if self.result is not None and rows:
            self.apply_row(self.result.rows[min(rows)])


__all__ = ["TuneView"]
