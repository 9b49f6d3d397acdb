"""Helper of the Ctrl-C tests: run ``lrp-studio`` in a child, wait for a marker file it writes at the chosen
moment, send SIGINT, and return its exit status and stderr."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Callable, Mapping, Sequence


def interrupt_when(child: str, marker: Path, argv: Sequence[str], env: Mapping[str, str], cwd: Path,
                   before: Callable[[], None] | None = None) -> tuple[int, str]:
    """Run ``python -c child marker *argv``; once ``marker`` exists call ``before()``, send SIGINT, wait.

    The child starts with a default SIGINT disposition (a runner started in the background has SIGINT
    ignored). Returns (exit status, stderr text); a child still running after 60 s is killed.
    """
    process = subprocess.Popen(
        [sys.executable, "-c", child, str(marker), *argv], cwd=cwd, env=dict(env), stdout=subprocess.PIPE,
        stderr=subprocess.PIPE, stdin=subprocess.DEVNULL,
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    try:
        deadline = time.monotonic() + 120
        while not marker.exists() and process.poll() is None and time.monotonic() < deadline:
            time.sleep(0.02)
        assert marker.exists(), process.communicate(timeout=30)
        if before is not None:
            before()
        process.send_signal(signal.SIGINT)
        _, err = process.communicate(timeout=60)
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate()
    return process.returncode, err.decode(errors="replace")
