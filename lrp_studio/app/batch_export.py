"""Batch export: many samples explained in chunks, one heatmap PNG each, ``relevance.npy`` and ``index.csv``.

The one implementation behind ``lrp-studio export`` and the GUI's *Export heatmaps of many
samples*; both therefore write the same files:

- ``sample_{index:05d}_label{label}_pred{prediction}.png`` per sample (class names with characters
  other than letters, digits, ``.``, ``_`` and ``-`` have them replaced by ``_``);
- ``relevance.npy``: the input relevance of every exported sample, (N, *net.input_shape) float32,
  in the order of ``index.csv``;
- ``index.csv``: columns ``index, label, prediction, target, png`` (class names, one row per sample;
  for a one-output model the prediction is ``z > 0`` and the target is class 1, whose logit z is explained,
  see :class:`lrp_studio.lrp.outputs.OutputClasses`).

Every file is written atomically (a temporary file, then a rename), so an interrupted export
leaves only complete files. Samples are explained ``batch_size`` at a time through the lean path
(``explain(..., keep_layers=False)``): no per-stage records are built.

Signature::

    export_batch(net, data, indices, out_dir, *, method=None, target=None, bias=None, params=None,
                 image=ImageOptions(), batch_size=256, progress=None) -> ExportResult

``progress(done, total)`` is called after every chunk; returning ``False`` cancels the export
after that chunk (``relevance.npy`` and ``index.csv`` then hold the samples done so far and
``ExportResult.cancelled`` is True).
"""

from __future__ import annotations

import contextlib
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Mapping, Sequence

import numpy as np

from lrp_studio.app.distributed import chunk_ranges, inputs_file, read_indices, run_chunks
from lrp_studio.app.fitting import check_fits
from lrp_studio.backend import to_numpy
from lrp_studio.data import Dataset
from lrp_studio.errors import DataError, ParameterError
from lrp_studio.io.export import save_relevance_npy, save_table_csv
from lrp_studio.lrp import explain
from lrp_studio.lrp.explain import NonFiniteError
from lrp_studio.lrp.outputs import check_targets, output_classes
from lrp_studio.lrp.start import Start
from lrp_studio.nn import Network
from lrp_studio.viz import COLORMAPS, heatmap_png

#: Columns of ``index.csv``.
INDEX_COLUMNS = ("index", "label", "prediction", "target", "png")

ProgressFn = Callable[[int, int], "bool | None"]


@dataclass(frozen=True)
class ImageOptions:
    """How heatmap PNGs look.

    Attributes
    ----------
    cmap : str
        A colour map of :data:`lrp_studio.viz.COLORMAPS` (default ``"bwr"``).
    level : float
        Contrast: > 1 saturates sooner (default 1).
    upscale : int
        Nearest-neighbour upscaling factor, pixels per input pixel (default 8).
    overlay : bool
        Blend the heatmap over the input image (image inputs only; default False).
    """

    cmap: str = "bwr"
    level: float = 1.0
    upscale: int = 8
    overlay: bool = False

    def check(self) -> None:
        """Raise :class:`ParameterError` for an unknown colour map or a non-positive level or factor."""
        if self.cmap not in COLORMAPS:
            raise ParameterError(f"unknown colour map {self.cmap!r}; choose from {', '.join(sorted(COLORMAPS))}")
        if not self.level > 0:
            raise ParameterError(f"level must be > 0, got {self.level}")
        if int(self.upscale) != self.upscale or self.upscale < 1:
            raise ParameterError(f"upscale must be a whole number >= 1, got {self.upscale}")


@dataclass
class ExportResult:
    """What :func:`export_batch` wrote.

    Attributes
    ----------
    out_dir : pathlib.Path
    indices : numpy.ndarray, (N,) int64
        Dataset indices exported, in file order (fewer than asked for when cancelled).
    pngs : list of pathlib.Path
        One heatmap per exported sample, in the same order.
    relevance_shape : tuple of int
        Shape of ``relevance.npy``: (N, *input_shape).
    cancelled : bool
        True when ``progress`` returned False before every sample was done.
    """

    out_dir: Path
    indices: np.ndarray
    pngs: list[Path] = field(default_factory=list)
    relevance_shape: tuple[int, ...] = ()
    cancelled: bool = False


def sample_image(values: Any) -> np.ndarray:
    """One sample (input or relevance) as the array a heatmap is drawn from.

    Parameters
    ----------
    values : array, (C, H, W), (H, W) or (F,)
        Flat samples whose length is a square > 4 (e.g. 784) become (side, side); other flat
        samples stay (F,) (drawn as one row); images are returned as they are.

    Returns
    -------
    numpy.ndarray, float32
    """
    array = np.asarray(values, dtype=np.float32)
    if array.ndim == 1:
        side = int(round(np.sqrt(array.size)))
        if side > 2 and side * side == array.size:
            return array.reshape(side, side)
    return array


def safe_name(text: str) -> str:
    """``text`` with every character other than letters, digits, ``.``, ``_`` and ``-`` replaced by ``_``."""
    return re.sub(r"[^A-Za-z0-9._-]", "_", str(text)) or "_"


def png_name(index: int, label: str, prediction: str) -> str:
    """File name of one sample's heatmap, e.g. ``sample_00007_label0_pred0.png``."""
    return f"sample_{int(index):05d}_label{safe_name(label)}_pred{safe_name(prediction)}.png"


def write_heatmap(path: Path, relevance: Any, x: Any, image: ImageOptions,
                  input_range: tuple[float, float] | None) -> None:
    """Write one sample's heatmap PNG (atomically), blended over ``x`` when ``image.overlay`` and shapes agree."""
    heat = sample_image(relevance)
    under = sample_image(x) if image.overlay else None
    if under is not None and under.shape != heat.shape:
        under = None
    heatmap_png(path, heat, cmap=image.cmap, level=image.level, scale=int(image.upscale), overlay_image=under,
                input_range=input_range)


def _chunk_targets(target: Any, start: int, stop: int) -> Any:
    if target is None or np.ndim(target) == 0:
        return target
    return np.asarray(target)[start:stop]


def _check_request(net: Network, data: Dataset, indices: np.ndarray, target: Any, batch_size: int) -> None:
    check_fits(data, net)
    if indices.size and (indices.min() < 0 or indices.max() >= len(data)):
        raise DataError(f"{data.name}: indices must be in 0..{len(data) - 1}")
    if target is not None and np.ndim(target) != 0 and np.shape(target) != indices.shape:
        raise ParameterError(f"target must be one class or one per exported sample ({indices.size}), "
                             f"got shape {np.shape(target)}")
    if target is not None:  # checked whole: a message names the argument and the dataset index, not a chunk
        check_targets(target, indices.size, net.n_classes, positions=[f"{data.name} index {i}" for i in indices])
    if int(batch_size) != batch_size or batch_size < 1:
        raise ParameterError(f"batch size must be a whole number >= 1, got {batch_size}")


def export_batch(net: Network, data: Dataset, indices: Sequence[int] | np.ndarray, out_dir: str | Path, *,
                 method: Any = None, target: Any = None, bias: bool | None = None,
                 params: Mapping[str, Any] | None = None, image: ImageOptions = ImageOptions(),
                 batch_size: int = 256, progress: ProgressFn | None = None, start: Any = None,
                 client: Any = None) -> ExportResult:
    """Explain ``data.x[indices]`` in chunks and write the heatmaps, ``relevance.npy`` and ``index.csv``.

    Parameters
    ----------
    net : Network
    data : Dataset
        Samples (N_data, ...) whose size per sample matches ``net.input_shape``; labels name the files.
    indices : sequence of int, (N,)
        Dataset indices to export, in order.
    out_dir : str or path-like
        Folder for the files (created with its parents when missing).
    method : str or mapping, optional
        As in :func:`lrp_studio.explain`; None: the model's default method.
    target : None, int or (N,) ints
        Class explained: None (default) the prediction, one class for all, or one per sample.
    bias : bool, optional
        As in :func:`lrp_studio.explain` (None: the default, biases included).
    params : mapping, optional
        The method's parameters (only those the user gave; see :func:`lrp_studio.lrp.method_info`).
    image : ImageOptions
        Colour map, contrast, upscaling and overlay of the PNGs.
    batch_size : int
        Samples explained per call (default 256).
    progress : callable, optional
        ``progress(done, total)`` after each chunk; returning False cancels after that chunk.
    start : optional
        The start relevance, as in :func:`lrp_studio.explain` (a per-sample vector has one row per index).
    client : distributed.Client, optional
        Explain the chunks on this Dask cluster (:mod:`lrp_studio.app.distributed`): workers read their rows
        from a memory-mapped copy of the inputs and write the PNGs into ``out_dir``, which they must see;
        the relevance comes back with each chunk. None (default): in this process.

    Returns
    -------
    ExportResult

    Raises
    ------
    ParameterError
        For a bad method, parameter, target, image option or batch size (before any file is written).
    DataError
        When the samples do not fit the model, an index is out of range, or a file cannot be written;
        ``NonFiniteError`` when a chunk's logits or relevance come out NaN or infinite (naming the dataset
        indices; ``relevance.npy`` and ``index.csv`` are then not written, the PNGs of earlier chunks stay).
    """
    chosen = np.asarray(indices, dtype=np.int64).reshape(-1)
    output_start = start  # the name ``start`` is the chunk offset below
    _check_request(net, data, chosen, target, batch_size)
    image.check()
    folder = Path(out_dir)
    folder.mkdir(parents=True, exist_ok=True)
    shape = tuple(int(v) for v in net.input_shape)
    relevance = np.zeros((chosen.size,) + shape, dtype=np.float32)
    rows: list[tuple[Any, ...]] = []
    result = ExportResult(folder, chosen)
    if client is not None:  # the same chunks on a Dask cluster: workers read their rows memory-mapped
        done, rows, result.cancelled = _export_on_cluster(client, net, data, chosen, folder, method, target, bias,
                                                          params, image, int(batch_size), output_start, progress)
        relevance[: len(rows)] = done
        chosen = np.array([row[0] for row in rows], dtype=np.int64)
        result.pngs = [folder / row[-1] for row in rows]
    for start in range(0, chosen.size if client is None else 0, int(batch_size)):
        chunk = chosen[start : start + int(batch_size)]
        chunk_relevance, chunk_rows = explain_chunk_files(
            net, data.x[chunk], chunk, [_label(data, int(i)) for i in chunk],
            _chunk_targets(target, start, start + chunk.size), _rows(output_start, start, start + chunk.size), folder,
            method, bias, params, image, data.input_range, data.name)
        relevance[start : start + chunk.size] = chunk_relevance
        rows.extend(chunk_rows)
        result.pngs.extend(folder / row[-1] for row in chunk_rows)
        if progress is not None and progress(start + chunk.size, chosen.size) is False:
            result.cancelled = start + chunk.size < chosen.size
            break
    done = len(rows)
    result.indices = chosen[:done]
    result.relevance_shape = (done,) + shape
    save_relevance_npy(folder / "relevance.npy", relevance[:done])
    save_table_csv(folder / "index.csv", INDEX_COLUMNS, rows)
    return result


@dataclass(frozen=True)
class _Plan:
    """What every worker needs once (scattered): the indices, their labels, targets and start relevance."""

    indices: np.ndarray
    labels: list[str]
    target: Any
    start: Any
    data_name: str
    input_range: tuple[float, float] | None


def _cluster_chunk(begin: int, end: int, position: int, path: str, folder: Path, method: Any, bias: bool | None,
                   params: Mapping[str, Any] | None, image: ImageOptions, *, net: Network,
                   plan: _Plan) -> tuple[int, np.ndarray, list[tuple[Any, ...]]]:
    """One worker task: positions begin..end-1 of the plan, rows read from the memory-mapped inputs copy."""
    chunk = plan.indices[begin:end]
    x = read_indices(path, chunk)
    try:
        relevance, rows = explain_chunk_files(net, x, chunk, plan.labels[begin:end],
                                              _chunk_targets(plan.target, begin, end), _rows(plan.start, begin, end),
                                              folder, method, bias, params, image, plan.input_range, plan.data_name)
    except NonFiniteError as error:  # a plain DataError travels back through Dask (pickled by its message)
        raise DataError(str(error)) from None
    return begin, relevance, rows


def _export_on_cluster(client: Any, net: Network, data: Dataset, chosen: np.ndarray, folder: Path, method: Any,
                       target: Any, bias: bool | None, params: Mapping[str, Any] | None, image: ImageOptions,
                       batch_size: int, start: Any, progress: ProgressFn | None
                       ) -> tuple[np.ndarray, list[tuple[Any, ...]], bool]:
    """The chunks of ``chosen`` on the cluster: (relevance of the done samples, their rows in order, cancelled)."""
    inputs = inputs_file(to_numpy(net.prepare_input(data.x)))
    plan = _Plan(chosen, [_label(data, int(i)) for i in chosen], target, start, data.name, data.input_range)
    parts: dict[int, tuple[int, np.ndarray, list[tuple[Any, ...]]]] = {}
    work = run_chunks(_cluster_chunk, chunk_ranges(chosen.size, batch_size), inputs.path, folder, method, bias,
                      dict(params or {}), image, client=client, shared={"net": net, "plan": plan})
    cancelled = False
    with contextlib.closing(work):
        for position, part in work:
            parts[position] = part
            done = sum(len(p[2]) for p in parts.values())
            if progress is not None and progress(done, chosen.size) is False:
                cancelled = done < chosen.size
                break
    ordered = [parts[p] for p in sorted(parts)]
    rows = [row for part in ordered for row in part[2]]
    shape = (0,) + tuple(net.input_shape)
    relevance = np.concatenate([part[1] for part in ordered]) if ordered else np.zeros(shape, np.float32)
    return relevance, rows, cancelled


def _label(data: Dataset, index: int) -> str:
    """The class name of sample ``index`` (``"?"`` for a label outside the class list)."""
    return data.classes[int(data.y[index])] if int(data.y[index]) < len(data.classes) else "?"


def explain_chunk_files(net: Network, x: Any, chunk: np.ndarray, labels: Sequence[str], target: Any, start: Any,
                        folder: Path, method: Any, bias: bool | None, params: Mapping[str, Any] | None,
                        image: ImageOptions, input_range: tuple[float, float] | None,
                        data_name: str) -> tuple[np.ndarray, list[tuple[Any, ...]]]:
    """Explain one chunk ``x`` (dataset indices ``chunk``), write its PNGs; returns its relevance and index rows.

    Raises
    ------
    NonFiniteError
        Naming the samples by dataset index (the PNGs of earlier chunks stay).
    """
    outputs = output_classes(net.classes, net.n_classes)
    try:
        exp = explain(net, x, target=target, method=method, bias=bias, keep_layers=False, start=start,
                      **dict(params or {}))
    except NonFiniteError as error:  # name the samples by dataset index; earlier chunks' PNGs stay
        raise error.at([f"{data_name} index {i}" for i in chunk],
                       "relevance.npy and index.csv were not written") from None
    predictions = outputs.predicted(exp.logits)
    rows = []
    for offset, index in enumerate(chunk):
        predicted = outputs.names[int(predictions[offset])]
        name = png_name(int(index), labels[offset], predicted)
        write_heatmap(folder / name, exp.relevance[offset], x[offset], image, input_range)
        rows.append((int(index), labels[offset], predicted, outputs.target_name(int(exp.targets[offset])), name))
    return exp.relevance.reshape((len(chunk),) + tuple(net.input_shape)), rows


def _rows(start: Any, begin: int, end: int) -> Any:
    """The start relevance of chunk begin..end-1 (a per-sample start vector is sliced)."""
    return start.rows(begin, end) if isinstance(start, Start) else start


__all__ = ["INDEX_COLUMNS", "ExportResult", "ImageOptions", "export_batch", "png_name", "safe_name",
           "sample_image", "write_heatmap"]
