"""The 2-D playground: toy data opens with the notes' binary classifier; boundary and neuron maps follow training."""

from __future__ import annotations

import numpy as np
from PySide6.QtWidgets import QLabel

from lrp_studio.gui.state import CUSTOM_INDEX
from lrp_studio.lrp.grid import decision_map, grid_points, neuron_maps, relevance_maps


def _open_moons(window):
    browser = window.sample_browser
    index = browser.dataset_combo.findData("toy:moons")
    browser.dataset_combo.activated.emit(index)  # as if chosen in the sample browser
    assert window.wait_idle(30)
    return window.playground


def test_toy_data_opens_the_playground_with_the_binary_classifier(window):
    view = _open_moons(window)
    state = window.state
    assert state.dataset.name == "toy:moons" and state.dataset_spec == "toy:moons"
    net = state.net
    assert net.input_shape == (2,) and net.n_classes == 1
    assert [layer.type_name for layer in net.layers] == ["dense", "relu", "dense", "relu", "dense"]
    assert window.training_panel.loss_combo.currentText() == "bce"
    assert "sigmoid + cross-entropy" in window.training_panel.output_label.text()
    dock = window.docks["playground"]
    assert view.objectName() == "playground" and dock.isVisible() and not view.visibleRegion().isEmpty()
    assert view.applies() and view.result is not None
    # the data: one scatter per class, all points
    assert sum(len(item.data) for item in view.scatters) == len(state.dataset) == 400
    # the boundary image: the network's decision over the padded grid
    points, extent = grid_points(state.dataset.x, 80, 0.1)
    np.testing.assert_allclose(view.boundary_image(), decision_map(net, points), atol=1e-6)
    assert view.boundary_item.image.shape == (80, 80)
    assert view.result["extent"] == extent
    # one thumbnail per hidden neuron, each with a picture
    assert view.thumbnail_count() == 32
    labels = [view.findChild(QLabel, f"neuron_{stage}_{unit}") for stage in (2, 4) for unit in range(16)]
    assert all(label is not None and not label.pixmap().isNull() for label in labels)
    maps = neuron_maps(net, points)
    np.testing.assert_allclose(view.result["maps"][2], maps[2], rtol=1e-5, atol=1e-6)
    # predictions of a single-output network: z > 0 means class 1
    predictions = state.predictions
    assert predictions is not None and set(np.unique(predictions)) <= {0, 1}
    np.testing.assert_array_equal(predictions, (net.predict(state.dataset.x)[:, 0] > 0).astype(int))


def test_training_changes_the_boundary(qtbot, window):
    view = _open_moons(window)
    before = view.boundary_image().copy()
    updates = view.n_updates
    panel = window.training_panel
    panel.epochs_spin.setValue(5)
    panel.start_button.click()
    qtbot.waitUntil(lambda: not panel.is_running() and panel.start_button.isEnabled(), timeout=60_000)
    assert window.wait_idle(30)
    after = view.boundary_image()
    assert view.n_updates > updates and np.abs(after - before).max() > 0.05
    points, _ = grid_points(window.state.dataset.x, 80, 0.1)
    np.testing.assert_allclose(after, decision_map(window.state.net, points), atol=1e-6)
    accuracy = np.mean(window.state.predictions == window.state.dataset.y)
    assert accuracy > 0.8


def test_relevance_thumbnails(window):
    view = _open_moons(window)
    view.set_mode("relevance")
    assert window.wait_idle(30)
    assert view.result["mode"] == "relevance" and "relevance" in view.thumb_caption.text()
    state = window.state
    points, _ = grid_points(state.dataset.x, 80, 0.1)
    args = state.explain_arguments()
    expected = relevance_maps(state.net, points, args.pop("method"), **args)
    np.testing.assert_allclose(view.result["maps"][4], expected[4], rtol=1e-4, atol=1e-6)
    # a baseline has no hidden relevance: outputs are shown with a note
    window.set_method("gradient")
    assert window.wait_idle(30)
    assert view.result["mode"] == "output" and "baselines" in view.thumb_caption.text()


def test_clicking_the_plane_explains_that_point(window):
    view = _open_moons(window)

    class Click:
        def __init__(self, pos):
            self._pos = pos

        def button(self):
            from PySide6.QtCore import Qt

            return Qt.MouseButton.LeftButton

        def scenePos(self):  # noqa: N802 (pyqtgraph API)
            return self._pos

    from PySide6.QtCore import QPointF

    box = view.plot.getViewBox()
    view._plane_clicked(Click(box.mapViewToScene(QPointF(0.5, 0.25))))
    assert window.wait_idle(20)
    np.testing.assert_allclose(window.state.custom_input, [0.5, 0.25], atol=1e-4)
    assert window.state.explained_index == CUSTOM_INDEX
    marker = view.current_marker.data
    assert len(marker) == 1 and abs(marker[0]["x"] - 0.5) < 1e-4


def test_needs_two_inputs(window):
    view = window.playground
    assert not view.applies() and view.result is None and view.thumbnail_count() == 0
    assert "two inputs" in view.info.text() and not view.toy_button.isHidden()
    view.toy_button.click()
    assert window.wait_idle(30)
    assert view.applies() and window.state.dataset.name == "toy:moons" and view.toy_button.isHidden()
