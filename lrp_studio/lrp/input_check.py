"""Inputs outside the model's value range: a one-line warning with the likely fix.

The z-box rule (Montavon et al. 2017, deep Taylor decomposition) assumes every input lies in
[low, high]; SmoothGrad's noise and the perturbation baselines are scaled to ``input_range``. An
input outside that range (0..255 pixels given to a [0, 1] model, an already normalised tensor)
gives logits and heatmaps that mean nothing, so the CLI (stderr) and the GUI (status bar) say so.
"""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np

from lrp_studio.backend import to_numpy

__all__ = ["range_warning"]

#: Share of the range's width an input may stray beyond it before it is flagged (float noise, JPEG rounding).
RANGE_TOLERANCE = 1e-3


def _bounds_text(low: Any, high: Any) -> str:
    def text(value: Any) -> str:
        values = np.atleast_1d(np.asarray(value, dtype=np.float64)).ravel()
        return f"{values[0]:g}" if np.allclose(values, values[0]) else "[" + ", ".join(f"{v:g}" for v in values) + "]"

    return f"[{text(low)}, {text(high)}]"


def _likely_fix(lo: float, hi: float, low: float, high: float) -> str:
    """The most probable cause of values ``lo..hi`` for a model made for ``low..high``, as advice."""
    if high <= 1.0 + 1e-6 and hi > 1.5 * max(high, 1e-6) and hi <= 255.0 + 1e-3 and lo >= -1e-3:
        return "it looks like 0..255 pixels: divide by 255 (or give the image file itself as --input)"
    if lo < low and hi <= high * 4 and lo > -10 and low >= 0:
        return ("it looks already normalised (mean/std): give the unnormalised values, the model file "
                "says how it normalises")
    return f"rescale the input to [{low:g}, {high:g}]"


def range_warning(x: Any, input_range: Sequence[float] | None, bounds: tuple[Any, Any] | None = None) -> str | None:
    """A warning when ``x`` lies outside the model's ``input_range`` or the z-box ``bounds``; else None.

    Parameters
    ----------
    x : array (N, *input_shape)
        The input(s), in the units the user gives (before any normalisation in the network).
    input_range : (low, high), optional
        The model's declared value range; None skips that check.
    bounds : (low, high), optional
        Explicit z-box bounds (scalars or per channel, broadcast over (C, H, W)) in the same units.

    Returns
    -------
    str or None
        One line: the values' span, the expected range and the likely fix.
    """
    values = np.asarray(to_numpy(x), dtype=np.float64)
    if values.size == 0:
        return None
    lo, hi = float(values.min()), float(values.max())
    if input_range is not None:
        low, high = float(input_range[0]), float(input_range[1])
        slack = RANGE_TOLERANCE * (high - low)
        if lo < low - slack or hi > high + slack:
            return (f"input values span {lo:.4g}..{hi:.4g} but the model's input range is [{low:g}, {high:g}]: "
                    f"{_likely_fix(lo, hi, low, high)}")
    if bounds is not None:
        shape = values.shape[1:]
        try:
            low_b = np.broadcast_to(_per_channel(bounds[0], shape), shape)
            high_b = np.broadcast_to(_per_channel(bounds[1], shape), shape)
        except ValueError:
            return None
        slack = RANGE_TOLERANCE * float(np.max(high_b - low_b))
        if bool((values < low_b - slack).any() or (values > high_b + slack).any()):
            return (f"input values span {lo:.4g}..{hi:.4g}, outside the z-box bounds {_bounds_text(*bounds)}: "
                    "the zbox rule assumes low <= x <= high; set --low/--high to the input's range")
    return None


def _per_channel(value: Any, shape: tuple[int, ...]) -> np.ndarray:
    """A scalar or a per-channel vector (C,) shaped to broadcast over one sample ``shape`` (C, H, W)."""
    array = np.asarray(value, dtype=np.float64)
    if array.ndim == 1 and len(shape) == 3 and array.size == shape[0]:
        return array[:, None, None]
    return array
