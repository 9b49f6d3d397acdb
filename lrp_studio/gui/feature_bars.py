"""Per-feature relevance of tabular inputs in the heatmap pane: a horizontal bar chart, not a 1 x F strip.

Shown by :class:`~lrp_studio.gui.heatmap_widget.HeatmapWidget` instead of its image plots when the
sample is a feature vector with named features (a CSV with a header row). The rows are those of
:func:`lrp_studio.viz.bars.bar_rows` (largest |relevance| first, the rest summed); red positive,
blue negative, as in the CLI's PNG.
"""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np
import pyqtgraph as pg

from lrp_studio.viz.bars import NEGATIVE, POSITIVE, bar_rows

#: Rows shown in the pane (the CLI's PNG shows 20).
MAX_BARS = 12


class FeatureBars(pg.PlotWidget):
    """A horizontal bar chart of one sample's per-feature relevance."""

    def __init__(self) -> None:
        super().__init__(background="w")
        self.setObjectName("featureBars")
        self.setMinimumHeight(150)
        item = self.getPlotItem()
        item.invertY(True)
        item.setMouseEnabled(False, False)
        item.hideButtons()
        item.setMenuEnabled(False)
        item.setLabel("bottom", "relevance")
        item.addLine(x=0, pen=pg.mkPen("#444"))
        self.bars: pg.BarGraphItem | None = None
        self.rows: list[tuple[str, float]] = []

    def show_relevance(self, relevance: np.ndarray, names: Sequence[str]) -> None:
        """Draw ``relevance`` (F,) with the feature ``names``."""
        self.rows = bar_rows(np.asarray(relevance, dtype=np.float64).ravel(), names, MAX_BARS)
        values = np.array([value for _, value in self.rows])
        brushes = [pg.mkBrush(*(POSITIVE if v >= 0 else NEGATIVE)) for v in values]
        if self.bars is not None:
            self.removeItem(self.bars)
        self.bars = pg.BarGraphItem(x0=np.minimum(values, 0), width=np.abs(values), y=np.arange(len(values)),
                                    height=0.7, brushes=brushes, pens=[pg.mkPen(None)] * len(values))
        self.addItem(self.bars)
        self.getPlotItem().getAxis("left").setTicks([[(k, name) for k, (name, _) in enumerate(self.rows)]])
        span = float(np.abs(values).max(initial=0.0)) or 1.0
        self.setXRange(-span if (values < 0).any() else 0.0, span, padding=0.05)
        self.setYRange(-0.5, len(values) - 0.5, padding=0.02)


def show_feature_bars(widget: Any, relevance: Any) -> bool:
    """In a HeatmapWidget: show the bar chart (and hide the image plots) when the dataset names the
    features of a flat sample; otherwise show the plots. Returns whether the bars are shown."""
    features = getattr(widget.state.dataset, "features", None)
    values = np.asarray(relevance)
    tabular = features is not None and values.ndim == 1 and values.size == len(features)
    bars = getattr(widget, "feature_bars", None)
    if tabular and bars is None:
        bars = FeatureBars()
        widget.layout().insertWidget(2, bars, 1)  # below the caption and the (hidden) image plots
        widget.feature_bars = bars
    if bars is not None:
        bars.setVisible(tabular)
    widget.canvas.setVisible(not tabular)
    if tabular:
        bars.show_relevance(values, features)
    return tabular
