"""Node values of the network graph without Qt: stage values, colour scales, node colours, texts."""

from __future__ import annotations

import numpy as np
import pytest

from lrp_studio.errors import ParameterError
from lrp_studio.lrp.explain import explain
from lrp_studio.nn import lenet
from lrp_studio.viz.colormaps import get_colormap
from lrp_studio.viz.graph_scene import build_layout
from lrp_studio.viz.graph_values import (
    NEUTRAL_RGB,
    class_label_texts,
    color_indices,
    colorbar_levels,
    column_scales,
    hover_text,
    image_rgba,
    maps_rgba,
    scale_label,
    stage_values,
)

LUT = get_colormap("bwr")


@pytest.fixture(scope="module")
def scene():
    net = lenet(channels=(3, 5), hidden=8)
    x = np.random.default_rng(0).uniform(size=(2, 1, 28, 28)).astype(np.float32)
    exp = explain(net, x, method="epsilon-plus")
    layout = build_layout(net)
    return layout, exp, *stage_values(layout, exp.layers)


def test_stage_values_are_sample_zero_of_each_column_stage(scene) -> None:
    layout, exp, activations, relevances = scene
    assert sorted(activations) == sorted(relevances) == [c.stage for c in layout.columns]
    for stage in activations:
        record = exp.layers[stage]
        np.testing.assert_array_equal(activations[stage], record.activation[0])
        np.testing.assert_array_equal(relevances[stage], record.relevance[0])


def test_stage_values_of_a_baseline_have_activations_only(scene) -> None:
    layout, exp, _, _ = scene
    net = lenet(channels=(3, 5), hidden=8)
    baseline = explain(net, np.ones((1, 1, 28, 28), np.float32), method="gradient")
    activations, relevances = stage_values(layout, baseline.layers)
    assert sorted(activations) == [c.stage for c in layout.columns]
    assert list(relevances) == [0]  # a baseline's relevance is the input's only
    with pytest.raises(ParameterError, match="keep_layers"):
        stage_values(layout, [])


def test_layer_and_global_scales(scene) -> None:
    layout, _, activations, relevances = scene
    own = column_scales(layout, relevances, "relevance", "layer")
    for column in layout.columns:
        assert own[column.index] == pytest.approx(float(np.abs(relevances[column.stage]).max()))
    shared = column_scales(layout, relevances, "relevance", "global")
    assert set(shared.values()) == {max(own.values())}
    # activation mode: the input picture keeps its own scale, the rest share the largest
    act_own = column_scales(layout, activations, "activation", "layer")
    act_shared = column_scales(layout, activations, "activation", "global")
    assert act_shared[0] == act_own[0]
    assert {v for i, v in act_shared.items() if i} == {max(v for i, v in act_own.items() if i)}
    assert column_scales(layout, {}, "relevance", "layer") == {}


def test_colorbar_levels_follow_the_scale_mode(scene) -> None:
    layout, _, _, relevances = scene
    scales = column_scales(layout, relevances, "relevance", "layer")
    levels, label = colorbar_levels(layout, scales, "relevance", "layer")
    assert levels == (-1.0, 1.0) and "column max" in label
    scales = column_scales(layout, relevances, "relevance", "global")
    levels, label = colorbar_levels(layout, scales, "relevance", "global")
    assert levels == (-scales[1], scales[1]) and "one scale" in label


def test_scale_labels(scene) -> None:
    layout, _, activations, _ = scene
    image, maps = layout.columns[0], layout.columns[1]
    assert scale_label(maps, activations[3], 2.345678, "relevance") == "±2.35"
    assert scale_label(image, activations[0], 1.0, "activation") == "grayscale sample"
    assert scale_label(maps, None, 0.0, "relevance") == "no relevance"
    assert scale_label(maps, None, 0.0, "activation") == ""


def test_colours_on_a_symmetric_scale() -> None:
    values = np.array([-2.0, -1.0, 0.0, 1.0, 2.0], np.float32)
    indices = color_indices(values, 2.0)
    assert indices[0] <= 1 and indices[-1] == 255 and indices[2] in (127, 128)
    assert np.all(np.diff(indices.astype(int)) > 0)
    assert np.all(color_indices(values, 0.0) == 128) and np.all(color_indices(values, np.inf) == 128)


def test_thumbnails_and_image(scene) -> None:
    layout, _, activations, relevances = scene
    maps, image = layout.columns[1], layout.columns[0]
    rgba = maps_rgba(maps, relevances[3], float(np.abs(relevances[3]).max()), LUT)
    assert rgba.shape == (3, 12, 12, 4) and rgba.dtype == np.uint8 and np.all(rgba[..., 3] == 255)
    assert np.all(maps_rgba(maps, None, 0.0, LUT)[..., :3] == NEUTRAL_RGB)
    gray = image_rgba(image, activations[0], 1.0, LUT, "activation", (0.0, 1.0))
    np.testing.assert_array_equal(gray[..., 0], np.rint(255 * activations[0][0]))
    assert np.array_equal(gray[..., 0], gray[..., 2])
    vmax = float(np.abs(relevances[0]).max())
    heat = image_rgba(image, relevances[0], vmax, LUT, "relevance", None)
    np.testing.assert_array_equal(heat[..., :3], LUT[color_indices(relevances[0][0], vmax)])


def test_class_labels_and_hover_text(scene) -> None:
    layout, exp, activations, relevances = scene
    logits = np.asarray(exp.logits[0])
    target = (int(exp.targets[0]) + 3) % 10  # any explained class, not only the predicted one
    labels = class_label_texts(layout, logits, target)
    assert len(labels) == 10 and [bold for _, bold in labels].count(True) == 1
    assert labels[target] == (f"{target}   {logits[target]:.2f}  ◀", True)
    text = hover_text(layout, 10, 4, activations, relevances)
    assert "neuron 4 (class 4)" in text and f"activation {activations[10][4]:.4g}" in text
    channel = hover_text(layout, 3, 2, activations, relevances)
    assert "channel 2" in channel and f"relevance {relevances[3][2].sum():.4g} (sum)" in channel
    pixel = hover_text(layout, 0, 5 * 28 + 6, activations, {})
    assert "pixel (5, 6)" in pixel and "relevance n/a" in pixel
    assert hover_text(layout, 4, 0, activations, relevances) == ""  # stage 4 is no column
