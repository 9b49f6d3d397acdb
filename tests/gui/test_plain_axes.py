"""No plot of the app scales its axes with an SI prefix ("logit (x0.001)"): gui/axes.plain_axes."""

from __future__ import annotations

import pyqtgraph as pg


def _axes(window) -> list[pg.AxisItem]:
    found = []
    for view in window.findChildren(pg.GraphicsView):
        found += [item for item in view.scene().items() if isinstance(item, pg.AxisItem)]
    return found


def test_every_axis_of_the_window_shows_values_as_they_are(window):
    axes = _axes(window)
    assert len(axes) >= 12  # output bars, conservation, training curves, faithfulness, colour bars, ...
    assert [a for a in axes if a.autoSIPrefix] == []


def test_small_logits_keep_a_plain_label(window):
    plot = window.output_bars.plot.getPlotItem()
    plot.setYRange(0, 0.0005)
    axis = plot.getAxis("left")
    axis.setRange(0, 0.0005)  # pyqtgraph rescales here when the prefix is on
    assert axis.autoSIPrefixScale == 1.0 and "x0.0001" not in axis.labelString() and "(" not in axis.labelString()
    assert axis.tickStrings([0.0002, 0.0004], 1.0, 0.0002) == ["0.0002", "0.0004"]
