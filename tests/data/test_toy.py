"""2-D toy generators."""

from __future__ import annotations

import numpy as np
import pytest

from lrp_studio.data import TOY_NAMES, make_toy
from lrp_studio.errors import DataError, ParameterError


def test_names() -> None:
    assert set(TOY_NAMES) == {"moons", "circles", "xor", "spiral", "gaussians"}


@pytest.mark.parametrize("name", TOY_NAMES)
def test_shapes_types_and_balance(name: str) -> None:
    data = make_toy(name, n_samples=300)
    assert data.x.shape == (300, 2) and data.x.dtype == np.float32
    assert data.y.shape == (300,) and data.y.dtype == np.int64
    assert set(np.unique(data.y)) == {0, 1}
    assert np.array_equal(np.bincount(data.y), [150, 150])
    assert data.classes == ["0", "1"]
    assert np.all(np.isfinite(data.x))
    low, high = data.input_range
    assert low <= data.x.min() and data.x.max() <= high
    assert high - low < data.x.max() - data.x.min() + 0.25


@pytest.mark.parametrize("name", TOY_NAMES)
def test_deterministic_per_seed(name: str) -> None:
    first, again, other = make_toy(name, seed=3), make_toy(name, seed=3), make_toy(name, seed=4)
    assert np.array_equal(first.x, again.x) and np.array_equal(first.y, again.y)
    assert not np.array_equal(first.x, other.x)


@pytest.mark.parametrize("name", TOY_NAMES)
def test_classes_are_shuffled(name: str) -> None:
    y = make_toy(name, n_samples=200).y
    assert 0 < y[:100].sum() < 100


def test_odd_sample_count_is_balanced_within_one() -> None:
    assert sorted(np.bincount(make_toy("xor", n_samples=101).y)) == [50, 51]


def test_shapes_have_their_geometry() -> None:
    circles = make_toy("circles", noise=0.0)
    radius = np.linalg.norm(circles.x, axis=1)
    assert np.allclose(radius[circles.y == 0], 1.0, atol=1e-5)
    assert np.allclose(radius[circles.y == 1], 0.5, atol=1e-5)
    xor = make_toy("xor", noise=0.0)
    assert np.array_equal(xor.y, (xor.x[:, 0] * xor.x[:, 1] < 0).astype(np.int64))
    blobs = make_toy("gaussians", n_samples=2000, noise=0.0)
    assert np.allclose(blobs.x[blobs.y == 1].mean(axis=0), [1.0, 1.0], atol=0.1)


def test_noise_scales_the_spread() -> None:
    clean = make_toy("circles", noise=0.0, seed=0)
    noisy = make_toy("circles", noise=0.3, seed=0)
    assert np.linalg.norm(noisy.x, axis=1).std() > np.linalg.norm(clean.x, axis=1).std() + 0.1


def test_unknown_name_lists_valid_names() -> None:
    with pytest.raises(DataError, match="moons, circles, xor, spiral, gaussians"):
        make_toy("bananas")


@pytest.mark.parametrize(("n_samples", "noise"), [(1, 0.1), (10, -0.1), (10, float("nan"))])
def test_bad_parameters(n_samples: int, noise: float) -> None:
    with pytest.raises(ParameterError):
        make_toy("moons", n_samples=n_samples, noise=noise)
