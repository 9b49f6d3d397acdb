"""``lrp-studio explain`` and ``lrp-studio export``: explanations as text, PNGs and arrays."""

from __future__ import annotations

import argparse
import csv
import io as _io
import sys
from pathlib import Path
from typing import Any, Callable

import numpy as np
from tqdm import tqdm

from lrp_studio.data import Dataset, load_dataset
from lrp_studio.errors import DataError
from lrp_studio.io import atomic_write, load_input_npy, save_relevance_csv, save_relevance_npy
from lrp_studio.lrp import default_method, explain, flat_on_dense_input
from lrp_studio.lrp.explain import resolve_rules
from lrp_studio.nn import Network, softmax
from lrp_studio.viz import heatmap_png
from lrp_studio.zoo import load_any_model

TargetFn = Callable[[argparse.Namespace, list[str]], "int | None"]


def check_fits(data: Dataset, net: Network) -> Dataset:
    """``data`` unchanged, or a DataError naming the dataset when its samples do not fit ``net``'s input."""
    if int(np.prod(data.sample_shape)) != int(np.prod(net.input_shape)):
        raise DataError(f"{data.name}: samples of shape {tuple(data.sample_shape)} do not fit the model's input "
                        f"shape {tuple(net.input_shape)}")
    return data


def _sample(args: argparse.Namespace, net: Network) -> tuple[np.ndarray, str]:
    """The sample to explain (1, *input_shape) and a description of where it came from."""
    if args.input:
        x = load_input_npy(args.input, net.input_shape)
        if x.shape[0] != 1:
            raise DataError(f"{args.input}: holds {x.shape[0]} samples; explain takes one (use export for many)")
        return x, f"input {args.input}"
    data = check_fits(load_dataset(args.dataset), net)
    if not -len(data) <= args.index < len(data):
        raise DataError(f"--index {args.index} is out of range for {data.name} ({len(data)} samples)")
    return data.x[args.index : args.index + 1] if args.index >= 0 else data.x[args.index][None], (
        f"{data.name} sample {args.index} (label {data.classes[int(data.y[args.index])]})")


def _write_png(args: argparse.Namespace, path: str, relevance: np.ndarray, x: np.ndarray, net: Network,
               vmax: float | None = None) -> None:
    image = None
    if args.overlay and x.ndim == 3:
        image = x
    heatmap_png(path, relevance, cmap=args.cmap, level=args.level, scale=args.scale,
                overlay_image=image, vmax=vmax, input_range=net.input_range)


def run_explain(args: argparse.Namespace, method: Any, params: dict[str, Any], target_fn: TargetFn) -> int:
    """Explain one sample; print prediction, target and conservation; write the requested files."""
    net = load_any_model(args.model)
    method = method or default_method(net)
    x, origin = _sample(args, net)
    target = target_fn(args, net.classes)
    exp = explain(net, x, target=target, method=method, **params)
    if flat_on_dense_input(net, resolve_rules(net, method, params)):
        print("note: the flat rule on a dense first layer gives every input the same relevance (each input "
              "feeds every neuron), so the heatmap is uniform; try --method epsilon-plus or --model cnn",
              file=sys.stderr)
    probs = np.asarray(softmax(exp.logits))[0] if net.n_classes > 1 else 1 / (1 + np.exp(-exp.logits[0]))
    predicted = int(np.argmax(exp.logits[0])) if net.n_classes > 1 else int(exp.logits[0, 0] > 0)
    t = int(exp.targets[0])
    report = exp.conservation()
    name = method if isinstance(method, str) else "custom " + ",".join(f"{k}:{v}" for k, v in method.items())
    print(origin)
    print(f"prediction: class {net.classes[predicted]} (probability {float(np.max(probs)):.4f})")
    print(f"target:     class {net.classes[t]} (logit {exp.logits[0, t]:.6g})")
    print(f"method:     {name}")
    print(f"conservation: {report.summary(0)}")
    if args.layers:
        for stage_name, total in zip(report.stage_names, report.sums[:, 0]):
            print(f"  {stage_name:<16} sum R = {total: .6g}")
    if args.out:
        _write_png(args, args.out, exp.relevance[0], x[0], net)
        print(f"wrote {args.out}")
    if args.npy:
        save_relevance_npy(args.npy, exp.relevance[0])
        print(f"wrote {args.npy}")
    if args.csv:
        save_relevance_csv(args.csv, exp.relevance[0])
        print(f"wrote {args.csv}")
    return 0


def _select(args: argparse.Namespace, data: Dataset, net: Network) -> np.ndarray:
    """Indices chosen by --indices, --class and --misclassified."""
    indices = np.arange(len(data))
    if args.indices:
        indices = _parse_indices(args.indices, len(data))
    if args.label is not None:
        indices = indices[data.y[indices] == args.label]
    if args.misclassified:
        predicted = net.predict(data.x[indices]).argmax(axis=1)
        indices = indices[predicted != data.y[indices]]
    if indices.size == 0:
        raise DataError("no samples match the selection")
    return indices


def _parse_indices(text: str, n: int) -> np.ndarray:
    try:
        if ":" in text:
            start, _, stop = text.partition(":")
            result = np.arange(n)[slice(int(start) if start else None, int(stop) if stop else None)]
        else:
            result = np.array([int(v) for v in text.split(",") if v.strip()], dtype=np.int64)
    except ValueError:
        raise DataError(f"--indices {text!r}: write a range like 0:100 or a list like 3,7,42") from None
    if result.size and (result.min() < 0 or result.max() >= n):
        raise DataError(f"--indices {text!r}: indices must be in 0..{n - 1}")
    return result


def run_export(args: argparse.Namespace, method: Any, params: dict[str, Any], target_fn: TargetFn) -> int:
    """Explain many samples in batches; one PNG each plus relevance.npy and index.csv."""
    net = load_any_model(args.model)
    method = method or default_method(net)
    data = check_fits(load_dataset(args.dataset), net)
    indices = _select(args, data, net)
    target = target_fn(args, net.classes)
    out_dir = Path(args.out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    relevance = np.zeros((indices.size,) + tuple(net.input_shape), dtype=np.float32)
    rows = []
    with tqdm(total=indices.size, unit="sample", desc="explaining", disable=None) as bar:
        for start in range(0, indices.size, args.batch_size):
            chunk = indices[start : start + args.batch_size]
            exp = explain(net, data.x[chunk], target=target, method=method, **params)
            relevance[start : start + chunk.size] = exp.relevance.reshape((chunk.size,) + tuple(net.input_shape))
            for offset, index in enumerate(chunk):
                pred, t = int(exp.logits[offset].argmax()), int(exp.targets[offset])
                name = f"sample_{index:05d}_label{data.classes[int(data.y[index])]}_pred{net.classes[pred]}.png"
                _write_png(args, str(out_dir / name), exp.relevance[offset], data.x[index], net)
                rows.append((int(index), data.classes[int(data.y[index])], net.classes[pred], net.classes[t], name))
            bar.update(chunk.size)
    save_relevance_npy(out_dir / "relevance.npy", relevance)
    _write_index(out_dir / "index.csv", rows)
    print(f"wrote {indices.size} heatmaps, relevance.npy {relevance.shape} and index.csv to {out_dir}")
    return 0


def _write_index(path: Path, rows: list[tuple[Any, ...]]) -> None:
    buffer = _io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(["index", "label", "prediction", "target", "png"])
    writer.writerows(rows)
    atomic_write(path, lambda temp: Path(temp).write_text(buffer.getvalue(), encoding="utf-8"))
