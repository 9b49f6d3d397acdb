"""Render the README screenshot of a photo-like digit explained by the bundled CNN (File > Open image).

Usage: QT_QPA_PLATFORM=offscreen python tools/shot_image_input.py [out_dir] [WxH ...]   (default: docs/, 1600x1000)

The photo is docs/digit_photo_3.png (``python tools/make_digit_photo.py 3 docs/digit_photo_3.png``).
"""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from PySide6.QtWidgets import QApplication  # noqa: E402

from lrp_studio.gui.image_input import open_image  # noqa: E402
from lrp_studio.gui.main_window import MainWindow  # noqa: E402
from lrp_studio.zoo import load_any_model  # noqa: E402


def main() -> None:
    out = Path(sys.argv[1]) if len(sys.argv) > 1 else ROOT / "docs"
    sizes = [tuple(int(v) for v in s.split("x")) for s in sys.argv[2:]] or [(1600, 1000)]
    app = QApplication.instance() or QApplication([])
    for width, height in sizes:
        win = MainWindow(load_any_model("cnn"), model_name="cnn_mnist.npz", restore=False)
        win.resize(width, height)
        win.show()
        app.processEvents()
        win.apply_default_dock_sizes()
        win.wait_idle(30)
        open_image(win, str(ROOT / "docs" / "digit_photo_3.png"))
        win.wait_idle(30)
        for _ in range(5):
            app.processEvents()
        name = "image_input.png" if (width, height) == (1600, 1000) else f"image_input_{width}x{height}.png"
        win.grab().save(str(out / name))
        print(f"wrote {out / name}: {win.statusBar().currentMessage()}")
        win.shutdown()
        win.close()


if __name__ == "__main__":
    main()
