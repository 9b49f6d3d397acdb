"""``toy:shapes``: small RGB images of one coloured shape on a textured background, with its pixel mask.

A dataset with ground truth for explanations (in the spirit of CLEVR-XAI, Arras et al. 2022,
"CLEVR-XAI: A benchmark dataset for the ground truth evaluation of neural network explanations",
Information Fusion 81): the class is the shape (circle, square, triangle, cross), so the evidence
for it lies inside the shape's mask, and a heatmap can be scored by how much of its relevance
falls there (:mod:`lrp_studio.lrp.localisation`).

Each 32x32 image: a background of smooth colour texture (a 4x4 grid of random colours, bilinearly
upsampled) plus pixel noise (Gaussian, sd 0.06), one filled shape of a random colour at least 0.35
away (Euclidean RGB distance) from the background under it, radius 6..11 pixels, at a random
position inside the frame; values in [0, 1]. Generated with ``np.random.default_rng(seed)``,
offline; equal arguments give identical data.
"""

from __future__ import annotations

import numpy as np

from lrp_studio.data.dataset import Dataset
from lrp_studio.errors import DataError

__all__ = ["SHAPE_CLASSES", "SHAPES_SPLITS", "load_shapes", "make_shapes", "shape_mask"]

SHAPE_CLASSES = ["circle", "square", "triangle", "cross"]

#: ``toy:shapes`` (training, 6,000 images, seed 0) and ``toy:shapes:test`` (held out, 500, seed 1).
SHAPES_SPLITS = {"": (6000, 0), "train": (6000, 0), "test": (500, 1)}

SIDE = 32


def shape_mask(kind: int, cy: float, cx: float, radius: float, side: int = SIDE) -> np.ndarray:
    """The pixels of shape ``kind`` (index into :data:`SHAPE_CLASSES`) centred at (cy, cx); (side, side) bool.

    circle: distance <= r; square: |dy|, |dx| <= 0.8 r; triangle: apex up, base 1.6 r wide at dy = 0.7 r,
    apex at dy = -0.9 r; cross: two bars 0.6 r thick (|dy| <= 0.3 r with |dx| <= r, and transposed).
    """
    dy, dx = np.mgrid[0:side, 0:side].astype(np.float64)
    dy, dx = dy - cy, dx - cx
    if kind == 0:
        return dy**2 + dx**2 <= radius**2
    if kind == 1:
        return (np.abs(dy) <= 0.8 * radius) & (np.abs(dx) <= 0.8 * radius)
    if kind == 2:
        top, bottom = -0.9 * radius, 0.7 * radius
        half_width = 0.8 * radius * (dy - top) / (bottom - top)
        return (dy >= top) & (dy <= bottom) & (np.abs(dx) <= half_width)
    if kind == 3:
        bar = 0.3 * radius
        return ((np.abs(dy) <= bar) & (np.abs(dx) <= radius)) | ((np.abs(dx) <= bar) & (np.abs(dy) <= radius))
    raise DataError(f"unknown shape index {kind}; shapes: {', '.join(SHAPE_CLASSES)}")


def _background(rng: np.random.Generator) -> np.ndarray:
    """Smooth colour texture (3, SIDE, SIDE): a 4x4 grid of random colours, bilinearly upsampled."""
    grid = rng.uniform(0.1, 0.9, (3, 4, 4))
    t = (np.arange(SIDE) + 0.5) / SIDE * 3  # grid coordinates 0..3
    i0 = np.clip(np.floor(t).astype(int), 0, 2)
    f = t - i0
    rows = grid[:, i0] * (1 - f)[None, :, None] + grid[:, i0 + 1] * f[None, :, None]  # (3, SIDE, 4)
    return rows[:, :, i0] * (1 - f)[None, None, :] + rows[:, :, i0 + 1] * f[None, None, :]


def _colour_against(rng: np.random.Generator, under: np.ndarray) -> np.ndarray:
    """A random RGB colour at least 0.35 from ``under`` (3,), the mean background beneath the shape."""
    for _ in range(100):
        colour = rng.uniform(0.0, 1.0, 3)
        if np.linalg.norm(colour - under) >= 0.35:
            return colour
    return np.where(under > 0.5, 0.0, 1.0)


def make_shapes(n_samples: int = 2000, seed: int = 0, name: str = "toy:shapes") -> Dataset:
    """Generate ``n_samples`` shape images with their masks (classes balanced, shuffled).

    Returns
    -------
    Dataset
        ``x`` (N, 3, 32, 32) float32 in [0, 1], ``y`` (N,) in 0..3, classes :data:`SHAPE_CLASSES`,
        ``masks`` (N, 32, 32) bool, input range (0, 1).

    Raises
    ------
    DataError
        ``n_samples`` < 4.
    """
    if int(n_samples) != n_samples or n_samples < len(SHAPE_CLASSES):
        raise DataError(f"toy:shapes needs at least {len(SHAPE_CLASSES)} samples, got {n_samples}")
    rng = np.random.default_rng(seed)
    labels = rng.permutation(np.arange(int(n_samples)) % len(SHAPE_CLASSES))
    x = np.empty((len(labels), 3, SIDE, SIDE), dtype=np.float32)
    masks = np.empty((len(labels), SIDE, SIDE), dtype=bool)
    for i, kind in enumerate(labels):
        radius = rng.uniform(6.0, 11.0)
        cy, cx = rng.uniform(radius, SIDE - 1 - radius, 2)
        mask = shape_mask(int(kind), cy, cx, radius)
        image = _background(rng)
        colour = _colour_against(rng, image[:, mask].mean(axis=1))
        image[:, mask] = colour[:, None]
        image += rng.normal(0.0, 0.06, image.shape)
        x[i] = np.clip(image, 0.0, 1.0)
        masks[i] = mask
    return Dataset(name, x, labels.astype(np.int64), list(SHAPE_CLASSES), (0.0, 1.0), masks=masks)


def load_shapes(split: str = "") -> Dataset:
    """``toy:shapes`` (6,000 training images) or ``toy:shapes:test`` (500 held out, another seed)."""
    if split not in SHAPES_SPLITS:
        raise DataError(f"toy:shapes:{split}: unknown split; use toy:shapes or toy:shapes:test")
    n, seed = SHAPES_SPLITS[split]
    return make_shapes(n, seed, "toy:shapes" + (f":{split}" if split else ""))
