"""Background work for the GUI: one persistent compute thread and a training thread.

:class:`ComputeWorker` runs short jobs (explaining the current sample, predicting a dataset) on
a single long-lived thread: starting a thread per request would cost more than a 1-30 ms
explanation. Jobs are keyed; a new job replaces a not-yet-started job of the same key, and every
job gets a request id so the GUI can drop results that a newer request has superseded.

:class:`TrainingWorker` drives the compute core's training generator
(:func:`lrp_studio.nn.train`) on a copy of the network, with pause, resume and stop, and sends
progress records and weight snapshots back through Qt signals (queued into the GUI thread).
"""

from __future__ import annotations

import threading
import time
import traceback
from typing import Any, Callable

import numpy as np
from PySide6.QtCore import QObject, Signal

from lrp_studio.errors import LRPStudioError, TrainingDiverged
from lrp_studio.nn import Network, train


_BLAS_SETTERS = ("openblas_set_num_threads", "scipy_openblas_set_num_threads64_", "scipy_openblas_set_num_threads",
                 "openblas_set_num_threads64_", "MKL_Set_Num_Threads")


def limit_blas_threads(count: int = 1) -> bool:
    """Set the thread count of the BLAS library NumPy loaded (OpenBLAS or MKL); True when one was found.

    The GUI thread paints while the worker explains one sample at a time; on a small machine
    OpenBLAS's spinning helper threads then compete with both and a 3 ms explanation can take
    100 ms. Single-sample work gains nothing from BLAS threads, so the GUI runs BLAS on one thread.
    Linux only (reads /proc/self/maps); elsewhere nothing changes.
    """
    import ctypes

    try:
        with open("/proc/self/maps", encoding="utf-8") as maps:
            paths = {line.split()[-1] for line in maps if ("blas" in line or "mkl" in line) and "/" in line}
    except OSError:
        return False
    done = False
    for path in sorted(paths):
        try:
            library = ctypes.CDLL(path)
        except OSError:
            continue
        for name in _BLAS_SETTERS:
            setter = getattr(library, name, None)
            if setter is not None:
                setter(ctypes.c_int(count) if "64" not in name else ctypes.c_int64(count))
                done = True
                break
    return done


class ComputeWorker(QObject):
    """A single worker thread with a keyed, coalescing job queue.

    Signals
    -------
    finished(key, request_id, result)
        Emitted (in the GUI thread, via a queued connection) when a job returns.
    failed(key, request_id, message)
        Emitted when a job raises; ``LRPStudioError`` gives its one-line message, anything
        else a traceback.
    """

    finished = Signal(str, int, object)
    failed = Signal(str, int, str)

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._cond = threading.Condition()
        self._pending: dict[str, tuple[int, Callable[[], Any]]] = {}
        self._latest: dict[str, int] = {}
        self._next_id = 0
        self._running = 0
        self._stopping = False
        self._thread = threading.Thread(target=self._loop, name="lrp-studio-compute", daemon=True)
        self._thread.start()

    def submit(self, key: str, job: Callable[[int], Any]) -> int:
        """Queue ``job(request_id)`` under ``key``, replacing a waiting job of that key; returns the id."""
        with self._cond:
            self._next_id += 1
            request_id = self._next_id
            self._latest[key] = request_id
            self._pending[key] = (request_id, lambda: job(request_id))
            self._cond.notify()
        return request_id

    def is_current(self, key: str, request_id: int) -> bool:
        """Whether ``request_id`` is the newest request of ``key`` (older results are stale)."""
        with self._cond:
            return self._latest.get(key) == request_id

    def cancel(self, key: str) -> None:
        """Forget a waiting job and make any running one stale."""
        with self._cond:
            self._pending.pop(key, None)
            self._next_id += 1
            self._latest[key] = self._next_id

    def is_idle(self) -> bool:
        with self._cond:
            return not self._pending and self._running == 0

    def shutdown(self, timeout: float = 5.0) -> None:
        """Stop the thread after the job in hand (waiting jobs are dropped)."""
        with self._cond:
            self._stopping = True
            self._pending.clear()
            self._cond.notify_all()
        if self._thread.is_alive() and threading.current_thread() is not self._thread:
            self._thread.join(timeout)

    def _loop(self) -> None:
        while True:
            with self._cond:
                while not self._pending and not self._stopping:
                    self._cond.wait()
                if self._stopping:
                    return
                key = next(iter(self._pending))
                request_id, job = self._pending.pop(key)
                self._running += 1
            try:
                result = job()
            except LRPStudioError as error:
                self._emit(self.failed, key, request_id, str(error))
            except Exception:  # shown to the user; the thread keeps serving
                self._emit(self.failed, key, request_id, traceback.format_exc(limit=8))
            else:
                self._emit(self.finished, key, request_id, result)
            finally:
                with self._cond:
                    self._running -= 1

    def _emit(self, signal: Any, *args: Any) -> None:
        if self._stopping:
            return
        try:
            signal.emit(*args)
        except RuntimeError:  # the QObject was deleted while the job ran
            pass


class TrainingWorker(QObject):
    """Train a copy of a network in a thread.

    Signals
    -------
    progress(Progress)
        Batch records (at most every ``batch_interval`` seconds) and every epoch record.
    weights(dict, int)
        A snapshot of the trained copy's parameters (NumPy arrays) and the epoch, sent at every
        epoch end and at most every ``weights_interval`` seconds during an epoch.
    finished(str)
        ``"done"`` or ``"stopped"``.
    failed(str)
        One-line message (``TrainingDiverged``, bad parameters, ...); the last good weights
        were already sent.
    """

    progress = Signal(object)
    weights = Signal(object, int)
    finished = Signal(str)
    failed = Signal(str)

    def __init__(self, net: Network, x: np.ndarray, y: np.ndarray, *, epochs: int, batch_size: int, lr: float,
                 optimizer: str, loss: str, validation: tuple[np.ndarray, np.ndarray] | None = None,
                 batch_interval: float = 0.05, weights_interval: float = 1.0, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.net = net.copy()
        self._args = dict(x=x, y=y, epochs=epochs, batch_size=batch_size, lr=lr, optimizer=optimizer, loss=loss,
                          validation=validation)
        self.batch_interval = batch_interval
        self.weights_interval = weights_interval
        self._resume = threading.Event()
        self._resume.set()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    # ------------------------------------------------------------------ control (GUI thread)
    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="lrp-studio-training", daemon=True)
        self._thread.start()

    def pause(self) -> None:
        self._resume.clear()

    def resume(self) -> None:
        self._resume.set()

    @property
    def paused(self) -> bool:
        return not self._resume.is_set()

    def stop(self) -> None:
        self._stop.set()
        self._resume.set()

    def is_running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def wait(self, timeout: float | None = None) -> bool:
        if self._thread is not None:
            self._thread.join(timeout)
        return not self.is_running()

    # ------------------------------------------------------------------ thread
    def _snapshot(self) -> dict[str, np.ndarray]:
        return {key: np.array(value, copy=True) for key, value in self.net.state_dict().items()}

    def _run(self) -> None:
        generator = train(self.net, **self._args)
        last_batch = last_weights = time.perf_counter()
        sent_epoch = None
        reason = "done"
        try:
            for record in generator:
                now = time.perf_counter()
                if record.kind == "epoch":
                    self._safe(self.weights, self._snapshot(), record.epoch)
                    self._safe(self.progress, record)
                    last_weights = last_batch = now
                else:
                    if now - last_batch >= self.batch_interval or record.epoch != sent_epoch:
                        self._safe(self.progress, record)  # at least the first batch of every epoch
                        last_batch, sent_epoch = now, record.epoch
                    if now - last_weights >= self.weights_interval:
                        self._safe(self.weights, self._snapshot(), record.epoch)
                        last_weights = now
                if not self._resume.is_set():
                    self._resume.wait()
                if self._stop.is_set():
                    reason = "stopped"
                    break
        except TrainingDiverged as error:
            self._safe(self.weights, self._snapshot(), -1)
            self._safe(self.failed, str(error))
            return
        except LRPStudioError as error:
            self._safe(self.failed, str(error))
            return
        except Exception:
            self._safe(self.failed, traceback.format_exc(limit=8))
            return
        finally:
            generator.close()
        if reason == "stopped":
            self._safe(self.weights, self._snapshot(), -1)
        self._safe(self.finished, reason)

    def _safe(self, signal: Any, *args: Any) -> None:
        try:
            signal.emit(*args)
        except RuntimeError:
            pass
