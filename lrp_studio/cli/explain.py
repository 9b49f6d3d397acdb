"""``lrp-studio explain``: one sample explained - prediction, target, conservation, heatmap and arrays."""

from __future__ import annotations

import argparse
import sys
from typing import Any

import numpy as np

from lrp_studio.app.batch_export import ImageOptions, write_heatmap
from lrp_studio.cli.options import (
    Parser,
    add_image,
    add_input,
    add_method_flags,
    add_dataset,
    add_model,
    add_start,
    add_target,
    check_index,
    check_output_file,
    checked_params,
    given_params,
    load_fitting,
    method_from,
    method_label,
    method_table,
    resolve_start,
    resolve_target,
)
from lrp_studio.errors import DataError
from lrp_studio.io import load_input, save_relevance_csv, save_relevance_npy
from lrp_studio.lrp import BASELINES, default_method, explain, flat_on_dense_input, method_info, resolve_rules
from lrp_studio.lrp.ledger import explain_ledger
from lrp_studio.lrp.input_check import range_warning
from lrp_studio.lrp.metrics import ConservationReport, bias_summary, merge_lines
from lrp_studio.lrp.outputs import output_classes
from lrp_studio.nn import Network
from lrp_studio.viz.bars import save_relevance_bars
from lrp_studio.zoo import load_any_model


def add_parser(sub: argparse._SubParsersAction) -> Parser:
    """Register ``explain`` and its options (the method flags come from the declarations)."""
    parser = sub.add_parser("explain", help="explain one sample: prediction, conservation, heatmap",
                            description="Explain one sample: print the prediction, the explained target and the "
                                        "conservation of relevance; write the heatmap and the relevance arrays.",
                            epilog=method_table(), formatter_class=argparse.RawDescriptionHelpFormatter)
    add_model(parser)
    add_dataset(parser, "mnist")
    parser.add_argument("--index", type=int, default=0, help="sample index in the dataset, 0..N-1 (default 0)")
    add_input(parser)
    add_target(parser, batch=False)
    add_start(parser)
    add_method_flags(parser, single=True, legacy=True)
    add_image(parser, upscale=8, legacy_scale=True)
    parser.add_argument("--out", default=None, metavar="PNG", help="write the heatmap PNG here")
    parser.add_argument("--per-channel", action="store_true",
                        help="colour inputs: also write one heatmap per input channel next to --out "
                             "(NAME_c0.png, NAME_c1.png, ...); --out alone draws the channel sum")
    parser.add_argument("--npy", default=None, help="write the input relevance as .npy")
    parser.add_argument("--csv", default=None, help="write the input relevance as .csv")
    parser.add_argument("--layers", action="store_true",
                        help="print relevance per layer (conservation table) and the relevance ledger: per layer what "
                             "came in, what biases and stabilisers absorbed, what went down")
    return parser


def image_options(args: argparse.Namespace) -> ImageOptions:
    """The heatmap options of ``--cmap``, ``--level``, ``--upscale`` and ``--overlay`` (checked)."""
    options = ImageOptions(cmap=args.cmap, level=args.level, upscale=args.upscale, overlay=args.overlay)
    options.check()
    return options


def _sample(args: argparse.Namespace, net: Network) -> tuple[np.ndarray, np.ndarray | None, str, list[str] | None]:
    """The sample (1, *input_shape), its label (1,) or None, where it came from, and its feature names."""
    if args.input:
        loaded = load_input(args.input, net.input_shape, net.input_range, args.polarity, args.framing)
        for note in loaded.notes:
            print(f"note: {note}", file=sys.stderr)
        x = loaded.x
        if x.shape[0] != 1:
            raise DataError(f"{args.input}: holds {x.shape[0]} samples; explain takes one (use export for many)")
        return x, None, f"input {args.input}", None
    data = load_fitting(args.dataset, net)
    index = check_index(args.index, data)
    label = int(data.y[index])
    name = data.classes[label] if label < len(data.classes) else str(label)
    return (data.x[index : index + 1], data.y[index : index + 1], f"{data.name} sample {args.index} (label {name})",
            data.features)


def _write_channels(args: argparse.Namespace, relevance: np.ndarray, x: np.ndarray, net: Network) -> None:
    """``--per-channel``: one heatmap PNG per input channel, ``NAME_c{k}.png`` beside ``--out``."""
    if relevance.ndim != 3:
        raise DataError(f"--per-channel needs image inputs (C, H, W); this model's input is {net.input_shape}")
    stem, _, suffix = args.out.rpartition(".")
    for c in range(relevance.shape[0]):
        path = f"{stem}_c{c}.{suffix}" if stem else f"{args.out}_c{c}.png"
        write_heatmap(path, relevance[c : c + 1], x[c : c + 1], image_options(args), net.input_range)
        print(f"wrote {path}")


def _given_bounds(params: dict[str, Any]) -> tuple[Any, Any] | None:
    """The z-box bounds the user gave (``--low``/``--high``), both or neither; None when not given."""
    if params.get("low") is None or params.get("high") is None:
        return None
    return params["low"], params["high"]


def _flat_note(net: Network, method: Any, params: dict[str, Any]) -> None:
    if isinstance(method, str) and method in BASELINES:
        return
    if flat_on_dense_input(net, resolve_rules(net, method, params)):
        print("note: the flat rule on a dense first layer gives every input the same relevance (each input "
              "feeds every neuron), so the heatmap is uniform; try --method epsilon-plus or --model cnn",
              file=sys.stderr)


def bias_line(method: Any, bias: bool | None, report: ConservationReport, sample: int = 0) -> str:
    """Whether the bias takes part in the rules and what it absorbed (see :func:`lrp_studio.lrp.metrics.bias_summary`)."""
    info = method_info(method)
    return bias_summary(info.kind, info.uses_bias, bias, report, sample, method_label(method))


def run(args: argparse.Namespace) -> int:
    """Explain one sample; print prediction, target and conservation; write the requested files."""
    for path, flag in ((args.out, "--out"), (args.npy, "--npy"), (args.csv, "--csv")):
        check_output_file(path, flag)
    net = load_any_model(args.model)
    method = method_from(args) or default_method(net)
    params, bias = checked_params(method, given_params(args), args.no_bias)
    x, labels, origin, features = _sample(args, net)
    target = resolve_target(args.target, net.classes, labels)
    start = resolve_start(args.start, net.classes, method)
    exp = explain(net, x, target=target, method=method, bias=bias, keep_layers=False, start=start, **params)
    warning = range_warning(x, net.input_range, _given_bounds(params))  # after explain: a bad flag is the one line
    if warning:
        print(f"warning: {warning}", file=sys.stderr)
    _flat_note(net, method, params)
    logits = np.asarray(exp.logits[0])
    outputs = output_classes(net.classes, net.n_classes)
    predicted = int(outputs.predicted(logits)[0])
    probability = float(outputs.probabilities(logits)[0, predicted])
    t = int(exp.targets[0])
    report = exp.conservation()
    print(origin)
    print(f"prediction: class {outputs.names[predicted]} (probability {probability:.4f})")
    print(f"target:     {outputs.describe_target(t, float(logits[t]))}")
    print(f"method:     {method_label(method)}")
    if start.kind != "logit":
        print(f"start:      {start.describe()} (sum {float(report.explained[0]):.6g})")
    print(f"conservation: {report.summary(0)}")
    print(f"bias:       {bias_line(method, bias, report)}")
    if args.layers:
        for stage_name, total in zip(report.stage_names, report.sums[:, 0]):
            print(f"  {stage_name:<16} sum R = {total: .6g}")
        for line in merge_lines(net, report.merge_shares(0)):
            print(f"  {line}")
        if method_info(method).kind != "baseline":
            print("relevance ledger (what each layer received, absorbed in biases / stabilisers, and sent down):")
            ledger = explain_ledger(net, x[:1], target, method, bias=bias, start=start, **params)
            print("\n".join(f"  {line}" for line in ledger.lines(0) + ledger.waterfall_lines(0)))
    if args.out:
        if len(net.input_shape) == 1:  # tabular: a bar chart per feature, not a 1 x F image
            save_relevance_bars(args.out, np.asarray(exp.relevance[0]), features,
                                title=f"{method_label(method)}: relevance per feature, target {outputs.names[t]}")
        else:
            write_heatmap(args.out, exp.relevance[0], x[0], image_options(args), net.input_range)
        print(f"wrote {args.out}")
        if args.per_channel:
            _write_channels(args, np.asarray(exp.relevance[0]), x[0], net)
    if args.npy:
        save_relevance_npy(args.npy, exp.relevance[0])
        print(f"wrote {args.npy}")
    if args.csv:
        save_relevance_csv(args.csv, exp.relevance[0])
        print(f"wrote {args.csv}")
    return 0
