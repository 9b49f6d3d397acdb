"""Axes that show values as they are: the one place the app turns off pyqtgraph's SI-prefix scaling.

pyqtgraph rescales an axis whose values are small or large and moves the factor into the label
("logit (x0.001)" for values of 0.5, "x1e+06"); every plot of the app (output bars, conservation,
training curves, faithfulness curves, playground, colour bars) calls :func:`plain_axes` instead,
through :func:`lrp_studio.gui.heatmap_widget.style_plot` or directly.
"""

from __future__ import annotations

import pyqtgraph as pg

AXIS_NAMES = ("left", "bottom", "right", "top")


def plain_axes(item: pg.PlotItem | pg.ColorBarItem) -> None:
    """Turn off the SI-prefix scaling of every axis of ``item`` (ticks keep pyqtgraph's decimals).

    Parameters
    ----------
    item : pyqtgraph.PlotItem or pyqtgraph.ColorBarItem
        Anything with ``getAxis(name)`` for the four sides; missing axes are skipped.
    """
    for name in AXIS_NAMES:
        try:
            axis = item.getAxis(name)
        except (KeyError, Exception):  # noqa: BLE001 - pyqtgraph raises a bare Exception for unknown names
            continue
        axis.enableAutoSIPrefix(False)


__all__ = ["AXIS_NAMES", "plain_axes"]
