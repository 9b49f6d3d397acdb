"""``lrp-studio`` command line: gui (default), train, explain, export, bench.

Errors in user input print one line on stderr and exit with status 2; Ctrl-C exits with 130.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np

from lrp_studio.errors import LRPStudioError

METHOD_PARAMS = ("epsilon", "alpha", "beta", "gamma", "low", "high", "steps", "samples", "noise", "patch")


class CLIError(LRPStudioError):
    """A usage problem found by the command line itself."""


def _common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--backend", choices=("auto", "numpy", "cupy"), default=None,
                        help="array backend (default: $LRP_STUDIO_BACKEND or auto = CuPy when a GPU is usable)")


def _model_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--model", default="mlp",
                        help="model file (.npz) or a bundled model: mlp (784-300-100-10) or cnn (default: mlp)")


def _method_args(parser: argparse.ArgumentParser) -> None:
    from lrp_studio.lrp import METHODS

    group = parser.add_argument_group("explanation method")
    group.add_argument("--method", default=None, choices=METHODS, metavar="NAME",
                       help=f"one of: {', '.join(METHODS)} (default: epsilon-plus-flat for CNNs, "
                            "epsilon-plus for networks starting with a dense layer)")
    group.add_argument("--rules", default=None, metavar="MAP",
                       help="custom composite instead of --method, e.g. '1:flat,3:zplus,5:epsilon' (layer index:rule)")
    group.add_argument("--epsilon", type=float, help="epsilon of the epsilon rule (default 0.25)")
    group.add_argument("--alpha", type=float, help="alpha of alphabeta (default 2)")
    group.add_argument("--beta", type=float, help="beta of alphabeta (default 1; alpha - beta = 1)")
    group.add_argument("--gamma", type=float, help="gamma of the gamma rule (default 0.25)")
    group.add_argument("--low", type=float, help="zbox lower input bound (default: the model's input range)")
    group.add_argument("--high", type=float, help="zbox upper input bound (default: the model's input range)")
    group.add_argument("--no-bias", action="store_true", help="leave biases out of the rules' denominators")
    group.add_argument("--steps", type=int, help="integrated-gradients steps (default 32)")
    group.add_argument("--samples", type=int, help="smoothgrad samples (default 32)")
    group.add_argument("--noise", type=float, help="smoothgrad noise as a fraction of the input range (default 0.1)")
    group.add_argument("--patch", type=int, help="occlusion patch size (default 4)")
    group.add_argument("--target", default=None,
                       help="class to explain, as index or class name (default: the predicted class)")


def _image_args(parser: argparse.ArgumentParser) -> None:
    from lrp_studio.viz import COLORMAPS

    group = parser.add_argument_group("heatmap image")
    group.add_argument("--cmap", default="bwr", choices=sorted(COLORMAPS), help="colour map (default bwr)")
    group.add_argument("--level", type=float, default=1.0, help="contrast: >1 saturates sooner (default 1)")
    group.add_argument("--scale", type=int, default=8, help="nearest-neighbour upscaling factor (default 8)")
    group.add_argument("--overlay", action="store_true", help="blend the heatmap over the input image")


def build_parser() -> argparse.ArgumentParser:
    """The full argument parser (sub-commands gui, train, explain, export, bench)."""
    parser = argparse.ArgumentParser(prog="lrp-studio", description="See inside neural networks with LRP.")
    _common(parser)
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    gui = sub.add_parser("gui", help="open the desktop application (the default)")
    _common(gui)
    gui.add_argument("--model", default=None, help="model file or bundled name (default: bundled mlp)")
    gui.add_argument("--dataset", default=None, help="dataset spec (default: the bundled MNIST subset)")
    gui.add_argument("--screenshot", metavar="PNG", help="render the window at 1600x1000 to PNG and exit")
    gui.add_argument("--sample", type=int, default=0, help="sample index shown (screenshot mode)")
    gui.add_argument("--method", default=None, help="method shown (screenshot mode)")
    gui.add_argument("--select", default=None, metavar="LAYER:NEURON", help="neuron selected (screenshot mode)")

    train = sub.add_parser("train", help="train a network and save it as a model file")
    _common(train)
    train.add_argument("--arch", default="mlp",
                       help="mlp, cnn, mlp:H1,H2 or a layer list like 'conv:8:5,relu,maxpool:2,dense:10'")
    train.add_argument("--dataset", default="mnist:train", help="training data spec (default mnist:train)")
    train.add_argument("--validation", default=None, help="validation data spec (default: mnist:test for MNIST)")
    train.add_argument("--epochs", type=int, default=10)
    train.add_argument("--batch-size", type=int, default=64)
    train.add_argument("--lr", type=float, default=0.05)
    train.add_argument("--optimizer", default="momentum", choices=("sgd", "momentum", "adam"))
    train.add_argument("--loss", default=None, choices=("cross-entropy", "bce", "mse"),
                       help="default: cross-entropy (bce for two-class data with a 1-output network)")
    train.add_argument("--seed", type=int, default=0)
    train.add_argument("--out", required=True, help="model file to write (.npz)")

    explain = sub.add_parser("explain", help="explain one sample: prediction, conservation, heatmap")
    _common(explain)
    _model_args(explain)
    explain.add_argument("--dataset", default="mnist", help="mnist, mnist:test, toy:NAME or a file (default mnist)")
    explain.add_argument("--index", type=int, default=0, help="sample index in the dataset (default 0)")
    explain.add_argument("--input", default=None, metavar="FILE.npy", help="explain this array instead of a dataset sample")
    _method_args(explain)
    _image_args(explain)
    explain.add_argument("--out", default=None, metavar="PNG", help="write the heatmap PNG here")
    explain.add_argument("--npy", default=None, help="write the input relevance as .npy")
    explain.add_argument("--csv", default=None, help="write the input relevance as .csv")
    explain.add_argument("--layers", action="store_true", help="print relevance per layer (conservation table)")

    export = sub.add_parser("export", help="heatmap PNGs and relevance .npy for many samples")
    _common(export)
    _model_args(export)
    export.add_argument("--dataset", default="mnist:test", help="dataset spec (default mnist:test)")
    export.add_argument("--indices", default=None, help="e.g. '0:100' or '3,7,42' (default: all)")
    export.add_argument("--class", dest="label", type=int, default=None, help="only samples with this label")
    export.add_argument("--misclassified", action="store_true", help="only misclassified samples")
    export.add_argument("--batch-size", type=int, default=256)
    _method_args(export)
    _image_args(export)
    export.add_argument("--out-dir", required=True, help="folder for the PNGs, relevance.npy and index.csv")

    bench = sub.add_parser("bench", help="time forward, gradient, LRP and training (prints a table)")
    _common(bench)
    bench.add_argument("--quick", action="store_true", help="fewer repetitions")
    bench.add_argument("--json", default=None, help="also write the results as JSON")
    bench.add_argument("--gui", action="store_true",
                       help="also measure GUI latency (sample picked / method changed -> repainted)")
    bench.add_argument("--scaling", action="store_true",
                       help="also time LRP vs batch size and width and report peak memory at batch 1024")

    from lrp_studio.cli_import import add_import_parser

    add_import_parser(sub, _common)  # lrp-studio import SRC --out model.npz

    from lrp_studio.cli_compare import add_compare_arguments
    from lrp_studio.cli_evaluate import add_evaluate_arguments

    compare = sub.add_parser("compare", help="one sample explained by many methods: table and heatmap grid")
    _common(compare)
    _model_args(compare)
    add_compare_arguments(compare)  # lrp-studio compare --model cnn --index 7 --out grid.png
    evaluate = sub.add_parser("evaluate", help="faithfulness by region perturbation: AOPC per method, JSON, plot")
    _common(evaluate)
    _model_args(evaluate)
    add_evaluate_arguments(evaluate)  # lrp-studio evaluate --model cnn --samples 200 --out report.json
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``lrp-studio``; returns the process exit status."""
    parser = build_parser()
    argv = list(sys.argv[1:] if argv is None else argv)
    args = parser.parse_args(argv)
    if args.command is None:
        args = parser.parse_args([*argv, "gui"])
    try:
        if args.backend:
            from lrp_studio.backend import set_backend

            set_backend(args.backend)
        command: Callable[[argparse.Namespace], int] = COMMANDS[args.command]
        return command(args)
    except LRPStudioError as error:
        print(f"lrp-studio: error: {error}", file=sys.stderr)
        return 2
    except OSError as error:
        name = f"{error.filename}: " if getattr(error, "filename", None) else ""
        print(f"lrp-studio: error: {name}{error.strerror or error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("lrp-studio: interrupted", file=sys.stderr)
        return 130


def _gui(args: argparse.Namespace) -> int:
    from lrp_studio.gui.app import run_gui

    return run_gui(args)


def _method_params(args: argparse.Namespace) -> dict[str, Any]:
    params = {name: getattr(args, name) for name in METHOD_PARAMS if getattr(args, name, None) is not None}
    params["bias"] = not args.no_bias
    return params


def _method(args: argparse.Namespace) -> Any:
    """The method name, a custom composite mapping from --rules, or None for the model's default."""
    if not args.rules:
        return args.method
    mapping = {}
    for item in args.rules.split(","):
        index, _, rule = item.partition(":")
        if not rule or not index.strip().isdigit():
            raise CLIError(f"--rules: cannot read {item!r}; write layer:rule pairs like '1:flat,3:zplus'")
        mapping[int(index)] = rule.strip()
    return mapping


def _target(args: argparse.Namespace, classes: list[str]) -> int | None:
    if args.target is None:
        return None
    if args.target in classes:
        return classes.index(args.target)
    try:
        value = int(args.target)
    except ValueError:
        raise CLIError(f"--target {args.target!r} is neither a class index nor one of {classes}") from None
    if not 0 <= value < len(classes):
        raise CLIError(f"--target {value} is out of range 0..{len(classes) - 1}")
    return value


def _explain(args: argparse.Namespace) -> int:
    from lrp_studio.cli_explain import run_explain

    return run_explain(args, _method(args), _method_params(args), _target)


def _export(args: argparse.Namespace) -> int:
    from lrp_studio.cli_explain import run_export

    return run_export(args, _method(args), _method_params(args), _target)


def _train(args: argparse.Namespace) -> int:
    from lrp_studio.cli_train import run_train

    return run_train(args)


def _bench(args: argparse.Namespace) -> int:
    from lrp_studio.bench import run_bench

    return run_bench(quick=args.quick, json_path=args.json, with_scaling=args.scaling, with_gui=args.gui)


def _import(args: argparse.Namespace) -> int:
    from lrp_studio.cli_import import run_import

    return run_import(args)


COMMANDS: dict[str, Callable[[argparse.Namespace], int]] = {
    "gui": _gui, "train": _train, "explain": _explain, "export": _export, "bench": _bench,
    "import": _import,
    "compare": lambda args: __import__("lrp_studio.cli_compare", fromlist=["run_compare"]).run_compare(args, _target),
    "evaluate": lambda args: __import__("lrp_studio.cli_evaluate", fromlist=["run_evaluate"]).run_evaluate(args),
}


if __name__ == "__main__":
    sys.exit(main())
