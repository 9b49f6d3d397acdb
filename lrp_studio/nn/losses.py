"""Losses on the network output: each returns (mean loss, gradient w.r.t. the output).

``cross-entropy``: softmax over classes; ``bce``: sigmoid on a single output (the binary
classifier of the notes, dL/dz = a - y); ``mse``: 1/(2N) sum (out - onehot)^2.
"""

from __future__ import annotations

from typing import Any, Callable

import numpy as np

from lrp_studio.backend import xp_of
from lrp_studio.errors import ParameterError

Array = Any


def one_hot(labels: Array, n_classes: int, dtype: Any = np.float32) -> Array:
    """(N,) integer labels -> (N, n_classes) one-hot."""
    xp = xp_of(labels)
    out = xp.zeros((labels.shape[0], n_classes), dtype=dtype)
    out[xp.arange(labels.shape[0]), labels] = 1
    return out


def log_softmax(logits: Array) -> Array:
    """Numerically stable log-softmax over the last axis."""
    xp = xp_of(logits)
    shifted = logits - logits.max(axis=-1, keepdims=True)
    return shifted - xp.log(xp.exp(shifted).sum(axis=-1, keepdims=True))


def softmax(logits: Array) -> Array:
    """Softmax over the last axis (NumPy or CuPy, any float dtype; overflow-free)."""
    return xp_of(logits).exp(log_softmax(logits))


def sigmoid(z: Array) -> Array:
    """1 / (1 + exp(-z)), written as (tanh(z / 2) + 1) / 2 so that no exp overflows; same dtype as ``z``."""
    xp = xp_of(z)
    return 0.5 * (xp.tanh(0.5 * xp.asarray(z)) + 1)


def cross_entropy(output: Array, labels: Array) -> tuple[float, Array]:
    """Softmax cross-entropy; output (N, C), labels (N,) ints. Gradient (softmax - onehot) / N."""
    n = output.shape[0]
    logp = log_softmax(output)
    loss = -float(logp[xp_of(output).arange(n), labels].mean())
    grad = xp_of(output).exp(logp)
    grad[xp_of(output).arange(n), labels] -= 1
    return loss, grad / n


def binary_cross_entropy(output: Array, labels: Array) -> tuple[float, Array]:
    """Sigmoid + binary cross-entropy on a single output column (N, 1); labels (N,) in {0, 1}.

    L = -[y log a + (1 - y) log(1 - a)], a = sigmoid(z), written as softplus(z) - y z;
    dL/dz = a - y (the notes' formula), averaged over the batch.
    """
    if output.shape[1] != 1:
        raise ParameterError(f"loss 'bce' needs a network with 1 output, this one has {output.shape[1]}")
    xp = xp_of(output)
    z = output[:, 0]
    y = labels.astype(output.dtype)
    softplus = xp.logaddexp(0, z)
    loss = float((softplus - y * z).mean())
    a = sigmoid(z)
    return loss, ((a - y) / z.shape[0])[:, None].astype(output.dtype)


def mean_squared_error(output: Array, labels: Array) -> tuple[float, Array]:
    """1/(2N) sum_n sum_k (out_nk - t_nk)^2 with one-hot targets t (or float targets (N, C))."""
    n = output.shape[0]
    if labels.ndim == 2:
        target = labels.astype(output.dtype)
    elif output.shape[1] == 1:  # one output: the label itself is the target (no one-hot)
        target = labels.astype(output.dtype)[:, None]
    else:
        target = one_hot(labels, output.shape[1], output.dtype)
    diff = output - target
    return float((diff * diff).sum() / (2 * n)), diff / n


LOSSES: dict[str, Callable[[Array, Array], tuple[float, Array]]] = {
    "cross-entropy": cross_entropy,
    "bce": binary_cross_entropy,
    "mse": mean_squared_error,
}


def get_loss(name: str) -> Callable[[Array, Array], tuple[float, Array]]:
    """Look up a loss by name."""
    if name not in LOSSES:
        raise ParameterError(f"unknown loss {name!r}; choose one of {', '.join(LOSSES)}")
    return LOSSES[name]


def accuracy(output: Array, labels: Array) -> float:
    """Fraction of correct predictions: argmax for several outputs, output > 0 for one."""
    if output.shape[1] == 1:
        predicted = (output[:, 0] > 0).astype(labels.dtype)
    else:
        predicted = output.argmax(axis=1)
    return float((predicted == labels).mean())
