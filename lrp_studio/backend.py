"""Array backend: the only module that imports CuPy.

The backend is chosen once per process: ``numpy``, ``cupy`` or ``auto`` (CuPy when
``cupy.is_available()`` reports a usable GPU, NumPy otherwise). The choice comes from
:func:`set_backend`, else the ``LRP_STUDIO_BACKEND`` environment variable, else ``auto``.
Arrays cross the public API as NumPy arrays; :func:`to_numpy` converts at the edges.
"""

from __future__ import annotations

import ctypes
import os
import sys
from types import ModuleType
from typing import Any

import numpy as np

from lrp_studio.errors import ParameterError

BACKEND_NAMES = ("auto", "numpy", "cupy")
ENV_VAR = "LRP_STUDIO_BACKEND"

_xp: ModuleType | None = None


def tune_host_allocator() -> bool:
    """Keep freed NumPy buffers in glibc's heap instead of returning them to the OS.

    Every batch allocates and frees the same few-megabyte arrays (im2col columns, layer
    outputs). By default glibc serves such sizes with fresh ``mmap`` pages and unmaps them on
    free, so each batch pays page faults for every buffer; on the CNN that doubled the time
    of a training epoch. Raising the mmap and trim thresholds (glibc ``mallopt``) lets the
    buffers be reused, as the caching allocators of deep-learning frameworks do. Returns
    True when the settings were applied (Linux with glibc), False elsewhere.

    Process-wide: ``import lrp_studio`` never calls it; the ``lrp-studio`` command line, the GUI
    and the benchmarks do, at start-up.
    """
    if not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL("libc.so.6")
    except OSError:
        return False
    m_trim_threshold, m_top_pad, m_mmap_threshold = -1, -2, -3
    ok = libc.mallopt(m_mmap_threshold, 32 * 2**20)  # glibc's maximum on 64-bit
    ok &= libc.mallopt(m_trim_threshold, 512 * 2**20)
    ok &= libc.mallopt(m_top_pad, 64 * 2**20)
    return bool(ok)



def _load_cupy() -> ModuleType | None:
    """Return the cupy module when it imports and sees a usable GPU, else None."""
    try:
        import cupy
    except Exception:  # ImportError, or a CUDA library failing to load
        return None
    try:
        return cupy if cupy.is_available() else None
    except Exception:
        return None


def set_backend(name: str) -> ModuleType:
    """Choose the array module for this process.

    Parameters
    ----------
    name : {"auto", "numpy", "cupy"}
        ``auto`` picks CuPy when a GPU is usable; ``cupy`` fails when it is not.

    Returns
    -------
    module
        ``numpy`` or ``cupy``.
    """
    global _xp
    name = name.strip().lower()
    if name not in BACKEND_NAMES:
        raise ParameterError(f"unknown backend {name!r}; choose one of {', '.join(BACKEND_NAMES)}")
    if name == "numpy":
        _xp = np
    else:
        cupy = _load_cupy()
        if cupy is None and name == "cupy":
            raise ParameterError("backend 'cupy' requested but CuPy is not installed or no GPU is usable")
        _xp = cupy if cupy is not None else np
    return _xp


def get_xp() -> ModuleType:
    """Return the chosen array module, choosing from ``LRP_STUDIO_BACKEND`` on first use."""
    if _xp is None:
        return set_backend(os.environ.get(ENV_VAR, "auto") or "auto")
    return _xp


def xp_of(*arrays: Any) -> ModuleType:
    """Return the array module (numpy or cupy) that holds ``arrays``."""
    for array in arrays:
        if isinstance(array, np.ndarray) or array is None:
            continue
        module = type(array).__module__
        if module.startswith("cupy"):
            import cupy

            return cupy
    return np


def to_numpy(array: Any) -> np.ndarray:
    """Return ``array`` as a NumPy array (copies device arrays to the host)."""
    if isinstance(array, np.ndarray):
        return array
    if hasattr(array, "get") and type(array).__module__.startswith("cupy"):
        return array.get()
    return np.asarray(array)


def asarray(array: Any, dtype: Any = np.float32) -> Any:
    """Move ``array`` onto the chosen backend with ``dtype`` (no copy when already there)."""
    xp = get_xp()
    return xp.asarray(array, dtype=dtype)


def describe() -> str:
    """Human-readable backend name, e.g. ``NumPy 2.4.6`` or ``CuPy 13.3 on NVIDIA H100``."""
    xp = get_xp()
    if xp is np:
        return f"NumPy {np.__version__}"
    try:
        props = xp.cuda.runtime.getDeviceProperties(xp.cuda.Device().id)
        device = props["name"].decode() if isinstance(props["name"], bytes) else props["name"]
    except Exception:
        device = "GPU"
    return f"CuPy {xp.__version__} on {device}"
