"""Life cycle (issue 17): interpreter exit with windows open, SIGINT and SIGTERM to a running ``lrp-studio gui``.

Each subprocess test failed before lrp_studio/gui/lifecycle.py: the exit with a window open aborted
(status 134) or printed "Signal source has been deleted" tracebacks, SIGINT to an idle app did nothing
for 60 s (it ran only with the next Python slot, as a KeyboardInterrupt inside it), SIGTERM killed it
(status -15) without writing the recovery copy.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
import types
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
QT_NOISE = "This plugin does not support propagateSizeHints()"
#: Messages of a disorderly exit: none may appear.
BAD = ("QThread: Destroyed", "Signal source has been deleted", "Traceback", "already deleted", "Segmentation",
       "Error calling Python override", "KeyboardInterrupt")

# Runs `lrp-studio gui` through the CLI's main(); prints READY once the loop watches the signals. With
# DIRTY set, the shown model counts as unsaved and lrp_studio.io.recovery (a stand-in when the real one is
# missing) records where a recovery copy was written.
GUI_RUNNER = textwrap.dedent("""
    import os, sys, types
    from pathlib import Path
    from lrp_studio.gui import lifecycle
    if os.environ.get("DIRTY"):
        try:
            from lrp_studio.io import recovery
        except ImportError:
            recovery = types.ModuleType("lrp_studio.io.recovery")
            sys.modules["lrp_studio.io.recovery"] = recovery
            import lrp_studio.io
            lrp_studio.io.recovery = recovery
        def write_recovery(net, model_name, dataset_name="", dataset_spec=None, now=None):
            Path(os.environ["DIRTY"]).write_text(f"{model_name} {net.n_parameters()}")
        recovery.write_recovery = write_recovery
    enter = lifecycle.SignalWatcher.__enter__
    def ready(self):
        result = enter(self)
        from PySide6.QtCore import QTimer
        def announce():
            for window in lifecycle.main_windows():
                window.wait_idle(60.0)  # first explanation and predictions done: the loop sits idle
            if os.environ.get("DIRTY"):
                for window in lifecycle.main_windows():
                    window.state.model_dirty = True
                    window.write_recovery_copy = None  # the module-level writer of this branch is used
            print("READY", flush=True)
        QTimer.singleShot(0, announce)
        return result
    lifecycle.SignalWatcher.__enter__ = ready
    from lrp_studio.cli import main
    sys.exit(main(["gui", "--model", "mlp"]))
""")


def environment(tmp_path: Path, **extra: str) -> dict[str, str]:
    """The child's environment: offscreen Qt, settings and recovery copies inside ``tmp_path``."""
    return dict(os.environ, PYTHONPATH=str(ROOT), QT_QPA_PLATFORM="offscreen", XDG_CONFIG_HOME=str(tmp_path / "config"),
                LRP_STUDIO_RECOVERY_DIR=str(tmp_path / "recovery"), **extra)


def problems(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if any(bad in line for bad in BAD)]


def start_gui(tmp_path: Path, **extra: str) -> subprocess.Popen:
    env = environment(tmp_path, **extra)
    process = subprocess.Popen([sys.executable, "-c", GUI_RUNNER], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                               text=True, env=env, cwd=tmp_path)
    line = process.stdout.readline()  # blocks until the event loop runs (or the process ended)
    if line.strip() != "READY":
        process.kill()
        _, err = process.communicate(timeout=60)
        pytest.fail(f"lrp-studio gui did not start: {line!r} {err[-2000:]}")
    time.sleep(1.0)  # no Python code runs now: before the fix a signal then waited forever for the next slot
    return process


def test_interpreter_exit_with_a_viewer_open_returns_0(tmp_path: Path) -> None:
    """A script opens a viewer on the CNN and ends at once (its first explanation still running)."""
    code = ("import lrp_studio\n"
            "viewer = lrp_studio.view('cnn')\n"
            "viewer.window.controller.submit('slow', __import__('time').sleep, 1.0)\n"
            "print('opened', viewer.is_open)\n")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300, cwd=tmp_path,
                          env=environment(tmp_path))
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.strip() == "opened True"
    assert problems(done.stderr) == [], done.stderr[-3000:]


def test_sigint_closes_the_running_gui_like_its_close_button(tmp_path: Path) -> None:
    process = start_gui(tmp_path)
    process.send_signal(signal.SIGINT)
    start = time.monotonic()
    try:
        _, err = process.communicate(timeout=20)
    except subprocess.TimeoutExpired:
        process.kill()
        pytest.fail("SIGINT did not end lrp-studio gui within 20 s")
    assert time.monotonic() - start < 20
    assert process.returncode in (0, 130), err[-3000:]
    assert problems(err) == [], err[-3000:]
    # the close button's path ran: closeEvent saved the window's settings
    assert list((tmp_path / "config").rglob("*.conf")) or list((tmp_path / "config").rglob("*.ini")), \
        "closeEvent did not run (no settings written)"


def test_sigterm_writes_the_recovery_copy_and_exits(tmp_path: Path) -> None:
    marker = tmp_path / "recovered.txt"
    process = start_gui(tmp_path, DIRTY=str(marker))
    process.send_signal(signal.SIGTERM)
    try:
        _, err = process.communicate(timeout=20)
    except subprocess.TimeoutExpired:
        process.kill()
        pytest.fail("SIGTERM did not end lrp-studio gui within 20 s")
    assert process.returncode == 143, err[-3000:]  # 128 + SIGTERM, after an orderly shutdown
    assert problems(err) == [], err[-3000:]
    assert marker.read_text().split()[-1] == str(266610), "no recovery copy of the unsaved 784-300-100-10 MLP"


def test_signal_watcher_restores_the_previous_handlers(qapp) -> None:
    from lrp_studio.gui.lifecycle import SignalWatcher

    before = (signal.getsignal(signal.SIGINT), signal.getsignal(signal.SIGTERM))
    seen: list[int] = []
    with SignalWatcher(qapp, seen.append):
        assert signal.getsignal(signal.SIGINT) is not before[0]
        signal.raise_signal(signal.SIGTERM)  # no-op Python handler: nothing is raised, the notifier gets it
        deadline = time.monotonic() + 5
        while not seen and time.monotonic() < deadline:
            qapp.processEvents()
    assert seen == [int(signal.SIGTERM)]
    assert (signal.getsignal(signal.SIGINT), signal.getsignal(signal.SIGTERM)) == before
    assert signal.set_wakeup_fd(-1) == -1  # the wake-up fd was restored (none in pytest)


def test_recovery_copies_only_of_unsaved_models(monkeypatch: pytest.MonkeyPatch) -> None:
    """write_recovery_copies: a window's own writer first, else io.recovery.write_recovery; clean models skipped."""
    from lrp_studio.gui.lifecycle import write_recovery_copies

    written: list[str] = []
    module = types.ModuleType("lrp_studio.io.recovery")
    module.write_recovery = lambda net, name, dataset_name="", spec=None: written.append(name)
    monkeypatch.setitem(sys.modules, "lrp_studio.io.recovery", module)
    import lrp_studio.io

    monkeypatch.setattr(lrp_studio.io, "recovery", module, raising=False)

    def window(name: str, dirty: bool, own: bool = False) -> types.SimpleNamespace:
        state = types.SimpleNamespace(model_dirty=dirty, net=None, model_name=name,
                                      dataset=types.SimpleNamespace(name="mnist"))
        writer = (lambda: written.append(f"own {name}") or True) if own else None
        return types.SimpleNamespace(state=state, write_recovery_copy=writer)

    count = write_recovery_copies([window("a", True), window("b", False), window("c", True, own=True)])
    assert (count, written) == (2, ["a", "own c"])
