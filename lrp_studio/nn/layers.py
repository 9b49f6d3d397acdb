"""Layers: the maths in small functions (see :mod:`functional`), the bookkeeping here.

Every layer maps ``forward(x) -> (y, cache)`` and ``backward(grad_y, cache) ->
(grad_x, param_grads)``; caches are returned, never stored, so one network can serve
several threads (see :mod:`lrp_studio.nn.base`; merge layers in :mod:`merge_layers`,
BatchNorm in :mod:`normalization`). Parameters use PyTorch shapes: dense weight (out, in), conv weight
(out_c, in_c, kh, kw), data NCHW.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from lrp_studio.backend import get_xp, xp_of
from lrp_studio.errors import ParameterError
from lrp_studio.nn import functional as F
from lrp_studio.nn.base import MAX_LAYER_PARAMETERS, Layer, check_size, positive_int
from lrp_studio.nn.merge_layers import Add, Concat
from lrp_studio.nn.normalization import BatchNorm
from lrp_studio.nn.preprocessing import Normalize

__all__ = [
    "LAYER_KEYS", "LAYER_OPTIONAL_KEYS", "LAYER_TYPES", "MAX_LAYER_PARAMETERS", "V1_LAYER_TYPES", "Activation", "Add",
    "AvgPool2d", "BatchNorm", "Concat", "Conv2d", "Dense", "Flatten", "GlobalAvgPool", "Layer", "MaxPool2d", "ReLU",
    "Sigmoid", "Tanh", "layer_from_spec",
]

Array = Any


class Dense(Layer):
    """Fully connected layer, ``y = x @ W.T + b`` with ``W`` (out, in)."""

    type_name = "dense"

    def __init__(self, in_features: int, out_features: int) -> None:
        super().__init__()
        self.in_features = positive_int(in_features, "in_features", "dense")
        self.out_features = positive_int(out_features, "out_features", "dense")
        check_size(self.in_features * self.out_features, "dense")
        xp = get_xp()
        self.params = {
            "weight": xp.zeros((self.out_features, self.in_features), dtype=np.float32),
            "bias": xp.zeros(self.out_features, dtype=np.float32),
        }

    @property
    def is_linear(self) -> bool:
        return True

    @property
    def fan_in(self) -> int:
        return self.in_features

    def forward(self, x: Array) -> tuple[Array, Any]:
        y = x @ self.params["weight"].T
        y += self.params["bias"]
        return y, x

    def backward(self, grad_y: Array, cache: Any, need_input: bool = True) -> tuple[Array, dict[str, Array]]:
        x = cache
        grads = {"weight": grad_y.T @ x, "bias": grad_y.sum(axis=0)}
        return (grad_y @ self.params["weight"] if need_input else None), grads

    def output_shape(self, input_shape: tuple[int, ...]) -> tuple[int, ...]:
        if tuple(input_shape) != (self.in_features,):
            raise ParameterError(f"dense expects inputs of shape ({self.in_features},), got {tuple(input_shape)}")
        return (self.out_features,)

    def spec(self) -> dict[str, Any]:
        return {"type": "dense", "in_features": self.in_features, "out_features": self.out_features}

    # The four operations LRP rules are written in (inputs "unfolded" = the input itself).
    def unfold(self, x: Array) -> Array:
        """Input as rows of receptive fields: (N, in)."""
        return x

    def weight2d(self, weight: Array) -> Array:
        """Weight as a matrix (out, in)."""
        return weight

    def apply_unfolded(self, cols: Array, weight2d: Array, bias: Array | None, input_shape: tuple[int, ...]) -> Array:
        """Layer output (N, out) for unfolded input ``cols`` and (modified) weights."""
        out = cols @ weight2d.T
        if bias is not None:
            out += bias
        return out

    def transpose_unfolded(self, grad_out: Array, weight2d: Array) -> Array:
        """Back-project (N, out) to the unfolded input space (N, in)."""
        return grad_out @ weight2d

    def fold(self, cols: Array, input_shape: tuple[int, ...]) -> Array:
        """Sum unfolded values back onto the input: identity for dense layers."""
        return cols

    def back_project(self, pairs: list[tuple[Array, Array]], input_shape: tuple[int, ...]) -> Array:
        """``sum_t s_t @ W_t`` (N, in) for pairs ``(s_t (N, out_t), W_t (out_t, in))``: one product of the stacked pairs."""
        if len(pairs) == 1:
            return pairs[0][0] @ pairs[0][1]
        xp = xp_of(pairs[0][0])
        return xp.concatenate([s for s, _ in pairs], axis=1) @ xp.concatenate([w for _, w in pairs], axis=0)

    def field_sizes(self, input_shape: tuple[int, ...], dtype: Any) -> Array:
        """Number of inputs feeding each output, (1,): every output sees all ``in_features`` inputs."""
        return get_xp().full((1,), self.in_features, dtype=dtype)

    def spread_over_fields(self, values: Array, input_shape: tuple[int, ...]) -> Array:
        """Input-shaped (N, in): each input gets ``sum_k values`` over the outputs k it feeds.

        ``values`` (N,) holds one value per sample (a dense layer has a single receptive field).
        """
        xp = xp_of(values)
        return xp.ascontiguousarray(xp.broadcast_to(values[:, None], tuple(input_shape)))


class Conv2d(Layer):
    """2-D convolution (cross-correlation as in PyTorch), im2col plus one matrix product."""

    type_name = "conv2d"

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int, stride: int = 1, padding: int = 0) -> None:
        super().__init__()
        self.in_channels = positive_int(in_channels, "in_channels", "conv2d")
        self.out_channels = positive_int(out_channels, "out_channels", "conv2d")
        self.kernel_size = positive_int(kernel_size, "kernel_size", "conv2d")
        self.stride = positive_int(stride, "stride", "conv2d")
        self.padding = positive_int(padding, "padding", "conv2d", minimum=0)
        k = self.kernel_size
        check_size(self.out_channels * self.in_channels * k * k, "conv2d")
        xp = get_xp()
        self.params = {
            "weight": xp.zeros((self.out_channels, self.in_channels, k, k), dtype=np.float32),
            "bias": xp.zeros(self.out_channels, dtype=np.float32),
        }

    @property
    def is_linear(self) -> bool:
        return True

    @property
    def fan_in(self) -> int:
        return self.in_channels * self.kernel_size**2

    @property
    def kernel(self) -> tuple[int, int]:
        return (self.kernel_size, self.kernel_size)

    def _out_hw(self, h: int, w: int) -> tuple[int, int]:
        k, s, p = self.kernel_size, self.stride, self.padding
        return F.conv_output_size(h, k, s, p), F.conv_output_size(w, k, s, p)

    def forward(self, x: Array) -> tuple[Array, Any]:
        cols = self.unfold(x)
        n, _, h, w = x.shape
        ho, wo = self._out_hw(h, w)
        y = F.conv_cols_forward(cols, self.weight2d(self.params["weight"]), self.params["bias"], n, ho, wo)
        return y, (x.shape, cols)

    def backward(self, grad_y: Array, cache: Any, need_input: bool = True) -> tuple[Array, dict[str, Array]]:
        x_shape, cols = cache
        rows = F.output_rows(grad_y)
        grads = {
            "weight": (rows @ cols.T).reshape(self.params["weight"].shape),
            "bias": rows.sum(axis=1),
        }
        if not need_input:
            return None, grads
        grad_cols = self.weight2d(self.params["weight"]).T @ rows
        return self.fold(grad_cols, x_shape), grads

    def output_shape(self, input_shape: tuple[int, ...]) -> tuple[int, ...]:
        if len(input_shape) != 3 or input_shape[0] != self.in_channels:
            raise ParameterError(
                f"conv2d expects inputs of shape ({self.in_channels}, H, W), got {tuple(input_shape)}"
            )
        ho, wo = self._out_hw(input_shape[1], input_shape[2])
        if ho < 1 or wo < 1:
            raise ParameterError(f"conv2d kernel {self.kernel_size} does not fit input {tuple(input_shape)}")
        return (self.out_channels, ho, wo)

    def spec(self) -> dict[str, Any]:
        return {
            "type": "conv2d", "in_channels": self.in_channels, "out_channels": self.out_channels,
            "kernel_size": self.kernel_size, "stride": self.stride, "padding": self.padding,
        }

    def unfold(self, x: Array) -> Array:
        """Receptive fields as columns: (C*kh*kw, Ho*Wo*N); padding positions are zeros."""
        return F.im2col(x, self.kernel, self.stride, self.padding)

    def weight2d(self, weight: Array) -> Array:
        """Weight as a matrix (out_c, in_c*kh*kw)."""
        return weight.reshape(weight.shape[0], -1)

    def apply_unfolded(self, cols: Array, weight2d: Array, bias: Array | None, input_shape: tuple[int, ...]) -> Array:
        """Layer output (N, O, Ho, Wo) for unfolded input and (modified) weights."""
        n, _, h, w = input_shape
        ho, wo = self._out_hw(h, w)
        return F.conv_cols_forward(cols, weight2d, bias, n, ho, wo)

    def transpose_unfolded(self, grad_out: Array, weight2d: Array) -> Array:
        """Back-project (N, O, Ho, Wo) to unfolded input space (K, Ho*Wo*N)."""
        return F.conv_cols_transpose(grad_out, weight2d)

    def fold(self, cols: Array, input_shape: tuple[int, ...]) -> Array:
        """Sum unfolded values back onto the input grid (N, C, H, W)."""
        return F.col2im(cols, tuple(input_shape), self.kernel, self.stride, self.padding)

    def back_project(self, pairs: list[tuple[Array, Array]], input_shape: tuple[int, ...]) -> Array:
        """Transposed convolution ``sum_t conv_transpose(s_t, W_t)`` (N, C, H, W).

        ``pairs`` of output-shaped ``s_t`` (N, O_t, Ho, Wo) and weights ``W_t`` (O_t, C*kh*kw) are
        stacked along the output channels: one matrix product and one fold for all of them.
        """
        if len(pairs) == 1:
            cols = F.conv_cols_transpose(pairs[0][0], pairs[0][1])
        else:
            xp = xp_of(pairs[0][0])
            rows = xp.concatenate([F.output_rows(s) for s, _ in pairs], axis=0)
            cols = xp.concatenate([w for _, w in pairs], axis=0).T @ rows
        return self.fold(cols, input_shape)

    def field_sizes(self, input_shape: tuple[int, ...], dtype: Any) -> Array:
        """Number of real (non-padding) inputs in each output position's receptive field, (Ho, Wo)."""
        _, c, h, w = input_shape
        ho, wo = self._out_hw(h, w)
        ones = get_xp().ones((1, c, h, w), dtype=dtype)
        return self.unfold(ones).sum(axis=0).reshape(ho, wo)

    def spread_over_fields(self, values: Array, input_shape: tuple[int, ...]) -> Array:
        """Input-shaped (N, C, H, W): each input gets the sum of ``values`` (N, Ho, Wo) over the
        output positions whose receptive field holds it (the same for every channel)."""
        return F.fold_positions(values, tuple(input_shape), self.kernel, self.stride, self.padding)


class _Pool2d(Layer):
    """Shared shape logic of the pooling layers (no padding)."""

    def __init__(self, kernel_size: int, stride: int | None = None) -> None:
        super().__init__()
        self.kernel_size = positive_int(kernel_size, "kernel_size", self.type_name)
        self.stride = positive_int(kernel_size if stride is None else stride, "stride", self.type_name)

    @property
    def kernel(self) -> tuple[int, int]:
        return (self.kernel_size, self.kernel_size)

    def output_shape(self, input_shape: tuple[int, ...]) -> tuple[int, ...]:
        if len(input_shape) != 3:
            raise ParameterError(f"{self.type_name} expects (C, H, W) inputs, got {tuple(input_shape)}")
        c, h, w = input_shape
        ho = F.conv_output_size(h, self.kernel_size, self.stride, 0)
        wo = F.conv_output_size(w, self.kernel_size, self.stride, 0)
        if ho < 1 or wo < 1:
            raise ParameterError(f"{self.type_name} kernel {self.kernel_size} does not fit input {tuple(input_shape)}")
        return (c, ho, wo)

    def spec(self) -> dict[str, Any]:
        return {"type": self.type_name, "kernel_size": self.kernel_size, "stride": self.stride}


class MaxPool2d(_Pool2d):
    """Max pooling; on ties the first window position in row-major order wins."""

    type_name = "maxpool2d"

    def forward(self, x: Array) -> tuple[Array, Any]:
        best, winner = F.max_windows(x, self.kernel_size, self.stride)
        return best, (x.shape, winner)

    def route(self, values: Array, cache: Any) -> Array:
        """Send each output's value (N, C, Ho, Wo) to its winning input (N, C, H, W)."""
        x_shape, winner = cache
        return F.route_to_winners(values, winner, x_shape, self.kernel_size, self.stride)

    def backward(self, grad_y: Array, cache: Any, need_input: bool = True) -> tuple[Array, dict[str, Array]]:
        return self.route(grad_y, cache), {}


class AvgPool2d(_Pool2d):
    """Average pooling over kh*kw windows."""

    type_name = "avgpool2d"

    def forward(self, x: Array) -> tuple[Array, Any]:
        return F.windows(x, self.kernel, self.stride).mean(axis=(-2, -1), dtype=x.dtype), x.shape

    def spread(self, values: Array, x_shape: tuple[int, ...]) -> Array:
        """Give every input of window k the value ``values[k] / K``, summed over windows."""
        k = self.kernel_size
        patches = values[..., None, None] / (k * k)
        xp = xp_of(values)
        patches = xp.broadcast_to(patches, values.shape + (k, k))
        return F.fold_windows(patches, x_shape, self.stride)

    def backward(self, grad_y: Array, cache: Any, need_input: bool = True) -> tuple[Array, dict[str, Array]]:
        return self.spread(grad_y, cache), {}


class GlobalAvgPool(Layer):
    """Global average pooling (N, C, H, W) -> (N, C): ``AdaptiveAvgPool2d(1)`` followed by flatten.

    Backward gives every position of channel c the value ``grad_y[:, c] / (H * W)``.
    """

    type_name = "globalavgpool"

    def forward(self, x: Array) -> tuple[Array, Any]:
        return x.mean(axis=(2, 3), dtype=x.dtype), x.shape

    def spread(self, values: Array, x_shape: tuple[int, ...]) -> Array:
        """(N, C) -> (N, C, H, W): each position of channel c gets ``values[:, c] / (H * W)``."""
        xp = xp_of(values)
        h, w = x_shape[2], x_shape[3]
        return xp.ascontiguousarray(xp.broadcast_to((values / (h * w))[:, :, None, None], tuple(x_shape)))

    def backward(self, grad_y: Array, cache: Any, need_input: bool = True) -> tuple[Array, dict[str, Array]]:
        return self.spread(grad_y, cache), {}

    def output_shape(self, input_shape: tuple[int, ...]) -> tuple[int, ...]:
        if len(input_shape) != 3:
            raise ParameterError(f"globalavgpool expects (C, H, W) inputs, got {tuple(input_shape)}")
        return (int(input_shape[0]),)


class Flatten(Layer):
    """(N, C, H, W) -> (N, C*H*W) in C order."""

    type_name = "flatten"

    def forward(self, x: Array) -> tuple[Array, Any]:
        return x.reshape(x.shape[0], -1), x.shape

    def backward(self, grad_y: Array, cache: Any, need_input: bool = True) -> tuple[Array, dict[str, Array]]:
        return grad_y.reshape(cache), {}

    def output_shape(self, input_shape: tuple[int, ...]) -> tuple[int, ...]:
        return (int(np.prod(input_shape)),)


class Activation(Layer):
    """Element-wise activation; LRP passes relevance through it unchanged."""


class ReLU(Activation):
    """max(0, x); backward dZ = dA * [Z > 0] as in the notes."""

    type_name = "relu"

    def forward(self, x: Array) -> tuple[Array, Any]:
        xp = xp_of(x)
        return xp.maximum(x, 0), x

    def backward(self, grad_y: Array, cache: Any, need_input: bool = True) -> tuple[Array, dict[str, Array]]:
        return grad_y * (cache > 0), {}


class Sigmoid(Activation):
    """1 / (1 + exp(-x)); derivative s (1 - s)."""

    type_name = "sigmoid"

    def forward(self, x: Array) -> tuple[Array, Any]:
        xp = xp_of(x)
        y = (0.5 * (xp.tanh(0.5 * x) + 1)).astype(x.dtype, copy=False)  # overflow-free form
        return y, y

    def backward(self, grad_y: Array, cache: Any, need_input: bool = True) -> tuple[Array, dict[str, Array]]:
        return grad_y * cache * (1 - cache), {}


class Tanh(Activation):
    """tanh(x); derivative 1 - tanh^2."""

    type_name = "tanh"

    def forward(self, x: Array) -> tuple[Array, Any]:
        y = xp_of(x).tanh(x)
        return y, y

    def backward(self, grad_y: Array, cache: Any, need_input: bool = True) -> tuple[Array, dict[str, Array]]:
        return grad_y * (1 - cache * cache), {}


LAYER_TYPES: dict[str, type[Layer]] = {
    cls.type_name: cls
    for cls in (Dense, Conv2d, MaxPool2d, AvgPool2d, Flatten, ReLU, Sigmoid, Tanh, Add, Concat, BatchNorm, GlobalAvgPool,
                Normalize)
}

# The layer types of model file version 1 (a network of only these, sequential, saves as version 1).
V1_LAYER_TYPES = ("dense", "conv2d", "maxpool2d", "avgpool2d", "flatten", "relu", "sigmoid", "tanh")

# Keys each layer type needs in its model-file entry (besides "type").
LAYER_KEYS: dict[str, tuple[str, ...]] = {
    "dense": ("in_features", "out_features"),
    "conv2d": ("in_channels", "out_channels", "kernel_size", "stride", "padding"),
    "maxpool2d": ("kernel_size", "stride"),
    "avgpool2d": ("kernel_size", "stride"),
    "flatten": (), "relu": (), "sigmoid": (), "tanh": (),
    "add": (), "concat": (), "globalavgpool": (), "batchnorm": ("num_features",), "normalize": ("mean", "std"),
}

# Keys a layer entry may carry besides its required ones (defaults as in the constructors).
LAYER_OPTIONAL_KEYS: dict[str, tuple[str, ...]] = {"batchnorm": ("eps", "momentum")}


def layer_from_spec(entry: dict[str, Any]) -> Layer:
    """Build a layer from its model-file entry, e.g. ``{"type": "dense", "in_features": 784, ...}``."""
    if not isinstance(entry, dict) or "type" not in entry:
        raise ParameterError(f"layer entry must be an object with a 'type', got {entry!r}")
    kind = entry["type"]
    if kind not in LAYER_TYPES:
        raise ParameterError(f"unknown layer type {kind!r}; known: {', '.join(LAYER_TYPES)}")
    missing = [key for key in LAYER_KEYS[kind] if key not in entry]
    if missing:
        raise ParameterError(f"{kind} layer is missing {', '.join(missing)}")
    keys = LAYER_KEYS[kind] + tuple(k for k in LAYER_OPTIONAL_KEYS.get(kind, ()) if k in entry)
    return LAYER_TYPES[kind](**{key: entry[key] for key in keys})
