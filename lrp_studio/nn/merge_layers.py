"""Merge layers: nodes of a graph network that read several stages.

A merge layer has ``is_merge = True`` and list signatures: ``forward(xs) -> (y, cache)`` for a
list of input batches, ``backward(grad_y, cache) -> (list of input gradients, {})`` and
``output_shape(list of per-sample shapes)``. They have no parameters.
"""

from __future__ import annotations

from typing import Any, Sequence

from lrp_studio.backend import xp_of
from lrp_studio.errors import ParameterError
from lrp_studio.nn.base import Layer

Array = Any


class MergeLayer(Layer):
    """Base of the layers that combine two or more inputs."""

    is_merge = True
    min_inputs = 2

    def check_count(self, count: int) -> None:
        """Refuse fewer than :attr:`min_inputs` inputs.

        Raises
        ------
        ParameterError
        """
        if count < self.min_inputs:
            raise ParameterError(f"{self.type_name} needs at least {self.min_inputs} inputs, got {count}")


class Add(MergeLayer):
    """Element-wise sum ``y = sum_i x_i`` of two or more inputs of equal shape (a residual addition).

    Backward sends ``grad_y`` to every input (each gets its own array).
    """

    type_name = "add"

    def forward(self, xs: Sequence[Array]) -> tuple[Array, Any]:
        """``xs``: list of (N, *shape) arrays; returns their sum and the number of inputs."""
        self.check_count(len(xs))
        y = xs[0] + xs[1]
        for x in xs[2:]:
            y += x
        return y, len(xs)

    def backward(self, grad_y: Array, cache: Any, need_input: bool = True) -> tuple[list[Array], dict[str, Array]]:
        return [grad_y] + [grad_y.copy() for _ in range(cache - 1)], {}

    def output_shape(self, input_shapes: Sequence[tuple[int, ...]]) -> tuple[int, ...]:
        self.check_count(len(input_shapes))
        first = tuple(input_shapes[0])
        for shape in input_shapes[1:]:
            if tuple(shape) != first:
                raise ParameterError(f"add needs inputs of equal shape, got {', '.join(str(tuple(s)) for s in input_shapes)}")
        return first


class Concat(MergeLayer):
    """Concatenation along the channels: axis 1 of the batch (axis 0 of a sample), as ``torch.cat(dim=1)``.

    Inputs (N, C_i, ...) with equal trailing axes give (N, sum_i C_i, ...); backward splits the
    gradient back by the same slices.
    """

    type_name = "concat"

    def forward(self, xs: Sequence[Array]) -> tuple[Array, Any]:
        """``xs``: list of (N, C_i, ...) arrays; returns (N, sum C_i, ...) and the channel counts."""
        self.check_count(len(xs))
        xp = xp_of(xs[0])
        return xp.concatenate(list(xs), axis=1), [int(x.shape[1]) for x in xs]

    def split(self, values: Array, sizes: Sequence[int]) -> list[Array]:
        """Cut (N, sum C_i, ...) back into contiguous (N, C_i, ...) pieces."""
        xp = xp_of(values)
        pieces, start = [], 0
        for size in sizes:
            pieces.append(xp.ascontiguousarray(values[:, start : start + size]))
            start += size
        return pieces

    def backward(self, grad_y: Array, cache: Any, need_input: bool = True) -> tuple[list[Array], dict[str, Array]]:
        return self.split(grad_y, cache), {}

    def output_shape(self, input_shapes: Sequence[tuple[int, ...]]) -> tuple[int, ...]:
        self.check_count(len(input_shapes))
        first = tuple(input_shapes[0])
        for shape in input_shapes[1:]:
            if len(shape) != len(first) or tuple(shape[1:]) != first[1:]:
                raise ParameterError(
                    "concat needs inputs that differ only in their channels (axis 0 of a sample), got "
                    + ", ".join(str(tuple(s)) for s in input_shapes)
                )
        return (int(sum(s[0] for s in input_shapes)),) + first[1:]
