"""Requests, workers and the routing of their results: the one place the GUI starts background work.

Every background job is a plain function or generator of the compute core (``explain``,
``explain_neuron``, ``Network.predict``, ``nn.train``, ``iter_evaluation``, ...) wrapped in a
superqt worker (:func:`superqt.utils.create_worker`, the napari ``thread_worker`` pattern) only
here, in the GUI: this is the GUI's one worker implementation. Short jobs run on a private one-thread pool: a new job of a key replaces that
key's job still waiting in the queue (``QThreadPool.tryTake``), each job gets a request id, and a
result whose id is not the key's newest is *dropped* (signal :attr:`Controller.dropped`) instead of
being routed to the views. Long jobs (training, evaluations) are generator workers on a second
pool, with pause/resume/quit from superqt (training: :mod:`lrp_studio.gui.training_panel`, the
faithfulness evaluation: :mod:`lrp_studio.gui.faithfulness_view`).
"""

from __future__ import annotations

import ctypes
import inspect
import traceback
from dataclasses import dataclass
from typing import Any, Callable, Iterator, Mapping

from PySide6.QtCore import QObject, QThreadPool, Signal
from superqt.utils import FunctionWorker, GeneratorWorker, create_worker

from lrp_studio.errors import LRPStudioError

_BLAS_SETTERS = ("openblas_set_num_threads", "scipy_openblas_set_num_threads64_", "scipy_openblas_set_num_threads",
                 "openblas_set_num_threads64_", "MKL_Set_Num_Threads")

#: Threads of the pool that runs long generator jobs (training and an evaluation may overlap).
LONG_JOB_THREADS = 2


@dataclass(frozen=True)
class Outcome:
    """What a short job sends back: its key and request id, and its result or error message."""

    key: str
    request_id: int
    result: Any = None
    error: str | None = None


def run_job(key: str, request_id: int, function: Callable[..., Any], args: tuple[Any, ...]) -> Outcome:
    """Call ``function(*args)`` (in a worker thread) and wrap its result or error.

    An :class:`~lrp_studio.errors.LRPStudioError` becomes its one-line message, any other
    exception a short traceback (shown to the user in a dialog); the thread keeps serving.
    """
    try:
        return Outcome(key, request_id, function(*args))
    except LRPStudioError as error:
        return Outcome(key, request_id, error=str(error))
    except Exception:  # noqa: BLE001 - reported to the user, never raised into Qt
        return Outcome(key, request_id, error=traceback.format_exc(limit=8))


def limit_blas_threads(count: int = 1) -> bool:
    """Set the thread count of the BLAS library NumPy loaded (OpenBLAS or MKL).

    The GUI thread paints while the worker explains one sample at a time; on a small machine
    OpenBLAS's spinning helper threads then compete with both and a 3 ms explanation can take
    100 ms. Single-sample work gains nothing from BLAS threads, so the GUI runs BLAS on one thread.
    Linux only (reads ``/proc/self/maps``); elsewhere nothing changes.

    Parameters
    ----------
    count : int, default 1
        Threads the BLAS library may use.

    Returns
    -------
    bool
        True when a BLAS library with a known thread setter was found and set.
    """
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


class JobError(Exception):
    """A ``RuntimeError`` raised inside a generator job, re-raised under this name.

    superqt's worker takes a ``RuntimeError`` for "the worker was deleted" and drops it with a
    warning (no ``errored`` signal); the job's own errors must reach the user.
    """


def guarded(function: Callable[..., Iterator[Any]], *args: Any, **kwargs: Any) -> Iterator[Any]:
    """Run the generator ``function(*args, **kwargs)``, turning its ``RuntimeError`` into :class:`JobError`."""
    try:
        return (yield from function(*args, **kwargs))
    except RuntimeError as error:
        raise JobError(f"{type(error).__name__}: {error}") from error


def error_message(error: BaseException) -> str:
    """What the user sees of a worker's exception: an ``LRPStudioError``'s one line, else a short traceback."""
    if isinstance(error, LRPStudioError):
        return str(error)
    if isinstance(error, JobError) and error.__cause__ is not None:
        error = error.__cause__
    return "".join(traceback.format_exception(type(error), error, error.__traceback__, limit=8))


class Controller(QObject):
    """Owns the worker pools, the request ids and the routing of results.

    Signals
    -------
    finished(key, request_id, result)
        A job of ``key`` returned and ``request_id`` is still the key's newest request.
    failed(key, request_id, message)
        A current job raised (``LRPStudioError``: its message; otherwise a traceback).
    dropped(key, request_id)
        A job returned after a newer request of its key was made; its result is thrown away.
    """

    finished = Signal(str, int, object)
    failed = Signal(str, int, str)
    dropped = Signal(str, int)

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._pool = QThreadPool(self)
        self._pool.setMaxThreadCount(1)  # one explanation at a time: 1-30 ms jobs, a 2-core machine
        self._long_pool = QThreadPool(self)
        self._long_pool.setMaxThreadCount(LONG_JOB_THREADS)
        self._latest: dict[str, int] = {}
        self._waiting: dict[str, tuple[int, FunctionWorker]] = {}
        self._outstanding: dict[int, FunctionWorker] = {}
        self._long_jobs: set[GeneratorWorker] = set()
        self._next_id = 0
        self._stopping = False

    # ------------------------------------------------------------------ short jobs
    def submit(self, key: str, function: Callable[..., Any], *args: Any) -> int:
        """Run ``function(*args)`` in the worker thread under ``key``; returns the request id.

        A job of the same key that has not started yet is taken out of the queue; one that is
        running finishes, and its result is dropped.
        """
        self._next_id += 1
        request_id = self._next_id
        self._latest[key] = request_id
        self._take_waiting(key)
        if self._stopping:
            return request_id
        worker = create_worker(run_job, key, request_id, function, args, _start_thread=False)
        worker.setAutoDelete(False)  # this controller keeps it until its result is routed
        worker.returned.connect(self._routed)
        self._waiting[key] = (request_id, worker)
        self._outstanding[request_id] = worker
        self._pool.start(worker)
        return request_id

    def is_current(self, key: str, request_id: int) -> bool:
        """Whether ``request_id`` is the newest request of ``key`` (older results are stale)."""
        return self._latest.get(key) == request_id

    def cancel(self, key: str) -> None:
        """Forget a waiting job of ``key`` and make a running one stale."""
        self._take_waiting(key)
        self._next_id += 1
        self._latest[key] = self._next_id

    def is_idle(self) -> bool:
        """No short job waiting, running, or with a result not yet routed."""
        return not self._outstanding

    def _take_waiting(self, key: str) -> None:
        waiting = self._waiting.pop(key, None)  # the key's last job: queued still, running or done
        if waiting is not None and self._pool.tryTake(waiting[1]):
            self._outstanding.pop(waiting[0], None)

    def _routed(self, outcome: Outcome) -> None:
        self._outstanding.pop(outcome.request_id, None)
        if self._stopping:
            return
        if not self.is_current(outcome.key, outcome.request_id):
            self.dropped.emit(outcome.key, outcome.request_id)
        elif outcome.error is not None:
            self.failed.emit(outcome.key, outcome.request_id, outcome.error)
        else:
            self.finished.emit(outcome.key, outcome.request_id, outcome.result)

    # ------------------------------------------------------------------ long jobs
    def start_generator(self, function: Callable[..., Any], *args: Any,
                        _connect: Mapping[str, Callable[..., Any]] | None = None, **kwargs: Any) -> GeneratorWorker:
        """Run the generator ``function(*args, **kwargs)`` on the long-job pool.

        The worker's signals (``yielded``, ``errored``, ``aborted``, ``finished``, ``paused``,
        ...) are connected to the slots of ``_connect`` *before* the job starts: a queued
        signal reaches only the slots connected when it is emitted, and a short job can end in
        its thread before the caller's next line runs, so a slot connected after this call may
        miss every signal. The caller steers the job with ``pause()``, ``resume()`` and
        ``quit()``; all three take effect between two yielded values. An exception of the
        generator arrives as ``errored(exception)`` (a ``RuntimeError`` as :class:`JobError`;
        :func:`error_message` gives the text for the user); ``quit()`` gives ``aborted`` and no
        ``returned``.

        Parameters
        ----------
        function : callable
            A generator function, run in a thread of the long-job pool.
        *args, **kwargs
            Its arguments.
        _connect : mapping of str to callable, optional
            Signal name -> slot, connected before the job starts (superqt's ``_connect``).

        Returns
        -------
        GeneratorWorker
            The started worker.

        Raises
        ------
        TypeError
            ``function`` is not a generator function.
        AttributeError
            A name of ``_connect`` is not a signal of the worker.
        """
        if not inspect.isgeneratorfunction(inspect.unwrap(function)):
            raise TypeError(f"{function!r} is not a generator function")
        # errors go to the caller's `errored` slot only (superqt would re-raise them in the GUI thread)
        worker = create_worker(guarded, function, *args, _start_thread=False, _ignore_errors=True, **kwargs)
        worker.setAutoDelete(False)
        worker.finished.connect(lambda w=worker: self._long_jobs.discard(w))
        for name, slot in (_connect or {}).items():
            getattr(worker, name).connect(slot)
        self._long_jobs.add(worker)
        if not self._stopping:
            self._long_pool.start(worker)
        return worker

    # ------------------------------------------------------------------ shutdown
    def shutdown(self, timeout: float = 5.0) -> bool:
        """Drop waiting jobs, ask long jobs to quit and wait for running ones; True when all ended."""
        self._stopping = True
        self._pool.clear()
        self._waiting.clear()
        for worker in list(self._long_jobs):
            worker.quit()  # a paused generator sees the request too (checked before the pause)
        done = self._pool.waitForDone(int(timeout * 1000))
        return self._long_pool.waitForDone(int(timeout * 1000)) and done

    def long_jobs(self) -> int:
        """Generator jobs started and not yet finished (tests of training and evaluations)."""
        return len(self._long_jobs)

    def active_threads(self) -> int:
        """Threads of both pools that are running a job now (tests of the shutdown)."""
        return self._pool.activeThreadCount() + self._long_pool.activeThreadCount()


__all__ = ["Controller", "LONG_JOB_THREADS", "Outcome", "JobError", "error_message", "guarded", "limit_blas_threads", "run_job"]
