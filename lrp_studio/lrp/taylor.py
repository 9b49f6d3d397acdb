"""Plain first-order Taylor decomposition at a root point (lecture notes, seed 004; Montavon et al. 2017).

Expand the explained output f (the target logit) at a root point x~ with f(x~) = 0:

    f(x) = f(x~) + sum_p (x - x~)_p * df/dx_p(x~) + higher-order terms,

and take the first-order terms as the relevance of input p:

    R_p = (x - x~)_p * df/dx_p(x~).

Then sum_p R_p = f(x) - f(x~) - (higher-order terms); for a ReLU network f is piecewise linear and
the higher-order terms are what the kinks between x~ and x contribute. The **conservation gap**
sum_p R_p - f(x) is therefore not zero in general: this is the notes' caveat that the choice of the
root matters (and the reason deep Taylor decomposition expands every neuron at its own root instead).

Two root searches are offered (Montavon et al. 2017, "Explaining nonlinear classification decisions
with deep Taylor decomposition", Pattern Recognition 65, section 2.2):

* ``taylor``: the root **along the gradient direction** d = grad f(x) / ||grad f(x)||: x~ = x - t d
  with t found by Newton steps on the one-dimensional function g(t) = f(x - t d),
  t <- t + g(t) / (grad f(x - t d) . d) (``iterations`` steps, default 20, stopped when |g| < 1e-6 |f(x)|).
  For a locally linear f one step lands on the root (the root nearest to x in that linear region).
* ``taylor-segment``: the **nearest root on the segment** from x to the reference x_ref = 0 (the zero
  input): x~ = s x with the largest s in [0, 1] where f(s x) = 0, found by scanning s on 20
  intervals from 1 down to 0 and bisecting the first sign change (40 halvings). When f does not change
  sign on the segment, the reference itself (s = 0) is used and the gap then also holds f(0).

Measured gap (sum R - f(x)) / |f(x)| on the first 200 held-out test digits, predicted class, float32,
default 20 iterations (the roots themselves are found: median |f(x~)| / |f(x)| below 1e-7):

- bundled MLP, ``taylor``: median gap -16.9 %, 90th percentile of |gap| 30 %;
- bundled MLP, ``taylor-segment``: median +1.8 % (median |gap| 14.7 %), 90th percentile 31 %;
- bundled CNN, ``taylor``: median -40.6 %, 90th percentile 57 %;
- bundled CNN, ``taylor-segment``: median -42.2 %, 90th percentile 58 %.

So a single global expansion leaves 15-40 % of the logit to the higher-order terms on these ReLU
networks; the LRP rules (deep Taylor: one expansion per neuron) conserve it exactly with ``bias=False``.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from lrp_studio.backend import to_numpy, xp_of
from lrp_studio.nn.network import Network

Array = Any

#: Newton steps stop when |f(x~)| falls below this fraction of |f(x)|.
ROOT_TOLERANCE = 1e-6
#: Scan intervals of ``taylor-segment`` (fixed: with one root on the segment more points change nothing).
SEGMENT_SCAN = 20
#: Bisection halvings of the segment search (2^-40 of the segment: float32 resolution).
BISECTIONS = 40


def target_value_and_gradient(net: Network, x: Array, targets: Array) -> tuple[Array, Array]:
    """f_target(x) (N,) and its gradient d f_target / d x, shaped like ``x``.

    Parameters
    ----------
    net : Network
    x : array (N, *input_shape) on the backend
    targets : array (N,) of class indices
    """
    xp = xp_of(x)
    trace = net.trace(x)
    rows = xp.arange(x.shape[0])
    seed = xp.zeros_like(trace.output)
    seed[rows, targets] = 1
    grad, _ = net.backward(seed, trace)
    return trace.output[rows, targets], grad


def _dot(a: Array, b: Array) -> Array:
    """Per-sample dot product (N,) of two arrays shaped (N, ...)."""
    n = a.shape[0]
    return (a.reshape(n, -1) * b.reshape(n, -1)).sum(axis=1)


def _per_sample(values: Array, like: Array) -> Array:
    """(N,) values reshaped to broadcast against ``like`` (N, ...)."""
    return values.reshape((-1,) + (1,) * (like.ndim - 1))


def gradient_root(net: Network, x: Array, targets: Array, iterations: int = 20) -> Array:
    """The root x~ = x - t d along the gradient direction d = grad f(x) / ||grad f(x)|| (Newton on t).

    Parameters
    ----------
    net : Network
    x : array (N, *input_shape)
    targets : array (N,) ints
    iterations : int
        Newton steps at most (default 20).

    Returns
    -------
    array shaped like ``x``: the root points (x itself where the gradient vanishes).
    """
    xp = xp_of(x)
    f0, grad = target_value_and_gradient(net, x, targets)
    norm = xp.sqrt(_dot(grad, grad))
    direction = grad / _per_sample(xp.where(norm > 0, norm, 1), grad)
    t = xp.zeros(x.shape[0], dtype=x.dtype)
    tolerance = ROOT_TOLERANCE * xp.abs(f0)
    for _ in range(int(iterations)):
        point = x - _per_sample(t, x) * direction
        value, g = target_value_and_gradient(net, point, targets)
        slope = _dot(g, direction)
        active = (xp.abs(value) > tolerance) & (slope != 0) & (norm > 0)
        if not bool(active.any()):
            break
        t = t + xp.where(active, value / xp.where(slope != 0, slope, 1), 0).astype(x.dtype)
    return x - _per_sample(t, x) * direction


def segment_root(net: Network, x: Array, targets: Array, iterations: int = 20,
                 reference: Array | None = None) -> Array:
    """The root nearest to x on the segment from x to ``reference`` (default: the zero input).

    Points are x_ref + s (x - x_ref), s in [0, 1]; the largest s with a sign change of f between
    scan points (``iterations`` + 1 points from s = 1 to 0) is refined by bisection. Without a sign
    change the reference itself is returned.

    Parameters
    ----------
    net : Network
    x : array (N, *input_shape)
    targets : array (N,) ints
    iterations : int
        Scan intervals on the segment (default 20).
    reference : array shaped like ``x``, optional
        Default zeros.

    Returns
    -------
    array shaped like ``x``
    """
    xp = xp_of(x)
    ref = xp.zeros_like(x) if reference is None else reference
    delta = x - ref
    n = x.shape[0]

    def f_at(s: Array) -> Array:
        return target_value_and_gradient(net, ref + _per_sample(s, x) * delta, targets)[0]

    f_x = f_at(xp.ones(n, dtype=x.dtype))
    high = xp.ones(n, dtype=x.dtype)   # f has the sign of f(x) at `high`
    low = xp.zeros(n, dtype=x.dtype)   # and the other sign (or the segment's end) at `low`
    found = xp.zeros(n, dtype=bool)
    grid = np.linspace(1.0, 0.0, int(iterations) + 1)[1:]
    for s in grid:
        s_arr = xp.full(n, s, dtype=x.dtype)
        crossed = (~found) & (xp.sign(f_at(s_arr)) != xp.sign(f_x))
        low = xp.where(crossed, s_arr, low)
        found = found | crossed
        high = xp.where(found, high, s_arr)
    for _ in range(BISECTIONS):
        mid = (low + high) / 2
        same = xp.sign(f_at(mid)) == xp.sign(f_x)
        high = xp.where(found & same, mid, high)
        low = xp.where(found & ~same, mid, low)
    s_root = xp.where(found, (low + high) / 2, 0).astype(x.dtype)
    return ref + _per_sample(s_root, x) * delta


def taylor_relevance(net: Network, x: Array, root: Array, targets: Array) -> Array:
    """First-order Taylor terms R_p = (x - x~)_p * df/dx_p(x~), shaped like ``x``."""
    _, grad = target_value_and_gradient(net, root, targets)
    return (x - root) * grad


def taylor(net: Network, x: Array, targets: Array, iterations: int = 20) -> Array:
    """Taylor decomposition of f_target at the root along the gradient direction (see module docstring)."""
    return taylor_relevance(net, x, gradient_root(net, x, targets, iterations), targets)


def taylor_segment(net: Network, x: Array, targets: Array) -> Array:
    """Taylor decomposition of f_target at the nearest root on the segment from x to the zero input
    (:data:`SEGMENT_SCAN` scan intervals, then bisection)."""
    return taylor_relevance(net, x, segment_root(net, x, targets, SEGMENT_SCAN), targets)


def conservation_gap(net: Network, x: Array, relevance: Array, targets: Array) -> np.ndarray:
    """sum_p R_p - f(x) per sample (N,), float64 NumPy: what the higher-order terms and f(x~) hold."""
    f_x, _ = target_value_and_gradient(net, x, targets)
    n = x.shape[0]
    sums = to_numpy(relevance).reshape(n, -1).sum(axis=1, dtype=np.float64)
    return sums - to_numpy(f_x).astype(np.float64)


__all__ = ["conservation_gap", "gradient_root", "segment_root", "target_value_and_gradient", "taylor",
           "taylor_relevance", "taylor_segment"]
