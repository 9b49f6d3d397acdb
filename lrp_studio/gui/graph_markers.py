"""The network graph at any size: node limits, "+ k more" markers, collapsible residual blocks.

:class:`lrp_studio.gui.graph_view.NetworkView` draws at most ``channels`` feature maps per conv
column and ``neurons`` neurons per hidden dense column (the most relevant of each explanation,
:mod:`lrp_studio.viz.graph_focus`); a column with more units gets a clickable "+ k more" marker
under it that draws it whole (and then "show top N" to go back). Residual blocks
(:func:`lrp_studio.viz.graph_dag.residual_blocks`) collapse into one column (their output) with an
"expand" marker (View > "Collapse residual blocks" collapses them all). Networks with more than
:data:`AUTO_COLLAPSE_BLOCKS` blocks start collapsed.

This module holds the state (:class:`lrp_studio.viz.graph_scene.Shown`) and the marker items; the
view calls :meth:`GraphMarkers.build` after it built a layout and :meth:`GraphMarkers.click` first
on every click.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any, Callable

import pyqtgraph as pg
from PySide6 import QtCore, QtGui, QtWidgets

from lrp_studio.viz.graph_dag import drawn_stages, residual_blocks
from lrp_studio.viz.graph_scene import GraphLayout, Shown

__all__ = ["AUTO_COLLAPSE_BLOCKS", "DEFAULT_CHANNELS", "DEFAULT_NEURONS", "LIMIT_CHOICES", "GraphMarkers", "add_graph_size_menu",
           "default_shown"]

#: Feature maps and neurons drawn per column by default, for columns of more than DEFAULT_WHOLE_UP_TO units
#: (the bundled MNIST models' columns of 16-32 channels stay whole until the user picks a limit).
DEFAULT_CHANNELS, DEFAULT_NEURONS, DEFAULT_WHOLE_UP_TO = 16, 512, 32
#: The View menu's choices (channels, neurons); None: all.
LIMIT_CHOICES = ((8, 128), (16, 512), (32, 512), (64, 1024), (None, None))
#: Networks with more residual blocks than this start with every block collapsed.
AUTO_COLLAPSE_BLOCKS = 4
MARKER_COLOR = "#1f5fa8"
#: Scene units kept below a column per marker row when the view is fitted (the text is ~16 px high,
#: a fitted graph shows ~0.3-0.6 px per unit).
MARKER_ROOM = 70.0
#: Pixels between two marker lines.
MARKER_LINE_PX = 17.0


def default_shown(net: Any, channels: int | None = DEFAULT_CHANNELS, neurons: int | None = DEFAULT_NEURONS,
                  whole_up_to: int = DEFAULT_WHOLE_UP_TO) -> Shown:
    """The limits for a newly shown ``net``: its blocks collapsed when it has many."""
    blocks = residual_blocks(net, drawn_stages(net))
    collapsed = frozenset(blocks) if len(blocks) > AUTO_COLLAPSE_BLOCKS else frozenset()
    return Shown(channels=channels, neurons=neurons, collapsed=collapsed, whole_up_to=whole_up_to)


class _Marker(QtWidgets.QGraphicsSimpleTextItem):
    """A pixel-sized clickable text under a column (ignores the zoom, so it stays legible)."""

    def __init__(self, text: str, tip: str, action: Callable[[], None]) -> None:
        super().__init__(text)
        self.setFlag(QtWidgets.QGraphicsItem.GraphicsItemFlag.ItemIgnoresTransformations)
        self.setBrush(pg.mkBrush(MARKER_COLOR))
        font = QtGui.QFont(self.font())
        font.setUnderline(True)
        self.setFont(font)
        self.setToolTip(tip)
        self.setCursor(QtCore.Qt.CursorShape.PointingHandCursor)
        self.setZValue(30)
        self.action = action
        self.row = 0
        rect = self.boundingRect()
        self.setTransform(QtGui.QTransform.fromTranslate(-rect.width() / 2, 0.0))


class GraphMarkers:
    """Limits, collapsed blocks and the marker items of one :class:`NetworkView`.

    Parameters
    ----------
    relayout : callable
        Called after the state changed: rebuild the layout with :attr:`shown` (keeping the explanation).
    """

    def __init__(self, relayout: Callable[[], None]) -> None:
        self.relayout = relayout
        self.shown = Shown(DEFAULT_CHANNELS, DEFAULT_NEURONS, whole_up_to=DEFAULT_WHOLE_UP_TO)
        self.blocks: dict[str, list[int]] = {}
        self.items: list[_Marker] = []

    # ------------------------------------------------------------------ state
    def reset(self, net: Any) -> Shown:
        """A new network: its default limits (the chosen channel/neuron limits kept) and its blocks."""
        self.shown = default_shown(net, self.shown.channels, self.shown.neurons, self.shown.whole_up_to)
        self.blocks = residual_blocks(net, drawn_stages(net))
        return self.shown

    def set_limits(self, channels: int | None, neurons: int | None) -> None:
        """Draw at most ``channels`` maps / ``neurons`` neurons per column (None: all); columns expanded stay."""
        self.shown = replace(self.shown, channels=channels, neurons=neurons, whole_up_to=0)
        self.relayout()

    def expand(self, stage: int, whole: bool = True) -> None:
        """Draw the column of ``stage`` whole (``whole=False``: back to its most relevant units)."""
        expanded = set(self.shown.expanded)
        expanded.add(stage) if whole else expanded.discard(stage)
        self.shown = replace(self.shown, expanded=frozenset(expanded))
        self.relayout()

    def set_collapsed(self, block: str, collapsed: bool) -> None:
        """Collapse the residual block ``block`` into one column, or expand it."""
        names = set(self.shown.collapsed)
        names.add(block) if collapsed else names.discard(block)
        self.shown = replace(self.shown, collapsed=frozenset(names & set(self.blocks)))
        self.relayout()

    def collapse_all(self, collapsed: bool) -> None:
        """Collapse (or expand) every residual block."""
        self.shown = replace(self.shown, collapsed=frozenset(self.blocks) if collapsed else frozenset())
        self.relayout()

    # ------------------------------------------------------------------ items
    def build(self, layout: GraphLayout, view_box: pg.ViewBox) -> None:
        """Add the markers of ``layout``'s columns to ``view_box`` (its items were just cleared)."""
        self.items = []
        line = 0  # neighbouring columns' markers alternate between two lines (they are wider than a gap)
        for column in layout.columns:
            x, y = layout.marker_position(column)
            texts = []
            if column.more:
                texts.append((f"+ {column.more} more", f"{column.n_nodes} of {column.n_units} shown (the most "
                              "relevant); click to show all", lambda s=column.stage: self.expand(s)))
            elif column.stage in self.shown.expanded and self.shown.limit(column.kind, -1, False) is not None \
                    and column.n_units > max(self.shown.limit(column.kind, -1, False) or 0, self.shown.whole_up_to):
                limit = self.shown.limit(column.kind, -1, False)
                texts.append((f"show top {limit}", f"show only the {limit} most relevant units",
                              lambda s=column.stage: self.expand(s, whole=False)))
            if column.block:  # (collapsing is the View menu's: under an open block the skip lanes run)
                texts.append((f"\u25b8 expand {column.block}", f"draw the layers of {column.block}",
                              lambda b=column.block: self.set_collapsed(b, False)))
            first = line % 2 if column.band == 0 else 0
            line += bool(texts)
            for row, (text, tip, action) in enumerate(texts, start=first):
                item = _Marker(text, tip, action)
                item.row = row
                item.setPos(x, y)
                item.setTransform(item.transform() * QtGui.QTransform.fromTranslate(0.0, row * MARKER_LINE_PX))
                view_box.addItem(item)
                self.items.append(item)

    def room(self, bounds: QtCore.QRectF) -> QtCore.QRectF:
        """``bounds`` (the layout's drawing) grown downwards so the fitted view shows every marker."""
        lowest = max((item.pos().y() + MARKER_ROOM * (1 + item.row) for item in self.items), default=None)
        if lowest is not None and lowest > bounds.bottom():
            bounds.setBottom(lowest)
        return bounds

    def click(self, view: QtWidgets.QGraphicsView, scene_pos: QtCore.QPointF) -> bool:
        """Run the marker under ``scene_pos`` (scene coordinates of ``view``); True when one was hit.

        Asked through ``view.items``: the markers ignore the zoom, so only the view knows where they are.
        """
        point = view.mapFromScene(scene_pos)
        hits = [item for item in view.items(QtCore.QRect(point.x() - 3, point.y() - 3, 7, 7)) if item in self.items]
        if not hits:
            return False
        hits[0].action()
        return True

    def viewport_centre(self, view: QtWidgets.QGraphicsView, index: int) -> QtCore.QPoint:
        """Where marker ``index`` appears in ``view``'s viewport (tests click there)."""
        item = self.items[index]
        return item.deviceTransform(view.viewportTransform()).mapRect(item.boundingRect()).center().toPoint()


def add_graph_size_menu(window: Any, view_menu: QtWidgets.QMenu) -> None:
    """View menu entries: "Units shown per layer" (the limits) and "Collapse residual blocks"."""
    from PySide6.QtGui import QAction, QActionGroup

    markers: GraphMarkers = window.graph.markers
    menu = view_menu.addMenu("Units shown per layer (most relevant)")
    group = QActionGroup(window)
    for channels, neurons in LIMIT_CHOICES:
        title = "all" if channels is None else f"{channels} feature maps / {neurons} neurons"
        action = QAction(title, window, checkable=True,
                         checked=(channels, neurons) == (markers.shown.channels, markers.shown.neurons))
        action.triggered.connect(lambda _=False, c=channels, n=neurons: markers.set_limits(c, n))
        group.addAction(action)
        menu.addAction(action)
    collapse = QAction("Collapse residual blocks", window)
    collapse.setStatusTip("Draw every residual block as one column (click its 'expand' marker to open one)")
    collapse.triggered.connect(lambda: markers.collapse_all(True))
    expand = QAction("Expand residual blocks", window)
    expand.triggered.connect(lambda: markers.collapse_all(False))
    view_menu.addAction(collapse)
    view_menu.addAction(expand)
