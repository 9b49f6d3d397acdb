"""The Faithfulness dock's Sanity and Tune tabs: runs in the worker, tables match the core, Apply sets the panel."""

from __future__ import annotations

import numpy as np
import pytest

from lrp_studio.gui.sanity_view import balanced_batch
from lrp_studio.lrp.sanity import sanity_scores
from lrp_studio.lrp.tuning import make_grid, iter_tune
from lrp_studio.zoo import bundled_model_path, load_model


@pytest.fixture
def cnn_window(make_window):
    return make_window(load_model(bundled_model_path("cnn")), model_name="cnn")


def finish(qtbot, view, timeout=120_000):
    with qtbot.waitSignal(view.runFinished, timeout=timeout) as blocker:
        view.run()
        assert view.is_running()
    return blocker.args[0]


def test_sanity_tab_matches_the_core(cnn_window, qtbot):
    window = cnn_window
    tabs = window.docks["faithfulness"].widget()
    assert [tabs.tabText(i) for i in range(tabs.count())] == ["AOPC", "Sanity", "Tune"]
    view = window.sanity_view
    view.set_methods(["lrp0", "gradient"])
    view.count_spin.setValue(6)
    assert finish(qtbot, view) == "done"
    assert view.table.rowCount() == 2 and list(view.scores) == ["lrp0", "gradient"]
    x, targets, _ = balanced_batch(window.state, 6)
    expected = sanity_scores(window.state.net, x, targets, ["lrp0", "gradient"])
    for r, method in enumerate(["lrp0", "gradient"]):
        assert view.table.item(r, 0).text() == method
        assert float(view.table.item(r, 3).text()) == pytest.approx(expected[method].ssim[-1], abs=1e-3)
        assert float(view.table.item(r, 7).text()) == pytest.approx(expected[method].sparseness, abs=1e-3)
        xs, ys = view.curves[method].getData()
        np.testing.assert_allclose(ys, [1.0, *expected[method].ssim])
    assert view.table.item(0, 1).text() == "\u2013"  # no AOPC run yet


def test_tune_tab_sweeps_and_applies_the_best_setting(cnn_window, qtbot):
    window = cnn_window
    view = window.tune_view
    assert view.method_combo.currentText() == "epsilon-gamma-box"
    view.count_spin.setValue(4)
    assert finish(qtbot, view) == "done"
    grid = make_grid("epsilon-gamma-box", ["epsilon", "gamma"])
    assert view.table.rowCount() == 25 == len(view.result.rows)
    best = view.result.best
    assert best.aopc >= view.result.default.aopc
    x, targets, _ = balanced_batch(window.state, 4)
    twin = next(r for r in iter_tune(window.state.net, x, targets, "epsilon-gamma-box",
                                     {"epsilon": [best.params["epsilon"]], "gamma": [best.params["gamma"]]}))
    assert twin.aopc == pytest.approx(best.aopc, rel=1e-12)
    assert grid["gamma"] == [0.0, 0.1, 0.25, 0.5, 1.0]
    view.apply_button.click()
    assert window.wait_idle(30.0)
    state = window.state
    assert state.method == "epsilon-gamma-box"
    assert state.params["gamma"] == best.params["gamma"] and state.params["epsilon"] == best.params["epsilon"]
    assert state.explanation.rules[3] == f"gamma(gamma={best.params['gamma']:g})"  # the panel's explanation uses it
    panel = window.explanation_panel
    assert "epsilon-gamma-box" in panel.method_selector.currentText()
    assert panel.widgets["gamma"].value() == pytest.approx(best.params["gamma"])
    assert panel.widgets["epsilon"].value() == pytest.approx(best.params["epsilon"])
    view.table.selectRow(0)
    view.apply_selected_button.click()
    assert window.wait_idle(30.0)
    assert state.params["gamma"] == view.result.rows[0].params["gamma"]
