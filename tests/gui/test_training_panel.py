"""Training panel: architecture editor, training in the worker thread with live curves, pause/stop, divergence."""

from __future__ import annotations

import gc

import numpy as np
import pytest

from lrp_studio.data import load_mnist_subset
from lrp_studio.errors import ParameterError
from lrp_studio.gui.training_panel import build_network, rows_from_network
from lrp_studio.nn import lenet, mlp


def test_build_network_from_rows():
    mnist = load_mnist_subset("test")
    rows = [{"type": "conv", "size": 4, "kernel": 5, "activation": "relu", "pool": "maxpool2d"},
            {"type": "dense", "size": 32, "kernel": 3, "activation": "tanh", "pool": "none"}]
    net = build_network(rows, mnist)
    assert [layer.type_name for layer in net.layers] == ["conv2d", "relu", "maxpool2d", "flatten", "dense", "tanh",
                                                        "dense"]
    assert net.shapes[-1] == (10,) and net.classes == mnist.classes
    with pytest.raises(ParameterError):
        build_network(rows[::-1], mnist)


def test_rows_round_trip():
    rows = rows_from_network(lenet())
    assert [r["type"] for r in rows] == ["conv", "conv", "dense"]
    assert rows[0]["size"] == 16 and rows[0]["pool"] == "maxpool2d" and rows[2]["size"] == 100
    rows = rows_from_network(mlp([784, 300, 100, 10], input_shape=(1, 28, 28)))
    assert [(r["type"], r["size"]) for r in rows] == [("dense", 300), ("dense", 100)]


def test_editor_builds_a_new_model(window):
    panel = window.training_panel
    assert panel.arch_table.rowCount() == 2
    panel.add_dense_button.click()
    panel.add_conv_button.click()
    assert [r["type"] for r in panel.rows()] == ["conv", "dense", "dense", "dense"]
    panel.arch_table.setCurrentCell(0, 1)
    panel.remove_button.click()
    panel.build_button.click()
    assert window.wait_idle(10)
    assert [layer.type_name for layer in window.state.net.layers if layer.is_linear] == ["dense"] * 4
    assert window.graph.columns()[-1].stage == len(window.state.net.layers)


def _small_dataset(window, n: int = 400) -> None:
    window.state.set_dataset(load_mnist_subset("all").subset(np.arange(0, 5000, 5000 // n), name="mnist-small"))
    assert window.wait_idle(10)


def _ticking(qtbot):
    """A 5 ms QTimer counting its ticks: the GUI thread's event loop answers while it grows."""
    from PySide6.QtCore import QTimer

    ticks = [0]
    timer = QTimer()
    timer.setInterval(5)
    timer.timeout.connect(lambda: ticks.__setitem__(0, ticks[0] + 1))
    timer.start()
    return timer, ticks


def test_training_runs_in_the_controllers_generic_worker(qtbot, window):
    """Start, curves, weights following the run, the event loop answering, all through Controller.start_generator."""
    from superqt.utils import GeneratorWorker

    _small_dataset(window)
    panel = window.training_panel
    panel.epochs_spin.setValue(2)
    panel.batch_spin.setValue(8)
    panel.lr_spin.setValue(0.01)
    before = {k: v.copy() for k, v in window.state.net.state_dict().items()}
    explained_before = window.heatmap.n_updates
    kinds, weight_updates = [], []
    window.state.weightsChanged.connect(lambda *_: weight_updates.append(panel.is_running()))
    gc.collect()  # windows of earlier tests: collect them now, not in the middle of the run
    timer, ticks = _ticking(qtbot)
    with qtbot.waitSignal(panel.trainingFinished, timeout=120_000) as finished:
        panel.start_button.click()
        assert panel.is_running() and not panel.start_button.isEnabled()
        assert isinstance(panel.worker, GeneratorWorker) and window.controller.long_jobs() == 1
        # the GUI thread serves the worker's queued updates: at least the first batch of each epoch and each epoch
        panel.worker.yielded.connect(lambda update: kinds.append(update.record.kind if update.record else "weights"))
    timer.stop()
    assert finished.args == ["done"] and ticks[0] > 0
    assert kinds.count("epoch") == 2 and kinds.count("batch") >= 2
    assert weight_updates[:2] == [True, True]  # the shown network took each epoch's weights while training ran
    assert len(panel.history["eloss"]) == 2 and len(panel.history["vacc"]) == 2
    assert len(panel.curves["loss"].xData) > 0 and len(panel.curves["eacc"].yData) == 2
    assert panel.progress.value() == panel.progress.maximum()
    after = window.state.net.state_dict()
    assert any(not np.array_equal(before[k], after[k]) for k in before)
    trained = panel.trained_copy.state_dict()
    assert all(np.array_equal(after[k], trained[k]) for k in after)  # the last epoch's weights are shown
    assert window.wait_idle(10)
    assert window.heatmap.n_updates > explained_before
    qtbot.waitUntil(lambda: window.controller.long_jobs() == 0, timeout=10_000)
    assert not panel.is_running() and panel.start_button.isEnabled()
    # title and status bar name the model as trained, not as the model the run started from
    assert "trained in the app" in window.model_label.text() and "trained in the app" in window.windowTitle()


def test_pause_resume_and_stop(qtbot, window):
    _small_dataset(window)
    panel = window.training_panel
    panel.epochs_spin.setValue(200)
    panel.batch_spin.setValue(16)
    panel.start_button.click()
    worker = panel.worker
    qtbot.waitUntil(lambda: panel.progress.value() > 0, timeout=30_000)
    with qtbot.waitSignal(worker.paused, timeout=30_000):
        panel.pause_button.setChecked(True)
    assert panel.paused and worker.is_paused and panel.status.text() == "Paused"
    value = panel.progress.value()
    qtbot.wait(300)  # the event loop turns; a paused worker sends nothing
    assert panel.progress.value() == value
    with qtbot.waitSignal(worker.resumed, timeout=30_000):
        panel.pause_button.setChecked(False)
    qtbot.waitUntil(lambda: panel.progress.value() > value, timeout=30_000)
    with qtbot.waitSignal(panel.trainingFinished, timeout=30_000) as finished:
        panel.stop_button.click()
    assert finished.args == ["stopped"] and not panel.is_running() and panel.start_button.isEnabled()
    assert "stopped" in panel.status.text() and panel.progress.value() < panel.progress.maximum()


def test_stop_while_paused_ends_the_run(qtbot, window):
    _small_dataset(window)
    panel = window.training_panel
    panel.epochs_spin.setValue(200)
    panel.start_button.click()
    with qtbot.waitSignal(panel.worker.paused, timeout=30_000):
        panel.pause_button.setChecked(True)
    with qtbot.waitSignal(panel.trainingFinished, timeout=30_000) as finished:
        panel.stop_button.click()
    assert finished.args == ["stopped"] and not panel.pause_button.isChecked()
    qtbot.waitUntil(lambda: window.controller.long_jobs() == 0, timeout=10_000)


def test_divergence_shows_a_dialog_and_keeps_finite_weights(qtbot, window, error_dialogs):
    _small_dataset(window)
    panel = window.training_panel
    panel.epochs_spin.setValue(3)
    panel.lr_spin.setValue(10.0)
    panel.loss_combo.setCurrentText("mse")
    panel.optimizer_combo.setCurrentText("sgd")
    with qtbot.waitSignal(panel.trainingFinished, timeout=60_000) as finished:
        panel.start_button.click()
    assert finished.args == ["failed"] and panel.start_button.isEnabled()
    assert len(error_dialogs) == 1 and error_dialogs[0][0] == "Training failed"
    assert "diverged" in error_dialogs[0][1]
    assert all(np.isfinite(v).all() for v in window.state.net.state_dict().values())


def test_training_updates_thins_records_and_sends_weights():
    """The generator the worker runs: every epoch with its weights, the first batch of every epoch, no more
    batch records than the interval allows (here: none besides the first ones)."""
    from lrp_studio.gui.training_panel import training_updates

    rng = np.random.default_rng(0)
    net = mlp([4, 6, 3], seed=0)
    x, y = rng.random((64, 4)).astype(np.float32), rng.integers(0, 3, 64)
    updates = list(training_updates(net, x, y, epochs=3, batch_size=8, lr=0.05, optimizer="sgd",
                                    loss="cross-entropy", batch_interval=1e9, weights_interval=1e9))
    kinds = [(u.record.kind, u.record.epoch) if u.record else ("weights", None) for u in updates]
    assert kinds == [("batch", 0), ("epoch", 0), ("batch", 1), ("epoch", 1), ("batch", 2), ("epoch", 2)]
    assert all((u.weights is not None) == (u.record.kind == "epoch") for u in updates)
    final = net.state_dict()
    assert all(np.array_equal(updates[-1].weights[k], final[k]) for k in final)
    assert updates[1].weights["0.weight"] is not final["0.weight"]  # snapshots are copies
    every = list(training_updates(mlp([4, 6, 3], seed=0), x, y, epochs=1, batch_size=8, lr=0.05, optimizer="sgd",
                                  loss="cross-entropy", batch_interval=0.0, weights_interval=0.0))
    assert [u.record.kind for u in every] == ["batch"] * 8 + ["epoch"] and all(u.weights is not None for u in every)


def test_training_updates_sends_the_last_good_weights_before_divergence():
    from lrp_studio.errors import TrainingDiverged
    from lrp_studio.gui.training_panel import training_updates

    rng = np.random.default_rng(0)
    net = mlp([4, 6, 3], seed=0)
    x, y = rng.random((64, 4)).astype(np.float32) * 100, rng.integers(0, 3, 64)
    seen = []
    with pytest.raises(TrainingDiverged):
        for update in training_updates(net, x, y, epochs=50, batch_size=8, lr=1e3, optimizer="sgd", loss="mse"):
            seen.append(update)
    assert seen[-1].record is None and seen[-1].weights is not None
    assert all(np.isfinite(v).all() for v in seen[-1].weights.values())
    assert all(np.array_equal(seen[-1].weights[k], v) for k, v in net.state_dict().items())
