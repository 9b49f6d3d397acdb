"""Central finite differences, shared by the gradient tests of tests/nn (imported by module name: pytest puts
this folder on sys.path for the tests in it)."""

from __future__ import annotations

import numpy as np

EPS = 1e-6


def numerical_grad(f, x, eps=EPS):
    """Central differences of the scalar ``f()`` w.r.t. every element of ``x`` (changed in place, restored)."""
    assert x.flags.c_contiguous, "x must be C-contiguous so that its flat view writes through"
    grad = np.zeros(x.shape)
    flat = x.reshape(-1)
    for k in range(flat.size):
        old = float(flat[k])
        flat[k] = old + eps
        plus = f()
        flat[k] = old - eps
        minus = f()
        flat[k] = old
        grad.flat[k] = (plus - minus) / (2 * eps)
    return grad
