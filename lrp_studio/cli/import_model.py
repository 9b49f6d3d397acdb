"""``lrp-studio import``: turn an ONNX model or a PyTorch state dict into an LRP Studio model file."""

from __future__ import annotations

import argparse
import sys

from lrp_studio.cli.options import check_output_file
from lrp_studio.errors import LRPStudioError
from lrp_studio.io import MissingModelInfo, save_model
from lrp_studio.io.importing import import_model_with_notes

_FLAGS = {
    "input_shape": "pass --input-shape, e.g. --input-shape 1,28,28 (one sample, no batch axis)",
    "arch": "pass --arch with the architecture as JSON (or a .json file) or a text spec, e.g. "
            "--arch 'conv:8:5,bn,relu,maxpool:2,flatten,dense:10'",
}


class ImportCommandError(LRPStudioError):
    """A model cannot be imported without information only the user has."""


def add_parser(sub: argparse._SubParsersAction) -> argparse.ArgumentParser:
    """Register ``lrp-studio import`` and its options."""
    parser = sub.add_parser(
        "import", help="import an ONNX model or a PyTorch state dict (.safetensors/.npz) as a model file",
        description="Import a sequential ONNX graph or a torch.nn.Sequential state dict and save it as an "
                    "LRP Studio model file (.npz). BatchNorm is merged into the layer before it; a final "
                    "Softmax is dropped. Pickled PyTorch files (.pt/.pth) are never loaded.")
    parser.add_argument("source", metavar="SRC", help="model.onnx, weights.safetensors or state_dict.npz")
    parser.add_argument("--arch", default=None, metavar="JSON_OR_SPEC",
                        help="state dicts: the architecture as JSON, a .json file, or a text spec like "
                             "'conv:8:5,bn,relu,maxpool:2,flatten,dense:10' (one token per Sequential module)")
    parser.add_argument("--input-shape", default=None, metavar="C,H,W",
                        help="one sample's shape, e.g. 1,28,28 or 784 (needed when the file does not fix it)")
    parser.add_argument("--input-range", default=None, metavar="LOW,HIGH",
                        help="value range of the inputs, e.g. 0,1 (used by the zbox rule)")
    parser.add_argument("--mean", default=None, metavar="M1,M2,...",
                        help="input normalisation the model was trained with: per-channel mean in input units "
                             "(with --std), e.g. 0.485,0.456,0.406; stored as the model's first node")
    parser.add_argument("--std", default=None, metavar="S1,S2,...",
                        help="per-channel standard deviation of the normalisation (with --mean), e.g. 0.229,0.224,0.225")
    parser.add_argument("--classes", default=None, metavar="A,B,...",
                        help="class names, comma-separated or a JSON list (default: from the file, else 0..N-1)")
    parser.add_argument("--out", required=True, metavar="MODEL.npz", help="model file to write (.npz)")
    return parser


def run(args: argparse.Namespace) -> int:
    """Import ``args.source``, save it to ``args.out`` and print a summary."""
    check_output_file(args.out, "--out")
    try:
        net, notes = import_model_with_notes(args.source, args.input_shape, args.input_range, args.classes, args.arch,
                                             args.mean, args.std)
    except MissingModelInfo as missing:
        raise ImportCommandError(missing.with_hint(_FLAGS.get(missing.what, f"give {missing.what}"))) from None
    path = save_model(net, args.out)
    n_params = sum(int(v.size) for v in net.state_dict().values())
    layers = ", ".join(layer.type_name for layer in net.layers)
    print(f"imported {args.source}: {len(net.layers)} layers ({layers}), {n_params:,} parameters")
    classes = ", ".join(net.classes[:12]) + (", ..." if len(net.classes) > 12 else "")
    print(f"input shape {net.input_shape}, {net.n_classes} classes ({classes})")
    for note in notes:
        print(f"  {note}")
    if net.input_range is None:
        print("note: no input range is known; the zbox rule (epsilon-gamma-box, deep-taylor) then assumes 0..1. "
              "Re-import with --input-range LOW,HIGH or pass --low/--high when explaining.", file=sys.stderr)
    else:
        print(f"input range {net.input_range[0]:g} .. {net.input_range[1]:g}")
    print(f"wrote {path}")
    return 0
