"""The bundled models load from resources/ and reach the accuracy the README states."""

import re
from pathlib import Path

import numpy as np
import pytest

from lrp_studio.data import load_mnist_subset
from lrp_studio.zoo import BUNDLED_MODELS, load_any_model

README = Path(__file__).resolve().parents[1] / "README.md"


def _stated_accuracy(name: str) -> float:
    """The accuracy the README's bundled-model table gives for ``resources/<file>``."""
    row = next(line for line in README.read_text(encoding="utf-8").splitlines()
               if f"resources/{BUNDLED_MODELS[name]}" in line and "%" in line)
    return float(re.search(r"\| ([0-9.]+) % \|", row).group(1)) / 100


@pytest.mark.parametrize("name, floor", [("mlp", 0.94), ("cnn", 0.97)])
def test_bundled_model_reaches_stated_accuracy(name, floor):
    net = load_any_model(name)
    test = load_mnist_subset("test")
    accuracy = float(np.mean(net.predict(test.x).argmax(axis=1) == test.y))
    assert accuracy == pytest.approx(_stated_accuracy(name), abs=0.0005)
    assert accuracy >= floor
    assert net.classes == [str(d) for d in range(10)] and net.input_range == (0.0, 1.0)


def test_bundled_cnn_has_the_design_architecture():
    net = load_any_model("cnn")
    kinds = [layer.type_name for layer in net.layers]
    assert kinds == ["conv2d", "relu", "maxpool2d", "conv2d", "relu", "maxpool2d", "flatten", "dense", "relu", "dense"]
    assert [net.layers[i].spec().get("out_channels", net.layers[i].spec().get("out_features"))
            for i in net.linear_indices] == [16, 32, 100, 10]
