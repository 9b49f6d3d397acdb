"""Optimizers, separate from the layers: each updates parameter arrays in place."""

from __future__ import annotations

from typing import Any

from lrp_studio.backend import xp_of
from lrp_studio.errors import ParameterError

Array = Any


class SGD:
    """Plain gradient descent: w <- w - lr * dw."""

    def __init__(self, lr: float) -> None:
        self.lr = lr

    def step(self, key: str, param: Array, grad: Array) -> None:
        param -= self.lr * grad


class Momentum(SGD):
    """Heavy-ball momentum: v <- mu v + dw; w <- w - lr v."""

    def __init__(self, lr: float, momentum: float = 0.9) -> None:
        super().__init__(lr)
        self.momentum = momentum
        self.velocity: dict[str, Array] = {}

    def step(self, key: str, param: Array, grad: Array) -> None:
        v = self.velocity.get(key)
        if v is None:
            v = self.velocity[key] = grad.copy()
        else:
            v *= self.momentum
            v += grad
        param -= self.lr * v


class Adam(SGD):
    """Adam (Kingma and Ba 2015) with bias correction."""

    def __init__(self, lr: float, beta1: float = 0.9, beta2: float = 0.999, eps: float = 1e-8) -> None:
        super().__init__(lr)
        self.beta1, self.beta2, self.eps = beta1, beta2, eps
        self.moments: dict[str, tuple[Array, Array, int]] = {}

    def step(self, key: str, param: Array, grad: Array) -> None:
        xp = xp_of(param)
        m, v, t = self.moments.get(key, (xp.zeros_like(param), xp.zeros_like(param), 0))
        t += 1
        m *= self.beta1
        m += (1 - self.beta1) * grad
        v *= self.beta2
        v += (1 - self.beta2) * grad * grad
        self.moments[key] = (m, v, t)
        m_hat = m / (1 - self.beta1**t)
        v_hat = v / (1 - self.beta2**t)
        param -= (self.lr * m_hat / (xp.sqrt(v_hat) + self.eps)).astype(param.dtype, copy=False)


OPTIMIZERS = {"sgd": SGD, "momentum": Momentum, "adam": Adam}


def make_optimizer(name: str, lr: float) -> SGD:
    """Create an optimizer by name with learning rate ``lr`` (> 0)."""
    if name not in OPTIMIZERS:
        raise ParameterError(f"unknown optimizer {name!r}; choose one of {', '.join(OPTIMIZERS)}")
    if not lr > 0:
        raise ParameterError(f"learning rate must be > 0, got {lr}")
    return OPTIMIZERS[name](lr)
