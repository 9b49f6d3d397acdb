"""Neuron inspector: one unit's activation, relevance, strongest incoming messages and its
conditional heatmap (input relevance when propagation starts at this unit only).

For a merge node of a graph network (add, concat) the table shows instead how the unit divided its
relevance between the merge's inputs, and the summary how the whole node did (the explanation's
``merge_shares``)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyqtgraph as pg
from PySide6 import QtWidgets
from PySide6.QtCore import Qt

from lrp_studio.gui.axes import plain_axes
from lrp_studio.gui.formatting import percent
from lrp_studio.viz.graph_dag import input_stages
from lrp_studio.viz.graph_scene import GraphLayout, build_layout
from lrp_studio.lrp.explain import explain_neuron
from lrp_studio.nn.layers import Flatten
from lrp_studio.viz.colormaps import get_colormap
from lrp_studio.viz.graph_values import merge_unit_split
from lrp_studio.viz.heatmap import input_rgb, relevance_to_2d

__all__ = ["ConditionalHeatmap", "NeuronInspector", "TOP_CONTRIBUTIONS", "conditional_heatmap"]

#: Rows of the incoming-contributions table.
TOP_CONTRIBUTIONS = 8


def _fmt(value: float | None) -> str:
    return "n/a" if value is None else f"{value + 0.0:.4g}"


def _as_image(values: np.ndarray) -> np.ndarray:
    """2-D view of one sample's values: (H, W) as is, (F,) as one row."""
    values = np.asarray(values, dtype=np.float32)
    return values if values.ndim == 2 else values.reshape(1, -1)


class _ImagePanel:
    """A titled ViewBox with one ImageItem, diverging colours and symmetric levels."""

    def __init__(self, layout: pg.GraphicsLayout, row: int, col: int, title: str) -> None:
        self.title = pg.LabelItem(title, color="#222222", size="9pt")
        self.box = pg.ViewBox(invertY=True, lockAspect=True, enableMouse=False, enableMenu=False)
        self.place(layout, row, col)
        self.image = pg.ImageItem(axisOrder="row-major")
        self.box.addItem(self.image)
        self.values: np.ndarray | None = None

    def show(self, values: np.ndarray | None, lut: np.ndarray, title: str) -> float:
        """Draw ``values`` symmetric around 0; returns the scale (max |value|)."""
        self.title.setText(title)
        self.values = None if values is None else _as_image(values)
        if self.values is None:
            self.image.clear()
            return 0.0
        vmax = float(np.max(np.abs(self.values), initial=0.0)) or 1.0
        self.image.setImage(self.values, autoLevels=False, levels=(-vmax, vmax), lut=lut)
        h, w = self.values.shape
        self.box.setRange(xRange=(0, w), yRange=(0, h), padding=0.02)
        return vmax

    def show_picture(self, image: np.ndarray, input_range: tuple[float, float] | None, title: str) -> None:
        """Draw an input image (C, H, W) as it looks: in colour for 3 channels, grey for 1 (:func:`input_rgb`)."""
        self.title.setText(title)
        self.values = input_rgb(image, input_range)
        self.image.setImage(self.values, autoLevels=False, levels=(0.0, 1.0), lut=None)
        h, w = self.values.shape[:2]
        self.box.setRange(xRange=(0, w), yRange=(0, h), padding=0.02)

    def set_visible(self, visible: bool) -> None:
        self.title.setVisible(visible)
        self.box.setVisible(visible)

    def place(self, layout: pg.GraphicsLayout, row: int, col: int) -> None:
        """Put the title at (row, col) and the image below it."""
        layout.addItem(self.title, row=row, col=col)
        layout.addItem(self.box, row=row + 1, col=col)


class NeuronInspector(QtWidgets.QWidget):
    """Details of the selected unit (see :meth:`show_neuron`)."""

    def __init__(self, parent: QtWidgets.QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("neuronInspector")
        self._cmap = "bwr"
        self._lut = get_colormap("bwr")
        self._layouts: dict[int, object] = {}
        self._conditional: np.ndarray | None = None
        self._contributions: list[tuple[int, str, float]] = []
        self._merge_split: list[tuple[int, str, float]] = []
        self._values: dict[str, float | None] = {}
        self.detail_widgets: list[QtWidgets.QWidget] = []  # more per-neuron widgets (the formula line)
        self._details_visible = False

        self._title = QtWidgets.QLabel()
        self._title.setObjectName("inspectorTitle")
        self._title.setWordWrap(True)
        self._title.setStyleSheet("font-weight: bold; font-size: 11pt;")
        self._summary = QtWidgets.QLabel()
        self._summary.setObjectName("inspectorSummary")
        self._summary.setWordWrap(True)
        self._summary.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self._table_caption = QtWidgets.QLabel("Strongest incoming relevance messages")
        self._table_caption.setObjectName("inspectorTableCaption")
        self._table_caption.setWordWrap(True)  # "... into this neuron (84 sources)" must not be cut at the dock's edge
        self._table = QtWidgets.QTableWidget(0, 3)
        self._table.setObjectName("inspectorContributions")
        self._table.setHorizontalHeaderLabels(["source", "message", "share"])
        self._table.verticalHeader().setVisible(False)
        self._table.setEditTriggers(QtWidgets.QAbstractItemView.EditTrigger.NoEditTriggers)
        self._table.setSelectionMode(QtWidgets.QAbstractItemView.SelectionMode.NoSelection)
        header = self._table.horizontalHeader()
        header.setSectionResizeMode(0, QtWidgets.QHeaderView.ResizeMode.Stretch)
        header.setSectionResizeMode(1, QtWidgets.QHeaderView.ResizeMode.ResizeToContents)
        header.setSectionResizeMode(2, QtWidgets.QHeaderView.ResizeMode.ResizeToContents)
        self._table.setMinimumHeight(60)
        self._table.setFocusPolicy(Qt.FocusPolicy.NoFocus)
        self._table.verticalHeader().setDefaultSectionSize(22)

        self._graphics = pg.GraphicsLayoutWidget()
        self._graphics.setObjectName("inspectorImages")
        self._graphics.setBackground("w")
        self._graphics.setMinimumHeight(190)
        grid = self._graphics.ci
        self._feature = _ImagePanel(grid, 0, 0, "feature map")
        self._relevance_map = _ImagePanel(grid, 0, 1, "relevance map")
        self._heatmap = _ImagePanel(grid, 0, 2, "conditional heatmap")
        self._colorbar = pg.ColorBarItem(values=(-1, 1), width=12, interactive=False, colorMapMenu=False)
        self._colorbar.getAxis("right").setTextPen("#333333")
        self._colorbar.axis.setWidth(60)  # pyqtgraph's 45 px drops labels such as "-0.0025"
        plain_axes(self._colorbar)
        self._colorbar.setImageItem(self._heatmap.image)
        self._set_colorbar_map()
        self._maps_shown: bool | None = None
        self._arrange(False)
        self._caption = QtWidgets.QLabel()
        self._caption.setObjectName("inspectorCaption")
        self._caption.setWordWrap(True)
        self._caption.setStyleSheet("color: #555;")

        box = QtWidgets.QVBoxLayout(self)
        box.setContentsMargins(6, 6, 6, 6)
        box.addWidget(self._title)
        box.addWidget(self._summary)
        box.addWidget(self._graphics, 1)  # the conditional heatmap right under the values, above the fold
        box.addWidget(self._caption)
        box.addWidget(self._table_caption)
        box.addWidget(self._table, 0)
        box.addStretch(0)  # takes the room of the hidden images and table in the empty state
        self.clear()

    def _arrange(self, maps: bool) -> None:
        """The conditional heatmap first; for a conv channel its feature and relevance maps below,
        side by side (the narrow dock keeps every image readable)."""
        if maps == self._maps_shown:
            return
        self._maps_shown = maps
        grid = self._graphics.ci
        grid.clear()
        self._feature.set_visible(maps)
        self._relevance_map.set_visible(maps)
        self._heatmap.place(grid, 0, 0)
        grid.addItem(self._colorbar, row=1, col=1)
        if maps:
            self._feature.place(grid, 2, 0)
            self._relevance_map.place(grid, 2, 1)

    def _fit_table_height(self, rows: int) -> None:
        """Size the contributions table to its rows, so the heatmaps below keep their room."""
        header = self._table.horizontalHeader().sizeHint().height()
        row_height = self._table.verticalHeader().defaultSectionSize()
        self._table.setFixedHeight(header + max(rows, 1) * row_height + 2 * self._table.frameWidth() + 2)

    # ------------------------------------------------------------------ public interface
    def clear(self) -> None:
        """Show the empty state."""
        self._title.setText("No neuron selected")
        self._summary.setText("Click a neuron in the network graph (or use the arrow keys) to inspect it.")
        self._table.setRowCount(0)
        self._conditional = None
        self._contributions = []
        self._merge_split = []
        self._values = {}
        for panel in (self._feature, self._relevance_map, self._heatmap):
            panel.show(None, self._lut, panel.title.text)
        self._arrange(False)
        self._caption.setText("")
        self._set_details_visible(False)

    def _set_details_visible(self, visible: bool) -> None:
        """Images and contributions table: hidden while no neuron is selected (no empty plot frames)."""
        self._details_visible = visible
        for widget in (self._graphics, self._table_caption, self._table, *self.detail_widgets):
            widget.setVisible(visible)

    def add_detail_widget(self, widget: QtWidgets.QWidget) -> None:
        """Append ``widget`` below the table, shown and hidden with the images and table."""
        self.detail_widgets.append(widget)
        self.layout().addWidget(widget)
        widget.setVisible(self._details_visible)

    def set_colormap(self, name: str) -> None:
        """Diverging colour map of the images (applies from the next :meth:`show_neuron`)."""
        self._lut = get_colormap(name)
        self._cmap = name
        self._set_colorbar_map()

    def show_neuron(self, net, exp, stage: int, unit: int) -> None:
        """Show unit ``unit`` of ``stage`` (a channel for (C, H, W) hidden stages) from ``exp``.

        Nothing is computed here: the values and messages come from ``exp``; the conditional
        heatmap is cleared until :meth:`show_conditional` gets the worker's result.

        Parameters
        ----------
        net : Network
        exp : Explanation of the sample (with ``messages=True`` for the contributions table)
        stage, unit : the selected unit (see :class:`~lrp_studio.gui.graph_view.NetworkView`)
        """
        stage, unit = int(stage), int(unit)
        self._set_details_visible(True)
        shape = tuple(net.shapes[stage])
        record = next((r for r in exp.layers if r.stage == stage), None)
        activation = None if record is None else np.asarray(record.activation[0], dtype=np.float32)
        relevance = None if record is None or record.relevance is None else np.asarray(record.relevance[0], dtype=np.float32)
        is_map = len(shape) == 3 and stage > 0
        self._title.setText(f"{self._stage_title(net, stage)} — {self._unit_name(net, stage, unit, is_map)}")
        self._show_summary(exp, stage, unit, activation, relevance, is_map)
        merge = self._merge_layer(net, stage)
        self._merge_split = []
        if merge is None:
            self._show_contributions(net, exp, stage, unit, is_map)
        else:
            self._show_merge(net, exp, merge, unit)
        picture = stage == 0 and len(shape) == 3 and shape[0] in (1, 3) and activation is not None
        self._arrange(is_map or picture)
        if picture:  # the input image itself (in colour), its relevance as the channel sum
            self._feature.show_picture(activation, net.input_range, "input")
            self._relevance_map.show(None if relevance is None else relevance_to_2d(relevance), self._lut,
                                     "relevance (channel sum)")
        elif is_map:
            self._feature.show(None if activation is None else activation[unit], self._lut, f"activation, channel {unit}")
            self._relevance_map.show(None if relevance is None else relevance[unit], self._lut, f"relevance, channel {unit}")
        self.show_pending_conditional(stage)

    # ------------------------------------------------------------------ read-outs (tests, main window)
    def conditional_relevance(self) -> np.ndarray | None:
        """The conditional heatmap shown (2-D), or None."""
        return self._conditional

    def contributions(self) -> list[tuple[int, str, float]]:
        """Rows of the table: (source index, source description, message)."""
        return list(self._contributions)

    def merge_split(self) -> list[tuple[int, str, float]]:
        """For a merge node: per input (input index, its description, relevance the unit sent it)."""
        return list(self._merge_split)

    def values(self) -> dict[str, float | None]:
        """``activation`` and ``relevance`` shown in the summary."""
        return dict(self._values)

    def summary_text(self) -> str:
        return f"{self._title.text()}\n{self._summary.text()}\n{self._caption.text()}"

    def heatmap_item(self) -> pg.ImageItem:
        return self._heatmap.image

    def map_items(self) -> tuple[pg.ImageItem, pg.ImageItem]:
        """The two images under the conditional heatmap: feature map (or the input picture) and relevance."""
        return self._feature.image, self._relevance_map.image

    # ------------------------------------------------------------------ parts
    def _set_colorbar_map(self) -> None:
        self._colorbar.setColorMap(pg.ColorMap(np.linspace(0.0, 1.0, 256), self._lut))

    def _layout(self, net) -> GraphLayout:
        """The network view's layout of ``net`` (built once per network)."""
        layout = self._layouts.get(id(net))
        if layout is None or layout[0] is not net:
            layout = (net, build_layout(net))
            self._layouts = {id(net): layout}
        return layout[1]

    def _stage_title(self, net, stage: int) -> str:
        column = self._layout(net).column_of_stage(stage)
        if column is not None:
            if column.name and not getattr(net, "has_default_names", True):
                return f"{column.title} ({column.name})"
            return column.title
        if stage == 0:
            return "input"
        return net.layers[stage - 1].type_name

    def _unit_name(self, net, stage: int, unit: int, is_map: bool) -> str:
        shape = tuple(net.shapes[stage])
        if stage == 0:
            return self._input_unit_name(shape, unit)
        if is_map:
            return f"channel {unit} ({shape[1]}×{shape[2]} map)"
        if stage == len(net.layers) and unit < len(net.classes):
            return f"neuron {unit} (class {net.classes[unit]})"
        return f"neuron {unit}"

    @staticmethod
    def _input_unit_name(shape: tuple[int, ...], unit: int) -> str:
        if len(shape) == 3:
            c, rest = divmod(unit, shape[1] * shape[2])
            i, j = divmod(rest, shape[2])
            return f"pixel ({i}, {j})" + (f", channel {c}" if shape[0] > 1 else "")
        return f"feature {unit}"

    def _show_summary(self, exp, stage, unit, activation, relevance, is_map) -> None:
        explained = float(np.asarray(exp.explained).reshape(-1)[0]) if len(exp.logits) else None
        lines = [f"stage {stage}"]
        if is_map:
            a = None if activation is None else float(activation[unit].mean())
            a_max = None if activation is None else float(activation[unit].max())
            r = None if relevance is None else float(relevance[unit].sum())
            lines.append(f"activation: mean {_fmt(a)}, max {_fmt(a_max)}")
            lines.append(f"relevance: {_fmt(r)} (sum over the map)")
        else:
            a = None if activation is None else float(activation.reshape(-1)[unit])
            r = None if relevance is None else float(relevance.reshape(-1)[unit])
            lines.append(f"activation: {_fmt(a)}")
            lines.append(f"relevance: {_fmt(r)}")
        if r is not None and explained:
            lines.append(f"share of the explained logit ({explained:.4g}): {percent(100 * r / explained, 2)}")
        self._values = {"activation": a, "relevance": r}
        self._summary.setText("\n".join(lines))

    def _merge_layer(self, net, stage: int) -> int | None:
        """The add/concat layer whose column shows ``stage``, or None."""
        column = self._layout(net).column_of_stage(stage)
        if column is None or column.layer_index is None:
            return None
        return column.layer_index if getattr(net.layers[column.layer_index], "is_merge", False) else None

    def _producing_layer(self, net, stage: int) -> int | None:
        """The dense/conv layer whose messages end in ``stage``'s column."""
        if not getattr(net, "is_sequential", True):
            column = self._layout(net).column_of_stage(stage)
            if column is not None and column.layer_index is not None:
                return column.layer_index
        before = [i for i in net.linear_indices if i < stage]
        return before[-1] if before else None

    def _source_name(self, net, layer_index: int, row: int) -> str:
        """Describe input ``row`` of a dense layer, or input channel ``row`` of a conv layer."""
        layer = net.layers[layer_index]
        inputs = input_stages(net)
        if layer.type_name == "conv2d":
            return f"input channel {row}" if inputs[layer_index][0] == 0 else f"channel {row}"
        stage = inputs[layer_index][0]
        while stage > 0 and isinstance(net.layers[stage - 1], Flatten):
            stage = inputs[stage - 1][0]
        shape = tuple(net.shapes[stage])
        if stage == 0:
            return self._input_unit_name(shape, row) if len(shape) == 3 else f"feature {row}"
        if len(shape) == 3:
            c, rest = divmod(row, shape[1] * shape[2])
            i, j = divmod(rest, shape[2])
            return f"unit {row} (channel {c} at {i}, {j})"
        return f"neuron {row}"

    def _show_contributions(self, net, exp, stage: int, unit: int, is_map: bool) -> None:
        self._contributions = []
        self.message_source = None  # (dense layer, output unit) of the rows, for the formula with numbers
        self._table.setRowCount(0)
        layer_index = self._producing_layer(net, stage)
        if layer_index is None:
            self._table_caption.setText("Input values have no incoming messages.")
            return
        messages = exp.messages.get(layer_index)
        if messages is None:
            self._table_caption.setText("No relevance messages (explain with an LRP method and messages=True).")
            return
        messages = np.asarray(messages)
        column = unit
        out_shape = tuple(net.shapes[layer_index + 1])
        if not is_map and len(out_shape) == 3:  # a flattened stage above a conv layer
            column = unit // (out_shape[1] * out_shape[2])
        incoming = messages[:, column]
        if net.layers[layer_index].type_name == "dense":
            self.message_source = (layer_index, column)
        order = np.argsort(-np.abs(incoming), kind="stable")[:TOP_CONTRIBUTIONS]
        order = order[np.abs(incoming[order]) > 0]
        total = float(incoming.sum())
        what = "channel" if net.layers[layer_index].type_name == "conv2d" else "neuron"
        self._table_caption.setText(
            f"Strongest incoming relevance messages into this {what} "
            f"({len(order)} of {len(incoming)}; all sum to {total:.4g})"
        )
        self._table.setRowCount(len(order))
        self._fit_table_height(len(order))
        for row, source in enumerate(order):
            value = float(incoming[source])
            name = self._source_name(net, layer_index, int(source))
            self._contributions.append((int(source), name, value))
            share = percent(100 * value / total) if total else ""
            self._set_row(row, (name, f"{value:+.4g}", share), value)

    def _input_names(self, net, layer_index: int) -> list[str]:
        """Per input of a merge layer: the column it comes from (and whether it skips columns)."""
        layout = self._layout(net)
        reads = input_stages(net)[layer_index]
        names = [f"stage {read}" for read in reads]
        for conn in layout.connections:
            if conn.layer_index == layer_index:
                source = layout.columns[conn.source]
                names[conn.slot] = source.title + (" (skip)" if conn.lane is not None else "")
        return names

    def _show_merge(self, net, exp, layer_index: int, unit: int) -> None:
        """Table: how this unit of an add/concat divided its relevance between the inputs."""
        self._contributions = []
        self._table.setRowCount(0)
        layer = net.layers[layer_index]
        reads = input_stages(net)[layer_index]
        records = {r.stage: r for r in exp.layers}
        activations = {s: np.asarray(r.activation[0]) for s, r in records.items()}
        relevances = {s: np.asarray(r.relevance[0]) for s, r in records.items() if r.relevance is not None}
        split = merge_unit_split(layer.type_name, layer_index, reads, unit, activations, relevances)
        names = self._input_names(net, layer_index)
        shares = exp.merge_shares.get(layer_index) if hasattr(exp, "merge_shares") else None
        if shares is not None:
            parts = ", ".join(f"{percent(100 * share)} to input {i} ({names[i]})" for i, share in enumerate(shares))
            self._summary.setText(f"{self._summary.text()}\nThe whole {layer.type_name} node sent {parts}.")
        if split is None:
            self._table_caption.setText(f"No relevance at this {layer.type_name} node (a baseline explains "
                                        "the input only).")
            return
        total = float(sum(split))
        rule = "x_i / stab(sum x) of the relevance" if layer.type_name == "add" else "its channel slice"
        self._table_caption.setText(f"How this unit divided its relevance ({total:.4g}) between the "
                                    f"{len(split)} inputs of the {layer.type_name} (each gets {rule})")
        self._table.setRowCount(len(split))
        self._fit_table_height(len(split))
        for row, value in enumerate(split):
            name = f"input {row}: {names[row]}"
            self._merge_split.append((row, name, value))
            share = percent(100 * value / total) if total else ""
            self._set_row(row, (name, f"{value:+.4g}", share), value)

    def _set_row(self, row: int, texts: tuple[str, str, str], value: float) -> None:
        for col, text in enumerate(texts):
            item = QtWidgets.QTableWidgetItem(text)
            if col:
                item.setTextAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
            if col == 1:
                item.setForeground(pg.mkColor("#b01e1e" if value >= 0 else "#1e4fb0"))
            self._table.setItem(row, col, item)

    def show_pending_conditional(self, stage: int) -> None:
        """Clear the conditional heatmap while the worker computes the new one."""
        self._conditional = None
        self._heatmap.show(None, self._lut, "conditional heatmap")
        self._caption.setText("Select a hidden or output unit to see its conditional heatmap." if stage == 0
                              else "Computing the conditional heatmap\u2026")

    def show_conditional(self, result: "ConditionalHeatmap | None", error: str | None = None) -> None:
        """Show a conditional heatmap computed by :func:`conditional_heatmap` (in the worker), or why not."""
        self._conditional = None
        if result is None:
            self._heatmap.show(None, self._lut, "conditional heatmap")
            self._caption.setText(f"No conditional heatmap: {error}" if error else
                                  "Select a hidden or output unit to see its conditional heatmap.")
            return
        self._conditional = _as_image(relevance_to_2d(result.relevance))
        vmax = self._heatmap.show(self._conditional, self._lut, "conditional heatmap")
        self._colorbar.setLevels((-vmax, vmax))
        note = "" if result.start != 0 else " The unit is inactive here (activation 0), so nothing is propagated."
        self._caption.setText(
            f"Conditional heatmap: input relevance ({result.method_name}) when propagation starts at this "
            f"{'channel' + result.where if result.is_map else 'unit'} only (value {result.start:.4g}); "
            f"input relevance sums to {float(result.relevance.sum()):.4g}.{note}"
        )


@dataclass(frozen=True)
class ConditionalHeatmap:
    """Input relevance when propagation starts at one unit only (see :func:`conditional_heatmap`).

    Attributes
    ----------
    relevance : ndarray, the sample's input shape
    start : float
        The unit's value the propagation starts from.
    is_map : bool
        Whether the unit is a conv channel (started at its strongest position ``where``).
    where : str
    method_name : str
    """

    relevance: np.ndarray
    start: float
    is_map: bool
    where: str
    method_name: str


def conditional_heatmap(net, x_sample: np.ndarray, stage: int, unit: int, method, params: dict,
                        channel: np.ndarray | None = None) -> ConditionalHeatmap | None:
    """The conditional heatmap of unit ``unit`` of ``stage`` for one sample ``x_sample`` (no batch
    axis); None for the input stage.

    For a (C, H, W) hidden stage ``unit`` is a channel, and propagation starts at the strongest
    position of ``channel`` (that channel's activation map (H, W), from the shown explanation).

    Runs :func:`lrp_studio.lrp.explain_neuron` (one forward pass and one propagation): call it in
    the worker thread, and show the result with :meth:`NeuronInspector.show_conditional`.

    Raises
    ------
    LRPStudioError
        When the method cannot explain the unit (e.g. invalid parameters).
    """
    stage, unit = int(stage), int(unit)
    if stage == 0:
        return None
    shape = tuple(net.shapes[stage])
    is_map = len(shape) == 3
    x = np.asarray(x_sample)[None]
    flat_unit, where = unit, ""
    if is_map:
        channel = np.zeros(shape[1:]) if channel is None else np.asarray(channel)
        i, j = np.unravel_index(int(np.argmax(channel)), channel.shape)
        flat_unit = unit * shape[1] * shape[2] + int(i) * shape[2] + int(j)
        where = f" at its strongest position ({i}, {j})"
    result = explain_neuron(net, x, stage, flat_unit, method, **params)
    start = float(np.asarray(result.layers[stage].activation).reshape(-1)[flat_unit])
    name = method if isinstance(method, str) else "custom composite"
    return ConditionalHeatmap(np.asarray(result.relevance)[0], start, is_map, where, name)
