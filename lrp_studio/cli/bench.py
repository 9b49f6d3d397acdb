"""``lrp-studio bench``: time forward, gradient, LRP and training (and ratios to PyTorch when installed)."""

from __future__ import annotations

import argparse


def add_parser(sub: argparse._SubParsersAction) -> argparse.ArgumentParser:
    """Register ``bench`` and its options."""
    parser = sub.add_parser("bench", help="time forward, gradient, LRP and training (prints a table)",
                            description="Time forward, gradient, LRP and training on the bundled networks.")
    parser.add_argument("--quick", action="store_true", help="fewer repetitions")
    parser.add_argument("--json", default=None, help="also write the results as JSON")
    parser.add_argument("--gui", action="store_true",
                        help="also measure GUI latency (sample picked / method changed -> repainted)")
    parser.add_argument("--scaling", action="store_true",
                        help="also time LRP vs batch size and width and report peak memory at batch 1024")
    return parser


def run(args: argparse.Namespace) -> int:
    """Run the benchmarks and print the table."""
    from lrp_studio.bench import run_bench
    from lrp_studio.cli.options import check_output_file

    check_output_file(args.json, "--json")

    return run_bench(quick=args.quick, json_path=args.json, with_scaling=args.scaling, with_gui=args.gui)
