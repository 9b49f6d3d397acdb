"""The "Relevance ledger" dock: where the relevance went, layer by layer, as a waterfall chart and a table.

For the current sample and method it runs :func:`lrp_studio.lrp.ledger.explain_ledger` (one sample, in the
GUI thread when the dock is shown: a few milliseconds on the bundled models) and shows

- a waterfall from the explained logit (or start total) to the input's total: one floating bar per layer
  that absorbed (red) or added (green) relevance, the running total on top;
- a table: per dense/conv/pooling/merge layer the relevance that came in, the parts absorbed by the bias
  terms and by the stabiliser, the part a gamma rule dropped, and what went out to the inputs; for
  alpha-beta and gamma one sub-row per denominator (positive / negative part, z > 0 / z < 0).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Qt
from PySide6.QtGui import QFont, QFontMetrics
from PySide6.QtWidgets import QHeaderView, QLabel, QSplitter, QTableWidgetItem, QVBoxLayout, QWidget

from lrp_studio.gui.background_run import result_table
from lrp_studio.gui.dock_tabs import give_room, tabify_when_shown
from lrp_studio.gui.heatmap_widget import style_plot
from lrp_studio.gui.state import AppState, method_params
from lrp_studio.lrp.ledger import NORM_TYPES, Ledger, explain_ledger

COLUMNS = ("layer", "rule", "in", "bias", "stabiliser", "dropped", "out")
ABSORBED, ADDED, TOTAL = "#d62728", "#2ca02c", "#1f77b4"


def _cell(value: float | None) -> QTableWidgetItem:
    item = QTableWidgetItem("" if value is None else f"{value:.4g}")
    item.setTextAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
    return item


class LedgerView(QWidget):
    """Waterfall chart above, ledger table below; follows the settled explanation while shown."""

    def __init__(self, state: AppState, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("ledgerView")
        self.state = state
        self.ledger: Ledger | None = None
        self._shown = False
        self.plot = pg.PlotWidget(background="w")
        self.plot.setObjectName("ledgerWaterfall")
        self.plot.setMinimumHeight(110)
        self.plot.setMenuEnabled(False)
        self.plot.hideButtons()
        item = self.plot.getPlotItem()
        style_plot(item)
        item.setLabel("left", "relevance")
        item.showGrid(x=False, y=True, alpha=0.25)
        self.bars: pg.BarGraphItem | None = None
        self._label_font = QFont(self.font())
        self._label_font.setPointSizeF(max(6.5, self.font().pointSizeF() * 0.8))
        self.labels: list[pg.TextItem] = []
        self.table = result_table("ledgerTable", len(COLUMNS))
        self.table.setHorizontalHeaderLabels(list(COLUMNS))
        header = self.table.horizontalHeader()
        header.setSectionResizeMode(1, QHeaderView.ResizeMode.Stretch)  # the rule: elided when narrow, full in its tooltip
        header.setStretchLastSection(False)
        header.setMinimumSectionSize(40)
        self.summary = QLabel("")
        self.summary.setObjectName("ledgerSummary")
        self.summary.setWordWrap(True)
        split = QSplitter(Qt.Orientation.Vertical)
        split.addWidget(self.plot)
        split.addWidget(self.table)
        split.setSizes([200, 200])
        layout = QVBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 4)
        layout.addWidget(self.summary)
        layout.addWidget(split, 1)
        state.explanationSettled.connect(self.refresh)

    def set_shown(self, shown: bool) -> None:
        """Follow the explanation only while the dock is shown (recomputed when it comes to the front)."""
        self._shown = bool(shown)
        if shown:
            self.refresh()

    def refresh(self) -> None:
        """Recompute the ledger of the explained sample (skipped while hidden)."""
        if not self._shown:
            return
        state = self.state
        exp = state.explanation
        if exp is None or method_params(state.method, state.custom_rules).kind == "baseline":
            self.ledger = None
            self._clear("A baseline has no layers to account for: choose an LRP method." if exp is not None else "")
            return
        kwargs = {**state.explain_arguments(), **state.start_arguments()}
        method, bias = kwargs.pop("method"), kwargs.pop("bias", None)
        x = np.asarray(state.input_at(state.explained_index))[None]
        target = int(exp.targets[0]) if kwargs.get("start") is None else None
        self.ledger = explain_ledger(state.net, x, target, method, bias=bias, **kwargs)
        self.draw()

    def _clear(self, text: str) -> None:
        self.summary.setText(text)
        self.table.setRowCount(0)
        if self.bars is not None:
            self.plot.removeItem(self.bars)
            self.bars = None
        for label in self.labels:
            self.plot.removeItem(label)
        self.labels = []

    def draw(self) -> None:
        """Waterfall and table of :attr:`ledger` (sample 0)."""
        book = self.ledger
        self._clear("")
        steps = book.waterfall(0)
        x = np.arange(len(steps), dtype=np.float64)
        bottoms, heights, brushes = [], [], []
        for i, (_, change, running) in enumerate(steps):
            if i in (0, len(steps) - 1):
                bottoms.append(0.0)
                heights.append(running)
                brushes.append(TOTAL)
            else:
                bottoms.append(running - change)
                heights.append(change)
                brushes.append(ABSORBED if change < 0 else ADDED)
        self.bars = pg.BarGraphItem(x=x, y0=bottoms, height=heights, width=0.6, brushes=brushes,
                                    pens=[pg.mkPen("#333")] * len(steps))
        self.plot.addItem(self.bars)
        running = np.array([s[2] for s in steps])
        low, high = float(running.min()), float(running.max())
        pad = max(high - low, 1e-3 * max(abs(high), 1e-12))
        for i, (_, change, total) in enumerate(steps):
            text = f"{total:.4g}" if i in (0, len(steps) - 1) else f"{change:+.3g}"
            label = pg.TextItem(text, color="#222", anchor=(0.5, 1.0 if i % 2 == 0 else 2.0))  # odd ones a line up
            label.setFont(self._label_font)
            label.setPos(float(i), max(total, total - change if 0 < i < len(steps) - 1 else total))
            self.plot.addItem(label)
            self.labels.append(label)
        names = [self._short(name) for name, _, _ in steps]
        staggered = len(names) > 5
        if staggered:  # two lines of tick labels, so that neighbours do not collide
            names = [n if i % 2 == 0 else "\n" + n for i, n in enumerate(names)]
        axis = self.plot.getPlotItem().getAxis("bottom")
        axis.setTicks([list(enumerate(names))])
        axis.setHeight(2 * QFontMetrics(axis.font()).height() + 12 if staggered else None)
        self.plot.getPlotItem().setRange(xRange=(-0.6, len(steps) - 0.4), yRange=(low - 0.4 * pad, high + 1.1 * pad),
                                        padding=0)  # room above for two lines of labels
        self._fill_table(book)
        start, end = float(book.start_total[0]), float(book.input_total[0])
        share = f" ({100 * end / start:.2f} %)" if start else ""
        self.summary.setText(f"{book.label} <b>{start:.5g}</b> \u2192 input <b>{end:.5g}</b>{share}: absorbed by "
                             f"biases {book.total('bias'):.3g}, stabilisers {book.total('stabiliser'):.3g}, "
                             f"dropped {book.total('dropped'):.3g}")
        self.summary.setToolTip("In every row: in \u2212 bias \u2212 stabiliser \u2212 dropped = out (up to float32 "
                                "rounding). Red bars: relevance a layer absorbed; green: relevance it added "
                                "(a negative bias part).")

    def _fill_table(self, book: Ledger) -> None:
        rows: list[tuple[str, str, Any, Any, Any, Any, Any]] = []
        for row in book.layers:
            if row.parts or row.kind in NORM_TYPES or row.absorbed[0] != 0:
                rows.append((row.name, row.rule or row.kind, row.received[0], row.bias[0], row.stabiliser[0],
                             row.dropped[0], row.sent[0]))
                if len(row.parts) > 1:
                    for part in row.parts:
                        rows.append((f"   {part.label} ({part.coef:g}\u00d7)", "", part.received[0], part.bias[0],
                                     part.stabiliser[0], None, part.sent[0]))
        self.table.setRowCount(len(rows))
        for r, values in enumerate(rows):
            self.table.setItem(r, 0, QTableWidgetItem(values[0]))
            rule = QTableWidgetItem(values[1])
            rule.setToolTip(values[1])
            self.table.setItem(r, 1, rule)
            for c, value in enumerate(values[2:], start=2):
                self.table.setItem(r, c, _cell(None if value is None else float(value)))

    @staticmethod
    def _short(name: str) -> str:
        return (name.replace(" (layer ", " ").replace(")", "").replace("conv2d", "conv")
                .replace("globalavgpool", "gap").replace("explained logit", "logit"))


def install_ledger_dock(window: Any) -> LedgerView:
    """Add the "Relevance ledger" dock, tabbed behind the conservation plot."""
    view = LedgerView(window.state)
    dock = window._dock("ledger", "Relevance ledger", view, Qt.DockWidgetArea.BottomDockWidgetArea,
                        "Where the relevance went: per layer, what came in, what the biases and stabilisers "
                        "absorbed, and what went down to the inputs.")
    dock.visibilityChanged.connect(view.set_shown)
    dock.visibilityChanged.connect(lambda shown: give_room(window, dock) if shown else None)
    front = window.docks.get("conservation")
    if front is not None:
        tabify_when_shown(window, front, dock)
    window.ledger_view = view
    return view


__all__ = ["LedgerView", "install_ledger_dock"]
