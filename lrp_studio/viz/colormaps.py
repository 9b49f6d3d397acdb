"""Colour maps as 256-entry RGB lookup tables.

Diverging maps put zero relevance at index :data:`CENTER` (128); :func:`lut_indices` maps
symmetric values in [-1, 1] to indices 1..255 so that both signs get 127 steps (index 0
repeats index 1). The Zennit maps
use Zennit's anchor colours (``zennit.image.CMAPS``); ``"cbsafe"`` is Paul Tol's colour-blind
safe diverging scheme "BuRd" (blue - white - red).
"""

from __future__ import annotations

import numpy as np

from lrp_studio.errors import ParameterError

__all__ = [
    "CENTER",
    "COLORMAPS",
    "DIVERGING",
    "colormap_from_anchors",
    "get_colormap",
    "lut_indices",
]

#: LUT index of the value 0 in diverging maps.
CENTER = 128


def _hex_to_rgb(code: str) -> tuple[int, int, int]:
    """Parse ``"rgb"`` or ``"rrggbb"`` hexadecimal colours."""
    code = code.lstrip("#")
    if len(code) == 3:
        code = "".join(ch * 2 for ch in code)
    if len(code) != 6:
        raise ParameterError(f"invalid colour {code!r}: expected 3 or 6 hexadecimal digits")
    return int(code[0:2], 16), int(code[2:4], 16), int(code[4:6], 16)


def colormap_from_anchors(anchors: list[tuple[float, str]]) -> np.ndarray:
    """Build a lookup table by linear interpolation between anchor colours.

    Parameters
    ----------
    anchors : list of (position, colour)
        Positions in 0..255, strictly increasing, the first 0 and the last 255; colours as hex
        strings (``"00f"`` or ``"0000ff"``).

    Returns
    -------
    numpy.ndarray, shape (256, 3), uint8
        RGB colour of every LUT index.
    """
    positions = np.array([float(p) for p, _ in anchors])
    if positions[0] != 0 or positions[-1] != 255 or np.any(np.diff(positions) <= 0):
        raise ParameterError("colour-map anchors must increase strictly from 0 to 255")
    colours = np.array([_hex_to_rgb(c) for _, c in anchors], dtype=np.float64)
    index = np.arange(256, dtype=np.float64)
    channels = [np.interp(index, positions, colours[:, c]) for c in range(3)]
    return np.rint(np.stack(channels, axis=1)).clip(0, 255).astype(np.uint8)


def _diverging(negative: list[str], center: str, positive: list[str]) -> list[tuple[float, str]]:
    """Anchors: ``negative`` on 1..128, ``center`` at 128, ``positive`` on 128..255.

    Both signs get 127 steps, matching :func:`lut_indices` (-1 -> 1, +1 -> 255); index 0
    repeats the most negative colour.
    """
    low = list(zip(np.linspace(1, CENTER, len(negative) + 1)[:-1], negative))
    high = list(zip(np.linspace(CENTER, 255, len(positive) + 1)[1:], positive))
    return [(0, negative[0])] + low + [(CENTER, center)] + high


_TOL_BURD_NEGATIVE = ["2166ac", "4393c3", "92c5de", "d1e5f0"]
_TOL_BURD_POSITIVE = ["fddbc7", "f4a582", "d6604d", "b2182b"]

#: Built-in colour maps, name -> (256, 3) uint8 LUT (read-only).
COLORMAPS: dict[str, np.ndarray] = {
    "bwr": colormap_from_anchors(_diverging(["00f"], "fff", ["f00"])),
    "seismic": colormap_from_anchors(_diverging(["0000d0"], "d0d0d0", ["d00000"])),
    "coldnhot": colormap_from_anchors(_diverging(["0ff", "00f"], "000", ["f00", "ff0", "fff"])),
    "cbsafe": colormap_from_anchors(_diverging(_TOL_BURD_NEGATIVE, "f7f7f7", _TOL_BURD_POSITIVE)),
    "gray": colormap_from_anchors([(0, "000"), (255, "fff")]),
}
for _lut in COLORMAPS.values():
    _lut.flags.writeable = False
del _lut

#: Names of the maps whose centre (index 128) stands for zero.
DIVERGING: frozenset[str] = frozenset({"bwr", "seismic", "coldnhot", "cbsafe"})


def get_colormap(name: str) -> np.ndarray:
    """Return the lookup table of a built-in colour map.

    Parameters
    ----------
    name : str
        One of ``COLORMAPS`` (``"bwr"``, ``"seismic"``, ``"coldnhot"``, ``"cbsafe"``, ``"gray"``).

    Returns
    -------
    numpy.ndarray, shape (256, 3), uint8
        Read-only RGB table.

    Raises
    ------
    ParameterError
        If ``name`` is unknown; the message lists the valid names.
    """
    try:
        return COLORMAPS[name]
    except (KeyError, TypeError):
        raise ParameterError(
            f"unknown colour map {name!r}; valid names: {', '.join(COLORMAPS)}"
        ) from None


def lut_indices(normalized: np.ndarray) -> np.ndarray:
    """Map values in [-1, 1] to LUT indices, 0 -> :data:`CENTER`.

    Parameters
    ----------
    normalized : numpy.ndarray, any shape
        Values in [-1, 1] (others are clipped; NaN maps to the centre).

    Returns
    -------
    numpy.ndarray, same shape, uint8
        ``128 + round(127 * v)``: -1 -> 1, 0 -> 128, +1 -> 255.
    """
    values = np.nan_to_num(np.asarray(normalized, dtype=np.float32), nan=0.0)
    return (CENTER + np.rint(np.clip(values, -1.0, 1.0) * 127.0)).astype(np.uint8)
