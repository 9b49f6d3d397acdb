"""Fuzzing the dataset loaders: damaged .npz, .csv and IDX files give a valid Dataset or DataError only.

Every outcome is either a Dataset whose arrays are finite and consistent, or a one-line DataError that
names the file; any other exception type (IndexError, MemoryError, zlib.error, UnicodeError, ...) fails.
"""

from __future__ import annotations

import gzip
import io
import zipfile

import numpy as np
import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from lrp_studio.data import Dataset, load_dataset
from lrp_studio.data.idx import write_idx
from lrp_studio.errors import DataError

FUZZ = settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])

_mutation = st.one_of(
    st.tuples(st.just("flip"), st.floats(0, 1, exclude_max=True), st.integers(1, 255)),
    st.tuples(st.just("truncate"), st.floats(0, 1, exclude_max=True), st.just(0)),
    st.tuples(st.just("splice"), st.floats(0, 1, exclude_max=True), st.binary(min_size=1, max_size=48)),
    st.tuples(st.just("delete"), st.floats(0, 1, exclude_max=True), st.integers(1, 120)),
    st.tuples(st.just("duplicate"), st.floats(0, 1, exclude_max=True), st.integers(1, 200)),
)
mutations = st.lists(_mutation, min_size=1, max_size=4)


def _mutate(data: bytes, changes) -> bytes:
    buffer = bytearray(data)
    for kind, where, arg in changes:
        if not buffer:
            break
        at = int(where * len(buffer))
        if kind == "flip":
            buffer[at] ^= arg
        elif kind == "truncate":
            del buffer[at:]
        elif kind == "splice":
            buffer[at:at + len(arg)] = arg
        elif kind == "delete":
            del buffer[at:at + arg]
        else:
            buffer[at:at] = buffer[at:at + arg]
    return bytes(buffer)


def _npz_bytes(**arrays) -> bytes:
    buffer = io.BytesIO()
    np.savez(buffer, **arrays)
    return buffer.getvalue()


def _idx_bytes(array: np.ndarray, compress: bool, folder) -> bytes:
    path = folder / "tmp.idx"
    write_idx(path, array, compress=compress)
    return path.read_bytes()


@pytest.fixture(scope="module")
def originals(tmp_path_factory):
    """Valid files of every kind (bytes) and the folder the fuzzed copies go to."""
    folder = tmp_path_factory.mktemp("datafuzz")
    rng = np.random.default_rng(0)
    images = (rng.random((12, 6, 6)) * 255).astype(np.uint8)
    labels = (np.arange(12) % 10).astype(np.uint8)
    files = {
        "images.npz": _npz_bytes(x=images, y=labels, classes=np.array([str(k) for k in range(10)])),
        "features.npz": _npz_bytes(x=rng.standard_normal((10, 3)).astype(np.float32), y=np.arange(10) % 3),
        "table.csv": ("f1,f2,label\n" + "".join(f"{a:.3f},{b:.3f},{k % 2}\n" for k, (a, b) in
                                               enumerate(rng.standard_normal((10, 2))))).encode(),
        "plain.csv": "".join(f"{k * 0.5},{k % 3}\n" for k in range(10)).encode(),
        "images.idx": _idx_bytes(images, False, folder),
        "labels.idx": _idx_bytes(labels, False, folder),
        "images.idx.gz": _idx_bytes(images, True, folder),
        "labels.idx.gz": _idx_bytes(labels, True, folder),
    }
    for name, data in files.items():  # the originals load
        (folder / name).write_bytes(data)
    assert len(load_dataset(str(folder / "images.npz"))) == 12
    assert len(load_dataset(str(folder / "table.csv"))) == 10
    assert len(load_dataset(f"{folder / 'images.idx.gz'},{folder / 'labels.idx.gz'}")) == 12
    return folder, files


def _outcome(spec: str, named: str) -> None:
    """Load ``spec``: a consistent Dataset or a one-line DataError naming ``named``; nothing else."""
    try:
        data = load_dataset(spec)
    except DataError as error:
        message = str(error)
        assert named in message and "\n" not in message, message
        event(message[len(named) + 2:][:28])
        return
    event("DATASET")
    assert isinstance(data, Dataset)
    assert data.x.dtype == np.float32 and np.isfinite(data.x).all()
    assert data.y.shape == (len(data),) and (len(data) == 0 or 0 <= data.y.min() <= data.y.max() < data.n_classes)


@FUZZ
@given(which=st.sampled_from(["images.npz", "features.npz", "table.csv", "plain.csv"]), changes=mutations)
def test_damaged_npz_and_csv_give_dataset_or_data_error(originals, which, changes):
    folder, files = originals
    path = folder / f"damaged{which[which.index('.'):]}"
    path.write_bytes(_mutate(files[which], changes))
    _outcome(str(path), path.name)


@FUZZ
@given(which=st.sampled_from(["images", "labels"]), compress=st.booleans(), changes=mutations)
def test_damaged_idx_pair_gives_dataset_or_data_error(originals, which, compress, changes):
    folder, files = originals
    suffix = ".idx.gz" if compress else ".idx"
    damaged = folder / f"damaged_{which}{suffix}"
    damaged.write_bytes(_mutate(files[which + suffix], changes))
    other = folder / (("labels" if which == "images" else "images") + suffix)
    pair = (damaged, other) if which == "images" else (other, damaged)
    try:
        data = load_dataset(f"{pair[0]},{pair[1]}")
    except DataError as error:
        assert "\n" not in str(error) and (damaged.name in str(error) or other.name in str(error)), str(error)
        return
    assert np.isfinite(data.x).all() and len(data) == len(data.y)


@FUZZ
@given(which=st.sampled_from(["images.npz", "features.npz"]), member=st.integers(0, 5), changes=mutations)
def test_damaged_npz_member_with_valid_checksums(originals, which, member, changes):
    """Damage one .npy member and re-zip it, so the zip CRC does not catch it: headers and values are checked."""
    folder, files = originals
    with zipfile.ZipFile(io.BytesIO(files[which])) as archive:
        members = {name: archive.read(name) for name in archive.namelist()}
    name = sorted(members)[member % len(members)]
    members[name] = _mutate(members[name], changes)
    path = folder / "rezipped.npz"
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for key, value in members.items():
            archive.writestr(key, value)
    _outcome(str(path), path.name)


# ------------------------------------------------------------------------- specific hostile files
def _npy_header(shape, descr="<f4") -> bytes:
    buffer = io.BytesIO()
    np.lib.format.write_array_header_1_0(buffer, {"descr": descr, "fortran_order": False, "shape": shape})
    return buffer.getvalue()


def _zip(path, members: dict[str, bytes]) -> None:
    with zipfile.ZipFile(path, "w") as archive:
        for key, value in members.items():
            archive.writestr(key, value)


def _npy(array: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    np.save(buffer, array)
    return buffer.getvalue()


def test_npz_header_claiming_terabytes_is_refused_before_allocating(tmp_path):
    path = tmp_path / "absurd.npz"
    _zip(path, {"x.npy": _npy_header((10**6, 1, 1000, 1000)) + bytes(64), "y.npy": _npy(np.arange(3))})
    with pytest.raises(DataError, match=r"absurd.npz: array 'x' declares an absurd size"):
        load_dataset(str(path))


def test_npz_member_shorter_than_its_header_is_called_truncated(tmp_path):
    path = tmp_path / "short.npz"
    _zip(path, {"x.npy": _npy_header((3000, 1, 28, 28)) + bytes(64), "y.npy": _npy(np.arange(3000) % 10)})
    with pytest.raises(DataError, match=r"short.npz: array 'x' is truncated"):
        load_dataset(str(path))


def test_npz_member_that_is_not_an_npy_array_is_refused(tmp_path):
    """A member stored as plain "x" (no .npy): NumPy would return its raw bytes instead of an array."""
    path = tmp_path / "raw.npz"
    _zip(path, {"x": b"garbage", "y": b"garbage"})
    with pytest.raises(DataError, match=r"raw.npz: entry 'x' is not a NumPy array"):
        load_dataset(str(path))


@pytest.mark.parametrize("suffix, content", [
    (".npz", None),
    (".csv", b"1,2,0\n3,4,1000000000\n"),
])
def test_absurd_label_values_are_refused_before_making_class_names(tmp_path, suffix, content):
    """A label of 10^9 would mean 10^9 class names (this once used 20 GB of memory)."""
    path = tmp_path / f"labels{suffix}"
    if content is None:
        path.write_bytes(_npz_bytes(x=np.zeros((2, 3), np.float32), y=np.array([0, 10**9])))
    else:
        path.write_bytes(content)
    with pytest.raises(DataError, match=r"labels must be below 10,000"):
        load_dataset(str(path))


def test_gzip_bomb_header_in_idx_is_refused(tmp_path):
    """A tiny gzip whose IDX header promises 10^15 elements is refused from the header alone."""
    import struct

    images = tmp_path / "images.idx.gz"
    images.write_bytes(gzip.compress(struct.pack(">HBB3I", 0, 8, 3, 10**9, 1000, 1000)))
    labels = tmp_path / "labels.idx"
    write_idx(labels, np.zeros(3, np.uint8))
    with pytest.raises(DataError, match="images.idx.gz: IDX header declares an absurd size"):
        load_dataset(f"{images},{labels}")


@FUZZ
@given(changes=mutations)
def test_damaged_input_npy_gives_array_or_data_error(originals, changes):
    """``--input x.npy`` files: a finite (N, 1, 6, 6) float32 array or one DataError line naming the file."""
    from lrp_studio.io import load_input_npy

    folder, _ = originals
    path = folder / "damaged_input.npy"
    path.write_bytes(_mutate(_npy(np.linspace(0, 1, 72, dtype=np.float32).reshape(2, 6, 6)), changes))
    try:
        array = load_input_npy(path, (1, 6, 6))
    except DataError as error:
        assert path.name in str(error) and "\n" not in str(error), str(error)
        event(str(error)[len(str(path)) + 2:][:28])
        return
    event("ARRAY")
    assert array.dtype == np.float32 and array.shape[1:] == (1, 6, 6) and np.isfinite(array).all()
