"""``explain()``: one call from a network and inputs to relevance, logits and per-stage records."""

from __future__ import annotations

import time
from typing import Any, Mapping

import numpy as np

from lrp_studio.backend import get_xp, to_numpy
from lrp_studio.errors import DataError, ParameterError
from lrp_studio.lrp.baselines import BASELINES
from lrp_studio.lrp.canonizers import canonical
from lrp_studio.lrp.composites import COMPOSITES, custom_rules, default_method
from lrp_studio.lrp.explanation import Explanation, LayerRecord
from lrp_studio.lrp.methods import CUSTOM, LRP_METHODS, METHODS, method_info
from lrp_studio.lrp.params import did_you_mean
from lrp_studio.lrp.outputs import check_targets, resolve_targets
from lrp_studio.lrp.propagate import one_hot_start, propagate
from lrp_studio.lrp.rules import RULES, Rule, make_rule
from lrp_studio.lrp.start import Start, parse_start, start_relevance, start_targets
from lrp_studio.nn.budget import CHUNK_BUDGET, FORWARD_BUDGET, chunk_size, forward_chunk  # noqa: F401 - re-exported
from lrp_studio.nn.network import Network, Trace
from lrp_studio.nn.preprocessing import normalize_values

Array = Any

__all__ = ["Explanation", "LayerRecord", "LRP_METHODS", "METHODS", "NonFiniteError", "check_finite", "chunk_size", "explain", "forward_chunk",
           "explain_neuron",
           "resolve_rules", "resolve_targets"]


def resolve_rules(net: Network, method: Any, params: Mapping[str, Any]) -> dict[int, Rule]:
    """Layer index -> rule for a rule name, composite name, or custom mapping {layer index: rule}.

    z-box bounds the user did not give default to the model's input range, else [0, 1].

    Raises
    ------
    ParameterError
        For an unknown method, a parameter the method does not take, or an out-of-range value.
    """
    if isinstance(method, str) and method in BASELINES:
        raise ParameterError(f"{method!r} is a baseline, not an LRP method: it has no per-layer rules")
    params = _with_box_defaults(net, method, params)
    if isinstance(method, Mapping):
        return custom_rules(net, method, params)
    if method in COMPOSITES:
        return COMPOSITES[method].rules(net, params)
    if method in RULES:
        rule = make_rule(method, **params)
        return {index: rule for index in net.linear_indices}
    raise ParameterError(f"unknown method {method!r}{did_you_mean(method, METHODS)}; choose one of {', '.join(METHODS)}")


def _with_box_defaults(net: Network, method: Any, params: Mapping[str, Any]) -> dict[str, Any]:
    takes = {p.name for p in method_info(method).params}
    filled = dict(params)
    if {"low", "high"} <= takes:
        low, high = net.input_range if net.input_range is not None else (0.0, 1.0)
        filled["low"] = low if filled.get("low") is None else box_bound(net, "low", filled["low"])
        filled["high"] = high if filled.get("high") is None else box_bound(net, "high", filled["high"])
        filled["low"], filled["high"] = normalized_bounds(net, filled["low"], filled["high"])
    return filled


def normalized_bounds(net: Network, low: Any, high: Any) -> tuple[Any, Any]:
    """z-box bounds in input units -> the bounds of the first dense/conv layer's input.

    When the network starts with a ``normalize`` node (:class:`~lrp_studio.nn.preprocessing.Normalize`),
    the first dense/conv layer sees ``(x - mean) / std``, so its bounds are ``(low - mean) / std`` and
    ``(high - mean) / std`` per channel (std > 0 keeps their order; Zennit's ZBox with normalised
    bounds, e.g. ``low = (0 - mean) / std``). Without one, the bounds are returned unchanged.

    Parameters
    ----------
    net : Network
    low, high : float or ndarray (``net.input_shape``)
        In input units (``input_range`` or the user's bounds).

    Returns
    -------
    (low, high) : floats, or ndarrays of ``net.input_shape`` (float64) after a normalize node
    """
    first = net.layers[0] if net.layers else None
    if getattr(first, "type_name", "") != "normalize" or net.node_inputs[0] != (0,):
        return low, high
    return (normalize_values(low, first.mean, first.std, net.input_shape),
            normalize_values(high, first.mean, first.std, net.input_shape))


def box_bound(net: Network, name: str, value: Any) -> Any:
    """A z-box bound as a float or as one whole sample (``net.input_shape``) of bounds.

    Parameters
    ----------
    net : Network
    name : str
        ``"low"`` or ``"high"`` (for messages).
    value : float or array
        A scalar; per-channel values (C,) for image inputs (C, H, W); one sample's shape
        (``net.input_shape``); or one flattened sample (prod(input_shape),). Whatever the first dense or
        conv layer is (a dense layer after flatten too), the bound then fits its input.

    Returns
    -------
    float or ndarray, ``net.input_shape``, float64

    Raises
    ------
    ParameterError
        For any other shape (naming the shapes that are accepted) or non-finite values.
    """
    try:
        array = np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError):
        raise ParameterError(f"{name} must be a number or an array of numbers, got {value!r}") from None
    if not np.isfinite(array).all():
        raise ParameterError(f"{name} must be finite, got {value!r}")
    if array.size == 1:
        return float(array.reshape(()))
    shape = tuple(int(v) for v in net.input_shape)
    if array.shape == shape:
        return array
    if len(shape) == 3 and array.shape == (shape[0],):
        return np.ascontiguousarray(np.broadcast_to(array.reshape(-1, 1, 1), shape))
    if array.ndim == 1 and array.size == int(np.prod(shape)):
        return array.reshape(shape)
    channels = f"{shape[0]} per-channel values ({shape[0]},), " if len(shape) == 3 else ""
    raise ParameterError(f"{name}: z-box bounds must be a number, {channels}or one sample's shape {shape}; "
                         f"got shape {array.shape}")


def _method_name(method: Any) -> str:
    return method if isinstance(method, str) else CUSTOM


def explain(net: Network, x: Any, target: Any = None, method: Any = None, *, bias: bool | None = None,
            messages: bool = False, keep_layers: bool = True, start: Any = None, **params: Any) -> Explanation:
    """Explain ``net``'s output for inputs ``x``.

    Parameters
    ----------
    net : Network
    x : array (N, features) or (N, C, H, W)
        A single sample without batch axis is accepted too. Values in the model's input units.
    target : None, int or (N,) ints
        The class to explain; None (default) explains the predicted class.
    method : str or mapping, optional
        A rule name (applied to every dense/conv layer), a composite name, a baseline name, or a
        custom composite ``{layer index: rule name or Rule}``. Default: :func:`default_method`
        of ``net`` (``epsilon-plus-flat`` for CNNs, ``epsilon-plus`` for dense-first networks).
    bias : bool, optional
        Whether biases take part in the rules' denominators (default True). Baselines have no
        denominators: ``bias=False`` with a baseline raises.
    messages : bool
        Also keep sample 0's per-connection relevance messages (for the network graph).
    keep_layers : bool
        Keep every stage's activation and relevance in :attr:`Explanation.layers` (default True).
        False is the lean path for batches: only the input relevance is copied to NumPy, and
        :meth:`Explanation.conservation` still works (per-stage sums are always kept).
    start : None, str, tuple, array-like or Start
        The output relevance the backward pass starts from (:mod:`lrp_studio.lrp.start`): None or
        ``"logit"`` (default: the target's logit, one-hot), ``"outputs"`` (the whole output vector,
        as the notes' MATLAB code), ``"contrast:A,B"`` / ``("contrast", A, B)`` (logit A at A minus
        logit B at B; the target is A) or a vector (C,) / (N, C) used as given. Conservation then
        compares with the start total. LRP methods only: a baseline with another start raises.
    **params
        The method's parameters, as declared in :func:`lrp_studio.lrp.method_info` (epsilon,
        alpha, beta, gamma, low, high; steps, samples, noise, seed, patch). None means default.

    Returns
    -------
    Explanation
        ``relevance`` has the shape of ``x``; LRP starts at the output as logit x one-hot(target),
        so relevance is in the units of the logit (with ``start``: from that vector instead).

    Notes
    -----
    LRP methods run on :func:`lrp_studio.lrp.canonizers.canonical` of ``net``: BatchNorm layers
    folded into their adjacent dense/conv layers (cached, so repeated calls on the same network
    do not pay the merge), computing the eval-mode function; logits and stage activations come
    from that network. Baselines run on ``net`` itself.

    Raises
    ------
    ParameterError
        For an unknown method, a parameter the method does not take (named, with the list of
        those it takes), a composite's fixed parameter, an out-of-range value, or a bad target;
        a BatchNorm that can be merged into no adjacent dense/conv layer (named).
    DataError
        For an input whose shape does not fit the network, or when the logits or the relevance come
        out NaN or infinite (float32 overflow; see :func:`check_finite`).
    """
    method = default_method(net) if method is None else method
    begin = parse_start(start, net.n_classes)
    if isinstance(method, str) and method in BASELINES:
        if begin.kind != "logit":
            raise ParameterError(f"{method!r} is a baseline: it explains one logit (start 'logit'), not "
                                 f"start {begin.describe()!r}")
        with np.errstate(all="ignore"):  # an overflow is reported once, as a DataError, by check_finite
            return check_finite(_explain_baseline(net, x, target, method, bias, keep_layers, params))
    rules = resolve_rules(net, method, params)
    use_bias = True if bias is None else bool(bias)
    original_shape = np.shape(x)
    xb = net.prepare_input(x)
    names = stage_names(net)
    net = canonical(net)
    chunk = chunk_size(net)
    with np.errstate(all="ignore"):
        if xb.shape[0] > chunk:
            result = _explain_in_chunks(net, xb, target, rules, chunk, use_bias, messages, keep_layers, names, begin)
        else:
            result = _explain_traced(net, xb, target, None, rules, use_bias, messages, keep_layers, names, begin)
    result.method = _method_name(method)
    result.relevance = result.relevance.reshape(original_shape)
    return check_finite(result)


class NonFiniteError(DataError):
    """Logits or relevance came out NaN or infinite (float32 overflow); raised by :func:`check_finite`.

    Attributes
    ----------
    rows : ndarray (K,) int
        The affected samples' positions in the batch given to :func:`explain`.
    what : str
        What went wrong, e.g. ``"method 'lrp0' gave NaN or infinite relevance"``.
    """

    def __init__(self, what: str, rows: np.ndarray, names: Any = None, outcome: str = "nothing was explained") -> None:
        self.what, self.rows = what, np.asarray(rows, dtype=np.int64)
        super().__init__(f"{what} for {positions_text(self.rows, names)} (the values overflow float32); {outcome}")

    def at(self, names: Any, outcome: str = "nothing was explained") -> "NonFiniteError":
        """The same error with each sample named by ``names[row]`` (e.g. dataset indices) instead of its position,
        and ``outcome`` saying what was (not) written."""
        return NonFiniteError(self.what, self.rows, names, outcome)


def positions_text(rows: np.ndarray, names: Any = None) -> str:
    """``sample 3`` or ``samples 3, 7, ... (12 in all)``; ``names[row]`` instead when given (``mnist index 17``)."""
    if names is None:
        shown = [str(int(i)) for i in rows[:5]]
    else:
        shown = [str(list(names)[int(i)]) for i in rows[:5]]
    text = ", ".join(shown) + (f", ... ({rows.size} in all)" if rows.size > 5 else "")
    if names is not None:
        return text
    return f"sample {text}" if rows.size == 1 else f"samples {text}"


def check_finite(exp: Explanation) -> Explanation:
    """``exp`` when its logits and relevance are finite; a :class:`NonFiniteError` naming the cause otherwise.

    Finite inputs and weights can still overflow float32 (|x| near 1e38, or huge weights), and then the
    logits or the relevance hold inf or NaN. Numbers that cannot be trusted are never returned, so never
    written: the caller gets one error that names the positions (0-based, in the batch given).

    Raises
    ------
    NonFiniteError (a DataError)
        ``the network's output is NaN or infinite for sample 0 ...`` or ``method 'lrp0' gave NaN or
        infinite relevance for samples 3, 7 ...``.
    """
    n = exp.logits.shape[0]
    logits_bad = ~np.isfinite(np.asarray(exp.logits, dtype=np.float64)).reshape(n, -1).all(axis=1)
    if logits_bad.any():
        raise NonFiniteError("the network's output is NaN or infinite", np.flatnonzero(logits_bad))
    relevance_bad = ~np.isfinite(np.asarray(exp.relevance, dtype=np.float32)).reshape(n, -1).all(axis=1)
    if relevance_bad.any():
        raise NonFiniteError(f"method {exp.method!r} gave NaN or infinite relevance", np.flatnonzero(relevance_bad))
    return exp


def _explain_traced(net: Network, xb: Array, target: Any, unit: tuple[int, int] | None, rules: Mapping[int, Rule],
                    bias: bool, messages: bool, keep_layers: bool, names: list[str],
                    begin: Start | None = None) -> Explanation:
    """Trace ``xb`` and propagate, timed: from the start relevance ``begin`` (default: the target logits),
    or from ``unit`` = (stage, flat index).

    ``net`` is the canonical (BatchNorm-merged) network; ``names`` the stage names of the original.
    ``method`` is left for the caller to fill; ``targets`` are the explained classes (the predicted
    ones for a unit).
    """
    t0 = time.perf_counter()
    trace = net.trace(xb)
    t1 = time.perf_counter()
    if unit is None:
        begin = Start() if begin is None else begin
        top, targets = len(net.layers), start_targets(begin, resolve_targets(target, trace.output))
        start = start_relevance(begin, trace.output, targets)
    else:
        top, targets = unit[0], trace.output.argmax(axis=1)
        start = one_hot_start(trace.inputs[top], get_xp().full(xb.shape[0], unit[1], dtype=np.int64))
    result = _run_lrp(net, trace, start, top, rules, bias, messages, keep_layers, names)
    result.targets = to_numpy(targets)
    if unit is None:
        result.start, result.start_label = begin.describe(), begin.total_label
        result.start_total = to_numpy(start).reshape(xb.shape[0], -1).sum(axis=1, dtype=np.float64)
    result.timings = {"forward": (t1 - t0) * 1e3, "relevance": (time.perf_counter() - t1) * 1e3}
    return result


def _run_lrp(net: Network, trace: Trace, start: Array, top: int, rules: Mapping[int, Rule], bias: bool,
             messages: bool, keep_layers: bool, names: list[str]) -> Explanation:
    """Propagate from stage ``top`` and package the result (targets and method filled by the caller).

    For a graph network also what every layer sent to each input (per-node conservation, merge shares).
    """
    kept: dict[int, Array] | None = {} if messages else None
    sums: list[Array | None] = [None] * (len(net.layers) + 1)
    sent: dict[int, list[Array]] | None = None if net.is_sequential else {}
    stages = propagate(net, trace, start, rules, start=top, bias=bias, messages=kept, keep=keep_layers, sums=sums,
                       sent=sent)
    n = start.shape[0]
    sums_np = np.stack([np.full(n, np.nan) if s is None else to_numpy(s) for s in sums])
    records = _records(trace.inputs, stages, rules, names) if keep_layers else []
    node_sums, merge_sums = _sent_arrays(net, sent, n)
    return Explanation(
        relevance=to_numpy(stages[0]), logits=to_numpy(trace.output), targets=np.zeros(n, np.int64), method="",
        layers=records, rules={i: r.describe() for i, r in rules.items()},
        messages={i: to_numpy(m) for i, m in (kept or {}).items()},
        stage_names=list(names), stage_sums=sums_np, node_sums=node_sums, merge_sums=merge_sums)


def _sent_arrays(net: Network, sent: dict[int, list[Array]] | None, n: int
                 ) -> tuple[np.ndarray | None, dict[int, np.ndarray]]:
    """(layers, N) totals each layer sent down (NaN: sent nothing) and (inputs, N) per merge layer."""
    if sent is None:
        return None, {}
    totals = np.full((len(net.layers), n), np.nan)
    merges: dict[int, np.ndarray] = {}
    for index, parts in sent.items():
        values = np.stack([to_numpy(p) for p in parts])
        totals[index] = values.sum(axis=0)
        if net.layers[index].is_merge:
            merges[index] = values
    for index, layer in enumerate(net.layers):
        if layer.is_merge and index not in merges:
            merges[index] = np.full((len(net.node_inputs[index]), n), np.nan)
    return totals, merges


def _explain_in_chunks(net: Network, xb: Array, target: Any, rules: Mapping[int, Rule], chunk: int, bias: bool,
                       messages: bool, keep_layers: bool, names: list[str],
                       begin: Start | None = None) -> Explanation:
    """Explain ``xb`` chunk by chunk with the resolved ``rules`` and join the results (messages of sample 0)."""
    n = xb.shape[0]
    if target is not None:  # checked whole, so that a message names the user's argument and positions
        target = check_targets(target, n, net.n_classes)
    parts = []
    for i in range(0, n, chunk):
        part_target = target if np.ndim(target) == 0 else np.asarray(target)[i : i + chunk]
        part_start = None if begin is None else begin.rows(i, i + chunk)
        parts.append(_explain_traced(net, xb[i : i + chunk], part_target, None, rules, bias, messages and i == 0,
                                     keep_layers, names, part_start))
    first = parts[0]
    layers = [
        LayerRecord(record.stage, record.name, np.concatenate([p.layers[k].activation for p in parts]),
                    None if record.relevance is None else np.concatenate([p.layers[k].relevance for p in parts]),
                    record.rule)
        for k, record in enumerate(first.layers)
    ]
    relevance = np.concatenate([p.relevance.reshape((-1,) + net.input_shape) for p in parts])
    timings = {key: sum(p.timings[key] for p in parts) for key in first.timings}
    node_sums = None if first.node_sums is None else np.concatenate([p.node_sums for p in parts], axis=1)
    merge_sums = {j: np.concatenate([p.merge_sums[j] for p in parts], axis=1) for j in first.merge_sums}
    result = Explanation(relevance, np.concatenate([p.logits for p in parts]),
                         np.concatenate([p.targets for p in parts]), first.method, layers, first.rules, first.messages,
                         first.stage_names, np.concatenate([p.stage_sums for p in parts], axis=1), timings,
                         node_sums, merge_sums)
    if first.start_total is not None:
        result.start, result.start_label = first.start, first.start_label
        result.start_total = np.concatenate([p.start_total for p in parts])
    return result


def explain_neuron(net: Network, x: Any, stage: int, unit: int, method: Any = None, *, bias: bool | None = None,
                   messages: bool = False, keep_layers: bool = True, **params: Any) -> Explanation:
    """Conditional explanation: relevance starts at one unit of one stage (its activation), zero elsewhere.

    Parameters
    ----------
    x : array (N, features) or (N, C, H, W)
    stage : int
        1..len(layers): the output of layer ``stage - 1`` (any node of a graph; the relevance then
        flows down every path below it, and layers on branches that do not lead to it get none).
        In a network with BatchNorm the stages are those of the merged network (see
        :func:`explain`): a layer followed by a merged BatchNorm already holds the normalized values.
    unit : int
        Flat index of the unit within one sample of that stage (for conv maps: c*H*W + i*W + j).
    method, bias, messages, keep_layers, **params
        As in :func:`explain` (LRP methods only; default: :func:`default_method` of ``net``).

    Returns
    -------
    Explanation
        ``targets`` holds the predicted classes; stages above ``stage`` have no relevance.

    Raises
    ------
    ParameterError
        For a stage or unit out of range, or any parameter error of :func:`explain`.
    """
    if not 1 <= stage <= len(net.layers):
        raise ParameterError(f"stage must be in 1..{len(net.layers)}, got {stage}")
    size = int(np.prod(net.shapes[stage]))
    if not 0 <= unit < size:
        raise ParameterError(f"unit must be in 0..{size - 1} for stage {stage}, got {unit}")
    method = default_method(net) if method is None else method
    rules = resolve_rules(net, method, params)
    original_shape = np.shape(x)
    xb = net.prepare_input(x)
    use_bias = True if bias is None else bool(bias)
    names = stage_names(net)
    with np.errstate(all="ignore"):
        result = _explain_traced(canonical(net), xb, None, (stage, unit), rules, use_bias, messages, keep_layers,
                                 names)
    result.method = _method_name(method)
    result.relevance = result.relevance.reshape(original_shape)
    return check_finite(result)


def stage_names(net: Network) -> list[str]:
    """Display names of the stages: ``"input"``, then e.g. ``"dense 300"``, ``"relu"``."""
    names = ["input"]
    for layer in net.layers:
        spec = layer.spec()
        width = spec.get("out_features", spec.get("out_channels"))
        names.append(f"{layer.type_name} {width}" if width is not None else layer.type_name)
    return names


def _records(inputs: list[Array], stages: list[Array | None], rules: Mapping[int, Rule],
             names: list[str]) -> list[LayerRecord]:
    return [
        LayerRecord(i, names[i], to_numpy(inputs[i]), None if stages[i] is None else to_numpy(stages[i]),
                    rules[i - 1].describe() if (i - 1) in rules else None)
        for i in range(len(inputs))
    ]


def _explain_baseline(net: Network, x: Any, target: Any, method: str, bias: bool | None, keep_layers: bool,
                      params: Mapping[str, Any]) -> Explanation:
    """A baseline's input relevance; with ``keep_layers`` also every stage's activation (no relevance)."""
    if bias is False:
        raise ParameterError(f"{method!r} is a baseline and has no bias term to leave out (bias=False)")
    baseline = BASELINES[method]
    checked = baseline.check(params)
    original_shape = np.shape(x)
    xb = net.prepare_input(x)
    t0 = time.perf_counter()
    trace = net.trace(xb) if keep_layers else None
    logits = trace.output if trace is not None else net.forward(xb)
    t1 = time.perf_counter()
    targets = resolve_targets(target, logits)
    relevance = baseline(net, xb, targets, checked)
    elapsed = (time.perf_counter() - t1) * 1e3
    relevance_np = to_numpy(relevance)
    n = relevance_np.shape[0]
    names = stage_names(net)
    records = []
    if trace is not None:
        records = [LayerRecord(i, names[i], to_numpy(a), relevance_np if i == 0 else None)
                   for i, a in enumerate(trace.inputs)]
    sums = np.full((len(names), n), np.nan)
    sums[0] = relevance_np.reshape(n, -1).sum(axis=1, dtype=np.float64)
    return Explanation(relevance_np.reshape(original_shape), to_numpy(logits), to_numpy(targets), method, records,
                       stage_names=names, stage_sums=sums, timings={"forward": (t1 - t0) * 1e3, "relevance": elapsed})
