"""The "Relevance ledger" dock: waterfall bars and table of the explained sample, adding up row by row."""

from __future__ import annotations

import numpy as np
import pytest

from lrp_studio.zoo import bundled_model_path, load_model


def show_ledger(window):
    dock = window.docks["ledger"]
    dock.show()
    dock.raise_()
    window.ledger_view.set_shown(True)
    assert window.wait_idle(30.0)
    return window.ledger_view


def table_rows(view):
    rows = []
    for r in range(view.table.rowCount()):
        cells = [view.table.item(r, c).text() for c in range(view.table.columnCount())]
        rows.append(cells)
    return rows


def test_mlp_ledger_adds_up_and_draws_a_bar_per_step(window):
    view = show_ledger(window)
    book = view.ledger
    assert book is not None
    rows = table_rows(view)
    assert [r[0] for r in rows] == ["dense (layer 5)", "dense (layer 3)", "dense (layer 1)"]
    for cells in rows:
        received, bias, stab, dropped, sent = (float(v) for v in cells[2:])
        assert received - bias - stab - dropped == pytest.approx(sent, rel=1e-3)
    steps = book.waterfall(0)
    heights = view.bars.opts["height"]
    assert len(heights) == len(steps) == 5  # logit, three dense layers, input
    np.testing.assert_allclose(heights[1:-1], [s[1] for s in steps[1:-1]])
    exp = window.state.explanation
    assert float(book.input_total[0]) == pytest.approx(float(exp.relevance.sum()), rel=1e-5)
    assert float(book.start_total[0]) == pytest.approx(float(exp.explained[0]), rel=1e-6)


def test_ledger_follows_the_method_and_refuses_baselines(window):
    view = show_ledger(window)
    window.state.set_method("gradient")
    assert window.wait_idle(30.0)
    assert view.ledger is None and view.table.rowCount() == 0 and "baseline" in view.summary.text()
    window.state.set_method("epsilon")
    window.state.set_param("epsilon", 0.5)
    assert window.wait_idle(30.0)
    assert view.ledger is not None and view.ledger.total("stabiliser") > 0.1  # a large epsilon absorbs visibly


def test_cnn_gamma_rows_split_into_parts(make_window):
    window = make_window(load_model(bundled_model_path("cnn")), model_name="cnn")
    window.state.set_method("epsilon-gamma-box")
    assert window.wait_idle(30.0)
    view = show_ledger(window)
    names = [r[0] for r in table_rows(view)]
    assert "conv2d (layer 3)" in names and any("z > 0" in n for n in names) and any("z < 0" in n for n in names)
    assert "gamma" in table_rows(view)[names.index("conv2d (layer 3)")][1]
