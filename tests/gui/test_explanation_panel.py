"""Method selector, parameter widgets, custom rule table, target choice, conservation plot, help pane."""

from __future__ import annotations

import numpy as np
import pytest
from PySide6.QtCore import QPoint, Qt
from PySide6.QtWidgets import QSpinBox

from lrp_studio.gui.method_help import method_html, unique_rules
from lrp_studio.gui.state import CUSTOM, default_params, explain_kwargs, method_params
from lrp_studio.lrp import COMPOSITES, METHODS, RULES, Rule, method_info
from lrp_studio.lrp.params import Param
from lrp_studio.lrp.rules import Epsilon


def _choose(window, method: str) -> None:
    selector = window.method_selector
    selector.setCurrentIndex(selector.findData(method))
    assert window.wait_idle(30)


def test_selector_lists_every_method_plus_custom(window):
    selector = window.method_selector
    listed = [selector.itemData(i) for i in range(selector.count()) if selector.itemData(i)]
    assert listed == list(METHODS) + [CUSTOM]
    assert selector.objectName() == "methodSelector"


def test_every_method_has_help_built_from_its_declaration():
    for method in list(METHODS) + [CUSTOM]:
        info = method_params(method)
        html = method_html(method)
        assert method in html and unique_rules(info.title) in html  # each rule once (deep-taylor: z+ / z+)
        assert info.formula in html and info.about in html
        for param in info.params:
            assert param.help and param.help in html


def test_parameter_widgets_are_built_from_the_declarations(window):
    panel = window.explanation_panel
    for method in METHODS:
        _choose(window, method)
        info = method_info(method)
        for param in info.params:
            widget = panel.widgets[param.name]
            assert widget.isVisible(), (method, param.name)
            assert param.help in widget.toolTip()
            assert panel.form.labelForField(widget).text() == param.display
            assert isinstance(widget, QSpinBox) == (param.kind == "int")
            if param.minimum is not None:
                assert widget.minimum() == pytest.approx(param.minimum)
            if param.maximum is not None:
                assert widget.maximum() == pytest.approx(min(param.maximum, 2**31 - 1))
            expected = param.default if param.default is not None else dict(zip(("low", "high"), (0.0, 1.0)))[param.name]
            assert widget.value() == pytest.approx(expected), (method, param.name)
        assert panel.widgets["bias"].isVisible() == info.uses_bias, method
        shown = {name for name, w in panel.widgets.items() if w.isVisible()}
        assert shown == {p.name for p in info.params} | ({"bias"} if info.uses_bias else set()), method
    assert default_params("epsilon-plus")["epsilon"] == COMPOSITES["epsilon-plus"].params[0].default == 1e-6


class Kappa(Epsilon):
    """A throw-away rule: epsilon with a stabiliser called kappa (only for this test)."""

    name = "kappa-test"
    params = (Param("kappa", 0.5, minimum=0.01, maximum=3.0, label="\u03ba (kappa)", help="a test stabiliser"),)
    title = "LRP-&kappa; (test)"
    formula = "R<sub>j</sub> = kappa test formula"
    about = "registered by a test"

    def __init__(self, kappa: float = 0.5) -> None:
        self.kappa = float(kappa)
        self.epsilon = self.kappa


@pytest.fixture
def kappa_rule():
    RULES[Kappa.name] = Kappa
    try:
        yield Kappa
    finally:
        del RULES[Kappa.name]


def test_a_new_rule_appears_with_no_gui_edit(kappa_rule, make_window):
    window = make_window()
    panel = window.explanation_panel
    assert panel.method_selector.findData(Kappa.name) >= 0
    _choose(window, Kappa.name)
    widget = panel.widgets["kappa"]
    assert widget.isVisible() and widget.value() == pytest.approx(0.5)
    assert (widget.minimum(), widget.maximum()) == (pytest.approx(0.01), pytest.approx(3.0))
    assert panel.form.labelForField(widget).text() == "\u03ba (kappa)" and "a test stabiliser" in widget.toolTip()
    assert panel.widgets["bias"].isVisible()
    widget.setValue(2.0)
    assert window.wait_idle(10)
    assert window.state.explanation.rules[1] == "kappa-test(kappa=2)"
    assert "kappa test formula" in panel.help.toPlainText()


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
    assert window.state.explanation.rules[1] == "epsilon(epsilon=5)"
    assert not np.array_equal(first, window.heatmap.rgba)


def test_parameter_widgets_follow_the_method_and_alpha_minus_beta_is_one(window):
    panel = window.explanation_panel
    _choose(window, "alphabeta")
    assert panel.widgets["alpha"].isVisible() and panel.widgets["beta"].isVisible()
    assert not panel.widgets["epsilon"].isVisible()
    panel.widgets["alpha"].setValue(3.0)
    assert panel.widgets["beta"].value() == pytest.approx(2.0)
    assert window.wait_idle(10)
    assert window.state.explanation.rules[1] == "alphabeta(alpha=3, beta=2)"
    panel.widgets["beta"].setValue(0.0)
    assert panel.widgets["alpha"].value() == pytest.approx(1.0)
    _choose(window, "integrated-gradients")
    assert panel.widgets["steps"].isVisible() and not panel.widgets["alpha"].isVisible()
    assert not panel.rules_box.isVisible()


def test_bias_checkbox_changes_conservation(window):
    """LRP-0 with biases absorbs relevance (input sum != logit); without, it is conserved at every stage,
    and the conservation plot's numbers follow the checkbox."""
    _choose(window, "lrp0")
    plot = window.conservation_plot
    box = window.explanation_panel.widgets["bias"]
    assert box.isVisible() and box.isChecked()
    with_bias = plot.stage_values.copy()
    logit = float(window.state.explanation.explained[0])
    assert plot.logit_curve.yData[0] == pytest.approx(logit)
    assert abs(with_bias[0] - logit) > 2e-4 * abs(logit)  # the biases took part of the relevance
    box.setChecked(False)
    assert window.wait_idle(10)
    assert window.state.explain_arguments()["bias"] is False
    without_bias = plot.stage_values
    assert not np.allclose(without_bias, with_bias)
    np.testing.assert_allclose(without_bias, logit, rtol=2e-5)  # conserved at every plotted stage
    assert f"{without_bias[0]:.3g}" in plot.annotation()
    box.setChecked(True)
    assert window.wait_idle(10)
    np.testing.assert_allclose(plot.stage_values, with_bias, rtol=1e-6)


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


def test_colour_bar_draws_every_tick_label_of_a_small_range(window):
    """epsilon 5 on the MLP gives a maximum relevance below 0.1: labels like -0.0694 must all be drawn."""
    from PySide6.QtGui import QImage, QPainter

    window.state.set_method("epsilon")
    window.state.set_param("epsilon", 5.0)
    assert window.wait_idle(30.0)
    heatmap = window.heatmap
    labels = [text for _, text in heatmap._colorbar_ticks]
    assert len(labels[0]) >= 7 and labels[0].startswith("-0.0"), labels  # the case that was cut
    image = QImage(200, 400, QImage.Format.Format_ARGB32)
    painter = QPainter(image)
    try:
        specs = heatmap.colorbar.axis.generateDrawSpecs(painter)
    finally:
        painter.end()
    drawn = [spec[2] for spec in specs[2]]
    assert drawn == labels[::-1] or sorted(drawn) == sorted(labels), (drawn, labels)
