"""The neuron atlas of a model over a dataset: computed in chunks (here or on Dask), saved, loaded, cached.

``DIR/atlas.json`` (the references, written by :func:`save_atlas`)::

    {"model": ..., "dataset": ..., "method": ..., "top": K,
     "layers": [{"stage": int, "name": str,
                 "units": [{"unit": int, "top_relevance": [sample indices], "top_activation": [sample indices],
                            "relevance_values": [...], "activation_values": [...]}]}]}

and ``DIR/atlas.npz`` (the same rankings as arrays plus the summary statistics, no pickles): ``meta``
(a JSON string: the fields above without the units, plus ``n_samples``, ``classes`` and per layer
``units`` and ``is_map``) and per atlas stage S the arrays ``S{S}_top_relevance``, ``S{S}_relevance_values``,
``S{S}_top_activation``, ``S{S}_activation_values`` (U, K), ``S{S}_mean_activation``,
``S{S}_max_activation``, ``S{S}_relevant_share`` (U,) and ``S{S}_class_relevance`` (U, classes).
"""

from __future__ import annotations

import contextlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Generator, Mapping

import numpy as np
from threadpoolctl import threadpool_limits

from lrp_studio.app.distributed import CHUNK, Inputs, chunk_ranges, read_rows, run_chunks
from lrp_studio.errors import DataError
from lrp_studio.io.atomic import atomic_write
from lrp_studio.io.cache import array_digest, cache_dir
from lrp_studio.io.model import model_arrays
from lrp_studio.lrp.atlas import AtlasLayer, AtlasPart, TreeReducer, atlas_layers, atlas_part
from lrp_studio.nn.network import Network

__all__ = ["Atlas", "AtlasUnit", "atlas_cache_folder", "atlas_chunk", "iter_atlas", "load_atlas", "save_atlas"]

_RANKINGS = ("top_relevance", "relevance_values", "top_activation", "activation_values")
_STATS = ("mean_activation", "max_activation", "relevant_share", "class_relevance")


@dataclass(frozen=True)
class AtlasUnit:
    """One unit's atlas entry (see :class:`Atlas`); indices are dataset sample indices, best first."""

    stage: int
    unit: int
    top_relevance: np.ndarray
    relevance_values: np.ndarray
    top_activation: np.ndarray
    activation_values: np.ndarray
    mean_activation: float
    max_activation: float
    relevant_share: float
    top_classes: list[tuple[int, float]]


@dataclass
class Atlas:
    """A computed atlas: its provenance, its layers, and per layer the arrays named in the module docstring.

    Attributes
    ----------
    model, dataset, method : str
        What was explained (as given by the user: a file or bundled name, a dataset spec, a method name).
    top : int
        References per unit and ranking (K).
    n_samples : int
    classes : list of str
    layers : list of AtlasLayer
    arrays : list of dict str -> ndarray
        Per layer: the rankings (U, K) and statistics (U,), (U, classes).
    """

    model: str
    dataset: str
    method: str
    top: int
    n_samples: int
    classes: list[str]
    layers: list[AtlasLayer]
    arrays: list[dict[str, np.ndarray]]

    @classmethod
    def from_part(cls, part: AtlasPart, layers: list[AtlasLayer], model: str, dataset: str, method: str,
                  classes: list[str]) -> "Atlas":
        """The atlas of a fully merged :class:`AtlasPart`."""
        arrays = []
        for j in range(len(layers)):
            arrays.append({
                "top_relevance": part.top_relevance[j].T.copy(), "relevance_values": part.relevance_values[j].T.copy(),
                "top_activation": part.top_activation[j].T.copy(),
                "activation_values": part.activation_values[j].T.copy(),
                "mean_activation": part.sum_activation[j] / part.count, "max_activation": part.max_activation[j],
                "relevant_share": part.relevant_count[j] / part.count, "class_relevance": part.class_relevance[j]})
        return cls(model, dataset, method, part.k, part.count, list(classes), list(layers), arrays)

    def layer_position(self, stage: int) -> int:
        """Position in :attr:`layers` of the atlas layer at ``stage``; a DataError when there is none."""
        for position, layer in enumerate(self.layers):
            if layer.stage == stage:
                return position
        raise DataError(f"the atlas has no layer at stage {stage}")

    def unit(self, stage: int, unit: int, classes: int = 3) -> AtlasUnit:
        """The entry of ``unit`` of the atlas layer at ``stage``, with its ``classes`` most relevant classes."""
        arrays = self.arrays[self.layer_position(stage)]
        if not 0 <= unit < arrays["top_relevance"].shape[0]:
            raise DataError(f"unit {unit} is out of range for stage {stage}")
        per_class = arrays["class_relevance"][unit]
        order = np.lexsort((np.arange(per_class.size), -per_class))[:classes]
        return AtlasUnit(stage, unit, arrays["top_relevance"][unit], arrays["relevance_values"][unit],
                         arrays["top_activation"][unit], arrays["activation_values"][unit],
                         float(arrays["mean_activation"][unit]), float(arrays["max_activation"][unit]),
                         float(arrays["relevant_share"][unit]), [(int(c), float(per_class[c])) for c in order])

    def to_json(self) -> dict[str, Any]:
        """The ``atlas.json`` document (module docstring)."""
        layers = []
        for layer, arrays in zip(self.layers, self.arrays):
            units = [{"unit": u, "top_relevance": arrays["top_relevance"][u].tolist(),
                      "top_activation": arrays["top_activation"][u].tolist(),
                      "relevance_values": arrays["relevance_values"][u].tolist(),
                      "activation_values": arrays["activation_values"][u].tolist()} for u in range(layer.units)]
            layers.append({"stage": layer.stage, "name": layer.name, "units": units})
        return {"model": self.model, "dataset": self.dataset, "method": self.method, "top": self.top,
                "layers": layers}

    def meta(self) -> dict[str, Any]:
        """Provenance and layer list (the ``meta`` entry of ``atlas.npz``)."""
        return {"model": self.model, "dataset": self.dataset, "method": self.method, "top": self.top,
                "n_samples": self.n_samples, "classes": self.classes,
                "layers": [{"stage": l.stage, "name": l.name, "units": l.units, "is_map": l.is_map}
                           for l in self.layers]}


def save_atlas(atlas: Atlas, folder: str | Path) -> Path:
    """Write ``folder/atlas.json`` and ``folder/atlas.npz`` atomically (the folder is created); returns it."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    arrays: dict[str, np.ndarray] = {"meta": np.array(json.dumps(atlas.meta()))}
    for layer, values in zip(atlas.layers, atlas.arrays):
        arrays.update({f"S{layer.stage}_{name}": value for name, value in values.items()})
    atomic_write(folder / "atlas.npz", lambda temp: np.savez(temp, **arrays))
    text = json.dumps(atlas.to_json())
    atomic_write(folder / "atlas.json", lambda temp: Path(temp).write_text(text, encoding="utf-8"))
    return folder


def load_atlas(folder: str | Path) -> Atlas:
    """Read an atlas written by :func:`save_atlas` (from its ``atlas.npz``).

    Raises
    ------
    DataError
        A missing, unreadable or incomplete file.
    """
    path = Path(folder) / "atlas.npz"
    try:
        with np.load(path, allow_pickle=False) as npz:
            meta = json.loads(str(npz["meta"][()]))
            layers = [AtlasLayer(int(l["stage"]), str(l["name"]), int(l["units"]), bool(l["is_map"]))
                      for l in meta["layers"]]
            arrays = [{name: npz[f"S{layer.stage}_{name}"] for name in _RANKINGS + _STATS} for layer in layers]
        return Atlas(str(meta["model"]), str(meta["dataset"]), str(meta["method"]), int(meta["top"]),
                     int(meta["n_samples"]), [str(c) for c in meta["classes"]], layers, arrays)
    except (OSError, ValueError, KeyError, TypeError) as error:
        raise DataError(f"{path}: not a readable atlas ({error})") from None


def atlas_chunk(start: int, stop: int, position: int, path: str, top: int, method: Any, target: Any,
                bias: bool | None, params: Mapping[str, Any], *, net: Network) -> AtlasPart:
    """One worker task: read rows start..stop-1 of the inputs file memory-mapped and summarise them.

    BLAS runs on one thread here, in every process: a multi-threaded BLAS may sum in another order and
    change the last bits of the values, and the atlas must be the same for any number of workers.
    """
    x = read_rows(path, start, stop)
    with threadpool_limits(limits=1, user_api="blas"):
        return atlas_part(net, x, np.arange(start, stop), top, position, method, target, bias, dict(params))


def iter_atlas(net: Network, inputs: Inputs, *, top: int, method: Any, target: Any = None, bias: bool | None = None,
               params: Mapping[str, Any] | None = None, client: Any = None, chunk: int = CHUNK,
               names: tuple[str, str] = ("model", "dataset")) -> Generator[tuple[int, int], None, Atlas]:
    """Compute the atlas of ``net`` over ``inputs`` chunk by chunk; yields (samples done, total), returns it.

    Parameters
    ----------
    net : Network
    inputs : Inputs
        The inputs file (:func:`lrp_studio.app.distributed.inputs_file`).
    top : int
        References per unit and ranking.
    method, target, bias, params
        As in :func:`lrp_studio.explain` (target: None for the prediction or one class index).
    client : distributed.Client, optional
        Run the chunks on this cluster (None: in this process).
    chunk : int
        Samples per chunk (default 256). Fixed chunks make the result independent of the number of workers;
        another chunk size may change the last bits of values (float32 sums in batches of another size).
    names : (str, str)
        The model and dataset as the user named them (for ``atlas.json``).

    Raises
    ------
    ParameterError, DataError, ClusterError
        From :func:`lrp_studio.lrp.atlas.atlas_part` or the cluster.
    """
    layers = atlas_layers(net)
    reducer = TreeReducer()
    done = 0
    work = run_chunks(atlas_chunk, chunk_ranges(inputs.n, chunk), inputs.path, top, method, target, bias,
                      dict(params or {}), client=client, shared={"net": net})
    with contextlib.closing(work):  # a stop (Ctrl-C, the GUI's cancel) cancels the cluster's remaining chunks
        for position, part in work:
            reducer.add(position, part)
            done += part.count
            yield done, inputs.n
    part = reducer.result()
    if part is None:
        raise DataError("the dataset holds no samples")
    label = method if isinstance(method, str) else "custom"
    return Atlas.from_part(part, layers, names[0], names[1], label, list(net.classes))


def atlas_cache_folder(net: Network, inputs: Inputs | Path, method: Any, params: Mapping[str, Any], top: int,
                       target: Any = None) -> Path:
    """The cache folder of an atlas, named by the model's content (architecture and weights), the inputs
    file (itself named by its content; an :class:`Inputs` or its path), the method with its parameters, K
    and the target."""
    arrays = model_arrays(net)
    inputs_name = Path(inputs.path if isinstance(inputs, Inputs) else inputs).name
    key = array_digest([arrays[key] for key in sorted(arrays)], inputs_name, repr(method),
                       repr(sorted(dict(params).items())), str(top), repr(target))
    return cache_dir("atlas", key)
