"""Line plots of perturbation (faithfulness) curves, drawn with Pillow only (no matplotlib).

The plot is drawn at twice its size and scaled down, which smooths the lines. One colour per
method; the random-order reference is drawn dashed in gray; the legend sits to the right of the
axes so it never hides a curve.
"""

from __future__ import annotations

import math
import os
from typing import Mapping, Sequence

import numpy as np
from PIL import Image, ImageDraw

from lrp_studio.errors import ParameterError
from lrp_studio.viz.grid import default_font
from lrp_studio.viz.heatmap import save_png

__all__ = ["PALETTE", "nice_ticks", "render_curves", "save_curves_png"]

# Tableau 10 followed by darker companions: distinguishable for up to 16 methods.
PALETTE = [
    (31, 119, 180), (255, 127, 14), (44, 160, 44), (214, 39, 40), (148, 103, 189),
    (140, 86, 75), (227, 119, 194), (188, 189, 34), (23, 190, 207), (0, 0, 0),
    (174, 199, 232), (255, 187, 120), (152, 223, 138), (255, 152, 150), (197, 176, 213), (196, 156, 148),
]
REFERENCE_NAMES = ("random",)
_REFERENCE_COLOUR = (120, 120, 120)


def nice_ticks(low: float, high: float, count: int = 6) -> list[float]:
    """About ``count`` round tick values (1, 2, 2.5 or 5 x 10^k apart) covering [low, high]."""
    if not (math.isfinite(low) and math.isfinite(high)):
        raise ParameterError(f"tick range must be finite, got {low}, {high}")
    if high < low:
        low, high = high, low
    if high == low:
        high = low + 1.0
    raw = (high - low) / max(1, count - 1)
    magnitude = 10 ** math.floor(math.log10(raw))
    step = next(m * magnitude for m in (1, 2, 2.5, 5, 10) if m * magnitude >= raw)
    first = math.floor(low / step + 1e-9) * step
    ticks, value = [], first
    while value <= high + step * 1e-6:
        ticks.append(round(value, 12))
        value += step
    if ticks[-1] < high:
        ticks.append(round(value, 12))
    return ticks


def _format_tick(value: float, step: float) -> str:
    decimals = max(0, -int(math.floor(math.log10(step))) if step > 0 else 0)
    if step * 10 ** decimals % 1 > 1e-6:  # e.g. 2.5
        decimals += 1
    text = f"{value:.{decimals}f}"
    return "0" if text.strip("-0.") == "" else text


def _dashed(draw: ImageDraw.ImageDraw, points: list[tuple[float, float]], fill: tuple[int, ...], width: int,
            dash: float, gap: float) -> None:
    """Polyline drawn as dashes of length ``dash`` separated by ``gap`` (pixels)."""
    on, remaining = True, dash
    for (x0, y0), (x1, y1) in zip(points[:-1], points[1:]):
        length = math.hypot(x1 - x0, y1 - y0)
        done = 0.0
        while done < length - 1e-9:
            step = min(remaining, length - done)
            if on:
                a, b = done / length, (done + step) / length
                draw.line([(x0 + (x1 - x0) * a, y0 + (y1 - y0) * a), (x0 + (x1 - x0) * b, y0 + (y1 - y0) * b)],
                          fill=fill, width=width)
            done += step
            remaining -= step
            if remaining <= 1e-9:
                on = not on
                remaining = dash if on else gap


def render_curves(curves: Mapping[str, Sequence[float]], x: Sequence[float] | None = None, *,
                  labels: Mapping[str, str] | None = None, title: str = "", xlabel: str = "step",
                  ylabel: str = "target output", size: tuple[int, int] = (900, 600),
                  colours: Mapping[str, tuple[int, int, int]] | None = None,
                  legend_title: str | None = None) -> np.ndarray:
    """Draw several curves over a common x axis into an RGBA image.

    Parameters
    ----------
    curves : mapping name -> (L+1,) values
        E.g. the mean MoRF curve of each method; ``"random"`` is drawn dashed in gray.
    x : (L+1,) values, optional
        Shared x coordinates (default 0..L).
    labels : mapping name -> legend text, optional
        E.g. ``"lrp0   AOPC 15.70"`` (default: the name).
    title, xlabel, ylabel : str
    size : (width, height)
        Final image size in pixels (default 900 x 600).
    colours : mapping name -> RGB, optional
        Fixed colours (default: the palette in the order given, random in gray).
    legend_title : str, optional
        A heading above the legend entries (e.g. "method  AOPC").

    Returns
    -------
    ndarray (height, width, 4) uint8
    """
    if not curves:
        raise ParameterError("nothing to plot: no curves given")
    series = {name: np.asarray(values, dtype=np.float64).reshape(-1) for name, values in curves.items()}
    lengths = {v.size for v in series.values()}
    if len(lengths) != 1 or 0 in lengths:
        raise ParameterError(f"all curves need the same non-zero length, got {sorted(lengths)}")
    length = lengths.pop()
    xs = np.arange(length, dtype=np.float64) if x is None else np.asarray(x, dtype=np.float64).reshape(-1)
    if xs.size != length:
        raise ParameterError(f"x has {xs.size} values for curves of length {length}")
    finite = np.concatenate([v[np.isfinite(v)] for v in series.values()])
    if finite.size == 0:
        raise ParameterError("the curves hold no finite values")
    width, height = (int(v) for v in size)
    if width < 300 or height < 200:
        raise ParameterError(f"plot size must be at least 300 x 200, got {width} x {height}")
    labels = dict(labels or {})
    colours = dict(colours or {})
    palette = iter(PALETTE * 4)
    for name in series:
        if name not in colours:
            colours[name] = _REFERENCE_COLOUR if name in REFERENCE_NAMES else next(palette)

    s = 2  # supersampling factor
    canvas = Image.new("RGB", (width * s, height * s), (255, 255, 255))
    draw = ImageDraw.Draw(canvas)
    font, small, big = default_font(14 * s), default_font(12 * s), default_font(17 * s)

    legend_texts = [labels.get(name, name) for name in series]
    legend_w = max(draw.textlength(t, font=small) for t in [*legend_texts, legend_title or ""]) + 44 * s
    legend_w = min(legend_w, width * s * 0.45)
    left, right = 78 * s, width * s - legend_w - 16 * s
    top, bottom = (46 if title else 20) * s, height * s - 62 * s

    y_ticks = nice_ticks(float(finite.min()), float(finite.max()), 7)
    y_low, y_high = y_ticks[0], y_ticks[-1]
    x_low, x_high = float(xs.min()), float(xs.max())
    if x_high == x_low:
        x_low, x_high = x_low - 0.5, x_high + 0.5
    x_ticks = [t for t in nice_ticks(x_low, x_high, 8) if x_low - 1e-9 <= t <= x_high + 1e-9]

    def px(xv: float) -> float:
        return left + (xv - x_low) / (x_high - x_low) * (right - left)

    def py(yv: float) -> float:
        return bottom - (yv - y_low) / (y_high - y_low) * (bottom - top)

    grid_colour, axis_colour, text_colour = (228, 228, 228), (60, 60, 60), (30, 30, 30)
    y_step = y_ticks[1] - y_ticks[0] if len(y_ticks) > 1 else 1.0
    x_step = x_ticks[1] - x_ticks[0] if len(x_ticks) > 1 else 1.0
    for value in y_ticks:
        y = py(value)
        draw.line([(left, y), (right, y)], fill=(170, 170, 170) if value == 0 else grid_colour, width=s)
        text = _format_tick(value, y_step)
        draw.text((left - 8 * s - draw.textlength(text, font=small), y - 7 * s), text, fill=text_colour, font=small)
    for value in x_ticks:
        xv = px(value)
        draw.line([(xv, top), (xv, bottom)], fill=grid_colour, width=s)
        draw.line([(xv, bottom), (xv, bottom + 5 * s)], fill=axis_colour, width=s)
        text = _format_tick(value, x_step)
        draw.text((xv - draw.textlength(text, font=small) / 2, bottom + 8 * s), text, fill=text_colour, font=small)
    draw.rectangle((left, top, right, bottom), outline=axis_colour, width=s)

    # curves: references first, so methods are drawn over them
    order = sorted(series, key=lambda name: name not in REFERENCE_NAMES)
    for name in order:
        values = series[name]
        points = [(px(a), py(b)) for a, b in zip(xs, values) if np.isfinite(b)]
        if len(points) == 1:
            cx, cy = points[0]
            draw.ellipse((cx - 3 * s, cy - 3 * s, cx + 3 * s, cy + 3 * s), fill=colours[name])
        elif name in REFERENCE_NAMES:
            _dashed(draw, points, colours[name], 3 * s, 9 * s, 6 * s)
        else:
            draw.line(points, fill=colours[name], width=2 * s + s // 2, joint="curve")

    # legend, in the order given
    lx, ly = right + 16 * s, top + 4 * s
    if legend_title:
        draw.text((lx, ly), legend_title, fill=text_colour, font=font)
        ly += 26 * s
    for name, text in zip(series, legend_texts):
        y = ly + 9 * s
        if name in REFERENCE_NAMES:
            _dashed(draw, [(lx, y), (lx + 28 * s, y)], colours[name], 3 * s, 7 * s, 4 * s)
        else:
            draw.line([(lx, y), (lx + 28 * s, y)], fill=colours[name], width=3 * s)
        room = legend_w - 40 * s
        while text and draw.textlength(text, font=small) > room:
            text = text[:-1]
        draw.text((lx + 36 * s, ly + 1 * s), text, fill=text_colour, font=small)
        ly += 22 * s

    if title:
        draw.text(((left + right) / 2 - draw.textlength(title, font=big) / 2, 14 * s), title, fill=text_colour, font=big)
    draw.text(((left + right) / 2 - draw.textlength(xlabel, font=font) / 2, bottom + 32 * s), xlabel,
              fill=text_colour, font=font)
    # y label, rotated
    label_w = int(draw.textlength(ylabel, font=font)) + 4 * s
    label = Image.new("RGB", (label_w, 20 * s), (255, 255, 255))
    ImageDraw.Draw(label).text((2 * s, 1 * s), ylabel, fill=text_colour, font=font)
    label = label.rotate(90, expand=True)
    canvas.paste(label, (8 * s, int((top + bottom) / 2 - label.height / 2)))

    image = canvas.resize((width, height), Image.LANCZOS).convert("RGBA")
    return np.asarray(image, dtype=np.uint8).copy()


def save_curves_png(path: str | os.PathLike[str], curves: Mapping[str, Sequence[float]],
                    x: Sequence[float] | None = None, **options: object) -> np.ndarray:
    """Render with :func:`render_curves` and write the PNG atomically; returns the pixels."""
    image = render_curves(curves, x, **options)  # type: ignore[arg-type]
    save_png(path, image)
    return image
