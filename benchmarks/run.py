"""Benchmark entry point: ``python benchmarks/run.py [--quick] [--json out.json]`` (same as ``lrp-studio bench``)."""

import sys

from lrp_studio.cli import main

if __name__ == "__main__":
    sys.exit(main(["bench", *sys.argv[1:]]))
