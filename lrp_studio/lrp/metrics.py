"""Conservation: how much relevance each stage and each node holds compared with the explained output."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np


@dataclass
class ConservationReport:
    """Per-sample sums of relevance at every stage, and for graph networks at every node.

    Attributes
    ----------
    stage_names : list of str
    sums : ndarray (stages, N)
        Sum of relevance at each stage (NaN where a stage holds none, e.g. above a start unit).
    explained : ndarray (N,)
        The explained logit per sample (or the start total, see :mod:`lrp_studio.lrp.start`).
    node_sums : ndarray (stages - 1, N) or None
        Graph networks: the relevance layer j sent down to all its inputs together. None for a
        sequential network (there it is ``sums[j]``, the stage below).
    merge_sums : dict layer index -> ndarray (inputs, N)
        Graph networks: what each merge layer (add, concat) sent to each of its inputs.
    label : str
        What ``explained`` is, for texts (default ``"explained logit"``).
    """

    stage_names: list[str]
    sums: np.ndarray
    explained: np.ndarray
    node_sums: np.ndarray | None = None
    merge_sums: dict[int, np.ndarray] = field(default_factory=dict)
    label: str = "explained logit"

    @property
    def absorbed(self) -> np.ndarray:
        """(stages - 1, N): relevance layer j absorbed, its output sum minus what it sent down.

        Absorbed through biases or stabilisers; positive means lost on the way down. For a graph
        this is per node (a stage read by several layers sums what they all sent, so the
        difference of adjacent stages would mix nodes).
        """
        below = self.sums[:-1] if self.node_sums is None else self.node_sums
        return self.sums[1:] - below

    @property
    def input_sum(self) -> np.ndarray:
        return self.sums[0]

    def ratio(self) -> np.ndarray:
        """Sum of input relevance divided by the explained logit (1 = fully conserved)."""
        with np.errstate(divide="ignore", invalid="ignore"):
            return self.sums[0] / self.explained

    def merge_shares(self, sample: int = 0) -> dict[int, list[float]]:
        """Per merge layer j, the fraction of its output relevance each input received (one sample).

        Returns
        -------
        dict layer index -> list of float
            ``sent[i] / sums[j + 1]``; NaN where the output holds no relevance (zero or NaN).
        """
        shares = {}
        for index, sent in self.merge_sums.items():
            total = float(self.sums[index + 1, sample])
            ok = np.isfinite(total) and total != 0
            shares[index] = [float(v) / total if ok else float("nan") for v in sent[:, sample]]
        return shares

    def summary(self, sample: int = 0) -> str:
        """One line for the CLI, e.g. ``sum R(input) = 7.912 vs logit 8.004 (98.9 %)``."""
        total, logit = float(self.sums[0, sample]), float(self.explained[sample])
        share = f" ({100 * total / logit:.1f} %)" if logit != 0 else ""
        return f"sum of input relevance = {total:.6g} vs {self.label} {logit:.6g}{share}"


def merge_lines(net: Any, shares: dict[int, list[float]]) -> list[str]:
    """One line per merge layer of a graph: how it divided its relevance between its inputs.

    Parameters
    ----------
    net : Network
    shares : dict layer index -> list of float
        :meth:`ConservationReport.merge_shares` (fractions per input, in ``net.node_inputs`` order).

    Returns
    -------
    list of str
        E.g. ``"add 'block2.add': 75.0 % to 'block2.bn2', 25.0 % to 'block2.shortcut_bn'"``; empty for a
        sequential network.
    """
    lines = []
    for index, values in sorted(shares.items()):
        sources = ["input" if s == 0 else node_label(net, s - 1) for s in net.node_inputs[index]]
        parts = ", ".join(f"{100 * v:.1f} % to {name!r}" for name, v in zip(sources, values))
        lines.append(f"{net.layers[index].type_name} {node_label(net, index)!r}: {parts}")
    return lines


def node_label(net: Any, index: int) -> str:
    """Layer ``index``'s name for messages: its node name, or ``"maxpool2d (layer 3)"`` for a default name.

    Default names are the layer's index (``"3"``), which reads like a number, not a layer.
    """
    name = net.names[index]
    return f"{net.layers[index].type_name} (layer {index})" if name == str(index) else name


def bias_summary(kind: str, uses_bias: bool, bias: bool | None, report: ConservationReport, sample: int = 0,
                 method: str = "this method") -> str:
    """One line on whether the bias takes part in the rules and what it absorbed (CLI and method panel).

    Parameters
    ----------
    kind : {"rule", "composite", "baseline", "custom"}
        The method's kind (:attr:`lrp_studio.lrp.MethodInfo.kind`).
    uses_bias : bool
        Whether the method's denominators have a bias term at all.
    bias : bool or None
        False: the notes' bias-free rules (``bias=False``, ``--no-bias``); None or True: biases in
        the denominators (the default, as Zennit).
    report : ConservationReport
    sample : int
    method : str
        Name used in the text.

    Returns
    -------
    str
        E.g. ``"on (in every denominator, as Zennit): biases and stabilisers absorbed 0.0535 (0.43 % of
        the explained logit); --no-bias gives the notes' bias-free rules"``. Absorbed = start total
        minus the sum of input relevance.
    """
    if kind == "baseline":
        return "not used (a baseline has no rule denominators)"
    total = float(report.explained[sample])
    absorbed = total - float(report.sums[0, sample])
    share = f" ({100 * absorbed / total:.2g} % of the {report.label})" if total else ""
    if not uses_bias:
        return f"not used by {method} (no bias in its denominators); absorbed {absorbed:.3g}{share}"
    if bias is False:
        return (f"off (the notes' bias-free rules): absorbed {absorbed:.3g}{share}, by the stabilisers only, "
                "so sum R(input) = start total to float precision")
    return (f"on (in every denominator, as Zennit): biases and stabilisers absorbed {absorbed:.4g}{share}; "
            "--no-bias gives the notes' bias-free rules")
