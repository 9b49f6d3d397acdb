"""lrp_studio.data and lrp_studio.viz import neither Qt nor CuPy."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path


def test_no_qt_or_cupy_imported() -> None:
    code = (
        "import sys, lrp_studio.data, lrp_studio.viz\n"
        "bad = [m for m in sys.modules if m.split('.')[0] in "
        "('PySide6', 'PyQt5', 'PyQt6', 'pyqtgraph', 'cupy', 'torch')]\n"
        "print(','.join(bad))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True,
        cwd=Path(__file__).resolve().parents[2],
    )
    assert result.stdout.strip() == ""
