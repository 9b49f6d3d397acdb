"""The target of an explanation and what its output is worth: its logit or its probability.

:func:`resolve_targets` turns ``target=`` (None, an int, N ints) into class indices for
:func:`~lrp_studio.lrp.explain`, the perturbation maps and occlusion; :func:`target_outputs`
is the f that the faithfulness curves and the perturbation maps both measure.
The probability is the softmax over the classes, or for a network with one output (the notes'
binary classifier) the sigmoid of that output, P(class 1).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from lrp_studio.backend import get_xp, to_numpy
from lrp_studio.errors import ParameterError
from lrp_studio.nn.losses import sigmoid, softmax

__all__ = ["OUTPUTS", "check_output", "probabilities", "resolve_targets", "target_outputs"]

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
        For a target that is not an int, not N ints, or not a class index.
    """
    xp = get_xp()
    n, n_classes = logits.shape
    if target is None:
        return logits.argmax(axis=1)
    values = np.broadcast_to(np.asarray(target), (n,)) if np.ndim(target) == 0 else np.asarray(target)
    if values.shape != (n,) or not np.issubdtype(values.dtype, np.integer):
        raise ParameterError(f"target must be an int or {n} ints, got {target!r}")
    if values.min() < 0 or values.max() >= n_classes:
        raise ParameterError(f"target must be a class index in 0..{n_classes - 1}, got {target!r}")
    return xp.asarray(values.astype(np.int64))


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
