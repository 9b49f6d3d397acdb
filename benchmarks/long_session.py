"""Long-session check: thousands of explanations with changing samples and methods.

Prints resident memory (RSS) and time per block of explanations, so growth or slowdown shows.
Usage: ``python benchmarks/long_session.py [--n 2000]``.
"""

from __future__ import annotations

import argparse
import time

from lrp_studio.data import load_mnist_subset
from lrp_studio.lrp import explain, explain_neuron
from lrp_studio.zoo import load_any_model

METHODS = ["epsilon-plus-flat", "epsilon-plus", "epsilon-gamma-box", "deep-taylor", "lrp0", "zplus",
           "alphabeta", "gradient", "gradient-x-input", "integrated-gradients"]


def rss_mb() -> float:
    """Resident set size of this process in MB (Linux /proc)."""
    with open("/proc/self/statm", encoding="ascii") as handle:
        pages = int(handle.read().split()[1])
    import os

    return pages * os.sysconf("SC_PAGE_SIZE") / 2**20


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--n", type=int, default=2000)
    parser.add_argument("--block", type=int, default=250)
    args = parser.parse_args()
    data = load_mnist_subset("test").x
    nets = [load_any_model("mlp"), load_any_model("cnn")]
    explain(nets[1], data[:1], method="epsilon-plus-flat", messages=True)  # warm-up
    start_rss = rss_mb()
    print(f"{'explanations':>12}{'RSS MB':>9}{'growth MB':>11}{'ms each':>9}")
    block_start = time.perf_counter()
    for i in range(1, args.n + 1):
        net = nets[i % 2]
        sample = data[(i * 37) % len(data)][None]
        method = METHODS[i % len(METHODS)]
        if i % 5 == 0:
            explain_neuron(net, sample, stage=len(net.layers) - 2, unit=i % 10, method="epsilon-plus")
        else:
            explain(net, sample, method=method, messages=True)
        if i % args.block == 0:
            elapsed = (time.perf_counter() - block_start) / args.block * 1e3
            print(f"{i:>12}{rss_mb():>9.1f}{rss_mb() - start_rss:>11.1f}{elapsed:>9.2f}")
            block_start = time.perf_counter()


if __name__ == "__main__":
    from lrp_studio.backend import tune_host_allocator

    tune_host_allocator()  # as the lrp-studio entry points do (importing lrp_studio changes nothing)
    main()
