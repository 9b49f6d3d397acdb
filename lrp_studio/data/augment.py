"""Data augmentation for training: random translations of image batches."""

from __future__ import annotations

import numpy as np

from lrp_studio.errors import DataError, ParameterError

__all__ = ["random_shift"]


def random_shift(x: np.ndarray, max_shift: int, rng: np.random.Generator) -> np.ndarray:
    """Translate every image by its own random whole-pixel offset, filling the uncovered border with 0.

    Each sample gets an offset (dy, dx) drawn uniformly from {-max_shift, ..., max_shift}^2; sample i's
    output pixel (h, w) is ``x[i, :, h - dy, w - dx]`` where that lies inside the image, else 0 (the
    background of MNIST-like data). The usual augmentation of small-digit training (e.g. Simard et al.
    2003 use elastic and affine distortions; this is the translation part).

    Parameters
    ----------
    x : ndarray, shape (N, C, H, W)
        Images (any float dtype; the output has the same dtype).
    max_shift : int
        Largest offset in pixels along each axis, >= 0 (0 returns a copy).
    rng : numpy.random.Generator
        Source of the offsets (seeded by the caller for reproducible training).

    Returns
    -------
    ndarray, shape (N, C, H, W)
        A new array; ``x`` is not modified.

    Raises
    ------
    ParameterError
        ``max_shift`` is negative, not an integer, or not smaller than the image height and width.
    DataError
        ``x`` is not a batch of images (N, C, H, W).
    """
    if isinstance(max_shift, bool) or not isinstance(max_shift, (int, np.integer)) or max_shift < 0:
        raise ParameterError(f"the shift must be an integer >= 0 pixels, got {max_shift!r}")
    if x.ndim != 4:
        raise DataError(f"random shifts need images (N, C, H, W), got shape {tuple(x.shape)}")
    n, _, height, width = x.shape
    s = int(max_shift)
    if s >= min(height, width):
        raise ParameterError(f"a shift of {s} pixels does not fit images of {height} x {width}")
    out = np.zeros_like(x)
    offsets = rng.integers(-s, s + 1, size=(n, 2))
    for dy in range(-s, s + 1):
        for dx in range(-s, s + 1):
            rows = np.flatnonzero((offsets[:, 0] == dy) & (offsets[:, 1] == dx))
            if rows.size:
                out[rows, :, max(dy, 0):height + min(dy, 0), max(dx, 0):width + min(dx, 0)] = \
                    x[rows, :, max(-dy, 0):height + min(-dy, 0), max(-dx, 0):width + min(-dx, 0)]
    return out
