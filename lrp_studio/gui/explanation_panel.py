"""Method choice: the method list, its parameter widgets, the per-layer rule table and the help pane."""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import QSignalBlocker, Qt, QTimer
from PySide6.QtWidgets import (
    QCheckBox, QComboBox, QDoubleSpinBox, QFormLayout, QGroupBox, QHeaderView, QLabel, QSizePolicy, QSpinBox,
    QTableWidget, QTableWidgetItem, QTextBrowser, QVBoxLayout, QWidget,
)

from lrp_studio.gui.method_help import PARAM_HELP, method_html, method_title
from lrp_studio.gui.state import CUSTOM, AppState
from lrp_studio.lrp import BASELINES, COMPOSITES, RULES
from lrp_studio.lrp.explain import resolve_rules

PARAM_LABELS = {"epsilon": "\u03b5 (epsilon)", "alpha": "\u03b1 (alpha)", "beta": "\u03b2 (beta = \u03b1 \u2212 1)",
                "gamma": "\u03b3 (gamma)", "low": "low (z-box)", "high": "high (z-box)", "bias": "",
                "steps": "steps", "samples": "samples", "noise": "noise (\u00d7 range)", "patch": "patch size"}


def _double(minimum: float, maximum: float, step: float, decimals: int) -> QDoubleSpinBox:
    box = QDoubleSpinBox()
    box.setRange(minimum, maximum)
    box.setSingleStep(step)
    box.setDecimals(decimals)
    box.setKeyboardTracking(False)
    return box


def _int(minimum: int, maximum: int) -> QSpinBox:
    box = QSpinBox()
    box.setRange(minimum, maximum)
    box.setKeyboardTracking(False)
    return box


#: The formula pane is re-laid out this long after the last method or parameter change: the graph
#: and heatmap are painted first, and spinning a parameter does not re-render it at every step.
HELP_DELAY_MS = 80


class ExplanationPanel(QWidget):
    """Choose the explanation method and its parameters; changes go to :class:`AppState`."""

    def __init__(self, state: AppState, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("explanationPanel")
        self.state = state

        self.method_selector = QComboBox()
        self.method_selector.setObjectName("methodSelector")
        self.method_selector.setToolTip("Explanation method: a single LRP rule for all layers, a composite, "
                                        "a baseline, or a custom rule per layer.")
        self._fill_methods()

        self.widgets: dict[str, QWidget] = {
            "epsilon": _double(0.0, 100.0, 0.05, 6), "alpha": _double(1.0, 20.0, 0.5, 2),
            "beta": _double(0.0, 19.0, 0.5, 2), "gamma": _double(0.0, 100.0, 0.05, 3),
            "low": _double(-1e6, 1e6, 0.1, 3), "high": _double(-1e6, 1e6, 0.1, 3),
            "bias": QCheckBox("bias takes part in z"), "steps": _int(1, 1024), "samples": _int(1, 1024),
            "noise": _double(0.0, 10.0, 0.05, 3), "patch": _int(1, 64),
        }
        self.form = QFormLayout()
        self.form.setFieldGrowthPolicy(QFormLayout.FieldGrowthPolicy.AllNonFixedFieldsGrow)
        for name, widget in self.widgets.items():
            widget.setObjectName(f"param_{name}")
            widget.setToolTip(PARAM_HELP.get(name, ""))
            self.form.addRow(PARAM_LABELS[name], widget)
            if isinstance(widget, QCheckBox):
                widget.toggled.connect(lambda value, n=name: self._param_edited(n, bool(value)))
            else:
                widget.valueChanged.connect(lambda value, n=name: self._param_edited(n, value))
        self.params_box = QGroupBox("Parameters")
        self.params_box.setLayout(self.form)
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

        self.method_selector.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon)
        self.method_selector.setMinimumContentsLength(16)
        self.params_box.setSizePolicy(QSizePolicy.Policy.Preferred, QSizePolicy.Policy.Maximum)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 4)
        layout.addWidget(self.method_selector)
        layout.addWidget(self.params_box)
        layout.addWidget(self.rules_box, 2)
        layout.addWidget(self.help, 3)

        self.method_selector.currentIndexChanged.connect(self._method_chosen)
        state.methodChanged.connect(self.sync)
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
                box.addItem(f"{name}  \u2014  {method_title(name)}".replace("<sub>", "").replace("</sub>", "")
                            .replace("<sup>", "").replace("</sup>", "").replace("&epsilon;", "\u03b5")
                            .replace("&alpha;", "\u03b1").replace("&beta;", "\u03b2").replace("&gamma;", "\u03b3")
                            .replace("&times;", "\u00d7").replace("&minus;", "-"), name)
                box.setItemData(box.count() - 1, title, Qt.ItemDataRole.ToolTipRole)

    def _fill_rule_table(self) -> None:
        net = self.state.net
        table = self.rule_table
        with QSignalBlocker(table):
            table.setRowCount(0)
            for row, index in enumerate(net.linear_indices):
                table.insertRow(row)
                spec = net.layers[index].spec()
                width = spec.get("out_features", spec.get("out_channels"))
                item = QTableWidgetItem(f"{index}: {net.layers[index].type_name} {width}")
                item.setFlags(item.flags() & ~Qt.ItemFlag.ItemIsEditable)
                table.setItem(row, 0, item)
                combo = QComboBox()
                combo.addItems(list(RULES))
                combo.setCurrentText(self.state.custom_rules.get(index, "epsilon"))
                combo.currentTextChanged.connect(lambda rule, i=index: self.state.set_custom_rule(i, rule))
                table.setCellWidget(row, 1, combo)
        table.resizeRowsToContents()

    # ------------------------------------------------------------------ reacting
    def _model_changed(self) -> None:
        self._fill_rule_table()
        self.sync()

    def _method_chosen(self, index: int) -> None:
        name = self.method_selector.itemData(index)
        if name:
            self.state.set_method(str(name))

    def _param_edited(self, name: str, value: Any) -> None:
        if name == "alpha":
            self._set_widget("beta", float(value) - 1.0)
            self.state.params["beta"] = float(value) - 1.0
        elif name == "beta":
            self._set_widget("alpha", float(value) + 1.0)
            self.state.params["alpha"] = float(value) + 1.0
        self.state.set_param(name, value)

    def _set_widget(self, name: str, value: Any) -> None:
        widget = self.widgets[name]
        with QSignalBlocker(widget):
            if isinstance(widget, QCheckBox):
                widget.setChecked(bool(value))
            else:
                widget.setValue(value)

    def sync(self) -> None:
        """Show the state's method, its parameter widgets and its help text."""
        state = self.state
        method = state.method
        with QSignalBlocker(self.method_selector):
            self.method_selector.setCurrentIndex(self.method_selector.findData(method))
        params = state.params
        shown = set(params)
        if method == CUSTOM:  # only the parameters of the rules chosen in the table
            shown = {"bias"} | {p for rule in state.custom_rules.values() for p in RULES[rule].params}
        rows = {widget: name in shown for name, widget in self.widgets.items()}
        rows[self.no_params] = not shown
        self._set_rows_visible(rows)
        for name in shown:
            self._set_widget(name, params[name])
        self.rules_box.setVisible(method == CUSTOM)
        self._help_timer.start()

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
        net = self.state.net
        method = self.state.method
        rules: dict[int, str] | None = None
        if method not in BASELINES:
            try:
                arguments = self.state.explain_arguments()
                params = {k: v for k, v in arguments.items() if k not in ("method", "bias")}
                rules = {i: r.describe() for i, r in resolve_rules(net, arguments["method"], params).items()}
            except Exception:  # invalid parameters are reported by the explanation itself
                rules = None
        names = {}
        for index in net.linear_indices:
            spec = net.layers[index].spec()
            names[index] = f"{index}: {net.layers[index].type_name} {spec.get('out_features', spec.get('out_channels'))}"
        return method_html(method, rules, names)
