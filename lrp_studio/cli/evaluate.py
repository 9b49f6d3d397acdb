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

from lrp_studio.app.distributed import dask_client
from lrp_studio.app.distributed_evaluation import iter_scores
from lrp_studio.cli.cluster import add_cluster
from lrp_studio.cli.evaluate_metrics import add_metric_flag, run_metrics
from lrp_studio.cli.options import (
    CLIError,
    Parser,
    add_deprecated,
    add_method_flags,
    add_dataset,
    add_model,
    add_target,
    check_output_file,
    given_params,
    load_fitting,
    method_table,
    params_per_method,
    parse_methods,
    resolve_target,
)
from lrp_studio.cli.evaluate_localisation import localisation_section
from lrp_studio.errors import DataError, ParameterError
from lrp_studio.io import atomic_write
from lrp_studio.lrp.faithfulness import (
    BASELINE_VALUES,
    DEFAULT_BLUR_SIGMA,
    DEFAULT_PER_STEP,
    DEFAULT_REGION,
    DEFAULT_STEPS,
    RANDOM,
    STREAMS,
    TIE_RULE,
    EvaluationSettings,
    MethodScore,
    iter_evaluation,
    paired_difference,
    region_cells,
    removed_percent,
    resolve_per_step,
)
from lrp_studio.lrp.outputs import OUTPUTS, output_classes
from lrp_studio.lrp.sample_selection import DEFAULT_SELECTION, SELECTIONS, select_samples
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


def add_parser(sub: argparse._SubParsersAction) -> Parser:
    """Register ``evaluate`` and its options (the method parameter flags apply to every method taking them)."""
    parser = sub.add_parser("evaluate", help="faithfulness by region perturbation: AOPC per method, JSON, plot",
                            description="Score explanation methods by region perturbation (MoRF, Samek et al. "
                                        "2017): AOPC per method with a random-order reference; JSON report and "
                                        "curve plot. A parameter flag applies to every listed method that takes it. "
                                        "--workers/--scheduler compute the curves on Dask in chunks of --batch-size "
                                        "samples (the same numbers for any number of workers; BLAS rounding "
                                        "makes them differ slightly from the in-process run).",
                            epilog=method_table(), formatter_class=argparse.RawDescriptionHelpFormatter)
    add_model(parser)
    add_dataset(parser, "mnist:test")
    parser.add_argument("--methods", default=DEFAULT_METHODS,
                        help=f"comma-separated method names or 'all' (default {DEFAULT_METHODS})")
    parser.add_argument("--n-samples", type=int, default=100, metavar="N",
                        help="evaluate N samples of the dataset (default 100), chosen by --select")
    parser.add_argument("--select", choices=SELECTIONS, default=DEFAULT_SELECTION,
                        help="which N: 'balanced' (default) takes the classes in turn, each class's samples in a "
                             "seeded random order (--sample-seed); 'first' takes the first N in file order "
                             "(the bundled MNIST splits are sorted by label)")
    parser.add_argument("--sample-seed", type=int, default=0,
                        help="seed of the balanced choice, separate from --seed (default 0)")
    add_deprecated(parser, "--samples", "--n-samples", "n_samples", type=int)
    add_target(parser, batch=True)
    protocol = parser.add_argument_group("perturbation protocol")
    protocol.add_argument("--region", type=int, default=DEFAULT_REGION,
                          help=f"side of the square regions removed, in pixels (default {DEFAULT_REGION})")
    protocol.add_argument("--perturbation-steps", type=int, default=DEFAULT_STEPS, metavar="L",
                          help=f"perturbation steps L (default {DEFAULT_STEPS})")
    add_deprecated(protocol, "--steps", "--perturbation-steps", "perturbation_steps", type=int)
    protocol.add_argument("--per-step", type=_per_step, default=DEFAULT_PER_STEP, metavar="K",
                          help=f"regions removed per step, or 'all' to spread every region over the steps "
                               f"(default {DEFAULT_PER_STEP})")
    protocol.add_argument("--baseline", choices=BASELINE_VALUES, default="uniform",
                          help="what removed regions become: uniform noise over the input range as in Samek et "
                               "al. 2017 (default), the sample's mean, zero, or the blurred sample")
    protocol.add_argument("--blur-sigma", type=float, default=DEFAULT_BLUR_SIGMA,
                          help=f"Gaussian sigma of the blur baseline in pixels (default {DEFAULT_BLUR_SIGMA})")
    protocol.add_argument("--output", choices=OUTPUTS, default="logit",
                          help="the recorded f: the target's logit or its probability (default logit)")
    protocol.add_argument("--seed", type=int, default=0,
                          help="seed of the uniform noise, the random order and the tie-break keys: three "
                             "separate streams, the same for every method and the random row (default 0)")
    parser.add_argument("--reference", default="gradient",
                        help="method for the paired comparison column (default gradient; 'none' to leave out)")
    parser.add_argument("--batch-size", type=int, default=50, help="samples explained at a time (default 50)")
    add_method_flags(parser, single=False)
    parser.add_argument("--out", default=None, metavar="JSON",
                        help="write the report here (required for --metric aopc and localisation, optional otherwise)")
    add_metric_flag(parser)
    parser.add_argument("--plot", default=None, metavar="PNG",
                        help="write the curve plot here (default: the report's path with .png)")
    add_cluster(parser)  # the AOPC curves in chunks of --batch-size samples, the same numbers as in this process
    return parser


def _check(args: argparse.Namespace, n_available: int) -> None:
    if args.n_samples < 1:
        raise ParameterError(f"--n-samples must be >= 1, got {args.n_samples}")
    if args.n_samples > n_available:
        raise DataError(f"--n-samples {args.n_samples}: the dataset has only {n_available} samples")
    if args.region < 1:
        raise ParameterError(f"--region must be >= 1, got {args.region}")
    if args.perturbation_steps < 1:
        raise ParameterError(f"--perturbation-steps must be >= 1, got {args.perturbation_steps}")
    if args.per_step is not None and args.per_step < 1:
        raise ParameterError(f"--per-step must be >= 1 or 'all', got {args.per_step}")
    if args.batch_size < 1:
        raise ParameterError(f"--batch-size must be >= 1, got {args.batch_size}")


def method_params(settings: dict[str, tuple[dict[str, Any], bool | None]]) -> dict[str, dict[str, Any]]:
    """Keywords of :func:`lrp_studio.explain` per method: the given parameters and ``bias`` when given.

    (The evaluation explains through the lean path, ``keep_layers=False``, in
    :func:`lrp_studio.lrp.faithfulness.explain_in_batches`.)
    """
    return {name: {**params, **({"bias": bias} if bias is not None else {})}
            for name, (params, bias) in settings.items()}


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


def protocol_settings(args: argparse.Namespace, settings_by_method: dict) -> EvaluationSettings:
    """The perturbation protocol of the command line options (checked)."""
    settings = EvaluationSettings(region=args.region, steps=args.perturbation_steps, per_step=args.per_step,
                                  baseline=args.baseline, output=args.output, seed=args.seed,
                                  blur_sigma=args.blur_sigma, batch_size=args.batch_size,
                                  method_params=method_params(settings_by_method))
    settings.check()
    return settings


def aopc_by_method(args: argparse.Namespace) -> Any:
    """``(net, x, targets, methods, settings_by_method) -> {method: AOPC}`` with the options' protocol."""
    def scores(net: Any, x: Any, targets: Any, methods: list, settings_by_method: dict) -> dict[str, float]:
        settings = protocol_settings(args, settings_by_method)
        return {s.method: s.aopc for s in iter_evaluation(net, x, targets, methods, settings, include_random=False)}
    return scores


def run(args: argparse.Namespace) -> int:
    """Score the methods by region perturbation; print the table; write the JSON report and the plot.

    ``--metric`` with ``localisation``: also the relevance mass / rank accuracy inside the dataset's masks
    (:mod:`lrp_studio.cli.evaluate_localisation`); with a sanity check (randomisation, random-logit, sparseness,
    complexity): the sanity-check table of :mod:`lrp_studio.cli.evaluate_metrics` instead.
    """
    metrics = args.metric
    if any(name not in ("aopc", "localisation") for name in metrics):
        if "localisation" in metrics:
            raise CLIError("--metric: run localisation (with or without aopc) apart from the sanity checks")
        _check(args, args.n_samples)
        if args.workers != 1 or args.scheduler is not None:
            raise CLIError("--workers/--scheduler apply to --metric aopc/localisation, not the sanity checks")
        return run_metrics(args, aopc_by_method(args))
    if args.out is None:
        raise CLIError(f"--out JSON is required for --metric {','.join(metrics)} (where the report is written)")
    methods = parse_methods(args.methods)
    if RANDOM in methods:
        raise ParameterError("--methods: 'random' is always added as the reference; leave it out")
    settings_by_method = params_per_method(methods, given_params(args), args.no_bias)
    reference = None if args.reference.lower() == "none" else args.reference
    if reference is not None and reference not in methods:
        reference = None
    out = Path(args.out)
    plot = Path(args.plot) if args.plot else out.with_suffix(".png")
    check_output_file(args.out, "--out")
    check_output_file(str(plot), "--plot")
    net = load_any_model(args.model)
    data = load_fitting(args.dataset, net)
    _check(args, len(data))
    n = args.n_samples
    selection = select_samples(data.y, n, args.select, args.sample_seed)
    labels = np.asarray(data.y)[selection.indices]
    x = net.prepare_input(np.asarray(data.x)[selection.indices])
    outputs = output_classes(net.classes, net.n_classes)
    predicted = outputs.predicted(net.predict(x))
    target = resolve_target(args.target, net.classes, labels)
    if target is None:  # the predicted class's output unit (a one-output model: its logit z)
        target = 0 if outputs.binary else predicted
    targets = np.broadcast_to(np.asarray(target, dtype=np.int64), (n,)).copy()
    local = None
    if "localisation" in metrics:
        local = localisation_section(net, data, selection.indices, targets, methods,
                                     method_params(settings_by_method), args.batch_size)
        print("\n".join(local.lines))
        if "aopc" not in metrics:
            atomic_write(out, lambda temp: Path(temp).write_text(json.dumps(
                {"model": str(args.model), "dataset": data.name, "samples": int(n), "selection": selection.as_dict(),
                 "target": args.target or "predicted", "localisation": local.report}, indent=1), encoding="utf-8"))
            print(f"wrote {out}")
            return 0
    settings = protocol_settings(args, settings_by_method)
    _, n_regions = region_cells(net.input_shape, args.region)
    per_step = resolve_per_step(n_regions, args.perturbation_steps, args.per_step)

    started = time.perf_counter()
    scores: dict[str, MethodScore] = {}
    names = [*methods, RANDOM]
    with dask_client(args.workers, args.scheduler) as client, \
            tqdm(total=len(names), desc="evaluate", unit="method", file=sys.stderr, leave=False) as bar:
        bar.set_postfix_str(names[0])
        for score in iter_scores(net, x, targets, methods, settings, client):
            scores[score.method] = score
            bar.update(1)
            if len(scores) < len(names):
                bar.set_postfix_str(names[len(scores)])
    elapsed = time.perf_counter() - started

    accuracy = float(np.mean(predicted == labels))
    shape = "x".join(str(v) for v in net.input_shape)
    protocol = (f"{n} samples of {data.name}, {selection.describe()} (accuracy {100 * accuracy:.1f}%), target {args.target or 'predicted'}; "
                f"{args.region}x{args.region} regions ({n_regions} of input {shape}), {args.perturbation_steps} steps x "
                f"{per_step} region(s), removed regions -> {args.baseline}, f = target {args.output}; "
                f"equal scores in seeded random order, seed {args.seed}")
    print(f"model {args.model}: {protocol}")
    print("AOPC = mean over samples of 1/(L+1) sum_k f(x^0) - f(x^k), most relevant regions first; "
          "higher = more faithful")
    for line in format_table(scores, reference):
        print(line)
    print(f"total {elapsed:.1f} s")

    x_percent = removed_percent(n_regions, args.perturbation_steps, per_step)
    report: dict[str, Any] = {
        "model": str(args.model), "dataset": data.name, "samples": int(n), "target": args.target or "predicted",
        "selection": selection.as_dict(), "accuracy": accuracy,
        "protocol": {"region": args.region, "regions": n_regions, "steps": args.perturbation_steps, "per_step": per_step,
                     "baseline": args.baseline, "blur_sigma": args.blur_sigma, "output": args.output,
                     "order": "morf", "seed": args.seed, "ties": TIE_RULE,
                     "streams": f"numpy SeedSequence(seed).spawn({len(STREAMS)}): {', '.join(STREAMS)}"},
        "removed_percent": [float(v) for v in x_percent],
        "reference": reference,
        "methods": {name: score.as_dict() for name, score in scores.items()},
        "seconds": elapsed,
        **({"localisation": local.report} if local is not None else {}),
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
                    title=f"Region perturbation (MoRF), {n} {'class-balanced ' if selection.mode == 'balanced' else 'first '}samples, model {Path(str(args.model)).stem}",
                    xlabel=f"input removed (% of {n_regions} regions of {args.region}x{args.region} px, -> {args.baseline})",
                    ylabel=f"mean target {args.output}")
    print(f"wrote {out} and {plot}")
    return 0
