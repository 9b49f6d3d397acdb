"""Relevance arrays -> RGBA heatmaps and PNG files (NumPy + Pillow only).

Scaling is symmetric, as in Zennit's ``imgify(symmetric=True)``: relevance is divided by its
largest magnitude (or a given ``vmax``, e.g. shared across images), so zero always lands on the
colour map's centre.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
from PIL import Image

from lrp_studio.backend import to_numpy
from lrp_studio.errors import DataError, ParameterError
from lrp_studio.io.atomic import atomic_write
from lrp_studio.viz.colormaps import get_colormap, lut_indices

__all__ = [
    "as_numpy",
    "heatmap_png",
    "heatmap_rgba",
    "input_rgb",
    "normalize_symmetric",
    "overlay",
    "relevance_to_2d",
    "save_png",
    "upscale_nearest",
]


as_numpy = to_numpy  # device arrays (CuPy) are copied to the host


def relevance_to_2d(relevance: np.ndarray) -> np.ndarray:
    """Reduce one sample's relevance to a displayable array.

    Parameters
    ----------
    relevance : numpy.ndarray, shape (C, H, W), (H, W) or (F,)
        Relevance of one sample.

    Returns
    -------
    numpy.ndarray, shape (H, W) or (F,)
        Channel sum for (C, H, W); (H, W) and (F,) unchanged (dense inputs stay 1-D, the
        caller reshapes them).

    Raises
    ------
    ParameterError
        For any other number of dimensions.
    """
    relevance = as_numpy(relevance)
    if relevance.ndim == 3:
        return relevance.sum(axis=0)
    if relevance.ndim in (1, 2):
        return relevance
    raise ParameterError(
        f"relevance of one sample must be (C, H, W), (H, W) or (F,), got shape {relevance.shape}"
    )


def _check_level(level: float) -> float:
    if not np.isfinite(level) or level <= 0:
        raise ParameterError(f"contrast level must be a finite number > 0, got {level}")
    return float(level)


def normalize_symmetric(
    relevance: np.ndarray, level: float = 1.0, vmax: float | None = None
) -> np.ndarray:
    """Scale relevance symmetrically into [-1, 1].

    Parameters
    ----------
    relevance : numpy.ndarray, any shape
        Relevance values (NaN is treated as 0).
    level : float
        Zennit-style contrast (> 0): scaled values are multiplied by ``level`` and clipped, so
        ``level > 1`` saturates large values and raises the contrast of small ones.
    vmax : float, optional
        Magnitude that maps to 1 (before ``level``); defaults to ``max |relevance|``. Pass a
        shared value to compare several images on one scale.

    Returns
    -------
    numpy.ndarray, same shape, float32
        Values in [-1, 1] with the signs of ``relevance``; all zeros if the scale is 0.

    Raises
    ------
    ParameterError
        If ``level <= 0`` or ``vmax < 0``.
    """
    level = _check_level(level)
    values = as_numpy(relevance)
    values = np.nan_to_num(values.astype(np.result_type(values.dtype, np.float32)), nan=0.0)
    scale = float(np.max(np.abs(values), initial=0.0)) if vmax is None else float(vmax)
    if not np.isfinite(scale) or scale < 0:
        raise ParameterError(f"vmax must be a finite number >= 0, got {vmax}")
    if scale == 0.0:
        return np.zeros(values.shape, dtype=np.float32)
    scaled = (values / values.dtype.type(scale)) * values.dtype.type(level)
    return np.clip(scaled, -1.0, 1.0).astype(np.float32)


def heatmap_rgba(
    relevance2d: np.ndarray, cmap: str = "bwr", level: float = 1.0, vmax: float | None = None
) -> np.ndarray:
    """Colour a relevance map with a colour map, zero at the map's centre.

    Parameters
    ----------
    relevance2d : numpy.ndarray, shape (H, W), (C, H, W) or (F,)
        Relevance of one sample; (C, H, W) is summed over channels, (F,) becomes one row.
    cmap : str
        Name of a colour map in :data:`lrp_studio.viz.COLORMAPS`.
    level : float
        Contrast, see :func:`normalize_symmetric`.
    vmax : float, optional
        Shared symmetric scale, see :func:`normalize_symmetric`.

    Returns
    -------
    numpy.ndarray, shape (H, W, 4), uint8
        RGBA image, fully opaque.
    """
    lut = get_colormap(cmap)
    values = relevance_to_2d(relevance2d)
    if values.ndim == 1:
        values = values[None, :]
    indices = lut_indices(normalize_symmetric(values, level=level, vmax=vmax))
    rgba = np.empty(values.shape + (4,), dtype=np.uint8)
    rgba[..., :3] = lut[indices]
    rgba[..., 3] = 255
    return rgba


def input_rgb(image2d: np.ndarray, input_range: tuple[float, float] | None) -> np.ndarray:
    """An input image as the picture drawn: grey for one channel, in colour for three.

    Parameters
    ----------
    image2d : numpy.ndarray, shape (H, W), (1, H, W) or (3, H, W)
        One input sample (channels first, as the networks take it).
    input_range : tuple of float or None
        ``(low, high)`` of the input values, mapped to 0 and 1; None: [0, 1] widened to the
        image's own min/max.

    Returns
    -------
    numpy.ndarray, shape (H, W, 3), float32 in [0, 1]
        R, G, B (equal for a one-channel image).

    Raises
    ------
    ParameterError
        Another shape, or ``low >= high``.
    """
    image = as_numpy(image2d).astype(np.float32)
    if image.ndim == 3 and image.shape[0] in (1, 3):
        image = np.moveaxis(image, 0, -1)
    if image.ndim == 2:
        image = image[..., None]
    if image.ndim != 3 or image.shape[2] not in (1, 3):
        raise ParameterError(
            f"overlay image must be (H, W), (1, H, W) or (3, H, W), got {image2d.shape}"
        )
    if input_range is None:
        low, high = float(np.min(image, initial=0.0)), float(np.max(image, initial=1.0))
    else:
        low, high = (float(v) for v in input_range)
    if not high > low:
        raise ParameterError(f"overlay input range must have low < high, got ({low}, {high})")
    image = np.clip((image - low) / (high - low), 0.0, 1.0)
    return np.broadcast_to(image, image.shape[:2] + (3,))


def overlay(
    rgb_heatmap: np.ndarray,
    image2d: np.ndarray,
    alpha: float = 0.6,
    input_range: tuple[float, float] | None = None,
) -> np.ndarray:
    """Blend a heatmap over the (grayscale) input image.

    Parameters
    ----------
    rgb_heatmap : numpy.ndarray, shape (H, W, 3) or (H, W, 4), uint8
        Heatmap from :func:`heatmap_rgba`.
    image2d : numpy.ndarray, shape (H, W), (1, H, W) or (3, H, W)
        The input sample; values in ``input_range`` (default: [0, 1], widened to the image's
        own min/max if it exceeds that).
    alpha : float
        Weight of the heatmap, in [0, 1].
    input_range : tuple of float, optional
        ``(low, high)`` of the input values, e.g. ``Dataset.input_range``.

    Returns
    -------
    numpy.ndarray, shape (H, W, 4), uint8
        ``alpha * heatmap + (1 - alpha) * image``, fully opaque.
    """
    heat = as_numpy(rgb_heatmap)
    if heat.ndim != 3 or heat.shape[2] not in (3, 4):
        raise ParameterError(f"heatmap must be (H, W, 3) or (H, W, 4), got shape {heat.shape}")
    if not 0.0 <= alpha <= 1.0:
        raise ParameterError(f"overlay alpha must lie in [0, 1], got {alpha}")
    gray = input_rgb(image2d, input_range)
    if gray.shape[:2] != heat.shape[:2]:
        raise ParameterError(f"heatmap {heat.shape[:2]} and image {gray.shape[:2]} differ in size")
    blended = alpha * heat[..., :3].astype(np.float32) + (1.0 - alpha) * 255.0 * gray
    rgba = np.empty(heat.shape[:2] + (4,), dtype=np.uint8)
    rgba[..., :3] = np.rint(blended).clip(0, 255).astype(np.uint8)
    rgba[..., 3] = 255
    return rgba


def upscale_nearest(image: np.ndarray, factor: int) -> np.ndarray:
    """Enlarge an image by pixel repetition (nearest neighbour, no interpolation).

    Parameters
    ----------
    image : numpy.ndarray, shape (H, W) or (H, W, K)
        Image to enlarge.
    factor : int
        Integer scale factor >= 1.

    Returns
    -------
    numpy.ndarray, shape (H * factor, W * factor[, K]), same dtype
    """
    if int(factor) != factor or factor < 1:
        raise ParameterError(f"upscale factor must be an integer >= 1, got {factor}")
    image = as_numpy(image)
    if image.ndim not in (2, 3):
        raise ParameterError(f"image must be (H, W) or (H, W, K), got shape {image.shape}")
    factor = int(factor)
    return np.repeat(np.repeat(image, factor, axis=0), factor, axis=1)


def save_png(path: str | os.PathLike[str], image: np.ndarray) -> Path:
    """Write an image as PNG atomically (temporary file in the same directory, then rename).

    Parameters
    ----------
    path : str or path-like
        Destination file; its directory must exist.
    image : numpy.ndarray, shape (H, W), (H, W, 3) or (H, W, 4), uint8
        Grayscale, RGB or RGBA pixels.

    Returns
    -------
    pathlib.Path
        The written path.

    Raises
    ------
    ParameterError
        If the array is not an 8-bit image.
    DataError
        If the file cannot be written.
    """
    path = Path(path)
    image = as_numpy(image)
    is_image = image.ndim == 2 or (image.ndim == 3 and image.shape[2] in (3, 4))
    if image.dtype != np.uint8 or not is_image:
        raise ParameterError(
            f"PNG needs uint8 (H, W), (H, W, 3) or (H, W, 4), got {image.dtype} {image.shape}"
        )
    try:
        atomic_write(path, lambda temp: Image.fromarray(np.ascontiguousarray(image)).save(temp, format="PNG"))
    except OSError as exc:
        raise DataError(f"{path.name}: cannot write PNG: {exc.strerror or exc}") from exc
    return path


def heatmap_png(
    path: str | os.PathLike[str],
    relevance: np.ndarray,
    cmap: str = "bwr",
    level: float = 1.0,
    scale: int = 8,
    overlay_image: np.ndarray | None = None,
    vmax: float | None = None,
    alpha: float = 0.6,
    input_range: tuple[float, float] | None = None,
) -> np.ndarray:
    """Colour one sample's relevance and save it as an upscaled PNG.

    Parameters
    ----------
    path : str or path-like
        Destination PNG.
    relevance : numpy.ndarray, shape (C, H, W), (H, W) or (F,)
        Relevance of one sample (1-D relevance is drawn as one row).
    cmap, level, vmax
        See :func:`heatmap_rgba`.
    scale : int
        Nearest-neighbour upscaling factor.
    overlay_image : numpy.ndarray, shape (H, W), (1, H, W) or (3, H, W), optional
        Input sample to blend under the heatmap (see :func:`overlay`).
    alpha, input_range
        See :func:`overlay`.

    Returns
    -------
    numpy.ndarray, shape (H * scale, W * scale, 4), uint8
        The pixels written.
    """
    rgba = heatmap_rgba(relevance, cmap=cmap, level=level, vmax=vmax)
    if overlay_image is not None:
        rgba = overlay(rgba, overlay_image, alpha=alpha, input_range=input_range)
    rgba = upscale_nearest(rgba, scale)
    save_png(path, rgba)
    return rgba
