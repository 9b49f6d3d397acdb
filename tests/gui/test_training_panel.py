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


def test_training_updates_curves_while_the_event_loop_answers(qtbot, window):
    _small_dataset(window)
    panel = window.training_panel
    panel.epochs_spin.setValue(2)
    panel.batch_spin.setValue(8)
    panel.lr_spin.setValue(0.01)
    before = {k: v.copy() for k, v in window.state.net.state_dict().items()}
    explained_before = window.heatmap.n_updates
    progress_while_running = []
    gc.collect()  # windows of earlier tests: collect them now, not in the middle of the run
    panel.start_button.click()
    assert panel.is_running() and not panel.start_button.isEnabled()
    # the GUI thread serves the worker's queued records: at least the first batch of each epoch and each epoch
    panel.worker.progress.connect(lambda record: progress_while_running.append(record.kind))
    qtbot.waitUntil(lambda: not panel.is_running() and not panel.stop_button.isEnabled(), timeout=120_000)
    assert progress_while_running.count("epoch") >= 1 and len(progress_while_running) >= 2
    assert len(panel.history["eloss"]) == 2 and len(panel.history["vacc"]) == 2
    assert len(panel.curves["loss"].xData) > 0 and len(panel.curves["eacc"].yData) == 2
    assert panel.progress.value() == panel.progress.maximum()
    after = window.state.net.state_dict()
    assert any(not np.array_equal(before[k], after[k]) for k in before)
    assert window.wait_idle(10)
    assert window.heatmap.n_updates > explained_before
    # title and status bar name the model as trained, not as the model the run started from
    assert "trained in the app" in window.model_label.text() and "trained in the app" in window.windowTitle()


def test_pause_resume_and_stop(qtbot, window):
    _small_dataset(window)
    panel = window.training_panel
    panel.epochs_spin.setValue(200)
    panel.batch_spin.setValue(16)
    panel.start_button.click()
    qtbot.waitUntil(lambda: panel.progress.value() > 0, timeout=30_000)
    panel.pause_button.setChecked(True)
    assert panel.worker.paused
    qtbot.wait(300)
    value = panel.progress.value()
    qtbot.wait(300)
    assert panel.progress.value() == value
    panel.pause_button.setChecked(False)
    qtbot.waitUntil(lambda: panel.progress.value() > value, timeout=30_000)
    panel.stop_button.click()
    qtbot.waitUntil(lambda: not panel.is_running() and panel.start_button.isEnabled(), timeout=30_000)
    assert "stopped" in panel.status.text()


def test_divergence_shows_a_dialog_and_keeps_finite_weights(qtbot, window, error_dialogs):
    _small_dataset(window)
    panel = window.training_panel
    panel.epochs_spin.setValue(3)
    panel.lr_spin.setValue(10.0)
    panel.loss_combo.setCurrentText("mse")
    panel.optimizer_combo.setCurrentText("sgd")
    panel.start_button.click()
    qtbot.waitUntil(lambda: not panel.is_running() and panel.start_button.isEnabled(), timeout=60_000)
    assert error_dialogs and error_dialogs[0][0] == "Training failed"
    assert "diverged" in error_dialogs[0][1]
    assert all(np.isfinite(v).all() for v in window.state.net.state_dict().values())
