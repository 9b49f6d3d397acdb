"""Which samples a faithfulness evaluation scores: class-balanced and seeded, or the first N.

The bundled MNIST splits are stored sorted by label, so "the first N samples" of ``mnist:test``
are zeros and ones only. :func:`select_samples` therefore defaults to a class-balanced choice:
round-robin over the classes (ascending label), taking from each class its samples in a seeded
random order, until N are chosen (a class that runs out is skipped). ``"first"`` keeps the old
choice, the first N samples in file order.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from lrp_studio.errors import DataError, ParameterError

SELECTIONS = ("balanced", "first")
DEFAULT_SELECTION = "balanced"
BALANCED_RULE = ("round-robin over classes in ascending label order; within a class, its samples in the "
                 "order of numpy.random.default_rng(sample_seed).permutation, drawn class by class")


@dataclass(frozen=True)
class Selection:
    """The chosen samples.

    Attributes
    ----------
    indices : np.ndarray
        ``(n,)`` int64 positions in the dataset, in evaluation order.
    mode : str
        ``"balanced"`` or ``"first"``.
    seed : int or None
        The sample seed (``None`` for ``"first"``).
    class_counts : dict[int, int]
        Label -> number of chosen samples with that label (every label of the dataset, 0 included).
    """

    indices: np.ndarray
    mode: str
    seed: int | None
    class_counts: dict[int, int]

    def describe(self) -> str:
        """One line, e.g. ``"class-balanced (sample seed 0; per class 0:2 1:2 ...)"``."""
        counts = " ".join(f"{label}:{count}" for label, count in self.class_counts.items())
        if self.mode == "first":
            return f"the first {len(self.indices)} (per class {counts})"
        return f"class-balanced (sample seed {self.seed}; per class {counts})"

    def as_dict(self) -> dict:
        """JSON-ready: mode, seed, rule, class counts (label keys as strings), indices."""
        return {"mode": self.mode, "seed": self.seed, "rule": BALANCED_RULE if self.mode == "balanced" else
                "the first N samples in file order",
                "class_counts": {str(k): v for k, v in self.class_counts.items()},
                "indices": [int(i) for i in self.indices]}


def balanced_indices(labels: np.ndarray, n: int, seed: int = 0) -> np.ndarray:
    """Positions of ``n`` samples taken round-robin over the classes, seeded within each class.

    Parameters
    ----------
    labels : np.ndarray
        ``(N,)`` integer class labels.
    n : int
        How many to choose, ``1 <= n <= N``.
    seed : int, default 0
        Seed of ``numpy.random.default_rng``; each class (ascending label) draws one permutation
        of its own samples from that generator in turn.

    Returns
    -------
    np.ndarray
        ``(n,)`` int64 positions: the first sample of every class, then the second, and so on;
        classes that run out are skipped, so the counts differ by at most one while every class
        has samples left.

    Raises
    ------
    ParameterError
        ``n`` outside ``1..N``.
    """
    labels = np.asarray(labels).reshape(-1)
    if not 1 <= n <= len(labels):
        raise ParameterError(f"cannot choose {n} of {len(labels)} samples")
    rng = np.random.default_rng(seed)
    per_class = [np.flatnonzero(labels == label)[rng.permutation(int(np.sum(labels == label)))]
                 for label in np.unique(labels)]
    depth = max(len(members) for members in per_class)
    order = [members[k] for k in range(depth) for members in per_class if k < len(members)]
    return np.asarray(order[:n], dtype=np.int64)


def select_samples(labels: np.ndarray | None, n: int, mode: str = DEFAULT_SELECTION, seed: int = 0) -> Selection:
    """Choose ``n`` samples for an evaluation (see the module docstring).

    Parameters
    ----------
    labels : np.ndarray or None
        ``(N,)`` integer labels of the dataset.
    n : int
        Number of samples, ``1 <= n <= N``.
    mode : {"balanced", "first"}, default "balanced"
    seed : int, default 0
        Sample seed of the balanced choice (ignored by ``"first"``).

    Raises
    ------
    ParameterError
        Unknown ``mode`` or ``n`` out of range.
    DataError
        ``"balanced"`` on a dataset without labels.
    """
    if mode not in SELECTIONS:
        raise ParameterError(f"unknown sample selection {mode!r}; choose one of {', '.join(SELECTIONS)}")
    if labels is None:
        raise DataError("the dataset has no labels")
    labels = np.asarray(labels).reshape(-1).astype(np.int64)
    if not 1 <= n <= len(labels):
        raise ParameterError(f"cannot choose {n} of {len(labels)} samples")
    if mode == "first":
        indices, used_seed = np.arange(n, dtype=np.int64), None
    else:
        indices, used_seed = balanced_indices(labels, n, seed), int(seed)
    chosen = labels[indices]
    counts = {int(label): int(np.sum(chosen == label)) for label in np.unique(labels)}
    return Selection(indices=indices, mode=mode, seed=used_seed, class_counts=counts)
