"""File > Open image and drag-and-drop of image files: the photo becomes the explained custom input."""

import numpy as np
from PySide6.QtCore import QMimeData, QPoint, QPointF, Qt, QUrl
from PySide6.QtGui import QDragEnterEvent, QDropEvent
from PySide6.QtWidgets import QApplication

from lrp_studio.gui import dialogs
from lrp_studio.gui.image_input import open_image
from lrp_studio.gui.state import CUSTOM_INDEX
from lrp_studio.io import load_input
from lrp_studio.lrp import explain
from lrp_studio.zoo import load_any_model
from tools.make_digit_photo import digit_photo


def _cnn_window(make_window):
    return make_window(load_any_model("cnn"), model_name="cnn_mnist.npz")


def test_open_image_explains_the_photo_as_its_digit(qtbot, make_window, tmp_path, monkeypatch):
    window = _cnn_window(make_window)
    photo = tmp_path / "three.png"
    digit_photo(3, 400, 300).save(photo)
    monkeypatch.setattr(dialogs, "get_open_path", lambda parent, title, filters: str(photo))
    window.open_image_action.trigger()
    assert window.wait_idle(30)
    state = window.state
    assert state.custom_input is not None and state.explained_index == CUSTOM_INDEX
    expected_x = load_input(photo, state.net.input_shape, state.net.input_range).x
    np.testing.assert_allclose(state.custom_input[None], expected_x)
    assert int(np.argmax(state.explanation.logits[0])) == 3
    expected = explain(state.net, expected_x, **state.explain_arguments())
    np.testing.assert_allclose(state.explanation.relevance[0], expected.relevance[0], rtol=1e-4, atol=1e-6)
    assert "inverted" in window.statusBar().currentMessage()


def _drop(window, path):
    mime = QMimeData()
    mime.setUrls([QUrl.fromLocalFile(str(path))])
    centre = window.rect().center()
    enter = QDragEnterEvent(centre, Qt.DropAction.CopyAction, mime, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier)
    QApplication.sendEvent(window, enter)
    drop = QDropEvent(QPointF(centre), Qt.DropAction.CopyAction, mime, Qt.MouseButton.LeftButton,
                      Qt.KeyboardModifier.NoModifier)
    QApplication.sendEvent(window, drop)
    return enter, drop


def test_dropping_a_light_on_dark_jpeg_explains_it(qtbot, make_window, tmp_path):
    window = _cnn_window(make_window)
    photo = tmp_path / "seven.jpg"
    digit_photo(7, 300, 300, seed=2, light_on_dark=True).save(photo, quality=80)
    enter, drop = _drop(window, photo)
    assert enter.isAccepted() and drop.isAccepted()
    assert window.wait_idle(30)
    assert window.state.explained_index == CUSTOM_INDEX
    assert int(np.argmax(window.state.explanation.logits[0])) == 7
    assert "inverted" not in window.statusBar().currentMessage()


def test_a_broken_image_is_one_error_dialog_and_the_input_stays(qtbot, make_window, tmp_path, error_dialogs):
    window = _cnn_window(make_window)
    before = window.state.explained_index
    bad = tmp_path / "broken.png"
    bad.write_bytes(b"\x89PNG\r\n\x1a\n" + b"\0" * 20)
    assert not open_image(window, str(bad))
    assert error_dialogs and error_dialogs[-1][0] == "Cannot open image" and "broken.png" in error_dialogs[-1][1]
    assert "\n" not in error_dialogs[-1][1]
    assert window.state.custom_input is None and window.state.explained_index == before


def test_non_image_drops_are_ignored(qtbot, make_window, tmp_path):
    window = _cnn_window(make_window)
    text = tmp_path / "notes.txt"
    text.write_text("hello")
    enter, _ = _drop(window, text)
    assert not enter.isAccepted()
    assert window.state.custom_input is None


def test_bundled_shapes_model_opens_with_its_dataset_and_explains_rgb(qtbot, make_window, error_dialogs):
    window = make_window()
    window.findChild(type(window.open_image_action), "bundledModel_shapes").trigger()
    assert window.wait_idle(60)
    assert not error_dialogs
    state = window.state
    assert state.dataset.name == "toy:shapes:test" and state.net.layers[0].type_name == "normalize"
    assert state.explanation.relevance.shape == (1, 3, 32, 32)
    assert int(np.argmax(state.explanation.logits[0])) == int(state.dataset.y[0])


def test_opening_a_0_255_dataset_warns_in_the_status_bar(qtbot, make_window, tmp_path):
    from lrp_studio.data import load_mnist_subset

    window = make_window()
    data = load_mnist_subset("test")
    np.savez(tmp_path / "pixels.npz", x=(data.x[::50] * 255).astype(np.float32), y=data.y[::50])  # all ten classes
    assert window.open_dataset(str(tmp_path / "pixels.npz"))
    message = window.statusBar().currentMessage()
    assert "warning: input values span 0..255 but the model's input range is [0, 1]" in message
    assert "divide by 255" in message


def test_colour_inputs_are_shown_in_colour(qtbot, make_window):
    from lrp_studio.data import load_dataset
    from lrp_studio.gui.sample_browser import thumbnail

    data = load_dataset("toy:shapes:test")
    window = make_window(load_any_model("shapes"), data, model_name="shapes")
    assert window.wait_idle(60)
    shown = window.heatmap.input_item.image
    np.testing.assert_allclose(shown, np.moveaxis(data.x[0], 0, -1))
    window.heatmap.set_overlay(True)
    assert window.wait_idle(30)
    rgba = window.heatmap.rgba  # the heatmap blended over the colour image: channels differ where the image does
    assert rgba.shape == (32, 32, 4) and np.abs(rgba[..., 0].astype(int) - rgba[..., 2]).max() > 20
    image = thumbnail(data.x[0], data.input_range, size=32).toImage()
    colour = image.pixelColor(2, 2)
    expected = np.clip(data.x[0][:, 2, 2] * 255, 0, 255).astype(np.uint8)
    assert abs(colour.red() - int(expected[0])) <= 1 and abs(colour.blue() - int(expected[2])) <= 1


def test_faithfulness_dock_reports_localisation_on_toy_shapes(qtbot, make_window):
    from lrp_studio.data import load_dataset
    from lrp_studio.lrp.localisation import evaluate_localisation
    from lrp_studio.lrp.sample_selection import select_samples

    data = load_dataset("toy:shapes:test")
    window = make_window(load_any_model("shapes"), data, model_name="shapes")
    view = window.faithfulness_view
    view.set_methods(["epsilon-plus", "gradient"])
    view.set_scope(6, first=True)
    view.run()
    with qtbot.waitSignal(view.runFinished, timeout=120_000):
        pass
    qtbot.waitUntil(lambda: "uniform" in view.localisation_label.text(), timeout=60_000)
    text = view.localisation_label.text()
    indices = select_samples(data.y, 6, "first").indices
    net = window.state.net
    x = data.x[indices]
    expected = evaluate_localisation(net, x, data.masks[indices], net.predict(x).argmax(axis=1),
                                     ["epsilon-plus", "gradient"])  # the dock's default parameters
    for name in ("epsilon-plus", "gradient", "uniform"):
        score = expected[name]
        assert f"<td>{name}</td><td align='right'>{score.mass.mean():.3f}</td>" in text
        assert f"<td align='right'>{score.rank.mean():.3f}</td>" in text


def test_no_localisation_without_masks(qtbot, window):
    view = window.faithfulness_view
    view.set_methods(["gradient"])
    view.set_scope(None)
    view.run()
    with qtbot.waitSignal(view.runFinished, timeout=60_000):
        pass
    assert getattr(view, "localisation_label", None) is None


def test_input_normalisation_action_sets_replaces_and_removes(qtbot, make_window, error_dialogs):
    from lrp_studio.gui.normalization_action import set_input_normalization

    window = _cnn_window(make_window)
    plain = window.state.net
    x = window.state.dataset.x[:3]
    assert set_input_normalization(window, "0.1307 / 0.3081")
    assert window.wait_idle(30)
    net = window.state.net
    assert net.layers[0].type_name == "normalize" and window.state.model_dirty
    np.testing.assert_allclose(net.predict(x), plain.predict((x - 0.1307) / 0.3081), rtol=1e-5, atol=1e-5)
    assert set_input_normalization(window, "0.5 / 0.25")  # replaces, never stacks
    assert [l.type_name for l in window.state.net.layers][:2] == ["normalize", "conv2d"]
    assert set_input_normalization(window, "")
    assert window.wait_idle(30)
    np.testing.assert_allclose(window.state.net.predict(x), plain.predict(x), rtol=1e-6)
    for bad in ("0.5", "0.5,0.5 / 0.2,0.2", "a / b"):
        assert not set_input_normalization(window, bad)
    assert len(error_dialogs) == 3 and all("\n" not in message for _, message in error_dialogs)


def test_named_tabular_features_show_as_bars_in_the_heatmap_pane(qtbot, make_window, tmp_path):
    from lrp_studio.data import load_dataset
    from lrp_studio.nn.network import mlp

    rng = np.random.default_rng(0)
    x = rng.random((60, 3))
    path = tmp_path / "table.csv"
    path.write_text("age,income,debt,label\n" + "".join(
        ",".join(f"{v:.4f}" for v in row) + f",{int(row[0] > 0.5)}\n" for row in x))
    data = load_dataset(str(path))
    window = make_window(mlp([3, 8, 2], input_range=data.input_range), data, model_name="tab")
    assert window.wait_idle(30)
    pane = window.heatmap
    assert pane.feature_bars.isVisible() and not pane.canvas.isVisible()
    relevance = np.asarray(window.state.explanation.relevance[0], dtype=np.float64)
    order = np.argsort(-np.abs(relevance), kind="stable")
    assert [name for name, _ in pane.feature_bars.rows] == [data.features[i] for i in order]
    np.testing.assert_allclose(pane.feature_bars.bars.opts["width"], np.abs(relevance[order]))


def test_images_keep_the_image_plots(qtbot, window):
    assert window.heatmap.canvas.isVisible() and getattr(window.heatmap, "feature_bars", None) is None


def test_open_image_folder_as_dataset(qtbot, make_window, tmp_path, monkeypatch):
    from lrp_studio.data import load_dataset

    data = load_dataset("toy:shapes:test")
    root = tmp_path / "photos"
    for i in range(8):
        folder = root / data.classes[data.y[i]]
        folder.mkdir(parents=True, exist_ok=True)
        from PIL import Image

        Image.fromarray((data.x[i].transpose(1, 2, 0) * 255).round().astype(np.uint8)).save(folder / f"{i}.png")
    window = make_window(load_any_model("shapes"), data, model_name="shapes")
    monkeypatch.setattr(dialogs, "get_directory", lambda parent, title: str(root))
    action = next(a for a in window.menuBar().actions()[0].menu().actions() if a.text().startswith("Open image &folder"))
    action.trigger()
    assert window.wait_idle(30)
    assert window.state.dataset.name == "photos" and len(window.state.dataset) == 8
    assert window.state.dataset.x.shape == (8, 3, 32, 32)
    assert window.state.net.layers[0].type_name == "normalize"  # the model fits: kept
