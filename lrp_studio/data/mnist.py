"""The bundled 5,000-image MNIST subset and its fixed stratified train/test split."""

from __future__ import annotations

import functools

import numpy as np

from lrp_studio.data.dataset import Dataset
from lrp_studio.data.paths import resource_path
from lrp_studio.errors import DataError

__all__ = [
    "MNIST_CLASSES",
    "MNIST_RESOURCE",
    "TEST_PER_CLASS",
    "load_mnist_subset",
    "split_indices",
]

MNIST_RESOURCE = "mnist_5k.npz"
MNIST_CLASSES: tuple[str, ...] = tuple(str(d) for d in range(10))
TEST_PER_CLASS = 100
_SPLIT_SEED = 0
_SPLITS = ("all", "train", "test")


@functools.lru_cache(maxsize=1)
def _load_raw() -> tuple[np.ndarray, np.ndarray]:
    """Read the bundled arrays once.

    Returns
    -------
    images : numpy.ndarray, shape (5000, 28, 28), uint8
    labels : numpy.ndarray, shape (5000,), uint8
    """
    path = resource_path(MNIST_RESOURCE)
    try:
        with np.load(path, allow_pickle=False) as archive:
            images = archive["images"]
            labels = archive["labels"]
    except (OSError, ValueError, KeyError) as exc:
        raise DataError(f"{path.name}: cannot read bundled MNIST subset: {exc}") from exc
    if images.ndim != 3 or labels.shape != (images.shape[0],):
        raise DataError(
            f"{path.name}: expected images (N, 28, 28) and labels (N,), "
            f"got {images.shape} and {labels.shape}"
        )
    images.flags.writeable = False
    labels.flags.writeable = False
    return images, labels


@functools.lru_cache(maxsize=1)
def split_indices() -> tuple[np.ndarray, np.ndarray]:
    """Return the fixed stratified split of the bundled subset.

    Each class's indices are permuted with ``np.random.default_rng(0)`` (classes in order
    0..9, one generator); the first 100 of each permutation form the test set.

    Returns
    -------
    train_idx : numpy.ndarray, shape (4000,), int64
        Sorted indices of the training samples.
    test_idx : numpy.ndarray, shape (1000,), int64
        Sorted indices of the test samples, exactly 100 per class.
    """
    _, labels = _load_raw()
    rng = np.random.default_rng(_SPLIT_SEED)
    test_parts = []
    for digit in range(len(MNIST_CLASSES)):
        members = np.flatnonzero(labels == digit)
        test_parts.append(rng.permutation(members)[:TEST_PER_CLASS])
    test_idx = np.sort(np.concatenate(test_parts)).astype(np.int64)
    is_test = np.zeros(labels.shape[0], dtype=bool)
    is_test[test_idx] = True
    train_idx = np.flatnonzero(~is_test).astype(np.int64)
    train_idx.flags.writeable = False
    test_idx.flags.writeable = False
    return train_idx, test_idx


@functools.lru_cache(maxsize=len(_SPLITS))
def _cached_subset(split: str) -> Dataset:
    images, labels = _load_raw()
    if split == "all":
        indices = np.arange(labels.shape[0])
    else:
        train_idx, test_idx = split_indices()
        indices = train_idx if split == "train" else test_idx
    x = (images[indices].astype(np.float32) / np.float32(255.0))[:, None, :, :]
    y = labels[indices].astype(np.int64)
    x.flags.writeable = False
    y.flags.writeable = False
    name = "mnist" if split == "all" else f"mnist:{split}"
    return Dataset(name=name, x=x, y=y, classes=list(MNIST_CLASSES), input_range=(0.0, 1.0))


def load_mnist_subset(split: str = "all") -> Dataset:
    """Load the bundled MNIST subset.

    Parameters
    ----------
    split : {"all", "train", "test"}
        ``"all"``: the 5,000 images in file order; ``"train"``: 4,000; ``"test"``: 1,000
        (see :func:`split_indices`).

    Returns
    -------
    Dataset
        ``x`` float32 in [0, 1] of shape (N, 1, 28, 28), ``y`` int64 of shape (N,), classes
        ``"0".."9"``, input range (0.0, 1.0). The arrays are cached and read-only; copy them
        before modifying.

    Raises
    ------
    DataError
        If ``split`` is unknown or the bundled file is missing or damaged.
    """
    if split not in _SPLITS:
        raise DataError(f"unknown MNIST split {split!r}; valid splits: {', '.join(_SPLITS)}")
    return _cached_subset(split)
