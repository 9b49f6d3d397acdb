"""Per-feature relevance of tabular inputs as a horizontal bar chart (PNG), drawn with Pillow.

A CSV sample of F named features is a vector, not an image: a 1 x F heatmap hides which feature is
which. The chart lists the features by decreasing |relevance| (at most ``max_bars``; the rest are
summed in one "other features" line), one bar each from a zero line, red for positive and blue for
negative relevance (the ends of the ``bwr`` colour map), with the value printed beside the bar.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Sequence

import numpy as np
from PIL import Image, ImageDraw

from lrp_studio.errors import ParameterError
from lrp_studio.viz.grid import default_font
from lrp_studio.viz.heatmap import save_png

__all__ = ["bar_rows", "render_relevance_bars", "save_relevance_bars"]

POSITIVE, NEGATIVE = (178, 24, 43), (33, 102, 172)
ROW, LABEL_WIDTH, BAR_WIDTH, VALUE_WIDTH, MARGIN = 22, 170, 320, 80, 10


def bar_rows(relevance: np.ndarray, names: Sequence[str] | None = None, max_bars: int = 20) -> list[tuple[str, float]]:
    """(name, relevance) per shown row: by decreasing |relevance|, ties in feature order; the rest summed.

    Parameters
    ----------
    relevance : (F,) float
    names : F names, optional (default ``feature 0`` .. ``feature F-1``)
    max_bars : int
        Rows of single features; more features give one more row ``"other N features"`` with their sum.

    Raises
    ------
    ParameterError
        ``relevance`` not 1-D, names of another length, or ``max_bars`` < 1.
    """
    values = np.asarray(relevance, dtype=np.float64)
    if values.ndim != 1:
        raise ParameterError(f"a bar chart needs one value per feature (F,), got shape {values.shape}")
    labels = list(names) if names is not None else [f"feature {i}" for i in range(values.size)]
    if len(labels) != values.size:
        raise ParameterError(f"{len(labels)} feature names for {values.size} values")
    if max_bars < 1:
        raise ParameterError(f"max_bars must be >= 1, got {max_bars}")
    order = np.argsort(-np.abs(values), kind="stable")
    rows = [(str(labels[i]), float(values[i])) for i in order[:max_bars]]
    rest = order[max_bars:]
    if rest.size:
        rows.append((f"other {rest.size} features", float(values[rest].sum())))
    return rows


def render_relevance_bars(relevance: np.ndarray, names: Sequence[str] | None = None, title: str = "",
                          max_bars: int = 20) -> np.ndarray:
    """The chart as an RGB array (H, W, 3) uint8; see :func:`bar_rows` for the rows."""
    rows = bar_rows(relevance, names, max_bars)
    font = default_font(13)
    top = MARGIN + (ROW if title else 0)
    width = MARGIN * 2 + LABEL_WIDTH + BAR_WIDTH + VALUE_WIDTH
    height = top + ROW * len(rows) + MARGIN
    image = Image.new("RGB", (width, height), (255, 255, 255))
    draw = ImageDraw.Draw(image)
    if title:
        draw.text((MARGIN, MARGIN), title, fill=(0, 0, 0), font=font)
    scale = max((abs(v) for _, v in rows), default=0.0) or 1.0
    negative = any(v < 0 for _, v in rows)
    zero = MARGIN + LABEL_WIDTH + (BAR_WIDTH // 2 if negative else 0)
    half = BAR_WIDTH // 2 if negative else BAR_WIDTH
    for k, (name, value) in enumerate(rows):
        y = top + k * ROW
        draw.text((MARGIN, y + 3), name[:24], fill=(0, 0, 0), font=font)
        length = int(round(abs(value) / scale * (half - 4)))
        x0, x1 = (zero, zero + length) if value >= 0 else (zero - length, zero)
        if length:
            draw.rectangle((x0, y + 3, x1, y + ROW - 4), fill=POSITIVE if value >= 0 else NEGATIVE)
        draw.text((MARGIN + LABEL_WIDTH + BAR_WIDTH + 6, y + 3), f"{value:+.3g}", fill=(0, 0, 0), font=font)
    draw.line((zero, top, zero, top + ROW * len(rows)), fill=(60, 60, 60), width=1)
    return np.asarray(image)


def save_relevance_bars(path: str | os.PathLike[str], relevance: np.ndarray, names: Sequence[str] | None = None,
                        title: str = "", max_bars: int = 20) -> Path:
    """Write :func:`render_relevance_bars` as a PNG (atomically); returns the path."""
    return save_png(path, render_relevance_bars(relevance, names, title, max_bars))
