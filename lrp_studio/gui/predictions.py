"""Lazy predictions for the sample browser: chunks in a worker, visible rows first, cached, cancellable.

The sample list shows each sample's predicted class. A VGG-sized model needs minutes for 5,000
samples on a CPU, and predicting them in one call held the activations and im2col columns of 512
samples at once (1.5 GB for a 6x64-channel CNN). Here the dataset is predicted chunk by chunk in a
generator job of the :class:`~lrp_studio.gui.controller.Controller`'s long-job pool: a chunk holds
as many samples as fit :data:`PREDICTION_BUDGET` (:func:`lrp_studio.nn.budget.chunk_size`), the rows
the list shows come first (:meth:`LazyPredictions.prioritize`), every finished chunk is written into
``AppState.predictions`` at once (-1 = not predicted yet), the finished array is cached per (model
digest, dataset), and a model, weights or dataset change quits the running job between two chunks.
A new job starts when the window's next explanation has arrived (:data:`START_DELAY_MS` at most), so
the explanation the user waits for does not share the CPU with it.
"""

from __future__ import annotations

import hashlib
import threading
from collections import OrderedDict
from typing import Any, Iterator

import numpy as np
from PySide6.QtCore import QObject, QTimer, Signal
from superqt.utils import GeneratorWorker

from lrp_studio.backend import to_numpy
from lrp_studio.gui.controller import Controller
from lrp_studio.gui.state import AppState
from lrp_studio.nn.budget import CHUNK_BUDGET, chunk_size
from lrp_studio.nn import Network

#: Unknown prediction (a row not predicted yet).
PENDING = -1
#: Finished prediction arrays kept (model digest, dataset) -> array.
CACHE_ENTRIES = 8
#: float32 values per prediction chunk (~64 MB; a forward pass keeps no trace for LRP).
PREDICTION_BUDGET = 4 * CHUNK_BUDGET
#: A new job starts with the window's next explanation, or after this many ms without one (on a
#: 2-core machine the first explanation of a VGG-sized model would otherwise share the CPU with it).
START_DELAY_MS = 1500
#: Samples per chunk at most (small models would otherwise predict everything in one chunk and
#: the visible rows would get no head start).
MAX_CHUNK = 256


def model_digest(net: Network) -> str:
    """A BLAKE2b digest of the architecture and every parameter and buffer of ``net``.

    Two networks with equal layers and equal weights have equal digests; training changes it.
    About 10 ms per 10 M parameters.
    """
    digest = hashlib.blake2b(repr(net).encode(), digest_size=16)
    digest.update(repr(tuple(tuple(s) for s in net.shapes)).encode())
    for layer in net.layers:
        for values in (layer.params, getattr(layer, "buffers", {}) or {}):
            for name in sorted(values):
                digest.update(name.encode())
                digest.update(np.ascontiguousarray(to_numpy(values[name])).tobytes())
    return digest.hexdigest()


def prediction_chunk(net: Network) -> int:
    """Samples per prediction chunk: :data:`PREDICTION_BUDGET` (:func:`~lrp_studio.nn.budget.chunk_size`), at most MAX_CHUNK."""
    return int(min(MAX_CHUNK, chunk_size(net, PREDICTION_BUDGET)))


class ChunkQueue:
    """The rows still to predict, shared between the GUI thread and the worker (under a lock).

    Parameters
    ----------
    n : int
        Dataset size.
    chunk : int
        Samples per chunk (>= 1).
    """

    def __init__(self, n: int, chunk: int) -> None:
        self._lock = threading.Lock()
        self._todo = np.ones(n, dtype=bool)
        self._first: np.ndarray = np.zeros(0, np.int64)
        self._cursor = 0
        self.chunk = max(1, int(chunk))

    def prioritize(self, rows: np.ndarray) -> None:
        """Predict these dataset rows before the others (the rows the list shows now)."""
        with self._lock:
            self._first = np.asarray(rows, dtype=np.int64).reshape(-1)

    def take(self) -> np.ndarray:
        """The next chunk of dataset rows (ascending; empty when every row is taken)."""
        with self._lock:
            first = self._first[self._todo[self._first]] if len(self._first) else self._first
            picked = list(first[: self.chunk])
            while len(picked) < self.chunk and self._cursor < len(self._todo):
                if self._todo[self._cursor] and self._cursor not in picked:
                    picked.append(self._cursor)
                self._cursor += 1
            rows = np.unique(np.asarray(picked, dtype=np.int64))
            self._todo[rows] = False
            return rows

    def remaining(self) -> int:
        with self._lock:
            return int(self._todo.sum())


def predict_chunks(net: Network, x: np.ndarray, queue: ChunkQueue, state: AppState
                   ) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """Yield (rows, predicted classes) chunk by chunk until ``queue`` is empty (run in a worker).

    Parameters
    ----------
    net : Network
    x : numpy.ndarray, shape (N, ...)
        The dataset's inputs.
    queue : ChunkQueue
        Which rows come next.
    state : AppState
        Only for :meth:`AppState.predicted_class` (argmax, or ``z > 0`` for one output).
    """
    while True:
        rows = queue.take()
        if not len(rows):
            return
        yield rows, np.asarray(state.predicted_class(net.predict(x[rows], len(rows))), dtype=np.int64).reshape(-1)


class LazyPredictions(QObject):
    """Fills ``state.predictions`` in the background; one job at a time.

    Signals
    -------
    progress(done, total)
        After every chunk (and 0/total at a start, total/total from the cache).
    """

    progress = Signal(int, int)

    def __init__(self, state: AppState, controller: Controller, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.state = state
        self.controller = controller
        self.cache: OrderedDict[tuple[str, int], np.ndarray] = OrderedDict()
        self._datasets: dict[int, Any] = {}  # keeps cached datasets alive, so their id() stays theirs
        self.worker: GeneratorWorker | None = None
        self.queue: ChunkQueue | None = None
        self.chunk: int | None = None  # None: prediction_chunk(net); tests set a small one
        self.chunks_done = 0
        self.arrived: list[np.ndarray] = []  # rows of the current job's chunks in the order they came back
        self._job = 0
        self._key: tuple[str, int] | None = None
        self._visible: np.ndarray = np.zeros(0, np.int64)
        self._waiting_job: int | None = None
        self._delay = QTimer(self)
        self._delay.setSingleShot(True)
        self._delay.setInterval(START_DELAY_MS)
        self._delay.timeout.connect(self._launch)
        state.explanationChanged.connect(self._launch)
        state.explanationFailed.connect(self._launch)

    # ------------------------------------------------------------------ public
    def start(self) -> None:
        """Cancel the running job and predict the current model on the current dataset (or take the cache)."""
        self.cancel()
        state = self.state
        if not state.fits() or not len(state.dataset):
            state.set_predictions(None)
            return
        key = (model_digest(state.net), id(state.dataset))
        self._key = key
        cached = self.cache.get(key)
        if cached is not None:
            self.cache.move_to_end(key)
            state.set_predictions(cached.copy())
            self.progress.emit(len(cached), len(cached))
            return
        n = len(state.dataset)
        self.queue = ChunkQueue(n, self.chunk or prediction_chunk(state.net))
        self.queue.prioritize(self._visible)
        self.chunks_done = 0
        self.arrived = []
        state.set_predictions(np.full(n, PENDING, dtype=np.int64))
        self.progress.emit(0, n)
        self._job += 1
        self._waiting_job = self._job  # launched once the window's explanation is in (or after START_DELAY_MS)
        self._delay.start()

    def _launch(self, *_: Any) -> None:
        """Start the job :meth:`start` prepared: the explanation the user waits for got the CPU first."""
        job, self._waiting_job = self._waiting_job, None
        self._delay.stop()
        if job is None or job != self._job or self.queue is None:
            return
        state = self.state
        self.worker = self.controller.start_generator(
            predict_chunks, state.net, state.dataset.x, self.queue, state,
            _connect={"yielded": lambda item, j=job: self._chunk_done(j, item),
                      "returned": lambda _r, j=job: self._finished(j),
                      "errored": lambda error, j=job: self._failed(j, error)})

    def cancel(self) -> None:
        """Quit the running job between two chunks; its later chunks are never written."""
        self._job += 1
        self._waiting_job = None
        self._delay.stop()
        if self.worker is not None:
            self.worker.quit()
        self.worker = None

    def prioritize(self, rows: np.ndarray) -> None:
        """The dataset rows on screen: predicted next (and first in every later job)."""
        self._visible = np.asarray(rows, dtype=np.int64).reshape(-1)
        if self.queue is not None:
            self.queue.prioritize(self._visible)

    def is_running(self) -> bool:
        """A job is running or waiting to start."""
        return self.worker is not None or self._waiting_job is not None

    # ------------------------------------------------------------------ worker results
    def _chunk_done(self, job: int, item: tuple[np.ndarray, np.ndarray]) -> None:
        predictions = self.state.predictions
        if job != self._job or predictions is None:
            return
        rows, predicted = item
        predictions[rows] = predicted
        self.chunks_done += 1
        self.arrived.append(rows)
        self.state.set_predictions(predictions)
        self.progress.emit(len(predictions) - int(np.count_nonzero(predictions == PENDING)), len(predictions))

    def _finished(self, job: int) -> None:
        if job != self._job:
            return
        self.worker = None
        predictions = self.state.predictions
        if predictions is not None and self._key is not None and not np.any(predictions == PENDING):
            self.cache[self._key] = predictions.copy()
            self._datasets[self._key[1]] = self.state.dataset
            while len(self.cache) > CACHE_ENTRIES:
                old, _ = self.cache.popitem(last=False)
                if not any(k[1] == old[1] for k in self.cache):
                    self._datasets.pop(old[1], None)

    def _failed(self, job: int, error: BaseException) -> None:
        if job != self._job:
            return
        self.worker = None
        from lrp_studio.gui.controller import error_message

        self.state.statusMessage.emit(f"predictions failed: {error_message(error).strip().splitlines()[-1]}")


def install_lazy_predictions(window: Any) -> LazyPredictions:
    """Create the window's :class:`LazyPredictions`; the sample list's visible rows go first."""
    predictions = LazyPredictions(window.state, window.controller, window)
    window.sample_browser.visibleRowsChanged.connect(predictions.prioritize)
    predictions.prioritize(window.sample_browser.on_screen())
    return predictions


__all__ = ["CACHE_ENTRIES", "ChunkQueue", "LazyPredictions", "MAX_CHUNK", "PENDING", "PREDICTION_BUDGET", "START_DELAY_MS",
           "install_lazy_predictions",
           "model_digest", "predict_chunks", "prediction_chunk"]
