"""``lrp-studio evaluate --metric``: which scores to compute, a registry the evaluate command dispatches on.

``aopc`` alone (the default) is the region-perturbation table of :mod:`lrp_studio.cli.evaluate`, unchanged.
Any other list prints one table of per-method figures side by side (the sanity checks of
:mod:`lrp_studio.lrp.sanity`, with AOPC as a column when ``aopc`` is listed too), the ranking of the
methods under each figure, and writes them to ``--out`` as JSON when given.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any, Callable

import numpy as np
from tqdm import tqdm

from lrp_studio.cli.options import CLIError, check_output_file, given_params, load_fitting, params_per_method, parse_methods
from lrp_studio.io import atomic_write
from lrp_studio.lrp.outputs import output_classes
from lrp_studio.lrp.sample_selection import select_samples
from lrp_studio.zoo import load_any_model

#: Metric name -> one line of help. ``aopc`` is the region-perturbation table; the others are sanity checks.
METRICS: dict[str, str] = {
    "aopc": "region perturbation, most relevant first (Samek et al. 2017); higher = more faithful",
    "randomisation": "cascading model parameter randomisation (Adebayo et al. 2018) and eMPRT (Hedström et al. 2023)",
    "random-logit": "similarity of a random other class's map (Sixt et al. 2020); lower = more class-specific",
    "sparseness": "Gini index of |R| (Chalasani et al. 2020)",
    "complexity": "entropy of |R| / sum |R| (Bhatt et al. 2020)",
    "localisation": "relevance mass and rank accuracy inside the dataset's ground-truth masks (Arras et al. 2022; "
                    "needs masks, e.g. toy:shapes)",
}


def parse_metrics(text: str) -> tuple[str, ...]:
    """A comma list of :data:`METRICS` names (argparse ``type``); an unknown name is one clear error."""
    names = tuple(dict.fromkeys(n.strip().lower().replace("localization", "localisation")
                                for n in text.split(",") if n.strip()))
    unknown = [n for n in names if n not in METRICS]
    if not names or unknown:
        raise argparse.ArgumentTypeError(f"unknown metric {', '.join(unknown) or repr(text)}; choose from "
                                         f"{', '.join(METRICS)}")
    return names


def add_metric_flag(parser: argparse.ArgumentParser) -> None:
    """``--metric`` (default ``aopc``)."""
    parser.add_argument("--metric", type=parse_metrics, default=("aopc",), metavar="LIST",
                        help="comma list of: " + "; ".join(f"{k}: {v}" for k, v in METRICS.items())
                             + " (default aopc: the table below)")


def sanity_table(scores: dict[str, Any], aopc: dict[str, float] | None, metrics: tuple[str, ...]) -> list[str]:
    """Text rows: one per method, the figures of ``metrics``."""
    columns: list[tuple[str, Callable[[Any], float]]] = []
    if aopc is not None:
        columns.append(("AOPC", lambda s: aopc[s.method]))
    if "randomisation" in metrics:
        columns += [("MPRT rho", lambda s: s.spearman[-1]), ("MPRT SSIM", lambda s: s.ssim[-1]),
                    ("eMPRT", lambda s: s.emprt)]
    if "random-logit" in metrics:
        columns += [("logit rho", lambda s: s.logit_spearman), ("logit SSIM", lambda s: s.logit_ssim)]
    if "sparseness" in metrics:
        columns.append(("Gini", lambda s: s.sparseness))
    if "complexity" in metrics:
        columns.append(("entropy", lambda s: s.complexity))
    lines = [f"{'method':<22}" + "".join(f" {name:>10}" for name, _ in columns)]
    for score in scores.values():
        lines.append(f"{score.method:<22}" + "".join(f" {value(score):>10.3f}" for _, value in columns))
    return lines


def cascade_lines(scores: dict[str, Any]) -> list[str]:
    """MPRT curves: per method, the Spearman / SSIM after each randomised layer (output first)."""
    first = next(iter(scores.values()))
    head = f"{'method':<22} " + " ".join(f"{name[:16]:>17}" for name in first.layers)
    lines = ["MPRT: similarity to the original map (Spearman of |R| / SSIM) after randomising down to", head]
    for s in scores.values():
        lines.append(f"{s.method:<22} " + " ".join(f"{r:>8.3f}/{q:<8.3f}" for r, q in zip(s.spearman, s.ssim)))
    return lines


def run_metrics(args: argparse.Namespace, aopc_scores: Callable[..., dict[str, float]]) -> int:
    """The sanity checks (and AOPC when listed) of every ``--methods`` entry on ``--n-samples`` samples.

    ``aopc_scores(net, x, targets, methods, settings_by_method)`` gives AOPC per method with evaluate's
    protocol options.
    """
    from lrp_studio.lrp.sanity import rankings, sanity_scores

    metrics = args.metric
    methods = parse_methods(args.methods)
    if args.out:
        check_output_file(args.out, "--out")
    settings = params_per_method(methods, given_params(args), args.no_bias)
    params = {name: {**p, **({"bias": b} if b is not None else {})} for name, (p, b) in settings.items()}
    net = load_any_model(args.model)
    data = load_fitting(args.dataset, net)
    if not 1 <= args.n_samples <= len(data):
        raise CLIError(f"--n-samples must be in 1..{len(data)}, got {args.n_samples}")
    selection = select_samples(data.y, args.n_samples, args.select, args.sample_seed)
    x = net.prepare_input(np.asarray(data.x)[selection.indices])
    targets = output_classes(net.classes, net.n_classes).predicted(net.predict(x)).astype(np.int64)
    aopc = aopc_scores(net, x, targets, methods, settings) if "aopc" in metrics else None
    with tqdm(desc="sanity", file=sys.stderr, leave=False) as bar:
        scores = sanity_scores(net, x, targets, methods, metrics, params, seed=args.seed, batch_size=args.batch_size,
                               progress=lambda text: (bar.set_postfix_str(text), bar.update(1)))
    print(f"model {args.model}: {args.n_samples} samples of {data.name}, {selection.describe()}, target predicted; "
          f"seed {args.seed} (randomised weights N(0, sd of the trained layer), random classes)")
    for line in sanity_table(scores, aopc, metrics):
        print(line)
    if "randomisation" in metrics:
        print("\n".join(cascade_lines(scores)))
    order = rankings(scores, aopc)
    print("rankings (best first; MPRT/logit: lower similarity, eMPRT: higher, Gini: higher, entropy: lower):")
    for key, names in order.items():
        print(f"  {key:<22} {' > '.join(names)}")
    if args.out:
        report = {"model": str(args.model), "dataset": data.name, "samples": int(args.n_samples),
                  "selection": selection.as_dict(), "metrics": list(metrics), "seed": args.seed,
                  "methods": {name: {**s.as_dict(), **({"aopc": aopc[name]} if aopc else {})}
                              for name, s in scores.items()},
                  "rankings": order}

        def write(temp: str) -> None:
            with open(temp, "w", encoding="utf-8") as handle:
                json.dump(report, handle, indent=1)

        atomic_write(Path(args.out), write)
        print(f"wrote {args.out}")
    return 0
