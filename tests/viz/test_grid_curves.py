"""The comparison grid (layout, titles, shared vs per-heatmap scale) and the curve plot PNG."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from lrp_studio.errors import ParameterError
from lrp_studio.viz import heatmap_rgba
from lrp_studio.viz.curves import PALETTE, nice_ticks, render_curves, save_curves_png
from lrp_studio.viz.grid import heatmap_grid, shared_vmax


def _maps(n, shape=(6, 8)):
    rng = np.random.default_rng(0)
    return [rng.normal(size=shape) for _ in range(n)]


def test_grid_places_every_cell_without_overlap():
    maps = _maps(7)
    image, cells = heatmap_grid(maps, [f"m{i}\nsum R 1 / logit 1" for i in range(7)], columns=3, zoom=4,
                                image=np.zeros((1, 6, 8)), return_cells=True)
    assert image.dtype == np.uint8 and image.shape[2] == 4
    assert len(cells) == 8 and [c.index for c in cells] == [-1, 0, 1, 2, 3, 4, 5, 6]
    width = cells[0].cell[2] - cells[0].cell[0]
    height = cells[0].cell[3] - cells[0].cell[1]
    assert image.shape[1] == 3 * width  # three columns
    assert image.shape[0] >= 3 * height  # three rows (+ colour bar)
    for cell in cells:
        x0, y0, x1, y1 = cell.heatmap
        assert (x1 - x0, y1 - y0) == (8 * 4, 6 * 4)
        assert cell.cell[0] <= x0 and x1 <= cell.cell[2] and cell.cell[1] <= y0 and y1 <= cell.cell[3]
    boxes = [c.cell for c in cells]
    for i, a in enumerate(boxes):
        for b in boxes[i + 1 :]:
            assert a[2] <= b[0] or b[2] <= a[0] or a[3] <= b[1] or b[3] <= a[1]
    assert cells[4].contains(cells[4].cell[0] + 1, cells[4].cell[1] + 1)


def test_grid_pixels_are_the_heatmaps():
    maps = _maps(2)
    image, cells = heatmap_grid(maps, ["a", "b"], scale="each", zoom=3, return_cells=True)
    for cell, values in zip(cells, maps):
        x0, y0, x1, y1 = cell.heatmap
        expected = np.repeat(np.repeat(heatmap_rgba(values, vmax=np.abs(values).max()), 3, 0), 3, 1)
        assert np.array_equal(image[y0:y1, x0:x1], expected)


def _centre(image, cell):
    x0, y0, x1, y1 = cell.heatmap
    return image[(y0 + y1) // 2, (x0 + x1) // 2, :3]


def test_shared_scale_versus_each_own_scale():
    """A map of ones and a map of halves: on the shared scale the second is paler; each on its own
    scale, both reach the end of the colour map."""
    ones, halves = np.ones((4, 4)), np.full((4, 4), 0.5)
    full = heatmap_rgba(ones, vmax=1.0)[0, 0, :3]
    half = heatmap_rgba(halves, vmax=1.0)[0, 0, :3]
    assert not np.array_equal(full, half)

    shared, cells = heatmap_grid([ones, halves], ["one", "half"], scale="shared", return_cells=True)
    assert np.array_equal(_centre(shared, cells[0]), full)
    assert np.array_equal(_centre(shared, cells[1]), half)
    assert cells[0].vmax == cells[1].vmax == 1.0

    each, cells = heatmap_grid([ones, halves], ["one", "half"], scale="each", return_cells=True)
    assert np.array_equal(_centre(each, cells[0]), full)
    assert np.array_equal(_centre(each, cells[1]), full)
    assert (cells[0].vmax, cells[1].vmax) == (1.0, 0.5)
    assert shared_vmax([ones, -3 * halves]) == 1.5


def test_grid_highlight_and_errors():
    maps = _maps(3)
    image, cells = heatmap_grid(maps, ["a", "b", "c"], highlight=1, return_cells=True)
    x0, y0, _, _ = cells[1].heatmap
    assert tuple(image[y0 - 2, x0 + 5, :3]) == (230, 140, 0)
    with pytest.raises(ParameterError, match="scale"):
        heatmap_grid(maps, scale="global")
    with pytest.raises(ParameterError, match="same size"):
        heatmap_grid([np.ones((3, 3)), np.ones((4, 4))])
    with pytest.raises(ParameterError, match="titles"):
        heatmap_grid(maps, ["only one"])
    with pytest.raises(ParameterError):
        heatmap_grid([])


def test_grid_accepts_channels_and_flat_relevance():
    image = heatmap_grid([np.ones((3, 5, 5)), np.zeros((3, 5, 5))], ["rgb", "zero"])
    assert image.ndim == 3
    flat = heatmap_grid([np.arange(10.0) - 5], ["flat"], zoom=6)
    assert flat.shape[1] >= 10 * 6


def test_nice_ticks():
    assert nice_ticks(0, 20, 5) == [0, 5, 10, 15, 20]
    ticks = nice_ticks(-0.13, 0.98, 6)
    assert ticks[0] <= -0.13 and ticks[-1] >= 0.98
    steps = np.diff(ticks)
    assert np.allclose(steps, steps[0])
    assert nice_ticks(3, 3)[0] <= 3 <= nice_ticks(3, 3)[-1]


def test_curves_png_is_written_and_readable(tmp_path):
    curves = {"lrp0": np.linspace(20, 1, 51), "gradient": np.linspace(20, 5, 51) ** 1.0,
              "random": np.linspace(20, 14, 51)}
    path = tmp_path / "curves.png"
    pixels = save_curves_png(path, curves, np.linspace(0, 25.5, 51), labels={"lrp0": "lrp0  AOPC 15.7"},
                             title="Region perturbation", xlabel="input removed (%)", ylabel="mean target logit")
    assert pixels.shape == (600, 900, 4)
    with Image.open(path) as png:
        assert png.size == (900, 600)
        data = np.asarray(png.convert("RGB")).astype(int)
    assert np.array_equal(data, pixels[..., :3])
    # each method's colour appears (lines are smoothed, so allow a small distance)
    for colour in PALETTE[:2]:
        distance = np.abs(data - np.array(colour)).sum(axis=2)
        assert (distance < 40).sum() > 200
    # mostly white background with dark text
    assert (data.sum(axis=2) == 765).mean() > 0.5
    assert (data.sum(axis=2) < 150).sum() > 500


def test_render_curves_errors_and_sizes():
    image = render_curves({"a": [3.0, 2.0, 1.0]}, size=(400, 300))
    assert image.shape == (300, 400, 4)
    single = render_curves({"a": [1.0]})
    assert single.shape == (600, 900, 4)
    with pytest.raises(ParameterError, match="length"):
        render_curves({"a": [1, 2], "b": [1, 2, 3]})
    with pytest.raises(ParameterError):
        render_curves({})
    with pytest.raises(ParameterError):
        render_curves({"a": [1, 2]}, x=[0, 1, 2])
