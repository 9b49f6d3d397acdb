"""``--workers`` and ``--scheduler``: where a command's dataset-wide work runs (:mod:`lrp_studio.app.distributed`)."""

from __future__ import annotations

import argparse

__all__ = ["add_cluster"]


def add_cluster(parser: argparse.ArgumentParser) -> None:
    """Add ``--workers N`` (a local Dask cluster of N processes; 1 = this process) and ``--scheduler ADDRESS``."""
    group = parser.add_argument_group("where the work runs (Dask)")
    group.add_argument("--workers", type=int, default=1, metavar="N",
                       help="start a local Dask cluster of N worker processes (default 1: no cluster, this process)")
    group.add_argument("--scheduler", default=None, metavar="ADDRESS",
                       help="use a running Dask cluster, e.g. tcp://10.0.0.5:8786 (workers must see the model "
                            "and cache files: set LRP_STUDIO_CACHE_DIR to a shared folder)")
