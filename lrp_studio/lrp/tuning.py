"""Faithfulness-guided rule tuning: sweep a method's parameters per layer group, score each setting by AOPC.

A composite's parameters act on layer groups (epsilon-gamma-box: gamma on the conv layers, epsilon on
the dense layers; :func:`parameter_groups`). :func:`iter_tune` explains the same samples with every
point of a grid (the method's defaults are always one of them) and scores it with the region
perturbation protocol of :mod:`lrp_studio.lrp.faithfulness` (AOPC, most relevant first; Samek et al.
2017), and with two sanity figures of :mod:`lrp_studio.lrp.sanity`: the Gini index of the maps and the
SSIM of a random other class's map (random logit, Sixt et al. 2020). The best setting is the one with
the highest AOPC; by construction it is at least as faithful, on these samples and this protocol, as
the default. AOPC is one criterion among several (see the README's sanity-check table), not the truth.
"""

from __future__ import annotations

import csv
import itertools
import json
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator, Mapping, Sequence

import numpy as np

from lrp_studio.errors import ParameterError
from lrp_studio.io import atomic_write
from lrp_studio.lrp.explain import resolve_rules
from lrp_studio.lrp.faithfulness import (
    EvaluationSettings, aopc_per_sample, explain_in_batches, paired_difference, perturbation_curve,
)
from lrp_studio.lrp.methods import method_info
from lrp_studio.lrp.metrics import node_label
from lrp_studio.lrp.sanity import gini, random_other_classes, ssim
from lrp_studio.nn.network import Network

#: Grid values per parameter name (the method's default is added when missing).
DEFAULT_GRIDS: dict[str, tuple[float, ...]] = {
    "gamma": (0.0, 0.1, 0.25, 0.5, 1.0),
    "epsilon": (1e-6, 1e-3, 1e-2, 0.1, 1.0),
    "alpha": (1.0, 1.5, 2.0, 3.0),
}


def parameter_groups(net: Network, method: str) -> dict[str, list[str]]:
    """Per tunable parameter of ``method``, the layers whose rule takes it (names), e.g. gamma -> conv layers.

    Raises
    ------
    ParameterError
        For a method without tunable parameters (a baseline, or a composite that fixes them all).
    """
    rules = resolve_rules(net, method, {})
    groups = {}
    for param in method_info(method).params:
        if param.name not in DEFAULT_GRIDS:
            continue
        layers = [node_label(net, i) for i, rule in sorted(rules.items()) if param.name in rule.values()]
        if layers:
            groups[param.name] = layers
    if not groups:
        raise ParameterError(f"method {method!r} has no parameter to tune (tunable: {', '.join(DEFAULT_GRIDS)})")
    return groups


def default_values(method: str, names: Sequence[str]) -> dict[str, float]:
    """The method's default value of each parameter in ``names``."""
    defaults = {p.name: p.default for p in method_info(method).params}
    return {name: float(defaults[name]) for name in names}


def make_grid(method: str, names: Sequence[str], given: Mapping[str, Sequence[float]] | None = None
              ) -> dict[str, list[float]]:
    """Values per parameter: ``given`` or :data:`DEFAULT_GRIDS`, the default inserted in order when missing."""
    defaults = default_values(method, names)
    grid = {}
    for name in names:
        values = [float(v) for v in (given or {}).get(name, DEFAULT_GRIDS[name])]
        if not any(np.isclose(v, defaults[name], rtol=1e-12, atol=0) for v in values):
            values.append(defaults[name])
        grid[name] = sorted(set(values))
    return grid


def grid_points(grid: Mapping[str, Sequence[float]]) -> list[dict[str, float]]:
    """Every combination of the grid's values, first parameter slowest."""
    names = list(grid)
    return [dict(zip(names, values)) for values in itertools.product(*(grid[n] for n in names))]


@dataclass
class TuneRow:
    """One grid point's scores.

    Attributes
    ----------
    params : dict name -> float
    aopc, aopc_sem : float
        Mean AOPC over the samples and its standard error (logit units for ``output="logit"``).
    gini : float
        Mean Gini index of the maps (sparseness).
    logit_ssim : float
        Mean SSIM of a random other class's map to the explained class's (lower: more class-specific).
    default : bool
        Whether this is the method's default setting.
    seconds : float
    per_sample : ndarray (N,) or None
        Each sample's AOPC (for paired comparisons, :func:`lrp_studio.lrp.faithfulness.paired_difference`).
    """

    params: dict[str, float]
    aopc: float
    aopc_sem: float
    gini: float
    logit_ssim: float
    default: bool = False
    seconds: float = 0.0
    per_sample: np.ndarray | None = field(default=None, repr=False)

    def as_dict(self) -> dict[str, Any]:
        return {**self.params, "aopc": self.aopc, "aopc_sem": self.aopc_sem, "gini": self.gini,
                "random_logit_ssim": self.logit_ssim, "default": self.default, "seconds": self.seconds}


@dataclass
class TuneResult:
    """A finished sweep: the rows in grid order, the parameter groups, and the best and default rows."""

    method: str
    groups: dict[str, list[str]]
    rows: list[TuneRow] = field(default_factory=list)

    @property
    def best(self) -> TuneRow:
        """The row with the highest AOPC (the default on a tie)."""
        return max(self.rows, key=lambda r: (r.aopc, r.default))

    @property
    def default(self) -> TuneRow:
        return next(r for r in self.rows if r.default)

    def best_vs_default(self) -> str:
        """One line: the best setting, its AOPC and the paired difference to the default's."""
        best, default = self.best, self.default
        values = ", ".join(f"{k}={v:g}" for k, v in best.params.items())
        text = f"best: {values}: AOPC {best.aopc:.4f} vs default {default.aopc:.4f}"
        if best.per_sample is not None and default.per_sample is not None and best.per_sample.size > 1:
            mean, sem, wins = paired_difference(best.per_sample, default.per_sample)
            text += f" (paired difference {mean:+.4f} ± {sem:.4f}, better on {100 * wins:.0f} % of the samples)"
        return text

    def table(self) -> list[str]:
        """Text rows: the parameters, AOPC ± sem, Gini, random-logit SSIM, markers for default and best."""
        names = list(self.groups)
        best = self.best
        lines = ["".join(f"{n:>10}" for n in names) + f" {'AOPC':>9} {'± sem':>7} {'Gini':>7} {'logit SSIM':>10}"]
        for row in self.rows:
            mark = ("  default" if row.default else "") + ("  best" if row is best else "")
            lines.append("".join(f"{row.params[n]:>10.4g}" for n in names)
                         + f" {row.aopc:>9.4f} {row.aopc_sem:>7.3f} {row.gini:>7.3f} {row.logit_ssim:>10.3f}{mark}")
        return lines

    def save(self, path: str | Path) -> None:
        """Write the table as CSV (``.csv``) or JSON (anything else), atomically."""
        path = Path(path)
        if path.suffix.lower() == ".csv":
            def write(temp: str) -> None:
                with open(temp, "w", newline="", encoding="utf-8") as handle:
                    rows = [r.as_dict() for r in self.rows]
                    writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
                    writer.writeheader()
                    writer.writerows(rows)
        else:
            report = {"method": self.method, "groups": self.groups, "rows": [r.as_dict() for r in self.rows],
                      "best": self.best.params, "default": self.default.params}

            def write(temp: str) -> None:
                with open(temp, "w", encoding="utf-8") as handle:
                    json.dump(report, handle, indent=1)
        atomic_write(path, write)


def iter_tune(net: Network, x: Any, targets: np.ndarray, method: str, grid: Mapping[str, Sequence[float]],
              settings: EvaluationSettings | None = None, seed: int = 0) -> Iterator[TuneRow]:
    """Score every grid point in turn (a generator: the GUI's worker can stop between points).

    Parameters
    ----------
    net : Network
    x : array (N, ...)
    targets : ndarray (N,) int
        The explained classes (usually the predicted ones).
    method : str
        A composite or rule name with parameters in ``grid``.
    grid : mapping parameter name -> values
        From :func:`make_grid` (which puts the default in).
    settings : EvaluationSettings, optional
        The perturbation protocol (default: evaluate's, uniform noise, 2x2 regions, 50 steps).
    seed : int
        Seeds the random other classes.
    """
    settings = settings or EvaluationSettings()
    settings.check()
    xb = np.asarray(net.prepare_input(x))
    targets = np.asarray(targets, dtype=np.int64)
    defaults = default_values(method, list(grid))
    others = random_other_classes(targets, net.n_classes, seed)
    for params in grid_points(grid):
        started = time.perf_counter()
        relevance = explain_in_batches(net, xb, targets, method, settings.batch_size, **params)
        curves = perturbation_curve(net, xb, relevance, targets, order="morf", **settings.protocol())
        per_sample = aopc_per_sample(curves)
        other = explain_in_batches(net, xb, others, method, settings.batch_size, **params)
        sem = float(per_sample.std(ddof=1) / np.sqrt(per_sample.size)) if per_sample.size > 1 else 0.0
        is_default = all(np.isclose(params[n], defaults[n], rtol=1e-12, atol=0) for n in params)
        yield TuneRow(dict(params), float(per_sample.mean()), sem, float(np.nanmean(gini(relevance))),
                      float(np.nanmean(ssim(relevance, other))), is_default, time.perf_counter() - started,
                      per_sample)


def tune(net: Network, x: Any, targets: np.ndarray, method: str, grid: Mapping[str, Sequence[float]] | None = None,
         settings: EvaluationSettings | None = None, seed: int = 0) -> TuneResult:
    """The whole sweep of :func:`iter_tune` (``grid`` None: :data:`DEFAULT_GRIDS` of every tunable parameter)."""
    groups = parameter_groups(net, method)
    full = make_grid(method, list(groups), grid)
    return TuneResult(method, groups, list(iter_tune(net, x, targets, method, full, settings, seed)))
