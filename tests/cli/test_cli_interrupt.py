"""Ctrl-C during a long command ends it cleanly: exit 130, one line, no traceback, no half-written files."""

import fcntl
import os
import pty
import re
import select
import signal
import struct
import subprocess
import sys
import termios
import time
from pathlib import Path

from PIL import Image

ROOT = Path(__file__).resolve().parents[2]
#: tqdm's bar after at least one chunk: "explaining:   0%|   | 8/10000 [...]"
DONE_SOME = re.compile(rb"explaining:[^\r\n]*\|\s*([1-9][0-9]*)/([0-9]+)")


def read_until(fd: int, pattern: re.Pattern, deadline: float) -> bytes:
    """Read the terminal ``fd`` until ``pattern`` matches what arrived (or the child closed it)."""
    seen = b""
    while not pattern.search(seen) and time.monotonic() < deadline:
        ready, _, _ = select.select([fd], [], [], 1.0)
        if ready:
            try:
                chunk = os.read(fd, 4096)
            except OSError:  # EIO: the child has closed the terminal
                break
            if not chunk:
                break
            seen += chunk
    return seen


def read_rest(fd: int) -> bytes:
    rest = b""
    while select.select([fd], [], [], 1.0)[0]:
        try:
            chunk = os.read(fd, 4096)
        except OSError:
            break
        if not chunk:
            break
        rest += chunk
    return rest


def test_ctrl_c_during_export_exits_cleanly(tmp_path):
    """SIGINT once the progress bar (stderr on a terminal) reports a finished chunk: its files are complete."""
    out_dir = tmp_path / "maps"
    master, slave = pty.openpty()  # stderr is a terminal: tqdm shows its bar, a deterministic sign of progress
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 120, 0, 0))  # a new pty is 0 columns wide
    try:
        process = subprocess.Popen(
            [sys.executable, "-m", "lrp_studio.cli", "export", "--model", "cnn", "--dataset", "mnist", "--method",
             "integrated-gradients", "--batch-size", "8", "--out-dir", str(out_dir)],
            cwd=ROOT, stdout=subprocess.PIPE, stderr=slave, stdin=subprocess.DEVNULL,
        )
        os.close(slave)
        seen = read_until(master, DONE_SOME, time.monotonic() + 120)
        match = DONE_SOME.search(seen)
        assert match, seen.decode(errors="replace")
        assert int(match.group(1)) < int(match.group(2)) and process.poll() is None, "export ended before Ctrl-C"
        process.send_signal(signal.SIGINT)
        process.wait(timeout=60)
        err = (seen + read_rest(master)).decode(errors="replace")
    finally:
        os.close(master)
        if process.poll() is None:
            process.kill()
        process.stdout.close()
    assert process.returncode == 130, err
    assert "Traceback" not in err
    assert err.strip().splitlines()[-1] == "lrp-studio: interrupted"
    pngs = list(out_dir.glob("sample_*.png"))
    assert len(pngs) >= int(match.group(1))  # every chunk the bar counted was written
    for png in pngs:  # every file that exists is complete
        Image.open(png).load()
    assert sorted(p.name for p in out_dir.iterdir() if p.name.startswith(".")) == []  # no temp file left
