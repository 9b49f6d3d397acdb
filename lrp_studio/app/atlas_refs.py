"""What the GUI's atlas gallery runs off the GUI thread: the cached atlas job, references' conditional heatmaps
and their thumbnails (pure NumPy; the widgets are in :mod:`lrp_studio.gui.atlas_gallery`)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Generator, Mapping

import numpy as np

from lrp_studio.app.atlas import Atlas, atlas_cache_folder, iter_atlas, load_atlas, save_atlas
from lrp_studio.app.distributed import inputs_file, inputs_path
from lrp_studio.backend import to_numpy
from lrp_studio.lrp.conditional import conditional_relevance, crop_box
from lrp_studio.nn.network import Network
from lrp_studio.viz.heatmap import heatmap_rgba, overlay, upscale_nearest

__all__ = ["AtlasOutcome", "ReferenceHeatmaps", "atlas_job", "cached_atlas", "reference_heatmaps", "thumbnail"]

#: Thumbnail side in pixels (a 28 x 28 digit at 2x; crops are scaled up to about the same size).
THUMBNAIL = 56


@dataclass(frozen=True)
class AtlasOutcome:
    """An atlas and where it came from: ``"cache"`` (read from the cache folder) or ``"computed"``."""

    atlas: Atlas
    source: str
    folder: str


def cached_atlas(net: Network, x: np.ndarray, top: int, method: Any, bias: bool | None,
                 params: Mapping[str, Any]) -> AtlasOutcome | None:
    """The cached atlas of ``net`` over ``x`` with this method, or None (a quick look-up: nothing is written).

    The cache folder is :func:`lrp_studio.app.atlas.atlas_cache_folder` (model content, inputs, method with
    its parameters, K) under ``$LRP_STUDIO_CACHE_DIR`` or the user's cache folder.
    """
    folder = atlas_cache_folder(net, inputs_path(to_numpy(net.prepare_input(x))), method,
                                {**params, "bias": bias}, top)
    return AtlasOutcome(load_atlas(folder), "cache", str(folder)) if (folder / "atlas.npz").exists() else None


def atlas_job(net: Network, x: np.ndarray, top: int, method: Any, bias: bool | None, params: Mapping[str, Any],
              names: tuple[str, str]) -> Generator[tuple[int, int], None, AtlasOutcome]:
    """The atlas of ``net`` over the inputs ``x``: read from the cache when there, else computed and cached.

    A generator for the GUI's long-job worker: yields (samples done, total) after each chunk (a
    cancel between two chunks stops it, nothing is cached), returns an :class:`AtlasOutcome`.
    """
    found = cached_atlas(net, x, top, method, bias, params)
    if found is not None:
        return found
    inputs = inputs_file(to_numpy(net.prepare_input(x)))
    folder = atlas_cache_folder(net, inputs, method, {**params, "bias": bias}, top)
    atlas = yield from iter_atlas(net, inputs, top=top, method=method, bias=bias, params=params, names=names)
    save_atlas(atlas, folder)
    return AtlasOutcome(atlas, "computed", str(folder))


@dataclass(frozen=True)
class ReferenceHeatmaps:
    """Conditional heatmaps of one unit for its reference samples.

    Attributes
    ----------
    stage, unit : int
    indices : ndarray (R,) int64
        Dataset indices of the references.
    inputs : ndarray (R, *input shape) float32
    relevance : ndarray (R, *input shape) float32
        CRP conditional heatmaps (:func:`lrp_studio.lrp.conditional.conditional_relevance`).
    """

    stage: int
    unit: int
    indices: np.ndarray
    inputs: np.ndarray
    relevance: np.ndarray


def reference_heatmaps(net: Network, x: np.ndarray, indices: np.ndarray, stage: int, unit: int, method: Any,
                       bias: bool | None, params: Mapping[str, Any]) -> ReferenceHeatmaps:
    """The conditional heatmaps of ``unit`` of ``stage`` for the samples ``x[indices]`` (one batch)."""
    indices = np.unique(np.asarray(indices, dtype=np.int64))
    inputs = np.asarray(x[indices], dtype=np.float32)
    result = conditional_relevance(net, inputs, stage, unit, method, bias=bias, **dict(params))
    return ReferenceHeatmaps(stage, unit, indices, inputs, result.relevance)


def thumbnail(sample: np.ndarray, relevance: np.ndarray, cmap: str = "bwr", cropped: bool = False,
              input_range: tuple[float, float] | None = None) -> np.ndarray:
    """A reference as an RGBA image: its conditional heatmap over the input, optionally cropped.

    Parameters
    ----------
    sample, relevance : ndarray, one sample's input shape (C, H, W), or (F,) for non-image inputs
    cmap : str
        Colour map (symmetric around 0, scaled to the heatmap's own maximum |relevance|).
    cropped : bool
        Crop to the receptive field (:func:`lrp_studio.lrp.conditional.crop_box`) before scaling.
    input_range : (low, high), optional

    Returns
    -------
    ndarray (h, w, 4) uint8, about :data:`THUMBNAIL` pixels on its longer side
    """
    if np.ndim(relevance) != 3:  # dense inputs: one row of features
        return upscale_nearest(heatmap_rgba(np.asarray(relevance).reshape(-1), cmap), 4)
    image = overlay(heatmap_rgba(relevance, cmap), sample, alpha=0.65, input_range=input_range)
    if cropped:
        r0, r1, c0, c1 = crop_box(relevance)
        image = image[r0:r1, c0:c1]
    factor = max(1, int(round(THUMBNAIL / max(image.shape[:2]))))
    return upscale_nearest(np.ascontiguousarray(image), factor)
