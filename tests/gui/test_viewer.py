"""``lrp_studio.view`` and its :class:`Viewer` handle (issue 17): every scripted action changes what the window shows."""

from __future__ import annotations

import numpy as np
import pytest

import lrp_studio
from lrp_studio.data import load_mnist_subset
from lrp_studio.errors import DataError, ParameterError


@pytest.fixture
def viewers(qtbot, error_dialogs):
    """Open viewers through lrp_studio.view; their windows are shut down after the test."""
    opened = []

    def open_viewer(*args, **kwargs):
        handle = lrp_studio.view(*args, size=(1280, 800), **kwargs)
        qtbot.addWidget(handle.window)
        assert handle.wait(60.0)
        opened.append(handle)
        return handle

    yield open_viewer
    from PySide6.QtCore import QCoreApplication, QEvent
    from shiboken6 import isValid

    for handle in opened:
        if isValid(handle.window):
            handle.window.shutdown()
            assert handle.window.controller.shutdown(30.0)
            QCoreApplication.processEvents()
            handle.window.close()
            handle.window.deleteLater()
    QCoreApplication.sendPostedEvents(None, QEvent.Type.DeferredDelete)


@pytest.fixture(scope="module")
def digits():
    data = load_mnist_subset("all")
    rows = np.concatenate([np.flatnonzero(data.y == k)[:3] for k in range(10)])  # 3 of every digit
    return data.x[rows], data.y[rows]


def heatmap_pixels(viewer) -> np.ndarray:
    return viewer.screenshot(view="heatmap")


def test_view_opens_on_own_arrays_and_returns_at_once(viewers, digits) -> None:
    x, y = digits
    viewer = viewers("cnn", x, y, method="epsilon", epsilon=0.25, sample=4)
    state = viewer.window.state
    assert viewer.is_open and state.dataset.name == "arrays" and len(state.dataset) == 30
    exp = viewer.explanation
    assert (viewer.sample, state.explained_index, exp.method) == (4, 4, "epsilon")
    expected = lrp_studio.explain(state.net, x[4:5], method="epsilon", epsilon=0.25)
    np.testing.assert_allclose(exp.relevance, expected.relevance, rtol=1e-5, atol=1e-7)
    assert "arrays (30 samples)" in viewer.window.model_label.text()


def test_select_sample_changes_the_explanation_and_the_heatmap(viewers, digits) -> None:
    viewer = viewers("mlp", *digits)
    before, pixels = viewer.explanation.relevance.copy(), heatmap_pixels(viewer)
    viewer.select_sample(17)
    assert viewer.wait() and viewer.window.state.explained_index == 17
    assert viewer.window.sample_browser.list.currentIndex().row() == 17
    assert not np.allclose(viewer.explanation.relevance, before)
    assert not np.array_equal(heatmap_pixels(viewer), pixels)
    with pytest.raises(ParameterError, match="0..29"):
        viewer.select_sample(30)


def test_set_target_is_the_output_bar_click(viewers, digits) -> None:
    viewer = viewers("mlp", *digits)
    predicted = int(viewer.explanation.targets[0])
    other = (predicted + 3) % 10
    pixels = heatmap_pixels(viewer)
    viewer.set_target(other)
    assert int(viewer.explanation.targets[0]) == other and viewer.target == other
    assert f"Explaining class <b>{other}</b>" in viewer.window.output_bars.info.text()
    assert not np.array_equal(heatmap_pixels(viewer), pixels)
    viewer.set_target(None)
    assert int(viewer.explanation.targets[0]) == predicted
    with pytest.raises(ParameterError):
        viewer.set_target(10)


def test_set_method_and_params_show_in_the_panel(viewers, digits) -> None:
    x, y = digits
    viewer = viewers("mlp", x, y)
    panel = viewer.window.explanation_panel
    viewer.set_method("epsilon", epsilon=0.5)
    assert panel.method_selector.currentData() == "epsilon"
    assert panel.widgets["epsilon"].value() == pytest.approx(0.5)
    exp = viewer.explanation
    expected = lrp_studio.explain(viewer.window.state.net, x[:1], method="epsilon", epsilon=0.5)
    np.testing.assert_allclose(exp.relevance, expected.relevance, rtol=1e-5, atol=1e-7)
    viewer.set_method("alphabeta", alpha=3.0)
    assert viewer.params["alpha"] == 3.0 and viewer.params["beta"] == 2.0  # the fields keep alpha - beta = 1
    assert panel.widgets["beta"].value() == pytest.approx(2.0)
    with pytest.raises(ParameterError, match="no parameter"):
        viewer.set_params(gamma=1.0)
    with pytest.raises(ParameterError, match="unknown method"):
        viewer.set_method("lrp-magic")


def test_select_neuron_fills_the_inspector(viewers, digits) -> None:
    viewer = viewers("mlp", *digits)
    from PySide6.QtWidgets import QLabel

    title = viewer.window.inspector.findChild(QLabel, "inspectorTitle")
    before = title.text()
    viewer.select_neuron(1, 7)
    stage = viewer.window.graph.columns()[1].stage
    assert viewer.selected_neuron() == (stage, 7)
    assert title.text() != before and "7" in title.text()
    with pytest.raises(ParameterError):
        viewer.select_neuron(1, 300)


def test_screenshots_of_the_window_and_of_one_view(viewers, digits, tmp_path) -> None:
    from PySide6.QtGui import QImage

    viewer = viewers("mlp", *digits)
    whole = viewer.screenshot(tmp_path / "window.png")
    assert whole.shape == (viewer.window.height(), viewer.window.width(), 4) and whole.dtype == np.uint8
    saved = QImage(str(tmp_path / "window.png"))
    assert (saved.width(), saved.height()) == (whole.shape[1], whole.shape[0])
    graph = viewer.screenshot(tmp_path / "graph.png", view="graph")
    assert graph.shape[:2] == (viewer.window.graph.height(), viewer.window.graph.width())
    assert len(np.unique(graph.reshape(-1, 4), axis=0)) > 20  # a drawn network, not a blank widget
    with pytest.raises(ParameterError, match="view must be"):
        viewer.screenshot(view="nowhere")
    with pytest.raises(DataError, match="does not exist"):
        viewer.screenshot(tmp_path / "missing" / "x.png")


def test_close_is_the_close_button(viewers, digits) -> None:
    viewer = viewers("mlp", *digits)
    window = viewer.window
    assert window.isVisible()
    assert viewer.close() and not viewer.is_open
    assert window.controller.active_threads() == 0  # closeEvent stopped the workers
    assert "closed" in repr(viewer)


def test_bad_inputs_raise_one_clear_error(viewers) -> None:
    with pytest.raises(DataError, match=r"\(N, features\)"):
        lrp_studio.view("mlp", np.zeros(784, np.float32))
    with pytest.raises(DataError, match="NaN"):
        lrp_studio.view("mlp", np.full((2, 784), np.nan, np.float32))
    with pytest.raises(DataError, match="integer labels"):
        lrp_studio.view("mlp", np.zeros((2, 784), np.float32), np.zeros(3, int))
    with pytest.raises(ParameterError, match="torch.nn.Module"):
        lrp_studio.view(object())
    with pytest.raises(ParameterError, match="class names"):
        lrp_studio.view("mlp", classes=["a", "b"])


def test_flat_samples_are_reshaped_and_labels_default_to_predictions(viewers, digits) -> None:
    x, _ = digits
    viewer = viewers("cnn", x.reshape(len(x), -1), classes=[f"digit {k}" for k in range(10)])
    dataset = viewer.window.state.dataset
    assert dataset.x.shape == (30, 1, 28, 28) and dataset.classes[3] == "digit 3"
    np.testing.assert_array_equal(dataset.y, viewer.window.state.net.predict(x).argmax(axis=1))


def test_torch_module_through_onnx(viewers) -> None:
    torch = pytest.importorskip("torch")
    pytest.importorskip("onnx")
    torch.manual_seed(0)
    module = torch.nn.Sequential(torch.nn.Conv2d(1, 4, 3), torch.nn.ReLU(), torch.nn.MaxPool2d(2), torch.nn.Flatten(),
                                 torch.nn.Linear(4 * 13 * 13, 10))
    x = np.random.default_rng(0).random((5, 1, 28, 28), dtype=np.float32)
    viewer = viewers(module, x)
    net = viewer.window.state.net
    with torch.no_grad():
        np.testing.assert_allclose(net.predict(x), module(torch.from_numpy(x)).numpy(), rtol=1e-4, atol=1e-5)
    assert module.training  # the export's eval() was undone
    assert "Sequential (Python)" in viewer.window.windowTitle()


def test_readme_viewer_example_runs_as_written(tmp_path) -> None:
    """The first python block of the README's 'From Python and notebooks' section, offscreen, in a fresh interpreter."""
    import os
    import re
    import subprocess
    import sys
    from pathlib import Path

    root = Path(__file__).resolve().parents[2]
    section = (root / "README.md").read_text(encoding="utf-8").split("## From Python and notebooks", 1)[1]
    code = re.search(r"```python\n(.*?)```", section.split("\n## ", 1)[0], re.S).group(1)
    env = dict(os.environ, PYTHONPATH=str(root), QT_QPA_PLATFORM="offscreen", XDG_CONFIG_HOME=str(tmp_path / "cfg"))
    done = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True, timeout=300, env=env)
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.split() == ["alphabeta", "(1,", "1,", "28,", "28)", "5"]
    assert (tmp_path / "window.png").stat().st_size > 10000 and (tmp_path / "heatmap.png").is_file()
    assert "Traceback" not in done.stderr and "QThread" not in done.stderr


def test_run_blocks_until_the_window_is_closed(digits, qapp, error_dialogs) -> None:
    """lrp_studio.run() runs the loop while a viewer is open and returns 0 once it is closed (by a click-like close).

    Not registered with qtbot: run() frees the closed window itself (lifecycle.release_all).
    """
    from PySide6.QtCore import QTimer

    viewer = lrp_studio.view("mlp", *digits)
    seen: list[int] = []
    QTimer.singleShot(200, lambda: seen.append(viewer.sample) or viewer.select_sample(2))
    QTimer.singleShot(600, viewer.close)
    assert lrp_studio.run() == 0
    assert seen == [0] and not viewer.is_open
    assert lrp_studio.run() == 0  # nothing open: returns at once
