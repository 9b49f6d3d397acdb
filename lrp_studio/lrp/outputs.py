"""The target of an explanation and what its output is worth: its logit or its probability.

:func:`resolve_targets` turns ``target=`` (None, an int, N ints) into class indices for
:func:`~lrp_studio.lrp.explain`, the perturbation maps and occlusion; :func:`target_outputs`
is the f that the faithfulness curves and the perturbation maps both measure.
The probability is the softmax over the classes, or for a network with one output (the notes'
binary classifier) the sigmoid of that output, P(class 1).

:class:`OutputClasses` says how a network's output units map to classes, for every place that
names a class, a prediction or a probability (CLI explain/export/compare/evaluate, the GUI's output
chart and sample browser):

- C >= 2 outputs: one class per unit; the prediction is the argmax, the probabilities the softmax,
  and explaining class c starts the relevance at its logit z_c (``target=c``).
- One output z (the notes' binary classifier, trained with sigmoid + cross-entropy, loss ``bce``):
  two classes, ``["0", "1"]`` unless the model names its one output (a name N gives
  ``["not N", N]``); z > 0 is class 1; P(class 1) = sigmoid(z), P(class 0) = 1 - sigmoid(z). The
  relevance always starts at the logit z (``target=0``, the only output unit) whichever class is
  predicted: positive relevance is evidence for class 1, negative relevance evidence for class 0.
  Explaining class 0 would mean explaining -z, and every LRP rule and gradient baseline is linear in
  the starting relevance, so that map is exactly the negated map of z; LRP Studio shows the one map of
  z and does not flip its sign per sample (the 2-D playground's maps stay continuous across the
  decision boundary).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Sequence

import numpy as np

from lrp_studio.backend import get_xp, to_numpy
from lrp_studio.errors import ParameterError
from lrp_studio.nn.losses import sigmoid, softmax

__all__ = ["OUTPUTS", "OutputClasses", "check_output", "check_targets", "output_classes", "probabilities", "resolve_targets",
           "target_outputs"]

Array = Any

#: The values an output can be measured in.
OUTPUTS = ("logit", "probability")


def resolve_targets(target: Any, logits: Array) -> Array:
    """Per-sample target indices (N,) from None (prediction), an int or a sequence of ints.

    Parameters
    ----------
    target : None, int or (N,) ints
    logits : array (N, C) on the backend

    Returns
    -------
    array (N,) of int64 on the backend

    Raises
    ------
    ParameterError
        For a target that is not an int, not N ints, or not a class index (see :func:`check_targets`).
    """
    xp = get_xp()
    n, n_classes = logits.shape
    if target is None:
        return logits.argmax(axis=1)
    return xp.asarray(check_targets(target, n, n_classes))


def _shown(target: Any, limit: int = 8) -> str:
    """The user's ``target`` argument as they would write it (long sequences shortened)."""
    if np.ndim(target) == 0:
        return repr(target.item() if isinstance(target, np.generic) else target)
    values = np.asarray(target).reshape(-1).tolist()
    text = ", ".join(map(repr, values[:limit])) + (f", ... ({len(values)} values)" if len(values) > limit else "")
    return f"[{text}]"


def check_targets(target: Any, n: int, n_classes: int, positions: Any = None) -> np.ndarray:
    """``target`` (an int or ``n`` ints) as (n,) int64 NumPy class indices, checked.

    Parameters
    ----------
    target : int or (n,) ints
    n : int
        Samples in the batch.
    n_classes : int
        Output units of the network.
    positions : (n,) ints, optional
        How to name each sample in messages (default: its 0-based position in the batch).

    Raises
    ------
    ParameterError
        Naming the argument as given (``target=[0, 0, -1]``) and the first offending sample:
        ``target=[0, 0, -1]: sample 2 has -1, not a class index in 0..9``.
    """
    shown = _shown(target)
    values = np.broadcast_to(np.asarray(target), (n,)) if np.ndim(target) == 0 else np.asarray(target)
    if values.shape != (n,) or not (np.issubdtype(values.dtype, np.integer) or values.dtype == bool):
        raise ParameterError(f"target={shown}: must be an int or {n} ints (one per sample), "
                             f"got {values.size} value(s) of type {values.dtype}")
    bad = np.flatnonzero((values < 0) | (values >= n_classes))
    if bad.size:
        first = int(bad[0])
        where = f"sample {first}" if positions is None else str(list(positions)[first])
        subject = "every sample" if np.ndim(target) == 0 else where
        more = f" ({bad.size} samples in all)" if bad.size > 1 and np.ndim(target) != 0 else ""
        raise ParameterError(f"target={shown}: {subject} has {values[first]}, not a class index in "
                             f"0..{n_classes - 1}{more}")
    return values.astype(np.int64)


def check_output(output: str) -> str:
    """``output`` if it is one of :data:`OUTPUTS`.

    Raises
    ------
    ParameterError
        Any other value (the message lists the choices).
    """
    if output not in OUTPUTS:
        raise ParameterError(f"unknown output {output!r}; choose one of {', '.join(OUTPUTS)}")
    return output


def probabilities(logits: Any) -> np.ndarray:
    """Class probabilities of network outputs, float64 NumPy.

    Parameters
    ----------
    logits : array (N, C), NumPy or CuPy

    Returns
    -------
    ndarray (N, C), float64
        Softmax over the classes; for C = 1 the sigmoid of the single output (P(class 1)).
    """
    values = np.asarray(to_numpy(logits), dtype=np.float64)
    if values.ndim != 2:
        raise ParameterError(f"outputs must be (N, classes), got shape {values.shape}")
    return sigmoid(values) if values.shape[1] == 1 else softmax(values)


def target_outputs(outputs: Any, targets: Any, output: str = "logit") -> np.ndarray:
    """The target's logit or probability for every row of ``outputs``.

    Parameters
    ----------
    outputs : array (rows, C), NumPy or CuPy
        Network outputs (logits).
    targets : (rows,) ints
        The class of each row (0 for a one-output network).
    output : {"logit", "probability"}
        Default ``"logit"``; see :func:`probabilities`.

    Returns
    -------
    ndarray (rows,), float64

    Raises
    ------
    ParameterError
        Unknown ``output``.
    """
    check_output(output)
    values = probabilities(outputs) if output == "probability" else np.asarray(to_numpy(outputs), dtype=np.float64)
    rows = np.asarray(to_numpy(targets), dtype=np.int64).reshape(-1)
    return values[np.arange(values.shape[0]), rows]


@dataclass(frozen=True)
class OutputClasses:
    """How a network's output units map to classes (see the module docstring).

    Attributes
    ----------
    names : tuple of str
        The class names: one per output unit, or two (negative class first) for one output.
    n_outputs : int
        Output units of the network (1 for a binary classifier).
    """

    names: tuple[str, ...]
    n_outputs: int

    @property
    def binary(self) -> bool:
        """True for a one-output network: z > 0 is class 1."""
        return self.n_outputs == 1

    @property
    def n_classes(self) -> int:
        """Number of classes (2 for a one-output network)."""
        return len(self.names)

    def predicted(self, logits: Any) -> np.ndarray:
        """Predicted class per row, (N,) int64 NumPy: ``z > 0`` for one output, else the argmax.

        Parameters
        ----------
        logits : array (N, n_outputs) or (n_outputs,), NumPy or CuPy
        """
        values = _rows(logits, self.n_outputs)
        if self.binary:
            return (values[:, 0] > 0).astype(np.int64)
        return values.argmax(axis=1).astype(np.int64)

    def probabilities(self, logits: Any) -> np.ndarray:
        """Class probabilities (N, n_classes) float64: softmax, or [1 - sigmoid(z), sigmoid(z)] for one output."""
        values = _rows(logits, self.n_outputs)
        if self.binary:
            p1 = sigmoid(values[:, 0])
            return np.stack([1.0 - p1, p1], axis=1)
        return softmax(values)

    def unit(self, class_index: int) -> int:
        """The output unit whose logit is explained for ``class_index`` (0 for a one-output network)."""
        if not 0 <= int(class_index) < self.n_classes:
            raise ParameterError(f"class must be in 0..{self.n_classes - 1}, got {class_index}")
        return 0 if self.binary else int(class_index)

    def describe_target(self, unit: int, logit: float) -> str:
        """What an explanation of output ``unit`` explains, e.g. ``class 3 (logit 11.9)``.

        For one output: ``logit z = -7.49 (one output: relevance > 0 is evidence for class 1, < 0 for class 0)``.
        """
        if self.binary:
            return (f"logit z = {logit:.6g} (one output: relevance > 0 is evidence for class {self.names[1]}, "
                    f"< 0 for class {self.names[0]})")
        return f"class {self.names[int(unit)]} (logit {logit:.6g})"

    def target_name(self, unit: int) -> str:
        """The class whose logit output ``unit`` is (class 1's for one output: z is its logit)."""
        return self.names[1] if self.binary else self.names[int(unit)]


def output_classes(classes: Sequence[str], n_outputs: int | None = None) -> OutputClasses:
    """:class:`OutputClasses` of a network's class names (``net.classes``) and output count.

    Parameters
    ----------
    classes : sequence of str
        One name per output unit (a one-output network's name is its positive class, e.g. ``["1"]``).
    n_outputs : int, optional
        Default ``len(classes)``.

    Returns
    -------
    OutputClasses
        For one output named ``"1"`` (or ``"0"``, or unnamed): classes ``("0", "1")``; named N: ``("not N", N)``.
    """
    names = [str(name) for name in classes]
    n = len(names) if n_outputs is None else int(n_outputs)
    if n == 1:
        positive = names[0] if names else "1"
        pair = ("0", "1") if positive in ("0", "1") else (f"not {positive}", positive)
        return OutputClasses(pair, 1)
    if len(names) != n:
        names = [str(i) for i in range(n)]
    return OutputClasses(tuple(names), n)


def _rows(logits: Any, n_outputs: int) -> np.ndarray:
    values = np.asarray(to_numpy(logits), dtype=np.float64)
    if values.ndim == 1:
        values = values[None]
    if values.ndim != 2 or values.shape[1] != n_outputs:
        raise ParameterError(f"outputs must be (N, {n_outputs}), got shape {values.shape}")
    return values
