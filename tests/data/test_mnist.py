"""The bundled MNIST subset and its fixed stratified split."""

from __future__ import annotations

import numpy as np
import pytest

from lrp_studio.data import Dataset, load_mnist_subset, resource_path, split_indices
from lrp_studio.errors import DataError


def test_resource_path_finds_bundled_subset() -> None:
    path = resource_path("mnist_5k.npz")
    assert path.is_file()
    assert (path.parent / "MNIST_ATTRIBUTION.md").is_file()


def test_resource_path_missing_names_the_resource() -> None:
    with pytest.raises(DataError, match="no_such_file.bin"):
        resource_path("no_such_file.bin")


def test_split_is_4000_1000_disjoint_and_complete() -> None:
    train_idx, test_idx = split_indices()
    assert train_idx.shape == (4000,) and test_idx.shape == (1000,)
    assert np.intersect1d(train_idx, test_idx).size == 0
    assert np.array_equal(np.sort(np.concatenate([train_idx, test_idx])), np.arange(5000))
    assert np.all(np.diff(test_idx) > 0) and np.all(np.diff(train_idx) > 0)


def test_split_is_stratified_100_per_class() -> None:
    test = load_mnist_subset("test")
    train = load_mnist_subset("train")
    assert np.array_equal(np.bincount(test.y, minlength=10), np.full(10, 100))
    assert np.array_equal(np.bincount(train.y, minlength=10), np.full(10, 400))


def test_split_is_deterministic() -> None:
    first = split_indices()
    split_indices.cache_clear()
    second = split_indices()
    for a, b in zip(first, second):
        assert np.array_equal(a, b)


def test_split_indices_select_the_split_samples() -> None:
    everything = load_mnist_subset()
    _, test_idx = split_indices()
    test = load_mnist_subset("test")
    assert np.array_equal(everything.x[test_idx], test.x)
    assert np.array_equal(everything.y[test_idx], test.y)


@pytest.mark.parametrize(("split", "n"), [("all", 5000), ("train", 4000), ("test", 1000)])
def test_dataset_shapes_types_and_range(split: str, n: int) -> None:
    data = load_mnist_subset(split)
    assert isinstance(data, Dataset)
    assert len(data) == n
    assert data.x.shape == (n, 1, 28, 28) and data.x.dtype == np.float32
    assert data.y.shape == (n,) and data.y.dtype == np.int64
    assert 0.0 <= data.x.min() and data.x.max() <= 1.0 and data.x.max() == 1.0
    assert data.classes == [str(d) for d in range(10)]
    assert data.input_range == (0.0, 1.0)


def test_loading_is_cached_and_arrays_read_only() -> None:
    assert load_mnist_subset("test") is load_mnist_subset("test")
    data = load_mnist_subset("test")
    with pytest.raises(ValueError):
        data.x[0, 0, 0, 0] = 1.0


def test_unknown_split_lists_valid_ones() -> None:
    with pytest.raises(DataError, match="train"):
        load_mnist_subset("validation")


def test_subset_keeps_metadata() -> None:
    data = load_mnist_subset("test")
    part = data.subset([3, 1, 2], name="three")
    assert len(part) == 3 and part.name == "three"
    assert np.array_equal(part.y, data.y[[3, 1, 2]])
    assert part.classes == data.classes and part.input_range == data.input_range
    assert len(data.subset(data.y == 7)) == 100


def test_dataset_validates_labels_and_shapes() -> None:
    x = np.zeros((3, 2), np.float32)
    with pytest.raises(DataError, match="labels"):
        Dataset("bad", x, np.array([0, 1, 2]), ["0", "1"], (0.0, 1.0))
    with pytest.raises(DataError, match="bad"):
        Dataset("bad", x, np.array([0, 1]), ["0", "1"], (0.0, 1.0))
    with pytest.raises(DataError, match="shape"):
        Dataset("bad", np.zeros((3, 2, 2), np.float32), np.zeros(3), ["0"], (0.0, 1.0))
