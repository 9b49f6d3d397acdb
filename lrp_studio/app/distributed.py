"""The one path for dataset-wide work in chunks: in this process, or on a Dask cluster (dask.distributed).

``--workers N`` starts a local cluster of N worker processes (one thread each); ``--scheduler ADDRESS``
connects to a running one (``dask scheduler`` / ``dask worker ADDRESS``); ``--workers 1`` without a
scheduler runs every chunk here, without Dask. Inputs are never shipped through the scheduler: they are
written once to a ``.npy`` file (:func:`inputs_file`) that every worker opens memory-mapped and slices
itself (:func:`read_rows`); only the chunk bounds, the model (once per worker) and the small per-chunk
results travel. On a remote cluster the file must be on a path every worker can read (a shared
filesystem; set ``LRP_STUDIO_CACHE_DIR`` there).
"""

from __future__ import annotations

import contextlib
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterator

import numpy as np

from lrp_studio.backend import tune_host_allocator
from lrp_studio.errors import LRPStudioError, ParameterError
from lrp_studio.io.atomic import atomic_write
from lrp_studio.io.cache import array_digest, cache_dir

__all__ = ["ClusterError", "Inputs", "chunk_ranges", "dask_client", "inputs_file", "inputs_path", "read_indices",
           "read_rows", "run_chunks"]

#: Samples per chunk (the unit of work of a worker); fixed, so results do not depend on the worker count.
CHUNK = 256


class ClusterError(LRPStudioError):
    """The Dask cluster could not be started or reached, or a worker failed."""


@dataclass(frozen=True)
class Inputs:
    """A dataset's inputs as one ``.npy`` file (N, *input shape) float32 that workers read memory-mapped."""

    path: str
    n: int


def inputs_file(x: np.ndarray, folder: Path | None = None) -> Inputs:
    """Write (or reuse) the ``.npy`` copy of ``x`` in the cache folder, named by its content digest.

    Parameters
    ----------
    x : ndarray (N, ...)
        The prepared inputs (converted to float32).
    folder : Path, optional
        Default ``cache_dir("inputs")`` (:func:`lrp_studio.io.cache.cache_dir`).
    """
    x = np.ascontiguousarray(x, dtype=np.float32)
    path = inputs_path(x, folder)
    path.parent.mkdir(parents=True, exist_ok=True)
    if not path.exists():
        atomic_write(path, lambda temp: np.save(temp, x, allow_pickle=False))
    return Inputs(str(path), int(x.shape[0]))


def inputs_path(x: np.ndarray, folder: Path | None = None) -> Path:
    """Where :func:`inputs_file` keeps the copy of ``x`` (float32): named by its content digest (nothing written)."""
    folder = cache_dir("inputs") if folder is None else Path(folder)
    return folder / f"inputs-{array_digest([np.ascontiguousarray(x, dtype=np.float32)])}.npy"


def read_rows(path: str, start: int, stop: int) -> np.ndarray:
    """Rows start..stop-1 of a ``.npy`` file, read memory-mapped (only those rows are loaded)."""
    rows = np.load(path, mmap_mode="r", allow_pickle=False)
    return np.array(rows[start:stop], dtype=np.float32)


def read_indices(path: str, indices: np.ndarray) -> np.ndarray:
    """The rows ``indices`` (any order) of a ``.npy`` file, read memory-mapped (only those rows are loaded)."""
    rows = np.load(path, mmap_mode="r", allow_pickle=False)
    return np.array(rows[np.asarray(indices, dtype=np.int64)], dtype=np.float32)


def chunk_ranges(n: int, chunk: int = CHUNK) -> list[tuple[int, int]]:
    """(start, stop) of the chunks of ``n`` samples, ``chunk`` at a time."""
    if chunk < 1:
        raise ParameterError(f"the chunk size must be >= 1, got {chunk}")
    return [(start, min(start + chunk, n)) for start in range(0, n, chunk)]


@contextlib.contextmanager
def dask_client(workers: int = 1, scheduler: str | None = None) -> Iterator[Any]:
    """A ``distributed.Client`` for ``--workers``/``--scheduler``, or None for in-process work.

    Parameters
    ----------
    workers : int
        >= 1. More than 1 (and no scheduler): a ``LocalCluster`` of that many worker processes with one
        thread each on 127.0.0.1, no dashboard, worker logs below CRITICAL silenced (a heartbeat racing
        the close printed a traceback; task errors still reach the client); closed on exit (Ctrl-C included).
    scheduler : str, optional
        Address of a running scheduler (``tcp://host:8786``); ``workers`` is then ignored.

    Raises
    ------
    ParameterError
        workers < 1.
    ClusterError
        The scheduler cannot be reached (10 s) or the cluster cannot start.
    """
    if workers < 1:
        raise ParameterError(f"--workers must be >= 1, got {workers}")
    if scheduler is None and workers == 1:
        yield None
        return
    from distributed import Client, LocalCluster

    with contextlib.ExitStack() as stack:
        try:
            if scheduler is not None:
                client = stack.enter_context(Client(scheduler, timeout="10s"))
            else:
                cluster = stack.enter_context(LocalCluster(  # no dashboard; its HTTP port is any free one
                    n_workers=workers, processes=True, threads_per_worker=1, host="127.0.0.1",
                    dashboard_address=":0", scheduler_kwargs={"dashboard": False}, silence_logs=logging.CRITICAL))
                client = stack.enter_context(Client(cluster))
        except (OSError, TimeoutError) as error:
            where = f"scheduler {scheduler}" if scheduler else f"a local cluster of {workers} workers"
            raise ClusterError(f"cannot use {where}: {error}") from None
        try:
            yield client
        except BaseException:
            _quiet_shutdown()  # Ctrl-C or an error: the cluster is torn down on purpose, the caller reports why
            raise


def _quiet_shutdown() -> None:
    """Silence Dask's loggers: a scheduler closed mid-run logs every message it can no longer send."""
    for name in list(logging.Logger.manager.loggerDict):
        if name == "distributed" or name.startswith("distributed."):
            logging.getLogger(name).setLevel(logging.CRITICAL + 1)


_TUNED: list[bool] = []


def _on_worker(function: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    """Run one chunk on a worker, tuning its allocator first (once per process).

    Dask starts workers with ``MALLOC_TRIM_THRESHOLD_=65536``: glibc then returns every freed
    few-megabyte buffer to the OS and each batch pays its page faults again (measured: a 256-sample
    CNN chunk took 0.6-0.7 s on a worker against 0.2-0.3 s in the client process).
    :func:`lrp_studio.backend.tune_host_allocator` keeps them, as the CLI does in its own process.
    """
    if not _TUNED:
        tune_host_allocator()
        _TUNED.append(True)
    return function(*args, **kwargs)


def run_chunks(function: Callable[..., Any], ranges: list[tuple[int, int]], *args: Any, client: Any = None,
               shared: dict[str, Any] | None = None) -> Iterator[tuple[int, Any]]:
    """Run ``function(start, stop, position, *args, **shared)`` for every chunk; yields (position, result).

    In this process (``client`` None) in chunk order; on the cluster as the chunks complete
    (``distributed.as_completed``). ``shared`` values (the model) are scattered to every worker once.
    Closing the generator early (an exception, Ctrl-C, a cancelled GUI job) cancels the cluster's
    remaining work.

    Raises
    ------
    ClusterError
        A worker died (the message names it); an ``LRPStudioError`` raised by ``function`` on a worker
        arrives unchanged.
    """
    shared = dict(shared or {})
    if client is None:
        for position, (start, stop) in enumerate(ranges):
            yield position, function(start, stop, position, *args, **shared)
        return
    from distributed import as_completed

    scattered = {name: client.scatter(value, broadcast=True, hash=False) for name, value in shared.items()}
    futures = [client.submit(_on_worker, function, start, stop, position, *args, pure=False, **scattered)
               for position, (start, stop) in enumerate(ranges)]
    where = {future.key: position for position, future in enumerate(futures)}
    try:
        for future in as_completed(futures):
            try:
                result = future.result()
            except LRPStudioError:
                raise
            except Exception as error:  # a worker process died, or a bug on a worker
                text = " ".join(str(error).split())  # Dask's messages span lines; the CLI prints one
                raise ClusterError(f"chunk {where[future.key]} failed on the cluster: {type(error).__name__}: {text}"
                                   " (do the scheduler and workers import the same lrp_studio as this process?)"
                                   ) from None
            yield where[future.key], result
    finally:
        client.cancel(futures)
