"""Method selector, parameter widgets, custom rule table, target choice, conservation plot, help pane."""

from __future__ import annotations

import numpy as np
import pytest
from PySide6.QtCore import QPoint, Qt

from lrp_studio.gui.method_help import PARAM_HELP, method_html
from lrp_studio.gui.state import CUSTOM, METHOD_PARAMS, explain_kwargs
from lrp_studio.lrp import METHODS, RULES


def _choose(window, method: str) -> None:
    selector = window.method_selector
    selector.setCurrentIndex(selector.findData(method))
    assert window.wait_idle(30)


def test_selector_lists_every_method_plus_custom(window):
    selector = window.method_selector
    listed = [selector.itemData(i) for i in range(selector.count()) if selector.itemData(i)]
    assert listed == list(METHODS) + [CUSTOM]
    assert selector.objectName() == "methodSelector"


def test_every_method_has_help_and_parameter_rows():
    for method in list(METHODS) + [CUSTOM]:
        html = method_html(method)
        assert method in html and len(html) > 100
        assert method in METHOD_PARAMS
        for name in METHOD_PARAMS[method]:
            assert PARAM_HELP[name]


def test_every_method_runs_in_the_window(window):
    for method in METHODS:
        _choose(window, method)
        exp = window.state.explanation
        assert exp.method == method
        assert np.isfinite(exp.relevance).all()
        assert window.heatmap.rgba is not None
        assert method in window.explanation_panel.help.toPlainText()


def test_changing_method_or_parameter_changes_the_heatmap(window):
    _choose(window, "epsilon")
    first = window.heatmap.rgba.copy()
    _choose(window, "zplus")
    second = window.heatmap.rgba.copy()
    assert not np.array_equal(first, second)
    _choose(window, "epsilon")
    spin = window.explanation_panel.widgets["epsilon"]
    assert spin.isVisible() and spin.value() == pytest.approx(0.25)
    spin.setValue(5.0)
    assert window.wait_idle(10)
    assert window.state.explanation.rules[1] == "epsilon(epsilon=5.0)"
    assert not np.array_equal(first, window.heatmap.rgba)


def test_parameter_widgets_follow_the_method_and_alpha_minus_beta_is_one(window):
    panel = window.explanation_panel
    _choose(window, "alphabeta")
    assert panel.widgets["alpha"].isVisible() and panel.widgets["beta"].isVisible()
    assert not panel.widgets["epsilon"].isVisible()
    panel.widgets["alpha"].setValue(3.0)
    assert panel.widgets["beta"].value() == pytest.approx(2.0)
    assert window.wait_idle(10)
    assert window.state.explanation.rules[1] == "alphabeta(alpha=3.0, beta=2.0)"
    panel.widgets["beta"].setValue(0.0)
    assert panel.widgets["alpha"].value() == pytest.approx(1.0)
    _choose(window, "integrated-gradients")
    assert panel.widgets["steps"].isVisible() and not panel.widgets["alpha"].isVisible()
    assert not panel.rules_box.isVisible()


def test_bias_checkbox_changes_conservation(window):
    _choose(window, "epsilon")
    box = window.explanation_panel.widgets["bias"]
    box.setChecked(False)
    assert window.wait_idle(10)
    sums = window.conservation_plot.stage_values
    logit = float(window.state.explanation.explained[0])
    assert sums[-1] == pytest.approx(logit, rel=1e-4)
    assert window.conservation_plot.logit_curve.yData[0] == pytest.approx(logit)


def test_custom_rule_table(window):
    _choose(window, CUSTOM)
    panel = window.explanation_panel
    table = panel.rule_table
    linear = window.state.net.linear_indices
    assert panel.rules_box.isVisible() and table.rowCount() == len(linear)
    combo = table.cellWidget(0, 1)
    assert [combo.itemText(i) for i in range(combo.count())] == list(RULES)
    combo.setCurrentText("wsquare")
    table.cellWidget(1, 1).setCurrentText("zplus")
    assert window.wait_idle(10)
    rules = window.state.explanation.rules
    assert rules[linear[0]] == "wsquare" and rules[linear[1]] == "zplus"
    assert "wsquare" in panel.help.toPlainText()


def test_clicking_an_output_bar_sets_the_target(qtbot, window):
    bars = window.output_bars
    predicted = int(np.argmax(window.state.explanation.logits[0]))
    other = (predicted + 3) % 10
    scene = bars.bar_scene_pos(other)
    pos = bars.plot.mapFromScene(scene)
    qtbot.mouseClick(bars.plot.viewport(), Qt.MouseButton.LeftButton, pos=pos)
    assert window.state.target == other
    assert window.wait_idle(10)
    assert int(window.state.explanation.targets[0]) == other
    assert "chosen" in bars.info.text()
    bars.predicted_button.click()
    assert window.wait_idle(10)
    assert window.state.target is None and int(window.state.explanation.targets[0]) == predicted


def test_heatmap_colormap_and_overlay(window):
    heat = window.heatmap
    plain = heat.rgba.copy()
    heat.set_overlay(True)
    assert not np.array_equal(plain, heat.rgba)
    heat.set_overlay(False)
    heat.set_colormap("coldnhot")
    assert not np.array_equal(plain, heat.rgba)
    assert heat.vmax > 0


def test_explain_kwargs_drop_parameters_the_method_does_not_take():
    kwargs = explain_kwargs("epsilon-plus", {"epsilon": 1e-6, "bias": False, "gamma": 3.0}, {})
    assert kwargs == {"method": "epsilon-plus", "bias": False, "epsilon": 1e-6}
    kwargs = explain_kwargs("smoothgrad", {"samples": 4, "noise": 0.2}, {})
    assert kwargs == {"method": "smoothgrad", "samples": 4, "noise": 0.2}
    assert explain_kwargs(CUSTOM, {}, {1: "zplus"})["method"] == {1: "zplus"}
