"""``lrp-studio evaluate``: faithfulness of explanation methods by region perturbation (AOPC).

Prints a table of AOPC per method (with the random-order reference), writes a JSON report and a
PNG plot of the mean perturbation curves.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
from tqdm import tqdm

from lrp_studio.cli_compare import parse_methods
from lrp_studio.data import load_dataset
from lrp_studio.errors import DataError, ParameterError
from lrp_studio.io import atomic_write
from lrp_studio.lrp.faithfulness import (
    BASELINE_VALUES,
    DEFAULT_BLUR_SIGMA,
    DEFAULT_PER_STEP,
    DEFAULT_REGION,
    DEFAULT_STEPS,
    OUTPUTS,
    RANDOM,
    EvaluationSettings,
    MethodScore,
    iter_evaluation,
    paired_difference,
    region_cells,
    removed_percent,
    resolve_per_step,
)
from lrp_studio.viz.curves import PALETTE, save_curves_png
from lrp_studio.zoo import load_any_model

DEFAULT_METHODS = ("epsilon-plus-flat,epsilon-gamma-box,deep-taylor,epsilon-alpha2-beta1,lrp0,gradient,"
                   "gradient-x-input,integrated-gradients,occlusion")


def _per_step(text: str) -> int | None:
    if text.strip().lower() in ("all", "auto"):
        return None
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected an integer >= 1 or 'all', got {text!r}") from None
    return value


def add_evaluate_arguments(parser: argparse.ArgumentParser) -> None:
    """The options of ``lrp-studio evaluate`` (the model/backend options come from cli.py)."""
    parser.add_argument("--dataset", default="mnist:test", help="dataset spec (default mnist:test)")
    parser.add_argument("--methods", default=DEFAULT_METHODS,
                        help=f"comma-separated method names or 'all' (default {DEFAULT_METHODS})")
    parser.add_argument("--samples", type=int, default=100, help="the first N samples of the dataset (default 100)")
    parser.add_argument("--region", type=int, default=DEFAULT_REGION,
                        help=f"side of the square regions removed, in pixels (default {DEFAULT_REGION})")
    parser.add_argument("--steps", type=int, default=DEFAULT_STEPS,
                        help=f"perturbation steps L (default {DEFAULT_STEPS})")
    parser.add_argument("--per-step", type=_per_step, default=DEFAULT_PER_STEP, metavar="K",
                        help=f"regions removed per step, or 'all' to spread every region over the steps "
                             f"(default {DEFAULT_PER_STEP})")
    parser.add_argument("--baseline", choices=BASELINE_VALUES, default="uniform",
                        help="what removed regions become: uniform noise over the input range as in Samek et al. "
                             "2017 (default), the sample's mean, zero, or the blurred sample")
    parser.add_argument("--blur-sigma", type=float, default=DEFAULT_BLUR_SIGMA,
                        help=f"Gaussian sigma of the blur baseline in pixels (default {DEFAULT_BLUR_SIGMA})")
    parser.add_argument("--output", choices=OUTPUTS, default="logit",
                        help="the recorded f: the target's logit or its probability (default logit)")
    parser.add_argument("--target", choices=("predicted", "label"), default="predicted",
                        help="class explained and tracked: the prediction or the true label (default predicted)")
    parser.add_argument("--reference", default="gradient",
                        help="method for the paired comparison column (default gradient; 'none' to leave out)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the random order (default 0)")
    parser.add_argument("--batch-size", type=int, default=50, help="samples explained at a time (default 50)")
    parser.add_argument("--out", required=True, metavar="JSON", help="write the report here")
    parser.add_argument("--plot", default=None, metavar="PNG",
                        help="write the curve plot here (default: the report's path with .png)")


def _check(args: argparse.Namespace, n_available: int) -> None:
    if args.samples < 1:
        raise ParameterError(f"--samples must be >= 1, got {args.samples}")
    if args.samples > n_available:
        raise DataError(f"--samples {args.samples}: the dataset has only {n_available} samples")
    if args.region < 1:
        raise ParameterError(f"--region must be >= 1, got {args.region}")
    if args.steps < 1:
        raise ParameterError(f"--steps must be >= 1, got {args.steps}")
    if args.per_step is not None and args.per_step < 1:
        raise ParameterError(f"--per-step must be >= 1 or 'all', got {args.per_step}")
    if args.batch_size < 1:
        raise ParameterError(f"--batch-size must be >= 1, got {args.batch_size}")


def format_table(scores: dict[str, MethodScore], reference: str | None) -> list[str]:
    """Text rows: AOPC, its standard error, AUC, the paired difference to ``reference``, time."""
    ref = scores.get(reference) if reference else None
    head = f"{'method':<22} {'AOPC':>9} {'± sem':>7} {'AUC':>9}"
    if ref is not None:
        head += f"   {'vs ' + reference + ' (paired)':<26} {'wins':>5}"
    lines = [head + f" {'time':>8}"]
    for name, score in sorted(scores.items(), key=lambda item: -item[1].aopc):
        line = f"{name:<22} {score.aopc:>9.4g} {score.aopc_sem:>7.3f} {score.auc:>9.4g}"
        if ref is not None:
            if name == reference:
                line += f"   {'(reference)':<26} {'':>5}"
            else:
                mean, sem, wins = paired_difference(score.per_sample, ref.per_sample)
                line += f"   {f'{mean:+.3f} ± {sem:.3f}':<26} {100 * wins:>4.0f}%"
        lines.append(line + f" {score.seconds:>6.1f} s")
    return lines


def run_evaluate(args: argparse.Namespace) -> int:
    """Score the methods by region perturbation; print the table; write the JSON report and the plot."""
    methods = parse_methods(args.methods)
    if RANDOM in methods:
        raise ParameterError("--methods: 'random' is always added as the reference; leave it out")
    reference = None if args.reference.lower() == "none" else args.reference
    if reference is not None and reference not in methods:
        reference = None
    out = Path(args.out)
    plot = Path(args.plot) if args.plot else out.with_suffix(".png")
    for path in (out, plot):
        if not path.parent.is_dir():
            raise DataError(f"{path}: the folder {path.parent} does not exist")
    net = load_any_model(args.model)
    from lrp_studio.cli_explain import check_fits

    data = check_fits(load_dataset(args.dataset), net)  # a DataError naming the dataset if it does not fit
    _check(args, len(data))
    x = net.prepare_input(data.x[: args.samples])
    predicted = net.predict(x).argmax(axis=1)
    targets = predicted if args.target == "predicted" else np.asarray(data.y[: args.samples], dtype=np.int64)
    if int(targets.max()) >= net.n_classes:
        raise DataError(f"labels of {data.name} exceed the model's {net.n_classes} classes")
    settings = EvaluationSettings(region=args.region, steps=args.steps, per_step=args.per_step,
                                  baseline=args.baseline, output=args.output, seed=args.seed,
                                  blur_sigma=args.blur_sigma, batch_size=args.batch_size)
    settings.check()
    _, n_regions = region_cells(net.input_shape, args.region)
    per_step = resolve_per_step(n_regions, args.steps, args.per_step)

    started = time.perf_counter()
    scores: dict[str, MethodScore] = {}
    names = [*methods, RANDOM]
    with tqdm(total=len(names), desc="evaluate", unit="method", file=sys.stderr, leave=False) as bar:
        bar.set_postfix_str(names[0])
        for score in iter_evaluation(net, x, targets, methods, settings):
            scores[score.method] = score
            bar.update(1)
            if len(scores) < len(names):
                bar.set_postfix_str(names[len(scores)])
    elapsed = time.perf_counter() - started

    accuracy = float(np.mean(predicted == data.y[: args.samples]))
    shape = "x".join(str(v) for v in net.input_shape)
    protocol = (f"{args.samples} samples of {data.name} (accuracy {100 * accuracy:.1f}%), target {args.target}; "
                f"{args.region}x{args.region} regions ({n_regions} of input {shape}), {args.steps} steps x "
                f"{per_step} region(s), removed regions -> {args.baseline}, f = target {args.output}")
    print(f"model {args.model}: {protocol}")
    print("AOPC = mean over samples of 1/(L+1) sum_k f(x^0) - f(x^k), most relevant regions first; "
          "higher = more faithful")
    for line in format_table(scores, reference):
        print(line)
    print(f"total {elapsed:.1f} s")

    x_percent = removed_percent(n_regions, args.steps, per_step)
    report: dict[str, Any] = {
        "model": str(args.model), "dataset": data.name, "samples": int(args.samples), "target": args.target,
        "accuracy": accuracy,
        "protocol": {"region": args.region, "regions": n_regions, "steps": args.steps, "per_step": per_step,
                     "baseline": args.baseline, "blur_sigma": args.blur_sigma, "output": args.output,
                     "order": "morf", "seed": args.seed},
        "removed_percent": [float(v) for v in x_percent],
        "reference": reference,
        "methods": {name: score.as_dict() for name, score in scores.items()},
        "seconds": elapsed,
    }
    if reference is not None:
        for name, score in scores.items():
            if name != reference:
                mean, sem, wins = paired_difference(score.per_sample, scores[reference].per_sample)
                report["methods"][name]["vs_reference"] = {"mean": mean, "sem": sem, "wins": wins}

    def write(temp: str) -> None:
        with open(temp, "w", encoding="utf-8") as handle:
            json.dump(report, handle, indent=1)

    atomic_write(out, write)
    ordered = sorted(scores.values(), key=lambda s: (s.method == RANDOM, -s.aopc))
    colours = {name: PALETTE[i % len(PALETTE)] for i, name in enumerate(methods)}  # stable across runs
    save_curves_png(plot, {s.method: s.curve_mean for s in ordered}, x_percent,
                    labels={s.method: f"{s.method}  {s.aopc:.3g}" for s in ordered}, legend_title="method  AOPC", colours=colours,
                    title=f"Region perturbation (MoRF), {args.samples} samples, model {Path(str(args.model)).stem}",
                    xlabel=f"input removed (% of {n_regions} regions of {args.region}x{args.region} px, -> {args.baseline})",
                    ylabel=f"mean target {args.output}")
    print(f"wrote {out} and {plot}")
    return 0
