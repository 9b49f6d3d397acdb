"""Fixed input preprocessing: per-channel normalisation ``y = (x - mean) / std`` as the network's first node.

A model trained on normalised inputs (torchvision's ``transforms.Normalize(mean, std)``) carries its
normalisation as a ``{"type": "normalize", "mean": [...], "std": [...]}`` node (model file version 2),
so users give inputs in their natural range (``input_range``, e.g. [0, 1]) and the network sees the
normalised tensor. It is kept as its own node, not folded into the first dense/conv layer, because
folding is exact only without zero padding: a padded border of the normalised tensor is 0, which is
``mean`` in input units, not 0 (Zennit, too, keeps the normalisation out of the first layer and
passes the normalised bounds to its ``ZBox`` rule). LRP passes relevance through it unchanged (an
element-wise bijection, like an activation); gradients are divided by ``std``.
"""

from __future__ import annotations

import math
from typing import Any, Sequence

import numpy as np

from lrp_studio.backend import xp_of
from lrp_studio.errors import ParameterError
from lrp_studio.nn.base import Layer

Array = Any

__all__ = ["Normalize", "normalize_values"]


def _vector(values: Any, name: str) -> list[float]:
    if not isinstance(values, (list, tuple)) or not values:
        raise ParameterError(f"normalize: {name} must be a non-empty list of numbers, got {values!r}")
    out = []
    for value in values:
        if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
            raise ParameterError(f"normalize: {name} must hold numbers, got {value!r}")
        if not math.isfinite(float(value)):
            raise ParameterError(f"normalize: {name} must be finite, got {value!r}")
        out.append(float(value))
    return out


def normalize_values(value: Any, mean: Sequence[float], std: Sequence[float], sample_shape: Sequence[int]) -> np.ndarray:
    """``(value - mean) / std`` for one sample's worth of values, per channel (axis 0 of ``sample_shape``).

    Parameters
    ----------
    value : float or array broadcastable to ``sample_shape``
        E.g. a z-box bound in input units.
    mean, std : sequences of C floats
    sample_shape : (C, H, W) or (C,)

    Returns
    -------
    numpy.ndarray, float64, ``sample_shape``
    """
    shape = tuple(int(v) for v in sample_shape)
    extra = (1,) * (len(shape) - 1)
    m = np.asarray(mean, dtype=np.float64).reshape((-1,) + extra)
    s = np.asarray(std, dtype=np.float64).reshape((-1,) + extra)
    return (np.broadcast_to(np.asarray(value, dtype=np.float64), shape) - m) / s


class Normalize(Layer):
    """``y[:, c] = (x[:, c] - mean[c]) / std[c]`` for (N, C, H, W) or (N, C) inputs; no trainable parameters.

    Parameters
    ----------
    mean : list of float
        One value per channel (C), in input units.
    std : list of float
        One value per channel (C), each > 0.

    Raises
    ------
    ParameterError
        Lists of different lengths, non-finite values, or a std <= 0.
    """

    type_name = "normalize"

    def __init__(self, mean: Sequence[float], std: Sequence[float]) -> None:
        super().__init__()
        self.mean = _vector(mean, "mean")
        self.std = _vector(std, "std")
        if len(self.mean) != len(self.std):
            raise ParameterError(f"normalize: mean has {len(self.mean)} values, std {len(self.std)}")
        if min(self.std) <= 0:
            raise ParameterError(f"normalize: every std must be > 0, got {self.std}")

    def _shaped(self, x: Array) -> tuple[Array, Array]:
        if x.ndim < 2 or x.shape[1] != len(self.mean):
            raise ParameterError(f"normalize: input of shape {tuple(x.shape)} does not have {len(self.mean)} channels")
        xp = xp_of(x)
        extra = (1,) * (x.ndim - 2)
        mean = xp.asarray(self.mean, dtype=x.dtype).reshape((1, -1) + extra)
        std = xp.asarray(self.std, dtype=x.dtype).reshape((1, -1) + extra)
        return mean, std

    def forward(self, x: Array) -> tuple[Array, Any]:
        mean, std = self._shaped(x)
        return (x - mean) / std, std

    def backward(self, grad_y: Array, cache: Any, need_input: bool = True) -> tuple[Array, dict[str, Array]]:
        return grad_y / cache, {}

    def output_shape(self, input_shape: tuple[int, ...]) -> tuple[int, ...]:
        if not input_shape or input_shape[0] != len(self.mean):
            raise ParameterError(f"normalize: input shape {input_shape} does not have {len(self.mean)} channels "
                                 "(mean and std give one value per channel)")
        return input_shape

    def spec(self) -> dict[str, Any]:
        return {"type": self.type_name, "mean": list(self.mean), "std": list(self.std)}

