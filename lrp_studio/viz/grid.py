"""A labelled grid of heatmaps (method comparison), drawn with NumPy and Pillow only.

Every cell shows one heatmap under a title of one or more lines (e.g. the method name and
"sum R 7.91 / logit 8.00"). Colours are scaled symmetrically, either with one ``vmax`` shared by
all cells (magnitudes comparable across methods; a colour bar at the bottom gives the scale) or
with each cell's own largest magnitude (shapes comparable; each cell prints its scale).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from lrp_studio.errors import ParameterError
from lrp_studio.viz.colormaps import get_colormap
from lrp_studio.viz.heatmap import as_numpy, heatmap_rgba, relevance_to_2d, upscale_nearest

__all__ = ["GridCell", "SCALES", "default_font", "heatmap_grid", "shared_vmax"]

SCALES = ("shared", "each")

_BACKGROUND = (255, 255, 255, 255)
_TEXT = (20, 20, 20, 255)
_MUTED = (90, 90, 90, 255)
_HIGHLIGHT = (230, 140, 0, 255)


@dataclass
class GridCell:
    """Where a cell landed in the grid image (pixel boxes as (x0, y0, x1, y1), end exclusive).

    Attributes
    ----------
    index : int
        Position in the ``relevances`` list (-1 for the input image cell).
    cell : tuple of int
        The whole cell, title included.
    heatmap : tuple of int
        The heatmap pixels only.
    vmax : float
        The magnitude that maps to the ends of the colour map in this cell.
    """

    index: int
    cell: tuple[int, int, int, int]
    heatmap: tuple[int, int, int, int]
    vmax: float

    def contains(self, x: float, y: float) -> bool:
        x0, y0, x1, y1 = self.cell
        return x0 <= x < x1 and y0 <= y < y1


def default_font(size: int = 13) -> ImageFont.ImageFont | ImageFont.FreeTypeFont:
    """Pillow's bundled default font at ``size`` px (bitmap fallback on Pillow < 10.1)."""
    try:
        return ImageFont.load_default(size=size)
    except TypeError:  # Pillow < 10.1: fixed-size bitmap font
        return ImageFont.load_default()


def _text_width(font: ImageFont.ImageFont | ImageFont.FreeTypeFont, text: str) -> int:
    left, _, right, _ = font.getbbox(text)
    return int(right - left)


def _fit(font: ImageFont.ImageFont | ImageFont.FreeTypeFont, text: str, width: int) -> str:
    """``text`` shortened with '...' so it fits ``width`` pixels."""
    if _text_width(font, text) <= width:
        return text
    while text and _text_width(font, text + "...") > width:
        text = text[:-1]
    return text + "..."


def _as_2d(relevance: np.ndarray) -> np.ndarray:
    values = relevance_to_2d(as_numpy(relevance)).astype(np.float64)
    return values[None, :] if values.ndim == 1 else values


def shared_vmax(relevances: Sequence[np.ndarray]) -> float:
    """Largest |relevance| over all maps (after summing channels), the shared symmetric scale."""
    return max((float(np.max(np.abs(np.nan_to_num(_as_2d(r))), initial=0.0)) for r in relevances), default=0.0)


def _gray_cell(image: np.ndarray) -> np.ndarray:
    """Input sample (C, H, W), (H, W) or (F,) -> RGBA uint8, scaled to its own min..max."""
    values = as_numpy(image).astype(np.float64)
    if values.ndim == 3:
        values = values.mean(axis=0) if values.shape[0] != 3 else values.mean(axis=0)
    if values.ndim == 1:
        values = values[None, :]
    low, high = float(values.min()), float(values.max())
    scaled = (values - low) / (high - low) if high > low else np.zeros_like(values)
    gray = np.rint(255 * (1 - scaled)).astype(np.uint8)  # dark ink on white, as printed digits
    rgba = np.empty(values.shape + (4,), np.uint8)
    rgba[..., :3] = gray[..., None]
    rgba[..., 3] = 255
    return rgba


def heatmap_grid(relevances: Sequence[np.ndarray], titles: Sequence[str] | None = None, scale: str = "shared",
                 cmap: str = "bwr", level: float = 1.0, zoom: int = 5, columns: int | None = None,
                 image: np.ndarray | None = None, image_title: str = "input", highlight: int | None = None,
                 font_size: int = 13, return_cells: bool = False
                 ) -> np.ndarray | tuple[np.ndarray, list[GridCell]]:
    """Compose heatmaps into one labelled RGBA image.

    Parameters
    ----------
    relevances : sequence of arrays, each (C, H, W), (H, W) or (F,)
        One sample's relevance per cell, all of the same spatial size.
    titles : sequence of str, optional
        One title per cell; ``"\\n"`` separates lines (e.g. ``"lrp0\\nsum R 7.9 / logit 8.0"``).
    scale : {"shared", "each"}
        One symmetric scale for all cells (with a colour bar at the bottom) or each cell's own
        (printed under the cell as ``|R| <= vmax``).
    cmap, level
        Colour map and contrast, see :func:`lrp_studio.viz.heatmap_rgba`.
    zoom : int
        Nearest-neighbour upscaling of each heatmap.
    columns : int, optional
        Cells per row (default: up to 6, fewer for few cells).
    image : array, optional
        The input sample, drawn as the first cell (gray, dark ink).
    image_title : str
        Title of the input cell.
    highlight : int, optional
        Index of a cell drawn with an orange frame (the active method).
    font_size : int
    return_cells : bool
        Also return a :class:`GridCell` per cell (for mapping clicks to cells).

    Returns
    -------
    ndarray (height, width, 4) uint8, or (image, cells)
    """
    if scale not in SCALES:
        raise ParameterError(f"unknown scale {scale!r}; choose one of {', '.join(SCALES)}")
    if int(zoom) != zoom or zoom < 1:
        raise ParameterError(f"zoom must be an integer >= 1, got {zoom}")
    maps = [_as_2d(r) for r in relevances]
    if not maps:
        raise ParameterError("the grid needs at least one heatmap")
    if len({m.shape for m in maps}) != 1:
        raise ParameterError(f"all heatmaps must have the same size, got {sorted({m.shape for m in maps})}")
    titles = list(titles) if titles is not None else [f"#{i}" for i in range(len(maps))]
    if len(titles) != len(maps):
        raise ParameterError(f"{len(titles)} titles for {len(maps)} heatmaps")
    zoom = int(zoom)
    font = default_font(font_size)
    small = default_font(max(8, font_size - 2))
    line_h = font_size + 5
    pad = 8
    shared = shared_vmax(maps) if scale == "shared" else None

    cells: list[tuple[int, np.ndarray, list[str], float]] = []
    if image is not None:
        gray = _gray_cell(image)
        if gray.shape[:2] != maps[0].shape:
            raise ParameterError(f"input image {gray.shape[:2]} and heatmaps {maps[0].shape} differ in size")
        cells.append((-1, gray, image_title.split("\n"), float("nan")))
    for index, (values, title) in enumerate(zip(maps, titles)):
        vmax = shared if shared is not None else float(np.max(np.abs(values), initial=0.0))
        cells.append((index, heatmap_rgba(values, cmap=cmap, level=level, vmax=vmax), title.split("\n"), vmax))

    n_cells = len(cells)
    columns = int(columns) if columns else min(n_cells, 6)
    if columns < 1:
        raise ParameterError(f"columns must be >= 1, got {columns}")
    rows = -(-n_cells // columns)
    heat_h, heat_w = maps[0].shape[0] * zoom, maps[0].shape[1] * zoom
    title_lines = max(len(lines) for _, _, lines, _ in cells)
    cell_w = max(heat_w, 120) + 2 * pad
    cell_h = pad + title_lines * line_h + heat_h + (line_h if scale == "each" else 0) + pad
    bar_h = 3 * line_h + pad if scale == "shared" else 0
    width, height = columns * cell_w, rows * cell_h + bar_h

    canvas = Image.new("RGBA", (width, height), _BACKGROUND)
    draw = ImageDraw.Draw(canvas)
    placed: list[GridCell] = []
    for position, (index, rgba, lines, vmax) in enumerate(cells):
        row, col = divmod(position, columns)
        x0, y0 = col * cell_w, row * cell_h
        for number, line in enumerate(lines):
            face, colour = (font, _TEXT) if number == 0 else (small, _MUTED)
            text = _fit(face, line, cell_w - 4)
            draw.text((x0 + (cell_w - _text_width(face, text)) // 2, y0 + pad + number * line_h), text,
                      fill=colour, font=face)
        hx = x0 + (cell_w - heat_w) // 2
        hy = y0 + pad + title_lines * line_h
        canvas.paste(Image.fromarray(upscale_nearest(rgba, zoom)), (hx, hy))
        # frame outside the heatmap pixels (Pillow draws a rectangle's width inwards)
        active = highlight is not None and index == highlight
        line = 3 if active else 1
        draw.rectangle((hx - line, hy - line, hx + heat_w + line - 1, hy + heat_h + line - 1),
                       outline=_HIGHLIGHT if active else (200, 200, 200, 255), width=line)
        if scale == "each" and index >= 0:
            text = f"|R| <= {vmax:.3g}"
            draw.text((x0 + (cell_w - _text_width(small, text)) // 2, hy + heat_h + 4), text, fill=_MUTED, font=small)
        placed.append(GridCell(index, (x0, y0, x0 + cell_w, y0 + cell_h), (hx, hy, hx + heat_w, hy + heat_h), vmax))

    if scale == "shared":
        _colour_bar(canvas, draw, cmap, float(shared or 0.0), (pad, rows * cell_h + pad // 2, width - pad), small, line_h)
    result = np.asarray(canvas, dtype=np.uint8).copy()
    return (result, placed) if return_cells else result


def _colour_bar(canvas: Image.Image, draw: ImageDraw.ImageDraw, cmap: str, vmax: float,
                where: tuple[int, int, int], font: ImageFont.ImageFont | ImageFont.FreeTypeFont, line_h: int) -> None:
    """Horizontal colour bar for the shared scale, labelled -vmax, 0, +vmax."""
    left, top, right = where
    bar_w = min(right - left, 360)
    left = left + (right - left - bar_w) // 2
    lut = get_colormap(cmap)
    positions = np.linspace(0, lut.shape[0] - 1, bar_w).round().astype(int)
    strip = np.empty((line_h, bar_w, 4), np.uint8)
    strip[..., :3] = lut[positions][None]
    strip[..., 3] = 255
    canvas.paste(Image.fromarray(strip), (left, top))
    draw.rectangle((left - 1, top - 1, left + bar_w, top + line_h), outline=(120, 120, 120, 255))
    labels = [(f"-{vmax:.3g}", left), ("0", left + bar_w // 2), (f"+{vmax:.3g}", left + bar_w)]
    for text, x in labels:
        draw.text((x - _text_width(font, text) // 2, top + line_h + 2), text, fill=_MUTED, font=font)
    caption = "shared scale"
    draw.text((left + bar_w + 10, top + 2), caption, fill=_MUTED, font=font)
