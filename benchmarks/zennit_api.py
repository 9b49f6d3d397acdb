"""Public-API batch explanations against Zennit on the bundled models (issue 11 part 4).

Run from an environment with torch and zennit (the project venv has neither; then only our
column is printed)::

    PYTHONPATH=. /work/venv-ref/bin/python benchmarks/zennit_api.py [--blocks 5] [--quick] [--json out.json]

For each bundled model (``mlp``: 784-300-100-10, ``cnn``: conv5x5(16)-pool-conv5x5(32)-pool-100-10),
each method (epsilon-plus-flat and the model's default method) and batch sizes 1 and 256 it times

* ours: ``lrp_studio.explain(net, x, method=..., keep_layers=False)`` (the public lean path,
  input relevance returned as a NumPy array, target = the predicted class);
* Zennit: the same network and weights as a ``torch.nn.Sequential``, the matching Zennit composite
  registered once (``composite.context(model)``), and per call the forward pass plus
  ``torch.autograd.grad`` w.r.t. the input with one-hot(prediction) * logit as ``grad_output``
  (what ``zennit.attribution.Gradient`` does), converted to NumPy.

Timing: a warm-up, then ``--blocks`` alternating blocks (ours, Zennit, ours, ...) of repeated
calls; the figure is the median over all calls. Torch runs with as many threads as NumPy's BLAS
(``threadpoolctl`` when installed, else the CPU count). The relevance of both is compared once
(max |difference| / max |relevance|) so the table compares the same computation.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
import tracemalloc
from typing import Any, Callable

import numpy as np

from lrp_studio import explain
from lrp_studio.backend import describe, tune_host_allocator
from lrp_studio.bench import torch_model
from lrp_studio.data import load_mnist_subset
from lrp_studio.lrp import default_method
from lrp_studio.nn import Network
from lrp_studio.zoo import load_any_model

BATCHES = (1, 256)
TARGET_RATIO = 0.7


def blas_info() -> tuple[int, str]:
    """Threads and kernel architecture of NumPy's BLAS (threadpoolctl), else (CPU count, "unknown")."""
    try:
        from threadpoolctl import threadpool_info
    except ImportError:
        return os.cpu_count() or 1, "unknown"
    pools = [pool for pool in threadpool_info() if pool.get("user_api") == "blas"]
    if not pools:
        return os.cpu_count() or 1, "unknown"
    return max(p["num_threads"] for p in pools), ", ".join(str(p.get("architecture")) for p in pools)


def zennit_runner(net: Network, method: str) -> Callable[[np.ndarray], np.ndarray] | None:
    """A function x (N, C, H, W) -> Zennit relevance (NumPy) for ``method``, or None without zennit.

    The composite is registered once on a torch copy of ``net`` (same weights); each call runs the
    forward pass and one backward pass with one-hot(prediction) * logit as grad_output.
    """
    try:
        import torch
        from zennit.composites import EpsilonAlpha2Beta1, EpsilonGammaBox, EpsilonPlus, EpsilonPlusFlat
    except ImportError:
        return None
    low, high = net.input_range if net.input_range is not None else (0.0, 1.0)
    composites = {"epsilon-plus-flat": EpsilonPlusFlat, "epsilon-plus": EpsilonPlus,
                  "epsilon-alpha2-beta1": EpsilonAlpha2Beta1,
                  "epsilon-gamma-box": lambda: EpsilonGammaBox(low=low, high=high)}
    if method not in composites:
        return None
    model = torch_model(net).eval()
    for parameter in model.parameters():
        parameter.requires_grad_(False)
    composite = composites[method]()
    composite.register(model)

    def run(x: np.ndarray) -> np.ndarray:
        inp = torch.from_numpy(x).requires_grad_(True)  # x is a writable copy (see run)
        out = model(inp)
        grad_output = torch.zeros_like(out)
        rows = torch.arange(out.shape[0])
        best = out.argmax(1)
        grad_output[rows, best] = out[rows, best].detach()
        (relevance,) = torch.autograd.grad((out,), (inp,), grad_outputs=(grad_output,))
        return relevance.numpy().reshape(x.shape)

    return run


def agreement(ours: np.ndarray, theirs: np.ndarray) -> tuple[float, int]:
    """Largest per-sample max |difference| / max |Zennit relevance|, and the number of samples above 1e-5.

    Float32 rounding can flip a near-tie of a max-pooling window between the two frameworks (or
    between batch sizes); the relevance of that window then goes to another input.
    """
    n = ours.shape[0]
    scale = np.maximum(np.abs(theirs).reshape(n, -1).max(axis=1), 1e-30)
    per_sample = np.abs(ours - theirs).reshape(n, -1).max(axis=1) / scale
    return float(per_sample.max()), int((per_sample > 1e-5).sum())


def timed_blocks(runs: dict[str, Callable[[], Any]], blocks: int, per_block: int) -> dict[str, float]:
    """Median ms per call of each run, timed in alternating blocks after one warm-up block each."""
    times: dict[str, list[float]] = {name: [] for name in runs}
    for name, fn in runs.items():
        for _ in range(max(2, per_block // 4)):
            fn()
    for _ in range(blocks):
        for name, fn in runs.items():
            fn()  # the first call after the other framework ran is not timed
            for _ in range(per_block):
                start = time.perf_counter()
                fn()
                times[name].append(time.perf_counter() - start)
    return {name: float(np.median(values)) * 1e3 for name, values in times.items()}


def peak_memory_mb(net: Network, x: np.ndarray, method: str) -> float:
    """Peak traced NumPy allocation (MB) of one lean explanation of ``x``."""
    explain(net, x[:8], method=method, keep_layers=False)
    tracemalloc.start()
    explain(net, x, method=method, keep_layers=False)
    peak = tracemalloc.get_traced_memory()[1] / 2**20
    tracemalloc.stop()
    return peak


def cases(models: tuple[str, ...]) -> list[tuple[str, Network, str]]:
    """(model name, network, method): epsilon-plus-flat and each model's default method."""
    rows = []
    for name in models:
        net = load_any_model(name)
        for method in dict.fromkeys(("epsilon-plus-flat", default_method(net))):
            rows.append((name, net, method))
    return rows


def run(blocks: int, quick: bool, models: tuple[str, ...]) -> dict[str, Any]:
    """Time every case; returns the report (rows of figures) and prints the table."""
    threads, kernels = blas_info()
    try:
        import torch

        torch.set_num_threads(threads)
        torch_version = torch.__version__
    except ImportError:
        torch_version = None
    data = np.ascontiguousarray(load_mnist_subset("test").x[:1024], dtype=np.float32)
    report: dict[str, Any] = {"backend": describe(), "threads": threads, "torch": torch_version, "blas_kernels": kernels,
                              "openblas_coretype": os.environ.get("OPENBLAS_CORETYPE"), "rows": []}
    print(f"backend: {describe()}; torch {torch_version}; {threads} threads; BLAS kernels {kernels} "
          f"(OPENBLAS_CORETYPE={report['openblas_coretype']}); medians of {blocks} alternating blocks")
    print(f"{'model':<6}{'method':<20}{'batch':>6}{'ours ms':>10}{'zennit ms':>11}{'ratio':>7}{'max rel diff':>14}"
          f"{'samples > 1e-5':>16}")
    for name, net, method in cases(models):
        theirs = zennit_runner(net, method)
        for batch in BATCHES:
            x = data[:batch].copy()
            runs: dict[str, Callable[[], Any]] = {
                "ours": lambda: explain(net, x, method=method, keep_layers=False).relevance}
            diff, off = None, None
            if theirs is not None:
                runs["zennit"] = lambda: theirs(x)
                diff, off = agreement(explain(net, x, method=method, keep_layers=False).relevance, theirs(x))
            per_block = (20 if batch == 1 else 4) if quick else (200 if batch == 1 else 15)
            medians = timed_blocks(runs, blocks, per_block)
            ratio = medians["ours"] / medians["zennit"] if "zennit" in medians else None
            row = {"model": name, "method": method, "batch": batch, "ours_ms": medians["ours"],
                   "zennit_ms": medians.get("zennit"), "ratio": ratio, "max_rel_diff": diff, "samples_off": off}
            report["rows"].append(row)
            print(f"{name:<6}{method:<20}{batch:>6}{medians['ours']:>10.3f}"
                  + (f"{medians['zennit']:>11.3f}{ratio:>7.2f}{diff:>14.1e}{off:>16}" if ratio is not None
                     else f"{'-':>11}{'-':>7}{'-':>14}{'-':>16}")
                  + ("" if ratio is None or ratio <= TARGET_RATIO else "  > 0.7"))
    net = load_any_model("cnn")
    report["peak_mb_cnn_b1024"] = peak_memory_mb(net, data, "epsilon-plus-flat")
    print(f"peak memory of one batch-1024 CNN epsilon-plus-flat explanation (keep_layers=False, tracemalloc): "
          f"{report['peak_mb_cnn_b1024']:.1f} MB")
    return report


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--blocks", type=int, default=5, help="alternating timed blocks per framework (default 5)")
    parser.add_argument("--quick", action="store_true", help="fewer calls per block")
    parser.add_argument("--models", default="mlp,cnn", help="comma-separated bundled models (default mlp,cnn)")
    parser.add_argument("--json", metavar="FILE", help="also write the figures as JSON")
    args = parser.parse_args(argv)
    tune_host_allocator()
    report = run(args.blocks, args.quick, tuple(args.models.split(",")))
    if args.json:
        with open(args.json, "w", encoding="utf-8") as handle:
            json.dump(report, handle, indent=2)
    return 0


if __name__ == "__main__":
    sys.exit(main())
