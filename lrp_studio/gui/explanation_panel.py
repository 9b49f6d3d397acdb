"""Method choice: the method list, its parameter widgets, the per-layer rule table and the formula pane.

Nothing here knows a method or a parameter by name: the list comes from the registries, each
parameter's spin box is built from its :class:`~lrp_studio.lrp.params.Param` (label, range,
default, int or float, tooltip = help) the first time a method that takes it is shown, the
bias checkbox shows when the method's ``uses_bias`` says so, and the formula pane is
:func:`~lrp_studio.gui.method_help.method_html` of the method's declaration.
"""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import QSignalBlocker, Qt, QTimer
from PySide6.QtGui import QValidator
from PySide6.QtWidgets import (
    QAbstractSpinBox, QCheckBox, QComboBox, QDoubleSpinBox, QFormLayout, QGroupBox, QHeaderView, QLabel,
    QSizePolicy, QSpinBox, QTableWidget, QTableWidgetItem, QTextBrowser, QVBoxLayout, QWidget,
)

from lrp_studio.gui.method_help import method_html, method_title, plain_text
from lrp_studio.gui.state import BIAS, CUSTOM, AppState, method_params
from lrp_studio.lrp import BASELINES, COMPOSITES, RULES, Param
from lrp_studio.lrp.params import BIAS_HELP
from lrp_studio.lrp.explain import resolve_rules
from lrp_studio.gui.formatting import NBSP
from lrp_studio.lrp.metrics import bias_summary

#: Spin-box limits for a parameter declared without bounds (Qt needs finite ones).
UNBOUNDED = 1e6
INT_LIMIT = 2**31 - 1


class NumberBox(QDoubleSpinBox):
    """A float spin box that shows values in ``%g`` form (1e-06, 0.25, 100) and steps by decades."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setDecimals(12)  # Qt rounds values to this many decimals: keeps epsilon = 1e-9
        self.setStepType(QAbstractSpinBox.StepType.AdaptiveDecimalStepType)

    def textFromValue(self, value: float) -> str:  # noqa: N802 (Qt API)
        return f"{value:.6g}"

    def valueFromText(self, text: str) -> float:  # noqa: N802 (Qt API)
        try:
            return float(text)
        except ValueError:
            return self.value()

    def validate(self, text: str, pos: int) -> Any:  # noqa: D102 (Qt API)
        stripped = text.strip()
        try:
            value = float(stripped)
        except ValueError:
            partial = stripped in ("", "-", "+", ".") or stripped[-1:] in ("e", "E", "-", "+", ".")
            return QValidator.State.Intermediate if partial else QValidator.State.Invalid
        inside = self.minimum() <= value <= self.maximum()
        return QValidator.State.Acceptable if inside else QValidator.State.Intermediate


def param_widget(param: Param) -> QAbstractSpinBox:
    """A spin box for ``param``: QSpinBox for ``kind == "int"``, else :class:`NumberBox`; range and
    tooltip from the declaration, keyboard tracking off (a value counts once typing ends)."""
    if param.kind == "int":
        box: QAbstractSpinBox = QSpinBox()
        low = int(param.minimum) if param.minimum is not None else -INT_LIMIT
        high = int(min(param.maximum, INT_LIMIT)) if param.maximum is not None else INT_LIMIT
        box.setRange(low, high)
    else:
        box = NumberBox()
        box.setRange(param.minimum if param.minimum is not None else -UNBOUNDED,
                     param.maximum if param.maximum is not None else UNBOUNDED)
    box.setObjectName(f"param_{param.name}")
    unit = f" ({param.unit})" if param.unit else ""
    box.setToolTip(f"{param.help}{unit}. Range: {param.range_text()}.")
    box.setKeyboardTracking(False)
    return box


def param_label(param: Param) -> QLabel:
    label = QLabel(param.display)
    label.setToolTip(param.help)
    return label


#: The formula pane is re-laid out this long after the last method or parameter change: the graph
#: and heatmap are painted first, and spinning a parameter does not re-render it at every step.
HELP_DELAY_MS = 80


class ExplanationPanel(QWidget):
    """Choose the explanation method and its parameters; changes go to :class:`AppState`.

    Attributes
    ----------
    widgets : dict name -> QWidget
        The parameter widgets made so far (``"bias"``: the checkbox); a parameter's widget is
        made the first time a method that declares it is shown.
    """

    def __init__(self, state: AppState, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("explanationPanel")
        self.state = state

        self.method_selector = QComboBox()
        self.method_selector.setObjectName("methodSelector")
        self.method_selector.setToolTip("Explanation method: a single LRP rule for all layers, a composite, "
                                        "a baseline, or a custom rule per layer.")
        self._fill_methods()

        self.form = QFormLayout()
        self.form.setFieldGrowthPolicy(QFormLayout.FieldGrowthPolicy.AllNonFixedFieldsGrow)
        self.params_box = QGroupBox("Parameters")
        self.params_box.setLayout(self.form)
        bias = QCheckBox("bias takes part in z")
        bias.setObjectName(f"param_{BIAS}")
        bias.setToolTip(BIAS_HELP)
        bias.toggled.connect(lambda value: self._param_edited(BIAS, bool(value)))
        self.widgets: dict[str, QWidget] = {BIAS: bias}
        self.form.addRow(bias)
        self.no_params = QLabel("This method has no parameters.")
        self.form.addRow(self.no_params)

        self.rule_table = QTableWidget(0, 2)
        self.rule_table.setObjectName("ruleTable")
        self.rule_table.setHorizontalHeaderLabels(["layer", "rule"])
        self.rule_table.horizontalHeader().setSectionResizeMode(0, QHeaderView.ResizeMode.Stretch)
        self.rule_table.horizontalHeader().setSectionResizeMode(1, QHeaderView.ResizeMode.Stretch)
        self.rule_table.verticalHeader().setVisible(False)
        self.rule_table.setToolTip("Custom composite: one LRP rule per dense/conv layer (first row = the input layer).")
        self.rules_box = QGroupBox("Rule per layer (custom composite)")
        rules_layout = QVBoxLayout(self.rules_box)
        rules_layout.setContentsMargins(4, 4, 4, 4)
        rules_layout.addWidget(self.rule_table)

        self.help = QTextBrowser()
        self._shown_html = ""
        self._help_timer = QTimer(self)  # the formula pane follows the graph and heatmap (see sync)
        self._help_timer.setSingleShot(True)
        self._help_timer.setInterval(HELP_DELAY_MS)
        self._help_timer.timeout.connect(self._show_help)
        self.help.setObjectName("methodHelp")
        self.help.setOpenExternalLinks(False)

        self.bias_note = QLabel("")
        self.bias_note.setObjectName("biasNote")
        self.bias_note.setWordWrap(True)
        self.bias_note.setToolTip("Relevance absorbed = start total (the explained logit, or the chosen start) minus "
                                  "the sum of input relevance. " + BIAS_HELP)

        self.method_selector.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon)
        self.method_selector.setMinimumContentsLength(16)
        self.params_box.setSizePolicy(QSizePolicy.Policy.Preferred, QSizePolicy.Policy.Maximum)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 4)
        layout.addWidget(self.method_selector)
        layout.addWidget(self.params_box)
        layout.addWidget(self.bias_note)
        layout.addWidget(self.rules_box, 2)
        layout.addWidget(self.help, 3)

        self.method_selector.currentIndexChanged.connect(self._method_chosen)
        state.methodChanged.connect(self.sync)
        state.explanationSettled.connect(self.update_bias_note)
        state.modelChanged.connect(self._model_changed)
        self._model_changed()

    # ------------------------------------------------------------------ building
    def _fill_methods(self) -> None:
        box = self.method_selector
        groups = [("LRP rules (all layers)", list(RULES)), ("Composites", list(COMPOSITES)),
                  ("Baselines", list(BASELINES)), ("Per layer", [CUSTOM])]
        for title, names in groups:
            if box.count():
                box.insertSeparator(box.count())
            for name in names:
                box.addItem(f"{name}  \u2014  {plain_text(method_title(name))}", name)
                box.setItemData(box.count() - 1, title, Qt.ItemDataRole.ToolTipRole)

    def _layer_name(self, index: int) -> str:
        layer = self.state.net.layers[index]
        spec = layer.spec()
        return f"{index}: {layer.type_name} {spec.get('out_features', spec.get('out_channels'))}"

    def _fill_rule_table(self) -> None:
        net = self.state.net
        table = self.rule_table
        with QSignalBlocker(table):
            table.setRowCount(0)
            for row, index in enumerate(net.linear_indices):
                table.insertRow(row)
                item = QTableWidgetItem(self._layer_name(index))
                item.setFlags(item.flags() & ~Qt.ItemFlag.ItemIsEditable)
                table.setItem(row, 0, item)
                combo = QComboBox()
                combo.addItems(list(RULES))
                combo.setCurrentText(self.state.custom_rules.get(index, "epsilon"))
                combo.currentTextChanged.connect(lambda rule, i=index: self.state.set_custom_rule(i, rule))
                table.setCellWidget(row, 1, combo)
        table.resizeRowsToContents()

    def param_widget(self, param: Param) -> QWidget:
        """The widget of ``param`` (made and added to the form on first use); its range follows ``param``."""
        widget = self.widgets.get(param.name)
        if widget is None:
            widget = param_widget(param)
            widget.valueChanged.connect(lambda value, n=param.name: self._param_edited(n, value))
            self.form.insertRow(self.form.rowCount() - 2, param_label(param), widget)  # above bias and "no params"
            self.widgets[param.name] = widget
        return widget

    # ------------------------------------------------------------------ reacting
    def _model_changed(self) -> None:
        self._fill_rule_table()
        self.sync()

    def _method_chosen(self, index: int) -> None:
        name = self.method_selector.itemData(index)
        if name:
            self.state.set_method(str(name))

    def _param_edited(self, name: str, value: Any) -> None:
        if name == "alpha" and "beta" in self.state.params:  # alpha-beta keeps alpha - beta = 1
            self._set_widget("beta", float(value) - 1.0)
            self.state.params["beta"] = float(value) - 1.0
        elif name == "beta" and "alpha" in self.state.params:
            self._set_widget("alpha", float(value) + 1.0)
            self.state.params["alpha"] = float(value) + 1.0
        self.state.set_param(name, value)

    def _set_widget(self, name: str, value: Any) -> None:
        widget = self.widgets.get(name)
        if widget is None:
            return
        with QSignalBlocker(widget):
            if isinstance(widget, QCheckBox):
                widget.setChecked(bool(value))
            else:
                widget.setValue(value)

    def shown_params(self) -> tuple[tuple[Param, ...], bool]:
        """The parameters the current method declares (for ``custom``: those of the chosen rules)
        and whether it shows the bias checkbox."""
        state = self.state
        info = method_params(state.method, state.custom_rules if state.method == CUSTOM else None)
        return info.params, info.uses_bias

    def sync(self) -> None:
        """Show the state's method, its parameter widgets and its formula pane."""
        state = self.state
        with QSignalBlocker(self.method_selector):
            self.method_selector.setCurrentIndex(self.method_selector.findData(state.method))
        params, uses_bias = self.shown_params()
        for param in params:
            self._configure(param)
        shown = {p.name for p in params} | ({BIAS} if uses_bias else set())
        rows: dict[QWidget, bool] = {widget: name in shown for name, widget in self.widgets.items()}
        rows[self.no_params] = not shown
        self._set_rows_visible(rows)
        values = state.params
        for name in shown:
            if name in values:
                self._set_widget(name, values[name])
        self.rules_box.setVisible(state.method == CUSTOM)
        self._help_timer.start()

    def _configure(self, param: Param) -> None:
        """Make sure ``param``'s widget exists and has the declared range (declarations may differ)."""
        widget = self.param_widget(param)
        if isinstance(widget, QAbstractSpinBox) and param.kind != "int":
            low = param.minimum if param.minimum is not None else -UNBOUNDED
            high = param.maximum if param.maximum is not None else UNBOUNDED
            if (widget.minimum(), widget.maximum()) != (low, high):
                with QSignalBlocker(widget):
                    widget.setRange(low, high)

    def update_bias_note(self) -> None:
        """Say whether the bias takes part in the rules and what it absorbed in the shown explanation."""
        exp = self.state.explanation
        if exp is None:
            self.bias_note.setText("")
            return
        info = method_params(self.state.method, self.state.custom_rules if self.state.method == CUSTOM else None)
        bias = self.state.explain_arguments().get(BIAS)
        text = bias_summary(info.kind, info.uses_bias, bias, exp.conservation(), 0, self.state.method)
        text = text.replace("--no-bias gives", "unticking the box gives").replace(" %", NBSP + "%")
        self.bias_note.setText("Bias: " + text)  # a no-break space before %, as gui.formatting.percent

    def help_pending(self) -> bool:
        """True while the formula pane still waits to show the current method."""
        return self._help_timer.isActive()

    def _show_help(self) -> None:
        html = self._help_html()
        if html != self._shown_html:  # setHtml re-lays out and repaints the whole document
            self._shown_html = html
            self.help.setHtml(html)

    def _set_rows_visible(self, rows: dict[QWidget, bool]) -> None:
        """Show or hide form rows; the box is hidden meanwhile so the layout is redone once, not per row."""
        changed = {widget: visible for widget, visible in rows.items() if self.form.isRowVisible(widget) != visible}
        if not changed:
            return
        box_hidden = self.params_box.isHidden()  # hidden by us, not by a closed dock
        self.params_box.setVisible(False)  # showing a row in a shown box costs a layout pass (~1 ms) each
        for widget, visible in changed.items():
            self.form.setRowVisible(widget, visible)
        self.params_box.setVisible(not box_hidden)

    def _help_html(self) -> str:
        """The formula pane of the current method, with the per-layer rules it resolves to."""
        state = self.state
        net = state.net
        info = method_params(state.method, state.custom_rules if state.method == CUSTOM else None)
        rules = None
        if info.kind != "baseline":
            arguments = state.explain_arguments()
            method = arguments.pop("method")
            arguments.pop(BIAS, None)
            arguments.pop("start", None)
            try:
                rules = resolve_rules(net, method, arguments)
            except Exception:  # invalid parameters are reported by the explanation itself
                rules = None
        names = {index: self._layer_name(index) for index in net.linear_indices}
        return method_html(state.method, rules, names, info)


__all__ = ["ExplanationPanel", "HELP_DELAY_MS", "NumberBox", "param_label", "param_widget"]
