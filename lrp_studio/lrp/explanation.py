"""What :func:`lrp_studio.explain` returns: input relevance, logits, and optional per-stage records."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from lrp_studio.lrp.metrics import ConservationReport


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
    """Result of :func:`lrp_studio.explain` (all NumPy).

    Attributes
    ----------
    relevance : ndarray, same shape as the given ``x``
        Input relevance (for LRP, in the units of the explained logit).
    logits : ndarray (N, classes)
    targets : ndarray (N,) int
        The explained class (or, for a conditional explanation, the predicted class).
    method : str
        The method name, or ``"custom"`` for a per-layer mapping.
    layers : list of LayerRecord
        One per stage (input, then each layer's output) with ``keep_layers=True``; empty otherwise.
    rules : dict layer index -> str
        The rule each dense/conv layer ran, with its parameters (LRP methods).
    messages : dict layer index -> ndarray
        With ``messages=True``: sample 0's relevance messages of each dense layer (in, out) and
        conv layer (in_channels, out_channels); summing over the last axis gives the input relevance.
    stage_names : list of str
        Names of the stages, input first.
    stage_sums : ndarray (stages, N) float64
        Sum of relevance at every stage (NaN where a stage holds none); kept even without layers.
    timings : dict str -> float
        ``"forward"`` and ``"relevance"``: wall-clock milliseconds of the forward pass and of the
        relevance computation.
    node_sums : ndarray (layers, N) float64 or None
        Graph networks (LRP methods): the total relevance each layer sent down to its inputs (NaN
        where it sent none, e.g. above a start unit). None for sequential networks, where it is the
        sum of the stage below (``stage_sums[j]``).
    merge_sums : dict layer index -> ndarray (inputs, N) float64
        For every merge layer (add, concat) of a graph: the relevance it sent to each of its inputs
        (in ``net.node_inputs`` order); rows of NaN where the merge received none.
    start, start_label : str
        The start relevance (``"logit"``, ``"outputs"``, ``"contrast A-B"``, ``"vector"``; see
        :mod:`lrp_studio.lrp.start`) and what conservation compares with.
    start_total : ndarray (N,) float64 or None
        Sum of the start relevance per sample (LRP methods); None: the explained logit.
    """

    relevance: np.ndarray
    logits: np.ndarray
    targets: np.ndarray
    method: str
    layers: list[LayerRecord] = field(default_factory=list)
    rules: dict[int, str] = field(default_factory=dict)
    messages: dict[int, np.ndarray] = field(default_factory=dict)
    stage_names: list[str] = field(default_factory=list)
    stage_sums: np.ndarray | None = None
    timings: dict[str, float] = field(default_factory=dict)
    node_sums: np.ndarray | None = None
    merge_sums: dict[int, np.ndarray] = field(default_factory=dict)
    start: str = "logit"
    start_label: str = "explained logit"
    start_total: np.ndarray | None = None

    @property
    def explained(self) -> np.ndarray:
        """The explained output value per sample (N,), the logit of the target."""
        return self.logits[np.arange(len(self.targets)), self.targets]

    @property
    def merge_shares(self) -> dict[int, list[float]]:
        """How each merge layer divided sample 0's relevance: per input, the fraction it received.

        ``merge_shares[j][i]`` = relevance merge layer j sent to its input i / relevance at its
        output (sample 0). For an add the shares are each addend's part of the sum (they add up to
        1 up to the stabilizer); NaN where the merge's output holds no relevance (0 or none).
        """
        return self.conservation().merge_shares(0)

    def conservation(self) -> ConservationReport:
        """Sum of relevance per stage (and, for graphs, per node and merge input) vs the start total: the
        explained logit unless another start was chosen (works with and without layers)."""
        total = self.explained if self.start_total is None else self.start_total
        return ConservationReport(list(self.stage_names), np.asarray(self.stage_sums, dtype=np.float64),
                                  np.asarray(total, dtype=np.float64), self.node_sums, dict(self.merge_sums),
                                  label=self.start_label)
