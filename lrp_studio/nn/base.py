"""The layer base class and the checks every layer's constructor uses.

Every layer maps ``forward(x) -> (y, cache)`` and ``backward(grad_y, cache) ->
(grad_x, param_grads)``; caches are returned, never stored, so one network can serve
several threads (the one exception: a BatchNorm layer in training mode updates its running
statistics). Merge layers (``is_merge``) take and return lists instead of single arrays.
"""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np

from lrp_studio.errors import ParameterError

Array = Any

MAX_LAYER_PARAMETERS = 2**27  # 128 M weights (512 MB float32): refuse larger layers before allocating


def check_size(count: int, layer: str) -> None:
    """Refuse absurd layer sizes before any memory is allocated.

    Raises
    ------
    ParameterError
        ``count`` exceeds :data:`MAX_LAYER_PARAMETERS`.
    """
    if count > MAX_LAYER_PARAMETERS:
        raise ParameterError(f"{layer}: {count:,} weights exceed the limit of {MAX_LAYER_PARAMETERS:,}")


def positive_int(value: Any, name: str, layer: str, minimum: int = 1) -> int:
    """Validate an integer hyper-parameter of a layer (``>= minimum``; bools refused).

    Raises
    ------
    ParameterError
        Not an integer, or below ``minimum``.
    """
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < minimum:
        raise ParameterError(f"{layer}: {name} must be an integer >= {minimum}, got {value!r}")
    return int(value)


class Layer:
    """Base class. Subclasses override what they need.

    Attributes
    ----------
    params : dict of str -> array
        Trainable parameters (PyTorch names and shapes).
    buffers : dict of str -> array
        State that is saved but not optimized (BatchNorm's running statistics).
    training : bool
        Set by :attr:`Network.training`; only BatchNorm behaves differently.
    """

    type_name: ClassVar[str] = ""
    is_merge: ClassVar[bool] = False
    params: dict[str, Array]
    buffers: dict[str, Array]
    training: bool = False

    def __init__(self) -> None:
        self.params = {}
        self.buffers = {}

    def forward(self, x: Array) -> tuple[Array, Any]:
        """Return the output and what :meth:`backward` needs."""
        raise NotImplementedError

    def backward(self, grad_y: Array, cache: Any, need_input: bool = True) -> tuple[Array, dict[str, Array]]:
        """Return the gradient w.r.t. the input (None when ``need_input`` is False) and the parameter gradients."""
        raise NotImplementedError

    def output_shape(self, input_shape: tuple[int, ...]) -> tuple[int, ...]:
        """Shape of one sample's output given one sample's input shape (no batch axis)."""
        return input_shape

    def spec(self) -> dict[str, Any]:
        """The layer's entry in the model file's ``layers`` list."""
        return {"type": self.type_name}

    @property
    def is_linear(self) -> bool:
        """True for dense and conv layers (the layers LRP rules apply to)."""
        return False
