"""``explain()``: one call from a network and inputs to relevance, logits and per-stage records."""

from __future__ import annotations

import time
from typing import Any, Mapping

import numpy as np

from lrp_studio.backend import get_xp, to_numpy
from lrp_studio.errors import ParameterError
from lrp_studio.lrp.baselines import BASELINES
from lrp_studio.lrp.composites import COMPOSITES, custom_rules, default_method
from lrp_studio.lrp.explanation import Explanation, LayerRecord
from lrp_studio.lrp.methods import CUSTOM, LRP_METHODS, METHODS, method_info
from lrp_studio.lrp.outputs import resolve_targets
from lrp_studio.lrp.propagate import one_hot_start, propagate
from lrp_studio.lrp.rules import RULES, Rule, make_rule
from lrp_studio.lrp.start import Start, parse_start, start_relevance, start_targets
from lrp_studio.nn.network import Network, Trace

Array = Any

__all__ = ["Explanation", "LayerRecord", "LRP_METHODS", "METHODS", "chunk_size", "explain", "explain_neuron",
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
    raise ParameterError(f"unknown method {method!r}; choose one of {', '.join(METHODS)}")


def _with_box_defaults(net: Network, method: Any, params: Mapping[str, Any]) -> dict[str, Any]:
    takes = {p.name for p in method_info(method).params}
    filled = dict(params)
    if {"low", "high"} <= takes:
        low, high = net.input_range if net.input_range is not None else (0.0, 1.0)
        filled["low"] = low if filled.get("low") is None else filled["low"]
        filled["high"] = high if filled.get("high") is None else filled["high"]
    return filled


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

    Raises
    ------
    ParameterError
        For an unknown method, a parameter the method does not take (named, with the list of
        those it takes), a composite's fixed parameter, an out-of-range value, or a bad target.
    DataError
        For an input whose shape does not fit the network.
    """
    method = default_method(net) if method is None else method
    begin = parse_start(start, net.n_classes)
    if isinstance(method, str) and method in BASELINES:
        if begin.kind != "logit":
            raise ParameterError(f"{method!r} is a baseline: it explains one logit (start 'logit'), not "
                                 f"start {begin.describe()!r}")
        return _explain_baseline(net, x, target, method, bias, keep_layers, params)
    rules = resolve_rules(net, method, params)
    use_bias = True if bias is None else bool(bias)
    original_shape = np.shape(x)
    xb = net.prepare_input(x)
    chunk = chunk_size(net)
    if xb.shape[0] > chunk:
        result = _explain_in_chunks(net, xb, target, rules, chunk, use_bias, messages, keep_layers, begin)
    else:
        result = _explain_traced(net, xb, target, None, rules, use_bias, messages, keep_layers, begin)
    result.method = _method_name(method)
    result.relevance = result.relevance.reshape(original_shape)
    return result


def _explain_traced(net: Network, xb: Array, target: Any, unit: tuple[int, int] | None, rules: Mapping[int, Rule],
                    bias: bool, messages: bool, keep_layers: bool, begin: Start | None = None) -> Explanation:
    """Trace ``xb`` and propagate, timed: from the start relevance ``begin`` (default: the target logits),
    or from ``unit`` = (stage, flat index).

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
    result = _run_lrp(net, trace, start, top, rules, bias, messages, keep_layers)
    result.targets = to_numpy(targets)
    if unit is None:
        result.start, result.start_label = begin.describe(), begin.total_label
        result.start_total = to_numpy(start).reshape(xb.shape[0], -1).sum(axis=1, dtype=np.float64)
    result.timings = {"forward": (t1 - t0) * 1e3, "relevance": (time.perf_counter() - t1) * 1e3}
    return result


def _run_lrp(net: Network, trace: Trace, start: Array, top: int, rules: Mapping[int, Rule], bias: bool,
             messages: bool, keep_layers: bool) -> Explanation:
    """Propagate from stage ``top`` and package the result (targets and method filled by the caller)."""
    kept: dict[int, Array] | None = {} if messages else None
    sums: list[Array | None] = [None] * (len(net.layers) + 1)
    stages = propagate(net, trace, start, rules, start=top, bias=bias, messages=kept, keep=keep_layers, sums=sums)
    n = start.shape[0]
    sums_np = np.stack([np.full(n, np.nan) if s is None else to_numpy(s) for s in sums])
    records = _records(net, trace.inputs, stages, rules) if keep_layers else []
    return Explanation(
        relevance=to_numpy(stages[0]), logits=to_numpy(trace.output), targets=np.zeros(n, np.int64), method="",
        layers=records, rules={i: r.describe() for i, r in rules.items()},
        messages={i: to_numpy(m) for i, m in (kept or {}).items()},
        stage_names=stage_names(net), stage_sums=sums_np)


CHUNK_BUDGET = 4_000_000  # float32 values of activations and im2col columns kept per chunk (~16 MB)


def chunk_size(net: Network) -> int:
    """Samples per chunk so that one chunk's traced activations and conv columns fit the budget.

    Large batches are explained chunk by chunk: the working set then stays in cache and the
    peak memory stays bounded (CNN at batch 1024: about 4x less memory and faster).
    """
    per_sample = sum(int(np.prod(shape)) for shape in net.shapes)
    for index in net.linear_indices:
        layer = net.layers[index]
        if layer.type_name == "conv2d":
            per_sample += layer.fan_in * int(np.prod(net.shapes[index + 1][1:]))
    return max(1, CHUNK_BUDGET // per_sample)


def _explain_in_chunks(net: Network, xb: Array, target: Any, rules: Mapping[int, Rule], chunk: int, bias: bool,
                       messages: bool, keep_layers: bool, begin: Start | None = None) -> Explanation:
    """Explain ``xb`` chunk by chunk with the resolved ``rules`` and join the results (messages of sample 0)."""
    n = xb.shape[0]
    if np.ndim(target) == 1 and len(target) != n:
        raise ParameterError(f"target must be an int or {n} ints, got {len(target)} values")
    parts = []
    for i in range(0, n, chunk):
        part_target = target if np.ndim(target) == 0 else np.asarray(target)[i : i + chunk]
        part_start = None if begin is None else begin.rows(i, i + chunk)
        parts.append(_explain_traced(net, xb[i : i + chunk], part_target, None, rules, bias, messages and i == 0,
                                     keep_layers, part_start))
    first = parts[0]
    layers = [
        LayerRecord(record.stage, record.name, np.concatenate([p.layers[k].activation for p in parts]),
                    None if record.relevance is None else np.concatenate([p.layers[k].relevance for p in parts]),
                    record.rule)
        for k, record in enumerate(first.layers)
    ]
    relevance = np.concatenate([p.relevance.reshape((-1,) + net.input_shape) for p in parts])
    timings = {key: sum(p.timings[key] for p in parts) for key in first.timings}
    result = Explanation(relevance, np.concatenate([p.logits for p in parts]),
                         np.concatenate([p.targets for p in parts]), first.method, layers, first.rules, first.messages,
                         first.stage_names, np.concatenate([p.stage_sums for p in parts], axis=1), timings)
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
        1..len(layers): the output of layer ``stage - 1``.
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
    result = _explain_traced(net, xb, None, (stage, unit), rules, use_bias, messages, keep_layers)
    result.method = _method_name(method)
    result.relevance = result.relevance.reshape(original_shape)
    return result


def stage_names(net: Network) -> list[str]:
    """Display names of the stages: ``"input"``, then e.g. ``"dense 300"``, ``"relu"``."""
    names = ["input"]
    for layer in net.layers:
        spec = layer.spec()
        width = spec.get("out_features", spec.get("out_channels"))
        names.append(f"{layer.type_name} {width}" if width is not None else layer.type_name)
    return names


def _records(net: Network, inputs: list[Array], stages: list[Array | None], rules: Mapping[int, Rule]) -> list[LayerRecord]:
    names = stage_names(net)
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
