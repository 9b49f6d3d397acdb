"""Loading datasets from CSV and NPZ files, and the ``load_dataset`` spec dispatcher.

Dataset specs (CLI ``--data``, GUI "open dataset"):

- ``"mnist"`` (or ``"mnist:all"``), ``"mnist:train"``, ``"mnist:test"``: the bundled subset;
- ``"toy:moons"`` or bare ``"moons"`` (any name in :data:`TOY_NAMES`): a 2-D toy set;
- a path to a ``.npz`` or ``.csv`` file;
- an IDX pair ``"images.idx[.gz],labels.idx[.gz]"``;
- ``"toy:shapes"`` / ``"toy:shapes:test"``: RGB shapes with ground-truth masks (:mod:`lrp_studio.data.shapes`);
- an image folder ``"folder"`` or ``"folder@WxH"``, one sub-folder per class (:mod:`lrp_studio.data.folders`).
"""

from __future__ import annotations

import os
import warnings
import zipfile
from pathlib import Path

import numpy as np

from lrp_studio.io.npy_header import read_npy_header
from lrp_studio.data.dataset import Dataset, rounded_range
from lrp_studio.data.idx import load_idx_dataset
from lrp_studio.data.mnist import load_mnist_subset
from lrp_studio.data.folders import load_image_folder, split_size_spec
from lrp_studio.data.shapes import load_shapes
from lrp_studio.data.toy import TOY_NAMES, make_toy
from lrp_studio.errors import DataError

__all__ = ["load_csv_dataset", "load_dataset", "load_npz_dataset"]

_X_KEYS = ("x", "images")
_Y_KEYS = ("y", "labels")
#: Labels above this are refused: class names are made for every label up to the largest one.
MAX_CLASSES = 10_000
#: NPZ arrays whose header promises more bytes than this are refused before anything is allocated.
MAX_ARRAY_BYTES = 2**31


def _check_file(path: Path) -> None:
    """Raise DataError unless ``path`` is an existing regular file."""
    if not path.exists():
        raise DataError(f"{path.name}: file not found ({path})")
    if not path.is_file():
        raise DataError(f"{path.name}: not a regular file ({path})")
    try:
        open(path, "rb").close()
    except OSError as exc:
        raise DataError(f"{path.name}: cannot read file: {exc.strerror or exc} ({path})") from None


def _labels_to_int(name: str, labels: np.ndarray) -> np.ndarray:
    """Validate labels of shape (N,) as non-negative integers and return them as int64."""
    if labels.dtype.kind == "b" or labels.dtype.kind not in "iuf":
        raise DataError(f"{name}: labels must be integers, got dtype {labels.dtype}")
    if labels.dtype.kind == "f":
        if not np.all(np.isfinite(labels)):
            raise DataError(f"{name}: labels contain NaN or infinite values")
        if not np.all(labels == np.round(labels)):
            raise DataError(f"{name}: labels must be integers, found fractional values")
    if labels.size and labels.min() < 0:
        raise DataError(f"{name}: labels must be non-negative, found {labels.min()}")
    if labels.size and labels.max() >= MAX_CLASSES:
        raise DataError(f"{name}: labels must be below {MAX_CLASSES:,} (one class per label), found {labels.max():.0f}")
    return labels.astype(np.int64)


def _class_names(y: np.ndarray) -> list[str]:
    """Class names ``"0" .. str(max label)`` (at least two classes)."""
    return [str(k) for k in range(max(int(y.max()) + 1, 2))]


def _sniff_delimiter(first_line: str) -> str:
    for candidate in (",", ";", "\t"):
        if candidate in first_line:
            return candidate
    return ","


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def load_csv_dataset(path: str | os.PathLike[str]) -> Dataset:
    """Load a table of float features and integer labels from a CSV file.

    With a header row, the column named ``label`` holds the labels (the last column if none
    is so named); without one, the last column does. All other columns are features.

    Parameters
    ----------
    path : str or path-like
        CSV file (comma, semicolon or tab separated).

    Returns
    -------
    Dataset
        ``x`` float32 of shape (N, F), ``y`` int64 of shape (N,), classes ``"0" .. max``,
        input range the features' min/max rounded outwards to 0.1.

    Raises
    ------
    DataError
        Missing or unreadable file, non-numeric or non-finite values, no rows, fewer than two
        columns, or labels that are not non-negative integers.
    """
    path = Path(path)
    _check_file(path)
    try:
        with open(path, encoding="utf-8-sig") as handle:
            first_line = handle.readline().strip()
    except (OSError, UnicodeDecodeError) as exc:
        raise DataError(f"{path.name}: cannot read CSV file: {exc}") from exc
    if not first_line:
        raise DataError(f"{path.name}: CSV file is empty")
    delimiter = _sniff_delimiter(first_line)
    header = [cell.strip().strip('"') for cell in first_line.split(delimiter)]
    has_header = not all(_is_number(cell) for cell in header)
    table = _read_numeric_table(path, delimiter, skip_rows=1 if has_header else 0)
    if table.shape[1] < 2:
        raise DataError(f"{path.name}: CSV needs at least one feature column and a label column")
    if has_header and len(header) != table.shape[1]:
        raise DataError(
            f"{path.name}: header has {len(header)} columns but rows have {table.shape[1]}"
        )
    label_column = header.index("label") if has_header and "label" in header else table.shape[1] - 1
    if not np.all(np.isfinite(table)):
        row = int(np.argwhere(~np.isfinite(table))[0, 0]) + 1 + int(has_header)
        raise DataError(f"{path.name}: line {row} contains NaN or infinite values")
    y = _labels_to_int(path.name, table[:, label_column])
    x = np.delete(table, label_column, axis=1).astype(np.float32)
    features = [name for j, name in enumerate(header) if j != label_column] if has_header else None
    return Dataset(name=path.name, x=x, y=y, classes=_class_names(y), input_range=rounded_range(x), features=features)


def _read_numeric_table(path: Path, delimiter: str, skip_rows: int) -> np.ndarray:
    """Parse the CSV body into a float64 array of shape (N, columns)."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)  # "input contained no data"
            table = np.loadtxt(path, delimiter=delimiter, skiprows=skip_rows, ndmin=2,
                               dtype=np.float64, encoding="utf-8-sig")
    except (ValueError, OSError, UnicodeDecodeError) as exc:
        message = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise DataError(f"{path.name}: invalid CSV content: {message}") from exc
    if table.shape[0] == 0:
        raise DataError(f"{path.name}: CSV file has no data rows")
    return table


def _check_npz_member(path: Path, archive: np.lib.npyio.NpzFile, key: str) -> None:
    """Read only the ``.npy`` header of member ``key``: refuse objects and absurd or truncated sizes."""
    try:
        info = archive.zip.getinfo(f"{key}.npy")
    except KeyError:  # a member named plain "x": NumPy would hand back its raw bytes
        raise DataError(f"{path.name}: entry {key!r} is not a NumPy array (.npy)") from None
    with archive.zip.open(info) as handle, warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # a damaged header dict: bad escapes in its literal
        warnings.simplefilter("ignore", SyntaxWarning)
        try:
            shape, dtype = read_npy_header(handle)
            header_size = handle.tell()
        except Exception as exc:
            message = str(exc).splitlines()[0][:120] if str(exc) else type(exc).__name__
            raise DataError(f"{path.name}: array {key!r} is not a valid NumPy array ({message})") from None
    if dtype.hasobject:
        raise DataError(
            f"{path.name}: array {key!r} holds Python objects; pickled data is refused "
            "for safety (save plain numeric arrays)"
        )
    count = 1
    for size in shape:
        count *= int(size)
    if count * dtype.itemsize > MAX_ARRAY_BYTES:
        raise DataError(
            f"{path.name}: array {key!r} declares an absurd size {shape} {dtype} "
            f"({count * dtype.itemsize:,} bytes, limit {MAX_ARRAY_BYTES:,})"
        )
    if header_size + count * dtype.itemsize > info.file_size:
        raise DataError(
            f"{path.name}: array {key!r} is truncated: its header says {shape} {dtype} "
            f"but the archive holds only {max(info.file_size - header_size, 0)} bytes of data"
        )


def _npz_array(path: Path, archive: np.lib.npyio.NpzFile, keys: tuple[str, ...]) -> np.ndarray:
    """Return the first array among ``keys`` in ``archive`` (sizes checked before reading)."""
    for key in keys:
        if key in archive.files:
            _check_npz_member(path, archive, key)
            try:
                return archive[key]
            except ValueError as exc:
                if "pickle" in str(exc).lower():
                    raise DataError(
                        f"{path.name}: array {key!r} holds Python objects; pickled data is refused "
                        "for safety (save plain numeric arrays)"
                    ) from exc
                message = str(exc).splitlines()[0][:160] if str(exc) else type(exc).__name__
                raise DataError(f"{path.name}: array {key!r} cannot be read ({message})") from exc
    raise DataError(
        f"{path.name}: NPZ file needs an array named {' or '.join(map(repr, keys))}; "
        f"found {', '.join(archive.files) or 'no arrays'}"
    )


def load_npz_dataset(path: str | os.PathLike[str]) -> Dataset:
    """Load a dataset from an ``.npz`` archive (never unpickling anything).

    Parameters
    ----------
    path : str or path-like
        Archive with inputs ``x`` or ``images`` of shape (N, F), (N, H, W) or (N, C, H, W)
        and labels ``y`` or ``labels`` of shape (N,); optionally ``classes``, a string array
        of class names.

    Returns
    -------
    Dataset
        ``x`` float32 ((N, H, W) becomes (N, 1, H, W); uint8 is scaled to [0, 1]), ``y``
        int64. Input range (0, 1) for data inside [0, 1], otherwise the rounded min/max.

    Raises
    ------
    DataError
        Missing/unreadable file, object (pickled) arrays, missing arrays, shape mismatch,
        non-finite inputs or labels that are not non-negative integers.
    """
    path = Path(path)
    _check_file(path)
    if not zipfile.is_zipfile(path):
        raise DataError(f"{path.name}: not an NPZ archive (no zip structure)")
    try:
        with open(path, "rb") as handle:
            head = handle.read(2)
    except OSError as exc:
        raise DataError(f"{path.name}: cannot read NPZ file: {exc.strerror or exc}") from exc
    if head != b"PK":  # NumPy would take it for a pickle; it is a damaged or disguised file
        raise DataError(f"{path.name}: not an NPZ archive (damaged: it does not start like a zip file)")
    try:
        with np.load(path, allow_pickle=False) as archive:
            if not isinstance(archive, np.lib.npyio.NpzFile):
                raise DataError(f"{path.name}: not an NPZ archive (a single .npy array?)")
            x = _npz_array(path, archive, _X_KEYS)
            y = _npz_array(path, archive, _Y_KEYS)
            classes = _npz_array(path, archive, ("classes",)) if "classes" in archive.files else None
    except DataError:
        raise
    except ValueError as exc:
        if "pickle" in str(exc).lower():
            raise DataError(
                f"{path.name}: holds pickled Python objects, which are refused"
            ) from exc
        raise DataError(f"{path.name}: cannot read NPZ file: {exc}") from exc
    except (OSError, EOFError, zipfile.BadZipFile, KeyError) as exc:
        raise DataError(f"{path.name}: cannot read NPZ file: {exc}") from exc
    except Exception as exc:  # damaged zip structures: encryption flags, unknown compression, bad streams
        message = str(exc).splitlines()[0][:160] if str(exc) else ""
        raise DataError(f"{path.name}: cannot read NPZ file ({type(exc).__name__}: {message})") from None
    x = _npz_inputs(path, x)
    if y.ndim != 1 or y.shape[0] != x.shape[0]:
        raise DataError(f"{path.name}: {x.shape[0]} inputs but labels of shape {y.shape}")
    y = _labels_to_int(path.name, y)
    names = _class_names(y) if classes is None else _npz_classes(path, classes, y)
    in_unit = x.size > 0 and float(x.min()) >= 0.0 and float(x.max()) <= 1.0
    return Dataset(name=path.name, x=x, y=y, classes=names,
                   input_range=(0.0, 1.0) if in_unit else rounded_range(x))


def _npz_inputs(path: Path, x: np.ndarray) -> np.ndarray:
    """Validate inputs and convert them to float32 of shape (N, F) or (N, C, H, W)."""
    if x.dtype.kind not in "iuf" or x.dtype.kind == "b":
        raise DataError(f"{path.name}: inputs must be numeric, got dtype {x.dtype}")
    if x.ndim == 3:
        x = x[:, None, :, :]
    if x.ndim not in (2, 4):
        raise DataError(
            f"{path.name}: inputs must be (N, F), (N, H, W) or (N, C, H, W), got {x.shape}"
        )
    if x.shape[0] == 0:
        raise DataError(f"{path.name}: NPZ file holds no samples")
    if x.dtype == np.uint8:
        return x.astype(np.float32) / np.float32(255.0)
    x = x.astype(np.float32)
    if not np.all(np.isfinite(x)):
        raise DataError(f"{path.name}: inputs contain NaN or infinite values")
    return x


def _npz_classes(path: Path, classes: np.ndarray, y: np.ndarray) -> list[str]:
    """Validate an optional ``classes`` array against the labels."""
    classes = np.asarray(classes).reshape(-1)
    if classes.size > MAX_CLASSES:
        raise DataError(f"{path.name}: {classes.size:,} class names; at most {MAX_CLASSES:,} are allowed")
    try:
        names = [str(c) for c in classes]
    except (SystemError, ValueError, UnicodeError) as exc:  # e.g. code points beyond U+10FFFF in a damaged file
        raise DataError(f"{path.name}: class names are not valid text ({type(exc).__name__})") from None
    if len(names) <= int(y.max()):
        raise DataError(f"{path.name}: {len(names)} class names but labels go up to {int(y.max())}")
    return names


def load_dataset(spec: str) -> Dataset:
    """Load a dataset from a spec string (see the module docstring).

    Parameters
    ----------
    spec : str
        ``"mnist"``, ``"mnist:train"``, ``"mnist:test"``, ``"toy:<name>"``, ``"<toy name>"``,
        ``"path.npz"``, ``"path.csv"``, ``"images.idx[.gz],labels.idx[.gz]"``, ``"toy:shapes"`` /
        ``"toy:shapes:test"`` (:mod:`lrp_studio.data.shapes`), or an image folder ``"folder"`` /
        ``"folder@WxH"`` with one sub-folder per class (:mod:`lrp_studio.data.folders`).

    Returns
    -------
    Dataset

    Raises
    ------
    DataError
        Unknown spec, missing file or invalid content; the message names the file.
    """
    spec = spec.strip()
    lowered = spec.lower()
    if lowered in ("mnist", "mnist:all", "mnist:train", "mnist:test"):
        return load_mnist_subset(lowered.partition(":")[2] or "all")
    if lowered == "toy:shapes" or lowered.startswith("toy:shapes:"):
        return load_shapes(lowered[len("toy:shapes:"):])
    if lowered.startswith("toy:"):
        return make_toy(lowered[4:])
    if lowered in TOY_NAMES:
        return make_toy(lowered)
    if "," in spec and not Path(spec).exists():
        parts = [part.strip() for part in spec.split(",")]
        if len(parts) != 2 or not all(parts):
            raise DataError(f"{spec}: an IDX pair must be given as 'images.idx,labels.idx'")
        return load_idx_dataset(parts[0], parts[1])
    folder = Path(split_size_spec(spec)[0])
    if folder.is_dir() and folder.suffix.lower() not in (".npz", ".csv", ".txt", ".tsv", ".idx", ".gz"):
        return load_image_folder(spec)  # a folder named like a data file is refused as "not a regular file"
    root, _, size = spec.rpartition("@")
    if root and Path(root).is_dir():  # "photos@abc": the folder exists, the size does not parse
        raise DataError(f"{spec}: {size!r} is not a size; write {root}@WIDTHxHEIGHT, e.g. {root}@32x32")
    return _load_path(Path(spec))


def _load_path(path: Path) -> Dataset:
    """Load one data file by its extension."""
    _check_file(path)
    suffix = path.suffix.lower()
    if suffix == ".npz":
        return load_npz_dataset(path)
    if suffix in (".csv", ".txt", ".tsv"):
        return load_csv_dataset(path)
    if ".idx" in path.name.lower() or "-ubyte" in path.name.lower():
        raise DataError(
            f"{path.name}: IDX data needs an image and a label file: 'images.idx,labels.idx'"
        )
    raise DataError(f"{path.name}: unsupported data file type (use .npz, .csv or an IDX pair)")
