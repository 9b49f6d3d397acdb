"""Start relevance: the relevance vector at the network output that LRP propagates down.

Four starts (``explain(..., start=...)``, CLI ``--start``):

* ``"logit"`` (default, DESIGN.md 3.2): R_out = f_c(x) * one-hot(c), the explained class's logit.
* ``"outputs"``: R_out = f(x), the whole output vector, as the lecture notes' MATLAB code starts
  (seed 003: ``R = y`` at the top layer); input relevance then explains all classes at once.
* ``"contrast:A,B"`` / ``("contrast", A, B)``: R_out = f_A(x) e_A - f_B(x) e_B, "why class A and not B"
  (its total is the logit difference f_A - f_B); the explained target is A. ``("contrast", None, B)``
  contrasts the explained target (``target=``, default the prediction) with B (the GUI's choice);
  a sample whose target is B then starts from zero.
* a vector ``v`` (C,) or (N, C) (CLI ``vector:FILE.npy``): R_out = v as given, like Zennit's
  ``attr_output`` (e.g. the softmax probabilities, or a one-hot without the logit's scale).

Conservation then refers to the start total sum_k R_out,k (for ``"logit"`` the explained logit).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from lrp_studio.backend import xp_of
from lrp_studio.errors import ParameterError

Array = Any

#: The kinds of start relevance, in the order the GUI and ``--help`` list them.
START_KINDS = ("logit", "outputs", "contrast", "vector")

#: One line per kind, in the notes' terms (GUI tooltips, ``--help``).
START_HELP = {
    "logit": "the explained class's logit, zero elsewhere (default)",
    "outputs": "the whole output vector, as the notes' MATLAB code starts",
    "contrast": "logit of class A at A, minus the logit of class B at B: why A and not B",
    "vector": "a user vector (C,) or (N, C), used as the output relevance as given",
}


@dataclass(frozen=True)
class Start:
    """A start relevance choice.

    Attributes
    ----------
    kind : {"logit", "outputs", "contrast", "vector"}
    classes : (int or None, int) or None
        Classes A and B of a contrast (A None: the explained target).
    vector : ndarray (C,) or (N, C), float64, or None
        The user's start vector.
    """

    kind: str = "logit"
    classes: tuple[int, int] | None = None
    vector: np.ndarray | None = None

    def describe(self) -> str:
        """Short text, e.g. ``"logit"``, ``"contrast 3-8"``, ``"vector"``."""
        if self.kind == "contrast" and self.classes is not None:
            first = "target" if self.classes[0] is None else self.classes[0]
            return f"contrast {first}-{self.classes[1]}"
        return self.kind

    @property
    def total_label(self) -> str:
        """What conservation compares with, e.g. ``"explained logit"`` or ``"start total (outputs)"``."""
        return "explained logit" if self.kind == "logit" else f"start total ({self.describe()})"

    def rows(self, begin: int, end: int) -> "Start":
        """The start for samples begin..end-1 (slices a per-sample vector; else itself)."""
        if self.vector is not None and self.vector.ndim == 2:
            return Start(self.kind, self.classes, self.vector[begin:end])
        return self


def _class(value: Any, n_classes: int) -> int:
    try:
        index = int(str(value).strip()) if not isinstance(value, (int, np.integer)) else int(value)
    except ValueError:
        raise ParameterError(f"contrast classes must be class indices, got {value!r}") from None
    if not 0 <= index < n_classes:
        raise ParameterError(f"contrast class {index} is out of range 0..{n_classes - 1}")
    return index


def _contrast(a: Any, b: Any, n_classes: int) -> Start:
    if a is None:
        return Start("contrast", (None, _class(b, n_classes)))
    first, second = _class(a, n_classes), _class(b, n_classes)
    if first == second:
        raise ParameterError(f"a contrast needs two different classes, got {first} and {second}")
    return Start("contrast", (first, second))


def _vector(value: Any, n_classes: int) -> Start:
    try:
        vector = np.array(value, dtype=np.float64)
    except (TypeError, ValueError):
        raise ParameterError(f"start vector must be numbers, got {value!r}") from None
    if vector.ndim not in (1, 2) or vector.shape[-1] != n_classes:
        raise ParameterError(f"start vector must have shape ({n_classes},) or (N, {n_classes}), got {vector.shape}")
    if not np.isfinite(vector).all():
        raise ParameterError("start vector contains NaN or infinite values")
    return Start("vector", vector=vector)


def parse_start(value: Any, n_classes: int) -> Start:
    """A :class:`Start` from what ``explain(start=...)`` accepts.

    Parameters
    ----------
    value : None, str, tuple, array-like or Start
        None / ``"logit"``; ``"outputs"``; ``"contrast:A,B"`` or ``("contrast", A, B)`` with class
        indices; a numeric vector (C,) or (N, C); or a :class:`Start`.
    n_classes : int
        Number of network outputs C.

    Raises
    ------
    ParameterError
        Unknown kind, classes out of range or equal, or a vector of the wrong shape or non-finite.
    """
    if value is None:
        return Start()
    if isinstance(value, Start):
        if value.kind == "contrast" and value.classes is not None:
            return _contrast(*value.classes, n_classes)
        return _vector(value.vector, n_classes) if value.kind == "vector" else parse_start(value.kind, n_classes)
    if isinstance(value, str):
        kind, _, rest = value.partition(":")
        kind = kind.strip()
        if kind in ("logit", "outputs") and not rest:
            return Start(kind)
        if kind == "contrast":
            parts = rest.split(",")
            if len(parts) != 2:
                raise ParameterError(f"contrast start is 'contrast:A,B' (two class indices), got {value!r}")
            return _contrast(parts[0], parts[1], n_classes)
        raise ParameterError(f"unknown start {value!r}; choose logit, outputs, contrast:A,B or a vector")
    if isinstance(value, tuple) and len(value) == 3 and value[0] == "contrast":
        return _contrast(value[1], value[2], n_classes)
    return _vector(value, n_classes)


def start_targets(start: Start, default: Array) -> Array:
    """The explained class per sample: A for a contrast, else ``default`` (the resolved targets)."""
    if start.kind == "contrast" and start.classes is not None and start.classes[0] is not None:
        return xp_of(default).full(default.shape, start.classes[0], dtype=default.dtype)
    return default


def start_relevance(start: Start, outputs: Array, targets: Array) -> Array:
    """The output relevance (N, C) on the backend of ``outputs``.

    Parameters
    ----------
    start : Start
    outputs : array (N, C)
        The network outputs (logits).
    targets : array (N,) ints
        The explained classes (used by ``"logit"``).

    Raises
    ------
    ParameterError
        A per-sample vector whose N differs from the batch.
    """
    xp = xp_of(outputs)
    n = outputs.shape[0]
    rows = xp.arange(n)
    if start.kind == "outputs":
        return outputs.copy()
    if start.kind == "vector" and start.vector is not None:
        if start.vector.ndim == 2 and start.vector.shape[0] != n:
            raise ParameterError(f"start vector has {start.vector.shape[0]} rows for {n} samples")
        values = np.broadcast_to(start.vector, outputs.shape)
        return xp.asarray(np.ascontiguousarray(values), dtype=outputs.dtype)
    relevance = xp.zeros_like(outputs)
    if start.kind == "contrast" and start.classes is not None:
        a, b = start.classes
        if a is None:  # the explained target of each sample against B (zero where the target is B)
            relevance[rows, targets] = outputs[rows, targets]
            relevance[:, b] = relevance[:, b] - outputs[:, b]
            return relevance
        relevance[:, a] = outputs[:, a]
        relevance[:, b] = -outputs[:, b]
        return relevance
    relevance[rows, targets] = outputs[rows, targets]
    return relevance


__all__ = ["START_HELP", "START_KINDS", "Start", "parse_start", "start_relevance", "start_targets"]
