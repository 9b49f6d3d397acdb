"""One connection j -> k of a dense layer, its rule's formula with the sample's numbers (for checking LRP by hand).

The rule's terms (:meth:`lrp_studio.lrp.rules.Rule.terms`) give the message of the connection as
``R_{j<-k} = sum_t c_t u_t[j] W_t[k, j] s_t[k]`` with ``s_t[k] = R_k / stab(D_k)``; the denominators the rule
recorded (:class:`lrp_studio.lrp.rules.Denominator`) give ``D_k``, its bias part and the stabiliser. This
module evaluates every factor for one sample, so that a student can redo one step as in the lecture notes'
examples, and checks that the factors multiply to the message of :func:`lrp_studio.lrp.rules.term_messages`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from html import escape as _escape
from typing import Any

import numpy as np

from lrp_studio.backend import to_numpy
from lrp_studio.errors import ParameterError
from lrp_studio.lrp.propagate import layer_context
from lrp_studio.lrp.rules import Rule, stabilize
from lrp_studio.nn.network import Network, Trace


@dataclass
class TermFactors:
    """One term of the message: ``coef * u * w / den * R``.

    Attributes
    ----------
    u_label, w_label : str
        What the input and weight factors are (``"x_j"``, ``"x+_j"``, ``"1"``, ``"l_j"``; ``"w_jk"``, ``"w+_jk"``...).
    coef, u, w : float
    den_label : str
        Which denominator divides this term (``""``, ``"positive"``, ``"z > 0"`` ...).
    value : float
        ``coef * u * w * s_k``.
    den, r : float
        That denominator's stab(D_k) and the relevance it divides (NaN when the rule recorded none).
    """

    u_label: str
    w_label: str
    coef: float
    u: float
    w: float
    den_label: str
    value: float
    den: float = float("nan")
    r: float = float("nan")


@dataclass
class DenominatorValues:
    """One denominator at output k: ``D_k`` (its bias part), ``stab(D_k)`` and the relevance it divides."""

    label: str
    raw: float
    bias: float
    stabilised: float
    relevance: float


@dataclass
class ConnectionFormula:
    """The numbers of one message R_{j<-k} of a dense layer (sample 0).

    Attributes
    ----------
    layer, j, k : int
    rule : str
        E.g. ``"epsilon(epsilon=0.25)"``.
    x_j, w_jk, z_k, R_k : float
        The plain input, weight, forward output (with bias) and relevance at output k.
    terms : list of TermFactors
    denominators : list of DenominatorValues
    message : float
        The sum of the terms: the message of the inspector's table.
    """

    layer: int
    j: int
    k: int
    rule: str
    x_j: float
    w_jk: float
    z_k: float
    R_k: float
    terms: list[TermFactors] = field(default_factory=list)
    denominators: list[DenominatorValues] = field(default_factory=list)
    message: float = 0.0

    def lines(self, html: bool = False) -> list[str]:
        """Lines: the values, each denominator, each term, the message (plain text, or HTML with ``html``)."""
        sub = (lambda v, i: f"{v}<sub>{i}</sub>") if html else (lambda v, i: f"{v}_{i}")
        esc = _escape if html else str
        times, bold = (" &middot; ", lambda v: f"<b>{v}</b>") if html else (" x ", str)
        out = [f"{bold(esc(self.rule))} (layer {self.layer}): {sub('x', 'j')} = {self.x_j:.6g}, "
               f"{sub('w', 'jk')} = {self.w_jk:.6g}, {sub('z', 'k')} = {self.z_k:.6g}, {sub('R', 'k')} = {self.R_k:.6g}"]
        for d in self.denominators:
            name = sub("D", "k") + (f" ({esc(d.label)})" if d.label else "")
            out.append(f"{name} = {d.raw:.6g} (bias part {d.bias:.6g}); stab({sub('D', 'k')}) = {d.stabilised:.6g}; "
                       f"relevance divided {d.relevance:.6g}")
        for t in self.terms:
            coef = "" if t.coef == 1.0 else f"{t.coef:g}{times}"
            den = f"stab({sub('D', 'k')}{' ' + esc(t.den_label) if t.den_label else ''})"
            out.append(f"{coef}{esc(t.u_label)}{times}{esc(t.w_label)} / {den}{times}{sub('R', 'k')} = {coef}{t.u:.6g}"
                       f"{times}{t.w:.6g} / {t.den:.6g}{times}{t.r:.6g} = {bold(f'{t.value:.6g}')}")
        out.append(f"{sub('R', 'j&larr;k' if html else '(j<-k)')} = {bold(f'{self.message:.6g}')}")
        return out


def _label(value: Any, candidates: list[tuple[str, Any]], fallback: str) -> str:
    for name, candidate in candidates:
        if candidate is not None and value is candidate:
            return name
        if candidate is not None and np.shape(value) == np.shape(candidate) and np.array_equal(value, candidate):
            return name
    return fallback


def connection_formula(net: Network, trace: Trace, layer: int, relevance: Any, rule: Rule, j: int, k: int,
                       bias: bool = True) -> ConnectionFormula:
    """The factors of the message from output ``k`` to input ``j`` of dense layer ``layer`` (sample 0).

    Parameters
    ----------
    net : Network
        The canonical network (BatchNorm merged).
    trace : Trace
        Its forward pass of one sample.
    layer : int
        A dense layer's index.
    relevance : array (1, out)
        The relevance at the layer's output.
    rule : Rule
        The layer's rule.
    j, k : int
        Input and output unit.
    bias : bool

    Raises
    ------
    ParameterError
        For a layer that is not dense, or units out of range.
    """
    if net.layers[layer].type_name != "dense":
        raise ParameterError("the formula with numbers is shown for dense layers (a conv message sums positions)")
    ctx = layer_context(net, trace, layer, bias)
    if not (0 <= j < ctx.x.shape[1] and 0 <= k < ctx.z.shape[1]):
        raise ParameterError(f"units out of range: j={j}, k={k}")
    ctx.record = []
    terms = rule.terms(ctx, relevance)
    x, w = ctx.x, ctx.weight
    inputs = [("x_j", x), ("x+_j", np.maximum(to_numpy(x), 0)), ("x-_j", np.minimum(to_numpy(x), 0))]
    weights = [("w_jk", w), ("w+_jk", np.maximum(to_numpy(w), 0)), ("w-_jk", np.minimum(to_numpy(w), 0)),
               ("w_jk^2", to_numpy(w) ** 2), ("1", np.ones(np.shape(w)))]
    by_scaled = {id(d.scaled): d for d in ctx.record}
    formula = ConnectionFormula(layer, j, k, rule.describe(), float(to_numpy(x)[0, j]), float(to_numpy(w)[k, j]),
                                float(to_numpy(ctx.z)[0, k]), float(to_numpy(relevance)[0, k]))
    for d in ctx.record:
        raw = float(to_numpy(d.raw)[0, k])
        b = 0.0 if d.bias is None else float(to_numpy(d.bias).reshape(-1)[k])
        formula.denominators.append(DenominatorValues(d.label, raw, b, float(to_numpy(stabilize(d.raw, d.eps))[0, k]),
                                                      float(d.coef) * float(to_numpy(d.relevance)[0, k])))
    for t in terms:
        u = 1.0 if t.inputs is None else float(to_numpy(t.inputs)[0 if t.inputs.shape[0] == 1 else 0, j])
        u_label = "1" if t.inputs is None else _label(to_numpy(t.inputs), inputs, "bound_j")
        value = t.coef * u * float(to_numpy(t.weight2d)[k, j]) * float(to_numpy(t.scaled)[0, k])
        record = by_scaled.get(id(t.scaled))
        den = float(to_numpy(stabilize(record.raw, record.eps))[0, k]) if record else float("nan")
        r = float(to_numpy(record.relevance)[0, k]) if record else float("nan")
        formula.terms.append(TermFactors(u_label, _label(to_numpy(t.weight2d), weights, "w'_jk"), float(t.coef), u,
                                         float(to_numpy(t.weight2d)[k, j]), record.label if record else "", value,
                                         den, r))
    formula.message = float(sum(t.value for t in formula.terms))
    return formula
