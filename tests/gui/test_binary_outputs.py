"""The output chart and the sample browser with a one-output (binary) model (issue 13, point 4)."""

from __future__ import annotations

import numpy as np
import pytest

from lrp_studio.data import make_toy
from lrp_studio.nn import mlp


@pytest.fixture
def binary_window(make_window):
    net = mlp([2, 8, 1], input_shape=(2,), classes=["1"], input_range=(-2.0, 3.0), seed=3)
    data = make_toy("moons")
    return make_window(net, data, model_name="moons")


def _z(window):
    return float(np.asarray(window.state.explanation.logits)[0, 0])


def test_output_chart_of_a_binary_model_names_both_classes(binary_window):
    window = binary_window
    bars = window.output_bars
    z = _z(window)
    axis = bars.plot.getPlotItem().getAxis("bottom")
    bars.mode.setCurrentText("logits")
    bars.refresh()
    assert [name for _, name in axis._tickLevels[0]] == ["z"]
    assert bars.bars.opts["height"][0] == pytest.approx(z)
    bars.mode.setCurrentText("softmax")
    bars.refresh()
    assert [name for _, name in axis._tickLevels[0]] == ["0", "1"]
    p1 = 1 / (1 + np.exp(-z))
    np.testing.assert_allclose(bars.bars.opts["height"], [1 - p1, p1], rtol=1e-6)
    predicted = int(z > 0)
    assert f"predicted class <b>{predicted}</b>" in bars.info.text()
    assert "classes" not in bars.info.text()
    for name in ("left", "bottom"):
        assert not bars.plot.getPlotItem().getAxis(name).autoSIPrefix  # no "x0.001" axis scale
    bars.grab().save("/tmp/shots/binary_output_bars.png")


def test_clicking_the_binary_chart_keeps_explaining_z(binary_window, qtbot):
    window = binary_window
    bars = window.output_bars
    bars.mode.setCurrentText("softmax")
    bars.refresh()

    class Click:
        def __init__(self, pos):
            self._pos = pos

        def button(self):
            from PySide6.QtCore import Qt

            return Qt.MouseButton.LeftButton

        def scenePos(self):
            return self._pos

    bars._clicked(Click(bars.bar_scene_pos(0)))
    from PySide6.QtCore import QPointF

    vb = bars.plot.getPlotItem().vb
    bars._clicked(Click(vb.mapViewToScene(QPointF(1, 0.2))))
    assert window.state.target is None
    assert window.wait_idle(30)
    assert int(window.state.explanation.targets[0]) == 0


def test_sample_browser_shows_binary_predictions(binary_window):
    window = binary_window
    logits = np.asarray(window.state.net.predict(window.state.dataset.x))[:, 0]
    model = window.sample_browser.model
    texts = [model.data(model.index(row)) for row in range(model.rowCount())]
    predicted = [text.split("pred ")[1].split()[0] for text in texts]
    samples = [int(text.split()[0][1:]) for text in texts]
    assert predicted == [str(int(logits[s] > 0)) for s in samples]
    assert {"0", "1"} <= set(predicted) or len(set(predicted)) == 1
