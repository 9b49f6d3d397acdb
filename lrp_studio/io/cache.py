"""The user's cache folder (neuron atlases, memory-mappable copies of datasets) and content digests."""

from __future__ import annotations

import hashlib
import os
import sys
from pathlib import Path
from typing import Iterable

import numpy as np

__all__ = ["ENV_VAR", "array_digest", "cache_dir"]

#: Overrides the cache folder (tests, shared clusters: a folder every worker can read).
ENV_VAR = "LRP_STUDIO_CACHE_DIR"


def cache_dir(*parts: str) -> Path:
    """``$LRP_STUDIO_CACHE_DIR`` or the user's cache folder (``~/.cache/lrp-studio`` on Linux), joined with
    ``parts`` (not created here)."""
    override = os.environ.get(ENV_VAR, "").strip()
    if override:
        return Path(override).expanduser().joinpath(*parts)
    home = Path.home()
    if sys.platform.startswith("win"):
        base = Path(os.environ.get("LOCALAPPDATA") or home / "AppData" / "Local") / "lrp-studio" / "cache"
    elif sys.platform == "darwin":
        base = home / "Library" / "Caches" / "lrp-studio"
    else:
        base = Path(os.environ.get("XDG_CACHE_HOME") or home / ".cache") / "lrp-studio"
    return base.joinpath(*parts)


def array_digest(arrays: Iterable[np.ndarray], *texts: str) -> str:
    """Hex BLAKE2b digest (32 hex digits) of the arrays' dtypes, shapes and bytes and of ``texts``."""
    digest = hashlib.blake2b(digest_size=16)
    for array in arrays:
        array = np.ascontiguousarray(array)
        digest.update(f"{array.dtype.str}{array.shape}".encode())
        digest.update(array.tobytes() if array.ndim == 0 or array.size == 0 else array.reshape(-1).view(np.uint8))
    for text in texts:
        digest.update(b"\0" + text.encode())
    return digest.hexdigest()
