"""Long GUI session: 2,000 explanations and thousands of repaints in the real main window (offscreen).

Models (the bundled MLP and CNN) are opened in turn through the window's File > Open model code path,
samples are picked in the sample browser (class filters changing), the method cycles through every entry
of the method list (rules, composites, custom, baselines), a hidden unit is selected every 10th step, and
the graph, heatmap, output bars, conservation plot and inspector are repainted after every explanation
(plus a window grab every 25th). Every block of 250 repeats the same workload, so the printed RSS and mean
time per explanation show growth or slowdown directly. About 3.5 minutes per 1,000 explanations on 2 cores.

Usage: ``python benchmarks/long_session_gui.py [--n 2000] [--block 250] [--trace]``
(``--trace`` adds a tracemalloc snapshot diff, start of the measured part vs the end).
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from a source checkout without installing


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=2000)
    parser.add_argument("--block", type=int, default=250)
    parser.add_argument("--warmup", type=int, default=100, help="explanations before the baseline RSS is taken")
    parser.add_argument("--trace", action="store_true", help="tracemalloc diff of the measured part")
    args = parser.parse_args()

    from PySide6.QtWidgets import QApplication

    from lrp_studio.data import resource_path
    from lrp_studio.gui.long_session import rss_mb, run_long_session, scene_item_count
    from lrp_studio.gui.main_window import MainWindow

    from PySide6.QtCore import qInstallMessageHandler

    def quiet(kind, context, message) -> None:  # the offscreen platform's note on every dock resize
        if "propagateSizeHints" not in message:
            sys.stderr.write(message + "\n")

    qInstallMessageHandler(quiet)
    app = QApplication.instance() or QApplication(sys.argv[:1])
    window = MainWindow(restore=False)
    window.resize(1600, 1000)
    window.show()
    window.wait_idle(60)
    models = (str(resource_path("mlp_mnist.npz")), str(resource_path("cnn_mnist.npz")))
    print(f"warm-up: {args.warmup} explanations (every method, both models) ...", flush=True)
    run_long_session(window, args.warmup, block=args.warmup, model_paths=models, switch_every=25)
    if args.trace:
        import tracemalloc

        tracemalloc.start(25)
        first = tracemalloc.take_snapshot()
    base = rss_mb()
    started = time.perf_counter()
    print(f"RSS after warm-up {base:.1f} MB, scene items {scene_item_count(window)}")
    print(f"{'explanations':>12}{'repaints':>10}{'RSS MB':>9}{'growth MB':>11}{'ms each':>9}{'items':>7}", flush=True)

    def report(record) -> None:
        print(f"{record.explanations:>12}{record.repaints:>10}{record.rss_mb:>9.1f}{record.rss_mb - base:>11.1f}"
              f"{record.ms_per_explanation:>9.1f}{record.scene_items:>7}", flush=True)

    # Every block repeats the same workload (same samples, methods and model switches), so the blocks'
    # times compare like with like: a trend is a slowdown, not a different mix of work.
    records, repaints = [], 0
    for done in range(args.block, args.n + 1, args.block):
        record = run_long_session(window, args.block, block=args.block, model_paths=models)[0]
        repaints += record.repaints
        record.explanations, record.repaints = done, repaints
        report(record)
        records.append(record)
    total = time.perf_counter() - started
    print(f"{args.n} explanations, {records[-1].repaints} repaints in {total:.0f} s; RSS {base:.1f} -> "
          f"{records[-1].rss_mb:.1f} MB (growth {records[-1].rss_mb - base:+.1f} MB); ms per explanation, first block "
          f"{records[0].ms_per_explanation:.1f}, last block {records[-1].ms_per_explanation:.1f}")
    if args.trace:
        import tracemalloc

        for stat in tracemalloc.take_snapshot().compare_to(first, "lineno")[:15]:
            print(stat)
    window.shutdown()
    window.close()
    return 0


if __name__ == "__main__":
    from lrp_studio.backend import tune_host_allocator

    tune_host_allocator()  # as the lrp-studio entry points do (importing lrp_studio changes nothing)
    sys.exit(main())
