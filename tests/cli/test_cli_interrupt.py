"""Ctrl-C during a long command ends it cleanly: exit 130, one line, no traceback, no half-written files."""

import signal
import subprocess
import sys
import time
from pathlib import Path

from PIL import Image

ROOT = Path(__file__).resolve().parents[2]


def test_ctrl_c_during_export_exits_cleanly(tmp_path):
    out_dir = tmp_path / "maps"
    process = subprocess.Popen(
        [sys.executable, "-m", "lrp_studio.cli", "export", "--model", "cnn", "--dataset", "mnist", "--method",
         "integrated-gradients", "--batch-size", "8", "--out-dir", str(out_dir)],
        cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    deadline = time.monotonic() + 60
    while not any(out_dir.glob("*.png")) and time.monotonic() < deadline and process.poll() is None:
        time.sleep(0.05)
    assert process.poll() is None, "export finished before it could be interrupted"
    process.send_signal(signal.SIGINT)
    _, err = process.communicate(timeout=30)
    assert process.returncode == 130
    assert "Traceback" not in err
    assert err.strip().splitlines()[-1] == "lrp-studio: interrupted"
    for png in out_dir.glob("*.png"):  # every file that exists is complete
        Image.open(png).load()
    assert not list(out_dir.glob("*.tmp*"))
