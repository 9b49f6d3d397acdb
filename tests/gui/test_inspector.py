"""NeuronInspector: values, strongest incoming messages and the conditional heatmap."""

from __future__ import annotations

import os
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import numpy as np
import pytest

import PySide6  # noqa: E402,F401 - a hard dependency: fail, never skip

from lrp_studio.gui.inspector import TOP_CONTRIBUTIONS, NeuronInspector, conditional_heatmap  # noqa: E402
from lrp_studio.lrp.explain import explain, explain_neuron  # noqa: E402
from lrp_studio.nn import lenet, mlp  # noqa: E402

RESOURCES = Path(__file__).parents[2] / "resources"
METHOD = "epsilon-plus"



def _show(inspector, net, sample, exp, stage, unit, method, params):
    """What the main window does: show the unit at once, compute its conditional heatmap (the
    worker's job, here in the test's thread) and show it."""
    from lrp_studio.errors import LRPStudioError

    inspector.show_neuron(net, exp, stage, unit)
    record = next((r for r in exp.layers if r.stage == stage), None)
    channel = record.activation[0, unit] if stage > 0 and record is not None and record.activation.ndim == 4 else None
    try:
        result = conditional_heatmap(net, sample, stage, unit, method, params, channel)
    except LRPStudioError as error:
        inspector.show_conditional(None, str(error))
        return
    inspector.show_conditional(result)


@pytest.fixture(scope="module")
def sample() -> np.ndarray:
    data = np.load(RESOURCES / "mnist_5k.npz")
    return data["images"][0].astype(np.float32)[None] / 255.0  # (1, 28, 28)


@pytest.fixture(scope="module")
def small_mlp():
    return mlp([784, 32, 16, 10], input_shape=(1, 28, 28), input_range=(0, 1))


@pytest.fixture(scope="module")
def small_cnn():
    return lenet(channels=(4, 8), hidden=16)


@pytest.fixture
def inspector(qtbot):
    widget = NeuronInspector()
    qtbot.addWidget(widget)
    widget.resize(420, 700)
    widget.show()
    return widget


def test_empty_state(inspector):
    assert inspector.objectName() == "neuronInspector"
    assert inspector.conditional_relevance() is None
    assert "No neuron selected" in inspector.summary_text()
    details = (inspector._graphics, inspector._table)
    assert not any(widget.isVisible() for widget in details)  # no empty plot frames before a pick


def test_details_shown_on_pick_and_hidden_on_clear(inspector, small_mlp, sample):
    exp = explain(small_mlp, sample[None], method=METHOD, messages=True)
    inspector.show_neuron(small_mlp, exp, 3, 0)
    assert inspector._graphics.isVisible() and inspector._table.isVisible()
    inspector.clear()
    assert not inspector._graphics.isVisible() and not inspector._table.isVisible()


def test_detail_widgets_follow_the_selection(inspector, small_mlp, sample):
    from PySide6.QtWidgets import QLabel

    extra = QLabel("formula line")
    inspector.add_detail_widget(extra)
    assert not extra.isVisible()
    inspector.show_neuron(small_mlp, explain(small_mlp, sample[None], method=METHOD, messages=True), 3, 0)
    assert extra.isVisible()
    inspector.clear()
    assert not extra.isVisible()


def test_dense_neuron(inspector, small_mlp, sample):
    exp = explain(small_mlp, sample[None], method=METHOD, messages=True)
    stage = 3  # dense 32 after its relu
    unit = int(np.argmax(np.abs(exp.layers[stage].relevance[0])))
    _show(inspector, small_mlp, sample, exp, stage, unit, METHOD, {})

    values = inspector.values()
    assert values["activation"] == pytest.approx(float(exp.layers[stage].activation[0, unit]))
    assert values["relevance"] == pytest.approx(float(exp.layers[stage].relevance[0, unit]))
    text = inspector.summary_text()
    assert f"neuron {unit}" in text and "dense 32" in text
    assert f"{values['activation']:.4g}" in text and f"{values['relevance']:.4g}" in text

    incoming = exp.messages[1][:, unit]  # layer 1 is the dense layer producing stage 3
    expected = np.argsort(-np.abs(incoming), kind="stable")[:TOP_CONTRIBUTIONS]
    rows = inspector.contributions()
    assert [r[0] for r in rows] == list(expected)
    np.testing.assert_allclose([r[2] for r in rows], incoming[expected])
    assert rows[0][1].startswith("pixel (")
    assert inspector._table.rowCount() == len(rows)

    reference = explain_neuron(small_mlp, sample[None], stage, unit, METHOD).relevance[0, 0]
    shown = inspector.conditional_relevance()
    assert shown is not None and shown.shape == (28, 28) and np.abs(shown).sum() > 0
    np.testing.assert_allclose(shown, reference, rtol=1e-6, atol=1e-9)
    np.testing.assert_allclose(inspector.heatmap_item().image, reference, rtol=1e-6, atol=1e-9)
    low, high = inspector._colorbar.levels()
    assert low == pytest.approx(-high) and high == pytest.approx(np.abs(reference).max())


def test_output_neuron_lists_hidden_sources(inspector, small_mlp, sample):
    exp = explain(small_mlp, sample[None], method=METHOD, messages=True)
    target = int(exp.targets[0])
    _show(inspector, small_mlp, sample, exp, 6, target, METHOD, {})
    rows = inspector.contributions()
    assert rows and all(r[1].startswith("neuron ") for r in rows)
    assert f"class {small_mlp.classes[target]}" in inspector.summary_text()
    np.testing.assert_allclose(sum(exp.messages[5][:, target]), exp.layers[6].relevance[0, target], rtol=1e-4)


def test_conv_channel(inspector, small_cnn, sample):
    exp = explain(small_cnn, sample[None], method=METHOD, messages=True)
    stage, channel = 6, 3  # conv 8 after relu and max-pooling; the unit is a channel
    _show(inspector, small_cnn, sample, exp, stage, channel, METHOD, {})
    assert f"channel {channel}" in inspector.summary_text()
    rows = inspector.contributions()
    incoming = exp.messages[3][:, channel]
    expected = np.argsort(-np.abs(incoming), kind="stable")[:TOP_CONTRIBUTIONS]
    expected = expected[np.abs(incoming[expected]) > 0]
    assert [r[0] for r in rows] == list(expected)
    assert inspector._feature.box.isVisible() and inspector._relevance_map.box.isVisible()
    np.testing.assert_allclose(inspector._feature.values, exp.layers[stage].activation[0, channel])

    activation = exp.layers[stage].activation[0, channel]
    i, j = np.unravel_index(int(np.argmax(activation)), activation.shape)
    h, w = activation.shape
    flat = channel * h * w + i * w + j
    reference = explain_neuron(small_cnn, sample[None], stage, flat, METHOD).relevance[0, 0]
    np.testing.assert_allclose(inspector.conditional_relevance(), reference, rtol=1e-6, atol=1e-9)
    assert "strongest position" in inspector.summary_text()


def test_dense_after_conv_names_channels(inspector, small_cnn, sample):
    exp = explain(small_cnn, sample[None], method=METHOD, messages=True)
    unit = int(np.argmax(np.abs(exp.layers[9].relevance[0])))
    _show(inspector, small_cnn, sample, exp, 9, unit, METHOD, {})
    assert not inspector._feature.box.isVisible()
    assert all("channel" in r[1] for r in inspector.contributions())


def test_input_unit_and_baseline(inspector, small_mlp, sample):
    exp = explain(small_mlp, sample[None], method=METHOD, messages=True)
    _show(inspector, small_mlp, sample, exp, 0, 14 * 28 + 14, METHOD, {})
    assert inspector.conditional_relevance() is None
    assert "pixel (14, 14)" in inspector.summary_text()
    assert inspector.contributions() == []

    baseline = explain(small_mlp, sample[None], method="gradient")
    _show(inspector, small_mlp, sample, baseline, 3, 0, "gradient", {})
    assert inspector.conditional_relevance() is None
    assert "No conditional heatmap" in inspector.summary_text()
    inspector.clear()
    assert "No neuron selected" in inspector.summary_text()


def test_parameters_are_passed(inspector, small_mlp, sample):
    exp = explain(small_mlp, sample[None], method="epsilon", epsilon=0.5, messages=True)
    unit = int(np.argmax(exp.layers[5].activation[0]))
    _show(inspector, small_mlp, sample, exp, 5, unit, "epsilon", {"epsilon": 0.5})
    reference = explain_neuron(small_mlp, sample[None], 5, unit, "epsilon", epsilon=0.5).relevance[0, 0]
    np.testing.assert_allclose(inspector.conditional_relevance(), reference, rtol=1e-6, atol=1e-9)
