"""Render README screenshots of the "Compare methods" and "Faithfulness" docks (whole window, 1600x1000).

Usage: QT_QPA_PLATFORM=offscreen python tools/shot_compare.py [out_dir]    (default: docs/)

compare_view.png: the bundled CNN on MNIST sample 1234, every method side by side (one shared colour
scale), the active method beside the perturbation heatmap (the output dock is closed for room). faithfulness_view.png: mean MoRF curves of
the default methods (composites + gradient) and the random order on the first 50 samples.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from PySide6.QtWidgets import QApplication  # noqa: E402

from lrp_studio.gui.main_window import MainWindow  # noqa: E402
from lrp_studio.zoo import load_any_model  # noqa: E402

SIZE = (1600, 1000)


def settle(app: QApplication, win: MainWindow, seconds: float = 0.4) -> None:
    win.wait_idle(60)
    end = time.perf_counter() + seconds
    while time.perf_counter() < end:
        app.processEvents()
        time.sleep(0.01)


def main() -> None:
    out = Path(sys.argv[1]) if len(sys.argv) > 1 else ROOT / "docs"
    app = QApplication.instance() or QApplication([])
    win = MainWindow(load_any_model("cnn"), model_name="bundled CNN (cnn_mnist.npz)", restore=False)
    win.resize(*SIZE)
    win.show()
    app.processEvents()
    win.apply_default_dock_sizes()
    settle(app, win)
    win.set_sample(1234)
    settle(app, win)
    view = win.compare_view
    win.docks["output"].hide()  # the compare dock gets the whole bottom width: the perturbation pair shows beside the grid
    win.docks["compare"].raise_()
    while view.n_runs == 0 or view.is_busy():
        app.processEvents()
        time.sleep(0.01)
    settle(app, win, 0.6)
    win.grab().save(str(out / "compare_view.png"))

    faith = win.faithfulness_view
    win.docks["faithfulness"].raise_()
    faith.set_scope(50)
    settle(app, win)
    faith.run()
    while faith.is_running():
        app.processEvents()
        time.sleep(0.01)
    settle(app, win, 0.6)
    win.grab().save(str(out / "faithfulness_view.png"))
    print(faith.status.text())
    win.shutdown()
    win.close()


if __name__ == "__main__":
    main()
