"""gui/ has one worker implementation: the controller's superqt pools; nothing else starts threads."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

GUI = Path(__file__).resolve().parents[2] / "lrp_studio" / "gui"
THREAD_MAKERS = {"Thread", "QThread", "QRunnable", "QThreadPool", "create_worker", "thread_worker", "GeneratorWorker",
                 "FunctionWorker", "start_new_thread", "ThreadPoolExecutor"}


def _thread_uses(path: Path) -> list[str]:
    """Calls of, and classes derived from, thread-making names in one module."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Call):
            name = node.func.attr if isinstance(node.func, ast.Attribute) else getattr(node.func, "id", "")
            if name in THREAD_MAKERS:
                found.append(f"{path.name}:{node.lineno} calls {name}")
        elif isinstance(node, ast.ClassDef):
            for base in node.bases:
                name = base.attr if isinstance(base, ast.Attribute) else getattr(base, "id", "")
                if name in THREAD_MAKERS:
                    found.append(f"{path.name}:{node.lineno} subclasses {name}")
    return found


def test_only_the_controller_makes_workers():
    uses = [use for path in sorted(GUI.glob("*.py")) for use in _thread_uses(path)]
    assert uses and all(use.startswith("controller.py:") for use in uses), uses
    assert not (GUI / "workers.py").exists()


def test_generator_runtime_error_reaches_errored(qtbot):
    """superqt drops a generator's RuntimeError as "worker deleted"; the controller re-raises it as JobError."""
    from lrp_studio.gui.controller import Controller, JobError, error_message

    controller = Controller()

    def job():
        yield 1
        raise RuntimeError("broken job")

    errors, values, ends = [], [], []
    # a job this short ends before the next line runs: its slots are connected before it starts
    controller.start_generator(job, _connect={"yielded": values.append, "errored": errors.append,
                                              "finished": lambda: ends.append(True)})
    qtbot.waitUntil(lambda: ends == [True], timeout=10_000)
    assert values == [1] and len(errors) == 1 and isinstance(errors[0], JobError)
    assert "RuntimeError: broken job" in error_message(errors[0])
    with pytest.raises(TypeError, match="not a generator"):
        controller.start_generator(lambda: 1)
    assert controller.shutdown(5.0)


def test_signals_of_a_job_that_ends_at_once_reach_the_slots_of_connect(qtbot):
    """The job ends in its thread before start_generator returns; `_connect` still sees every signal."""
    import threading

    from lrp_studio.gui.controller import Controller

    controller = Controller()
    ended = threading.Event()

    def job():
        yield "only"
        ended.set()

    with pytest.raises(AttributeError):
        controller.start_generator(job, _connect={"no_such_signal": print})
    assert controller.long_jobs() == 0
    seen = []
    controller.start_generator(job, _connect={"yielded": seen.append, "finished": lambda: seen.append("finished")})
    assert ended.wait(10)
    assert controller.shutdown(10.0)  # waits for the thread without turning the event loop: all signals are sent
    assert seen == []  # queued, not yet delivered
    qtbot.waitUntil(lambda: seen == ["only", "finished"], timeout=10_000)
    assert controller.long_jobs() == 0
