"""Reader for IDX files (the MNIST distribution format), plain or gzip-compressed.

An IDX file is a 4-byte magic number ``00 00 TT DD`` (TT: element type, DD: number of
dimensions), DD big-endian uint32 dimension sizes, then the elements in C order, big-endian.
"""

from __future__ import annotations

import contextlib
import gzip
import os
import struct
import zlib
from pathlib import Path
from typing import BinaryIO, Iterator

import numpy as np

from lrp_studio.data.dataset import Dataset
from lrp_studio.errors import DataError

__all__ = ["IDX_DTYPES", "MAX_IDX_ELEMENTS", "load_idx_dataset", "read_idx", "write_idx"]

#: IDX type code -> big-endian NumPy dtype.
IDX_DTYPES: dict[int, np.dtype] = {
    0x08: np.dtype(">u1"),
    0x09: np.dtype(">i1"),
    0x0B: np.dtype(">i2"),
    0x0C: np.dtype(">i4"),
    0x0D: np.dtype(">f4"),
    0x0E: np.dtype(">f8"),
}
#: Headers promising more elements than this are refused before anything is allocated.
MAX_IDX_ELEMENTS = 2**31
_GZIP_MAGIC = b"\x1f\x8b"


@contextlib.contextmanager
def _open(path: Path) -> Iterator[BinaryIO]:
    """Open ``path`` for binary reading; gzip is detected by its magic bytes, not its name."""
    try:
        raw: BinaryIO = open(path, "rb")
    except FileNotFoundError as exc:
        raise DataError(f"{path.name}: file not found ({path})") from exc
    except OSError as exc:
        raise DataError(f"{path.name}: cannot read file: {exc.strerror or exc}") from exc
    with raw:
        is_gzip = raw.read(2) == _GZIP_MAGIC
        raw.seek(0)
        if not is_gzip:
            yield raw
            return
        with gzip.GzipFile(fileobj=raw, mode="rb") as unzipped:
            yield unzipped  # type: ignore[misc]


def _read_exact(path: Path, handle: BinaryIO, n_bytes: int) -> bytes:
    """Read up to ``n_bytes`` bytes, turning decompression errors into DataError."""
    try:
        return handle.read(n_bytes)
    except (OSError, EOFError, zlib.error) as exc:
        raise DataError(f"{path.name}: corrupt gzip data: {exc}") from exc


def _read_header(path: Path, handle: BinaryIO) -> tuple[np.dtype, tuple[int, ...]]:
    """Read and validate the IDX header; return the element dtype and the shape."""
    magic = _read_exact(path, handle, 4)
    if len(magic) < 4:
        raise DataError(f"{path.name}: not an IDX file: only {len(magic)} bytes")
    zero, type_code, ndim = struct.unpack(">HBB", magic)
    if zero != 0:
        raise DataError(f"{path.name}: not an IDX file: bad magic number 0x{magic.hex()}")
    if type_code not in IDX_DTYPES:
        raise DataError(f"{path.name}: unsupported IDX element type 0x{type_code:02X}")
    if ndim == 0:
        raise DataError(f"{path.name}: IDX header declares 0 dimensions")
    dims = _read_exact(path, handle, 4 * ndim)
    if len(dims) < 4 * ndim:
        raise DataError(
            f"{path.name}: truncated IDX header: {ndim} dimensions need {4 + 4 * ndim} bytes"
        )
    shape = struct.unpack(f">{ndim}I", dims)
    n_elements = 1
    for size in shape:
        n_elements *= size
    if n_elements > MAX_IDX_ELEMENTS:
        raise DataError(
            f"{path.name}: IDX header declares an absurd size {_fmt(shape)} "
            f"({n_elements} elements, limit {MAX_IDX_ELEMENTS})"
        )
    return IDX_DTYPES[type_code], tuple(shape)


def _fmt(shape: tuple[int, ...]) -> str:
    return "x".join(str(s) for s in shape)


def read_idx(path: str | os.PathLike[str]) -> np.ndarray:
    """Read an IDX file.

    Parameters
    ----------
    path : str or path-like
        IDX file, plain or gzip-compressed (detected from the content, not the name).

    Returns
    -------
    numpy.ndarray, shape as in the header
        Native-endian array of the IDX element type (uint8, int8, int16, int32, float32 or
        float64).

    Raises
    ------
    DataError
        Missing/unreadable file, bad magic, unknown element type, absurd header (more than
        ``MAX_IDX_ELEMENTS`` elements, refused before reading the data), or a data length that
        does not match the header (truncated or trailing bytes).
    """
    path = Path(path)
    with _open(path) as handle:
        dtype, shape = _read_header(path, handle)
        expected = int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
        data = _read_exact(path, handle, expected)
        if len(data) < expected:
            raise DataError(
                f"{path.name}: truncated IDX file: header says {_fmt(shape)} "
                f"but only {len(data)} of {expected} bytes of data"
            )
        trailing = _read_exact(path, handle, 1)
    if trailing:
        raise DataError(f"{path.name}: IDX file has trailing bytes after the {_fmt(shape)} data")
    array = np.frombuffer(data, dtype=dtype).reshape(shape)
    return array.astype(dtype.newbyteorder("="))


def write_idx(path: str | os.PathLike[str], array: np.ndarray, compress: bool = False) -> None:
    """Write ``array`` as an IDX file (used by tests and exports).

    Parameters
    ----------
    path : str or path-like
        Destination file.
    array : numpy.ndarray, any shape with 1..255 dimensions
        Data of one of the IDX element types (uint8, int8, int16, int32, float32, float64).
    compress : bool
        Gzip the file.

    Raises
    ------
    DataError
        If the dtype has no IDX type code.
    """
    array = np.asarray(array)
    codes = {dt.newbyteorder("="): code for code, dt in IDX_DTYPES.items()}
    native = array.dtype.newbyteorder("=")
    if native not in codes or not 1 <= array.ndim <= 255:
        raise DataError(
            f"{Path(path).name}: cannot write dtype {array.dtype} ndim {array.ndim} as IDX"
        )
    header = struct.pack(">HBB", 0, codes[native], array.ndim)
    header += struct.pack(f">{array.ndim}I", *array.shape)
    payload = header + np.ascontiguousarray(array, dtype=IDX_DTYPES[codes[native]]).tobytes()
    Path(path).write_bytes(gzip.compress(payload) if compress else payload)


def load_idx_dataset(
    images_path: str | os.PathLike[str], labels_path: str | os.PathLike[str]
) -> Dataset:
    """Load an MNIST-style image/label pair of IDX files.

    Parameters
    ----------
    images_path : str or path-like
        IDX file of shape (N, H, W) (or (N, C, H, W)); integer images are divided by 255
        (or by their type's maximum if values exceed 255), float images must already lie in
        [0, 1].
    labels_path : str or path-like
        IDX file of shape (N,) with integer labels in 0..9.

    Returns
    -------
    Dataset
        ``x`` float32 of shape (N, 1, H, W) in [0, 1], ``y`` int64, classes ``"0".."9"``.

    Raises
    ------
    DataError
        On any invalid file or a mismatch between the two files.
    """
    images_path, labels_path = Path(images_path), Path(labels_path)
    images = read_idx(images_path)
    labels = read_idx(labels_path)
    x = _idx_images_to_float(images_path, images)
    if labels.ndim != 1:
        raise DataError(f"{labels_path.name}: labels must be 1-D, got shape {labels.shape}")
    if labels.shape[0] != x.shape[0]:
        raise DataError(
            f"{labels_path.name}: {labels.shape[0]} labels but {images_path.name} holds "
            f"{x.shape[0]} images"
        )
    if labels.dtype.kind not in "iu":
        raise DataError(f"{labels_path.name}: labels must be integers, got {labels.dtype}")
    if labels.size and (labels.min() < 0 or labels.max() > 9):
        raise DataError(
            f"{labels_path.name}: labels must lie in 0..9, got {labels.min()}..{labels.max()}"
        )
    return Dataset(
        name=images_path.name,
        x=x,
        y=labels.astype(np.int64),
        classes=[str(d) for d in range(10)],
        input_range=(0.0, 1.0),
    )


def _idx_images_to_float(path: Path, images: np.ndarray) -> np.ndarray:
    """Convert IDX images of shape (N, H, W) or (N, C, H, W) to float32 (N, C, H, W) in [0, 1]."""
    if images.ndim == 3:
        images = images[:, None, :, :]
    elif images.ndim != 4:
        raise DataError(
            f"{path.name}: images must be (N, H, W) or (N, C, H, W), got shape {images.shape}"
        )
    if images.shape[0] == 0:
        raise DataError(f"{path.name}: IDX file holds no images")
    if images.dtype.kind in "iu":
        low, high = int(images.min()), int(images.max())
        if low < 0:
            raise DataError(f"{path.name}: integer images must not be negative")
        scale = 255 if high <= 255 else np.iinfo(images.dtype).max
        return images.astype(np.float32) / np.float32(scale)
    x = images.astype(np.float32)
    if not np.all(np.isfinite(x)) or x.min() < 0.0 or x.max() > 1.0:
        raise DataError(f"{path.name}: float images must be finite and lie in [0, 1]")
    return x
