"""Visualisation helpers without Qt: colour maps, heatmap images, graph layout and edge picking."""

from lrp_studio.viz.colormaps import (
    CENTER,
    COLORMAPS,
    DIVERGING,
    colormap_from_anchors,
    get_colormap,
    lut_indices,
)
from lrp_studio.viz.graph_layout import (
    bin_edges_by_sign_and_magnitude,
    strongest,
    top_k_edges,
)
from lrp_studio.viz.heatmap import (
    as_numpy,
    heatmap_png,
    heatmap_rgba,
    normalize_symmetric,
    overlay,
    relevance_to_2d,
    save_png,
    upscale_nearest,
)

__all__ = [
    "CENTER",
    "COLORMAPS",
    "DIVERGING",
    "as_numpy",
    "bin_edges_by_sign_and_magnitude",
    "colormap_from_anchors",
    "get_colormap",
    "heatmap_png",
    "heatmap_rgba",
    "lut_indices",
    "normalize_symmetric",
    "overlay",
    "relevance_to_2d",
    "save_png",
    "strongest",
    "top_k_edges",
    "upscale_nearest",
]
