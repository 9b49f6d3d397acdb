"""Datasets: the bundled MNIST subset, IDX/CSV/NPZ loaders and 2-D toy generators (NumPy only)."""

from lrp_studio.data.dataset import Dataset, rounded_range
from lrp_studio.data.files import load_csv_dataset, load_dataset, load_npz_dataset
from lrp_studio.data.idx import IDX_DTYPES, MAX_IDX_ELEMENTS, load_idx_dataset, read_idx, write_idx
from lrp_studio.data.mnist import MNIST_CLASSES, load_mnist_subset, split_indices
from lrp_studio.data.paths import resource_path
from lrp_studio.data.toy import TOY_NAMES, make_toy

__all__ = [
    "IDX_DTYPES",
    "MAX_IDX_ELEMENTS",
    "MNIST_CLASSES",
    "TOY_NAMES",
    "Dataset",
    "load_csv_dataset",
    "load_dataset",
    "load_idx_dataset",
    "load_mnist_subset",
    "load_npz_dataset",
    "make_toy",
    "read_idx",
    "resource_path",
    "rounded_range",
    "split_indices",
    "write_idx",
]
