"""The "Compare methods" dock and the perturbation read-outs (compare view and neuron inspector)."""

from __future__ import annotations

import numpy as np
import pytest

from lrp_studio.gui.compare_methods import DEFAULT_COMPARED
from lrp_studio.lrp import METHODS


def show_compare(qtbot, window):
    view = window.compare_view
    runs = view.n_runs
    window.docks["compare"].show()
    window.docks["compare"].raise_()
    qtbot.waitUntil(lambda: view.n_runs > runs and not view.is_busy(), timeout=30000)
    return view


def test_hidden_compare_view_computes_nothing(window, qtbot):
    view = window.compare_view
    assert not view.shown and view.n_runs == 0
    window.set_sample(3)
    assert window.wait_idle(10)
    qtbot.wait(150)
    assert view.n_runs == 0


def test_one_cell_per_method_for_the_current_sample(window, qtbot):
    view = show_compare(qtbot, window)
    cells = view.cells()
    assert set(cells) == (set(DEFAULT_COMPARED) | {window.state.method, "perturbation"}) and set(cells) < set(METHODS) | {"perturbation"}
    from lrp_studio.lrp import explain

    x = window.state.sample()[None]
    for method in ("lrp0", "gradient", "epsilon-plus"):
        exp = explain(window.state.net, x, method=method)
        result = cells[method].result
        assert np.allclose(result.relevance, exp.relevance[0], atol=1e-5)
        ratio = float(exp.relevance[0].sum()) / float(exp.logits[0, exp.targets[0]])
        title = cells[method].title
        assert f"{ratio:.2f}" in title.text + title.toolTip()  # a short dock: one-line titles, the sums in the tooltip
    # a new sample recomputes while the dock is shown
    runs = view.n_runs
    window.set_sample(7)
    qtbot.waitUntil(lambda: view.n_runs > runs and not view.is_busy(), timeout=30000)
    exp = explain(window.state.net, window.state.sample()[None], method="lrp0")
    assert np.allclose(view.cells()["lrp0"].result.relevance, exp.relevance[0], atol=1e-5)


def test_shared_and_per_cell_scale(window, qtbot):
    view = show_compare(qtbot, window)
    view.set_scale("shared")
    shared = {name: view.levels(name) for name in view.cells()}
    assert len({levels for levels in shared.values()}) == 1
    top = max(float(np.abs(c.result.relevance).max()) for c in view.cells().values())
    assert shared["lrp0"][1] == pytest.approx(top)
    view.set_scale("each")
    each = {name: view.levels(name) for name in view.cells()}
    assert len({levels for levels in each.values()}) > 1
    for name, cell in view.cells().items():
        assert each[name][1] == pytest.approx(float(np.abs(cell.result.relevance).max()))
        assert tuple(cell.image.getLevels()) == pytest.approx(each[name])


def test_clicking_a_cell_makes_it_the_active_method(window, qtbot):
    from PySide6.QtCore import QPoint, Qt

    view = show_compare(qtbot, window)
    window.wait_idle(5)
    qtbot.wait(100)
    assert window.state.method != "gradient"
    box = view.cells()["gradient"].box
    center = view.graphics.mapFromScene(box.sceneBoundingRect().center())
    qtbot.mouseClick(view.graphics.viewport(), Qt.MouseButton.LeftButton, pos=QPoint(center.x(), center.y()))
    assert window.state.method == "gradient"
    assert "color:#c06000" in view.cells()["gradient"].title.text


def test_perturbation_correlation_matches_correlation(window, qtbot):
    from lrp_studio.lrp.perturbation import correlation, perturbation_heatmap

    view = show_compare(qtbot, window)
    assert window.wait_idle(10)
    qtbot.waitUntil(lambda: view.perturbation_r is not None, timeout=10000)
    state = window.state
    x = state.sample()[None]
    expected_map = perturbation_heatmap(state.net, x, target=int(state.explanation.targets[0]))[0]
    assert np.allclose(view.perturbation, expected_map)
    expected = correlation(state.explanation.relevance[0], expected_map)
    assert view.perturbation_r == pytest.approx(expected)
    assert f"r = {expected:.3f}" in view.correlation_label.text()
    # the per-cell figure uses the same correlation
    lrp0 = view.cells()["lrp0"].result.relevance
    assert view.correlations["lrp0"] == pytest.approx(correlation(lrp0, expected_map))


def test_neuron_perturbation_of_the_selected_unit(window, qtbot):
    from lrp_studio.lrp.perturbation import correlation, neuron_perturbation

    state = window.state
    stage = 3  # the 300 units after the first ReLU of the bundled MLP
    exp = state.explanation
    unit = int(np.argmax(exp.layers[stage].relevance[0]))
    window.select_neuron(stage, unit)
    panel = window.neuron_perturbation
    qtbot.waitUntil(lambda: panel.result is not None, timeout=10000)
    effects = neuron_perturbation(state.net, state.sample()[None], stage, target=int(exp.targets[0]))[0]
    assert panel.unit_effect() == pytest.approx(float(effects[unit]))
    r = correlation(effects, exp.layers[stage].relevance[0])
    assert panel.result.correlation == pytest.approx(r)
    assert f"{r:.3f}" in panel.label.text()


def test_neuron_perturbation_replaces_a_whole_feature_map(make_window, qtbot):
    """On the CNN a unit of a conv stage is a channel: the whole map is set to the stage mean."""
    from lrp_studio.zoo import load_any_model

    window = make_window(load_any_model("cnn"))
    state = window.state
    stage = next(s for s in range(1, len(state.net.layers) + 1) if len(state.net.shapes[s]) == 3
                 and any(c.stage == s for c in window.graph.columns()))
    channel = 3
    window.select_neuron(stage, channel)
    panel = window.neuron_perturbation
    qtbot.waitUntil(lambda: panel.result is not None and panel.result.stage == stage, timeout=20000)
    x = state.sample()[None]
    target = int(state.explanation.targets[0])
    activation = np.asarray(state.net.forward_to(state.net.prepare_input(x), stage), dtype=np.float32)
    base = float(np.asarray(state.net.forward_from(activation, stage))[0, target])
    changed = activation.copy()
    changed[0, channel] = activation.mean()
    drop = base - float(np.asarray(state.net.forward_from(changed, stage))[0, target])
    assert panel.unit_effect() == pytest.approx(drop, rel=1e-4, abs=1e-5)
    assert panel.result.effects.shape == (state.net.shapes[stage][0],)
    assert "feature map" in panel.label.text()


def test_view_menu_toggles_and_colour_map(window, qtbot):
    view_menu = next(a.menu() for a in window.menuBar().actions() if a.text() == "&View")
    titles = [a.text() for a in view_menu.actions()]
    assert "Compare methods" in titles and "Faithfulness" in titles
    assert window.compare_view.objectName() == "compareView"
    assert window.faithfulness_view.objectName() == "faithfulnessView"
    view = show_compare(qtbot, window)
    window.heatmap.set_colormap("gray")
    from lrp_studio.viz import get_colormap

    assert np.array_equal(view.cells()["lrp0"].image.lut, get_colormap("gray"))


def test_the_methods_menu_chooses_the_compared_methods(window, qtbot):
    view = show_compare(qtbot, window)
    actions = {action.text(): action for action in view.methods_button.menu().actions()}
    assert set(actions) == set(METHODS)
    runs = view.n_runs
    actions["taylor"].setChecked(True)  # a method off by default
    actions["smoothgrad"].setChecked(False)
    qtbot.waitUntil(lambda: view.n_runs > runs and not view.is_busy(), timeout=30000)
    assert "taylor" in view.cells() and "smoothgrad" not in view.cells()
    from lrp_studio.lrp import explain

    exp = explain(window.state.net, window.state.sample()[None], method="taylor")
    assert np.allclose(view.cells()["taylor"].result.relevance, exp.relevance[0], atol=1e-5)
    # the active method is always compared, chosen or not
    window.state.set_method("wsquare")
    qtbot.waitUntil(lambda: "wsquare" in view.cells() and not view.is_busy(), timeout=30000)
