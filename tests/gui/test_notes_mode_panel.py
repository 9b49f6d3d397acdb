"""The method panel's bias line and the output chart's start relevance choice (issue 20, parts 4 and 5)."""

from __future__ import annotations

import numpy as np
import pytest


def settled(qtbot, window, check):
    assert window.wait_idle(30.0)
    qtbot.waitUntil(lambda: window.state.explanation is not None and check(), timeout=10000)


@pytest.fixture
def notes_window(make_window, qtbot):
    window = make_window()
    window.set_sample(7)
    window.set_method("deep-taylor-unbounded")
    assert window.wait_idle(30.0)
    return window


def test_bias_note_says_what_the_bias_absorbed(notes_window, qtbot):
    window = notes_window
    note = window.findChild(object, "biasNote")
    settled(qtbot, window, lambda: note.text().startswith("Bias: on"))
    report = window.state.explanation.conservation()
    absorbed = float(note.text().split("absorbed ")[1].split()[0])
    assert absorbed == pytest.approx(report.explained[0] - report.input_sum[0], rel=1e-3)
    window.explanation_panel.widgets["bias"].setChecked(False)
    settled(qtbot, window, lambda: "off (the notes' bias-free rules)" in note.text())
    report = window.state.explanation.conservation()
    assert report.input_sum[0] == pytest.approx(report.explained[0], rel=1e-5)


def test_output_chart_start_choice(notes_window, qtbot):
    window = notes_window
    bars = window.findChild(object, "outputBars")
    bars.start_box.setCurrentIndex(bars.start_box.findData("outputs"))
    settled(qtbot, window, lambda: window.state.explanation.start == "outputs")
    exp = window.state.explanation
    assert exp.conservation().explained[0] == pytest.approx(float(exp.logits[0].astype(np.float64).sum()), rel=1e-5)
    assert "starts from <b>outputs</b>" in bars.info.text()
    bars.start_box.setCurrentIndex(bars.start_box.findData("contrast"))
    assert bars.contrast_box.isVisible()
    bars.contrast_box.setCurrentIndex(6)
    settled(qtbot, window, lambda: window.state.explanation.start == "contrast target-6")
    exp = window.state.explanation
    t = int(exp.targets[0])
    assert exp.conservation().explained[0] == pytest.approx(float(exp.logits[0, t]) - float(exp.logits[0, 6]), rel=1e-5)
    window.set_method("gradient")   # baselines explain the logit whatever the chart says
    settled(qtbot, window, lambda: window.state.explanation.method == "gradient")
    assert window.state.explanation.start == "logit"
    bars.start_box.setCurrentIndex(0)
    window.set_method("deep-taylor-unbounded")
    settled(qtbot, window, lambda: window.state.explanation.method == "deep-taylor-unbounded")
    assert window.state.explanation.start == "logit"
