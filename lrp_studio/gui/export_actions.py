"""Export from the window: heatmap PNGs (current sample or many), relevance arrays, the graph image.

Heatmaps are written from the relevance arrays with :func:`lrp_studio.viz.heatmap_png`
(nearest-neighbour upscaling), never by grabbing the screen.
"""

from __future__ import annotations

from pathlib import Path
from typing import Callable

import numpy as np

from lrp_studio.gui.heatmap_widget import as_image
from lrp_studio.gui.state import AppState
from lrp_studio.lrp import explain
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


def export_heatmaps(state: AppState, indices: np.ndarray, directory: str | Path, cmap: str, overlay: bool,
                    progress: Callable[[int, int], bool] | None = None, batch_size: int = 64,
                    scale: int = 10) -> list[Path]:
    """Explain ``indices`` in batches and write one PNG per sample plus ``relevance.npy`` (N, ...).

    ``progress(done, total)`` may return False to cancel. Returns the PNG paths written.
    """
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    dataset = state.dataset
    kwargs = state.explain_arguments()
    written: list[Path] = []
    relevances = []
    total = len(indices)
    for start in range(0, total, batch_size):
        batch = np.asarray(indices[start:start + batch_size], dtype=np.int64)
        exp = explain(state.net, dataset.x[batch], target=state.target, **kwargs)
        predicted = exp.logits.argmax(axis=1)
        relevances.append(exp.relevance)
        for row, sample in enumerate(batch):
            relevance = as_image(exp.relevance[row])
            image = as_image(dataset.x[sample])
            name = f"sample{int(sample):05d}_label{dataset.classes[int(dataset.y[sample])]}_pred" \
                   f"{state.net.classes[int(predicted[row])]}.png"
            heatmap_png(directory / name, relevance, cmap=cmap, scale=scale,
                        overlay_image=image if overlay and image.shape == relevance.shape else None,
                        input_range=dataset.input_range)
            written.append(directory / name)
        if progress is not None and progress(min(start + batch_size, total), total) is False:
            break
    if relevances:
        from lrp_studio.io import atomic_write, save_relevance_npy

        save_relevance_npy(directory / "relevance.npy", np.concatenate(relevances))
        atomic_write(directory / "indices.txt",  # never half-written, like every other file
                     lambda temp: np.savetxt(temp, np.asarray(indices[:len(written)]), fmt="%d"))
    return written
