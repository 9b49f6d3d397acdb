"""Render README screenshots of the drawing canvas and the 2-D playground (whole window, 1600x1000).

Usage: QT_QPA_PLATFORM=offscreen python tools/shot_studio.py [out_dir]    (default: docs/)

canvas.png: the bundled MLP explaining a "3" drawn on the canvas (strokes applied with the canvas's
own brush, as the mouse does). playground.png: toy:moons with the notes' binary classifier
(2-16-16-1, sigmoid + cross-entropy) after 100 epochs in the training panel.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from PySide6.QtWidgets import QApplication  # noqa: E402

from lrp_studio.gui.canvas import segment_points  # noqa: E402
from lrp_studio.gui.main_window import MainWindow  # noqa: E402

SIZE = (1600, 1000)


def arc(cx: float, cy: float, r: float, a0: float, a1: float, n: int = 40) -> np.ndarray:
    t = np.radians(np.linspace(a0, a1, n))
    return np.stack([cx + r * np.cos(t), cy + r * np.sin(t)], axis=1)


def window(app: QApplication) -> MainWindow:
    win = MainWindow(restore=False)
    win.resize(*SIZE)
    win.show()
    app.processEvents()
    win.apply_default_dock_sizes()
    win.wait_idle(30)
    return win


def settle(app: QApplication, win: MainWindow, seconds: float = 0.3) -> None:
    win.wait_idle(60)
    end = time.perf_counter() + seconds
    while time.perf_counter() < end:
        app.processEvents()
        time.sleep(0.01)


def shot_canvas(app: QApplication, out: Path) -> None:
    win = window(app)
    win.docks["canvas"].raise_()
    canvas = win.canvas
    for stroke in (arc(14, 10, 4.5, -160, 90), arc(14, 18.5, 4.5, -90, 160)):
        canvas.paint_stroke(np.concatenate([segment_points(a, b) for a, b in zip(stroke[:-1], stroke[1:])]))
    win.draw_panel.send()
    settle(app, win)
    win.select_neuron(3, int(np.argmax(win.state.explanation.layers[3].relevance[0])))
    settle(app, win)
    win.grab().save(str(out / "canvas.png"))
    win.shutdown()
    win.close()


def shot_playground(app: QApplication, out: Path) -> None:
    win = window(app)
    win.open_dataset("toy:moons")
    settle(app, win)
    panel = win.training_panel
    panel.start_button.click()
    while panel.is_running():
        app.processEvents()
        time.sleep(0.01)
    settle(app, win, 0.5)
    win.set_sample(5)
    settle(app, win, 0.5)
    win.grab().save(str(out / "playground.png"))
    win.shutdown()
    win.close()


def main() -> None:
    out = Path(sys.argv[1]) if len(sys.argv) > 1 else ROOT / "docs"
    out.mkdir(parents=True, exist_ok=True)
    app = QApplication.instance() or QApplication([])
    shot_canvas(app, out)
    shot_playground(app, out)
    print(f"wrote {out / 'canvas.png'} and {out / 'playground.png'}")


if __name__ == "__main__":
    main()
