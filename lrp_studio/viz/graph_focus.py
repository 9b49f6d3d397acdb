"""Which units a column that shows only some of them draws: the most relevant of one explanation.

Plain NumPy, no Qt. A layout built with limits (:class:`lrp_studio.viz.graph_scene.Shown`) has
columns with fewer nodes than units (``Column.units``); after each explanation the view calls
:func:`focus_units` and :func:`apply_focus`, so the nodes show that sample's most relevant
channels or neurons (in unit order, top to bottom) while the node positions, and so the drawn
items, stay as they are.
"""

from __future__ import annotations

from typing import Mapping

import numpy as np

from lrp_studio.viz.graph_scene import GraphLayout

__all__ = ["apply_focus", "focus_units", "unit_strength"]


def unit_strength(values: np.ndarray) -> np.ndarray:
    """How strongly each unit of one sample's stage values counts: (C,) sum of |v| per channel of a
    (C, H, W) stage, |v| of a flat one (float64)."""
    array = np.abs(np.asarray(values, dtype=np.float64))
    return array.reshape(array.shape[0], -1).sum(axis=1) if array.ndim == 3 else array.reshape(-1)


def focus_units(layout: GraphLayout, relevances: Mapping[int, np.ndarray], activations: Mapping[int, np.ndarray],
                keep: tuple[int, int] | None = None) -> dict[int, np.ndarray]:
    """Per column index with a node limit, the units its nodes show for this explanation.

    Parameters
    ----------
    layout : GraphLayout
    relevances, activations : dict stage -> ndarray (one sample's shape)
        :func:`lrp_studio.viz.graph_values.stage_values`; a stage without relevance (baselines'
        hidden stages) ranks its units by |activation|.
    keep : (stage, unit), optional
        The selected unit: shown in its column whatever its rank (in place of the weakest).

    Returns
    -------
    dict column index -> ndarray (n_nodes,) int64
        Ascending unit indices: the ``n_nodes`` largest :func:`unit_strength` (ties: lower index
        first); columns without values are left out.
    """
    result = {}
    for column in layout.columns:
        if column.units is None:
            continue
        values = relevances.get(column.stage)
        if values is None:
            values = activations.get(column.stage)
        if values is None:
            continue
        strength = unit_strength(values)
        order = np.argsort(-strength, kind="stable")[: column.n_nodes]
        if keep is not None and keep[0] == column.stage and 0 <= keep[1] < column.n_units and keep[1] not in order:
            order[-1] = keep[1]
        result[column.index] = np.sort(order).astype(np.int64)
    return result


def apply_focus(layout: GraphLayout, focus: Mapping[int, np.ndarray]) -> bool:
    """Set ``Column.units`` from :func:`focus_units`; True when any column now shows other units."""
    changed = False
    for index, units in focus.items():
        column = layout.columns[index]
        if column.units is None or not np.array_equal(column.units, units):
            column.units = np.asarray(units, dtype=np.int64)
            changed = True
    return changed
