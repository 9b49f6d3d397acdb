"""The formula with the numbers: a row of the inspector's message table, one step of LRP to check by hand.

Selecting a row of the neuron inspector's table of incoming messages (a dense layer) shows under the table
the layer's rule formula and the sample's values in it: x_j, w_jk, z_k, each denominator D_k (bias part,
stabilised), R_k, every term of the rule, and the message R_{j<-k} they multiply to, which is the table's
value (:func:`lrp_studio.lrp.connection.connection_formula`).
"""

from __future__ import annotations

from typing import Any

import numpy as np
from PySide6 import QtWidgets
from PySide6.QtCore import Qt

from lrp_studio.errors import LRPStudioError
from lrp_studio.gui.state import AppState
from lrp_studio.lrp.canonizers import canonical
from lrp_studio.lrp.connection import ConnectionFormula, connection_formula
from lrp_studio.lrp.explain import resolve_rules


def formula_html(formula: ConnectionFormula, rule_formula: str) -> str:
    """The rule's formula (HTML) above the numbers of one connection."""
    return "<br>".join([rule_formula, *formula.lines(html=True)])


class FormulaNumbers(QtWidgets.QLabel):
    """Under the inspector's table: the selected message's formula with the sample's numbers."""

    def __init__(self, inspector: Any, state: AppState) -> None:
        super().__init__()
        self.setObjectName("inspectorFormulaNumbers")
        self.setWordWrap(True)
        self.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.setStyleSheet("background: #f7f7f2; padding: 4px;")
        self.inspector, self.state = inspector, state
        self.formula: ConnectionFormula | None = None
        self.setText("Select a row of the table to see its rule's formula with this sample's numbers.")

    def show_row(self, row: int) -> None:
        """Show the formula of table row ``row`` (a dense layer's message; others get one line why not)."""
        source = getattr(self.inspector, "message_source", None)
        rows = self.inspector.contributions()
        state = self.state
        exp = state.explanation
        if source is None or not 0 <= row < len(rows) or exp is None:
            return
        layer, k = source
        j = rows[row][0]
        try:
            arguments = state.explain_arguments()
            method, bias = arguments.pop("method"), bool(arguments.pop("bias", True))
            net = canonical(state.net)
            rule = resolve_rules(state.net, method, arguments)[layer]
            record = next(r for r in exp.layers if r.stage == layer + 1)
            trace = net.trace(net.prepare_input(np.asarray(state.input_at(state.explained_index))[None]))
            self.formula = connection_formula(net, trace, layer, record.relevance[:1], rule, j, k, bias)
        except (LRPStudioError, StopIteration, KeyError, TypeError) as error:
            self.formula = None
            self.setText(f"No formula for this row: {error}")
            return
        self.setText(formula_html(self.formula, type(rule).formula))


def install_formula_numbers(inspector: Any, state: AppState) -> FormulaNumbers:
    """Make the inspector's message rows selectable and show the selected row's formula under the table."""
    view = FormulaNumbers(inspector, state)
    table = inspector._table
    table.setSelectionMode(QtWidgets.QAbstractItemView.SelectionMode.SingleSelection)
    table.setSelectionBehavior(QtWidgets.QAbstractItemView.SelectionBehavior.SelectRows)
    table.itemSelectionChanged.connect(
        lambda: view.show_row(min((i.row() for i in table.selectedIndexes()), default=-1)))
    inspector.add_detail_widget(view)  # hidden with the table while no neuron is selected
    inspector.formula_numbers = view
    return view


__all__ = ["FormulaNumbers", "formula_html", "install_formula_numbers"]
