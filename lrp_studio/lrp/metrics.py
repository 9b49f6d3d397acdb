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
