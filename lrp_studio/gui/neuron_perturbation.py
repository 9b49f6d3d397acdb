"""In the neuron inspector: the effect of replacing the selected unit by its layer mean.

For the selected unit of a stage, :func:`lrp_studio.lrp.perturbation.neuron_perturbation` sets the
unit (a whole feature map for a convolutional stage) to the mean of the stage's activations and
records the drop of the explained logit. The same is done for every unit of the stage, in the
window's compute worker, and the panel shows the selected unit's drop and the Pearson correlation
of the stage's drops with the stage's relevance (summed per feature map for conv stages).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QLabel, QVBoxLayout, QWidget

from lrp_studio.lrp.perturbation import correlation, neuron_perturbation

JOB_KEY = "neuron-perturbation"


@dataclass
class StageEffects:
    stage: int
    target: int
    effects: np.ndarray      # per unit (per channel for a conv stage): logit drop when set to the layer mean
    relevance: np.ndarray | None  # per unit, summed per channel for a conv stage
    correlation: float | None


def stage_effects(net: Any, x: np.ndarray, stage: int, target: int, relevance: np.ndarray | None) -> StageEffects:
    """Logit drop of every unit of ``stage`` set to the stage mean (worker thread)."""
    shape = tuple(net.shapes[stage])
    if len(shape) == 3 and stage > 0:  # a unit is a feature map: replace the whole map
        side = max(shape[1], shape[2])
        per_position = neuron_perturbation(net, x[None], stage, target=target, region=side, across_channels=False)[0]
        effects = per_position[:, 0, 0] * shape[1] * shape[2]
        rel = None if relevance is None else np.asarray(relevance, dtype=np.float64).reshape(shape).sum(axis=(1, 2))
    else:
        effects = neuron_perturbation(net, x[None], stage, target=target)[0].reshape(-1)
        rel = None if relevance is None else np.asarray(relevance, dtype=np.float64).reshape(-1)
    r = correlation(effects, rel) if rel is not None and rel.size == effects.size else None
    return StageEffects(stage, target, np.asarray(effects, dtype=np.float64), rel, r)


class NeuronPerturbationPanel(QWidget):
    """One line of text about the selected unit's perturbation effect (computed in the worker)."""

    def __init__(self, window: Any, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("neuronPerturbation")
        self.window = window
        self.state = window.state
        self.worker = window.controller
        self.result: StageEffects | None = None
        self.unit: int | None = None
        self._key: tuple[int, int, int] | None = None  # (id of explanation, stage, target)
        self._request: int | None = None
        self.label = QLabel("Perturbation: select a neuron.")
        self.label.setObjectName("neuronPerturbationLabel")
        self.label.setWordWrap(True)
        self.label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.label.setToolTip("The notes' perturbation analysis: replace a unit's activation by the mean of its "
                              "layer and record how much the explained logit drops.")
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 2, 0, 4)
        layout.addWidget(self.label)
        self.worker.finished.connect(self._job_finished)
        self.worker.failed.connect(self._job_failed)

    def is_busy(self) -> bool:
        return self._request is not None

    def show_unit(self, stage: int, unit: int) -> None:
        state = self.state
        exp = state.explanation
        if exp is None or state.explained_index is None:
            return
        self.unit = int(unit)
        target = int(exp.targets[0])
        key = (id(exp), int(stage), target)
        if key == self._key and self.result is not None:
            self._show()
            return
        self._key = key
        self.result = None
        record = next((r for r in exp.layers if r.stage == stage), None)
        relevance = None if record is None or record.relevance is None else np.array(record.relevance[0])
        net, x = state.net, np.array(state.input_at(state.explained_index), dtype=np.float32)
        self.label.setText("Perturbation: computing the effect of each unit of this layer\u2026")
        self._request = self.worker.submit(JOB_KEY, stage_effects, net, x, int(stage), target, relevance)

    def clear(self) -> None:
        self.result, self._key, self.unit = None, None, None
        self.worker.cancel(JOB_KEY)
        self._request = None
        self.label.setText("Perturbation: select a neuron.")

    def unit_effect(self) -> float | None:
        if self.result is None or self.unit is None or not 0 <= self.unit < self.result.effects.size:
            return None
        return float(self.result.effects[self.unit])

    def _job_finished(self, key: str, request_id: int, result: Any) -> None:
        if key != JOB_KEY or request_id != self._request:
            return
        self._request = None
        self.result = result
        self._show()

    def _job_failed(self, key: str, request_id: int, message: str) -> None:
        if key != JOB_KEY or request_id != self._request:
            return
        self._request = None
        self.label.setText(f"Perturbation failed: {message.strip().splitlines()[-1]}")

    def _show(self) -> None:
        result, effect = self.result, self.unit_effect()
        if result is None or effect is None:
            return
        net = self.state.net
        what = ("input value" if result.stage == 0 else
                "feature map" if len(net.shapes[result.stage]) == 3 else "unit")
        text = (f"<b>Perturbation</b>: setting this {what} to its layer's mean changes the class-"
                f"{net.classes[result.target]} logit by <b>{-effect:+.4g}</b> (drop {effect:.4g}).")
        if result.correlation is not None and np.isfinite(result.correlation):
            text += (f" Over all {result.effects.size} {what}s of the {'input' if result.stage == 0 else 'layer'}, "
                     f"Pearson r(drop, relevance) = "
                     f"<b>{result.correlation:.3f}</b>.")
        self.label.setText(text)


def install_neuron_perturbation(window: Any) -> NeuronPerturbationPanel:
    """Put the panel into the neuron inspector, under its summary (activation, relevance, share)."""
    panel = NeuronPerturbationPanel(window)
    layout = window.inspector.layout()
    summary = getattr(window.inspector, "_summary", None)
    index = layout.indexOf(summary) + 1 if summary is not None and layout.indexOf(summary) >= 0 else layout.count()
    layout.insertWidget(index, panel)
    window.graph.neuronSelected.connect(panel.show_unit)
    window.graph.neuronActivated.connect(panel.show_unit)

    def settled() -> None:
        selection = window.graph.selection()
        if selection is not None and window.docks["inspector"].isVisible():
            panel.show_unit(*selection)

    window.state.explanationSettled.connect(settled)
    select_neuron = window.select_neuron  # programmatic selection (no graph signal)

    def select_and_perturb(stage: int, unit: int) -> None:
        select_neuron(stage, unit)
        panel.show_unit(stage, unit)

    window.select_neuron = select_and_perturb
    window.state.modelChanged.connect(panel.clear)
    window.neuron_perturbation = panel
    return panel


__all__ = ["NeuronPerturbationPanel", "StageEffects", "install_neuron_perturbation", "stage_effects"]
