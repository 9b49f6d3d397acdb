"""The window under hostile files, bad numbers and faults: a dialog, and it carries on with what it had.

Bad model and dataset files opened from the menu (the file dialog patched to return them), NaN inputs,
training that diverges (lr 10, the spin box's maximum) or is stopped mid-epoch, closing the window while
training or explaining, an uncaught exception inside a slot, and a save that fails half-way.
"""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
import tracemalloc
import zipfile
from pathlib import Path

import numpy as np
import pytest

from lrp_studio.data import Dataset, load_mnist_subset
from lrp_studio.data.idx import write_idx
from lrp_studio.errors import DataError, TrainingDiverged
from lrp_studio.gui import dialogs
from lrp_studio.io import save_model
from lrp_studio.nn import mlp, train

ROOT = Path(__file__).resolve().parents[2]


class _Payload:
    """Unpickling this creates a marker file: proof that pickle ran."""

    def __init__(self, marker: Path) -> None:
        self.marker = str(marker)

    def __reduce__(self):
        return (open, (self.marker, "w"))


def _npz(path: Path, **arrays) -> Path:
    with open(path, "wb") as handle:
        np.savez(handle, **arrays)
    return path


def _snapshot(window) -> dict:
    state = window.state
    return {"net": state.net, "dataset": state.dataset, "index": state.index, "explanation": state.explanation,
            "model_name": state.model_name, "rgba": window.heatmap.rgba.copy(), "title": window.windowTitle()}


def _assert_unchanged(window, before: dict) -> None:
    state = window.state
    assert state.net is before["net"] and state.dataset is before["dataset"]
    assert state.index == before["index"] and state.model_name == before["model_name"]
    assert state.explanation is before["explanation"]
    assert np.array_equal(window.heatmap.rgba, before["rgba"])
    assert window.windowTitle() == before["title"]


def _still_works(window) -> None:
    """The window still answers: a new sample is explained and drawn."""
    target = (window.state.index + 1) % len(window.state.dataset)
    window.set_sample(target)
    assert window.wait_idle(20) and window.state.explained_index == target
    assert np.isfinite(window.state.explanation.relevance).all()


def _trigger(window, text: str) -> None:
    file_menu = window.menuBar().actions()[0].menu()
    next(a for a in file_menu.actions() if text in a.text().replace("&", "")).trigger()


# --------------------------------------------------------------------------------------------- files
def _bad_models(tmp: Path, marker: Path) -> dict[str, str]:
    net = mlp([784, 16, 10], input_shape=(1, 28, 28), seed=0, input_range=(0.0, 1.0))
    good = save_model(net, tmp / "good.npz").read_bytes()
    state = {k: np.asarray(v) for k, v in net.state_dict().items()}
    spec = net.spec()
    files = {}
    (tmp / "random.npz").write_bytes(np.random.default_rng(0).bytes(800))
    files["random.npz"] = "not an .npz archive"
    (tmp / "truncated.npz").write_bytes(good[: len(good) // 2])
    files["truncated.npz"] = "not a readable .npz archive"
    _npz(tmp / "noarch.npz", **state)
    files["noarch.npz"] = "no 'architecture' entry"
    _npz(tmp / "shape.npz", architecture=np.array(json.dumps(spec)), **dict(state, **{"1.weight": np.zeros((16, 5))}))
    files["shape.npz"] = "has shape (16, 5)"
    unknown = json.loads(json.dumps(spec))
    unknown["layers"][2]["type"] = "gelu"
    _npz(tmp / "unknown.npz", architecture=np.array(json.dumps(unknown)), **state)
    files["unknown.npz"] = "unknown layer type 'gelu'"
    wide = {"format": "lrp-studio-model", "version": 1, "input_shape": [1, 28, 28],
            "layers": [{"type": "flatten"}, {"type": "dense", "in_features": 784, "out_features": 10**9}]}
    _npz(tmp / "wide.npz", architecture=np.array(json.dumps(wide)))
    files["wide.npz"] = "exceed the limit"
    weights = state["1.weight"].copy()
    weights[0, 0] = np.nan
    _npz(tmp / "nan.npz", architecture=np.array(json.dumps(spec)), **dict(state, **{"1.weight": weights}))
    files["nan.npz"] = "NaN or infinite"
    _npz(tmp / "pickle.npz", architecture=np.array(json.dumps(spec)),
         **dict(state, payload=np.array([_Payload(marker)], dtype=object)))
    files["pickle.npz"] = "pickled objects, which are never loaded"
    files["missing.npz"] = "file not found"
    (tmp / "folder.npz").mkdir()
    files["folder.npz"] = "is a directory"
    return files


def test_bad_model_files_from_the_menu_give_a_dialog_and_keep_the_model(window, tmp_path, monkeypatch,
                                                                         error_dialogs):
    marker = tmp_path / "PICKLE-RAN"
    files = _bad_models(tmp_path, marker)
    window.set_sample(3)
    assert window.wait_idle(10)
    before = _snapshot(window)
    for name, fragment in files.items():
        monkeypatch.setattr(dialogs, "get_open_path", lambda *a, _p=str(tmp_path / name), **k: _p)
        error_dialogs.clear()
        tracemalloc.start()
        try:
            _trigger(window, "Open model")
            peak = tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()
        assert peak < 64 * 2**20, (name, peak)  # absurd sizes are refused from the header, nothing big is allocated
        assert len(error_dialogs) == 1, (name, error_dialogs)
        title, message = error_dialogs[0]
        assert title == "Cannot open model" and name in message and fragment in message, (name, message)
        assert "\n" not in message
        assert window.wait_idle(10)
        _assert_unchanged(window, before)
    assert not marker.exists(), "a pickle payload was executed"
    _still_works(window)


def _bad_datasets(tmp: Path, marker: Path) -> dict[str, tuple[list[str], str]]:
    images = np.random.default_rng(1).random((20, 1, 28, 28)).astype(np.float32)
    labels = np.arange(20) % 10
    cases: dict[str, tuple[list[str], str]] = {}

    def add(name: str, fragment: str, paths: list[str] | None = None) -> None:
        cases[name] = (paths or [str(tmp / name)], fragment)

    (tmp / "random.npz").write_bytes(np.random.default_rng(2).bytes(500))
    add("random.npz", "not an NPZ archive")
    _npz(tmp / "pickle.npz", x=np.array([_Payload(marker)] * 20, dtype=object), y=labels)
    add("pickle.npz", "pickled data is refused")
    nan = images.copy()
    nan[4, 0, 10, 10] = np.nan
    _npz(tmp / "nan.npz", x=nan, y=labels)
    add("nan.npz", "NaN or infinite")
    _npz(tmp / "labels.npz", x=images, y=labels * 10**8)
    add("labels.npz", "labels must be below 10,000")
    _npz(tmp / "nolabels.npz", x=images)
    add("nolabels.npz", "needs an array named 'y' or 'labels'")
    with zipfile.ZipFile(tmp / "absurd.npz", "w") as archive:
        header = io.BytesIO()
        np.lib.format.write_array_header_1_0(header, {"descr": "<f4", "fortran_order": False,
                                                      "shape": (10**6, 1, 1000, 1000)})
        archive.writestr("x.npy", header.getvalue() + bytes(64))
        archive.writestr("y.npy", b"")
    add("absurd.npz", "declares an absurd size")
    (tmp / "nan.csv").write_text("a,b,label\n1,2,0\ninf,2,1\n")
    add("nan.csv", "contains NaN or infinite values")
    (tmp / "binary.csv").write_bytes(np.random.default_rng(3).bytes(300))
    add("binary.csv", "binary.csv")
    write_idx(tmp / "images.idx", (images[:, 0] * 255).astype(np.uint8))
    write_idx(tmp / "labels.idx", labels.astype(np.uint8))
    write_idx(tmp / "labels-12.idx", (np.arange(20) % 12).astype(np.uint8))
    (tmp / "truncated-images.idx").write_bytes((tmp / "images.idx").read_bytes()[:900])
    add("truncated-images.idx", "truncated IDX file", [str(tmp / "truncated-images.idx"), str(tmp / "labels.idx")])
    add("labels-12.idx", "labels must lie in 0..9", [str(tmp / "images.idx"), str(tmp / "labels-12.idx")])
    add("missing.npz", "file not found")
    return cases


def test_bad_dataset_files_from_the_menu_give_a_dialog_and_keep_the_dataset(window, tmp_path, monkeypatch,
                                                                             error_dialogs):
    marker = tmp_path / "PICKLE-RAN"
    cases = _bad_datasets(tmp_path, marker)
    window.sample_browser.set_filter(3)  # class 3 only; the filter survives the failed opens
    window.set_sample(int(np.flatnonzero(window.state.dataset.y == 3)[2]))
    assert window.wait_idle(10)
    listed = window.sample_browser.visible_indices().copy()
    before = _snapshot(window)
    for name, (paths, fragment) in cases.items():
        monkeypatch.setattr(dialogs, "get_open_paths", lambda *a, _p=paths, **k: list(_p))
        error_dialogs.clear()
        _trigger(window, "Import dataset")
        assert len(error_dialogs) == 1, (name, error_dialogs)
        title, message = error_dialogs[0]
        assert title == "Cannot open dataset" and name in message and fragment in message, (name, message)
        assert "\n" not in message
        assert window.wait_idle(10)
        _assert_unchanged(window, before)
        assert np.array_equal(window.sample_browser.visible_indices(), listed), name
    assert not marker.exists(), "a pickle payload was executed"
    _still_works(window)


# ------------------------------------------------------------------------------------------- numbers
def test_nan_inputs_are_refused_with_a_message(window, error_dialogs):
    state = window.state
    before = state.explanation
    with pytest.raises(DataError, match="NaN or infinite"):
        state.set_custom_input(np.full((28, 28), np.nan, np.float32))
    assert state.custom_input is None
    x = load_mnist_subset("test").x[:4].copy()
    x[0, 0, 3, 3] = np.inf
    state.set_dataset(Dataset("with-inf", x, np.arange(4), [str(k) for k in range(10)]))
    assert window.wait_idle(10)
    assert "NaN or infinite" in window.statusBar().currentMessage()
    assert state.explanation is before  # nothing half-computed is shown
    assert error_dialogs == []  # a one-line status message, not a traceback dialog
    window.set_sample(1)
    assert window.wait_idle(10) and state.explained_index == 1
    assert np.isfinite(state.explanation.relevance).all()


# ------------------------------------------------------------------------------------------ training
def _small_dataset(window, n: int = 400) -> None:
    window.state.set_dataset(load_mnist_subset("all").subset(np.arange(0, 5000, 5000 // n), name="mnist-small"))
    assert window.wait_idle(10)


def test_diverging_training_shows_a_dialog_and_keeps_the_last_good_weights(qtbot, window, error_dialogs):
    from lrp_studio.gui.training_panel import training_split

    _small_dataset(window)
    panel = window.training_panel
    panel.epochs_spin.setValue(3)
    panel.lr_spin.setValue(100.0)  # the spin box stops at its maximum, 10: still far too large
    assert panel.lr_spin.value() == 10.0
    panel.loss_combo.setCurrentText("cross-entropy")
    panel.optimizer_combo.setCurrentText("sgd")
    initial = {k: v.copy() for k, v in window.state.net.state_dict().items()}
    # the same run in the core: the weights after the last update before the loss exploded
    reference = window.state.net.copy()
    dataset = window.state.dataset
    train_idx, val_idx = training_split(dataset)
    updates = 0
    with pytest.raises(TrainingDiverged):
        for record in train(reference, dataset.x[train_idx], dataset.y[train_idx], epochs=3,
                            batch_size=panel.batch_spin.value(), lr=10.0, optimizer="sgd", loss="cross-entropy",
                            validation=(dataset.x[val_idx], dataset.y[val_idx])):
            updates += record.kind == "batch"
    assert updates >= 1  # the last good weights are not simply the initial ones
    panel.start_button.click()
    qtbot.waitUntil(lambda: not panel.is_running() and panel.start_button.isEnabled(), timeout=60_000)
    assert window.wait_idle(10)
    assert [title for title, _ in error_dialogs] == ["Training failed"]
    assert "diverged" in error_dialogs[0][1] and "smaller learning rate" in error_dialogs[0][1]
    assert "Failed" in panel.status.text()
    shown = window.state.net.state_dict()
    for key, value in reference.state_dict().items():
        assert np.isfinite(shown[key]).all()
        np.testing.assert_allclose(shown[key], value, rtol=1e-6, atol=1e-7, err_msg=key)
    assert any(not np.array_equal(initial[k], shown[k]) for k in initial)
    _still_works(window)


def test_stopping_mid_epoch_leaves_a_consistent_usable_model(qtbot, window):
    _small_dataset(window)
    panel = window.training_panel
    panel.epochs_spin.setValue(50)
    panel.batch_spin.setValue(1)  # 340 batches per epoch: the stop lands inside the first epoch
    panel.lr_spin.setValue(0.01)
    panel.start_button.click()
    qtbot.waitUntil(lambda: panel.progress.value() > 0, timeout=30_000)
    with qtbot.waitSignal(panel.trainingFinished, timeout=30_000):
        panel.stop_button.click()
    assert not panel.is_running() and panel.start_button.isEnabled()
    assert window.wait_idle(10)
    assert "stopped" in panel.status.text()
    n_batches = panel.progress.maximum() // 50
    assert 0 < panel.progress.value() < n_batches  # stopped inside the first epoch
    shown, trained = window.state.net.state_dict(), panel.trained_copy.state_dict()
    assert set(shown) == set(trained)
    for key in shown:  # the shown network holds exactly the trained copy's last completed update
        assert np.isfinite(shown[key]).all() and np.array_equal(shown[key], trained[key]), key
    _still_works(window)
    assert np.isfinite(window.state.explanation.logits).all()


# ---------------------------------------------------------------------------------- closing the window
def test_closing_the_window_during_training_ends_the_worker(qtbot, window):
    _small_dataset(window)
    panel = window.training_panel
    panel.epochs_spin.setValue(500)
    panel.batch_spin.setValue(4)
    panel.start_button.click()
    qtbot.waitUntil(lambda: panel.progress.value() > 0, timeout=30_000)
    worker = panel.worker
    assert worker.is_running and window.controller.active_threads() == 1
    window.close()  # asks the generator worker to quit and waits for the controller's pools
    assert not worker.is_running and window.controller.active_threads() == 0
    qtbot.wait(50)  # signals queued by the worker before it ended reach a closed window harmlessly


def test_closing_the_window_during_a_slow_explanation_ends_the_worker(qtbot, make_window):
    from lrp_studio.zoo import load_any_model

    window = make_window(load_any_model("cnn"))
    window.state.set_method("integrated-gradients")
    window.state.set_param("steps", 1024)  # about a second per explanation on two cores
    qtbot.waitUntil(lambda: window.controller.active_threads() == 1, timeout=10_000)
    explanation = window.state.explanation
    window.close()  # waits for the running job, drops its result
    assert window.controller.active_threads() == 0
    qtbot.wait(50)
    assert window.state.explanation is explanation  # the unfinished result was dropped


# ------------------------------------------------------------------------------------------- faults
def test_uncaught_exception_in_a_slot_shows_details_and_the_app_keeps_running(qtbot, window, monkeypatch):
    shown: list[tuple[str, str, str | None]] = []
    monkeypatch.setattr(dialogs, "show_error", lambda parent, title, message, details=None:
                        shown.append((title, message, details)))

    def broken(*_args):
        raise RuntimeError("simulated defect in a slot")

    monkeypatch.setattr(window.state, "set_target", broken)
    previous = dialogs.install_excepthook(lambda: window)
    try:
        sample_menu = window.menuBar().actions()[1].menu()
        next(a for a in sample_menu.actions() if "predicted class" in a.text()).trigger()
        qtbot.waitUntil(lambda: bool(shown), timeout=5_000)
    finally:
        sys.excepthook = previous
    title, message, details = shown[0]
    assert title == "Unexpected error" and message == "RuntimeError: simulated defect in a slot"
    assert "Traceback" in details and "broken" in details  # the details carry the traceback
    _still_works(window)


def test_failed_save_keeps_the_previous_model_file_byte_identical(window, tmp_path, monkeypatch, error_dialogs):
    path = tmp_path / "model.npz"
    assert window.save_model(str(path))
    previous = path.read_bytes()
    name = window.state.model_name
    real_savez = np.savez

    def crash_mid_write(file, **arrays):
        real_savez(file, **dict(list(arrays.items())[:1]))  # part of the archive is written ...
        raise OSError(28, "No space left on device")  # ... then the disk is full

    monkeypatch.setattr(np, "savez", crash_mid_write)
    window.state.net.layers[window.state.net.linear_indices[0]].params["bias"] += 1.0  # the model changed
    assert not window.save_model(str(path))
    assert error_dialogs and error_dialogs[-1][0] == "Cannot save model"
    assert "No space left on device" in error_dialogs[-1][1] and "model.npz" in error_dialogs[-1][1]
    assert path.read_bytes() == previous
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model.npz"]  # no temp file left behind
    assert window.state.model_name == name
    monkeypatch.setattr(np, "savez", real_savez)
    assert window.open_model(str(path)) and window.wait_idle(10)  # the previous file still opens


# ------------------------------------------------------------------------- the real app in a process
APP_SCRIPT = r"""
import sys, threading
from PySide6.QtCore import QTimer
from PySide6.QtWidgets import QApplication
from lrp_studio.gui import dialogs
from lrp_studio.gui.app import _application, run_gui

shown = []
dialogs.show_error = lambda parent, title, message, details=None: shown.append((title, message, details or ""))
app = _application()
steps = []

def window():
    return next(w for w in QApplication.topLevelWidgets() if w.objectName() == "mainWindow")

def defect():
    raise ValueError("defect raised in a timer slot")

def after_defect():
    w = window()
    print("DIALOG", shown[0][0], "|", shown[0][1], "|", "Traceback" in shown[0][2], flush=True)
    w.set_sample(9)
    print("RESPONDS", w.wait_idle(30) and w.state.explained_index == 9, flush=True)
    panel = w.training_panel
    panel.epochs_spin.setValue(500)
    panel.batch_spin.setValue(2)
    panel.start_button.click()
    QTimer.singleShot(300, close_while_training)

def close_while_training():
    w = window()
    print("TRAINING", w.training_panel.is_running(), flush=True)
    w.close()

QTimer.singleShot(500, defect)
QTimer.singleShot(1000, after_defect)
code = run_gui([])
alive = [t.name for t in threading.enumerate() if t.name.startswith("lrp-studio") and t.is_alive()]
print("EXIT", code, "ALIVE", alive, flush=True)
sys.exit(code)
"""


def test_real_app_survives_a_slot_exception_and_closes_cleanly_while_training(tmp_path):
    env = dict(os.environ, QT_QPA_PLATFORM="offscreen", XDG_CONFIG_HOME=str(tmp_path), HOME=str(tmp_path))
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT), env.get("PYTHONPATH", "")]).rstrip(os.pathsep)
    result = subprocess.run([sys.executable, "-c", APP_SCRIPT], capture_output=True, text=True, timeout=120,
                            env=env, cwd=str(tmp_path))
    out, err = result.stdout, result.stderr
    assert "DIALOG Unexpected error | ValueError: defect raised in a timer slot | True" in out, (out, err[-2000:])
    assert "RESPONDS True" in out and "TRAINING True" in out, (out, err[-2000:])
    assert "EXIT 0 ALIVE []" in out, (out, err[-2000:])
    assert result.returncode == 0
    for problem in ("QThread", "Fatal Python error", "Segmentation fault", "none_dealloc"):
        assert problem not in err, err[-2000:]


def test_failed_graph_export_keeps_the_previous_image(window, tmp_path, monkeypatch, error_dialogs):
    from PySide6.QtGui import QImage

    path = tmp_path / "graph.png"
    assert window.export_graph(str(path))
    previous = path.read_bytes()
    monkeypatch.setattr(QImage, "save", lambda self, *args: False)  # e.g. the disk filled up while encoding
    assert not window.export_graph(str(path))
    assert error_dialogs[-1][0] == "Cannot export graph" and "could not write" in error_dialogs[-1][1]
    assert path.read_bytes() == previous
    assert sorted(p.name for p in tmp_path.iterdir()) == ["graph.png"]
