"""random_shift: every image is its input translated by an offset within the bound, zero-filled (loop twin)."""

from __future__ import annotations

import numpy as np
import pytest

from lrp_studio.data.augment import random_shift
from lrp_studio.errors import DataError, ParameterError


def shifted_by_loops(image: np.ndarray, dy: int, dx: int) -> np.ndarray:
    """out[c, h, w] = image[c, h - dy, w - dx] inside the image, else 0 (formula-literal)."""
    channels, height, width = image.shape
    out = np.zeros_like(image)
    for c in range(channels):
        for h in range(height):
            for w in range(width):
                if 0 <= h - dy < height and 0 <= w - dx < width:
                    out[c, h, w] = image[c, h - dy, w - dx]
    return out


def offsets_of(x: np.ndarray, y: np.ndarray, s: int) -> list[tuple[int, int]]:
    """The offset that turns each x[i] into y[i] (asserting exactly one within the bound does)."""
    found = []
    for image, result in zip(x, y):
        matches = [(dy, dx) for dy in range(-s, s + 1) for dx in range(-s, s + 1)
                   if np.array_equal(shifted_by_loops(image, dy, dx), result)]
        assert len(matches) == 1, matches
        found.append(matches[0])
    return found


def test_each_image_is_its_input_shifted_within_the_bound():
    rng = np.random.default_rng(5)
    x = rng.random((60, 2, 7, 6)).astype(np.float32) + 0.5  # no zeros: every offset is identifiable
    y = random_shift(x, 2, np.random.default_rng(1))
    assert y.shape == x.shape and y.dtype == x.dtype
    offsets = offsets_of(x, y, 2)
    assert {dy for dy, _ in offsets} == set(range(-2, 3)) and {dx for _, dx in offsets} == set(range(-2, 3))
    np.testing.assert_array_equal(random_shift(x, 2, np.random.default_rng(1)), y)  # seeded
    assert not np.array_equal(random_shift(x, 2, np.random.default_rng(2)), y)
    assert np.all(x >= 0.5)  # the input is not modified


def test_zero_shift_is_a_copy_and_bad_arguments_are_refused():
    x = np.ones((2, 1, 4, 4), np.float32)
    same = random_shift(x, 0, np.random.default_rng(0))
    np.testing.assert_array_equal(same, x)
    assert same is not x
    for bad in (-1, 1.5, True, 4):
        with pytest.raises(ParameterError):
            random_shift(x, bad, np.random.default_rng(0))
    with pytest.raises(DataError, match="need images"):
        random_shift(np.ones((3, 16), np.float32), 1, np.random.default_rng(0))
