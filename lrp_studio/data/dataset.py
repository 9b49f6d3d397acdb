"""The in-memory dataset type shared by loaders, training and the GUI."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from lrp_studio.errors import DataError

__all__ = ["Dataset", "rounded_range"]


@dataclass(frozen=True, eq=False)
class Dataset:
    """A labelled dataset held as NumPy arrays.

    Parameters
    ----------
    name : str
        Human-readable name (e.g. ``"mnist:test"``, ``"toy:moons"``, a file name).
    x : numpy.ndarray, shape (N, C, H, W) or (N, F), float32
        Inputs, batch first.
    y : numpy.ndarray, shape (N,), int64
        Class indices in ``0 .. len(classes) - 1``.
    classes : list of str
        Class names; ``classes[k]`` names label ``k``.
    input_range : tuple of float
        ``(low, high)`` bounds of the input values (used by z-box rules and smoothgrad noise).
    masks : numpy.ndarray, shape (N, H, W), bool, optional
        Ground-truth masks of image datasets (``toy:shapes``: the shape's pixels), for the
        localisation metrics (:mod:`lrp_studio.lrp.localisation`); None when unknown.
    features : list of str, optional
        Names of the F features of tabular (N, F) data (a CSV header); None when unknown.

    Raises
    ------
    DataError
        If the arrays' shapes, dtypes or labels are inconsistent.
    """

    name: str
    x: np.ndarray
    y: np.ndarray
    classes: list[str]
    input_range: tuple[float, float] = (0.0, 1.0)
    masks: np.ndarray | None = None
    features: list[str] | None = None

    def __post_init__(self) -> None:
        x = np.asarray(self.x)
        y = np.asarray(self.y)
        if x.ndim not in (2, 4):
            raise DataError(
                f"{self.name}: inputs must be (N, F) or (N, C, H, W), got shape {x.shape}"
            )
        if y.ndim != 1 or y.shape[0] != x.shape[0]:
            raise DataError(f"{self.name}: {x.shape[0]} inputs but labels of shape {y.shape}")
        if x.dtype != np.float32:
            x = x.astype(np.float32)
        if y.dtype != np.int64:
            y = y.astype(np.int64)
        if y.size and (y.min() < 0 or y.max() >= len(self.classes)):
            raise DataError(
                f"{self.name}: labels must lie in 0..{len(self.classes) - 1}, "
                f"got {y.min()}..{y.max()}"
            )
        low, high = (float(v) for v in self.input_range)
        if not low < high:
            raise DataError(f"{self.name}: input range must have low < high, got ({low}, {high})")
        object.__setattr__(self, "x", x)
        object.__setattr__(self, "y", y)
        object.__setattr__(self, "classes", [str(c) for c in self.classes])
        object.__setattr__(self, "input_range", (low, high))
        if self.masks is not None:
            masks = np.asarray(self.masks).astype(bool, copy=False)
            if x.ndim != 4 or masks.shape != (x.shape[0],) + x.shape[2:]:
                raise DataError(f"{self.name}: masks must be (N, H, W) = {(x.shape[0],) + x.shape[2:]}, "
                                f"got {masks.shape}")
            object.__setattr__(self, "masks", masks)
        if self.features is not None:
            if x.ndim != 2 or len(self.features) != x.shape[1]:
                raise DataError(f"{self.name}: {len(self.features)} feature names for samples of shape {x.shape[1:]}")
            object.__setattr__(self, "features", [str(f) for f in self.features])

    def __len__(self) -> int:
        """Number of samples N."""
        return int(self.y.shape[0])

    @property
    def sample_shape(self) -> tuple[int, ...]:
        """Shape of one sample, ``(C, H, W)`` or ``(F,)``."""
        return tuple(self.x.shape[1:])

    @property
    def n_classes(self) -> int:
        """Number of classes."""
        return len(self.classes)

    def subset(self, indices: np.ndarray | list[int] | slice, name: str | None = None) -> Dataset:
        """Return the samples at ``indices`` as a new dataset.

        Parameters
        ----------
        indices : array_like of int, shape (M,), boolean mask of shape (N,), or slice
            Which samples to keep, in the given order.
        name : str, optional
            Name of the new dataset; defaults to this dataset's name.

        Returns
        -------
        Dataset
            M samples with the same classes and input range.
        """
        if not isinstance(indices, slice):
            indices = np.asarray(indices)
            if indices.dtype != bool:
                indices = indices.astype(np.int64).reshape(-1)
        return Dataset(
            name=self.name if name is None else name,
            x=self.x[indices],
            y=self.y[indices],
            classes=list(self.classes),
            input_range=self.input_range,
            masks=None if self.masks is None else self.masks[indices],
            features=self.features,
        )


def rounded_range(x: np.ndarray, step: float = 0.1) -> tuple[float, float]:
    """Return ``(min, max)`` of ``x`` rounded outwards to multiples of ``step``.

    Parameters
    ----------
    x : numpy.ndarray, any shape, non-empty and finite
        Data whose value range is wanted.
    step : float
        Rounding granularity.

    Returns
    -------
    tuple of float
        ``(low, high)`` with ``low <= x.min()``, ``high >= x.max()`` and ``low < high``
        (a constant array gets a range one ``step`` wide on either side).
    """
    low = float(np.floor(float(np.min(x)) / step) * step)
    high = float(np.ceil(float(np.max(x)) / step) * step)
    if not low < high:
        low, high = low - step, high + step
    return round(low, 10), round(high, 10)
