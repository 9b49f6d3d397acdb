"""``lrp-studio evaluate --metric localisation``: relevance mass and rank accuracy against ground-truth masks.

Kept apart from :mod:`lrp_studio.cli.evaluate` (which calls :func:`localisation_section`; the ``--metric``
names are :data:`lrp_studio.cli.evaluate_metrics.METRICS`); the metrics are :mod:`lrp_studio.lrp.localisation`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Sequence

import numpy as np

from lrp_studio.data import Dataset
from lrp_studio.errors import DataError
from lrp_studio.lrp.localisation import evaluate_localisation
from lrp_studio.nn.network import Network


@dataclass
class LocalisationSection:
    """What evaluate prints and stores for the localisation metrics."""

    lines: list[str]
    report: dict[str, Any]


def localisation_section(net: Network, data: Dataset, indices: np.ndarray, targets: np.ndarray,
                         methods: Sequence[str], method_params: dict[str, dict[str, Any]],
                         batch_size: int) -> LocalisationSection:
    """Score ``methods`` on the samples ``indices`` of ``data`` against its masks; a table and a JSON section.

    Raises
    ------
    DataError
        ``data`` has no masks.
    """
    if data.masks is None:
        raise DataError(f"--metric localisation: {data.name} has no ground-truth masks (use e.g. toy:shapes:test)")
    x = np.asarray(data.x)[indices]
    scores = evaluate_localisation(net, x, data.masks[indices], targets, methods, method_params, batch_size)
    lines = ["localisation (Arras et al. 2022): mass = share of positive relevance inside the mask, "
             "rank = share of the |mask| most relevant pixels inside it; channels summed; higher = better",
             f"{'method':<22} {'mass acc':>9} {'± sem':>7} {'rank acc':>9} {'± sem':>7}"]
    for name, score in sorted(scores.items(), key=lambda item: -item[1].mass.mean()):
        d = score.as_dict()
        lines.append(f"{name:<22} {d['mass_accuracy']:>9.3f} {d['mass_sem']:>7.3f} "
                     f"{d['rank_accuracy']:>9.3f} {d['rank_sem']:>7.3f}")
    report = {"pooling": "sum over channels", "ties": "stable: earlier pixel (row-major) ranks higher",
              "reference": "uniform = mean share of the image inside the mask",
              "methods": {name: score.as_dict() for name, score in scores.items()}}
    return LocalisationSection(lines, report)
