"""The relevance ledger: per layer, what came in, what went down to the inputs and what was absorbed where.

The per-stage sums of :class:`lrp_studio.lrp.metrics.ConservationReport` say *that* a layer absorbed
relevance (``report.absorbed``); the ledger says *where*. Every LRP rule divides the relevance R_k of an
output by a denominator ``stab(D_k)`` with ``D_k = sum_j (numerator)_jk + b'_k`` (Bach et al. 2015;
Montavon et al. 2019, sec. 10.2), so with ``s_k = R_k / stab(D_k)``

    sum_k R_k = sum_j R_j + sum_k s_k b'_k + sum_k s_k (stab(D_k) - D_k)
                (sent down)  (bias part)     (stabiliser part)

exactly, up to rounding. alpha-beta has two denominators (alpha times the positive part, -beta times the
negative part), gamma two (outputs with z_k > 0 and z_k < 0) and drops the relevance of outputs with
z_k = 0. Average pooling, global average pooling and add divide by ``stab(z)`` (eps 1e-6) with no bias;
max pooling, concat, activations and flatten pass relevance on unchanged.

The identity is checked for every rule on dense and conv layers, with and without bias, and for graph
networks in ``tests/lrp/test_ledger.py`` (float64, rtol 1e-10).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Mapping

import numpy as np

from lrp_studio.backend import to_numpy
from lrp_studio.lrp.canonizers import canonical
from lrp_studio.lrp.composites import default_method
from lrp_studio.lrp.explain import resolve_rules
from lrp_studio.lrp.metrics import node_label
from lrp_studio.lrp.outputs import resolve_targets
from lrp_studio.lrp.propagate import DEFAULT_STABILIZER, layer_context, propagate, relevance_to_inputs
from lrp_studio.lrp.rules import Denominator, Rule, apply_terms, stabilize
from lrp_studio.lrp.start import parse_start, start_relevance, start_targets
from lrp_studio.nn.network import Network, Trace

Array = Any

#: Layers whose relevance is divided by stab(z) with eps 1e-6 and no bias (the Norm rule of Zennit).
NORM_TYPES = frozenset({"avgpool2d", "globalavgpool", "add"})


def _sums(values: Array) -> np.ndarray:
    """Per-sample sums (N,) float64 of an array (N, ...)."""
    return to_numpy(values.reshape(values.shape[0], -1).sum(axis=1, dtype="float64"))


@dataclass
class LedgerPart:
    """One denominator of a layer: relevance received, absorbed by bias and stabiliser, sent down.

    Attributes
    ----------
    label : str
        E.g. ``""`` (one denominator), ``"positive"``/``"negative"`` (alpha-beta), ``"z > 0"`` (gamma).
    coef : float
        The terms' coefficient (alpha, -beta or 1).
    received, bias, stabiliser, sent : ndarray (N,) float64
        ``coef * sum R_k``, ``coef * sum s_k b'_k``, ``coef * sum s_k (stab(D_k) - D_k)`` and the
        sum of this part's input relevance.
    """

    label: str
    coef: float
    received: np.ndarray
    bias: np.ndarray
    stabiliser: np.ndarray
    sent: np.ndarray


@dataclass
class LayerLedger:
    """The relevance account of one layer (per sample, float64).

    Attributes
    ----------
    index : int
        Layer index in the (canonical) network.
    name : str
        The layer's name for texts (:func:`lrp_studio.lrp.metrics.node_label`).
    kind : str
        Layer type, e.g. ``"dense"``, ``"conv2d"``, ``"add"``.
    rule : str or None
        The rule the layer ran (dense/conv), e.g. ``"gamma(gamma=0.25)"``.
    received : ndarray (N,)
        Sum of the relevance at the layer's output.
    sent : ndarray (N,)
        Sum of the relevance the layer sent to all its inputs (as :func:`propagate` sends it).
    bias, stabiliser : ndarray (N,)
        Absorbed by the bias terms and by the stabiliser of the denominators.
    dropped : ndarray (N,)
        Relevance no denominator took (gamma: outputs with z_k = 0); 0 for the other rules.
    parts : list of LedgerPart
        One per denominator of a dense/conv layer; empty for the other layers.
    """

    index: int
    name: str
    kind: str
    rule: str | None
    received: np.ndarray
    sent: np.ndarray
    bias: np.ndarray
    stabiliser: np.ndarray
    dropped: np.ndarray
    parts: list[LedgerPart] = field(default_factory=list)

    @property
    def absorbed(self) -> np.ndarray:
        """(N,) received minus sent (= ``ConservationReport.absorbed`` of this layer)."""
        return self.received - self.sent

    @property
    def residual(self) -> np.ndarray:
        """(N,) received - sent - bias - stabiliser - dropped: 0 up to rounding (the ledger identity)."""
        return self.received - self.sent - self.bias - self.stabiliser - self.dropped


@dataclass
class Ledger:
    """The relevance account of a whole backward pass, top layer first.

    Attributes
    ----------
    layers : list of LayerLedger
        The layers that received relevance, in the order the backward pass visits them (top first).
    start_total : ndarray (N,)
        Sum of the start relevance (the explained logit for ``start="logit"``).
    input_total : ndarray (N,)
        Sum of the input relevance.
    label : str
        What ``start_total`` is, for texts.
    """

    layers: list[LayerLedger]
    start_total: np.ndarray
    input_total: np.ndarray
    label: str = "explained logit"

    def waterfall(self, sample: int = 0) -> list[tuple[str, float, float]]:
        """The path from the start total to the input total as ``(label, value, running total)`` steps.

        The first step is the start total, then one step per layer that absorbed anything (its
        ``-absorbed``, so a layer that created relevance has a positive step), the last the input
        total. Sum of the steps between = input total - start total (the ledger identity over layers).
        """
        running = float(self.start_total[sample])
        steps = [(self.label, running, running)]
        for row in self.layers:
            change = -float(row.absorbed[sample])
            if change != 0.0:
                running += change
                steps.append((row.name, change, running))
        steps.append(("input", float(self.input_total[sample]), float(self.input_total[sample])))
        return steps

    def lines(self, sample: int = 0) -> list[str]:
        """A fixed-width table for the CLI: one line per layer (and per alpha-beta/gamma part)."""
        head = f"{'layer':<24} {'rule':<22} {'in':>11} {'bias':>11} {'stabiliser':>11} {'dropped':>11} {'out':>11}"
        out = [head, "-" * len(head)]
        for row in self.layers:
            out.append(_line(row.name, row.rule or row.kind, row.received, row.bias, row.stabiliser, row.dropped,
                             row.sent, sample))
            if len(row.parts) > 1:
                for part in row.parts:
                    label = f"  {part.label} ({part.coef:g}x)"
                    out.append(_line(label, "", part.received, part.bias, part.stabiliser, None, part.sent, sample))
        start, end = float(self.start_total[sample]), float(self.input_total[sample])
        share = f" ({100 * end / start:.2f} %)" if start else ""
        out.append(f"{self.label} {start:.6g} -> input {end:.6g}{share}; absorbed "
                   f"bias {self.total('bias', sample):.4g}, stabiliser {self.total('stabiliser', sample):.4g}, "
                   f"dropped {self.total('dropped', sample):.4g}")
        return out

    def waterfall_lines(self, sample: int = 0) -> list[str]:
        """The :meth:`waterfall` as text: each step's change and the running total, logit to input."""
        steps = self.waterfall(sample)
        lines = [f"waterfall: {steps[0][0]} {steps[0][1]:.6g}"]
        lines += [f"  {name[:24]:<24} {change:+11.4g} -> {running:.6g}" for name, change, running in steps[1:-1]]
        lines.append(f"  = input total {steps[-1][1]:.6g}")
        return lines

    def total(self, what: str, sample: int = 0) -> float:
        """Sum over layers of ``"bias"``, ``"stabiliser"``, ``"dropped"`` or ``"absorbed"`` (one sample)."""
        return float(sum(float(getattr(row, what)[sample]) for row in self.layers))


def _line(name: str, rule: str, received: np.ndarray, bias: np.ndarray, stab: np.ndarray,
          dropped: np.ndarray | None, sent: np.ndarray, sample: int) -> str:
    def cell(values: np.ndarray | None) -> str:
        return f"{'':>11}" if values is None else f"{float(values[sample]):>11.5g}"

    return (f"{name[:24]:<24} {rule[:22]:<22} {cell(received)} {cell(bias)} {cell(stab)} {cell(dropped)} "
            f"{cell(sent)}")


def ledger_part(ctx: Any, terms: list, record: Denominator) -> LedgerPart:
    """The account of one denominator ``record`` of a dense/conv layer with the rule's ``terms``."""
    coef = float(record.coef)
    scaled = record.scaled
    mine = [t for t in terms if t.scaled is scaled]
    bias = np.zeros(scaled.shape[0]) if record.bias is None else coef * _sums(scaled * record.bias)
    stab = coef * _sums(scaled * (stabilize(record.raw, record.eps) - record.raw))
    return LedgerPart(record.label, coef, coef * _sums(record.relevance), bias, stab,
                      _sums(apply_terms(ctx, mine)))


def layer_ledger(net: Network, trace: Trace, index: int, relevance: Array, rules: Mapping[int, Rule],
                 bias: bool = True) -> LayerLedger:
    """The account of layer ``index`` for the relevance ``relevance`` at its output.

    Parameters
    ----------
    net : Network
        The canonical (BatchNorm-merged) network the relevance was propagated through.
    trace : Trace
        Its forward pass.
    index : int
    relevance : array shaped like the layer output (N, ...)
    rules : mapping layer index -> Rule
    bias : bool
        Whether biases take part in the denominators.

    Returns
    -------
    LayerLedger
    """
    layer = net.layers[index]
    received = _sums(relevance)
    sent = sum(_sums(part) for part in relevance_to_inputs(net, trace, index, relevance, rules, bias))
    zero = np.zeros_like(received)
    name, rule = node_label(net, index), None
    parts: list[LedgerPart] = []
    stab = zero
    if layer.is_linear:
        ctx = layer_context(net, trace, index, bias)
        ctx.record = []
        terms = rules[index].terms(ctx, relevance)
        parts = [ledger_part(ctx, terms, record) for record in ctx.record]
        rule = rules[index].describe()
        stab = sum(p.stabiliser for p in parts)
        absorbed_bias = sum(p.bias for p in parts)
        dropped = received - sum(p.received for p in parts)
        return LayerLedger(index, name, layer.type_name, rule, received, sent, absorbed_bias, stab, dropped, parts)
    if layer.type_name in NORM_TYPES:
        z = trace.inputs[index + 1]
        stab = _sums(relevance / stabilize(z, DEFAULT_STABILIZER) * (stabilize(z, DEFAULT_STABILIZER) - z))
    return LayerLedger(index, name, layer.type_name, rule, received, sent, zero, stab, zero, parts)


def trace_ledger(net: Network, trace: Trace, start: Array, rules: Mapping[int, Rule], top: int | None = None,
                 bias: bool = True, label: str = "explained logit") -> Ledger:
    """Propagate ``start`` (at stage ``top``, default the output) and account for every layer.

    Parameters
    ----------
    net, trace, rules, bias
        As in :func:`lrp_studio.lrp.propagate.propagate` (``net`` canonical).
    start : array shaped like stage ``top``
    label : str
        What the start total is, for texts.

    Returns
    -------
    Ledger
    """
    top = len(net.layers) if top is None else top
    stages = propagate(net, trace, start, rules, start=top, bias=bias)
    rows = [layer_ledger(net, trace, index, stages[index + 1], rules, bias)
            for index in range(top - 1, -1, -1) if stages[index + 1] is not None]
    input_total = _sums(stages[0]) if stages[0] is not None else np.zeros(start.shape[0])
    return Ledger(rows, _sums(start), input_total, label)


def explain_ledger(net: Network, x: Any, target: Any = None, method: Any = None, *, bias: bool | None = None,
                   start: Any = None, **params: Any) -> Ledger:
    """The relevance ledger of :func:`lrp_studio.explain` for the same arguments (LRP methods only).

    Parameters
    ----------
    net : Network
    x : array (N, features) or (N, C, H, W)
    target, method, bias, start, **params
        As in :func:`lrp_studio.explain` (float32, on the canonical network).

    Returns
    -------
    Ledger

    Raises
    ------
    ParameterError
        For a baseline (it has no layers to account for) and every error of :func:`explain`.
    """
    method = default_method(net) if method is None else method
    rules = resolve_rules(net, method, params)
    begin = parse_start(start, net.n_classes)
    xb = net.prepare_input(x)
    net = canonical(net)
    with np.errstate(all="ignore"):
        trace = net.trace(xb)
        targets = start_targets(begin, resolve_targets(target, trace.output))
        relevance = start_relevance(begin, trace.output, targets)
        return trace_ledger(net, trace, relevance, rules, bias=True if bias is None else bool(bias),
                            label=begin.total_label)
