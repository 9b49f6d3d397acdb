"""Heatmap scaling, colouring, overlay, upscaling and PNG writing."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays
from PIL import Image

from lrp_studio.errors import ParameterError
from lrp_studio.viz import (
    get_colormap,
    heatmap_png,
    heatmap_rgba,
    normalize_symmetric,
    overlay,
    relevance_to_2d,
    save_png,
    upscale_nearest,
)


def test_relevance_to_2d() -> None:
    chw = np.arange(24, dtype=np.float32).reshape(2, 3, 4)
    assert np.array_equal(relevance_to_2d(chw), chw.sum(axis=0))
    assert relevance_to_2d(chw[0]) is not None and relevance_to_2d(chw[0]).shape == (3, 4)
    assert relevance_to_2d(np.ones(5)).shape == (5,)
    with pytest.raises(ParameterError):
        relevance_to_2d(np.ones((1, 1, 2, 2)))


def test_normalize_keeps_sign_and_unit_max() -> None:
    r = np.random.default_rng(0).normal(size=(8, 8)) * 7
    n = normalize_symmetric(r)
    assert n.dtype == np.float32
    assert np.isclose(np.abs(n).max(), 1.0)
    assert np.array_equal(np.sign(n), np.sign(r))
    assert np.allclose(n, r / np.abs(r).max(), atol=1e-6)


def test_normalize_zero_array() -> None:
    assert np.array_equal(normalize_symmetric(np.zeros((3, 3))), np.zeros((3, 3)))


def test_normalize_level_raises_contrast() -> None:
    r = np.array([-4.0, -1.0, 0.0, 1.0, 2.0])
    assert np.allclose(normalize_symmetric(r, level=2.0), [-1.0, -0.5, 0.0, 0.5, 1.0])
    assert np.allclose(normalize_symmetric(r, level=0.5), [-0.5, -0.125, 0.0, 0.125, 0.25])


def test_normalize_shared_vmax() -> None:
    assert np.allclose(normalize_symmetric(np.array([1.0, -2.0]), vmax=4.0), [0.25, -0.5])


@pytest.mark.parametrize("level", [0.0, -1.0, float("nan")])
def test_normalize_rejects_bad_level(level: float) -> None:
    with pytest.raises(ParameterError):
        normalize_symmetric(np.ones(3), level=level)


def test_heatmap_rgba_colours() -> None:
    r = np.array([[1.0, -1.0], [0.0, 0.5]])
    rgba = heatmap_rgba(r, cmap="bwr")
    assert rgba.shape == (2, 2, 4) and rgba.dtype == np.uint8
    assert np.all(rgba[..., 3] == 255)
    assert rgba[0, 0, :3].tolist() == [255, 0, 0]
    assert rgba[0, 1, :3].tolist() == [0, 0, 255]
    assert rgba[1, 0, :3].tolist() == [255, 255, 255]
    assert np.array_equal(rgba[1, 1, :3], get_colormap("bwr")[192])


def test_heatmap_rgba_accepts_chw_and_dense() -> None:
    assert heatmap_rgba(np.ones((3, 4, 5))).shape == (4, 5, 4)
    assert heatmap_rgba(np.ones(7)).shape == (1, 7, 4)


def test_overlay_blends() -> None:
    heat = heatmap_rgba(np.array([[1.0, -1.0]]))
    image = np.array([[0.0, 1.0]])
    out = overlay(heat, image, alpha=0.5)
    assert out.shape == (1, 2, 4) and out.dtype == np.uint8
    assert out[0, 0, :3].tolist() == [128, 0, 0]  # red over black
    assert out[0, 1, :3].tolist() == [128, 128, 255]  # blue over white
    assert np.array_equal(overlay(heat, image, alpha=1.0), heat)


def test_overlay_input_range() -> None:
    heat = heatmap_rgba(np.zeros((1, 2)))
    out = overlay(heat, np.array([[-1.0, 1.0]]), alpha=0.0, input_range=(-1.0, 1.0))
    assert out[0, :, 0].tolist() == [0, 255]


def test_overlay_size_mismatch() -> None:
    with pytest.raises(ParameterError, match="differ"):
        overlay(heatmap_rgba(np.ones((2, 2))), np.ones((3, 3)))


def test_upscale_nearest() -> None:
    img = np.arange(6, dtype=np.uint8).reshape(2, 3)
    big = upscale_nearest(img, 3)
    assert big.shape == (6, 9) and big.dtype == np.uint8
    assert np.array_equal(big[::3, ::3], img)
    assert np.all(big[0:3, 0:3] == 0) and np.all(big[3:, 6:] == 5)
    assert upscale_nearest(np.zeros((2, 2, 4)), 2).shape == (4, 4, 4)
    with pytest.raises(ParameterError):
        upscale_nearest(img, 0)


def test_heatmap_png_round_trip(tmp_path: Path) -> None:
    relevance = np.zeros((1, 28, 28), np.float32)
    relevance[0, 3, 5] = 2.0
    relevance[0, 20, 10] = -2.0
    path = tmp_path / "heat.png"
    written = heatmap_png(path, relevance, cmap="bwr", scale=4)
    with Image.open(path) as image:
        assert image.size == (112, 112)
        pixels = np.asarray(image.convert("RGBA"))
    assert np.array_equal(pixels, written)
    assert pixels[3 * 4 + 1, 5 * 4 + 2, :3].tolist() == [255, 0, 0]
    assert pixels[20 * 4 + 3, 10 * 4, :3].tolist() == [0, 0, 255]
    assert pixels[0, 0, :3].tolist() == [255, 255, 255]
    assert [p.name for p in tmp_path.iterdir()] == ["heat.png"]  # no temp files left behind


def test_heatmap_png_with_overlay(tmp_path: Path) -> None:
    relevance = np.zeros((4, 4))
    relevance[1, 1] = 1.0
    written = heatmap_png(
        tmp_path / "o.png", relevance, scale=2, overlay_image=np.zeros((1, 4, 4)), alpha=1.0
    )
    assert written.shape == (8, 8, 4) and written[2, 2, :3].tolist() == [255, 0, 0]


def test_save_png_modes_and_overwrite(tmp_path: Path) -> None:
    path = tmp_path / "x.png"
    save_png(path, np.full((3, 4), 7, np.uint8))
    save_png(path, np.full((3, 4, 3), 9, np.uint8))
    with Image.open(path) as image:
        assert image.mode == "RGB" and image.size == (4, 3)
    with pytest.raises(ParameterError):
        save_png(path, np.zeros((3, 4), np.float32))


def test_save_png_to_missing_directory(tmp_path: Path) -> None:
    from lrp_studio.errors import DataError

    with pytest.raises(DataError, match=r"x\.png: cannot write PNG"):
        save_png(tmp_path / "no" / "x.png", np.zeros((2, 2), np.uint8))


@settings(max_examples=60, deadline=None, database=None)
@given(
    arrays(np.float64, st.tuples(st.integers(1, 6), st.integers(1, 6)),
           elements=st.floats(-1e6, 1e6, allow_nan=False)),
    st.floats(0.1, 10.0),
)
def test_normalize_properties(relevance: np.ndarray, level: float) -> None:
    n = normalize_symmetric(relevance, level=level)
    assert n.shape == relevance.shape
    assert np.all(np.abs(n) <= 1.0)
    assert np.all((np.sign(n) == np.sign(relevance)) | (n == 0))
    if np.abs(relevance).max() > 0 and level >= 1.0:
        assert np.isclose(np.abs(n).max(), 1.0)
