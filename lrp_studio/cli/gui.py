"""``lrp-studio gui`` (the default command): open the desktop application, or render a screenshot."""

from __future__ import annotations

import argparse

from lrp_studio.cli.options import add_dataset, add_model


def add_parser(sub: argparse._SubParsersAction) -> argparse.ArgumentParser:
    """Register ``gui`` and its options (Qt is imported only when the command runs)."""
    parser = sub.add_parser("gui", help="open the desktop application (the default)",
                            description="Open the desktop application on a model and a dataset.")
    add_model(parser, None, "the bundled mlp")
    add_dataset(parser, None, "mnist, the bundled MNIST subset")
    parser.add_argument("--screenshot", metavar="PNG", help="render the window at 1600x1000 to PNG and exit")
    parser.add_argument("--sample", type=int, default=0, help="sample index shown (screenshot mode)")
    parser.add_argument("--method", default=None, help="method shown (screenshot mode)")
    parser.add_argument("--select", default=None, metavar="LAYER:NEURON", help="neuron selected (screenshot mode)")
    return parser


def run(args: argparse.Namespace) -> int:
    """Open the window (or write the screenshot); returns the application's exit status."""
    from lrp_studio.cli.options import check_output_file

    check_output_file(getattr(args, "screenshot", None), "--screenshot")  # before Qt starts
    from lrp_studio.gui.app import run_gui

    return run_gui(args)
