"""Two-dimensional toy datasets for the binary classifier.

Every generator draws a clean shape, adds isotropic Gaussian noise of standard deviation
``noise`` and returns a shuffled, class-balanced set (class sizes differ by at most one).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from lrp_studio.data.dataset import Dataset, rounded_range
from lrp_studio.errors import DataError, ParameterError

__all__ = ["TOY_NAMES", "make_toy"]



def _moons(rng: np.random.Generator, n: int) -> tuple[np.ndarray, np.ndarray]:
    """Two interleaving half circles; class 0 is the upper moon. Returns two (n_c, 2) arrays."""
    t0 = rng.uniform(0.0, np.pi, n // 2)
    t1 = rng.uniform(0.0, np.pi, n - n // 2)
    upper = np.stack([np.cos(t0), np.sin(t0)], axis=1)
    lower = np.stack([1.0 - np.cos(t1), 0.5 - np.sin(t1)], axis=1)
    return upper, lower


def _circles(rng: np.random.Generator, n: int) -> tuple[np.ndarray, np.ndarray]:
    """Concentric circles of radius 1 (class 0) and 0.5 (class 1)."""
    t0 = rng.uniform(0.0, 2 * np.pi, n // 2)
    t1 = rng.uniform(0.0, 2 * np.pi, n - n // 2)
    outer = np.stack([np.cos(t0), np.sin(t0)], axis=1)
    inner = 0.5 * np.stack([np.cos(t1), np.sin(t1)], axis=1)
    return outer, inner


def _xor(rng: np.random.Generator, n: int) -> tuple[np.ndarray, np.ndarray]:
    """Uniform points in [-1, 1]^2 away from the axes; class 1 where x0 * x1 < 0."""

    def quadrant_points(count: int, same_sign: bool) -> np.ndarray:
        magnitude = rng.uniform(0.1, 1.0, (count, 2))
        sign = rng.choice([-1.0, 1.0], count)
        second = sign if same_sign else -sign
        return magnitude * np.stack([sign, second], axis=1)

    return quadrant_points(n // 2, True), quadrant_points(n - n // 2, False)


def _spiral(rng: np.random.Generator, n: int) -> tuple[np.ndarray, np.ndarray]:
    """Two interleaved Archimedean spirals (1.5 turns), class 1 rotated by pi."""

    def arm(count: int, phase: float) -> np.ndarray:
        t = np.sqrt(rng.uniform(0.0, 1.0, count))  # even density along the arm
        angle = 3.0 * np.pi * t + phase
        return t[:, None] * np.stack([np.cos(angle), np.sin(angle)], axis=1)

    return arm(n // 2, 0.0), arm(n - n // 2, np.pi)


def _gaussians(rng: np.random.Generator, n: int) -> tuple[np.ndarray, np.ndarray]:
    """Two Gaussian blobs (std 0.5) centred at (-1, -1) (class 0) and (1, 1) (class 1)."""
    first = rng.normal(-1.0, 0.5, (n // 2, 2))
    second = rng.normal(1.0, 0.5, (n - n // 2, 2))
    return first, second


_GENERATORS: dict[str, Callable[[np.random.Generator, int], tuple[np.ndarray, np.ndarray]]] = {
    "moons": _moons,
    "circles": _circles,
    "xor": _xor,
    "spiral": _spiral,
    "gaussians": _gaussians,
}
#: Names accepted by :func:`make_toy`.
TOY_NAMES: tuple[str, ...] = tuple(_GENERATORS)


def make_toy(name: str, n_samples: int = 400, noise: float = 0.1, seed: int = 0) -> Dataset:
    """Generate a 2-D binary toy dataset.

    Parameters
    ----------
    name : {"moons", "circles", "xor", "spiral", "gaussians"}
        Which shape to draw.
    n_samples : int
        Total number of samples N (at least 2); class sizes are ``N // 2`` and ``N - N // 2``.
    noise : float
        Standard deviation of the Gaussian noise added to every coordinate (>= 0).
    seed : int
        Seed of ``np.random.default_rng``; equal arguments give identical datasets.

    Returns
    -------
    Dataset
        ``x`` float32 of shape (N, 2), ``y`` int64 in {0, 1} of shape (N,) in shuffled order,
        classes ``["0", "1"]``, input range the data's min/max over both features, rounded
        outwards to 0.1.

    Raises
    ------
    DataError
        If ``name`` is not one of :data:`TOY_NAMES`.
    ParameterError
        If ``n_samples < 2`` or ``noise < 0``.
    """
    if name not in _GENERATORS:
        raise DataError(f"unknown toy dataset {name!r}; valid names: {', '.join(TOY_NAMES)}")
    if int(n_samples) != n_samples or n_samples < 2:
        raise ParameterError(f"toy dataset needs an integer n_samples >= 2, got {n_samples}")
    if not np.isfinite(noise) or noise < 0:
        raise ParameterError(f"toy dataset noise must be a finite number >= 0, got {noise}")
    rng = np.random.default_rng(seed)
    class0, class1 = _GENERATORS[name](rng, int(n_samples))
    x = np.concatenate([class0, class1]) + rng.normal(0.0, noise, (int(n_samples), 2))
    y = np.concatenate([np.zeros(len(class0), np.int64), np.ones(len(class1), np.int64)])
    order = rng.permutation(int(n_samples))
    x = x[order].astype(np.float32)
    return Dataset(
        name=f"toy:{name}",
        x=x,
        y=y[order],
        classes=["0", "1"],
        input_range=rounded_range(x),
    )
