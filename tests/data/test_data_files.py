"""CSV/NPZ loaders and the load_dataset spec dispatcher."""

from __future__ import annotations

import gzip
import struct
from pathlib import Path

import numpy as np
import pytest

from lrp_studio.data import load_csv_dataset, load_dataset, load_npz_dataset
from lrp_studio.errors import DataError


def write_text(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


# --- CSV -------------------------------------------------------------------------------------


def test_csv_with_label_column(tmp_path: Path) -> None:
    path = write_text(tmp_path / "t.csv", "a,label,b\n0.5,1,2\n-1.5,0,3\n2,2,4\n")
    data = load_csv_dataset(path)
    assert data.x.shape == (3, 2) and data.x.dtype == np.float32
    assert np.array_equal(data.x, [[0.5, 2], [-1.5, 3], [2, 4]])
    assert np.array_equal(data.y, [1, 0, 2]) and data.y.dtype == np.int64
    assert data.classes == ["0", "1", "2"]
    assert data.input_range == (-1.5, 4.0)
    assert data.name == "t.csv"


def test_csv_without_header_uses_last_column(tmp_path: Path) -> None:
    data = load_csv_dataset(write_text(tmp_path / "n.csv", "0.1,0.2,1\n0.3,0.4,0.0\n"))
    assert np.allclose(data.x, [[0.1, 0.2], [0.3, 0.4]])
    assert np.array_equal(data.y, [1, 0])


def test_csv_semicolon_separated(tmp_path: Path) -> None:
    data = load_csv_dataset(write_text(tmp_path / "s.csv", "x;y;label\n1;2;0\n3;4;1\n"))
    assert data.x.shape == (2, 2) and np.array_equal(data.y, [0, 1])


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("", "empty"),
        ("a,label\n", "no data rows"),
        ("a,label\n1,0\nnan,1\n", "line 3 contains NaN"),
        ("a,label\n1,0\ninf,1\n", "NaN or infinite"),
        ("a,label\n1,0\nfoo,1\n", "invalid CSV content"),
        ("a,label\n1,0.5\n", "integers"),
        ("a,label\n1,-1\n", "non-negative"),
        ("a,label\n1,0,3\n", "header has 2 columns but rows have 3"),
        ("a,label\n1,0\n1,2,3\n", "invalid CSV content"),
        ("label\n1\n", "at least one feature"),
    ],
)
def test_csv_validation(tmp_path: Path, text: str, problem: str) -> None:
    with pytest.raises(DataError, match=rf"bad\.csv: .*{problem}"):
        load_csv_dataset(write_text(tmp_path / "bad.csv", text))


# --- NPZ -------------------------------------------------------------------------------------


def test_npz_uint8_images(tmp_path: Path) -> None:
    images = np.random.default_rng(0).integers(0, 256, (6, 4, 4), dtype=np.uint8)
    np.savez(tmp_path / "img.npz", images=images, labels=np.arange(6, dtype=np.uint8) % 3)
    data = load_npz_dataset(tmp_path / "img.npz")
    assert data.x.shape == (6, 1, 4, 4) and data.x.dtype == np.float32
    assert np.allclose(data.x[:, 0] * 255, images)
    assert data.classes == ["0", "1", "2"] and data.input_range == (0.0, 1.0)


def test_npz_float_features_and_class_names(tmp_path: Path) -> None:
    x = np.array([[-2.0, 0.5], [1.0, 3.25]])
    np.savez(tmp_path / "f.npz", x=x, y=np.array([1, 0]), classes=np.array(["cat", "dog"]))
    data = load_npz_dataset(tmp_path / "f.npz")
    assert data.x.dtype == np.float32 and np.array_equal(data.x, x)
    assert data.classes == ["cat", "dog"]
    assert data.input_range == (-2.0, 3.3)


def test_npz_object_arrays_are_refused(tmp_path: Path) -> None:
    x = np.empty(2, dtype=object)
    x[0], x[1] = [1.0], [2.0]
    np.savez(tmp_path / "obj.npz", x=x, y=np.array([0, 1]))
    with pytest.raises(DataError, match=r"obj\.npz: .*pickle"):
        load_npz_dataset(tmp_path / "obj.npz")


@pytest.mark.parametrize(
    ("arrays", "problem"),
    [
        ({"x": np.zeros((3, 2)), "y": np.zeros(2, int)}, "3 inputs but labels of shape"),
        ({"x": np.array([[np.nan, 1.0]]), "y": np.zeros(1, int)}, "NaN"),
        ({"x": np.zeros((2, 2)), "y": np.array([0.5, 1.0])}, "integers"),
        ({"x": np.zeros((2, 2)), "y": np.array([0, -1])}, "non-negative"),
        (
            {"features": np.zeros((2, 2)), "y": np.zeros(2, int)},
            "needs an array named 'x' or 'images'",
        ),
        ({"x": np.zeros((2, 2))}, "'y' or 'labels'"),
        ({"x": np.zeros((2, 2, 2, 2, 2)), "y": np.zeros(2, int)}, "inputs must be"),
        ({"x": np.array([["a", "b"]]), "y": np.zeros(1, int)}, "numeric"),
        ({"x": np.zeros((0, 2)), "y": np.zeros(0, int)}, "no samples"),
    ],
)
def test_npz_validation(tmp_path: Path, arrays: dict[str, np.ndarray], problem: str) -> None:
    np.savez(tmp_path / "bad.npz", **arrays)
    with pytest.raises(DataError, match=rf"bad\.npz: .*{problem}"):
        load_npz_dataset(tmp_path / "bad.npz")


def test_npz_not_a_zip(tmp_path: Path) -> None:
    with pytest.raises(DataError, match=r"junk\.npz: not an NPZ"):
        load_npz_dataset(write_text(tmp_path / "junk.npz", "hello"))


# --- load_dataset ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("spec", "n", "name"),
    [
        ("mnist", 5000, "mnist"),
        ("mnist:train", 4000, "mnist:train"),
        ("MNIST:test", 1000, "mnist:test"),
    ],
)
def test_spec_mnist(spec: str, n: int, name: str) -> None:
    data = load_dataset(spec)
    assert len(data) == n and data.name == name


@pytest.mark.parametrize("spec", ["toy:moons", "moons", "spiral"])
def test_spec_toy(spec: str) -> None:
    data = load_dataset(spec)
    assert data.x.shape == (400, 2) and data.name.startswith("toy:")


def test_spec_files(tmp_path: Path) -> None:
    np.savez(tmp_path / "d.npz", x=np.ones((2, 3)), y=np.array([0, 1]))
    write_text(tmp_path / "d.csv", "a,label\n1,0\n2,1\n")
    assert load_dataset(str(tmp_path / "d.npz")).x.shape == (2, 3)
    assert load_dataset(str(tmp_path / "d.csv")).x.shape == (2, 1)


def test_spec_idx_pair(tmp_path: Path) -> None:
    images = struct.pack(">BBBB3I", 0, 0, 8, 3, 2, 2, 2) + bytes(range(8))
    labels = struct.pack(">BBBBI", 0, 0, 8, 1, 2) + bytes([4, 2])
    (tmp_path / "i.idx.gz").write_bytes(gzip.compress(images))
    (tmp_path / "l.idx").write_bytes(labels)
    data = load_dataset(f"{tmp_path / 'i.idx.gz'}, {tmp_path / 'l.idx'}")
    assert data.x.shape == (2, 1, 2, 2) and np.array_equal(data.y, [4, 2])


@pytest.mark.parametrize(
    ("spec", "problem"),
    [
        ("toy:bananas", "unknown toy dataset"),
        ("{tmp}/missing.npz", r"missing\.npz: file not found"),
        ("{tmp}/data.xlsx", r"data\.xlsx: unsupported data file type"),
        ("{tmp}/only.idx", r"only\.idx: IDX data needs an image and a label file"),
        ("{tmp}/a.idx,{tmp}/b.idx,{tmp}/c.idx", "IDX pair"),
        ("{tmp}/nothere.idx,{tmp}/l.idx", r"nothere\.idx: file not found"),
    ],
)
def test_spec_errors(tmp_path: Path, spec: str, problem: str) -> None:
    (tmp_path / "data.xlsx").write_bytes(b"xx")
    (tmp_path / "only.idx").write_bytes(b"xx")
    with pytest.raises(DataError, match=problem):
        load_dataset(spec.format(tmp=tmp_path))
