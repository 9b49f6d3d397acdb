"""``lrp-studio compare``: one sample explained by many methods, as a table and a heatmap grid.

Each method's input relevance is shown with its conservation figure (sum of input relevance
against the explained logit) and its correlation with the notes' perturbation heatmap (each
input pixel replaced by the input's mean, change of the target logit).
"""

from __future__ import annotations

import argparse
import time
from typing import Any

import numpy as np

from lrp_studio.data import load_dataset
from lrp_studio.errors import DataError, ParameterError
from lrp_studio.lrp import METHODS, explain
from lrp_studio.lrp.perturbation import correlation, perturbation_heatmap
from lrp_studio.viz import save_png
from lrp_studio.viz.grid import heatmap_grid
from lrp_studio.zoo import load_any_model


def parse_methods(text: str, choices: list[str] | None = None) -> list[str]:
    """Comma-separated method names ('all' = every method); unknown names are one clear error."""
    choices = list(METHODS) if choices is None else choices
    if text.strip().lower() == "all":
        return list(choices)
    names = [name.strip() for name in text.split(",") if name.strip()]
    if not names:
        raise ParameterError("--methods: give at least one method name, e.g. lrp0,gradient")
    unknown = [name for name in names if name not in choices]
    if unknown:
        raise ParameterError(f"--methods: unknown method {unknown[0]!r}; choose from {', '.join(choices)}")
    return list(dict.fromkeys(names))


def add_compare_arguments(parser: argparse.ArgumentParser) -> None:
    """The options of ``lrp-studio compare`` (the model/backend options come from cli.py)."""
    parser.add_argument("--dataset", default="mnist", help="mnist, mnist:test, toy:NAME or a file (default mnist)")
    parser.add_argument("--index", type=int, default=0, help="sample index in the dataset (default 0)")
    parser.add_argument("--methods", default="all", help="comma-separated method names, or 'all' (default all)")
    parser.add_argument("--target", default=None, help="class to explain, index or name (default: the prediction)")
    parser.add_argument("--scale", choices=("shared", "each"), default="shared",
                        help="one colour scale for all heatmaps, or each its own (default shared)")
    parser.add_argument("--cmap", default="bwr", help="colour map (default bwr)")
    parser.add_argument("--level", type=float, default=1.0, help="contrast: >1 saturates sooner (default 1)")
    parser.add_argument("--zoom", type=int, default=5, help="pixels per input pixel in the grid (default 5)")
    parser.add_argument("--columns", type=int, default=None, help="cells per row (default up to 6)")
    parser.add_argument("--perturbation-region", type=int, default=1, metavar="PX",
                        help="patch size of the perturbation heatmap (default 1 = every pixel)")
    parser.add_argument("--no-perturbation", action="store_true",
                        help="leave out the perturbation heatmap and the correlation column")
    parser.add_argument("--out", default=None, metavar="PNG", help="write the comparison grid here")


def run_compare(args: argparse.Namespace, target_fn: Any) -> int:
    """Explain one sample with every chosen method; print the table; write the grid PNG."""
    from lrp_studio.viz import COLORMAPS

    if args.cmap not in COLORMAPS:
        raise ParameterError(f"--cmap: unknown colour map {args.cmap!r}; choose from {', '.join(sorted(COLORMAPS))}")
    methods = parse_methods(args.methods)
    net = load_any_model(args.model)
    from lrp_studio.cli_explain import check_fits

    data = check_fits(load_dataset(args.dataset), net)  # a DataError naming the dataset if it does not fit
    if not -len(data) <= args.index < len(data):
        raise DataError(f"--index {args.index} is out of range for {data.name} ({len(data)} samples)")
    x = data.x[args.index][None]
    target = target_fn(args, net.classes)
    logits = net.predict(x)[0]
    t = int(np.argmax(logits)) if target is None else int(target)
    label = data.classes[int(data.y[args.index])] if int(data.y[args.index]) < len(data.classes) else "?"

    perturbation = None
    if not args.no_perturbation:
        perturbation = perturbation_heatmap(net, x, target=t, region=args.perturbation_region)[0]

    rows, maps, titles = [], [], []
    for method in methods:
        started = time.perf_counter()
        exp = explain(net, x, target=t, method=method)
        seconds = time.perf_counter() - started
        total, logit = float(exp.relevance[0].sum()), float(exp.logits[0, t])
        r = correlation(exp.relevance[0], perturbation) if perturbation is not None else float("nan")
        rows.append((method, total, logit, total / logit if logit else float("nan"), r, seconds))
        maps.append(exp.relevance[0])
        lines = [method, f"sum R {total:.3g} / logit {logit:.3g}"]
        if perturbation is not None:
            lines.append(f"r = {r:.2f} vs perturbation")
        titles.append("\n".join(lines))
    if perturbation is not None:
        maps.append(perturbation)
        titles.append("\n".join(["perturbation (mean)", f"sum P {perturbation.sum():.3g} / logit {logits[t]:.3g}",
                                 f"{args.perturbation_region}x{args.perturbation_region} px -> input mean"]))

    print(f"{data.name} sample {args.index} (label {label}); model {args.model}; "
          f"explaining class {net.classes[t]} (logit {logits[t]:.6g}, predicted {net.classes[int(np.argmax(logits))]})")
    header = f"{'method':<22} {'sum R':>10} {'logit':>10} {'ratio':>8}"
    if perturbation is not None:
        header += f" {'r(pert.)':>9}"
    print(header + f" {'time':>9}")
    for method, total, logit, ratio, r, seconds in rows:
        line = f"{method:<22} {total:>10.4g} {logit:>10.4g} {ratio:>8.3f}"
        if perturbation is not None:
            line += f" {r:>9.3f}"
        print(line + f" {seconds * 1e3:>7.1f} ms")
    if perturbation is not None:
        print(f"r(pert.): Pearson correlation with the perturbation heatmap (each {args.perturbation_region}x"
              f"{args.perturbation_region} patch set to the input mean, drop of the target logit)")
    if args.out:
        image = heatmap_grid(maps, titles, scale=args.scale, cmap=args.cmap, level=args.level, zoom=args.zoom,
                             columns=args.columns, image=x[0],
                             image_title=f"input #{args.index}\nlabel {label}, class {net.classes[t]}")
        save_png(args.out, image)
        print(f"wrote {args.out}")
    return 0
