"""Conservation: how much relevance each stage holds compared with the explained output."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass
class ConservationReport:
    """Per-sample sums of relevance at every stage.

    Attributes
    ----------
    stage_names : list of str
    sums : ndarray (stages, N)
        Sum of relevance at each stage (NaN where a stage holds none, e.g. above a start unit).
    explained : ndarray (N,)
        The explained logit per sample (or the start total, see :mod:`lrp_studio.lrp.start`).
    label : str
        What ``explained`` is, for texts (default ``"explained logit"``).
    absorbed : ndarray (stages - 1, N)
        Relevance that layer i absorbed (its output sum minus its input sum), e.g. through biases
        or stabilisers; positive means lost on the way down.
    """

    stage_names: list[str]
    sums: np.ndarray
    explained: np.ndarray
    label: str = "explained logit"

    @property
    def absorbed(self) -> np.ndarray:
        return self.sums[1:] - self.sums[:-1]

    @property
    def input_sum(self) -> np.ndarray:
        return self.sums[0]

    def ratio(self) -> np.ndarray:
        """Sum of input relevance divided by the explained logit (1 = fully conserved)."""
        with np.errstate(divide="ignore", invalid="ignore"):
            return self.sums[0] / self.explained

    def summary(self, sample: int = 0) -> str:
        """One line for the CLI, e.g. ``sum R(input) = 7.912 vs logit 8.004 (98.9 %)``."""
        total, logit = float(self.sums[0, sample]), float(self.explained[sample])
        share = f" ({100 * total / logit:.1f} %)" if logit != 0 else ""
        return f"sum of input relevance = {total:.6g} vs {self.label} {logit:.6g}{share}"


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
