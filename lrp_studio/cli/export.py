"""``lrp-studio export``: many samples explained in chunks - one heatmap PNG each, relevance.npy, index.csv.

The files are written by :func:`lrp_studio.app.batch_export.export_batch`, the same function the
GUI's batch export calls.
"""

from __future__ import annotations

import argparse

import numpy as np
from tqdm import tqdm

from lrp_studio.app.batch_export import export_batch
from lrp_studio.app.distributed import dask_client
from lrp_studio.cli.cluster import add_cluster
from lrp_studio.cli.explain import image_options
from lrp_studio.cli.options import (
    Parser,
    add_deprecated,
    add_image,
    add_method_flags,
    add_dataset,
    add_model,
    add_start,
    add_target,
    check_output_folder,
    checked_params,
    class_index,
    given_params,
    load_fitting,
    method_from,
    method_table,
    resolve_start,
    resolve_target,
)
from lrp_studio.data import Dataset
from lrp_studio.errors import DataError, ParameterError
from lrp_studio.lrp import default_method
from lrp_studio.lrp.outputs import output_classes
from lrp_studio.nn import Network
from lrp_studio.zoo import load_any_model


def add_parser(sub: argparse._SubParsersAction) -> Parser:
    """Register ``export`` and its options."""
    parser = sub.add_parser("export", help="heatmap PNGs and relevance .npy for many samples",
                            description="Explain many samples in batches and write one heatmap PNG each "
                                        "(sample_NNNNN_labelL_predP.png), relevance.npy (N, *input shape) and "
                                        "index.csv (index, label, prediction, target, png).",
                            epilog=method_table(), formatter_class=argparse.RawDescriptionHelpFormatter)
    add_model(parser)
    add_dataset(parser, "mnist:test")
    parser.add_argument("--indices", default=None, help="e.g. '0:100' or '3,7,42' (default: all)")
    parser.add_argument("--label", default=None, metavar="CLASS",
                        help="only samples whose true label is this class (index or name)")
    add_deprecated(parser, "--class", "--label", "label")
    parser.add_argument("--misclassified", action="store_true", help="only misclassified samples")
    parser.add_argument("--batch-size", type=int, default=256, help="samples explained at a time (default 256)")
    add_target(parser, batch=True)
    add_start(parser)
    add_method_flags(parser, single=True, legacy=True)
    add_image(parser, upscale=8, legacy_scale=True)
    parser.add_argument("--out-dir", required=True, help="folder for the PNGs, relevance.npy and index.csv")
    add_cluster(parser)
    return parser


def parse_indices(text: str, n: int) -> np.ndarray:
    """``--indices``: a range ``start:stop`` or a list ``3,7,42`` of indices into ``n`` samples.

    Raises
    ------
    DataError
        For text that is neither, or indices outside 0..n-1.
    """
    try:
        if ":" in text:
            start, _, stop = text.partition(":")
            bounds = [int(value) for value in (start, stop) if value.strip()]
            if any(value < 0 for value in bounds):  # -5: would silently mean "the last five"
                raise DataError(f"--indices {text!r}: indices are 0..{n - 1}; negative ones are not counted "
                                "from the end")
            if any(value > n for value in bounds):  # 995:1005 of 1000 would silently stop at 999
                raise DataError(f"--indices {text!r}: the dataset has {n} samples (indices 0..{n - 1}); "
                                f"write at most {n} as the end")
            result = np.arange(n)[slice(int(start) if start else None, int(stop) if stop else None)]
        else:
            result = np.array([int(v) for v in text.split(",") if v.strip()], dtype=np.int64)
    except ValueError:
        raise DataError(f"--indices {text!r}: write a range like 0:100 or a list like 3,7,42") from None
    if result.size and (result.min() < 0 or result.max() >= n):
        raise DataError(f"--indices {text!r}: indices must be in 0..{n - 1}")
    return result


def select(args: argparse.Namespace, data: Dataset, net: Network) -> np.ndarray:
    """Indices chosen by ``--indices``, ``--label`` and ``--misclassified`` (in dataset order)."""
    indices = np.arange(len(data)) if not args.indices else parse_indices(args.indices, len(data))
    if args.label is not None:
        indices = indices[data.y[indices] == class_index(args.label, data.classes, "--label")]
    if args.misclassified:
        predicted = output_classes(net.classes, net.n_classes).predicted(net.predict(data.x[indices]))
        indices = indices[predicted != data.y[indices]]
    if indices.size == 0:
        raise DataError("no samples match the selection")
    return indices


def run(args: argparse.Namespace) -> int:
    """Explain the selected samples in batches and write the files."""
    if args.batch_size < 1:
        raise ParameterError(f"--batch-size must be >= 1, got {args.batch_size}")
    check_output_folder(args.out_dir, "--out-dir")
    net = load_any_model(args.model)
    method = method_from(args) or default_method(net)
    params, bias = checked_params(method, given_params(args), args.no_bias)
    start = resolve_start(args.start, net.classes, method)
    image = image_options(args)
    data = load_fitting(args.dataset, net)
    indices = select(args, data, net)
    target = resolve_target(args.target, net.classes, data.y[indices])
    if start.vector is not None and start.vector.ndim == 2 and start.vector.shape[0] != indices.size:
        raise DataError(f"--start vector: {start.vector.shape[0]} rows for {indices.size} selected samples")
    with dask_client(args.workers, args.scheduler) as client, \
            tqdm(total=indices.size, unit="sample", desc="explaining", disable=None) as bar:
        def progress(done: int, total: int) -> bool:
            bar.update(done - bar.n)
            return True

        result = export_batch(net, data, indices, args.out_dir, method=method, target=target, bias=bias,
                              params=params, image=image, batch_size=args.batch_size, progress=progress,
                              start=start, client=client)
    print(f"wrote {len(result.pngs)} heatmaps, relevance.npy {result.relevance_shape} and index.csv to "
          f"{result.out_dir}")
    return 0
