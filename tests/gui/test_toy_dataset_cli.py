"""``lrp-studio gui --dataset toy:NAME`` behaves like picking the dataset in the app's dataset box."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from lrp_studio.gui import app as gui_app


def widths(net):
    return [layer.spec().get("out_features") for layer in net.layers if layer.type_name == "dense"]


@pytest.fixture
def spy(monkeypatch):
    """Record what the window holds right after the command line opened its dataset."""
    seen = {}
    original = gui_app.open_dataset_spec

    def recording(window, dataset):
        original(window, dataset)
        seen.update(net=window.state.net, dataset=window.state.dataset.name, status=window.statusBar().currentMessage(),
                    model_name=window.state.model_name)

    monkeypatch.setattr(gui_app, "open_dataset_spec", recording)
    return seen


@pytest.mark.parametrize("name", ["moons", "xor"])
def test_gui_dataset_toy_builds_the_notes_classifier(qapp, tmp_path, spy, error_dialogs, name):
    png = tmp_path / "toy.png"
    assert gui_app.run_gui(["--dataset", f"toy:{name}", "--screenshot", str(png)]) == 0
    assert Image.open(png).size == (1600, 1000)
    assert spy["dataset"] == f"toy:{name}"
    assert spy["net"].input_shape == (2,) and widths(spy["net"]) == [16, 16, 1]   # the notes' 2-16-16-1 classifier
    assert "No model fits" in spy["status"] and spy["model_name"] == "new model (untrained)"
    assert error_dialogs == []


def test_same_as_picking_it_in_the_app(make_window, error_dialogs):
    window = make_window()
    assert window.open_dataset("toy:moons")
    assert window.state.net.input_shape == (2,) and widths(window.state.net) == [16, 16, 1]


def test_screenshot_of_the_toy_data_shows_the_two_features(qapp, tmp_path, spy):
    """Not the MNIST input image: the heatmap column of the toy network's two inputs is drawn."""
    png = tmp_path / "toy.png"
    assert gui_app.run_gui(["--dataset", "toy:moons", "--screenshot", str(png)]) == 0
    pixels = np.asarray(Image.open(png).convert("RGB"), dtype=np.int16)
    assert pixels.std() > 10


def test_bad_toy_name_is_one_line(qapp, tmp_path, capsys):
    assert gui_app.run_gui(["--dataset", "toy:nope", "--screenshot", str(tmp_path / "x.png")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("lrp-studio: error:") and len(err.strip().splitlines()) == 1


@pytest.mark.parametrize("dataset", [None, "toy:moons"])
def test_a_named_model_that_does_not_fit_the_dataset_is_one_line_not_replaced(qapp, tmp_path, capsys, spy, dataset):
    """``--model`` names the model to show: one that does not fit is an error, never silently swapped."""
    from lrp_studio.io.model import save_model
    from lrp_studio.zoo import build_architecture

    model = save_model(build_architecture("conv:4:3,relu,flatten,dense:10", input_shape=(3, 16, 16), seed=0),
                       tmp_path / "rgb16.npz")
    argv = ["--model", str(model), "--screenshot", str(tmp_path / "x.png")] + (["--dataset", dataset] if dataset else [])
    assert gui_app.run_gui(argv) == 2
    err = capsys.readouterr().err
    assert err.startswith("lrp-studio: error: rgb16.npz does not fit the dataset") and "(3, 16, 16)" in err
    assert len(err.strip().splitlines()) == 1 and spy == {} and not (tmp_path / "x.png").exists()


def test_a_named_model_with_other_classes_than_the_dataset_is_one_line(qapp, tmp_path, capsys):
    from lrp_studio.io.model import save_model
    from lrp_studio.zoo import build_architecture

    model = save_model(build_architecture("dense:3", input_shape=(2,), seed=0), tmp_path / "three.npz")
    assert gui_app.run_gui(["--model", str(model), "--dataset", "toy:moons", "--screenshot", str(tmp_path / "x.png")]) == 2
    assert "has 3 outputs but toy:moons has 2 classes" in capsys.readouterr().err
