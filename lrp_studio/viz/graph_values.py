"""What the network graph shows at its nodes: values per stage, colour scales, node colours, texts.

Plain NumPy, no Qt, no network runs: the values come from an explanation's per-stage records
(``exp.layers``; LRP methods and baselines both record every stage's activation).
"""

from __future__ import annotations

from typing import Any, Iterable, Mapping

import numpy as np

from lrp_studio.errors import ParameterError
from lrp_studio.viz.colormaps import lut_indices
from lrp_studio.viz.graph_edges import merge_messages
from lrp_studio.viz.graph_scene import Column, Connection, GraphLayout

__all__ = [
    "COLOR_MODES",
    "NEUTRAL_RGB",
    "SCALE_MODES",
    "class_label_texts",
    "color_indices",
    "colorbar_levels",
    "column_scales",
    "hover_text",
    "image_rgba",
    "maps_rgba",
    "merge_unit_split",
    "scale_label",
    "stage_values",
]

COLOR_MODES = ("activation", "relevance")
SCALE_MODES = ("layer", "global")
#: Colour of nodes without a value (e.g. relevance of a baseline's hidden stages).
NEUTRAL_RGB = (205, 205, 205)


def stage_values(layout: GraphLayout, records: Iterable[Any]) -> tuple[dict[int, np.ndarray], dict[int, np.ndarray]]:
    """Sample 0's activation and relevance of every column stage.

    Parameters
    ----------
    layout : GraphLayout
    records : iterable of LayerRecord
        ``exp.layers``: objects with ``stage``, ``activation`` (N, ...) and ``relevance``
        (N, ...) or None.

    Returns
    -------
    activations, relevances : dict stage -> ndarray (one sample's shape) float32
        Stages without a record, or without relevance, are left out.

    Raises
    ------
    ParameterError
        When there are no records at all (an explanation made with ``keep_layers=False``).
    """
    by_stage = {record.stage: record for record in records}
    if not by_stage:
        raise ParameterError("the explanation has no per-stage records; explain with keep_layers=True")
    activations, relevances = {}, {}
    for column in layout.columns:
        record = by_stage.get(column.stage)
        if record is None:
            continue
        activations[column.stage] = np.asarray(record.activation[0], dtype=np.float32)
        if record.relevance is not None:
            relevances[column.stage] = np.asarray(record.relevance[0], dtype=np.float32)
    return activations, relevances


def _keeps_own_scale(column: Column, color_mode: str) -> bool:
    """The input image in activation mode is a grey-scale picture on its own scale."""
    return color_mode == "activation" and column.kind == "image"


def column_scales(layout: GraphLayout, values: Mapping[int, np.ndarray], color_mode: str,
                  scale_mode: str) -> dict[int, float]:
    """Symmetric colour scale (max |value|) per column index.

    Parameters
    ----------
    layout : GraphLayout
    values : dict stage -> ndarray
        The shown values (activations or relevances, see :func:`stage_values`).
    color_mode : str
        One of :data:`COLOR_MODES`.
    scale_mode : str
        ``"layer"``: each column's own max |value|; ``"global"``: the largest over all columns
        (except the input image in activation mode, which keeps its own).

    Returns
    -------
    dict column index -> float
        Columns without values are left out.
    """
    scales = {}
    for column in layout.columns:
        shown = values.get(column.stage)
        if shown is not None:
            scales[column.index] = float(np.max(np.abs(shown), initial=0.0))
    if scale_mode != "global":
        return scales
    own = {i for i in scales if _keeps_own_scale(layout.columns[i], color_mode)}
    top = max((v for i, v in scales.items() if i not in own), default=0.0)
    return {i: (v if i in own else top) for i, v in scales.items()}


def colorbar_levels(layout: GraphLayout, scales: Mapping[int, float], color_mode: str,
                    scale_mode: str) -> tuple[tuple[float, float], str]:
    """The colour bar's (low, high) levels and its label for the current scales and modes."""
    if scale_mode == "global":
        top = max((v for i, v in scales.items() if layout.columns[i].kind != "image"), default=1.0) or 1.0
        return (-top, top), f"{color_mode} (one scale for all columns)"
    return (-1.0, 1.0), f"{color_mode} ÷ column max (±max above each column)"


def scale_label(column: Column, values: np.ndarray | None, vmax: float, color_mode: str) -> str:
    """The text above a column: its scale ``±vmax`` or why it has none."""
    if values is None:
        return "no relevance" if color_mode == "relevance" else ""
    if column.kind == "image" and color_mode == "activation":
        return "grayscale sample"
    return f"±{vmax:.3g}"


def color_indices(values: np.ndarray, vmax: float) -> np.ndarray:
    """Colour-table rows (uint8, same shape) of ``values`` on the symmetric scale ``[-vmax, vmax]``.

    A zero or non-finite ``vmax`` maps everything to the centre (128).
    """
    if vmax <= 0 or not np.isfinite(vmax):
        return np.full(np.shape(values), 128, dtype=np.uint8)
    return lut_indices(values * np.float32(1.0 / vmax))


def _rgba(values: np.ndarray, vmax: float, lut: np.ndarray) -> np.ndarray:
    rgba = np.empty(values.shape + (4,), dtype=np.uint8)
    rgba[..., :3] = lut[color_indices(values, vmax)]
    rgba[..., 3] = 255
    return rgba


def _neutral(shape: tuple[int, ...]) -> np.ndarray:
    rgba = np.empty(tuple(shape) + (4,), dtype=np.uint8)
    rgba[...] = (*NEUTRAL_RGB, 255)
    return rgba


def maps_rgba(column: Column, values: np.ndarray | None, vmax: float, lut: np.ndarray) -> np.ndarray:
    """(C, H, W, 4) uint8 thumbnails of a maps column (neutral grey without values)."""
    return _neutral(column.shape) if values is None else _rgba(values, vmax, lut)


def image_rgba(column: Column, values: np.ndarray | None, vmax: float, lut: np.ndarray, color_mode: str,
               input_range: tuple[float, float] | None) -> np.ndarray:
    """(H, W, 4) uint8 picture of an image column.

    Relevance: the channel sum on the colour map. Activation: the sample itself in grey (RGB for
    three channels), scaled by ``input_range`` or else by its own min and max.
    """
    h, w = column.image_hw
    if values is None:
        return _neutral((h, w))
    if color_mode != "activation":
        return _rgba(values.reshape((-1, h, w)).sum(axis=0), vmax, lut)
    image = values.reshape((-1, h, w))
    image = np.moveaxis(image, 0, -1) if image.shape[0] == 3 else image.mean(axis=0)[..., None]
    low, high = input_range or (float(image.min()), float(image.max()))
    gray = np.clip((image - low) / max(high - low, 1e-12), 0.0, 1.0)
    rgba = np.empty((h, w, 4), dtype=np.uint8)
    rgba[..., :3] = np.rint(255.0 * np.broadcast_to(gray, (h, w, 3)))
    rgba[..., 3] = 255
    return rgba


def class_label_texts(layout: GraphLayout, logits: np.ndarray, target: int) -> list[tuple[str, bool]]:
    """Per class label (text, bold): the class name and its logit; the explained class bold with an arrow."""
    labels = []
    for index in range(len(layout.class_label_positions())):
        text = f"{layout.classes[index]}   {logits[index]:.2f}"
        labels.append((text + "  ◀", True) if index == target else (text, False))
    return labels


def _format(value: float | None) -> str:
    return "n/a" if value is None else f"{value + 0.0:.4g}"


def _image_hover(column: Column, unit: int, act: np.ndarray | None, rel: np.ndarray | None) -> str:
    shape = column.shape if len(column.shape) == 3 else (1,) + tuple(column.image_hw)
    c, rest = divmod(unit, shape[1] * shape[2])
    i, j = divmod(rest, shape[2])
    where = f"pixel ({i}, {j})" + (f" channel {c}" if shape[0] > 1 else "")
    a = None if act is None else float(act.reshape(-1)[unit])
    r = None if rel is None else float(rel.reshape(-1)[unit])
    return f"{column.title} {column.subtitle}\n{where} (unit {unit})\nactivation {_format(a)}\nrelevance {_format(r)}"


def _maps_hover(column: Column, unit: int, act: np.ndarray | None, rel: np.ndarray | None) -> str:
    a_mean = a_max = r_sum = None
    if act is not None:
        a_mean, a_max = float(act[unit].mean()), float(act[unit].max())
    if rel is not None:
        r_sum = float(rel[unit].sum())
    return (f"{column.title} ({column.subtitle})\nchannel {unit}\n"
            f"activation mean {_format(a_mean)}, max {_format(a_max)}\nrelevance {_format(r_sum)} (sum)")


def hover_text(layout: GraphLayout, stage: int, unit: int, activations: Mapping[int, np.ndarray],
               relevances: Mapping[int, np.ndarray]) -> str:
    """Tooltip of a unit: column, unit (pixel, channel or neuron with its class), activation, relevance.

    Returns ``""`` for a stage without a column; values missing from the mappings read ``n/a``.
    """
    column = layout.column_of_stage(stage)
    if column is None:
        return ""
    act, rel = activations.get(stage), relevances.get(stage)
    if column.kind == "image":
        return _image_hover(column, unit, act, rel)
    if column.kind == "maps":
        return _maps_hover(column, unit, act, rel)
    a = None if act is None else float(act.reshape(-1)[unit])
    r = None if rel is None else float(rel.reshape(-1)[unit])
    name = f"neuron {unit}"
    if stage == layout.output_stage and unit < len(layout.classes):
        name = f"neuron {unit} (class {layout.classes[unit]})"
    return f"{column.title}\n{name}\nactivation {_format(a)}\nrelevance {_format(r)}"


def merge_unit_split(merge: str, layer_index: int, reads: tuple[int, ...], unit: int,
                     activations: Mapping[int, np.ndarray], relevances: Mapping[int, np.ndarray]) -> list[float] | None:
    """How much relevance one unit of a merge layer sent to each of its inputs (one sample).

    Parameters
    ----------
    merge : str
        ``"add"`` or ``"concat"``.
    layer_index : int
        The merge layer (its output is stage ``layer_index + 1``).
    reads : tuple of int
        The stages it merges, in input order.
    unit : int
        A channel of a (C, H, W) output (summed over its map) or a neuron of a flat one.
    activations, relevances : dict stage -> ndarray (one sample's shape)

    Returns
    -------
    list of float (one per input) or None
        As :func:`lrp_studio.viz.graph_edges.merge_messages` (None without the records); for a
        concatenation only the input holding the unit is non-zero.
    """
    split = []
    for slot in range(len(reads)):
        conn = Connection(layer_index, 0, 0, slot=slot, merge=merge, reads=tuple(reads))
        matrix = merge_messages(conn, activations, relevances)
        if matrix is None:
            return None
        split.append(float(matrix[:, unit].sum()))
    return split
