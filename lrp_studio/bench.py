"""``lrp-studio bench``: time forward, gradient, LRP and training on the DESIGN.md 5 networks.

Medians of repeated runs after a warm-up. When PyTorch is importable it times PyTorch on the
same networks (same weights) in the same run and prints the ratios ours / PyTorch. LRP rows time
the public batch path ``explain(..., keep_layers=False)``; ``benchmarks/zennit_api.py`` compares
it with Zennit on the bundled models.
"""

from __future__ import annotations

import json
import time
from typing import Any, Callable

import numpy as np

from lrp_studio.backend import describe, get_xp, to_numpy, tune_host_allocator
from lrp_studio.data import load_mnist_subset
from lrp_studio.lrp import explain
from lrp_studio.lrp.baselines import gradient
from lrp_studio.nn import Network, lenet, mlp, train

LRP_BENCH_METHODS = ("lrp0", "epsilon", "epsilon-plus-flat", "epsilon-gamma-box", "deep-taylor")


def median_time(fn: Callable[[], Any], repeats: int, warmup: int = 2) -> float:
    """Median wall time of ``fn()`` in seconds (synchronising the GPU when CuPy is in use)."""
    xp = get_xp()
    sync = (lambda: xp.cuda.Stream.null.synchronize()) if xp is not np else (lambda: None)
    for _ in range(warmup):
        fn()
    sync()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        sync()
        times.append(time.perf_counter() - start)
    return float(np.median(times))


def _networks() -> dict[str, Network]:
    return {
        "MLP": mlp([784, 300, 100, 10], input_shape=(1, 28, 28), input_range=(0.0, 1.0)),
        "CNN": lenet(),
    }


def _torch_module(layer: Any) -> Any:
    """The PyTorch module of one non-merge layer (parameters not yet copied)."""
    import torch

    spec = layer.spec()
    kind = spec["type"]
    if kind == "dense":
        return torch.nn.Linear(spec["in_features"], spec["out_features"])
    if kind == "conv2d":
        return torch.nn.Conv2d(spec["in_channels"], spec["out_channels"], spec["kernel_size"], spec["stride"],
                               spec["padding"])
    if kind == "maxpool2d":
        return torch.nn.MaxPool2d(spec["kernel_size"], spec["stride"])
    if kind == "avgpool2d":
        return torch.nn.AvgPool2d(spec["kernel_size"], spec["stride"])
    if kind == "batchnorm":
        return torch.nn.BatchNorm2d(spec["num_features"], eps=spec["eps"], momentum=spec.get("momentum", 0.1))
    if kind == "globalavgpool":
        return torch.nn.Sequential(torch.nn.AdaptiveAvgPool2d(1), torch.nn.Flatten())
    return {"flatten": torch.nn.Flatten, "relu": torch.nn.ReLU, "sigmoid": torch.nn.Sigmoid, "tanh": torch.nn.Tanh,
            "identity": torch.nn.Identity}[kind]()


def _copy_parameters(module: Any, layer: Any) -> None:
    """Copy a layer's parameters and buffers (PyTorch names) into its twin module."""
    import torch

    target = module[0] if isinstance(module, torch.nn.Sequential) else module
    values = {**layer.params, **getattr(layer, "buffers", {})}
    with torch.no_grad():
        for key, value in values.items():
            getattr(target, key).copy_(torch.from_numpy(np.array(to_numpy(value), dtype=np.float32)))


def torch_model(net: Network, sum_layer: bool = False) -> Any:
    """The same network in PyTorch (same weights and BatchNorm statistics), or None without torch.

    A sequential network becomes a ``torch.nn.Sequential`` whose state dict keys are ours. A graph
    becomes a module that runs the layers in the same topological order, each on the stages listed in
    ``net.node_inputs``; with ``sum_layer=True`` an ``add`` is ``zennit.layer.Sum`` over the inputs
    stacked on a last axis (the canonical form Zennit's composites give the ``Norm`` rule), else
    ``sum()``. ``BatchNorm`` of (N, C) inputs is not supported here (BatchNorm2d only).
    """
    try:
        import torch
    except Exception:
        return None
    if getattr(net, "is_sequential", True):
        model = torch.nn.Sequential(*[_torch_module(layer) for layer in net.layers])
        for module, layer in zip(model, net.layers):
            _copy_parameters(module, layer)
        return model
    return _torch_graph(net, sum_layer)


def _torch_graph(net: Network, sum_layer: bool) -> Any:
    import torch

    adder = None
    if sum_layer:
        from zennit.layer import Sum

        adder = Sum

    class GraphTwin(torch.nn.Module):
        """``net`` as a torch module: ``nodes[j]`` is layer j (``Sum``/``Identity`` for merges)."""

        def __init__(self) -> None:
            super().__init__()
            modules = []
            for layer in net.layers:
                if getattr(layer, "is_merge", False):
                    modules.append(adder() if adder is not None and layer.type_name == "add" else torch.nn.Identity())
                else:
                    modules.append(_torch_module(layer))
                    _copy_parameters(modules[-1], layer)
            self.nodes = torch.nn.ModuleList(modules)
            self.kinds = [layer.type_name for layer in net.layers]
            self.node_inputs = [tuple(stages) for stages in net.node_inputs]

        def forward(self, x: Any) -> Any:
            stages = [x]
            for module, kind, reads in zip(self.nodes, self.kinds, self.node_inputs):
                if kind == "add":
                    values = [stages[k] for k in reads]
                    out = module(torch.stack(values, dim=-1)) if adder is not None else sum(values[1:], values[0])
                elif kind == "concat":
                    out = torch.cat([stages[k] for k in reads], dim=1)
                else:
                    out = module(stages[reads[0]])
                stages.append(out)
            return stages[-1]

    return GraphTwin()


def batchnorm_pairs(net: Network) -> list[tuple[list[str], str]]:
    """``NamedMergeBatchNorm`` pairs of the twin: ([name of the conv/dense a BN reads], name of the BN)."""
    pairs = []
    for j, layer in enumerate(net.layers):
        if layer.type_name == "batchnorm":
            source = net.node_inputs[j][0] - 1
            if source < 0 or not net.layers[source].is_linear:
                raise ValueError(f"batchnorm {net.names[j]} does not follow a conv/dense layer")
            pairs.append(([f"nodes.{source}"], f"nodes.{j}"))
    return pairs


def zennit_relevance(net: Network, model: Any, method: str) -> Callable[[np.ndarray], np.ndarray]:
    """x (N, C, H, W) -> Zennit's relevance (NumPy) of ``method`` on ``model``, the twin of ``net``.

    ``model`` is :func:`torch_model` ``(net, sum_layer=True)`` in eval mode. The Zennit composite
    (epsilon-plus-flat, epsilon-plus, epsilon-alpha2-beta1 or epsilon-gamma-box with the model's
    input range) is registered once with ``NamedMergeBatchNorm`` merging every BatchNorm into the
    conv/dense layer it reads; each call runs the forward pass and one ``torch.autograd.grad``
    with one-hot(prediction) * logit as ``grad_output`` (what ``zennit.attribution.Gradient``
    does). ``run.composite.remove()`` undoes the registration.

    Raises
    ------
    ImportError
        Without torch or zennit.
    ValueError
        A BatchNorm that does not read a conv/dense layer's output.
    """
    import torch
    from zennit.canonizers import NamedMergeBatchNorm
    from zennit.composites import EpsilonAlpha2Beta1, EpsilonGammaBox, EpsilonPlus, EpsilonPlusFlat

    low, high = net.input_range if net.input_range is not None else (0.0, 1.0)
    canonizers = [NamedMergeBatchNorm(batchnorm_pairs(net))]
    composite = {"epsilon-plus-flat": EpsilonPlusFlat, "epsilon-plus": EpsilonPlus,
                 "epsilon-alpha2-beta1": EpsilonAlpha2Beta1,
                 "epsilon-gamma-box": lambda **kw: EpsilonGammaBox(low=low, high=high, **kw)}[method](
        canonizers=canonizers)
    composite.register(model)

    def run(x: np.ndarray) -> np.ndarray:
        inp = torch.from_numpy(np.array(x, dtype=np.float32)).requires_grad_(True)
        out = model(inp)
        grad_output = torch.zeros_like(out)
        rows, best = torch.arange(out.shape[0]), out.argmax(1)
        grad_output[rows, best] = out[rows, best].detach()
        (relevance,) = torch.autograd.grad((out,), (inp,), grad_outputs=(grad_output,))
        return relevance.numpy()

    run.composite = composite  # type: ignore[attr-defined]
    return run


def _torch_times(model: Any, xs: dict[int, np.ndarray], repeats: int) -> dict[str, float]:
    import torch

    results: dict[str, float] = {}
    for batch, xb in xs.items():
        t = torch.from_numpy(xb)
        with torch.no_grad():
            results[f"forward b{batch}"] = median_time(lambda: model(t), repeats)

        def grad() -> None:
            inp = t.clone().requires_grad_(True)
            out = model(inp)
            out[torch.arange(batch), out.argmax(1)].sum().backward()

        results[f"gradient b{batch}"] = median_time(grad, repeats)
    return results


def _our_times(net: Network, xs: dict[int, np.ndarray], repeats: int) -> dict[str, float]:
    results: dict[str, float] = {}
    for batch, xb in xs.items():
        prepared = net.prepare_input(xb)
        targets = get_xp().asarray(np.zeros(batch, dtype=np.int64))
        results[f"forward b{batch}"] = median_time(lambda: net.forward(prepared), repeats)
        results[f"gradient b{batch}"] = median_time(lambda: gradient(net, prepared, targets), repeats)
        for method in LRP_BENCH_METHODS:
            results[f"lrp {method} b{batch}"] = median_time(
                lambda: explain(net, prepared, method=method, keep_layers=False), repeats)
    return results


def _epoch_times(net: Network, model: Any, x: np.ndarray, y: np.ndarray, per_block: int) -> tuple[float, float | None]:
    """Median seconds of one training epoch (batch 64, SGD), ours and PyTorch's (None without torch).

    Each framework runs in blocks (one untimed warm-up epoch, then timed epochs) and the blocks
    alternate twice, ours first: both see the same drift of a shared machine, and neither is timed
    right after the other released the cores (PyTorch's epoch measured 1.5-2x slower when the two
    alternated epoch by epoch).
    """
    copy = net.copy()

    def ours() -> None:
        for _ in train(copy, x, y, 1, 64, 0.01, "sgd"):
            pass

    runs = [(ours, [])]
    if model is not None:
        runs.append((torch_epoch(model, x, y), []))
    for _ in range(2):
        for epoch, times in runs:
            epoch()  # warm-up
            for _ in range(per_block):
                start = time.perf_counter()
                epoch()
                times.append(time.perf_counter() - start)
    medians = [float(np.median(times)) for _, times in runs]
    return medians[0], (medians[1] if len(medians) > 1 else None)


def torch_epoch(model: Any, x: np.ndarray, y: np.ndarray) -> Callable[[], None]:
    """One PyTorch training epoch over (x, y), batch 64, SGD lr 0.01, shuffled."""
    import torch

    opt = torch.optim.SGD(model.parameters(), lr=0.01)
    tx, ty = torch.from_numpy(x), torch.from_numpy(y)

    def epoch() -> None:
        order = torch.randperm(len(tx))
        for i in range(0, len(tx), 64):
            idx = order[i : i + 64]
            opt.zero_grad()
            torch.nn.functional.cross_entropy(model(tx[idx]), ty[idx]).backward()
            opt.step()

    return epoch


def scaling(repeats: int = 5, method: str = "epsilon-plus-flat") -> dict[str, Any]:
    """LRP time vs batch size (MLP and CNN) and vs hidden width (MLP), plus peak memory at batch 1024.

    Returns
    -------
    dict with ``batch`` rows (batch, MLP ms, CNN ms), ``width`` rows (hidden, ms at batch 256)
    and ``peak_mb`` (traced peak of NumPy allocations for one batch-1024 explanation per network,
    ``keep_layers=False``), ``peak_mb_records`` (the same with every stage's records kept).
    """
    import tracemalloc

    data = load_mnist_subset("train").x
    nets = _networks()
    batch_rows = []
    for batch in (1, 4, 16, 64, 256, 1024):
        xb = {name: net.prepare_input(data[:batch]) for name, net in nets.items()}
        batch_rows.append((batch, *[median_time(lambda: explain(net, xb[name], method=method, keep_layers=False),
                                                repeats) * 1e3 for name, net in nets.items()]))
    width_rows = []
    xb = data[:256]
    for hidden in (100, 200, 500, 1000, 2000):
        net = mlp([784, hidden, hidden // 2, 10], input_shape=(1, 28, 28), input_range=(0.0, 1.0))
        prepared = net.prepare_input(xb)
        width_rows.append((hidden, net.n_parameters(),
                           median_time(lambda: explain(net, prepared, method=method, keep_layers=False), repeats) * 1e3))
    peak: dict[str, float] = {}
    peak_records: dict[str, float] = {}
    for name, net in nets.items():
        prepared = net.prepare_input(data[:1024])
        for keep, target in ((False, peak), (True, peak_records)):
            tracemalloc.start()
            explain(net, prepared, method=method, keep_layers=keep)
            target[name] = tracemalloc.get_traced_memory()[1] / 2**20
            tracemalloc.stop()
    return {"method": method, "batch": batch_rows, "width": width_rows, "peak_mb": peak, "peak_mb_records": peak_records}


def _print_scaling(result: dict[str, Any]) -> None:
    print(f"\nscaling of LRP ({result['method']}): time vs batch size")
    print(f"{'batch':>6}{'MLP ms':>10}{'per sample':>12}{'CNN ms':>10}{'per sample':>12}")
    for batch, mlp_ms, cnn_ms in result["batch"]:
        print(f"{batch:>6}{mlp_ms:>10.3f}{mlp_ms / batch:>12.4f}{cnn_ms:>10.3f}{cnn_ms / batch:>12.4f}")
    print("\nMLP 784-H-H/2-10, batch 256: time vs width")
    print(f"{'H':>6}{'weights':>10}{'ms':>10}{'ns/weight/sample':>18}")
    for hidden, weights, ms in result["width"]:
        print(f"{hidden:>6}{weights:>10}{ms:>10.3f}{ms * 1e6 / weights / 256:>18.3f}")
    print("\npeak memory of one batch-1024 explanation (keep_layers=False / with records): " +
          ", ".join(f"{name} {mb:.0f} / {result['peak_mb_records'][name]:.0f} MB" for name, mb in result["peak_mb"].items()))


def run_bench(quick: bool = False, json_path: str | None = None, with_scaling: bool = False,
              with_gui: bool = False) -> int:
    """Print the benchmark table (and write JSON); returns 0. Tunes the host allocator first (idempotent)."""
    tune_host_allocator()
    data = load_mnist_subset("train")
    x, y = np.array(data.x), np.array(data.y)  # writable copies (torch.from_numpy wants them)
    repeats = 10 if quick else 50
    xs = {1: x[:1].copy(), 256: x[:256].copy()}
    report: dict[str, Any] = {"backend": describe(), "results": {}}
    per_block = 3 if not quick else 1
    epochs = f"{per_block} epoch{'s' if per_block > 1 else ''}"
    print(f"backend: {describe()}; medians of {repeats} runs (training: 2 alternating blocks of {epochs} "
          "per framework, after a warm-up epoch each)")
    for name, net in _networks().items():
        ours = _our_times(net, xs, repeats)
        model = torch_model(net)
        theirs = _torch_times(model, xs, repeats) if model is not None else {}
        ours["train epoch"], torch_epoch = _epoch_times(net, model, x, y, per_block)
        if torch_epoch is not None:
            theirs["train epoch"] = torch_epoch
        report["results"][name] = {"ours": ours, "torch": theirs}
        _print_table(name, ours, theirs)
    if with_scaling:
        report["scaling"] = scaling(3 if quick else 5)
        _print_scaling(report["scaling"])
    if with_gui:
        from lrp_studio.gui.latency import run_latency  # the only Qt path of the benchmark

        report["gui"] = run_latency(15 if quick else 50)
    if json_path:
        from lrp_studio.io import atomic_write

        def write(temp: str) -> None:
            with open(temp, "w", encoding="utf-8") as handle:
                json.dump(report, handle, indent=2)

        atomic_write(json_path, write)
    return 0


def _print_table(name: str, ours: dict[str, float], theirs: dict[str, float]) -> None:
    print(f"\n{name}")
    print(f"{'what':<32}{'ours ms':>10}{'torch ms':>10}{'ratio':>8}{'vs torch grad':>15}")
    for key, value in ours.items():
        batch = key.rsplit(" ", 1)[-1]
        ref = theirs.get(key)
        grad_ref = theirs.get(f"gradient {batch}") if key.startswith("lrp") else None
        cols = [f"{key:<32}", f"{value * 1e3:>10.3f}", f"{ref * 1e3:>10.3f}" if ref else f"{'-':>10}",
                f"{value / ref:>8.2f}" if ref else f"{'-':>8}", f"{value / grad_ref:>15.2f}" if grad_ref else f"{'-':>15}"]
        print("".join(cols))
