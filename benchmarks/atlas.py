"""Neuron atlas throughput (samples/s) and peak memory per worker, in-process and on a local Dask cluster.

Cases: the bundled CNN (and MLP) over the bundled 5,000-sample MNIST subset, and the CNN over a
60,000-sample file made from the subset (12 copies, each image shifted by its own seeded random
offset of up to 2 pixels, :func:`lrp_studio.data.augment.random_shift`), written once as an .npz.
Each case runs with ``--workers 1`` (this process, no Dask) and with a LocalCluster of 2 worker
processes (one thread each); the cluster's start-up is timed apart. Peak RSS: ``ru_maxrss`` of each
worker process (via ``client.run``; the largest is printed) and of this process (its peak so far: it
loads each dataset whole to write the memory-mapped copy).

    OPENBLAS_NUM_THREADS=1 PYTHONPATH=. .venv/bin/python benchmarks/atlas.py [--quick] [--skip-60k]
"""

from __future__ import annotations

import argparse
import os
import resource
import tempfile
import time
from pathlib import Path

import numpy as np

from lrp_studio.app.atlas import iter_atlas
from lrp_studio.app.distributed import dask_client, inputs_file
from lrp_studio.backend import to_numpy, tune_host_allocator
from lrp_studio.data import load_dataset, load_mnist_subset
from lrp_studio.data.augment import random_shift
from lrp_studio.lrp import default_method
from lrp_studio.zoo import load_any_model


def peak_rss_mb() -> float:
    """Peak resident memory (VmHWM) of the calling process in MB, since start or the last :func:`reset_peak`."""
    with open("/proc/self/status", encoding="ascii") as status:
        for line in status:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024.0
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def reset_peak() -> bool:
    """Reset the process's VmHWM to its current RSS (Linux >= 4.0: ``echo 5 > /proc/self/clear_refs``).

    Workers may be forked from a process that had already loaded a dataset; without the reset their
    peak would include that parent's peak.
    """
    try:
        with open("/proc/self/clear_refs", "w", encoding="ascii") as refs:
            refs.write("5")
        return True
    except OSError:
        return False


def shifted_file(folder: Path, copies: int = 12, seed: int = 0) -> Path:
    """The 60,000-sample file: ``copies`` shifted copies of the bundled subset (x float32, y), made once."""
    path = folder / f"mnist_shift2_x{copies}_seed{seed}.npz"
    if not path.exists():
        data = load_mnist_subset("all")
        rng = np.random.default_rng(seed)
        x = np.concatenate([random_shift(data.x, 2, rng) for _ in range(copies)])
        np.savez(path, x=x, y=np.tile(data.y, copies))
    return path


def run_case(model: str, data_spec: str, workers: int, top: int = 8) -> dict[str, float]:
    """One atlas run; returns samples, seconds, samples/s, cluster start-up and peak RSS figures."""
    net = load_any_model(model)
    data = load_dataset(data_spec)
    inputs = inputs_file(to_numpy(net.prepare_input(data.x)))
    del data
    t0 = time.perf_counter()
    with dask_client(workers) as client:
        if client is not None:
            client.run(reset_peak)
        t1 = time.perf_counter()
        work = iter_atlas(net, inputs, top=top, method=default_method(net), client=client)
        while True:
            try:
                next(work)
            except StopIteration:
                break
        t2 = time.perf_counter()
        workers_rss = list(client.run(peak_rss_mb).values()) if client is not None else []
    return {"samples": inputs.n, "seconds": t2 - t1, "rate": inputs.n / (t2 - t1), "startup": t1 - t0,
            "worker_rss": max(workers_rss) if workers_rss else float("nan"), "client_rss": peak_rss_mb()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="only the bundled subset")
    parser.add_argument("--skip-60k", action="store_true", help="leave out the 60,000-sample file")
    parser.add_argument("--folder", default=None, help="where the 60,000-sample file is written (default: temp)")
    args = parser.parse_args()
    tune_host_allocator()  # as the CLI does (workers do it themselves, lrp_studio.app.distributed)
    folder = Path(args.folder or tempfile.gettempdir())
    cases = [("cnn", "mnist:all"), ("mlp", "mnist:all")]
    if not (args.quick or args.skip_60k):
        cases.append(("cnn", str(shifted_file(folder))))
    print(f"load average {os.getloadavg()[0]:.1f}; numpy {np.__version__}")
    print(f"| model | dataset | samples | workers | s | samples/s | cluster start s | peak RSS per worker MB | "
          f"client peak RSS MB |")
    print("|---|---|---|---|---|---|---|---|---|")
    for model, spec in cases:
        for workers in (1, 2):
            r = run_case(model, spec, workers)
            name = spec if spec.startswith("mnist") else "60k shifted file"
            worker = "-" if workers == 1 else f"{r['worker_rss']:.0f}"
            start = "-" if workers == 1 else f"{r['startup']:.1f}"
            print(f"| {model} | {name} | {r['samples']} | {workers} | {r['seconds']:.1f} | {r['rate']:.0f} | "
                  f"{start} | {worker} | {r['client_rss']:.0f} |", flush=True)


if __name__ == "__main__":
    main()
