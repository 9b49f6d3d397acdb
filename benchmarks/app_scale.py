"""The app with real-size models (issue 19; not a test): ``python benchmarks/app_scale.py [--picks 100]``.

For the bundled ``mlp``, ``cnn`` and ``resnet`` and two bigger models made with the model file format
(random weights): ``cnn6x64`` (six 3x3 convolutions of 64 channels, two max pools, dense 10 on
1x28x28 MNIST) and ``vgg64`` (VGG-style on 3x64x64: four blocks of two 3x3 convolutions with 64,
128, 256, 512 channels, each block ending in a 2x2 max pool, dense 10; on a random RGB .npz
dataset of 200 images), each model in a fresh process:

- **interactive**: seconds from the process start (before Qt and lrp_studio are imported) until the
  window is shown with the first explanation painted (the sample browser's predictions may go on);
- **pick** / **method**: p50 and p95 ms from a sample pick / a method change to the repainted graph
  and heatmap (:func:`lrp_studio.gui.latency._timed_changes`, the ``lrp-studio bench --gui`` timer);
- **LRP ms**: the median forward + LRP time of the picked samples (the worker's own timing);
- **RSS**: resident memory (``/proc/self/status`` VmRSS) after the picks.

Targets (issue 19, 2-core machine): interactive within 3 s, RSS under 600 MB for ``cnn6x64``, pick
p95 under 2 x LRP ms + 100 ms.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

MODELS = ("mlp", "cnn", "resnet", "cnn6x64", "vgg64")
#: The two real-size models as layer lists of :mod:`lrp_studio.nn.builders` (input shape, spec).
SPECS = {
    "cnn6x64": ((1, 28, 28), "conv:64:3:1:1,relu,conv:64:3:1:1,relu,maxpool:2,conv:64:3:1:1,relu,conv:64:3:1:1,relu,"
                             "maxpool:2,conv:64:3:1:1,relu,conv:64:3:1:1,relu,flatten,dense:10"),
    "vgg64": ((3, 64, 64), ",".join(f"conv:{c}:3:1:1,relu,conv:{c}:3:1:1,relu,maxpool:2" for c in (64, 128, 256, 512))
              + ",flatten,dense:10"),
}
RGB_SAMPLES = 200


def make_files(folder: Path) -> dict[str, tuple[str, str | None]]:
    """Write the two model files (and the RGB dataset); model -> (--model, --dataset or None)."""
    import numpy as np

    from lrp_studio.io.model import save_model
    from lrp_studio.zoo import build_architecture

    files: dict[str, tuple[str, str | None]] = {name: (name, None) for name in ("mlp", "cnn", "resnet")}
    for name, (shape, spec) in SPECS.items():
        net = build_architecture(spec, input_shape=shape, seed=0)
        files[name] = (str(save_model(net, folder / f"{name}.npz")), None)
    rng = np.random.default_rng(0)
    x = rng.random((RGB_SAMPLES, 3, 64, 64), dtype=np.float32)
    np.savez(folder / "rgb64.npz", x=x, y=rng.integers(0, 10, RGB_SAMPLES))
    files["vgg64"] = (files["vgg64"][0], str(folder / "rgb64.npz"))
    return files


def _rss_mb() -> float:
    with open("/proc/self/status", encoding="utf-8") as status:
        line = next(line for line in status if line.startswith("VmRSS"))
    return int(line.split()[1]) / 1024.0


def measure(model: str, dataset: str | None, picks: int, started: float) -> dict[str, float]:
    """In this (fresh) process: open the window on ``model`` and time it (see the module docstring)."""
    import numpy as np
    from PySide6.QtCore import QEventLoop
    from PySide6.QtWidgets import QApplication

    from lrp_studio.data import load_dataset
    from lrp_studio.gui.latency import _stats, _timed_changes
    from lrp_studio.gui.main_window import MainWindow
    from lrp_studio.zoo import load_any_model

    app = QApplication.instance() or QApplication([])
    data = load_dataset(dataset) if dataset else None
    net = load_any_model(model)
    loop = QEventLoop()
    window = MainWindow(net, data, restore=False, model_name=Path(model).stem) if data is not None \
        else MainWindow(net, restore=False, model_name=Path(model).stem)
    window.state.explanationChanged.connect(loop.quit)
    window.resize(1600, 1000)
    window.show()
    if window.state.explanation is None:
        loop.exec()
    window.state.explanationChanged.disconnect(loop.quit)
    window.graph.graphics_view().viewport().repaint()
    window.heatmap.canvas.viewport().repaint()
    interactive = time.time() - started
    rng = np.random.default_rng(0)
    n = len(window.state.dataset)
    indices = [int(i) for i in rng.choice(n, size=picks + 3, replace=picks + 3 > n)]
    compute: list[float] = []
    window.state.explanationChanged.connect(lambda: compute.append(window.state.forward_ms + window.state.lrp_ms))
    picked = _timed_changes(window, [lambda i=i: window.state.set_index(i) for i in indices])
    lrp_ms = float(np.median(compute[3:])) if len(compute) > 3 else float("nan")
    rss = _rss_mb()
    methods = ["epsilon", "epsilon-plus-flat", "epsilon-plus", "epsilon-alpha2-beta1", "lrp0", "epsilon-gamma-box"]
    changes = [lambda m=m: window.state.set_method(m) for m in (methods * 3)[:13]]
    method = _timed_changes(window, changes)
    predictions = window.state.predictions
    done = int(np.count_nonzero(predictions >= 0)) if predictions is not None else 0
    result = {"interactive_s": interactive, "pick": _stats(picked), "method": _stats(method), "lrp_ms": lrp_ms,
              "rss_mb": rss, "predicted": done, "samples": n, "parameters": window.state.net.n_parameters()}
    window.shutdown()
    window.controller.shutdown(30)
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--picks", type=int, default=100)
    parser.add_argument("--models", default=",".join(MODELS))
    parser.add_argument("--json", default=None, help="also write the figures to this file")
    args = parser.parse_args()
    env = dict(os.environ)
    env.setdefault("QT_QPA_PLATFORM", "offscreen")
    results = {}
    print(f"{'model':<9}{'params':>11}{'interactive s':>15}{'pick p50/p95 ms':>18}{'LRP ms':>9}"
          f"{'method p50/p95 ms':>19}{'RSS MB':>8}{'predicted':>13}")
    with tempfile.TemporaryDirectory() as folder:
        files = make_files(Path(folder))
        for name in args.models.split(","):
            model, dataset = files[name]
            code = ("import sys, json, time; started = float(sys.argv[1]); sys.path.insert(0, sys.argv[2]); "
                    "import app_scale; print('RESULT ' + json.dumps(app_scale.measure(sys.argv[3], "
                    "sys.argv[4] or None, int(sys.argv[5]), started)))")
            command = [sys.executable, "-c", code, str(time.time()), str(Path(__file__).parent), model, dataset or "",
                       str(args.picks)]
            output = subprocess.run(command, capture_output=True, text=True, env=env, check=False)
            lines = [line for line in output.stdout.splitlines() if line.startswith("RESULT ")]
            if not lines:
                print(f"{name:<9} failed: {output.stderr.strip().splitlines()[-1:]}")
                continue
            r = results[name] = json.loads(lines[0][7:])
            print(f"{name:<9}{r['parameters']:>11,}{r['interactive_s']:>15.2f}"
                  f"{r['pick']['p50']:>9.0f}/{r['pick']['p95']:<8.0f}{r['lrp_ms']:>9.0f}"
                  f"{r['method']['p50']:>10.0f}/{r['method']['p95']:<8.0f}{r['rss_mb']:>8.0f}"
                  f"{r['predicted']:>7}/{r['samples']:<5}")
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()
