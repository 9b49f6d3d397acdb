"""IDX reader: round trips, gzip detection, and refusal of damaged files."""

from __future__ import annotations

import gzip
import struct
from pathlib import Path

import numpy as np
import pytest

from lrp_studio.data import load_idx_dataset, read_idx
from lrp_studio.errors import DataError

_TYPE_CODES = {
    np.uint8: 0x08,
    np.int8: 0x09,
    np.int16: 0x0B,
    np.int32: 0x0C,
    np.float32: 0x0D,
    np.float64: 0x0E,
}


def idx_bytes(array: np.ndarray) -> bytes:
    """Encode an array as IDX by hand (struct + big-endian tobytes), independent of the reader."""
    code = _TYPE_CODES[array.dtype.type]
    header = struct.pack(">BBBB", 0, 0, code, array.ndim)
    header += struct.pack(f">{array.ndim}I", *array.shape)
    return header + array.astype(array.dtype.newbyteorder(">")).tobytes()


def write(path: Path, payload: bytes, compress: bool = False) -> Path:
    path.write_bytes(gzip.compress(payload) if compress else payload)
    return path


@pytest.mark.parametrize("dtype", list(_TYPE_CODES))
@pytest.mark.parametrize("compress", [False, True])
def test_round_trip_every_dtype(tmp_path: Path, dtype: type, compress: bool) -> None:
    rng = np.random.default_rng(0)
    array = (rng.normal(size=(3, 4, 5)) * 50).astype(dtype)
    path = write(tmp_path / "data.idx", idx_bytes(array), compress)
    result = read_idx(path)
    assert result.dtype == np.dtype(dtype) and result.dtype.isnative
    assert np.array_equal(result, array)


def test_gzip_detected_by_content_not_name(tmp_path: Path) -> None:
    array = np.arange(6, dtype=np.uint8).reshape(2, 3)
    zipped_plain_name = write(tmp_path / "a.idx", idx_bytes(array), compress=True)
    plain_gz_name = write(tmp_path / "b.idx.gz", idx_bytes(array), compress=False)
    assert np.array_equal(read_idx(zipped_plain_name), array)
    assert np.array_equal(read_idx(plain_gz_name), array)


def test_one_dimensional_labels(tmp_path: Path) -> None:
    labels = np.array([3, 1, 4, 1, 5], dtype=np.uint8)
    assert np.array_equal(read_idx(write(tmp_path / "l.idx", idx_bytes(labels))), labels)


@pytest.mark.parametrize("compress", [False, True])
def test_truncated_data_is_refused(tmp_path: Path, compress: bool) -> None:
    payload = idx_bytes(np.zeros((10, 28, 28), np.uint8))[:-100]
    path = write(tmp_path / "images.idx", payload, compress)
    with pytest.raises(DataError, match=r"images\.idx: truncated IDX file: header says 10x28x28"):
        read_idx(path)


def test_trailing_bytes_are_refused(tmp_path: Path) -> None:
    path = write(tmp_path / "images.idx", idx_bytes(np.zeros((2, 3), np.uint8)) + b"\x00")
    with pytest.raises(DataError, match=r"images\.idx: .*trailing"):
        read_idx(path)


def test_absurd_header_is_refused_before_allocating(tmp_path: Path) -> None:
    header = struct.pack(">BBBB", 0, 0, 0x08, 3) + struct.pack(">3I", 2**20, 2**10, 2**10)
    path = write(tmp_path / "huge.idx", header + b"\x00" * 16)
    with pytest.raises(DataError, match=r"huge\.idx: .*absurd"):
        read_idx(path)


@pytest.mark.parametrize(
    ("payload", "problem"),
    [
        (b"", "not an IDX file"),
        (b"\x01\x02\x08\x01\x00\x00\x00\x01\x00", "bad magic"),
        (b"\x00\x00\x07\x01\x00\x00\x00\x01\x00", "element type 0x07"),
        (b"\x00\x00\x08\x00", "0 dimensions"),
        (b"\x00\x00\x08\x03\x00\x00\x00\x01", "truncated IDX header"),
    ],
)
def test_bad_headers_name_file_and_problem(tmp_path: Path, payload: bytes, problem: str) -> None:
    with pytest.raises(DataError, match=rf"bad\.idx: .*{problem}"):
        read_idx(write(tmp_path / "bad.idx", payload))


def test_corrupt_gzip(tmp_path: Path) -> None:
    payload = gzip.compress(idx_bytes(np.zeros((50, 50), np.uint8)))[:30]
    with pytest.raises(DataError, match=r"broken\.idx\.gz"):
        read_idx(write(tmp_path / "broken.idx.gz", payload))


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(DataError, match=r"absent\.idx: file not found"):
        read_idx(tmp_path / "absent.idx")


def _write_pair(tmp_path: Path, images: np.ndarray, labels: np.ndarray) -> tuple[Path, Path]:
    return (
        write(tmp_path / "images.idx.gz", idx_bytes(images), compress=True),
        write(tmp_path / "labels.idx", idx_bytes(labels)),
    )


def test_load_idx_dataset(tmp_path: Path) -> None:
    images = np.random.default_rng(1).integers(0, 256, (7, 5, 6), dtype=np.uint8)
    labels = np.array([0, 1, 2, 3, 9, 8, 7], dtype=np.uint8)
    data = load_idx_dataset(*_write_pair(tmp_path, images, labels))
    assert data.x.shape == (7, 1, 5, 6) and data.x.dtype == np.float32
    assert np.allclose(data.x[:, 0] * 255, images)
    assert data.y.dtype == np.int64 and np.array_equal(data.y, labels)
    assert data.classes == [str(d) for d in range(10)]
    assert data.input_range == (0.0, 1.0)


def test_idx_dataset_label_count_mismatch(tmp_path: Path) -> None:
    pair = _write_pair(tmp_path, np.zeros((4, 2, 2), np.uint8), np.zeros(3, np.uint8))
    with pytest.raises(DataError, match=r"labels\.idx: 3 labels but images\.idx\.gz holds 4"):
        load_idx_dataset(*pair)


def test_idx_dataset_labels_out_of_range(tmp_path: Path) -> None:
    pair = _write_pair(tmp_path, np.zeros((2, 2, 2), np.uint8), np.array([1, 10], np.uint8))
    with pytest.raises(DataError, match=r"labels\.idx: labels must lie in 0\.\.9"):
        load_idx_dataset(*pair)


def test_idx_dataset_float_labels_refused(tmp_path: Path) -> None:
    pair = _write_pair(tmp_path, np.zeros((2, 2, 2), np.uint8), np.array([1.0, 2.0], np.float32))
    with pytest.raises(DataError, match="integers"):
        load_idx_dataset(*pair)
