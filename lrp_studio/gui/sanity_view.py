"""The "Sanity" tab of the Faithfulness dock.

Sanity: the checks of :mod:`lrp_studio.lrp.sanity` (cascading parameter randomisation with Spearman and SSIM
after each layer, eMPRT, random logit, Gini, entropy) of the checked methods on N class-balanced samples,
in the controller's generic worker (one method at a time, cancellable), as a table next to the AOPC of the
"AOPC" tab's last run and as a plot of the MPRT curves (SSIM after each randomised layer). The tune tab is
:mod:`lrp_studio.gui.tune_view`; :mod:`lrp_studio.gui.sanity_tabs` adds both to the dock.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Qt
from PySide6.QtGui import QBrush
from PySide6.QtWidgets import QHBoxLayout, QLabel, QSpinBox, QTableWidgetItem, QVBoxLayout, QWidget

from lrp_studio.gui.background_run import BackgroundRunView, MethodChecklist, result_plot, result_table, table_and_plot
from lrp_studio.gui.controller import Controller
from lrp_studio.gui.state import AppState, default_params, explain_kwargs
from lrp_studio.lrp import METHODS
from lrp_studio.lrp.sample_selection import select_samples
from lrp_studio.lrp.sanity import SanityScore, iter_sanity
from lrp_studio.viz.curves import PALETTE

DEFAULT_SANITY_METHODS = ("epsilon-plus-flat", "epsilon-gamma-box", "deep-taylor", "lrp0", "gradient")
COLUMNS = ("method", "AOPC", "MPRT \u03c1", "MPRT SSIM", "eMPRT", "logit \u03c1", "logit SSIM", "Gini", "entropy")
TIPS = ("", "AOPC of the AOPC tab's last run (higher: more faithful)",
        "Spearman of |R| with the original map after every layer was randomised (lower: more model-dependent)",
        "SSIM with the original map after every layer was randomised (lower: more model-dependent)",
        "relative rise of the map's histogram entropy from the original to the randomised model (higher: better)",
        "Spearman of |R| between the maps of a random other class and of the predicted class (lower: more class-specific)",
        "SSIM between the maps of a random other class and of the predicted class (lower: more class-specific)",
        "Gini index of |R| (higher: sparser)", "entropy of |R| / sum |R| (lower: less complex)")


def method_arguments(state: AppState, methods: list[str]) -> dict[str, dict[str, Any]]:
    """Keywords of :func:`lrp_studio.explain` per method: the explanation panel's values, else the defaults."""
    params = {}
    for method in methods:
        kwargs = explain_kwargs(method, state.params_by_method.get(method) or default_params(method, state.net), {})
        kwargs.pop("method", None)
        params[method] = kwargs
    return params


def balanced_batch(state: AppState, n: int) -> tuple[np.ndarray, np.ndarray, str]:
    """N class-balanced samples of the open dataset (sample seed 0), their predicted classes, and a description."""
    n = min(n, len(state.dataset))
    selection = select_samples(state.dataset.y, n, "balanced")
    x = np.array(np.asarray(state.dataset.x)[selection.indices], dtype=np.float32)
    targets = np.asarray(state.predicted_class(state.net.predict(state.net.prepare_input(x))), dtype=np.int64)
    return x, targets.reshape(-1), f"{n} samples of {state.dataset.name}, {selection.describe()}"


class SanityView(BackgroundRunView):
    """Methods, N, Run/Cancel, the table of sanity figures and the MPRT curves."""

    def __init__(self, state: AppState, controller: Controller, aopc_source: Any = None,
                 parent: QWidget | None = None) -> None:
        super().__init__(controller, parent)
        self.setObjectName("sanityView")
        self.state, self.aopc_source = state, aopc_source
        self.scores: dict[str, SanityScore] = {}
        self.method_list = MethodChecklist(list(METHODS), DEFAULT_SANITY_METHODS, "sanityMethods", max_height=70)
        self.count_spin = QSpinBox()
        self.count_spin.setRange(2, 5000)
        self.count_spin.setValue(20)
        self.count_spin.setToolTip("N class-balanced samples of the open dataset (sample seed 0)")
        self.run_button.setObjectName("sanityRun")
        self.table = result_table("sanityTable", len(COLUMNS))
        self.table.setHorizontalHeaderLabels(list(COLUMNS))
        for c, tip in enumerate(TIPS):
            self.table.horizontalHeaderItem(c).setToolTip(tip)
        self.plot = result_plot("sanityPlot", "SSIM to the original")
        self.plot.getPlotItem().setLabel("bottom", "layers randomised (from the output)")
        self.curves: dict[str, pg.PlotDataItem] = {}
        self.status.setText("Model parameter randomisation (Adebayo et al. 2018), eMPRT (Hedstr\u00f6m et al. 2023), "
                            "random logit (Sixt et al. 2020), Gini, entropy. Press Run.")
        row = QHBoxLayout()
        row.addWidget(QLabel("N:"))
        row.addWidget(self.count_spin)
        row.addWidget(self.run_button)
        row.addWidget(self.cancel_button)
        row.addWidget(self.progress, 1)
        split = table_and_plot(self.table, self.plot)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 4)
        layout.addWidget(self.method_list)
        layout.addLayout(row)
        layout.addWidget(split, 1)
        layout.addWidget(self.status)

    def checked_methods(self) -> list[str]:
        return self.method_list.checked_methods()

    def set_methods(self, methods: list[str]) -> None:
        self.method_list.set_methods(methods)

    def run(self) -> None:
        state = self.state
        methods = self.checked_methods()
        if not methods:
            self.status.setText("Check at least one method.")
            return
        if not state.fits() or not len(state.dataset):
            self.status.setText("The model does not fit the dataset.")
            return
        x, targets, scope = balanced_batch(state, self.count_spin.value())
        self.scores = {}
        self.table.setRowCount(0)
        for curve in self.curves.values():
            self.plot.removeItem(curve)
        self.curves = {}
        self._methods, self._scope = methods, scope
        self.status.setText(f"Sanity checks of {len(methods)} methods on {scope}\u2026")
        self.start(len(methods), iter_sanity, state.net.copy(), x, targets, methods,
                   method_params=method_arguments(state, methods))

    def aopc_of(self, method: str) -> float:
        """The AOPC of ``method`` in the AOPC tab's last run (NaN when it has none)."""
        scores = getattr(self.aopc_source, "scores", {}) or {}
        return float(scores[method].aopc) if method in scores else float("nan")

    def on_result(self, score: SanityScore) -> None:
        """One method's figures: a table row and its MPRT curve."""
        self.scores[score.method] = score
        values = [self.aopc_of(score.method), score.spearman[-1] if score.spearman else np.nan,
                  score.ssim[-1] if score.ssim else np.nan, score.emprt, score.logit_spearman, score.logit_ssim,
                  score.sparseness, score.complexity]
        r = self.table.rowCount()
        self.table.insertRow(r)
        name = QTableWidgetItem(score.method)
        name.setToolTip("randomised in this order: " + ", ".join(score.layers))
        self.table.setItem(r, 0, name)
        for c, value in enumerate(values, start=1):
            item = QTableWidgetItem("\u2013" if not np.isfinite(value) else f"{value:.3f}")
            item.setTextAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
            self.table.setItem(r, c, item)
        colour = PALETTE[self._methods.index(score.method) % len(PALETTE)]
        xs = np.arange(len(score.ssim) + 1, dtype=np.float64)
        name.setForeground(QBrush(pg.mkColor(colour)))  # the curve's colour (no legend over the curves)
        self.curves[score.method] = self.plot.plot(xs, [1.0, *score.ssim], pen=pg.mkPen(colour, width=2), symbol="o",
                                                   symbolSize=6, symbolBrush=colour, name=score.method)
        self.plot.getPlotItem().getAxis("bottom").setTicks([[(i, str(i)) for i in range(len(xs))]])
        self.plot.setToolTip("SSIM to the original map after randomising 0, 1, ... layers: "
                             + " \u2192 ".join(score.layers))

    def on_end(self, outcome: str) -> None:
        if outcome == "done":
            self.status.setText(f"Sanity checks on {self._scope}. Hover a column header for its meaning; no single "
                                f"column is the truth.")
        else:
            self.status.setText(f"Cancelled after {len(self.scores)} of {len(self._methods)} methods.")


__all__ = ["SanityView", "balanced_batch", "method_arguments"]
