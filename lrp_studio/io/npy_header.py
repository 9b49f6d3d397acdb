"""Read a ``.npy`` header (shape and dtype) without reading or allocating the data."""

from __future__ import annotations

from typing import BinaryIO

import numpy as np


def read_npy_header(handle: BinaryIO) -> tuple[tuple[int, ...], np.dtype]:
    """Shape and dtype of the ``.npy`` array at ``handle``'s position (format 1.0, 2.0 or 3.0).

    Raises
    ------
    ValueError
        Not a ``.npy`` header, or a version NumPy cannot read.
    """
    version = np.lib.format.read_magic(handle)
    if version == (1, 0):
        shape, _, dtype = np.lib.format.read_array_header_1_0(handle)
    elif version == (2, 0):
        shape, _, dtype = np.lib.format.read_array_header_2_0(handle)
    else:
        reader = getattr(np.lib.format, "_read_array_header", None)
        if reader is None:
            raise ValueError(f"unsupported .npy format version {version}")
        shape, _, dtype = reader(handle, version)
    return tuple(int(v) for v in shape), np.dtype(dtype)
