"""Relevance export (.npy, .csv) and input arrays for ``--input FILE.npy``."""

from __future__ import annotations

import csv
import io
import math
import os
import warnings
from pathlib import Path
from typing import Any, Iterable, Sequence

import numpy as np

from lrp_studio.backend import to_numpy
from lrp_studio.errors import DataError
from lrp_studio.io.atomic import PathLike, atomic_write, describe_os_error
from lrp_studio.io.images import ImageInput, is_image_file, load_input_image
from lrp_studio.io.npy_header import read_npy_header

__all__ = ["load_input", "load_input_npy", "relevance_to_2d", "save_relevance_csv", "save_relevance_npy", "save_table_csv"]


def _write(path: Path, write_fn: Any) -> Path:
    try:
        return atomic_write(path, write_fn)
    except OSError as error:
        raise DataError(f"{path}: cannot write ({describe_os_error(error)})") from None


def save_relevance_npy(path: PathLike, relevance: Any) -> Path:
    """Save a relevance array (NumPy or CuPy, any shape) as ``.npy``, atomically, without pickle.

    The file is written exactly at ``path`` (no extension is appended).
    """
    target = Path(os.fspath(path))
    array = np.asarray(to_numpy(relevance))
    if array.dtype.hasobject:
        raise DataError(f"{target}: relevance must be a numeric array, got dtype {array.dtype}")

    def write(temp_path: str) -> None:
        with open(temp_path, "wb") as handle:
            np.save(handle, array, allow_pickle=False)

    return _write(target, write)


def relevance_to_2d(relevance: Any) -> np.ndarray:
    """The table a relevance CSV holds.

    Parameters
    ----------
    relevance : array
        (F,) -> one row (1, F); (H, W) -> as is; (C, H, W) -> summed over channels (H, W).

    Returns
    -------
    numpy.ndarray, 2-D
    """
    array = np.asarray(to_numpy(relevance))
    if array.dtype.kind not in "biuf":
        raise DataError(f"relevance must be a real numeric array, got dtype {array.dtype}")
    if array.ndim == 1:
        return array[None, :]
    if array.ndim == 2:
        return array
    if array.ndim == 3:
        return array.sum(axis=0)
    raise DataError(f"relevance of shape {array.shape} cannot be written as CSV: expected (F,), (H, W) or (C, H, W)")


def save_relevance_csv(path: PathLike, relevance: Any) -> Path:
    """Save one sample's relevance as CSV (``%.8g``, comma-separated), atomically.

    See :func:`relevance_to_2d` for how shapes map onto rows and columns.
    """
    target = Path(os.fspath(path))
    try:
        table = relevance_to_2d(relevance)
    except DataError as error:
        raise DataError(f"{target}: {error}") from None

    def write(temp_path: str) -> None:
        with open(temp_path, "wb") as handle:
            np.savetxt(handle, table, fmt="%.8g", delimiter=",")

    return _write(target, write)


def save_table_csv(path: PathLike, header: Sequence[str], rows: Iterable[Sequence[Any]]) -> Path:
    """Save a table with a header row as CSV (UTF-8, ``csv`` module quoting), atomically.

    Parameters
    ----------
    path : str or path-like
        The file to create or replace (written exactly there).
    header : sequence of str
        Column names, written as the first row.
    rows : iterable of sequences
        One sequence of values per row (formatted with ``str``); each as long as ``header``.

    Returns
    -------
    pathlib.Path
        ``path``.

    Raises
    ------
    DataError
        When a row's length differs from the header's, or the file cannot be written (naming it).
    """
    target = Path(os.fspath(path))
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(list(header))
    for number, row in enumerate(rows):
        if len(row) != len(header):
            raise DataError(f"{target}: row {number} has {len(row)} values for {len(header)} columns")
        writer.writerow(list(row))
    text = buffer.getvalue()
    return _write(target, lambda temp: Path(temp).write_text(text, encoding="utf-8"))


#: ``--input`` arrays whose header promises more bytes than this are refused before anything is allocated.
MAX_INPUT_BYTES = 2**31


def _check_npy_header(target: Path, size: int) -> None:
    """Read only the ``.npy`` header: refuse archives, objects, absurd and truncated arrays before loading."""
    try:
        with open(target, "rb") as handle:
            start = handle.read(len(np.lib.format.MAGIC_PREFIX))
            if start[:2] == b"PK":
                raise DataError(f"{target}: is an .npz archive; give a single .npy array")
            if start != np.lib.format.MAGIC_PREFIX:
                raise DataError(f"{target}: not a .npy array (pickled or unknown data is never loaded)")
            handle.seek(0)
            try:
                with warnings.catch_warnings():  # a damaged header dict: bad escapes in its literal
                    warnings.simplefilter("ignore", DeprecationWarning)
                    warnings.simplefilter("ignore", SyntaxWarning)
                    shape, dtype = read_npy_header(handle)
            except Exception as error:
                message = str(error).splitlines()[0][:120] if str(error) else type(error).__name__
                raise DataError(f"{target}: not a readable .npy array ({message})") from None
            header_size = handle.tell()
            file_size = os.fstat(handle.fileno()).st_size
    except OSError as error:
        raise DataError(f"{target}: cannot read the file ({describe_os_error(error)})") from None
    if dtype.hasobject:
        raise DataError(f"{target}: holds Python objects; pickled data is never loaded")
    if dtype.kind not in "biuf":
        raise DataError(f"{target}: input must be real numbers, got dtype {dtype}")
    count = math.prod(int(v) for v in shape)
    if count * dtype.itemsize > MAX_INPUT_BYTES:
        raise DataError(f"{target}: array declares an absurd size {tuple(shape)} {dtype} "
                        f"({count * dtype.itemsize:,} bytes, limit {MAX_INPUT_BYTES:,})")
    if size and count % size:
        raise DataError(f"{target}: array of shape {tuple(shape)} does not fit the model's input "
                        f"({size} values per sample)")
    if header_size + count * dtype.itemsize > file_size:
        raise DataError(f"{target}: truncated .npy file: its header says {tuple(shape)} {dtype} but the file "
                        f"holds only {max(file_size - header_size, 0)} bytes of data")


def load_input_npy(path: PathLike, input_shape: Sequence[int]) -> np.ndarray:
    """Read input samples from a ``.npy`` file (``--input FILE.npy``).

    Parameters
    ----------
    path : str or path-like
    input_shape : sequence of int
        One sample's shape, e.g. ``net.input_shape``.

    Returns
    -------
    numpy.ndarray, float32, (N, *input_shape)
        Accepts one sample without batch axis (``input_shape`` or flat), a batch
        ``(N, *input_shape)`` or flat rows ``(N, prod(input_shape))``.

    Raises
    ------
    DataError
        Naming the file: missing, unreadable, pickled, not numeric, NaN/inf, or the wrong shape.
    """
    target = Path(os.fspath(path))
    shape = tuple(int(v) for v in input_shape)
    size = math.prod(shape)
    if not target.exists():
        raise DataError(f"{target}: file not found")
    if target.is_dir():
        raise DataError(f"{target}: is a directory, not a .npy file")
    _check_npy_header(target, size)
    try:
        loaded = np.load(target, allow_pickle=False)
    except ValueError as error:
        if "pickle" in str(error):
            raise DataError(f"{target}: not a .npy array (pickled or unknown data is never loaded)") from None
        raise DataError(f"{target}: not a readable .npy array ({error})") from None
    except Exception as error:
        raise DataError(f"{target}: cannot read the file ({type(error).__name__}: {error})") from None
    if not isinstance(loaded, np.ndarray):
        loaded.close()
        raise DataError(f"{target}: is an .npz archive; give a single .npy array")
    array = loaded
    if array.dtype.kind not in "biuf":
        raise DataError(f"{target}: input must be real numbers, got dtype {array.dtype}")
    with np.errstate(over="ignore", invalid="ignore"):
        array = np.asarray(array, dtype=np.float32)
    if array.size == size and array.ndim <= len(shape):  # one sample, e.g. (28, 28) for (1, 28, 28)
        array = array.reshape((1,) + shape)
    elif array.ndim >= 2 and math.prod(array.shape[1:]) == size:
        array = array.reshape((array.shape[0],) + shape)
    else:
        raise DataError(f"{target}: array of shape {array.shape} does not fit the model's input shape {shape}")
    if array.shape[0] == 0:
        raise DataError(f"{target}: contains no samples")
    if not np.isfinite(array).all():
        raise DataError(f"{target}: contains NaN or infinite values (in float32)")
    return np.ascontiguousarray(array)


def load_input(path: PathLike, input_shape: Sequence[int], input_range: tuple[float, float] | None = None,
               polarity: str = "auto", framing: str = "auto") -> ImageInput:
    """Input samples from an image (PNG, JPEG, BMP, TIFF) or a ``.npy`` array (``--input FILE``).

    Parameters
    ----------
    path : str or path-like
        An image (recognised by its name's ending, see :data:`lrp_studio.io.images.IMAGE_SUFFIXES`)
        or a ``.npy`` array (anything else).
    input_shape : sequence of int
        One sample's shape (``net.input_shape``).
    input_range : (low, high), optional
        The model's value range (images: 0..255 maps onto it; default (0, 1)).
    polarity, framing : str
        For images, see :func:`lrp_studio.io.images.image_to_input`.

    Returns
    -------
    lrp_studio.io.images.ImageInput
        ``x`` (N, *input_shape) float32 (N = 1 for an image) and the conversion notes (none for ``.npy``).

    Raises
    ------
    DataError
        As :func:`load_input_npy` and :func:`lrp_studio.io.images.load_input_image`.
    """
    if is_image_file(path):
        return load_input_image(path, input_shape, input_range, polarity, framing)
    return ImageInput(load_input_npy(path, input_shape))
