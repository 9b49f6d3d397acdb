"""``lrp-studio compare``: one sample explained by many methods, as a table and a heatmap grid.

Each method's input relevance is shown with its conservation figure (sum of input relevance
against the explained logit) and its correlation with the notes' perturbation heatmap (each
input pixel replaced by the input's mean, change of the target logit).
"""

from __future__ import annotations

import argparse

import numpy as np

from lrp_studio.cli.options import (
    Parser,
    add_deprecated,
    add_method_flags,
    add_dataset,
    add_model,
    add_start,
    add_target,
    check_index,
    check_output_file,
    given_params,
    load_fitting,
    method_table,
    params_per_method,
    parse_methods,
    resolve_start,
    resolve_target,
)
from lrp_studio.lrp import explain, method_info
from lrp_studio.lrp.outputs import OutputClasses, output_classes
from lrp_studio.lrp.perturbation import correlation, perturbation_heatmap
from lrp_studio.viz import COLORMAPS, save_png
from lrp_studio.viz.grid import heatmap_grid
from lrp_studio.zoo import load_any_model


def add_parser(sub: argparse._SubParsersAction) -> Parser:
    """Register ``compare`` and its options (the method parameter flags apply to every method taking them)."""
    parser = sub.add_parser("compare", help="one sample explained by many methods: table and heatmap grid",
                            description="Explain one sample with several methods; print each method's conservation "
                                        "and its correlation with the perturbation heatmap; write a heatmap grid. "
                                        "A parameter flag applies to every listed method that takes it.",
                            epilog=method_table(), formatter_class=argparse.RawDescriptionHelpFormatter)
    add_model(parser)
    add_dataset(parser, "mnist")
    parser.add_argument("--index", type=int, default=0, help="sample index in the dataset, 0..N-1 (default 0)")
    parser.add_argument("--methods", default="all", help="comma-separated method names, or 'all' (default all)")
    add_target(parser, batch=False)
    add_start(parser)
    add_method_flags(parser, single=False)
    group = parser.add_argument_group("heatmap grid")
    group.add_argument("--color-scale", choices=("shared", "each"), default="shared",
                       help="one colour scale for all heatmaps (with a colour bar), or each its own (default shared)")
    add_deprecated(group, "--scale", "--color-scale", "color_scale", choices=("shared", "each"))
    group.add_argument("--cmap", default="bwr", choices=sorted(COLORMAPS), help="colour map (default bwr)")
    group.add_argument("--level", type=float, default=1.0, help="contrast: >1 saturates sooner (default 1)")
    group.add_argument("--upscale", type=int, default=5, metavar="N",
                       help="pixels per input pixel in the grid (default 5)")
    add_deprecated(group, "--zoom", "--upscale", "upscale", type=int)
    group.add_argument("--columns", type=int, default=None, help="cells per row (default up to 6)")
    parser.add_argument("--perturbation-region", type=int, default=1, metavar="PX",
                        help="patch size of the perturbation heatmap (default 1 = every pixel)")
    parser.add_argument("--no-perturbation", action="store_true",
                        help="leave out the perturbation heatmap and the correlation column")
    parser.add_argument("--out", default=None, metavar="PNG", help="write the comparison grid here")
    return parser


def run(args: argparse.Namespace) -> int:
    """Explain one sample with every chosen method; print the table; write the grid PNG."""
    check_output_file(args.out, "--out")
    methods = parse_methods(args.methods)
    settings = params_per_method(methods, given_params(args), args.no_bias)
    net = load_any_model(args.model)
    data = load_fitting(args.dataset, net)
    index = check_index(args.index, data)
    x = data.x[index][None]
    target = resolve_target(args.target, net.classes, data.y[index : index + 1])
    chosen_start = resolve_start(args.start, net.classes)
    # baselines explain one logit: they keep the default start (said below the table)
    starts = {method: None if method_info(method).kind == "baseline" else chosen_start for method in methods}
    logits = np.asarray(net.predict(x))[0]
    outputs = output_classes(net.classes, net.n_classes)
    predicted = int(outputs.predicted(logits)[0])
    if target is None:  # the predicted class's output unit (a one-output model: its logit z)
        target = 0 if outputs.binary else predicted
    t = int(np.asarray(target).reshape(-1)[0])
    label = data.classes[int(data.y[index])] if int(data.y[index]) < len(data.classes) else "?"

    perturbation = None
    if not args.no_perturbation:
        perturbation = perturbation_heatmap(net, x, target=t, region=args.perturbation_region)[0]

    rows, maps, titles = [], [], []
    for method in methods:
        params, bias = settings[method]
        exp = explain(net, x, target=t, method=method, bias=bias, keep_layers=False, start=starts[method], **params)
        milliseconds = exp.timings["forward"] + exp.timings["relevance"]
        total, logit = float(exp.relevance[0].sum()), float(exp.conservation().explained[0])
        r = correlation(exp.relevance[0], perturbation) if perturbation is not None else float("nan")
        rows.append((method, total, logit, total / logit if logit else float("nan"), r, milliseconds))
        maps.append(exp.relevance[0])
        lines = [method, f"sum R {total:.3g} / logit {logit:.3g}"]
        if perturbation is not None:
            lines.append(f"r = {r:.2f} vs perturbation")
        titles.append("\n".join(lines))
    if perturbation is not None:
        maps.append(perturbation)
        titles.append("\n".join(["perturbation (mean)", f"sum P {perturbation.sum():.3g} / logit {logits[t]:.3g}",
                                 f"{args.perturbation_region}x{args.perturbation_region} px -> input mean"]))
    _print_table(args, data.name, label, outputs, logits, t, predicted, rows, perturbation is not None)
    if chosen_start.kind != "logit":
        print(f"start {chosen_start.describe()}: the 'logit' column holds the start total for the LRP methods; "
              "baselines explain the target logit")
    if args.out:
        image = heatmap_grid(maps, titles, scale=args.color_scale, cmap=args.cmap, level=args.level,
                             zoom=args.upscale, columns=args.columns, image=x[0],
                             image_title=f"input #{args.index}\nlabel {label}, class {outputs.target_name(t)}")
        save_png(args.out, image)
        print(f"wrote {args.out}")
    return 0


def _print_table(args: argparse.Namespace, dataset: str, label: str, outputs: OutputClasses, logits: np.ndarray,
                 t: int, predicted: int, rows: list[tuple], with_perturbation: bool) -> None:
    print(f"{dataset} sample {args.index} (label {label}); model {args.model}; "
          f"explaining {outputs.describe_target(t, float(logits[t]))}, predicted class {outputs.names[predicted]}")
    header = f"{'method':<22} {'sum R':>10} {'logit':>10} {'ratio':>8}"
    if with_perturbation:
        header += f" {'r(pert.)':>9}"
    print(header + f" {'time':>9}")
    for method, total, logit, ratio, r, milliseconds in rows:
        line = f"{method:<22} {total:>10.4g} {logit:>10.4g} {ratio:>8.3f}"
        if with_perturbation:
            line += f" {r:>9.3f}"
        print(line + f" {milliseconds:>7.1f} ms")
    if with_perturbation:
        print(f"r(pert.): Pearson correlation with the perturbation heatmap (each {args.perturbation_region}x"
              f"{args.perturbation_region} patch set to the input mean, drop of the target logit)")
