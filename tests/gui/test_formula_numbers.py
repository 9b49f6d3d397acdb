"""Selecting a row of the inspector's message table shows that connection's formula with the sample's numbers."""

from __future__ import annotations

import pytest

from lrp_studio.zoo import bundled_model_path, load_model


def select_row(window, stage, unit, row=0):
    window.select_neuron(stage, unit)
    assert window.wait_idle(30.0)
    window.inspector._table.selectRow(row)
    return window.inspector.formula_numbers


def test_output_neuron_row_shows_the_numbers_of_the_table_message(window):
    window.state.set_method("epsilon")
    window.state.set_param("epsilon", 0.25)
    assert window.wait_idle(30.0)
    stage = len(window.state.net.layers)  # the logits
    view = select_row(window, stage, 0, row=1)
    formula = view.formula
    assert formula is not None and formula.k == 0
    source, _, message = window.inspector.contributions()[1]
    assert formula.j == source
    assert formula.message == pytest.approx(message, rel=1e-4)
    hand = formula.x_j * formula.w_jk / (formula.z_k + 0.25 * (1 if formula.z_k >= 0 else -1)) * formula.R_k
    assert formula.message == pytest.approx(hand, rel=1e-5)
    text = view.text()
    assert "epsilon(epsilon=0.25)" in text and f"{formula.x_j:.6g}" in text and "R<sub>j&larr;k</sub>" in text


def test_gamma_dense_layer_of_the_cnn_has_two_denominators(make_window):
    window = make_window(load_model(bundled_model_path("cnn")), model_name="cnn")
    window.state.set_method("gamma")
    assert window.wait_idle(30.0)
    view = select_row(window, 10, int(window.state.explanation.targets[0]))  # the explained logit: dense layer 9
    assert view.formula is not None, view.text()
    assert [d.label for d in view.formula.denominators] == ["z > 0", "z < 0"]
    assert view.formula.message == pytest.approx(window.inspector.contributions()[0][2], rel=1e-4, abs=1e-6)
