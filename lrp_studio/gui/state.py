"""The GUI's shared model: what is shown (network, dataset, sample, method, target, explanation).

Panels listen to :class:`AppState` signals and change it through its setters; they never call
each other. Explanations of the current sample run in the worker that
:class:`~lrp_studio.gui.controller.Controller` starts; results of superseded requests are dropped by request id.
Which parameters a method shows, their defaults and ranges come from the method's declaration
(:func:`lrp_studio.lrp.method_info`), never from a table here.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

import numpy as np
from PySide6.QtCore import QObject, Signal

from lrp_studio.data import Dataset
from lrp_studio.lrp import BASELINES, COMPOSITES, RULES, Explanation, Param, default_method, explain, method_info
from lrp_studio.lrp.methods import CUSTOM, MethodInfo, custom_info
from lrp_studio.nn import Network

CUSTOM_INDEX = -1  # "sample index" of a custom input (a drawn digit) that replaces the dataset sample
#: The name of the "bias takes part in z" switch among a method's GUI parameters.
BIAS = "bias"


def method_names() -> list[str]:
    """Every registered rule, composite and baseline, plus ``custom`` (read from the registries now,
    so a rule registered after import is listed too)."""
    return list(RULES) + list(COMPOSITES) + list(BASELINES) + [CUSTOM]


def method_params(method: str, custom_rules: dict[int, str] | None = None) -> MethodInfo:
    """The :class:`~lrp_studio.lrp.methods.MethodInfo` the GUI shows for ``method``.

    For ``custom`` with ``custom_rules`` given, the parameters of the rules chosen per layer;
    without, those of every rule (the values a user may come to need).

    Raises
    ------
    ParameterError
        For an unknown method name.
    """
    if method == CUSTOM:
        return custom_info(dict(custom_rules)) if custom_rules is not None else custom_info()
    return method_info(method)


def param_default(param: Param, net: Network | None = None) -> Any:
    """The starting value of ``param``: its declared default; z-box bounds from the model's input range."""
    if param.default is not None:
        return param.default
    if param.kind == "bound":
        low, high = net.input_range if net is not None and net.input_range is not None else (0.0, 1.0)
        return float(low if param.name == "low" else high)
    return 0.0


def default_params(method: str, net: Network | None = None) -> dict[str, Any]:
    """Starting parameter values of ``method``, from its declaration (plus ``bias`` when it uses one).

    Composites start with their own defaults (epsilon 1e-6); ``custom`` holds a value for every
    rule's parameters so that changing a layer's rule keeps what the user set.
    """
    info = method_params(method)
    values: dict[str, Any] = {p.name: param_default(p, net) for p in info.params}
    if info.uses_bias:
        values[BIAS] = True
    return values


def explain_kwargs(method: str, params: dict[str, Any], custom_rules: dict[int, str]) -> dict[str, Any]:
    """Arguments for :func:`lrp_studio.explain`: the method (a mapping for ``custom``), ``bias`` when
    the method uses it, and the parameters the method declares (others in ``params`` are left out)."""
    info = method_params(method, custom_rules)
    kwargs: dict[str, Any] = {"method": dict(custom_rules) if method == CUSTOM else method}
    if info.uses_bias:
        kwargs[BIAS] = bool(params.get(BIAS, True))
    kwargs.update({p.name: params[p.name] for p in info.params if params.get(p.name) is not None})
    return kwargs


@dataclass
class ExplainResult:
    """What the worker sends back for one explanation request (timings: ``explanation.timings``)."""

    explanation: Explanation
    sample_index: int

    @property
    def forward_ms(self) -> float:
        return float(self.explanation.timings.get("forward", 0.0))

    @property
    def lrp_ms(self) -> float:
        return float(self.explanation.timings.get("relevance", 0.0))


def compute_explanation(net: Network, x: np.ndarray, target: int | None, kwargs: dict[str, Any],
                        index: int) -> ExplainResult:
    """Explain one sample ``x`` (no batch axis) with its relevance messages (run in the worker thread)."""
    return ExplainResult(explain(net, x[None], target=target, messages=True, **kwargs), index)


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
    dirtyChanged = Signal(bool)      # the model became unsaved (trained in the app) or saved/loaded

    def __init__(self, net: Network, dataset: Dataset, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.net = net
        self.model_name = "model"
        self.dataset = dataset
        self.index = 0
        self.method = default_method(net)
        self.params_by_method: dict[str, dict[str, Any]] = {}
        self.custom_rules: dict[int, str] = {}
        self.target: int | None = None
        self.start: Any = None  # start relevance of LRP (lrp_studio.lrp.start): None = the target logit
        self.explanation: Explanation | None = None
        self.explained_index: int | None = None
        self.predictions: np.ndarray | None = None
        self.forward_ms = 0.0
        self.lrp_ms = 0.0
        self.custom_input: np.ndarray | None = None
        self.dataset_spec: str | None = None  # what load_dataset() opens to get this dataset again (sessions)
        #: The model was trained or changed in the app since it was last saved or loaded (the one
        #: "unsaved model" notion: the window asks before replacing it, and keeps a recovery copy).
        self.model_dirty = False
        #: Asked before anything replaces the model: ``confirm_replace(action) -> bool`` (False: keep
        #: it). The main window installs its Save / Discard / Cancel question here.
        self.confirm_replace: Callable[[str], bool] = lambda action: True
        self._reset_custom_rules()

    # ------------------------------------------------------------------ getters
    @property
    def params(self) -> dict[str, Any]:
        """Parameters of the current method (created from defaults on first use)."""
        stored = self.params_by_method.setdefault(self.method, {})
        for name, value in default_params(self.method, self.net).items():  # a rule registered later adds its own
            stored.setdefault(name, value)
        return stored

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

    def may_replace_model(self, action: str) -> bool:
        """Whether the current model may be replaced by ``action`` (e.g. "open model x.npz").

        Always True for a model that is saved (or was never changed); else the answer of
        :attr:`confirm_replace` (the window's Save / Discard / Cancel question).
        """
        return True if not self.model_dirty else bool(self.confirm_replace(action))
    def start_arguments(self) -> dict[str, Any]:
        """``{"start": ...}`` for :func:`lrp_studio.explain` when the output chart chose another start
        relevance and the method is an LRP method (baselines explain the logit), else ``{}``."""
        start = getattr(self, "start", None)
        if start is None or method_params(self.method, self.custom_rules).kind == "baseline":
            return {}
        return {"start": start}

    def set_start(self, start: Any) -> None:
        """The start relevance (None = the target's logit; ``"outputs"``; ``("contrast", None, B)``)."""
        if start != getattr(self, "start", None):
            self.start = start
            self.targetChanged.emit()

    # ------------------------------------------------------------------ setters
    def set_dirty(self, dirty: bool) -> None:
        """Mark the model unsaved (trained or changed in the app) or saved; emits ``dirtyChanged`` on a change."""
        if bool(dirty) != self.model_dirty:
            self.model_dirty = bool(dirty)
            self.dirtyChanged.emit(self.model_dirty)

    def set_network(self, net: Network, name: str = "model", dirty: bool = False) -> None:
        """Show ``net``; ``dirty``: it exists only in the app (e.g. restored from a recovery copy).

        Callers that replace a model the user may want to keep ask :meth:`may_replace_model` first.
        """
        if self.method == default_method(self.net):
            self.method = default_method(net)
        self.net = net
        self.model_name = name
        self.params_by_method = {}
        self.target = None if self.target is None or self.target >= net.n_classes else self.target
        self.start = None  # a contrast's classes belong to the old network
        self.predictions = None
        self._reset_custom_rules()
        if self.custom_input is not None and self.custom_input.size != int(np.prod(net.input_shape)):
            self.custom_input = None
            self.customInputChanged.emit()
        self.set_dirty(dirty)
        self.modelChanged.emit()

    def notify_weights(self, changed_in_app: bool = True) -> None:
        """The shown network's weights changed in place (training): it is now unsaved."""
        self.predictions = None
        if changed_in_app:
            self.set_dirty(True)
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
        choices = COMPOSITES[default_method(self.net)].choices(self.net)
        self.custom_rules = {index: choice.name for index, choice in choices.items()}


__all__ = ["AppState", "BIAS", "CUSTOM", "CUSTOM_INDEX", "ExplainResult", "compute_explanation", "default_params",
           "explain_kwargs", "method_names", "method_params", "param_default"]
