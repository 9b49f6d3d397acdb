"""``lrp-studio atlas``: the neuron atlas of a model over a dataset, in this process or on a Dask cluster.

For every hidden dense neuron and conv channel: the top-K samples by activation and by relevance
(:mod:`lrp_studio.lrp.atlas`), written to ``OUT/atlas.json`` and ``OUT/atlas.npz``
(:mod:`lrp_studio.app.atlas`). ``--workers N`` starts a local Dask cluster of N processes,
``--scheduler ADDRESS`` uses a running one; the result is the same for any number of workers.
"""

from __future__ import annotations

import argparse

from tqdm import tqdm

from lrp_studio.app.atlas import iter_atlas, save_atlas
from lrp_studio.app.distributed import CHUNK, dask_client, inputs_file
from lrp_studio.cli.cluster import add_cluster
from lrp_studio.cli.options import (
    CLIError,
    Parser,
    add_dataset,
    add_method_flags,
    add_model,
    add_target,
    check_output_folder,
    checked_params,
    given_params,
    load_fitting,
    method_from,
    method_table,
    resolve_target,
)
from lrp_studio.backend import to_numpy
from lrp_studio.errors import ParameterError
from lrp_studio.lrp import BASELINES, default_method
from lrp_studio.zoo import load_any_model


def add_parser(sub: argparse._SubParsersAction) -> Parser:
    """Register ``atlas`` and its options."""
    parser = sub.add_parser("atlas", help="neuron atlas: each unit's top samples by activation and relevance",
                            description="For every hidden dense neuron and conv channel, the samples of the whole "
                                        "dataset that drive it most (activation maximisation) and that it matters "
                                        "most for (relevance maximisation, CRP), written to OUT/atlas.json and "
                                        "OUT/atlas.npz.",
                            epilog=method_table(), formatter_class=argparse.RawDescriptionHelpFormatter)
    add_model(parser)
    add_dataset(parser, "mnist:test")
    parser.add_argument("--top", type=int, default=8, metavar="K", help="references per unit and ranking (default 8)")
    add_target(parser, batch=True)
    add_method_flags(parser, single=True)
    add_cluster(parser)
    parser.add_argument("--chunk-size", type=int, default=CHUNK, metavar="N",
                        help=f"samples per task (default {CHUNK}); runs with the same chunk size give identical results "
                             "for any number of workers (a sample's last float bits may depend on its batch)")
    parser.add_argument("--out", required=True, metavar="DIR", help="folder for atlas.json and atlas.npz")
    return parser


def run(args: argparse.Namespace) -> int:
    """Compute the atlas and write it."""
    if args.top < 1:
        raise ParameterError(f"--top must be >= 1, got {args.top}")
    if args.workers < 1:
        raise ParameterError(f"--workers must be >= 1, got {args.workers}")
    if args.chunk_size < 1:
        raise ParameterError(f"--chunk-size must be >= 1, got {args.chunk_size}")
    check_output_folder(args.out, "--out")
    net = load_any_model(args.model)
    method = method_from(args) or default_method(net)
    if isinstance(method, str) and method in BASELINES:
        raise CLIError(f"--method {method}: a baseline gives no per-layer relevance; choose an LRP method")
    params, bias = checked_params(method, given_params(args), args.no_bias)
    if args.target == "label":
        raise CLIError("--target label: the atlas explains the predicted class or one class for all samples")
    target = resolve_target(args.target, net.classes)
    data = load_fitting(args.dataset, net)
    inputs = inputs_file(to_numpy(net.prepare_input(data.x)))
    with dask_client(args.workers, args.scheduler) as client, \
            tqdm(total=inputs.n, unit="sample", desc="atlas", disable=None) as bar:
        work = iter_atlas(net, inputs, top=args.top, method=method, target=target, bias=bias, params=params,
                          client=client, chunk=args.chunk_size, names=(args.model, args.dataset))
        while True:
            try:
                done, _ = next(work)
            except StopIteration as finished:
                atlas = finished.value
                break
            bar.update(done - bar.n)
    folder = save_atlas(atlas, args.out)
    units = sum(layer.units for layer in atlas.layers)
    print(f"wrote the atlas of {units} units in {len(atlas.layers)} layers over {atlas.n_samples} samples "
          f"(top {atlas.top}) to {folder}/atlas.json and atlas.npz")
    return 0
