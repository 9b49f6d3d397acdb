"""Batch normalization (Ioffe and Szegedy 2015) with PyTorch's conventions.

``y = (x - mean) / sqrt(var + eps) * weight + bias`` per channel. In training mode ``mean`` and
``var`` are the batch statistics (the biased variance normalizes) and the running statistics move
towards them: ``running = (1 - momentum) * running + momentum * batch_stat``, with the *unbiased*
batch variance for ``running_var`` (``torch.nn.BatchNorm1d/2d``). In eval mode the running
statistics are used, so the layer is the affine map of :meth:`BatchNorm.scale_shift`.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from lrp_studio.backend import get_xp, xp_of
from lrp_studio.errors import DataError, ParameterError
from lrp_studio.nn.base import Layer, check_size, positive_int

Array = Any


def _number(value: Any, name: str, low: float, high: float, low_open: bool) -> float:
    """A finite float in (low, high] or [low, high]; ParameterError otherwise."""
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise ParameterError(f"batchnorm: {name} must be a number, got {value!r}")
    number = float(value)
    inside = (number > low if low_open else number >= low) and number <= high
    if not math.isfinite(number) or not inside:
        bracket = "(" if low_open else "["
        raise ParameterError(f"batchnorm: {name} must lie in {bracket}{low:g}, {high:g}], got {value!r}")
    return number


class BatchNorm(Layer):
    """Batch normalization over the channels of (N, C) or (N, C, H, W) inputs.

    Parameters
    ----------
    num_features : int
        C, the number of channels (features).
    eps : float, default 1e-5
        Added to the variance, > 0.
    momentum : float, default 0.1
        Weight of the batch statistic in the running update, in [0, 1].

    Attributes
    ----------
    params : {"weight": (C,), "bias": (C,)}
        gamma (initialised to 1) and beta (0); trained by the optimizers.
    buffers : {"running_mean": (C,), "running_var": (C,)}
        Initialised to 0 and 1; saved with the model, never optimized.
    """

    type_name = "batchnorm"

    def __init__(self, num_features: int, eps: float = 1e-5, momentum: float = 0.1) -> None:
        super().__init__()
        self.num_features = positive_int(num_features, "num_features", "batchnorm")
        check_size(self.num_features, "batchnorm")
        self.eps = _number(eps, "eps", 0.0, math.inf, low_open=True)
        self.momentum = _number(momentum, "momentum", 0.0, 1.0, low_open=False)
        xp = get_xp()
        c = self.num_features
        self.params = {"weight": xp.ones(c, dtype=np.float32), "bias": xp.zeros(c, dtype=np.float32)}
        self.buffers = {"running_mean": xp.zeros(c, dtype=np.float32), "running_var": xp.ones(c, dtype=np.float32)}

    def reset(self) -> None:
        """Parameters and running statistics back to their initial values (1, 0, 0, 1)."""
        xp = get_xp()
        c = self.num_features
        self.params["weight"], self.params["bias"] = xp.ones(c, np.float32), xp.zeros(c, np.float32)
        self.buffers["running_mean"], self.buffers["running_var"] = xp.zeros(c, np.float32), xp.ones(c, np.float32)

    def scale_shift(self) -> tuple[Array, Array]:
        """The eval-mode layer as ``y = a * x + b`` per channel.

        Returns
        -------
        a, b : arrays (C,)
            ``a = weight / sqrt(running_var + eps)``, ``b = bias - running_mean * a``.
        """
        xp = xp_of(self.params["weight"])
        a = self.params["weight"] / xp.sqrt(self.buffers["running_var"] + self.eps)
        return a, self.params["bias"] - self.buffers["running_mean"] * a

    @staticmethod
    def _axes_and_view(x: Array) -> tuple[tuple[int, ...], tuple[int, ...]]:
        """Reduction axes and the broadcast shape of per-channel vectors for ``x``."""
        if x.ndim == 2:
            return (0,), (1, -1)
        return (0, 2, 3), (1, -1, 1, 1)

    def forward(self, x: Array) -> tuple[Array, Any]:
        """Normalize ``x`` (N, C) or (N, C, H, W); in training mode also update the running statistics.

        Raises
        ------
        DataError
            In training mode when a channel has only one value in the batch (as PyTorch).
        """
        axes, view = self._axes_and_view(x)
        if not self.training:  # the affine map a * x + b: two passes over x
            a, b = self.scale_shift()
            y = x * a.astype(x.dtype, copy=False).reshape(view)
            y += b.astype(x.dtype, copy=False).reshape(view)
            return y, (x, None, False)
        xp = xp_of(x)
        count = x.size // self.num_features
        if count < 2:
            raise DataError("batchnorm in training mode needs more than one value per channel "
                            f"(got a batch of shape {tuple(x.shape)})")
        mean = x.mean(axis=axes)
        centred = x - mean.reshape(view)
        var = (centred * centred).mean(axis=axes)
        m = self.momentum
        self.buffers["running_mean"] = ((1 - m) * self.buffers["running_mean"] + m * mean).astype(np.float32)
        unbiased = var * (count / (count - 1))
        self.buffers["running_var"] = ((1 - m) * self.buffers["running_var"] + m * unbiased).astype(np.float32)
        inv_std = (1.0 / xp.sqrt(var + self.eps)).astype(x.dtype, copy=False)
        x_hat = centred
        x_hat *= inv_std.reshape(view)
        y = x_hat * self.params["weight"].reshape(view)
        y += self.params["bias"].reshape(view)
        return y, (x_hat, inv_std, True)

    def backward(self, grad_y: Array, cache: Any, need_input: bool = True) -> tuple[Array, dict[str, Array]]:
        """Gradients of a training-mode (batch statistics) or eval-mode (constant statistics) forward."""
        x_hat, inv_std, training = cache
        axes, view = self._axes_and_view(grad_y)
        if not training:  # the cache holds the input: normalize it with the running statistics
            xp = xp_of(grad_y)
            inv_std = (1.0 / xp.sqrt(self.buffers["running_var"] + self.eps)).astype(grad_y.dtype, copy=False)
            x_hat = (x_hat - self.buffers["running_mean"].reshape(view)) * inv_std.reshape(view)
        grads = {"weight": (grad_y * x_hat).sum(axis=axes), "bias": grad_y.sum(axis=axes)}
        if not need_input:
            return None, grads
        scale = (self.params["weight"] * inv_std).reshape(view)
        if not training:
            return grad_y * scale, grads
        count = grad_y.size // self.num_features
        # d x = a / m * (m dy - sum dy - x_hat sum(dy x_hat)), a = gamma / sigma (per channel)
        mean_dy = (grads["bias"] / count).reshape(view)
        mean_dy_xhat = (grads["weight"] / count).reshape(view)
        return (grad_y - mean_dy - x_hat * mean_dy_xhat) * scale, grads

    def output_shape(self, input_shape: tuple[int, ...]) -> tuple[int, ...]:
        if len(input_shape) not in (1, 3) or input_shape[0] != self.num_features:
            raise ParameterError(
                f"batchnorm expects inputs of shape ({self.num_features},) or ({self.num_features}, H, W), "
                f"got {tuple(input_shape)}"
            )
        return tuple(input_shape)

    def spec(self) -> dict[str, Any]:
        return {"type": "batchnorm", "num_features": self.num_features, "eps": self.eps, "momentum": self.momentum}
