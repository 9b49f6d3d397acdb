"""``lrp-studio evaluate --workers N / --scheduler ADDRESS``: the AOPC evaluation in chunks on a Dask cluster.

The selected samples are split into fixed chunks of ``settings.batch_size`` samples (one explanation
batch each, as in the in-process :func:`lrp_studio.lrp.faithfulness.iter_evaluation`); a worker reads
its rows from the memory-mapped inputs file (:func:`lrp_studio.app.distributed.inputs_file`) and
returns every method's per-sample perturbation curves (N_chunk, L+1). The client puts the curves
back in sample order and scores them with :func:`~lrp_studio.lrp.faithfulness.method_score`, the
function the in-process path uses, so AOPC, standard error, AUC and mean curve are computed alike.

The protocol's random numbers are drawn for the whole run (``SeedSequence(seed).spawn(3)``, one
(N, n_regions) array of tie keys and of random-order keys, and for the uniform baseline the
(N, ...) noise over the input range, or over the whole selection's min..max), written next to the
inputs and sliced by each chunk: every sample gets the random numbers it gets in one in-process run.
BLAS runs on one thread per chunk (as in :mod:`lrp_studio.app.atlas`), so any number of workers gives
the same bytes. Against the in-process path (no ``--workers``, kept as it was: multi-threaded BLAS,
forward passes over the whole selection) they differ in the last bits, and where two regions'
relevance sums are that close their removal order swaps: measured on the bundled CNN, 100 balanced
samples, default protocol, mean AOPC 6.36595 vs 6.36668 (gradient), 10.05002 vs 10.05020
(epsilon-plus-flat), per sample at most 0.073; the random row (no relevance) within 5.5e-6.
"""

from __future__ import annotations

import contextlib
import time
from typing import Any, Iterator, Sequence

import numpy as np
from threadpoolctl import threadpool_limits

from lrp_studio.app.distributed import chunk_ranges, inputs_file, read_rows, run_chunks
from lrp_studio.backend import to_numpy
from lrp_studio.io.atomic import atomic_write
from lrp_studio.io.cache import array_digest, cache_dir
from lrp_studio.lrp.faithfulness import (
    RANDOM,
    EvaluationSettings,
    MethodScore,
    baseline_values,
    explain_in_batches,
    iter_evaluation,
    method_score,
    perturbation_curve,
    protocol_rng,
)
from lrp_studio.lrp.outputs import check_targets
from lrp_studio.lrp.perturbation import region_cells
from lrp_studio.nn.network import Network

__all__ = ["chunked_scores", "evaluation_chunk", "iter_scores"]


def _keys_file(keys: np.ndarray) -> str:
    """Write (or reuse) the float64 keys (N, 2, n_regions) as a ``.npy`` in the cache, named by content."""
    keys = np.ascontiguousarray(keys, dtype=np.float64)
    path = cache_dir("inputs") / f"keys-{array_digest([keys])}.npy"
    path.parent.mkdir(parents=True, exist_ok=True)
    if not path.exists():
        atomic_write(path, lambda temp: np.save(temp, keys, allow_pickle=False))
    return str(path)


def _run_draws(net: Network, xb: np.ndarray, settings: EvaluationSettings) -> tuple[str, str | None]:
    """The whole run's random keys file (ties, order) and, for the uniform baseline, its noise file."""
    _, n_regions = region_cells(xb.shape[1:], settings.region)
    shape = (xb.shape[0], n_regions)
    keys = np.stack([protocol_rng(settings.seed, "ties").random(shape),
                     protocol_rng(settings.seed, "order").random(shape)], axis=1)
    noise = None
    if settings.baseline == "uniform":
        fill = baseline_values(xb, "uniform", settings.blur_sigma, net.input_range, settings.seed)
        noise = inputs_file(fill).path
    return _keys_file(keys), noise


def evaluation_chunk(start: int, stop: int, position: int, path: str, keys_path: str, noise_path: str | None,
                     targets: np.ndarray, methods: Sequence[Any], settings: EvaluationSettings, *,
                     net: Network) -> dict[str, tuple[np.ndarray, float]]:
    """One worker task: samples start..stop-1, every method and ``random``: {name: (curves (n, L+1), seconds)}."""
    x = read_rows(path, start, stop)
    keys = np.array(np.load(keys_path, mmap_mode="r", allow_pickle=False)[start:stop])
    fill = None if noise_path is None else read_rows(noise_path, start, stop)
    chunk_targets = np.asarray(targets[start:stop])
    protocol = settings.protocol()
    out: dict[str, tuple[np.ndarray, float]] = {}
    with threadpool_limits(limits=1, user_api="blas"):
        for method in [*methods, RANDOM]:
            began = time.perf_counter()
            name = method if isinstance(method, str) else "custom"
            if method == RANDOM:
                curves = _curves(net, x, None, chunk_targets, "random", keys[:, 1], fill, protocol)
            else:
                relevance = explain_in_batches(net, x, chunk_targets, method, settings.batch_size,
                                               **settings.method_params.get(name, {}))
                curves = _curves(net, x, relevance, chunk_targets, "morf", keys[:, 0], fill, protocol)
            out[name] = (curves, time.perf_counter() - began)
    return out


def _curves(net: Network, x: np.ndarray, relevance: Any, targets: np.ndarray, order: str, keys: np.ndarray,
            fill: np.ndarray | None, protocol: dict[str, Any]) -> np.ndarray:
    """The chunk's curves with the run's keys and noise rows (:func:`perturbation_curve`)."""
    return perturbation_curve(net, x, relevance, targets, order=order, keys=keys, fill=fill, **protocol)


def iter_scores(net: Network, x: Any, targets: np.ndarray, methods: Sequence[Any], settings: EvaluationSettings,
                client: Any = None) -> Iterator[MethodScore]:
    """Every method's :class:`MethodScore`, then ``random``'s: here as today, or in chunks on a cluster.

    ``client`` None: :func:`lrp_studio.lrp.faithfulness.iter_evaluation` in this process (today's
    numbers, multi-threaded BLAS, forward passes over the whole selection). A client:
    :func:`chunked_scores` on its workers. The two are not bit for bit the same: BLAS sums in another
    order with other thread counts and batch sizes, and near-equal regions can swap (module docstring).
    """
    if client is None:
        yield from iter_evaluation(net, x, targets, methods, settings)
        return
    yield from chunked_scores(net, x, targets, methods, settings, client)


def chunked_scores(net: Network, x: Any, targets: np.ndarray, methods: Sequence[Any], settings: EvaluationSettings,
                   client: Any = None) -> list[MethodScore]:
    """The evaluation in fixed chunks of ``settings.batch_size`` samples: one :class:`MethodScore` per method.

    The same numbers for every number of workers, a remote scheduler, or ``client`` None (the chunks
    in this process, one after another): fixed chunks, the whole run's random draws, one BLAS thread.

    Parameters
    ----------
    net : Network
    x : array (N, ...)
        The selected samples (prepared by ``net.prepare_input``).
    targets : ndarray (N,) ints
    methods : method names (or composites), checked by the caller
    settings : EvaluationSettings
        The protocol; ``batch_size`` is also the chunk size.
    client : distributed.Client, optional

    Returns
    -------
    list of MethodScore
        In the order of ``methods``, then ``random``; ``seconds`` is the time summed over the chunks.

    Raises
    ------
    ParameterError
        Bad protocol settings or targets.
    ClusterError
        A worker died; an ``LRPStudioError`` raised on a worker arrives unchanged.
    """
    settings.check()
    xb = np.asarray(to_numpy(net.prepare_input(x)), dtype=np.float32)
    targets = check_targets(np.asarray(targets).reshape(-1), xb.shape[0], net.n_classes)
    inputs = inputs_file(xb)
    keys_path, noise_path = _run_draws(net, xb, settings)
    parts: dict[int, dict[str, tuple[np.ndarray, float]]] = {}
    work = run_chunks(evaluation_chunk, chunk_ranges(inputs.n, settings.batch_size), inputs.path, keys_path,
                      noise_path, targets, list(methods), settings, client=client, shared={"net": net})
    with contextlib.closing(work):
        for position, part in work:
            parts[position] = part
    ordered = [parts[p] for p in sorted(parts)]
    return [method_score(name, np.concatenate([part[name][0] for part in ordered], axis=0),
                         sum(part[name][1] for part in ordered))
            for name in ordered[0]]
