"""``explain()``: one call from a network and inputs to relevance, logits and per-layer records."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Mapping

import numpy as np

from lrp_studio.backend import get_xp, to_numpy
from lrp_studio.errors import ParameterError
from lrp_studio.lrp.baselines import BASELINES
from lrp_studio.lrp.composites import COMPOSITES, custom_rules
from lrp_studio.lrp.propagate import one_hot_start, propagate
from lrp_studio.lrp.rules import RULES, Rule, make_rule
from lrp_studio.nn.network import Network

Array = Any

LRP_METHODS = list(RULES) + list(COMPOSITES)
METHODS = LRP_METHODS + list(BASELINES)


@dataclass
class LayerRecord:
    """Activation and relevance at one stage of the network, as NumPy arrays.

    Stage 0 is the input; stage i + 1 is the output of layer i.

    Attributes
    ----------
    stage : int
    name : str
        E.g. ``"input"``, ``"dense 300"``, ``"relu"``, ``"conv2d 16"``.
    activation : ndarray (N, ...)
    relevance : ndarray (N, ...) or None
        None for baselines (they give input relevance only) and above a start neuron.
    rule : str or None
        The rule of the layer that produced this stage (dense/conv layers).
    """

    stage: int
    name: str
    activation: np.ndarray
    relevance: np.ndarray | None
    rule: str | None = None


@dataclass
class Explanation:
    """Result of :func:`explain` (all NumPy).

    Attributes
    ----------
    relevance : ndarray, same shape as the given ``x``
    logits : ndarray (N, classes)
    targets : ndarray (N,)
    method : str
    layers : list of LayerRecord, one per stage (input, then each layer's output)
    rules : dict layer index -> rule description (LRP methods)
    messages : dict layer index -> ndarray
        With ``messages=True``: sample 0's relevance messages of each dense layer (in, out) and
        conv layer (in_channels, out_channels); summing over the last axis gives the input relevance.
    """

    relevance: np.ndarray
    logits: np.ndarray
    targets: np.ndarray
    method: str
    layers: list[LayerRecord] = field(default_factory=list)
    rules: dict[int, str] = field(default_factory=dict)
    messages: dict[int, np.ndarray] = field(default_factory=dict)

    @property
    def explained(self) -> np.ndarray:
        """The explained output value per sample (N,), the logit of the target."""
        return self.logits[np.arange(len(self.targets)), self.targets]

    def conservation(self) -> "ConservationReport":
        """Sum of relevance per stage vs the explained logit."""
        from lrp_studio.lrp.metrics import conservation_report

        return conservation_report(self)


def resolve_targets(target: Any, logits: Array) -> Array:
    """Per-sample target indices (N,) from None (prediction), an int or a sequence of ints."""
    xp = get_xp()
    n, n_classes = logits.shape
    if target is None:
        return logits.argmax(axis=1)
    values = np.broadcast_to(np.asarray(target), (n,)) if np.ndim(target) == 0 else np.asarray(target)
    if values.shape != (n,) or not np.issubdtype(values.dtype, np.integer):
        raise ParameterError(f"target must be an int or {n} ints, got {target!r}")
    if values.min() < 0 or values.max() >= n_classes:
        raise ParameterError(f"target must be a class index in 0..{n_classes - 1}, got {target!r}")
    return xp.asarray(values.astype(np.int64))


def resolve_rules(net: Network, method: Any, params: Mapping[str, Any]) -> dict[int, Rule]:
    """Layer index -> rule for a rule name, composite name, or custom mapping {layer index: rule}."""
    params = dict(params)
    if _uses_zbox(method):
        _fill_box(net, params)
    if isinstance(method, Mapping):
        return custom_rules(net, method, params)
    if method in COMPOSITES:
        return COMPOSITES[method].rules(net, params)
    if method in RULES:
        rule = make_rule(method, **params)
        return {index: rule for index in net.linear_indices}
    raise ParameterError(f"unknown method {method!r}; choose one of {', '.join(METHODS)}")


def _uses_zbox(method: Any) -> bool:
    if isinstance(method, Mapping):
        return any(getattr(v, "name", v) == "zbox" for v in method.values())
    return method == "zbox" or (method in COMPOSITES and "box" in method) or method == "deep-taylor"


def _fill_box(net: Network, params: dict[str, Any]) -> None:
    """zbox bounds default to the model's input range, else [0, 1]."""
    low, high = net.input_range if net.input_range is not None else (0.0, 1.0)
    if params.get("low") is None:
        params["low"] = low
    if params.get("high") is None:
        params["high"] = high


def explain(net: Network, x: Any, target: Any = None, method: Any = "epsilon-plus-flat", *,
            bias: bool = True, messages: bool = False, **params: Any) -> Explanation:
    """Explain ``net``'s output for inputs ``x``.

    Parameters
    ----------
    net : Network
    x : array (N, features) or (N, C, H, W) (a single sample without batch axis is accepted)
    target : None (predicted class), int, or (N,) ints
    method : str or mapping
        A rule name (applied to every dense/conv layer), a composite name, a baseline name,
        or a custom composite ``{layer index: rule name or Rule}``.
    bias : bool
        Whether biases take part in the rules' denominators.
    messages : bool
        Also keep sample 0's per-connection relevance messages (for the network graph).
    **params
        Rule parameters (epsilon, alpha, beta, gamma, low, high) or baseline parameters
        (steps, samples, noise, seed, patch).

    Returns
    -------
    Explanation
        ``relevance`` has the shape of ``x``; relevance starts at the output as
        logit x one-hot(target).
    """
    original_shape = np.shape(x)
    xb = net.prepare_input(x)
    if isinstance(method, str) and method in BASELINES:
        return _explain_baseline(net, xb, target, method, params, original_shape)
    rules = resolve_rules(net, method, params)
    chunk = chunk_size(net)
    if xb.shape[0] > chunk:
        return _explain_in_chunks(net, xb, target, method, chunk, original_shape, bias, messages, params)
    trace = net.trace(xb)
    targets = resolve_targets(target, trace.output)
    start = one_hot_start(trace.output, targets)
    kept: dict[int, Array] | None = {} if messages else None
    stages = propagate(net, trace, start, rules, bias=bias, messages=kept)
    name = method if isinstance(method, str) else "custom"
    result = _package(net, trace.inputs, stages, trace.output, targets, name, rules, original_shape)
    result.messages = {i: to_numpy(m) for i, m in (kept or {}).items()}
    return result


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


def _explain_in_chunks(net: Network, xb: Array, target: Any, method: Any, chunk: int,
                       original_shape: tuple[int, ...], bias: bool, messages: bool,
                       params: Mapping[str, Any]) -> Explanation:
    """Explain ``xb`` chunk by chunk and join the results (messages from sample 0 only)."""
    n = xb.shape[0]
    if np.ndim(target) == 1 and len(target) != n:
        raise ParameterError(f"target must be an int or {n} ints, got {len(target)} values")
    parts = [
        explain(net, xb[i : i + chunk], target if np.ndim(target) == 0 else np.asarray(target)[i : i + chunk],
                method, bias=bias, messages=messages and i == 0, **params)
        for i in range(0, n, chunk)
    ]
    first = parts[0]
    layers = [
        LayerRecord(record.stage, record.name, np.concatenate([p.layers[k].activation for p in parts]),
                    None if record.relevance is None else np.concatenate([p.layers[k].relevance for p in parts]),
                    record.rule)
        for k, record in enumerate(first.layers)
    ]
    relevance = np.concatenate([p.relevance.reshape((-1,) + net.input_shape) for p in parts]).reshape(original_shape)
    return Explanation(relevance, np.concatenate([p.logits for p in parts]), np.concatenate([p.targets for p in parts]),
                       first.method, layers, first.rules, first.messages)


def explain_neuron(net: Network, x: Any, stage: int, unit: int, method: Any = "epsilon-plus-flat", *,
                   bias: bool = True, messages: bool = False, **params: Any) -> Explanation:
    """Conditional explanation: relevance starts at one unit of one stage (its activation), zero elsewhere.

    Parameters
    ----------
    stage : int
        1..len(layers): the output of layer ``stage - 1``.
    unit : int
        Flat index of the unit within one sample of that stage (for conv maps: c*H*W + i*W + j).
    """
    if not 1 <= stage <= len(net.layers):
        raise ParameterError(f"stage must be in 1..{len(net.layers)}, got {stage}")
    size = int(np.prod(net.shapes[stage]))
    if not 0 <= unit < size:
        raise ParameterError(f"unit must be in 0..{size - 1} for stage {stage}, got {unit}")
    original_shape = np.shape(x)
    xb = net.prepare_input(x)
    rules = resolve_rules(net, method, params)
    trace = net.trace(xb)
    units = get_xp().full(xb.shape[0], unit, dtype=np.int64)
    start = one_hot_start(trace.inputs[stage], units)
    kept: dict[int, Array] | None = {} if messages else None
    stages = propagate(net, trace, start, rules, start=stage, bias=bias, messages=kept)
    targets = trace.output.argmax(axis=1)
    name = method if isinstance(method, str) else "custom"
    result = _package(net, trace.inputs, stages, trace.output, targets, name, rules, original_shape)
    result.messages = {i: to_numpy(m) for i, m in (kept or {}).items()}
    return result


def _stage_names(net: Network) -> list[str]:
    names = ["input"]
    for layer in net.layers:
        spec = layer.spec()
        width = spec.get("out_features", spec.get("out_channels"))
        names.append(f"{layer.type_name} {width}" if width is not None else layer.type_name)
    return names


def _package(net: Network, inputs: list[Array], stages: list[Array | None], logits: Array, targets: Array,
             method: str, rules: Mapping[int, Rule], original_shape: tuple[int, ...]) -> Explanation:
    names = _stage_names(net)
    records = [
        LayerRecord(i, names[i], to_numpy(inputs[i]), None if stages[i] is None else to_numpy(stages[i]),
                    rules[i - 1].describe() if (i - 1) in rules else None)
        for i in range(len(inputs))
    ]
    relevance = records[0].relevance.reshape(original_shape)
    return Explanation(relevance, to_numpy(logits), to_numpy(targets), method, records,
                       {i: r.describe() for i, r in rules.items()})


def _explain_baseline(net: Network, xb: Array, target: Any, method: str, params: Mapping[str, Any],
                      original_shape: tuple[int, ...]) -> Explanation:
    logits = net.forward(xb)
    targets = resolve_targets(target, logits)
    allowed = {"integrated-gradients": ("steps",), "smoothgrad": ("samples", "noise", "seed"), "occlusion": ("patch",)}
    kwargs = {k: v for k, v in params.items() if k in allowed.get(method, ()) and v is not None}
    if method == "smoothgrad":
        kwargs["input_range"] = net.input_range
    relevance = BASELINES[method](net, xb, targets, **kwargs)
    records = [LayerRecord(0, "input", to_numpy(xb), to_numpy(relevance))]
    return Explanation(to_numpy(relevance).reshape(original_shape), to_numpy(logits), to_numpy(targets), method, records)
