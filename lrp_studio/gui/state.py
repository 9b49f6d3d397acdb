"""The GUI's shared model: what is shown (network, dataset, sample, method, target, explanation).

Panels listen to :class:`AppState` signals and change it through its setters; they never call
each other. Explanations of the current sample run in the :class:`~lrp_studio.gui.workers.ComputeWorker`
thread; results of superseded requests are dropped by request id.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from PySide6.QtCore import QObject, Signal

from lrp_studio.data import Dataset
from lrp_studio.lrp import BASELINES, COMPOSITES, METHODS, RULES, Explanation, explain

try:  # the model-aware default (epsilon-plus for dense-first networks, epsilon-plus-flat for CNNs)
    from lrp_studio.lrp import default_method as _default_method
except ImportError:  # pragma: no cover - older compute core
    def _default_method(net: Network) -> str:
        return "epsilon-plus-flat"
from lrp_studio.nn import Network

CUSTOM = "custom"
DEFAULT_METHOD = "epsilon-plus-flat"
CUSTOM_INDEX = -1  # "sample index" of a custom input (a drawn digit) that replaces the dataset sample

#: Default parameter values, per method (composites use a tiny epsilon on dense layers).
PARAM_DEFAULTS: dict[str, float | int | bool] = {
    "epsilon": 0.25, "alpha": 2.0, "beta": 1.0, "gamma": 0.25, "low": 0.0, "high": 1.0,
    "bias": True, "steps": 32, "samples": 32, "noise": 0.1, "patch": 4,
}

#: Which parameter widgets each method shows (``bias`` is the "bias in z" checkbox).
METHOD_PARAMS: dict[str, tuple[str, ...]] = {
    "lrp0": ("bias",), "epsilon": ("epsilon", "bias"), "zplus": ("bias",), "alphabeta": ("alpha", "beta", "bias"),
    "gamma": ("gamma", "bias"), "wsquare": ("bias",), "flat": (), "zbox": ("low", "high"),
    "epsilon-plus": ("epsilon", "bias"), "epsilon-plus-flat": ("epsilon", "bias"),
    "epsilon-alpha2-beta1": ("epsilon", "bias"), "epsilon-gamma-box": ("epsilon", "gamma", "low", "high", "bias"),
    "deep-taylor": ("low", "high", "bias"),
    "gradient": (), "gradient-x-input": (), "integrated-gradients": ("steps",), "smoothgrad": ("samples", "noise"),
    "occlusion": ("patch",),
    CUSTOM: ("epsilon", "alpha", "beta", "gamma", "low", "high", "bias"),
}


def method_names() -> list[str]:
    """Every method of DESIGN.md 3.3 plus ``custom``."""
    return list(METHODS) + [CUSTOM]


def default_params(method: str, net: Network | None = None) -> dict[str, Any]:
    """Starting parameter values of ``method`` (zbox bounds from the model's input range)."""
    params = {name: PARAM_DEFAULTS[name] for name in METHOD_PARAMS.get(method, ())}
    if method in COMPOSITES and "epsilon" in params:
        params["epsilon"] = 1e-6
    if "low" in params and net is not None and net.input_range is not None:
        params["low"], params["high"] = net.input_range
    return params


def explain_kwargs(method: str, params: dict[str, Any], custom_rules: dict[int, str]) -> dict[str, Any]:
    """Arguments for :func:`lrp_studio.lrp.explain` (method, bias and rule/baseline parameters)."""
    params = {k: v for k, v in params.items() if k in METHOD_PARAMS.get(method, ())}
    bias = bool(params.pop("bias", True))
    target_method: Any = dict(custom_rules) if method == CUSTOM else method
    if method in BASELINES:
        return {"method": target_method, **params}
    return {"method": target_method, "bias": bias, **params}


@dataclass
class ExplainResult:
    """What the worker sends back for one explanation request."""

    request_id: int
    explanation: Explanation
    sample_index: int
    forward_ms: float
    lrp_ms: float
    error: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)


def compute_explanation(net: Network, x: np.ndarray, target: int | None, kwargs: dict[str, Any],
                        request_id: int, index: int) -> ExplainResult:
    """Run one explanation (in the worker thread) and time the forward pass and LRP."""
    t0 = time.perf_counter()
    net.predict(x[None])
    t1 = time.perf_counter()
    exp = explain(net, x[None], target=target, messages=True, **kwargs)
    t2 = time.perf_counter()
    return ExplainResult(request_id, exp, index, (t1 - t0) * 1e3, (t2 - t1) * 1e3)


class AppState(QObject):
    """Shared state of the window; setters emit signals, panels react."""

    modelChanged = Signal()          # a different network object (architecture may differ)
    weightsChanged = Signal()        # same network, new weights (training)
    datasetChanged = Signal()
    sampleChanged = Signal(int)
    methodChanged = Signal()         # method, parameters or custom rules
    targetChanged = Signal()
    explanationChanged = Signal()    # graph and heatmap follow at once
    explanationSettled = Signal()    # secondary views (output bars, conservation, inspector), debounced
    explanationFailed = Signal(str)
    predictionsChanged = Signal()
    customInputChanged = Signal()    # a custom input was set, changed or cleared
    statusMessage = Signal(str)
    timingsChanged = Signal(float, float)

    def __init__(self, net: Network, dataset: Dataset, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.net = net
        self.model_name = "model"
        self.dataset = dataset
        self.index = 0
        self.method = _default_method(net)
        self.params_by_method: dict[str, dict[str, Any]] = {}
        self.custom_rules: dict[int, str] = {}
        self.target: int | None = None
        self.explanation: Explanation | None = None
        self.explained_index: int | None = None
        self.predictions: np.ndarray | None = None
        self.forward_ms = 0.0
        self.lrp_ms = 0.0
        self.custom_input: np.ndarray | None = None
        self.dataset_spec: str | None = None  # what load_dataset() opens to get this dataset again (sessions)
        self._reset_custom_rules()

    # ------------------------------------------------------------------ getters
    @property
    def params(self) -> dict[str, Any]:
        """Parameters of the current method (created from defaults on first use)."""
        if self.method not in self.params_by_method:
            self.params_by_method[self.method] = default_params(self.method, self.net)
        return self.params_by_method[self.method]

    def sample(self) -> np.ndarray:
        """The current input sample (one sample, no batch axis): the custom input when one is set."""
        if self.custom_input is not None:
            return self.custom_input
        return self.dataset.x[self.index]

    def input_at(self, index: int) -> np.ndarray:
        """The input explained for ``index`` (:data:`CUSTOM_INDEX`: the custom input)."""
        if index == CUSTOM_INDEX and self.custom_input is not None:
            return self.custom_input
        return self.dataset.x[index]

    def input_fits(self) -> bool:
        """Whether the current input (custom or dataset sample) fits the network."""
        if self.custom_input is not None:
            return self.custom_input.size == int(np.prod(self.net.input_shape))
        return bool(len(self.dataset)) and self.fits()

    def predicted_class(self, logits: np.ndarray) -> np.ndarray | int:
        """Predicted class from logits (..., outputs): argmax, or ``z > 0`` for a single output (bce)."""
        logits = np.asarray(logits)
        if logits.shape[-1] == 1:
            result = (logits[..., 0] > 0).astype(np.int64)
        else:
            result = logits.argmax(axis=-1)
        return int(result) if np.ndim(result) == 0 else result

    def label(self) -> int:
        return int(self.dataset.y[self.index])

    def fits(self, net: Network | None = None, dataset: Dataset | None = None) -> bool:
        """Whether the dataset's samples fit the network's input."""
        net = net or self.net
        dataset = dataset or self.dataset
        return int(np.prod(dataset.sample_shape)) == int(np.prod(net.input_shape))

    def explain_arguments(self) -> dict[str, Any]:
        return explain_kwargs(self.method, self.params, self.custom_rules)

    # ------------------------------------------------------------------ setters
    def set_network(self, net: Network, name: str = "model") -> None:
        if self.method == _default_method(self.net):
            self.method = _default_method(net)
        self.net = net
        self.model_name = name
        self.params_by_method = {}
        self.target = None if self.target is None or self.target >= net.n_classes else self.target
        self.predictions = None
        self._reset_custom_rules()
        if self.custom_input is not None and self.custom_input.size != int(np.prod(net.input_shape)):
            self.custom_input = None
            self.customInputChanged.emit()
        self.modelChanged.emit()

    def notify_weights(self) -> None:
        self.predictions = None
        self.weightsChanged.emit()

    def set_dataset(self, dataset: Dataset, spec: str | None = None) -> None:
        self.dataset = dataset
        self.dataset_spec = spec
        self.index = 0
        if self.custom_input is not None:
            self.custom_input = None
            self.customInputChanged.emit()
        self.predictions = None
        self.datasetChanged.emit()
        self.sampleChanged.emit(0)

    def set_index(self, index: int) -> None:
        index = int(np.clip(index, 0, len(self.dataset) - 1))
        if index != self.index or self.custom_input is not None:
            self.index = index
            if self.custom_input is not None:  # picking a dataset sample leaves the custom input
                self.custom_input = None
                self.customInputChanged.emit()
            self.sampleChanged.emit(index)

    def set_custom_input(self, x: np.ndarray | None) -> None:
        """Explain ``x`` (one sample) instead of the dataset sample; ``None`` goes back to the sample."""
        if x is None:
            if self.custom_input is not None:
                self.custom_input = None
                self.customInputChanged.emit()
                self.sampleChanged.emit(self.index)
            return
        array = np.array(x, dtype=np.float32, copy=True)
        if not np.isfinite(array).all():
            from lrp_studio.errors import DataError

            raise DataError("custom input contains NaN or infinite values")
        if array.size != int(np.prod(self.net.input_shape)):
            raise ValueError(f"custom input of {array.size} values does not fit the model's input {self.net.input_shape}")
        self.custom_input = array.reshape(self.net.input_shape)
        self.customInputChanged.emit()
        self.sampleChanged.emit(CUSTOM_INDEX)

    def set_method(self, method: str) -> None:
        if method != self.method:
            self.method = method
            self.methodChanged.emit()

    def set_param(self, name: str, value: Any) -> None:
        if self.params.get(name) != value:
            self.params[name] = value
            self.methodChanged.emit()

    def set_custom_rule(self, layer_index: int, rule: str) -> None:
        if self.custom_rules.get(layer_index) != rule:
            self.custom_rules[layer_index] = rule
            if self.method == CUSTOM:
                self.methodChanged.emit()

    def set_target(self, target: int | None) -> None:
        if target is not None and not 0 <= target < self.net.n_classes:
            return
        if target != self.target:
            self.target = target
            self.targetChanged.emit()

    def set_predictions(self, predictions: np.ndarray | None) -> None:
        self.predictions = predictions
        self.predictionsChanged.emit()

    def set_explanation(self, result: ExplainResult) -> None:
        self.explanation = result.explanation
        self.explained_index = result.sample_index
        self.forward_ms, self.lrp_ms = result.forward_ms, result.lrp_ms
        self.timingsChanged.emit(result.forward_ms, result.lrp_ms)
        self.explanationChanged.emit()

    def _reset_custom_rules(self) -> None:
        """The custom composite starts as the default composite's rule for each dense/conv layer."""
        choices = COMPOSITES[_default_method(self.net)].choices(self.net)
        self.custom_rules = {index: choice.name for index, choice in choices.items()}


__all__ = ["AppState", "CUSTOM", "CUSTOM_INDEX", "DEFAULT_METHOD", "ExplainResult", "METHOD_PARAMS", "PARAM_DEFAULTS",
           "RULES", "compute_explanation", "default_params", "explain_kwargs", "method_names"]
