"""Non-finite logits or relevance end in one line, exit 2, and nothing written (issue 13, point 5)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize("method", ["epsilon", "occlusion", "gradient"])
def test_explain_of_an_overflowing_input_is_one_line_and_writes_nothing(tmp_path, method):
    x = np.full((1, 1, 28, 28), 1e38 if method != "occlusion" else 1e36, np.float32)
    np.save(tmp_path / "huge.npy", x)
    out = tmp_path / "out"
    out.mkdir()
    result = subprocess.run(
        [sys.executable, "-m", "lrp_studio.cli", "explain", "--input", str(tmp_path / "huge.npy"), "--method", method,
         "--npy", str(out / "r.npy"), "--csv", str(out / "r.csv"), "--out", str(out / "h.png")],
        cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert result.returncode == 2, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("lrp-studio: error: ") and "NaN or infinite" in lines[0], lines
    assert "RuntimeWarning" not in result.stderr and "Traceback" not in result.stderr
    assert list(out.iterdir()) == []
    assert "sum of input relevance" not in result.stdout
