"""LRP rules for dense and conv layers (DESIGN.md 3.3), each a short class stating its formula.

A rule turns the relevance of a layer's outputs R_k into the relevance of its inputs R_j.
Every rule here has the form ``R_j = sum_t c_t * sum_k U_t[j] * W_t[k, j] * s_t[k]`` with
``s_t = R / stab(denominator)``: a few *terms* ``(c_t, U_t, W_t, s_t)`` of a modified input
``U_t``, a modified weight ``W_t`` and a scaled relevance ``s_t``. :meth:`Rule.terms` returns
them; :func:`apply_terms` evaluates them with one matrix product per term (for a conv layer
on im2col columns, then folded back onto the input grid), and :func:`term_messages` gives
the per-connection messages the network graph draws.

Notation: x+ = max(x, 0), x- = min(x, 0), likewise w+ / w-; stab(z) = z + eps * s(z) with
s the sign and s(0) = +1.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar, NamedTuple

import numpy as np

from lrp_studio.backend import xp_of
from lrp_studio.errors import ParameterError

Array = Any
DEFAULT_STABILIZER = 1e-6


def stabilize(z: Array, eps: float = DEFAULT_STABILIZER) -> Array:
    """stab(z) = z + eps * sign(z) with sign(0) = +1 (Zennit's stabilizer)."""
    xp = xp_of(z)
    return z + xp.where(z >= 0, z.dtype.type(eps), z.dtype.type(-eps))


class Term(NamedTuple):
    """One term ``coef * U ⊙ back-projection of s through W2`` of a rule.

    Shapes: W2 (O, K); s output-shaped; U (N, K) for dense layers, (K, Ho*Wo*N) for conv layers.
    """

    coef: float
    cols: Array
    weight2d: Array
    scaled: Array


@dataclass
class LayerContext:
    """What a rule sees of one linear layer in one forward pass.

    Attributes
    ----------
    layer : Dense or Conv2d
    x : array (N, in) or (N, C, H, W)
        The layer's input.
    cols : array (N, in) or (C*kh*kw, Ho*Wo*N)
        The input unfolded into receptive fields (the input itself for dense layers).
    z : array (N, out) or (N, O, Ho, Wo)
        The layer's output x W^T + b from the forward pass.
    bias : bool
        Whether the bias takes part in the denominators.
    """

    layer: Any
    x: Array
    cols: Array
    z: Array
    bias: bool = True

    @property
    def weight(self) -> Array:
        return self.layer.weight2d(self.layer.params["weight"])

    @property
    def b(self) -> Array | None:
        return self.layer.params["bias"] if self.bias else None

    def out(self, cols: Array, weight2d: Array, bias: Array | None = None) -> Array:
        """Layer output for modified input columns and weights."""
        return self.layer.apply_unfolded(cols, weight2d, bias, self.x.shape)

    def ones_cols(self) -> Array:
        """Unfolded all-ones input: 1 at real inputs, 0 at padding positions."""
        xp = xp_of(self.x)
        return self.layer.unfold(xp.ones_like(self.x))

    def split_input(self) -> tuple[Array, Array | None]:
        """(U+, U-) of the unfolded input; U- is None when the input has no negative value."""
        xp = xp_of(self.cols)
        if bool((self.x >= 0).all()):
            return self.cols, None
        return xp.maximum(self.cols, 0), xp.minimum(self.cols, 0)


def _pos(a: Array | None) -> Array | None:
    return None if a is None else xp_of(a).maximum(a, 0)


def _neg(a: Array | None) -> Array | None:
    return None if a is None else xp_of(a).minimum(a, 0)


def _add(*outputs: Array | None) -> Array:
    total = None
    for value in outputs:
        if value is not None:
            total = value if total is None else total + value
    return total


class Rule:
    """Base class. Subclasses set ``name`` and implement :meth:`terms`."""

    name: ClassVar[str] = ""
    params: ClassVar[tuple[str, ...]] = ()

    def terms(self, ctx: LayerContext, relevance: Array) -> list[Term]:
        """The rule's terms for output relevance ``relevance`` (shaped like ``ctx.z``)."""
        raise NotImplementedError

    def __call__(self, ctx: LayerContext, relevance: Array) -> Array:
        """Input relevance, shaped like ``ctx.x``."""
        return apply_terms(ctx, self.terms(ctx, relevance))

    def describe(self) -> str:
        values = ", ".join(f"{p}={getattr(self, p)}" for p in self.params)
        return f"{self.name}({values})" if values else self.name


class Epsilon(Rule):
    """R_j = sum_k x_j w_jk / stab_eps(z_k) R_k, z_k = sum_j x_j w_jk + b_k."""

    name = "epsilon"
    params = ("epsilon",)

    def __init__(self, epsilon: float = 0.25) -> None:
        if not (np.isfinite(epsilon) and epsilon >= 0):
            raise ParameterError(f"epsilon must be a finite number >= 0, got {epsilon}")
        self.epsilon = float(epsilon)

    def terms(self, ctx: LayerContext, relevance: Array) -> list[Term]:
        z = ctx.z if ctx.bias else ctx.out(ctx.cols, ctx.weight)
        return [Term(1.0, ctx.cols, ctx.weight, relevance / stabilize(z, self.epsilon))]


class LRP0(Epsilon):
    """The basic rule of the notes: R_j = sum_k x_j w_jk / z_k R_k (stabilised with 1e-6)."""

    name = "lrp0"
    params = ()

    def __init__(self) -> None:
        super().__init__(DEFAULT_STABILIZER)


class ZPlus(Rule):
    """R_j = sum_k (x+_j w+_jk + x-_j w-_jk) / stab(sum_j (x+ w+ + x- w-) + b+_k) R_k."""

    name = "zplus"

    def terms(self, ctx: LayerContext, relevance: Array) -> list[Term]:
        u_pos, u_neg = ctx.split_input()
        w_pos, w_neg = _pos(ctx.weight), _neg(ctx.weight)
        z = _add(ctx.out(u_pos, w_pos, _pos(ctx.b)), None if u_neg is None else ctx.out(u_neg, w_neg))
        s = relevance / stabilize(z)
        terms = [Term(1.0, u_pos, w_pos, s)]
        if u_neg is not None:
            terms.append(Term(1.0, u_neg, w_neg, s))
        return terms


class AlphaBeta(Rule):
    """R_j = sum_k [alpha (x+ w+ + x- w-)_jk / P_k - beta (x+ w- + x- w+)_jk / N_k] R_k.

    P_k = stab(sum_j (x+ w+ + x- w-) + b+_k), N_k = stab(sum_j (x+ w- + x- w+) + b-_k),
    with alpha, beta >= 0 and alpha - beta = 1.
    """

    name = "alphabeta"
    params = ("alpha", "beta")

    def __init__(self, alpha: float = 2.0, beta: float = 1.0) -> None:
        if alpha < 0 or beta < 0 or not np.isclose(alpha - beta, 1.0):
            raise ParameterError(f"alpha-beta needs alpha, beta >= 0 and alpha - beta = 1, got alpha={alpha}, beta={beta}")
        self.alpha, self.beta = float(alpha), float(beta)

    def terms(self, ctx: LayerContext, relevance: Array) -> list[Term]:
        u_pos, u_neg = ctx.split_input()
        w_pos, w_neg = _pos(ctx.weight), _neg(ctx.weight)
        has_neg = u_neg is not None
        p = _add(ctx.out(u_pos, w_pos, _pos(ctx.b)), ctx.out(u_neg, w_neg) if has_neg else None)
        s_pos = relevance / stabilize(p)
        terms = [Term(self.alpha, u_pos, w_pos, s_pos)]
        if has_neg:
            terms.append(Term(self.alpha, u_neg, w_neg, s_pos))
        if self.beta:
            n = _add(ctx.out(u_pos, w_neg, _neg(ctx.b)), ctx.out(u_neg, w_pos) if has_neg else None)
            s_neg = relevance / stabilize(n)
            terms.append(Term(-self.beta, u_pos, w_neg, s_neg))
            if has_neg:
                terms.append(Term(-self.beta, u_neg, w_pos, s_neg))
        return terms


class Gamma(Rule):
    """Gamma rule: favour the contributions that agree in sign with the output z_k.

    z_k > 0: numerator x+ (w + gamma w+) + x- (w + gamma w-), denominator its sum + b_k + gamma b+_k;
    z_k < 0: numerator x+ (w + gamma w-) + x- (w + gamma w+), denominator its sum + b_k + gamma b-_k;
    z_k = 0: no relevance.
    """

    name = "gamma"
    params = ("gamma",)

    def __init__(self, gamma: float = 0.25) -> None:
        if not (np.isfinite(gamma) and gamma >= 0):
            raise ParameterError(f"gamma must be a finite number >= 0, got {gamma}")
        self.gamma = float(gamma)

    def terms(self, ctx: LayerContext, relevance: Array) -> list[Term]:
        g = self.gamma
        u_pos, u_neg = ctx.split_input()
        w, b = ctx.weight, ctx.b
        w_up, w_down = w + g * _pos(w), w + g * _neg(w)
        b_up = None if b is None else b + g * _pos(b)
        b_down = None if b is None else b + g * _neg(b)
        has_neg = u_neg is not None
        z = ctx.z if ctx.bias else ctx.out(ctx.cols, w)
        zero = relevance.dtype.type(0)
        r_pos = xp_of(z).where(z > 0, relevance, zero)
        r_neg = xp_of(z).where(z < 0, relevance, zero)
        den_pos = _add(ctx.out(u_pos, w_up, b_up), ctx.out(u_neg, w_down) if has_neg else None)
        den_neg = _add(ctx.out(u_pos, w_down, b_down), ctx.out(u_neg, w_up) if has_neg else None)
        s_pos, s_neg = r_pos / stabilize(den_pos), r_neg / stabilize(den_neg)
        terms = [Term(1.0, u_pos, w_up, s_pos), Term(1.0, u_pos, w_down, s_neg)]
        if has_neg:
            terms += [Term(1.0, u_neg, w_down, s_pos), Term(1.0, u_neg, w_up, s_neg)]
        return terms


class WSquare(Rule):
    """R_j = sum_k w_jk^2 / stab(sum_j w_jk^2 + b_k^2) R_k (no input factor; deep Taylor input rule)."""

    name = "wsquare"

    def terms(self, ctx: LayerContext, relevance: Array) -> list[Term]:
        ones = ctx.ones_cols()
        w2 = ctx.weight * ctx.weight
        b2 = None if ctx.b is None else ctx.b * ctx.b
        return [Term(1.0, ones, w2, relevance / stabilize(ctx.out(ones, w2, b2)))]


class Flat(Rule):
    """R_j = sum_k 1 / (number of non-padding inputs of k) R_k (bias ignored)."""

    name = "flat"

    def terms(self, ctx: LayerContext, relevance: Array) -> list[Term]:
        ones = ctx.ones_cols()
        w1 = xp_of(ctx.weight).ones_like(ctx.weight)
        return [Term(1.0, ones, w1, relevance / stabilize(ctx.out(ones, w1)))]


class ZBox(Rule):
    """Bounded-input rule: R_j = sum_k (x_j w_jk - l_j w+_jk - h_j w-_jk) / stab(sum_j same) R_k.

    ``low`` and ``high`` are scalars or per-channel arrays (C,) for image inputs (or arrays
    broadcastable to one sample's shape); the bias terms cancel.
    """

    name = "zbox"
    params = ("low", "high")

    def __init__(self, low: Any = 0.0, high: Any = 1.0) -> None:
        low_arr, high_arr = np.asarray(low, dtype=np.float32), np.asarray(high, dtype=np.float32)
        if not (np.isfinite(low_arr).all() and np.isfinite(high_arr).all()):
            raise ParameterError("zbox bounds low and high must be finite")
        if np.any(low_arr > high_arr):
            raise ParameterError(f"zbox needs low <= high, got low={low}, high={high}")
        self.low, self.high = low, high

    def _bound_cols(self, ctx: LayerContext, bound: Any) -> Array:
        xp = xp_of(ctx.x)
        value = xp.asarray(np.asarray(bound, dtype=np.float64))  # cast to the input's dtype below
        if value.ndim == 1 and ctx.x.ndim == 4:
            value = value.reshape(1, -1, 1, 1)
        full = xp.broadcast_to(value, ctx.x.shape).astype(ctx.x.dtype)
        return ctx.layer.unfold(xp.ascontiguousarray(full))

    def terms(self, ctx: LayerContext, relevance: Array) -> list[Term]:
        w = ctx.weight
        bounds = [(bound, split) for bound, split in ((self.low, _pos), (self.high, _neg))
                  if np.any(np.asarray(bound))]  # a bound of exactly 0 adds exactly 0: skip its products
        bound_terms = [(self._bound_cols(ctx, bound), split(w)) for bound, split in bounds]
        z = ctx.out(ctx.cols, w)
        for cols, weight in bound_terms:
            z = z - ctx.out(cols, weight)
        s = relevance / stabilize(z)
        return [Term(1.0, ctx.cols, w, s)] + [Term(-1.0, cols, weight, s) for cols, weight in bound_terms]


RULES: dict[str, type[Rule]] = {
    cls.name: cls for cls in (LRP0, Epsilon, ZPlus, AlphaBeta, Gamma, WSquare, Flat, ZBox)
}


def make_rule(name: str, **params: Any) -> Rule:
    """Create a rule by name, taking the parameters it knows from ``params`` and ignoring others."""
    if name not in RULES:
        raise ParameterError(f"unknown rule {name!r}; choose one of {', '.join(RULES)}")
    cls = RULES[name]
    return cls(**{key: params[key] for key in cls.params if params.get(key) is not None})


def apply_terms(ctx: LayerContext, terms: list[Term]) -> Array:
    """Input relevance ``fold(sum_t c_t * U_t ⊙ (s_t @ W_t))``, shaped like ``ctx.x``."""
    total = None
    for term in terms:
        part = term.cols * ctx.layer.transpose_unfolded(term.scaled, term.weight2d)
        if term.coef != 1.0:
            part *= term.coef
        total = part if total is None else total + part
    return ctx.layer.fold(total, ctx.x.shape)


def term_messages(ctx: LayerContext, terms: list[Term], sample: int = 0) -> Array:
    """Relevance messages of one sample between input and output units of a layer.

    Dense layers: (in, out) with ``messages[j, k] = sum_t c_t U_t[j] W_t[k, j] s_t[k]``.
    Conv layers: (in_channels, out_channels), summed over positions and kernel offsets.
    Summing over the output axis gives the input relevance (per unit or per channel).
    """
    xp = xp_of(ctx.cols)
    total = None
    for term in terms:
        if ctx.x.ndim == 2:
            part = term.cols[sample][:, None] * term.weight2d.T * term.scaled[sample][None, :]
        else:
            n, c = ctx.x.shape[:2]
            u = term.cols.reshape(c, -1, term.cols.shape[1] // n, n)[..., sample]
            w = term.weight2d.reshape(term.weight2d.shape[0], c, -1)
            s = term.scaled[sample].reshape(term.scaled.shape[1], -1)
            part = xp.einsum("ckm,ock,om->co", u, w, s, optimize=True)
        part = part * term.coef
        total = part if total is None else total + part
    return total
