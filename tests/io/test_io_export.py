"""Relevance export (.npy, .csv) and ``--input FILE.npy`` loading."""

from __future__ import annotations

import os
import pickle

import numpy as np
import pytest

from lrp_studio.errors import DataError
from lrp_studio.io import load_input_npy, load_model, save_model, save_relevance_csv, save_relevance_npy
from lrp_studio.io.export import relevance_to_2d, save_table_csv
from lrp_studio.nn import mlp


# ------------------------------------------------------------------------------------------ npy
@pytest.mark.parametrize("shape", [(784,), (28, 28), (1, 28, 28), (4, 1, 28, 28)])
def test_relevance_npy_round_trip(tmp_path, shape):
    relevance = np.random.default_rng(0).normal(size=shape).astype(np.float32)
    path = save_relevance_npy(tmp_path / "r.npy", relevance)
    loaded = np.load(path, allow_pickle=False)
    assert loaded.dtype == np.float32
    np.testing.assert_array_equal(loaded, relevance)
    assert os.listdir(tmp_path) == ["r.npy"]


def test_relevance_npy_written_at_exact_path(tmp_path):
    save_relevance_npy(tmp_path / "relevance.data", np.ones(3))
    assert os.listdir(tmp_path) == ["relevance.data"]
    np.testing.assert_array_equal(np.load(tmp_path / "relevance.data"), np.ones(3))


def test_relevance_npy_refuses_objects(tmp_path):
    with pytest.raises(DataError, match="r.npy"):
        save_relevance_npy(tmp_path / "r.npy", np.array([object()], dtype=object))
    assert os.listdir(tmp_path) == []


def test_relevance_npy_failure_keeps_old_file(tmp_path, monkeypatch):
    path = tmp_path / "r.npy"
    save_relevance_npy(path, np.arange(5.0))
    before = path.read_bytes()

    def broken_save(file, arr, *args, **kwargs):
        file.write(b"\x93NUMPY partial")
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(np, "save", broken_save)
    with pytest.raises(DataError, match="No space left"):
        save_relevance_npy(path, np.zeros(5))
    assert path.read_bytes() == before
    assert os.listdir(tmp_path) == ["r.npy"]


# ------------------------------------------------------------------------------------------ csv
def test_relevance_csv_2d_as_is(tmp_path):
    relevance = np.array([[1.0, -2.5, 1e-9], [3.0, 0.0, 123456789.0]])
    path = save_relevance_csv(tmp_path / "r.csv", relevance)
    text = path.read_text()
    assert text.splitlines() == ["1,-2.5,1e-09", "3,0,1.2345679e+08"]
    np.testing.assert_allclose(np.loadtxt(path, delimiter=","), relevance, rtol=1e-7)


def test_relevance_csv_sums_channels(tmp_path):
    relevance = np.random.default_rng(1).normal(size=(3, 4, 5))
    path = save_relevance_csv(tmp_path / "r.csv", relevance)
    table = np.loadtxt(path, delimiter=",")
    assert table.shape == (4, 5)
    np.testing.assert_allclose(table, relevance.sum(axis=0), rtol=1e-7)


def test_relevance_csv_1d_is_one_row(tmp_path):
    path = save_relevance_csv(tmp_path / "r.csv", np.array([0.5, -0.25, 2.0], np.float32))
    assert path.read_text().splitlines() == ["0.5,-0.25,2"]


@pytest.mark.parametrize("shape", [(), (1, 1, 2, 2)])
def test_relevance_csv_refuses_other_shapes(tmp_path, shape):
    with pytest.raises(DataError, match="r.csv"):
        save_relevance_csv(tmp_path / "r.csv", np.zeros(shape))
    assert os.listdir(tmp_path) == []


def test_relevance_to_2d_shapes():
    assert relevance_to_2d(np.zeros(7)).shape == (1, 7)
    assert relevance_to_2d(np.zeros((2, 7))).shape == (2, 7)
    assert relevance_to_2d(np.ones((3, 2, 7)))[0, 0] == 3


def test_relevance_csv_failure_keeps_old_file(tmp_path, monkeypatch):
    path = tmp_path / "r.csv"
    save_relevance_csv(path, np.eye(2))
    before = path.read_bytes()

    def broken_savetxt(file, *args, **kwargs):
        file.write(b"1,2\n3,")
        raise RuntimeError("interrupted")

    monkeypatch.setattr(np, "savetxt", broken_savetxt)
    with pytest.raises(RuntimeError):
        save_relevance_csv(path, np.zeros((2, 2)))
    assert path.read_bytes() == before
    assert os.listdir(tmp_path) == ["r.csv"]


def test_export_into_missing_directory_is_a_data_error(tmp_path):
    with pytest.raises(DataError, match="r.csv"):
        save_relevance_csv(tmp_path / "missing" / "r.csv", np.zeros((2, 2)))


def test_table_csv_round_trip_with_quoting(tmp_path):
    import csv

    rows = [(0, "a,b", 'say "hi"', 1.5), (12, "ünï", "", -2)]
    path = save_table_csv(tmp_path / "index.csv", ["index", "label", "note", "value"], rows)
    with open(path, newline="", encoding="utf-8") as handle:
        read = list(csv.reader(handle))
    assert read == [["index", "label", "note", "value"], ["0", "a,b", 'say "hi"', "1.5"], ["12", "ünï", "", "-2"]]
    assert os.listdir(tmp_path) == ["index.csv"]


def test_table_csv_refuses_ragged_rows_and_keeps_the_old_file(tmp_path):
    path = save_table_csv(tmp_path / "t.csv", ["a", "b"], [(1, 2)])
    before = path.read_bytes()
    with pytest.raises(DataError, match="t.csv: row 1 has 1 values for 2 columns"):
        save_table_csv(path, ["a", "b"], [(3, 4), (5,)])
    assert path.read_bytes() == before and os.listdir(tmp_path) == ["t.csv"]


def test_table_csv_failure_keeps_old_file(tmp_path, monkeypatch):
    path = save_table_csv(tmp_path / "t.csv", ["a"], [(1,)])
    before = path.read_bytes()

    def broken_write(self, text, *args, **kwargs):
        with open(self, "w", encoding="utf-8") as handle:
            handle.write(text[:3])
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(type(path), "write_text", broken_write)
    with pytest.raises(DataError, match="No space left"):
        save_table_csv(path, ["a"], [(2,), (3,)])
    assert path.read_bytes() == before and os.listdir(tmp_path) == ["t.csv"]


# ---------------------------------------------------------------------------------- input files
@pytest.mark.parametrize("stored_shape, n", [
    ((1, 28, 28), 1), ((784,), 1), ((5, 1, 28, 28), 5), ((5, 784), 5), ((5, 28, 28), 5),
])
def test_load_input_npy_accepts_sample_batch_and_flat_rows(tmp_path, stored_shape, n):
    data = np.random.default_rng(2).random(stored_shape)
    np.save(tmp_path / "x.npy", data)
    x = load_input_npy(tmp_path / "x.npy", (1, 28, 28))
    assert x.shape == (n, 1, 28, 28) and x.dtype == np.float32
    np.testing.assert_allclose(x.reshape(-1), data.reshape(-1).astype(np.float32))


def test_load_input_npy_feature_vectors(tmp_path):
    np.save(tmp_path / "x.npy", np.array([[0.1, 0.2], [0.3, 0.4], [0.5, 0.6]]))
    assert load_input_npy(tmp_path / "x.npy", (2,)).shape == (3, 2)
    np.save(tmp_path / "one.npy", np.array([1, 2], np.int64))
    x = load_input_npy(tmp_path / "one.npy", (2,))
    assert x.shape == (1, 2) and x.dtype == np.float32


def test_load_input_npy_works_with_a_loaded_model(tmp_path):
    net = mlp([4, 3, 2], seed=1)
    save_model(net, tmp_path / "m.npz")
    loaded = load_model(tmp_path / "m.npz")
    np.save(tmp_path / "x.npy", np.ones((3, 4)))
    x = load_input_npy(tmp_path / "x.npy", loaded.input_shape)
    np.testing.assert_array_equal(loaded.predict(x), net.predict(np.ones((3, 4))))


class _Payload:
    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return (open, (self.marker, "w"))


def _bad_input_files(tmp_path, marker):
    files = {}

    def save(name, array):
        np.save(tmp_path / name, array)
        files[name] = name

    save("wrong-shape.npy", np.zeros((3, 5)))
    save("wrong-size.npy", np.zeros(783))
    save("nan.npy", np.array([[np.nan, 0.0]]))
    save("inf.npy", np.array([[0.0, -np.inf]]))
    save("overflow.npy", np.array([[0.0, 1e300]]))
    save("complex.npy", np.zeros((1, 2), np.complex64))
    save("strings.npy", np.array([["a", "b"]]))
    save("empty.npy", np.zeros((0, 2)))
    save("objects.npy", np.array([_Payload(marker), _Payload(marker)], dtype=object))
    (tmp_path / "random.npy").write_bytes(os.urandom(300))
    (tmp_path / "text.npy").write_text("0.1, 0.2\n")
    (tmp_path / "pickle.npy").write_bytes(pickle.dumps(_Payload(marker)))
    (tmp_path / "truncated.npy").write_bytes((tmp_path / "wrong-size.npy").read_bytes()[:200])
    np.savez(tmp_path / "archive.npz", x=np.zeros((1, 2)))
    (tmp_path / "folder.npy").mkdir()
    return [name for name in os.listdir(tmp_path) if name != "marker"] + ["missing.npy"]


def test_load_input_npy_refuses_bad_files_with_a_data_error(tmp_path):
    marker = tmp_path / "marker"
    names = _bad_input_files(tmp_path, marker)
    assert len(names) >= 16
    for name in names:
        shape = (1, 28, 28) if name.startswith("wrong") else (2,)
        with pytest.raises(DataError) as info:
            load_input_npy(tmp_path / name, shape)
        assert name in str(info.value), str(info.value)
    assert not marker.exists()
