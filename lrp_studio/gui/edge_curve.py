"""A ``PlotCurveItem`` for the graph's edge bins whose bounds are the graph's extent.

pyqtgraph recomputes a curve's bounding rectangle from its data after every ``setData``
(``nanmin``/``nanmax`` per axis inside ``warnings.catch_warnings``, ~0.15 ms a curve). The graph
sets 16 edge bins and the overlay on every explanation and Qt asks for the bounds again while
painting, which made bounds about 4 ms of each graph repaint. Every edge lies inside the laid-out
graph, so its extent is a correct (slightly larger) bound, set once per network.
"""

from __future__ import annotations

import pyqtgraph as pg
from PySide6 import QtCore

__all__ = ["EdgeCurve"]


class EdgeCurve(pg.PlotCurveItem):
    """``PlotCurveItem(connect='pairs')`` bounded by a fixed rectangle in view coordinates.

    Parameters
    ----------
    pen : QPen
        Pen of every segment.
    antialias : bool
        Antialiased drawing.
    """

    def __init__(self, pen, antialias: bool = False) -> None:
        super().__init__(connect="pairs", pen=pen, antialias=antialias)
        self._extent = QtCore.QRectF()

    def set_extent(self, rect: QtCore.QRectF) -> None:
        """Bound the curve by ``rect`` (view coordinates; the segments must lie inside it)."""
        self.prepareGeometryChange()
        self._extent = QtCore.QRectF(rect)

    def boundingRect(self) -> QtCore.QRectF:  # noqa: N802 (Qt name)
        return QtCore.QRectF(self._extent)

    def dataBounds(self, ax: int, frac: float = 1.0, orthoRange=None) -> tuple[float, float]:  # noqa: N802
        rect = self._extent
        return (rect.left(), rect.right()) if ax == 0 else (rect.top(), rect.bottom())
