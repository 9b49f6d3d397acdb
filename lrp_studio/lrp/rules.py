"""LRP rules for dense and conv layers (DESIGN.md 3.3), each a short class stating its formula.

A rule turns the relevance of a layer's outputs R_k into the relevance of its inputs R_j.
Every rule here has the form ``R_j = sum_t c_t * u_t[j] * sum_k W_t[k, j] * s_t[k]`` with
``s_t = R / stab(denominator)``: a few *terms* ``(c_t, u_t, W_t, s_t)`` of a modified input
``u_t`` (input-shaped, or none for rules without an input factor), a modified weight ``W_t``
and a scaled relevance ``s_t``. :meth:`Rule.terms` returns them; :func:`apply_terms`
evaluates them: the terms that share an input are back-projected together (one matrix
product over their stacked weights, for a conv layer then folded back onto the input grid)
and multiplied by that input on the input grid. :func:`term_messages` gives the
per-connection messages the network graph draws. A rule may compute the same numbers by a
shortcut in :meth:`Rule.__call__` (the flat rule does); the terms stay its definition.

For a conv layer the input factor is applied after the fold: ``fold(unfold(u) * B) = u * fold(B)``
because every column entry of ``unfold(u)`` is the input value it is folded back onto (padding
positions are dropped by the fold), so no (C*kh*kw, Ho*Wo*N) product is formed.

Notation: x+ = max(x, 0), x- = min(x, 0), likewise w+ / w-; stab(z) = z + eps * s(z) with
s the sign and s(0) = +1.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar, Mapping, NamedTuple

import numpy as np

from lrp_studio.backend import xp_of
from lrp_studio.errors import ParameterError
from lrp_studio.lrp.params import ALPHA, BETA, EPSILON, GAMMA, HIGH, LOW, Param, check_params

Array = Any
DEFAULT_STABILIZER = 1e-6


def stabilize(z: Array, eps: float = DEFAULT_STABILIZER) -> Array:
    """stab(z) = z + eps * sign(z) with sign(0) = +1 (Zennit's stabilizer)."""
    xp = xp_of(z)
    return z + xp.where(z >= 0, z.dtype.type(eps), z.dtype.type(-eps))


class Term(NamedTuple):
    """One term ``coef * u ⊙ back-projection of s through W2`` of a rule.

    Shapes: W2 (O, K) (a layer weight as a matrix, possibly modified); s shaped like the layer
    output (N, O) or (N, O, Ho, Wo); u shaped like the layer input (N, ...) or (1, ...) for a
    sample-independent input (z-box bounds), or None: no input factor (w-square, flat).
    """

    coef: float
    inputs: Array | None
    weight2d: Array
    scaled: Array


class InputSplit(NamedTuple):
    """A layer input split into x+ and x-, input-shaped and unfolded (``neg`` is None when x >= 0)."""

    pos: Array
    pos_cols: Array
    neg: Array | None = None
    neg_cols: Array | None = None


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
    record : list of Denominator or None
        When a list, every rule appends each denominator it divides by (the relevance ledger,
        :mod:`lrp_studio.lrp.ledger`); None (default) records nothing.
    """

    layer: Any
    x: Array
    cols: Array
    z: Array
    bias: bool = True
    record: list | None = None

    @property
    def weight(self) -> Array:
        return self.layer.weight2d(self.layer.params["weight"])

    @property
    def b(self) -> Array | None:
        return self.layer.params["bias"] if self.bias else None

    def out(self, cols: Array, weight2d: Array, bias: Array | None = None) -> Array:
        """Layer output for modified input columns and weights."""
        return self.layer.apply_unfolded(cols, weight2d, bias, self.x.shape)

    @property
    def sample_shape(self) -> tuple[int, ...]:
        """Shape of a one-sample input (1, ...)."""
        return (1,) + tuple(self.x.shape[1:])

    def out_one(self, inputs: Array | None, weight2d: Array, bias: Array | None = None) -> Array:
        """Layer output (1, ...) for one sample-independent input (1, ...); None is all ones.

        Denominators that do not depend on the sample (w-square, flat, z-box bounds) are computed
        once and broadcast over the batch.
        """
        xp = xp_of(self.x)
        one = xp.ones(self.sample_shape, dtype=self.x.dtype) if inputs is None else inputs
        return self.layer.apply_unfolded(self.layer.unfold(one), weight2d, bias, self.sample_shape)

    def split_input(self) -> InputSplit:
        """x+ and x- of the input, input-shaped and unfolded; no x- part when the input has no negative value."""
        xp = xp_of(self.cols)
        if float(self.x.min()) >= 0:
            return InputSplit(self.x, self.cols)
        pos, neg = xp.maximum(self.x, 0), xp.minimum(self.x, 0)
        if self.cols is self.x:
            return InputSplit(pos, pos, neg, neg)
        return InputSplit(pos, xp.maximum(self.cols, 0), neg, xp.minimum(self.cols, 0))


class Denominator(NamedTuple):
    """One denominator of a rule, as the relevance ledger reads it.

    The rule divides ``relevance`` by ``stabilize(raw, eps)`` and gives the quotient ``scaled``
    to its terms; ``bias`` is the bias part of ``raw`` (broadcastable to it, or None). With the
    terms' coefficient ``coef`` this denominator received ``coef * sum(relevance)``, sent
    ``coef * sum(scaled * (raw - bias))`` down and absorbed ``coef * sum(scaled * bias)`` in the
    bias and ``coef * sum(scaled * (stab(raw) - raw))`` in the stabiliser.
    """

    label: str
    coef: float
    relevance: Array
    raw: Array
    bias: Array | None
    scaled: Array
    eps: float = DEFAULT_STABILIZER


def divide(ctx: LayerContext, relevance: Array, raw: Array, bias: Array | None = None, coef: float = 1.0,
           label: str = "", eps: float = DEFAULT_STABILIZER) -> Array:
    """``relevance / stabilize(raw, eps)``, recorded in ``ctx.record`` as a :class:`Denominator` when it is a list.

    ``bias`` is the layer bias (O,) as it enters ``raw`` (None: no bias term); it is shaped like one
    output sample for the ledger.
    """
    scaled = relevance / stabilize(raw, eps)
    if ctx.record is not None:
        shaped = None if bias is None else bias.reshape((1, -1) + (1,) * (raw.ndim - 2))
        ctx.record.append(Denominator(label, coef, relevance, raw, shaped, scaled, eps))
    return scaled


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
    """Base class of the LRP rules: a name, declared parameters, the formula, and :meth:`terms`.

    Subclasses set the class attributes and implement :meth:`terms`; registering the class in
    :data:`RULES` makes it a method of the GUI, the CLI and :func:`lrp_studio.explain`.

    Attributes
    ----------
    name : str
        The method name (DESIGN.md 3.3).
    params : tuple of Param
        The parameters the constructor takes, with defaults, ranges and help.
    uses_bias : bool
        Whether the ``bias`` switch of :func:`lrp_studio.explain` changes the rule.
    title, formula, about : str
        Display title, the formula and a short explanation (HTML) for the formula pane.
    """

    name: ClassVar[str] = ""
    params: ClassVar[tuple[Param, ...]] = ()
    uses_bias: ClassVar[bool] = True
    title: ClassVar[str] = ""
    formula: ClassVar[str] = ""
    about: ClassVar[str] = ""

    @classmethod
    def from_params(cls, params: Mapping[str, Any]) -> "Rule":
        """The rule built from the entries of ``params`` it declares (others are ignored)."""
        names = {p.name for p in cls.params}
        return cls(**{k: v for k, v in params.items() if k in names and v is not None})

    def terms(self, ctx: LayerContext, relevance: Array) -> list[Term]:
        """The rule's terms for output relevance ``relevance`` (shaped like ``ctx.z``)."""
        raise NotImplementedError

    def __call__(self, ctx: LayerContext, relevance: Array) -> Array:
        """Input relevance, shaped like ``ctx.x`` (the same numbers as ``apply_terms(ctx, self.terms(...))``)."""
        return apply_terms(ctx, self.terms(ctx, relevance))

    def values(self) -> dict[str, Any]:
        """The rule's parameter values by name."""
        return {p.name: getattr(self, p.name) for p in self.params}

    def describe(self) -> str:
        """E.g. ``"epsilon(epsilon=0.25)"`` or ``"zplus"``."""
        values = ", ".join(f"{k}={_short(v)}" for k, v in self.values().items())
        return f"{self.name}({values})" if values else self.name


def _short(value: Any) -> str:
    array = np.asarray(value)
    return f"{float(array):g}" if array.ndim == 0 else "[" + ", ".join(f"{v:g}" for v in array.ravel()) + "]"


def _checked(cls: type[Rule], **values: Any) -> dict[str, Any]:
    return check_params(cls.name, cls.params, values)


class Epsilon(Rule):
    """R_j = sum_k x_j w_jk / stab_eps(z_k) R_k, z_k = sum_j x_j w_jk + b_k."""

    name = "epsilon"
    params = (EPSILON,)
    title = "LRP-&epsilon;"
    formula = ("R<sub>j</sub> = &sum;<sub>k</sub> x<sub>j</sub>w<sub>jk</sub> / (z<sub>k</sub> + &epsilon;&middot;sign(z<sub>k</sub>))"
               " &middot; R<sub>k</sub>")
    about = ("&epsilon; absorbs part of the relevance of weakly activated neurons: larger &epsilon; gives "
             "sparser, less noisy heatmaps and a conservation gap (relevance lost in the denominators). "
             "&epsilon; is at least 1e-9, so no denominator is 0 and relevance stays finite.")

    def __init__(self, epsilon: float = EPSILON.default) -> None:
        self.epsilon = _checked(Epsilon, epsilon=epsilon)["epsilon"]

    def terms(self, ctx: LayerContext, relevance: Array) -> list[Term]:
        z = ctx.z if ctx.bias else ctx.out(ctx.cols, ctx.weight)
        return [Term(1.0, ctx.x, ctx.weight, divide(ctx, relevance, z, ctx.b, eps=self.epsilon))]


class LRP0(Epsilon):
    """The basic rule of the notes: R_j = sum_k x_j w_jk / z_k R_k (stabilised with 1e-6)."""

    name = "lrp0"
    params = ()
    title = "LRP-0 (basic rule)"
    formula = ("R<sub>j</sub> = &sum;<sub>k</sub> x<sub>j</sub>w<sub>jk</sub> / z<sub>k</sub> &middot; R<sub>k</sub>,"
               " &nbsp; z<sub>k</sub> = &sum;<sub>j</sub> x<sub>j</sub>w<sub>jk</sub> + b<sub>k</sub>")
    about = ("Each input gets the share it contributed to z<sub>k</sub>. Equivalent to gradient&times;input for "
             "ReLU networks: faithful but noisy; tiny z<sub>k</sub> can blow up relevance.")

    def __init__(self) -> None:
        self.epsilon = DEFAULT_STABILIZER

    def describe(self) -> str:
        return self.name


class ZPlus(Rule):
    """R_j = sum_k (x+_j w+_jk + x-_j w-_jk) / stab(sum_j (x+ w+ + x- w-) + b+_k) R_k."""

    name = "zplus"
    title = "z<sup>+</sup> (&alpha;1-&beta;0)"
    formula = ("R<sub>j</sub> = &sum;<sub>k</sub> (x<sup>+</sup><sub>j</sub>w<sup>+</sup><sub>jk</sub> + "
               "x<sup>&minus;</sup><sub>j</sub>w<sup>&minus;</sup><sub>jk</sub>) / (&sum;<sub>j</sub>(same) + "
               "b<sup>+</sup><sub>k</sub>) &middot; R<sub>k</sub>")
    about = ("Only contributions that push z<sub>k</sub> up are credited, so all relevance stays positive "
             "(deep Taylor decomposition for ReLU layers).")

    def terms(self, ctx: LayerContext, relevance: Array) -> list[Term]:
        u = ctx.split_input()
        w_pos = _pos(ctx.weight)
        w_neg = None if u.neg is None else _neg(ctx.weight)
        z = _add(ctx.out(u.pos_cols, w_pos, _pos(ctx.b)), None if u.neg is None else ctx.out(u.neg_cols, w_neg))
        s = divide(ctx, relevance, z, _pos(ctx.b))
        terms = [Term(1.0, u.pos, w_pos, s)]
        if u.neg is not None:
            terms.append(Term(1.0, u.neg, w_neg, s))
        return terms


class AlphaBeta(Rule):
    """R_j = sum_k [alpha (x+ w+ + x- w-)_jk / P_k - beta (x+ w- + x- w+)_jk / N_k] R_k.

    P_k = stab(sum_j (x+ w+ + x- w-) + b+_k), N_k = stab(sum_j (x+ w- + x- w+) + b-_k),
    with alpha, beta >= 0 and alpha - beta = 1.
    """

    name = "alphabeta"
    params = (ALPHA, BETA)
    title = "LRP-&alpha;&beta;"
    formula = ("R<sub>j</sub> = &sum;<sub>k</sub> [&alpha; (x<sup>+</sup>w<sup>+</sup> + x<sup>&minus;</sup>w<sup>&minus;</sup>)<sub>jk</sub>"
               " / P<sub>k</sub> &minus; &beta; (x<sup>+</sup>w<sup>&minus;</sup> + x<sup>&minus;</sup>w<sup>+</sup>)<sub>jk</sub>"
               " / N<sub>k</sub>] R<sub>k</sub>, &nbsp; &alpha; &minus; &beta; = 1")
    about = ("P<sub>k</sub> and N<sub>k</sub> are the sums of the positive and negative contributions "
             "(with b<sup>+</sup> and b<sup>&minus;</sup>). &alpha; weights evidence for the class, &beta; "
             "evidence against it; &alpha;=1, &beta;=0 is z<sup>+</sup>. Raising &beta; shows more negative (blue) relevance.")

    def __init__(self, alpha: float = ALPHA.default, beta: float | None = None) -> None:
        """``beta`` defaults to ``alpha - 1``; any other pair must satisfy alpha - beta = 1."""
        values = _checked(AlphaBeta, alpha=alpha, beta=float(alpha) - 1.0 if beta is None else beta)
        if not np.isclose(values["alpha"] - values["beta"], 1.0):
            raise ParameterError(f"alpha-beta needs alpha - beta = 1, got alpha={alpha:g}, beta={beta:g}")
        self.alpha, self.beta = values["alpha"], values["beta"]

    def terms(self, ctx: LayerContext, relevance: Array) -> list[Term]:
        u = ctx.split_input()
        w_pos, w_neg = _pos(ctx.weight), _neg(ctx.weight)
        has_neg = u.neg is not None
        p = _add(ctx.out(u.pos_cols, w_pos, _pos(ctx.b)), ctx.out(u.neg_cols, w_neg) if has_neg else None)
        s_pos = divide(ctx, relevance, p, _pos(ctx.b), self.alpha, "positive")
        terms = [Term(self.alpha, u.pos, w_pos, s_pos)]
        if has_neg:
            terms.append(Term(self.alpha, u.neg, w_neg, s_pos))
        if self.beta:
            n = _add(ctx.out(u.pos_cols, w_neg, _neg(ctx.b)), ctx.out(u.neg_cols, w_pos) if has_neg else None)
            s_neg = divide(ctx, relevance, n, _neg(ctx.b), -self.beta, "negative")
            terms.append(Term(-self.beta, u.pos, w_neg, s_neg))
            if has_neg:
                terms.append(Term(-self.beta, u.neg, w_pos, s_neg))
        return terms


class Gamma(Rule):
    """Gamma rule: favour the contributions that agree in sign with the output z_k.

    z_k > 0: numerator x+ (w + gamma w+) + x- (w + gamma w-), denominator its sum + b_k + gamma b+_k;
    z_k < 0: numerator x+ (w + gamma w-) + x- (w + gamma w+), denominator its sum + b_k + gamma b-_k;
    z_k = 0: no relevance.
    """

    name = "gamma"
    params = (GAMMA,)
    title = "LRP-&gamma;"
    formula = ("z<sub>k</sub> &gt; 0: numerator x<sup>+</sup>(w + &gamma;w<sup>+</sup>) + x<sup>&minus;</sup>(w + &gamma;w<sup>&minus;</sup>);"
               " z<sub>k</sub> &lt; 0: x<sup>+</sup>(w + &gamma;w<sup>&minus;</sup>) + x<sup>&minus;</sup>(w + &gamma;w<sup>+</sup>)")
    about = ("Denominator: the sum of the numerator plus b<sub>k</sub> + &gamma;b<sup>&plusmn;</sup><sub>k</sub>. "
             "&gamma; &gt; 0 favours contributions that agree in sign with z<sub>k</sub>: &gamma;=0 is LRP-0, "
             "large &gamma; approaches z<sup>+</sup>; more stable, less noisy heatmaps.")

    def __init__(self, gamma: float = GAMMA.default) -> None:
        self.gamma = _checked(Gamma, gamma=gamma)["gamma"]

    def terms(self, ctx: LayerContext, relevance: Array) -> list[Term]:
        g = self.gamma
        u = ctx.split_input()
        w, b = ctx.weight, ctx.b
        w_up, w_down = w + g * _pos(w), w + g * _neg(w)
        b_up = None if b is None else b + g * _pos(b)
        b_down = None if b is None else b + g * _neg(b)
        has_neg = u.neg is not None
        z = ctx.z if ctx.bias else ctx.out(ctx.cols, w)
        zero = relevance.dtype.type(0)
        r_pos = xp_of(z).where(z > 0, relevance, zero)
        r_neg = xp_of(z).where(z < 0, relevance, zero)
        den_pos = _add(ctx.out(u.pos_cols, w_up, b_up), ctx.out(u.neg_cols, w_down) if has_neg else None)
        den_neg = _add(ctx.out(u.pos_cols, w_down, b_down), ctx.out(u.neg_cols, w_up) if has_neg else None)
        s_pos = divide(ctx, r_pos, den_pos, b_up, label="z > 0")
        s_neg = divide(ctx, r_neg, den_neg, b_down, label="z < 0")
        terms = [Term(1.0, u.pos, w_up, s_pos), Term(1.0, u.pos, w_down, s_neg)]
        if has_neg:
            terms += [Term(1.0, u.neg, w_down, s_pos), Term(1.0, u.neg, w_up, s_neg)]
        return terms


class WSquare(Rule):
    """R_j = sum_k w_jk^2 / stab(sum_j w_jk^2 + b_k^2) R_k (no input factor; deep Taylor input rule)."""

    name = "wsquare"
    title = "w<sup>2</sup> rule"
    formula = ("R<sub>j</sub> = &sum;<sub>k</sub> w<sub>jk</sub><sup>2</sup> / (&sum;<sub>j</sub> w<sub>jk</sub><sup>2</sup> + "
               "b<sub>k</sub><sup>2</sup>) &middot; R<sub>k</sub>")
    about = ("Ignores the input values: relevance follows the squared weights (deep Taylor rule for an "
             "unbounded input layer). The heatmap shows where the model looks, not what the sample holds.")

    def terms(self, ctx: LayerContext, relevance: Array) -> list[Term]:
        w2 = ctx.weight * ctx.weight
        b2 = None if ctx.b is None else ctx.b * ctx.b
        return [Term(1.0, None, w2, divide(ctx, relevance, ctx.out_one(None, w2, b2), b2))]


class Flat(Rule):
    """R_j = sum_k 1 / (number of non-padding inputs of k) R_k (bias ignored)."""

    name = "flat"
    uses_bias = False
    title = "flat rule"
    formula = "R<sub>j</sub> = &sum;<sub>k</sub> 1 / (number of inputs of k) &middot; R<sub>k</sub>"
    about = ("Spreads each output's relevance evenly over its receptive field (bias ignored); used on the first "
             "layer of epsilon-plus-flat to give smooth input maps.")

    def terms(self, ctx: LayerContext, relevance: Array) -> list[Term]:
        w1 = xp_of(ctx.weight).ones_like(ctx.weight)
        return [Term(1.0, None, w1, divide(ctx, relevance, ctx.out_one(None, w1)))]

    def __call__(self, ctx: LayerContext, relevance: Array) -> Array:
        """The terms' numbers without their matrix products.

        With an all-ones weight every output k of one position has the same denominator (the
        number of real inputs in its field), so ``sum_k R_k / stab(count_k)`` is the sum over the
        output channels divided by that count, spread over the position's receptive field.
        """
        layer = ctx.layer
        counts = layer.field_sizes(ctx.x.shape, ctx.x.dtype)
        per_position = relevance.sum(axis=1) / stabilize(counts)
        return layer.spread_over_fields(per_position, ctx.x.shape)


class ZBox(Rule):
    """Bounded-input rule: R_j = sum_k (x_j w_jk - l_j w+_jk - h_j w-_jk) / stab(sum_j same) R_k.

    ``low`` and ``high`` are scalars or per-channel arrays (C,) for image inputs (or arrays
    broadcastable to one sample's shape); the bias terms cancel.
    """

    name = "zbox"
    params = (LOW, HIGH)
    uses_bias = False
    title = "z<sup>B</sup> (bounded input)"
    formula = ("R<sub>j</sub> = &sum;<sub>k</sub> (x<sub>j</sub>w<sub>jk</sub> &minus; l<sub>j</sub>w<sup>+</sup><sub>jk</sub> &minus; "
               "h<sub>j</sub>w<sup>&minus;</sup><sub>jk</sub>) / &sum;<sub>j</sub>(same) &middot; R<sub>k</sub>")
    about = ("Deep Taylor rule for inputs confined to [low, high] (pixels in [0, 1]): also a dark pixel "
             "can be relevant when the weight says it should be bright or dark.")

    def __init__(self, low: Any = 0.0, high: Any = 1.0) -> None:
        values = _checked(ZBox, low=low, high=high)
        if np.any(np.asarray(values["low"]) > np.asarray(values["high"])):
            raise ParameterError(f"zbox needs low <= high, got low={_short(low)}, high={_short(high)}")
        self.low, self.high = values["low"], values["high"]

    def _bound_input(self, ctx: LayerContext, bound: Any) -> Array:
        """The bound as one sample's input (1, ...) in the input's dtype."""
        xp = xp_of(ctx.x)
        value = xp.asarray(np.asarray(bound, dtype=np.float64))  # cast to the input's dtype below
        if value.ndim >= 1 and value.size == int(np.prod(ctx.sample_shape)):  # one whole sample, e.g. flattened
            value = value.reshape(ctx.sample_shape)
        elif value.ndim == 1 and ctx.x.ndim == 4:
            value = value.reshape(1, -1, 1, 1)
        try:
            return xp.ascontiguousarray(xp.broadcast_to(value, ctx.sample_shape).astype(ctx.x.dtype))
        except ValueError:
            raise ParameterError(f"zbox bounds of shape {tuple(np.shape(bound))} do not fit this layer's input of "
                                 f"shape {tuple(ctx.sample_shape[1:])}") from None

    def terms(self, ctx: LayerContext, relevance: Array) -> list[Term]:
        w = ctx.weight
        bounds = [(bound, split) for bound, split in ((self.low, _pos), (self.high, _neg))
                  if np.any(np.asarray(bound))]  # a bound of exactly 0 adds exactly 0: skip its products
        bound_terms = [(self._bound_input(ctx, bound), split(w)) for bound, split in bounds]
        z = ctx.out(ctx.cols, w)
        for inputs, weight in bound_terms:  # the bounds' products do not depend on the sample
            z = z - ctx.out_one(inputs, weight)
        s = divide(ctx, relevance, z)
        return [Term(1.0, ctx.x, w, s)] + [Term(-1.0, inputs, weight, s) for inputs, weight in bound_terms]


RULES: dict[str, type[Rule]] = {
    cls.name: cls for cls in (LRP0, Epsilon, ZPlus, AlphaBeta, Gamma, WSquare, Flat, ZBox)
}


def make_rule(name: str, **params: Any) -> Rule:
    """Create a rule by name with its declared parameters.

    Raises
    ------
    ParameterError
        For an unknown rule, a parameter the rule does not take, or an out-of-range value.
    """
    if name not in RULES:
        raise ParameterError(f"unknown rule {name!r}; choose one of {', '.join(RULES)}")
    cls = RULES[name]
    check_params(name, cls.params, params)
    return cls.from_params(params)


def apply_terms(ctx: LayerContext, terms: list[Term]) -> Array:
    """Input relevance ``sum_t c_t * u_t ⊙ back-projection(s_t, W_t)``, shaped like ``ctx.x``.

    Terms with the same input array share one back-projection of their stacked weights (the
    coefficients scale the output-shaped ``s_t``, the smallest factor).
    """
    groups: dict[int, tuple[Array | None, list[tuple[Array, Array]]]] = {}
    for term in terms:
        scaled = term.scaled if term.coef == 1.0 else term.scaled * term.coef
        groups.setdefault(id(term.inputs), (term.inputs, []))[1].append((scaled, term.weight2d))
    total = None
    for inputs, pairs in groups.values():
        part = ctx.layer.back_project(pairs, ctx.x.shape)
        if inputs is not None:
            part = inputs * part
        total = part if total is None else total + part
    return total


def _one_sample(inputs: Array, sample: int) -> Array:
    """Sample ``sample`` of an input-shaped array, keeping the batch axis (sample-independent: row 0)."""
    return inputs[:1] if inputs.shape[0] == 1 else inputs[sample : sample + 1]


def term_messages(ctx: LayerContext, terms: list[Term], sample: int = 0) -> Array:
    """Relevance messages of one sample between input and output units of a layer.

    Dense layers: (in, out) with ``messages[j, k] = sum_t c_t u_t[j] W_t[k, j] s_t[k]``.
    Conv layers: (in_channels, out_channels), summed over positions and kernel offsets.
    Summing over the output axis gives the input relevance (per unit or per channel).
    """
    xp = xp_of(ctx.x)
    total = None
    for term in terms:
        u = (xp.ones(ctx.sample_shape, dtype=ctx.x.dtype) if term.inputs is None
             else _one_sample(term.inputs, sample))
        if ctx.x.ndim == 2:
            part = u[0][:, None] * term.weight2d.T * term.scaled[sample][None, :]
        else:
            c = ctx.x.shape[1]
            cols = ctx.layer.unfold(u)  # (C*kh*kw, Ho*Wo): 0 at padding positions
            w = term.weight2d.reshape(term.weight2d.shape[0], c, -1)
            s = term.scaled[sample].reshape(term.scaled.shape[1], -1)
            part = xp.einsum("ckm,ock,om->co", cols.reshape(c, -1, cols.shape[1]), w, s, optimize=True)
        part = part * term.coef
        total = part if total is None else total + part
    return total
