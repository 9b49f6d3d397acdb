"""``lrp-studio tune``: sweep a composite's parameters per layer group, scored by AOPC; print and write the table.

Example: ``lrp-studio tune --model cnn --composite epsilon-gamma-box --samples 100 --csv tune.csv``
sweeps gamma (conv layers) x epsilon (dense layers) on 100 class-balanced MNIST test samples with the
perturbation protocol of ``lrp-studio evaluate``'s defaults, and names the setting with the highest AOPC.
"""

from __future__ import annotations

import argparse
import sys

import numpy as np
from tqdm import tqdm

from lrp_studio.cli.options import CLIError, Parser, add_dataset, add_model, check_output_file, load_fitting
from lrp_studio.lrp.composites import COMPOSITES
from lrp_studio.lrp.faithfulness import EvaluationSettings
from lrp_studio.lrp.outputs import output_classes
from lrp_studio.lrp.rules import RULES
from lrp_studio.lrp.sample_selection import DEFAULT_SELECTION, SELECTIONS, select_samples
from lrp_studio.lrp.tuning import TuneResult, grid_points, iter_tune, make_grid, parameter_groups
from lrp_studio.zoo import load_any_model


def parse_grid(text: str) -> dict[str, list[float]]:
    """``"gamma=0,0.25,1;epsilon=1e-6,0.1"`` -> {name: values} (argparse ``type``)."""
    grid: dict[str, list[float]] = {}
    for part in filter(None, (p.strip() for p in text.split(";"))):
        name, _, values = part.partition("=")
        try:
            grid[name.strip()] = [float(v) for v in values.split(",") if v.strip()]
        except ValueError:
            raise argparse.ArgumentTypeError(f"{part!r} is not NAME=V1,V2,... with numbers") from None
        if not grid[name.strip()]:
            raise argparse.ArgumentTypeError(f"no values for {name.strip()!r}")
    return grid


def add_parser(sub: argparse._SubParsersAction) -> Parser:
    """Register ``tune``."""
    parser = sub.add_parser("tune", help="sweep a composite's parameters per layer group, scored by AOPC",
                            description="Explain N samples with every setting of a grid over the method's "
                                        "parameters (gamma of the conv layers, epsilon of the dense layers, ...), "
                                        "score each by AOPC (region perturbation as in 'evaluate', its default "
                                        "protocol), and print the table and the best setting. The method's "
                                        "default setting is always one of the grid points.")
    add_model(parser, default="cnn")
    add_dataset(parser, "mnist:test")
    parser.add_argument("--composite", "--method", dest="tune_method", default="epsilon-gamma-box", metavar="METHOD",
                        help="composite or rule whose parameters are swept (default epsilon-gamma-box)")
    parser.add_argument("--samples", "--n-samples", dest="n_samples", type=int, default=100, metavar="N",
                        help="number of samples (default 100)")
    parser.add_argument("--select", choices=SELECTIONS, default=DEFAULT_SELECTION,
                        help="which N samples: 'balanced' (default) or 'first'")
    parser.add_argument("--sample-seed", type=int, default=0, help="seed of the balanced choice (default 0)")
    parser.add_argument("--grid", type=parse_grid, default=None, metavar="SPEC",
                        help="values per parameter, e.g. 'gamma=0,0.25,1;epsilon=1e-6,0.1' (default: "
                             "gamma 0,0.1,0.25,0.5,1; epsilon 1e-6,1e-3,0.01,0.1,1; alpha 1,1.5,2,3)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the noise, tie keys and random classes (default 0)")
    parser.add_argument("--csv", default=None, metavar="CSV", help="write the table as CSV")
    parser.add_argument("--json", default=None, metavar="JSON", help="write the table, groups and best as JSON")
    return parser


def run(args: argparse.Namespace) -> int:
    """Sweep, print the table and the best setting, write CSV/JSON."""
    for path, flag in ((args.csv, "--csv"), (args.json, "--json")):
        if path:
            check_output_file(path, flag)
    method = args.tune_method
    if method not in COMPOSITES and method not in RULES:
        raise CLIError(f"--composite {method!r}: give a composite ({', '.join(COMPOSITES)}) or a rule "
                       f"({', '.join(RULES)})")
    net = load_any_model(args.model)
    data = load_fitting(args.dataset, net)
    if not 1 <= args.n_samples <= len(data):
        raise CLIError(f"--samples must be in 1..{len(data)}, got {args.n_samples}")
    groups = parameter_groups(net, method)
    unknown = sorted(set(args.grid or {}) - set(groups))
    if unknown:
        raise CLIError(f"--grid: {method} has no tunable parameter {unknown[0]!r} (it has {', '.join(groups)})")
    grid = make_grid(method, list(groups), args.grid)
    selection = select_samples(data.y, args.n_samples, args.select, args.sample_seed)
    x = net.prepare_input(np.asarray(data.x)[selection.indices])
    targets = output_classes(net.classes, net.n_classes).predicted(net.predict(x)).astype(np.int64)
    settings = EvaluationSettings(seed=args.seed)
    result = TuneResult(method, groups)
    for row in tqdm(iter_tune(net, x, targets, method, grid, settings, args.seed), total=len(grid_points(grid)),
                    desc="tune", unit="setting", file=sys.stderr, leave=False):
        result.rows.append(row)
    print(f"model {args.model}, method {method}: {args.n_samples} samples of {data.name}, {selection.describe()}; "
          f"AOPC by region perturbation (2x2 regions, 50 steps, uniform noise, seed {args.seed}); target predicted")
    for name, layers in groups.items():
        print(f"  {name}: {', '.join(layers)}")
    print("\n".join(result.table()))
    print(result.best_vs_default())
    for path in (args.csv, args.json):
        if path:
            result.save(path)
            print(f"wrote {path}")
    return 0
