"""Render the network graph (and the neuron inspector) of a small MLP and CNN to PNG files.

Usage: QT_QPA_PLATFORM=offscreen python tools/shot_graph.py [out_dir] [--train]
Prints set_explanation timings (mean of repeated calls) for both networks.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from PySide6 import QtWidgets  # noqa: E402

from lrp_studio.gui.graph_view import NetworkView  # noqa: E402
from lrp_studio.gui.inspector import NeuronInspector  # noqa: E402
from lrp_studio.lrp.explain import explain  # noqa: E402
from lrp_studio.nn import fit, lenet, mlp  # noqa: E402


def _data():
    data = np.load(ROOT / "resources" / "mnist_5k.npz")
    return data["images"].astype(np.float32)[:, None] / 255.0, data["labels"].astype(np.int64)


def _timed(view, exps, repeat=20):
    times = []
    for i in range(repeat):
        t = time.perf_counter()
        view.set_explanation(exps[i % len(exps)])
        times.append(time.perf_counter() - t)
    return 1000 * float(np.median(times))


def main() -> None:
    out = Path(sys.argv[1] if len(sys.argv) > 1 and not sys.argv[1].startswith("-") else "/tmp")
    train = "--train" in sys.argv
    app = QtWidgets.QApplication.instance() or QtWidgets.QApplication([])
    x, y = _data()
    nets = {
        "mlp": mlp([784, 300, 100, 10], input_shape=(1, 28, 28), input_range=(0, 1)),
        "cnn": lenet(channels=(16, 32), hidden=100),
    }
    for name, net in nets.items():
        if train:
            fit(net, x[:3000], y[:3000], epochs=2, batch_size=64, lr=0.05)
        view = NetworkView()
        view.resize(1200, 700)
        view.show()
        view.set_network(net)
        exps = [explain(net, x[i:i + 1], method="epsilon-plus", messages=True) for i in range(4)]
        ms = _timed(view, exps)
        t = time.perf_counter()
        view.graphics_view().grab()
        paint = 1000 * (time.perf_counter() - t)
        print(f"{name}: set_explanation {ms:.2f} ms (median of 20), one repaint {paint:.1f} ms")
        view.set_explanation(exps[0])
        app.processEvents()
        view.grab().save(str(out / f"graph_{name}.png"))
        column = view.columns()[1] if name == "mlp" else view.columns()[2]
        record = exps[0].layers[column.stage].relevance[0]
        strength = np.abs(record.reshape(record.shape[0], -1).sum(axis=1)) if record.ndim == 3 else np.abs(record)
        view.select(column.stage, int(np.argmax(strength)))
        app.processEvents()
        view.grab().save(str(out / f"graph_{name}_selected.png"))
        view.set_color_mode("activation")
        app.processEvents()
        view.grab().save(str(out / f"graph_{name}_activation.png"))
        inspector = NeuronInspector()
        inspector.resize(420, 700)
        inspector.show()
        stage, unit = view.selection()
        inspector.show_neuron(net, exps[0], stage, unit)
        app.processEvents()
        inspector.grab().save(str(out / f"inspector_{name}.png"))
        print("wrote", out / f"graph_{name}.png")


if __name__ == "__main__":
    main()
