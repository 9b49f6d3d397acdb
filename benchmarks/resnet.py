"""The bundled residual model against PyTorch and Zennit in one run (issue 12 part 7).

Run with the project venv (torch and zennit are in its ``test`` extra; without them only our
column is printed)::

    PYTHONPATH=. .venv/bin/python benchmarks/resnet.py [--blocks 5] [--quick] [--json benchmarks/results_resnet.json]

The network is ``lrp_studio.load_model("resnet")`` (``conv3x3(16)-bn-relu-maxpool2, res:16,
res:32:s2, gap, dense:10``, see README "Bundled data and models"); its PyTorch twin is
:func:`lrp_studio.bench.torch_model` (same weights and BatchNorm statistics, eval mode, the layers
run in the same order, ``zennit.layer.Sum`` at the two additions). Rows:

* ``forward`` and ``gradient`` (of the predicted logit w.r.t. the input) at batch 1 and 256: ours
  (``net.forward``, ``lrp.baselines.gradient``) against the twin (``torch.no_grad()`` forward;
  forward + ``torch.autograd.grad``);
* ``lrp METHOD`` at batch 1 and 256 for epsilon-plus-flat, epsilon-plus, epsilon-alpha2-beta1 and
  epsilon-gamma-box: ours ``explain(net, x, method=..., keep_layers=False)`` (BatchNorm merged by
  :func:`lrp_studio.lrp.canonizers.merge_batchnorm`, cached per network) against Zennit (the
  composite with ``NamedMergeBatchNorm`` registered once; per call the forward pass and one
  ``torch.autograd.grad`` with one-hot(prediction) * logit as ``grad_output``, as
  ``benchmarks/zennit_api.py``), and the per-sample relative L2 distance of the two (median / max);
* ``train epoch``: one epoch over the 4,000 training images, batch 64, plain SGD lr 0.01, BatchNorm
  in training mode: ours ``nn.train`` against the twin with ``torch.optim.SGD``.

Timing: a warm-up, then ``--blocks`` alternating blocks (ours, theirs, ours, ...) of repeated calls
(the first call of each block untimed); the figure is the median over all timed calls. Training
runs in two alternating blocks of ``--epochs`` epochs per framework after a warm-up epoch each.
Torch runs with as many threads as NumPy's BLAS (``OPENBLAS_NUM_THREADS=1`` makes both single-threaded:
on a shared, loaded machine multi-threaded BLAS and OpenMP spin against the other processes and
PyTorch's batch-1 forward measured 740 ms instead of ~1 ms).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path
from typing import Any, Callable

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from zennit_api import blas_info, timed_blocks  # noqa: E402  (the script beside this one)

from lrp_studio import explain  # noqa: E402
from lrp_studio.backend import describe, tune_host_allocator  # noqa: E402
from lrp_studio.bench import torch_epoch, torch_model, zennit_relevance  # noqa: E402
from lrp_studio.data import load_mnist_subset  # noqa: E402
from lrp_studio.lrp.baselines import gradient  # noqa: E402
from lrp_studio.nn import Network, train  # noqa: E402
from lrp_studio.zoo import load_any_model  # noqa: E402

BATCHES = (1, 256)
METHODS = ("epsilon-plus-flat", "epsilon-plus", "epsilon-alpha2-beta1", "epsilon-gamma-box")
TARGETS = {"lrp": 0.7, "train epoch": 1.5}


def agreement(ours: np.ndarray, theirs: np.ndarray) -> dict[str, float]:
    """Per-sample relative L2 ||ours - theirs|| / ||theirs||: median, max, and samples above 1e-3.

    At batch 256 a few samples differ by percents: float32 rounding that depends on the batch size
    (GEMM blocking) flips 1-ulp near-ties of the stem's max pooling and moves near-cancelling sums
    at the additions (the Norm rule divides by them); our own batch-1 and batch-256 relevance of
    those samples differ as much. At batch 1 all agree to ~1e-4 or better.
    """
    n = ours.shape[0]
    l2 = np.linalg.norm((ours - theirs).reshape(n, -1), axis=1) / np.maximum(
        np.linalg.norm(theirs.reshape(n, -1), axis=1), 1e-30)
    return {"median": float(np.median(l2)), "max": float(l2.max()), "above_1e-3": int((l2 > 1e-3).sum())}


def torch_gradient(model: Any) -> Callable[[np.ndarray], np.ndarray]:
    import torch

    def run(x: np.ndarray) -> np.ndarray:
        inp = torch.from_numpy(x).requires_grad_(True)
        out = model(inp)
        rows = torch.arange(out.shape[0])
        (grad,) = torch.autograd.grad(out[rows, out.argmax(1)].sum(), (inp,))
        return grad.numpy()

    return run


def epoch_times(net: Network, x: np.ndarray, y: np.ndarray, epochs: int, with_torch: bool) -> dict[str, float]:
    """Median seconds of one training epoch (batch 64, SGD lr 0.01), ours and the twin's."""
    ours_net = net.copy()

    def ours() -> None:
        for _ in train(ours_net, x, y, 1, 64, 0.01, "sgd"):
            pass

    runs: dict[str, Callable[[], None]] = {"ours": ours}
    if with_torch:
        model = torch_model(net.copy())
        model.train()
        runs["torch"] = torch_epoch(model, x, y.astype(np.int64))  # the same epoch as `lrp-studio bench`
    times: dict[str, list[float]] = {name: [] for name in runs}
    for _ in range(2):
        for name, fn in runs.items():
            fn()  # warm-up
            for _ in range(epochs):
                start = time.perf_counter()
                fn()
                times[name].append(time.perf_counter() - start)
    return {name: float(np.median(values)) * 1e3 for name, values in times.items()}


def _row(report: dict[str, Any], what: str, batch: int | None, medians: dict[str, float], theirs: str,
         diff: dict[str, float] | None = None) -> None:
    ours_ms, their_ms = medians["ours"], medians.get(theirs)
    ratio = ours_ms / their_ms if their_ms else None
    row = {"what": what, "batch": batch, "ours_ms": ours_ms, f"{theirs}_ms": their_ms, "ratio": ratio}
    if diff is not None:
        row["relative_l2"] = diff
    report["rows"].append(row)
    target = TARGETS.get("lrp" if what.startswith("lrp") else what)
    flag = "  > target" if ratio is not None and target is not None and ratio > target else ""
    label = f"{what}" + (f" b{batch}" if batch is not None else "")
    print(f"{label:<34}{ours_ms:>10.3f}" + (f"{their_ms:>12.3f} {theirs:<7}{ratio:>7.2f}" if ratio else f"{'-':>12}")
          + (f"  {diff['median']:.1e} / {diff['max']:.1e} ({diff['above_1e-3']} > 1e-3)" if diff else "")
          + flag, flush=True)


def run(blocks: int, quick: bool, epochs: int) -> dict[str, Any]:
    """Time every row; returns the report and prints the table."""
    threads, kernels = blas_info()
    try:
        import torch
        import zennit  # noqa: F401

        torch.set_num_threads(threads)
        from importlib.metadata import version

        versions = {"torch": torch.__version__, "zennit": version("zennit")}
    except ImportError:
        versions = {}
    net = load_any_model("resnet")
    data = load_mnist_subset("test")
    x_all = np.ascontiguousarray(data.x[:256], dtype=np.float32)
    report: dict[str, Any] = {"backend": describe(), "threads": threads, "blas_kernels": kernels, **versions,
                              "network": repr(net), "parameters": net.n_parameters(), "rows": [],
                              "load_average_start": os.getloadavg()[0], "cpus": os.cpu_count()}
    print(f"backend: {describe()}; {versions or 'no torch/zennit'}; {threads} threads; {net.n_parameters():,} "
          f"parameters; medians of {blocks} alternating blocks")
    print(f"{'what':<34}{'ours ms':>10}{'theirs ms':>12} {'':<7}{'ratio':>7}  relative L2 median / max")
    model = torch_model(net, sum_layer=True).eval() if versions else None
    if model is not None:
        for parameter in model.parameters():
            parameter.requires_grad_(False)
    for batch in BATCHES:
        x = x_all[:batch].copy()
        prepared = net.prepare_input(x)
        per_block = (20 if batch == 1 else 3) if quick else (100 if batch == 1 else 10)
        targets = np.asarray(net.forward(prepared)).argmax(1)
        runs: dict[str, Callable[[], Any]] = {"ours": lambda: net.forward(prepared)}
        if model is not None:
            import torch

            tx = torch.from_numpy(x)

            def torch_forward() -> Any:
                with torch.no_grad():
                    return model(tx)

            runs["torch"] = torch_forward
        _row(report, "forward", batch, timed_blocks(runs, blocks, per_block), "torch")
        runs = {"ours": lambda: gradient(net, prepared, targets)}
        if model is not None:
            torch_grad = torch_gradient(model)
            runs["torch"] = lambda: torch_grad(x)
        _row(report, "gradient", batch, timed_blocks(runs, blocks, per_block), "torch")
    for method in METHODS:
        runner = zennit_relevance(net, model, method) if model is not None else None
        for batch in BATCHES:
            x = x_all[:batch].copy()
            per_block = (20 if batch == 1 else 3) if quick else (100 if batch == 1 else 10)
            runs = {"ours": lambda: explain(net, x, method=method, keep_layers=False).relevance}
            diff = None
            if runner is not None:
                runs["zennit"] = lambda: runner(x)
                diff = agreement(np.asarray(explain(net, x, method=method, keep_layers=False).relevance), runner(x))
            _row(report, f"lrp {method}", batch, timed_blocks(runs, blocks, per_block), "zennit", diff)
        if runner is not None:
            runner.composite.remove()
    train_data = load_mnist_subset("train")
    xs, ys = np.array(train_data.x, dtype=np.float32), np.array(train_data.y)  # writable (torch.from_numpy)
    _row(report, "train epoch", None, epoch_times(net, xs, ys, 1 if quick else epochs, model is not None), "torch")
    report["load_average_end"] = os.getloadavg()[0]
    print(f"1-minute load average: {report['load_average_start']:.1f} at the start, {report['load_average_end']:.1f} "
          f"at the end ({report['cpus']} CPUs)")
    return report


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--blocks", type=int, default=5, help="alternating timed blocks per framework (default 5)")
    parser.add_argument("--epochs", type=int, default=2, help="timed training epochs per block (default 2)")
    parser.add_argument("--quick", action="store_true", help="fewer calls per block, one epoch per block")
    parser.add_argument("--json", metavar="FILE", help="also write the figures as JSON")
    args = parser.parse_args(argv)
    tune_host_allocator()
    report = run(args.blocks, args.quick, args.epochs)
    if args.json:
        from lrp_studio.io import atomic_write

        def write(temp: str) -> None:
            with open(temp, "w", encoding="utf-8") as handle:
                json.dump(report, handle, indent=2)

        atomic_write(args.json, write)
    return 0


if __name__ == "__main__":
    sys.exit(main())
