"""The "Faithfulness" dock: MoRF curves and AOPC computed in the controller's generic worker, cancellable."""

from __future__ import annotations

import threading

import numpy as np
import pytest

from lrp_studio.lrp.faithfulness import RANDOM, EvaluationSettings, aopc, evaluate_methods
from lrp_studio.lrp.sample_selection import select_samples


def run_and_tick(qtbot, view, timeout: float = 60.0) -> int:
    """Start a run and count QTimer ticks until it ends (the event loop must keep answering)."""
    from PySide6.QtCore import QTimer

    ticks = [0]
    timer = QTimer()
    timer.setInterval(5)
    timer.timeout.connect(lambda: ticks.__setitem__(0, ticks[0] + 1))
    timer.start()
    view.run()
    assert view.is_running()
    with qtbot.waitSignal(view.runFinished, timeout=int(timeout * 1000)) as blocker:
        pass
    timer.stop()
    assert blocker.args == ["done"]
    return ticks[0]


def test_default_methods_are_the_composites_and_gradient(window):
    from lrp_studio.lrp import COMPOSITES

    assert window.faithfulness_view.checked_methods() == [*COMPOSITES, "gradient"]


def test_current_sample(window, qtbot):
    view = window.faithfulness_view
    view.set_methods(["lrp0", "gradient"])
    view.set_scope(None)
    run_and_tick(qtbot, view)
    assert list(view.scores) == ["lrp0", "gradient", RANDOM]
    settings = EvaluationSettings()
    for name, score in view.scores.items():
        assert score.curves.shape == (1, settings.steps + 1)
        x, y = view.curves[name].getData()
        assert len(x) == len(y) == settings.steps + 1
        assert np.allclose(y, score.curves.mean(axis=0))
    expected = evaluate_methods(window.state.net, window.state.sample()[None], methods=["lrp0", "gradient"])
    for name in view.scores:
        assert view.scores[name].aopc == pytest.approx(expected[name].aopc)


def test_small_batch_in_a_thread(window, qtbot):
    view = window.faithfulness_view
    view.set_methods(["epsilon-plus", "gradient"])
    view.set_scope(5)
    view.set_baseline("mean")
    ticks = run_and_tick(qtbot, view)
    assert ticks > 0  # the GUI thread kept serving its timers during the run
    assert list(view.scores) == ["epsilon-plus", "gradient", RANDOM]
    legend = {item[1].text: item for item in view.legend.items}
    for name, score in view.scores.items():
        assert score.curves.shape == (5, 51)
        assert len(view.curves[name].getData()[1]) == 51
        text = f"{name}  AOPC {aopc(score.curves):.3f}"
        assert view.legend_texts()[name] == text
        assert text in legend
    chosen = select_samples(window.state.dataset.y, 5).indices  # class-balanced, sample seed 0
    assert len(set(np.asarray(window.state.dataset.y)[chosen].tolist())) == 5
    x = np.asarray(window.state.dataset.x)[chosen]
    expected = evaluate_methods(window.state.net, x, methods=["epsilon-plus", "gradient"], baseline="mean")
    for name in view.scores:
        assert view.scores[name].aopc == pytest.approx(expected[name].aopc)
        assert np.allclose(view.scores[name].curves, expected[name].curves)
    assert "class-balanced" in view.status.text()


def test_first_n_keeps_the_file_order(window, qtbot):
    view = window.faithfulness_view
    view.set_methods(["gradient"])
    view.set_scope(4, first=True)
    view.set_baseline("mean")
    run_and_tick(qtbot, view)
    x = window.state.dataset.x[:4]
    expected = evaluate_methods(window.state.net, x, methods=["gradient"], baseline="mean")
    assert np.allclose(view.scores["gradient"].curves, expected["gradient"].curves)
    assert "the first 4" in view.status.text()


def test_runs_on_the_controllers_generic_worker(window, qtbot):
    from superqt.utils import GeneratorWorker

    view = window.faithfulness_view
    view.set_methods(["gradient"])
    view.set_scope(None)
    with qtbot.waitSignal(view.runFinished, timeout=60_000):
        view.run()
        assert isinstance(view.worker, GeneratorWorker) and window.controller.long_jobs() == 1
    assert view.worker is None and list(view.scores) == ["gradient", RANDOM]
    qtbot.waitUntil(lambda: window.controller.long_jobs() == 0, timeout=10_000)


def test_no_method_checked_scores_the_model_aware_default(window, qtbot):
    """The bundled MLP has a dense first layer: its default is epsilon-plus (not the flat rule's constant map)."""
    from lrp_studio.lrp import default_method

    view = window.faithfulness_view
    view.set_methods([])
    view.set_scope(None)
    run_and_tick(qtbot, view)
    assert default_method(window.state.net) == "epsilon-plus"
    assert list(view.scores) == ["epsilon-plus", RANDOM]


def test_cancel_stops_the_run(window, qtbot, monkeypatch):
    """Cancel after the first curve: the score in hand is dropped, the run ends "cancelled" with one curve."""
    from lrp_studio.gui import faithfulness_view as module

    real = module.iter_evaluation
    gate = threading.Event()

    def gated(*args, **kwargs):  # the second method waits until the test has pressed Cancel
        for number, score in enumerate(real(*args, **kwargs)):
            if number == 1:
                assert gate.wait(60)
            yield score

    monkeypatch.setattr(module, "iter_evaluation", gated)
    view = window.faithfulness_view
    view.set_methods(["lrp0", "gradient", "epsilon", "zplus"])
    view.set_scope(3)
    try:
        view.run()
        qtbot.waitUntil(lambda: len(view.scores) >= 1, timeout=20000)
        with qtbot.waitSignal(view.runFinished, timeout=20000) as blocker:
            view.cancel_button.click()
            gate.set()
    finally:
        gate.set()  # a failed wait never leaves the worker thread blocked for the tests that follow
    assert blocker.args == ["cancelled"]
    assert not view.is_running() and view.run_button.isEnabled()
    assert list(view.scores) == ["lrp0"] and "Cancelled after 1 of 5 curves" in view.status.text()
    qtbot.waitUntil(lambda: window.controller.long_jobs() == 0, timeout=10_000)


def test_an_evaluation_error_is_shown_and_the_view_stays_usable(window, qtbot, monkeypatch):
    from lrp_studio.gui import faithfulness_view as module

    def broken(*args, **kwargs):
        yield from ()
        raise RuntimeError("evaluation broke")

    monkeypatch.setattr(module, "iter_evaluation", broken)
    view = window.faithfulness_view
    view.set_methods(["gradient"])
    with qtbot.waitSignal(view.runFinished, timeout=20000) as blocker:
        view.run()
    assert blocker.args == ["failed"] and "evaluation broke" in view.status.text()
    assert not view.is_running() and view.run_button.isEnabled()


def test_two_feature_inputs_use_one_region_per_feature(window, qtbot):
    """On 2-D toy data every feature is its own region (2 steps), so the methods can differ."""
    window.open_dataset("toy:moons")
    assert window.wait_idle(30)
    view = window.faithfulness_view
    view.set_methods(["gradient"])
    view.set_scope(5)
    run_and_tick(qtbot, view)
    assert view.scores["gradient"].curves.shape == (5, 3)
    assert len(view.curves["gradient"].getData()[0]) == 3
