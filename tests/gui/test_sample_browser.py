"""Sample browser: filters, navigation, opening built-in and file datasets."""

from __future__ import annotations

import numpy as np

from lrp_studio.data import load_mnist_subset


def test_filter_by_class_and_misclassified(window):
    browser = window.sample_browser
    labels = window.state.dataset.y
    browser.set_filter(7)
    shown = browser.visible_indices()
    assert len(shown) == int(np.sum(labels == 7)) and np.all(labels[shown] == 7)
    browser.set_filter("misclassified")
    assert window.state.predictions is not None
    wrong = browser.visible_indices()
    assert np.all(window.state.predictions[wrong] != labels[wrong])
    assert len(wrong) == int(np.sum(window.state.predictions != labels))
    browser.set_filter("all")
    assert len(browser.visible_indices()) == len(labels)


def test_next_previous_stay_inside_the_filter(window):
    browser = window.sample_browser
    browser.set_filter(3)
    shown = browser.visible_indices()
    browser.next()
    assert window.state.index == shown[0]
    browser.next()
    assert window.state.index == shown[1]
    browser.previous()
    assert window.state.index == shown[0]
    assert window.wait_idle(10) and window.state.explained_index == shown[0]


def test_list_shows_label_and_prediction(window):
    model = window.sample_browser.model
    text = model.data(model.index(0))
    assert "label" in text and "pred" in text and "?" not in text


def test_open_toy_dataset_builds_a_fitting_model(window):
    combo = window.sample_browser.dataset_combo
    index = combo.findData("toy:moons")
    combo.setCurrentIndex(index)
    combo.activated.emit(index)
    assert window.wait_idle(20)
    assert window.state.dataset.name == "toy:moons"
    assert window.state.net.input_shape == (2,)
    assert window.state.explanation.relevance.shape == (1, 2)
    assert window.heatmap.rgba.shape[:2] == (1, 2)


def test_open_npz_and_csv_files(window, tmp_path, error_dialogs):
    mnist = load_mnist_subset("test")
    np.savez(tmp_path / "part.npz", x=mnist.x[:20], y=mnist.y[:20])
    assert window.open_dataset(str(tmp_path / "part.npz"))
    assert len(window.state.dataset) == 20
    assert window.state.net.input_shape == (1, 28, 28)  # the MNIST model still fits
    assert window.wait_idle(10) and window.state.explanation is not None
    table = np.column_stack([np.random.default_rng(0).normal(size=(30, 2)), np.arange(30) % 2])
    np.savetxt(tmp_path / "points.csv", table, delimiter=",", header="a,b,label", comments="")
    assert window.open_dataset(str(tmp_path / "points.csv"))
    assert window.state.net.input_shape == (2,) and len(window.state.dataset) == 30
    assert error_dialogs == []


def test_open_idx_pair(window, tmp_path):
    from lrp_studio.data import write_idx

    mnist = load_mnist_subset("test")
    images = (mnist.x[:12, 0] * 255).astype(np.uint8)
    write_idx(tmp_path / "images.idx", images)
    write_idx(tmp_path / "labels.idx", mnist.y[:12].astype(np.uint8))
    assert window.open_dataset(f"{tmp_path / 'images.idx'},{tmp_path / 'labels.idx'}")
    assert len(window.state.dataset) == 12
    assert window.wait_idle(10) and window.state.explanation is not None
