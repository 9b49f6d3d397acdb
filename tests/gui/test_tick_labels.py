"""Category tick labels that never overlap (gui/tick_labels.py) and the conservation plot that uses them."""

from __future__ import annotations

import pytest
from PySide6.QtGui import QFontMetricsF

from lrp_studio.gui.tick_labels import GAP_PX, MAX_ROWS, fitted_labels, tick_rows


def _overlaps(labels, widths, spacing):
    """Any two labels of one line closer than half their widths plus the gap (written out pair by pair)."""
    lines = [label.count("\n") for label in labels]
    for i in range(len(labels)):
        for j in range(i + 1, len(labels)):
            if lines[i] == lines[j] and (widths[i] + widths[j]) / 2 + GAP_PX > (j - i) * spacing:
                return True
    return False


def test_tick_rows_hand_worked():
    # 40 px labels 50 px apart: 40 + 6 <= 50 fits on one line
    assert tick_rows([40, 40, 40], 50) == 1
    # 60 px labels 50 px apart: one line needs 66 > 50, two lines 66 <= 100
    assert tick_rows([60, 60, 60], 50) == 2
    # 120 px labels 50 px apart: two lines 126 > 100, three lines 126 <= 150
    assert tick_rows([120, 120, 120, 120], 50) == 3
    assert tick_rows([200, 200, 200, 200], 50) is None
    assert tick_rows([200], 10) == 1  # a single label never collides


@pytest.mark.parametrize("spacing", [12.0, 30.0, 55.0, 90.0, 200.0])
def test_fitted_labels_never_overlap_on_a_line(spacing):
    names = ["input", "conv 64", "maxpool", "block1.add", "globalavgpool", "dense 10"] * 2
    widths = [7.0 * len(name) for name in names]
    numbers = [7.0 * len(str(i)) for i in range(len(names))]
    labels, numbered = fitted_labels(names, widths, numbers, spacing)
    shown = [label.lstrip("\n") for label in labels]
    assert shown == ([str(i) for i in range(len(names))] if numbered else names)
    assert numbered == (tick_rows(widths, spacing) is None)
    if not numbered or tick_rows(numbers, spacing) is not None:  # only numbers on MAX_ROWS lines may still touch
        assert not _overlaps(labels, numbers if numbered else widths, spacing)
    else:
        assert max(label.count("\n") for label in labels) == MAX_ROWS - 1


def test_the_conservation_plot_numbers_its_layers_when_the_names_do_not_fit(make_window, qtbot):
    from lrp_studio.zoo import load_model

    window = make_window(load_model("resnet"))
    window.docks["conservation"].show()
    plot = window.conservation_plot
    assert window.wait_idle(30) and plot.tick_names
    metrics = QFontMetricsF(plot.getPlotItem().getAxis("bottom").font())
    n = len(plot.tick_names)
    for width in (620, 200):
        plot.setFixedWidth(width)
        qtbot.waitUntil(lambda: plot.width() == width)
        labels = plot.tick_labels()
        numbered = labels[0].lstrip("\n") == "0"
        texts = [label.lstrip("\n") for label in labels]
        assert texts == ([str(i) for i in range(n)] if numbered else plot.tick_names)
        spacing = plot.tick_spacing()
        widths = [metrics.horizontalAdvance(t) for t in texts]
        assert not _overlaps(labels, widths, spacing)
        low, high = plot.getPlotItem().vb.viewRange()[0]
        assert -low * spacing >= widths[0] / 2 and (high - (n - 1)) * spacing >= widths[-1] / 2  # end labels inside
        item = plot.getPlotItem()
        assert item.vb.sceneBoundingRect().right() <= plot.width() + 0.5  # nothing drawn past the widget
        if width == 620:
            assert not numbered and plot.legend.isVisible() and plot.annotation() in item.titleLabel.text
        else:
            assert numbered and all(f"{i}: {name}" in plot.toolTip() for i, name in enumerate(plot.tick_names))
            assert not plot.legend.isVisible()
