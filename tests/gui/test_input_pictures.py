"""The input image where it is drawn as itself: in colour for an RGB model, grey for MNIST.

The network graph's input node (colour by activation) and the neuron inspector (input node
selected) draw the sample; relevance stays the channel sum on the diverging scale.
"""

import numpy as np
import pytest

from lrp_studio.data import load_dataset
from lrp_studio.viz.heatmap import relevance_to_2d
from lrp_studio.zoo import load_any_model


@pytest.fixture
def shapes_window(make_window):
    window = make_window(load_any_model("shapes"), load_dataset("toy:shapes:test"), model_name="shapes")
    assert window.wait_idle(60)
    return window


@pytest.fixture
def mnist_window(make_window):
    window = make_window(load_any_model("cnn"), model_name="cnn_mnist.npz")
    assert window.wait_idle(60)
    return window


def _spread(pixels: np.ndarray) -> float:
    """Largest |R - G| or |G - B| over the pixels (0 for a grey picture)."""
    rgb = np.asarray(pixels, dtype=np.float64)[..., :3]
    return float(max(np.abs(rgb[..., 0] - rgb[..., 1]).max(), np.abs(rgb[..., 1] - rgb[..., 2]).max()))


def _select_input(window):
    window.select_neuron(0, 0)
    return window.inspector.map_items()


def test_graph_input_node_is_coloured_for_rgb_and_grey_for_mnist(shapes_window, mnist_window):
    for window, coloured in ((shapes_window, True), (mnist_window, False)):
        window.graph.set_color_mode("activation")
        pixels = window.graph.node_colors(0)
        x = window.state.input_at(window.state.explained_index)
        assert pixels.shape == (*x.shape[1:], 4)
        low, high = window.state.net.input_range
        expected = np.rint(255 * np.clip((np.moveaxis(x, 0, -1) - low) / (high - low), 0, 1))
        np.testing.assert_allclose(pixels[..., :3], np.broadcast_to(expected, pixels[..., :3].shape), atol=1)
        assert (_spread(pixels) > 60) if coloured else (_spread(pixels) == 0)


def test_inspector_draws_the_rgb_input_in_colour(shapes_window):
    picture, relevance = _select_input(shapes_window)
    x = shapes_window.state.input_at(shapes_window.state.explained_index)
    low, high = shapes_window.state.net.input_range
    assert picture.image.shape == (32, 32, 3)
    np.testing.assert_allclose(picture.image, np.clip((np.moveaxis(x, 0, -1) - low) / (high - low), 0, 1), atol=1e-6)
    assert _spread(picture.image) > 0.25  # toy:shapes pixels differ per channel by more than a quarter of the range
    rendered = picture.getPixmap().toImage()  # what is painted, not only the array handed over
    colours = np.array([[rendered.pixelColor(j, i).getRgb()[:3] for j in range(32)] for i in range(32)])
    assert _spread(colours) > 60
    exp = shapes_window.state.explanation
    np.testing.assert_allclose(relevance.image, relevance_to_2d(exp.relevance[0]), rtol=1e-6, atol=1e-9)
    assert relevance.image.ndim == 2  # the relevance map: channel sum on the diverging scale


def test_inspector_draws_the_mnist_input_in_grey(mnist_window):
    picture, _ = _select_input(mnist_window)
    x = mnist_window.state.input_at(mnist_window.state.explained_index)
    assert picture.image.shape == (28, 28, 3) and _spread(picture.image) == 0
    np.testing.assert_allclose(picture.image[..., 0], np.clip(x[0], 0, 1), atol=1e-6)
    assert picture.image.max() > 0.9  # a digit, not an empty picture
