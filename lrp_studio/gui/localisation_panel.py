"""Localisation in the Faithfulness dock: after a run on a dataset with ground-truth masks (``toy:shapes``),
relevance mass and rank accuracy (Arras et al. 2022) of the same methods on the same samples.

The scores are computed in a worker (:func:`lrp_studio.lrp.localisation.iter_localisation`) and shown
as a small table below the AOPC status line; the dock's run starts it (one hook line each in
:mod:`lrp_studio.gui.faithfulness_view`).
"""

from __future__ import annotations

from typing import Any

import numpy as np
from PySide6.QtWidgets import QLabel

from lrp_studio.lrp.localisation import LocalisationScore, iter_localisation


def remember_masks(view: Any, indices: np.ndarray | None) -> None:
    """Keep the masks of the samples a run evaluates (None: the dataset has none, or one custom input)."""
    masks = getattr(view.state.dataset, "masks", None)
    view.localisation_masks = None if masks is None or indices is None else masks[np.asarray(indices)]


def localisation_label(view: Any) -> QLabel:
    """The dock's localisation table (created on first use, below the status line)."""
    label = getattr(view, "localisation_label", None)
    if label is None:
        label = QLabel("")
        label.setObjectName("localisationTable")
        label.setWordWrap(True)
        view.layout().addWidget(label)
        view.localisation_label = label
    return label


def _table(scores: list[LocalisationScore], n: int) -> str:
    rows = "".join(f"<tr><td>{s.method}</td><td align='right'>{s.mass.mean():.3f}</td>"
                   f"<td align='right'>{s.rank.mean():.3f}</td></tr>"
                   for s in sorted(scores, key=lambda s: -s.mass.mean()))
    return (f"<b>Localisation</b> in the ground-truth masks ({n} samples; Arras et al. 2022): "
            "<table cellspacing='6'><tr><th align='left'>method</th><th>mass acc.</th><th>rank acc.</th></tr>"
            f"{rows}</table>")


def start_localisation(view: Any, x: np.ndarray, methods: list[str], params: dict[str, dict[str, Any]]) -> None:
    """Score ``methods`` on ``x`` against the remembered masks in a worker; fill the table as methods finish."""
    masks = getattr(view, "localisation_masks", None)
    if masks is None or len(masks) != len(x):
        if getattr(view, "localisation_label", None) is not None:
            view.localisation_label.setText("")
        return
    label = localisation_label(view)
    label.setText("Localisation in the ground-truth masks: computing\u2026")
    scores: list[LocalisationScore] = []

    def scored(score: LocalisationScore) -> None:
        scores.append(score)
        label.setText(_table(scores, len(x)))

    view.localisation_worker = view.controller.start_generator(
        iter_localisation, view.state.net.copy(), x, masks, None, methods, params, _connect={"yielded": scored})
