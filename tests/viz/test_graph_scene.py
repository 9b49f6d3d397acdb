"""Scene geometry of the network graph without Qt: columns, positions, bounds, hit testing, navigation."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

from lrp_studio.nn import lenet, mlp
from lrp_studio.viz.graph_scene import (
    DIRECTIONS,
    build_layout,
    initial_selection,
    moved,
    node_at,
    selection_marker,
)

#: Scene units per screen pixel of a typical fitted view (~0.6 px per unit).
PIXEL = (1.6, 1.6)


@pytest.fixture(scope="module")
def mlp_layout():
    return build_layout(mlp([784, 32, 16, 10], input_shape=(1, 28, 28), input_range=(0, 1)))


@pytest.fixture(scope="module")
def cnn_layout():
    return build_layout(lenet(channels=(4, 8), hidden=16))


@pytest.fixture(scope="module")
def flat_layout():
    return build_layout(mlp([2, 8, 6, 3], classes=["a", "b", "c"]))


LAYOUTS = ["mlp_layout", "cnn_layout", "flat_layout"]


def test_importing_the_scene_loads_no_qt() -> None:
    code = ("import sys, lrp_studio.viz.graph_scene, lrp_studio.viz.graph_edges, lrp_studio.viz.graph_values;"
            "print(sorted(m for m in sys.modules if m.split('.')[0] in ('PySide6', 'pyqtgraph', 'shiboken6')))")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "[]"


def test_mlp_columns_and_connections(mlp_layout) -> None:
    columns = mlp_layout.columns
    assert [c.stage for c in columns] == [0, 3, 5, 6]
    assert [c.kind for c in columns] == ["image", "dots", "dots", "dots"]
    assert [c.n_nodes for c in columns] == [1, 32, 16, 10]
    assert columns[0].n_units == 784 and columns[0].image_hw == (28, 28)
    assert columns[1].title == "dense 32 · relu" and columns[1].subtitle == "32 neurons"
    assert "logits" in columns[-1].title and columns[-1].subtitle == "10 classes"
    # pixel -> dense edges are not drawn: the first connection starts at the first hidden column
    connections = [(c.layer_index, c.source, c.target, c.group) for c in mlp_layout.connections]
    assert connections == [(3, 1, 2, 1), (5, 2, 3, 1)]
    assert mlp_layout.output_stage == 6 and mlp_layout.classes == tuple(str(i) for i in range(10))


def test_cnn_columns_and_connections(cnn_layout) -> None:
    columns = cnn_layout.columns
    assert [c.stage for c in columns] == [0, 3, 6, 9, 10]
    assert [c.kind for c in columns] == ["image", "maps", "maps", "dots", "dots"]
    assert [c.title for c in columns[1:3]] == ["conv2d 4 · relu · maxpool2d", "conv2d 8 · relu · maxpool2d"]
    assert columns[2].subtitle == "8 maps 4×4"
    # conv messages are per channel already; the dense layer after flatten sums 4x4 rows per channel
    assert [(c.layer_index, c.source, c.target, c.group) for c in cnn_layout.connections] == [
        (0, 0, 1, 1), (3, 1, 2, 1), (7, 2, 3, 16), (9, 3, 4, 1)]


@pytest.mark.parametrize("name", LAYOUTS)
def test_columns_run_left_to_right_centred_and_inside_the_bounds(request, name) -> None:
    layout = request.getfixturevalue(name)
    x0, y0, width, height = layout.bounds()
    lefts = [c.x - c.width / 2 for c in layout.columns]
    rights = [c.x + c.width / 2 for c in layout.columns]
    assert all(r < next_l for r, next_l in zip(rights, lefts[1:]))  # no two columns overlap
    for column in layout.columns:
        assert np.all(column.centres[:, 0] == column.x)
        assert np.isclose(column.centres[:, 1].mean(), layout.height / 2)
        if column.n_nodes > 1:
            assert np.allclose(np.diff(column.centres[:, 1]), column.spacing)
        assert x0 < column.x - column.width / 2 and column.x + column.width / 2 < x0 + width
        assert y0 < column.top and column.centres[:, 1].max() < y0 + height
    for x, title_y, scale_y in layout.header_positions():
        assert x0 < x < x0 + width
        assert y0 < title_y < scale_y < min(c.top for c in layout.columns)
    labels = layout.class_label_positions()
    assert len(labels) == len(layout.classes)  # every output column here has few dots
    assert np.array_equal(labels, layout.columns[-1].centres)
    assert labels[:, 0].max() + 110 * PIXEL[0] < x0 + width  # room for "9   -12.34  ◀"


def test_thumbnails_and_their_frames(cnn_layout) -> None:
    column = cnn_layout.columns[2]
    rects = column.node_rects()
    assert rects.shape == (8, 4)
    assert np.allclose(rects[:, :2] + rects[:, 2:] / 2, column.centres)
    assert np.all(rects[:-1, 1] + rects[:-1, 3] < rects[1:, 1])  # gaps between thumbnails
    frames = column.frame_segments().reshape(8, 8, 2)
    assert np.allclose(frames.min(axis=1), rects[:, :2])
    assert np.allclose(frames.max(axis=1), rects[:, :2] + rects[:, 2:])
    anchors_in, anchors_out = column.in_anchors(), column.out_anchors()
    assert np.allclose(anchors_in[:, 0], rects[:, 0]) and np.allclose(anchors_out[:, 0], rects[:, 0] + rects[:, 2])
    assert np.allclose(anchors_in[:, 1], column.centres[:, 1])


def test_image_pixel_centres(cnn_layout) -> None:
    image = cnn_layout.columns[0]
    x0, y0, width, height = image.image_rect()
    assert image.pixel_centre(0) == pytest.approx((x0 + width / 56, y0 + height / 56))
    assert image.pixel_centre(27 * 28 + 27) == pytest.approx((x0 + width * 55 / 56, y0 + height * 55 / 56))
    assert image.pixel_centre(3 * 28 + 5) == pytest.approx((x0 + width * 11 / 56, y0 + height * 7 / 56))
    out = image.out_anchors()  # one edge source per input channel, on the right edge
    assert out.shape == (1, 2) and out[0, 0] == pytest.approx(x0 + width)


# ---------------------------------------------------------------------------- hit testing
def unit_centres(layout) -> list[np.ndarray]:
    """Per column, (n_units, 2) centre of every unit (each pixel of an image)."""
    return [np.array([c.unit_position(u) for u in range(c.n_units)]) for c in layout.columns]


def slow_node_at(layout, centres_per_column, x: float, y: float, pixel: tuple[float, float]):
    """Brute-force twin: every unit's own footprint (pixel cell, thumbnail + 2 px, dot radius in px).

    Footprints of neighbouring dots overlap when they are drawn close: the nearest one wins.
    """
    px, py = pixel
    for column, centres in zip(layout.columns, centres_per_column):
        dx, dy = np.abs(x - centres[:, 0]), np.abs(y - centres[:, 1])
        if column.kind == "image":
            h, w = column.image_hw
            half_w, half_h = column.width / w / 2, column.size / h / 2
            dx, dy = x - centres[:, 0], y - centres[:, 1]
            inside = (-half_w <= dx) & (dx < half_w) & (-half_h <= dy) & (dy < half_h)
        elif column.kind == "maps":
            inside = (dx <= column.size / 2 + 2 * px) & (dy <= column.size / 2 + 2 * py)
        else:
            radius = max(column.size / 2 + 3, 5)
            inside = (dx <= radius * px) & (dy <= radius * py)
        if inside.any():
            units = np.flatnonzero(inside)
            return column.stage, int(units[np.argmin(np.abs(y - centres[units, 1]))])
    return None


@pytest.mark.parametrize("name", LAYOUTS)
def test_every_unit_is_hit_at_its_centre(request, name) -> None:
    layout = request.getfixturevalue(name)
    for column in layout.columns:
        for unit in range(column.n_units):
            assert node_at(layout, *column.unit_position(unit), PIXEL) == (column.stage, unit)


@pytest.mark.parametrize("name", LAYOUTS)
def test_hit_testing_matches_a_brute_force_twin(request, name) -> None:
    layout = request.getfixturevalue(name)
    x0, y0, width, height = layout.bounds()
    rng = np.random.default_rng(3)
    points = np.column_stack([rng.uniform(x0, x0 + width, 3000), rng.uniform(y0, y0 + height, 3000)])
    # and points just around nodes, where the margins decide
    for column in layout.columns:
        centres = np.repeat(column.centres, 8, axis=0)
        near = centres + rng.normal(scale=max(column.size, 8.0), size=centres.shape)
        points = np.concatenate([points, near])
    hits = 0
    centres = unit_centres(layout)
    for x, y in points:
        expected = slow_node_at(layout, centres, x, y, PIXEL)
        assert node_at(layout, x, y, PIXEL) == expected, (x, y)
        hits += expected is not None
    assert hits > 100  # the sample really hit nodes


def test_empty_space_hits_nothing(mlp_layout) -> None:
    x0, y0, _, _ = mlp_layout.bounds()
    assert node_at(mlp_layout, x0 + 1, y0 + 1, PIXEL) is None
    gap_x = (mlp_layout.columns[1].x + mlp_layout.columns[2].x) / 2
    assert node_at(mlp_layout, gap_x, mlp_layout.height / 2, PIXEL) is None


def test_zooming_in_shrinks_the_dot_margin(mlp_layout) -> None:
    column = mlp_layout.columns[1]
    x, y = column.unit_position(4)
    offset = 8 * PIXEL[0]  # 8 px right of the centre: on a 2.5-unit-per-pixel zoom still a hit
    assert node_at(mlp_layout, x + offset, y, PIXEL) == (column.stage, 4)
    assert node_at(mlp_layout, x + offset, y, (0.1, 0.1)) is None


# ---------------------------------------------------------------------------- selection and keys
def test_selection_markers(cnn_layout) -> None:
    dots = cnn_layout.columns[3]
    ring = selection_marker(cnn_layout, dots.stage, 5)
    assert ring.kind == "ring" and ring.centre == pytest.approx(tuple(dots.centres[5]))
    assert ring.size == dots.size + 7 and len(ring.segments) == 0
    maps = cnn_layout.columns[1]
    box = selection_marker(cnn_layout, maps.stage, 2)
    assert box.kind == "box" and box.segments.shape == (8, 2)
    lo, hi = box.segments.min(axis=0), box.segments.max(axis=0)
    x0, y0, w, h = maps.node_rects()[2]
    assert np.all(lo < (x0, y0)) and np.all(hi > (x0 + w, y0 + h))  # the box surrounds the thumbnail
    image = cnn_layout.columns[0]
    pixel = selection_marker(cnn_layout, 0, 14 * 28 + 9)
    assert pixel.centre == pytest.approx(image.pixel_centre(14 * 28 + 9))
    assert np.all(pixel.segments.max(axis=0) - pixel.segments.min(axis=0) < image.width / 28 + 4)


def test_keyboard_moves(mlp_layout) -> None:
    assert set(DIRECTIONS) == {"up", "down", "left", "right"}
    assert initial_selection(mlp_layout, 7) == (6, 7)
    assert initial_selection(mlp_layout, None) == (6, 0)
    assert moved(mlp_layout, (3, 31), "up") == (3, 30)
    assert moved(mlp_layout, (3, 0), "up") == (3, 0)  # clamped
    assert moved(mlp_layout, (3, 30), "right") == (5, round(30 / 31 * 15))  # same relative height
    assert moved(mlp_layout, (6, 9), "right") is None
    assert moved(mlp_layout, (6, 9), "down") == (6, 9)
    assert moved(mlp_layout, (3, 31), "left") == (0, 27 * 28 + 14)  # bottom row, middle of the image
    assert moved(mlp_layout, (0, 27 * 28 + 14), "up") == (0, 26 * 28 + 14)  # one pixel row up
    assert moved(mlp_layout, (0, 27 * 28 + 14), "down") is None
    assert moved(mlp_layout, (0, 5), "left") is None
    assert moved(mlp_layout, (0, 14 * 28 + 3), "right") == (3, round(14 / 27 * 31))
