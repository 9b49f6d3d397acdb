"""Colour lookup tables."""

from __future__ import annotations

import numpy as np
import pytest

from lrp_studio.errors import ParameterError
from lrp_studio.viz import (
    CENTER,
    COLORMAPS,
    DIVERGING,
    colormap_from_anchors,
    get_colormap,
    lut_indices,
)


def test_expected_maps_exist() -> None:
    assert {"bwr", "seismic", "coldnhot", "gray", "cbsafe"} <= set(COLORMAPS)
    assert DIVERGING <= set(COLORMAPS) and "gray" not in DIVERGING


@pytest.mark.parametrize("name", list(COLORMAPS))
def test_tables_are_256x3_uint8_read_only(name: str) -> None:
    lut = get_colormap(name)
    assert lut.shape == (256, 3) and lut.dtype == np.uint8
    with pytest.raises(ValueError):
        lut[0, 0] = 1


@pytest.mark.parametrize("name", ["bwr", "seismic", "cbsafe"])
def test_light_centre(name: str) -> None:
    assert np.all(get_colormap(name)[CENTER] >= 200)


def test_coldnhot_black_centre() -> None:
    assert np.array_equal(get_colormap("coldnhot")[CENTER], [0, 0, 0])


@pytest.mark.parametrize("name", sorted(DIVERGING))
def test_negative_blueish_positive_reddish(name: str) -> None:
    lut = get_colormap(name).astype(int)
    for index in (1, 32, 64, 100):
        red, _, blue = lut[index]
        assert blue > red, (name, index)
    for index in (156, 192, 230):
        red, _, blue = lut[index]
        assert red > blue, (name, index)


@pytest.mark.parametrize("name", sorted(DIVERGING))
def test_diverging_maps_move_away_from_centre(name: str) -> None:
    lut = get_colormap(name).astype(int)
    distance = np.abs(lut - lut[CENTER]).sum(axis=1)
    assert np.all(np.diff(distance[: CENTER + 1]) <= 0)
    assert np.all(np.diff(distance[CENTER:]) >= 0)


def test_exact_anchor_colours() -> None:
    bwr = get_colormap("bwr")
    assert np.array_equal(bwr[[0, 128, 255]], [[0, 0, 255], [255, 255, 255], [255, 0, 0]])
    assert np.array_equal(get_colormap("gray")[[0, 255]], [[0, 0, 0], [255, 255, 255]])
    assert np.array_equal(get_colormap("seismic")[128], [208, 208, 208])


def test_gray_is_monotone_gray() -> None:
    lut = get_colormap("gray").astype(int)
    assert np.all(lut[:, 0] == lut[:, 1]) and np.all(lut[:, 1] == lut[:, 2])
    assert np.all(np.diff(lut[:, 0]) >= 0)


def test_unknown_name_lists_valid_names() -> None:
    with pytest.raises(ParameterError, match="bwr.*coldnhot"):
        get_colormap("viridis")


def test_anchors_validation() -> None:
    with pytest.raises(ParameterError):
        colormap_from_anchors([(0, "000"), (200, "fff")])
    with pytest.raises(ParameterError):
        colormap_from_anchors([(0, "0000"), (255, "fff")])


def test_lut_indices_symmetric() -> None:
    values = np.array([-1.0, -0.5, 0.0, 0.5, 1.0, 2.0, np.nan])
    assert lut_indices(values).tolist() == [1, 64, 128, 192, 255, 255, 128]
    offsets = lut_indices(values[:5]).astype(int) - CENTER
    assert np.array_equal(lut_indices(-values[:5]).astype(int) - CENTER, -offsets)


def test_bwr_is_mirror_symmetric() -> None:
    lut = get_colormap("bwr")
    for offset in range(128):
        assert np.array_equal(lut[CENTER - offset][::-1], lut[CENTER + offset])
