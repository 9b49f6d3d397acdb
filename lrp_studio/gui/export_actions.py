"""Export from the window: heatmap PNGs (current sample or many), relevance arrays, the graph image.

Heatmaps are written from the relevance arrays with :func:`lrp_studio.viz.heatmap_png`
(nearest-neighbour upscaling), never by grabbing the screen.
"""

from __future__ import annotations

from pathlib import Path


from lrp_studio.gui.heatmap_widget import as_image
from lrp_studio.gui.state import AppState
from lrp_studio.viz import heatmap_png


def export_current_heatmap(state: AppState, path: str | Path, cmap: str, overlay: bool, scale: int = 10) -> Path:
    """Write the current sample's heatmap (as shown) to ``path``."""
    exp = state.explanation
    if exp is None or state.explained_index is None:
        raise ValueError("no explanation to export yet")
    relevance = as_image(exp.relevance[0])
    image = as_image(state.input_at(state.explained_index))
    overlay_image = image if overlay and image.shape == relevance.shape else None
    heatmap_png(path, relevance, cmap=cmap, scale=scale, overlay_image=overlay_image,
                input_range=state.dataset.input_range)
    return Path(path)


def export_relevance(state: AppState, path: str | Path) -> Path:
    """Write the current sample's input relevance as ``.npy`` (full shape) or ``.csv`` (2-D table)."""
    from lrp_studio.io import save_relevance_csv, save_relevance_npy

    exp = state.explanation
    if exp is None:
        raise ValueError("no explanation to export yet")
    path = Path(path)
    if path.suffix.lower() == ".csv":
        return save_relevance_csv(path, exp.relevance[0])
    if path.suffix.lower() != ".npy":
        path = path.with_suffix(".npy")
    return save_relevance_npy(path, exp.relevance[0])
