"""Training as a generator of progress records: cancellable between batches, prints nothing."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Iterator

import numpy as np

from lrp_studio.backend import get_xp, to_numpy
from lrp_studio.errors import DataError, ParameterError, TrainingDiverged
from lrp_studio.nn.losses import accuracy, get_loss
from lrp_studio.nn.network import Network
from lrp_studio.nn.optimizers import make_optimizer

EXPLODING_LOSS = 1e6


@dataclass(frozen=True)
class Progress:
    """One progress record.

    ``kind`` is ``"batch"`` after every update and ``"epoch"`` after every epoch (then
    ``loss``/``accuracy`` are epoch means over the training data and ``val_*`` are set
    when validation data was given).
    """

    kind: str
    epoch: int
    batch: int
    n_batches: int
    loss: float
    accuracy: float
    val_loss: float | None = None
    val_accuracy: float | None = None


def _check_training_args(net: Network, x: Any, y: Any, epochs: int, batch_size: int) -> None:
    if epochs < 1 or batch_size < 1:
        raise ParameterError(f"epochs and batch size must be >= 1, got {epochs} and {batch_size}")
    if len(x) != len(y):
        raise DataError(f"{len(x)} samples but {len(y)} labels")
    if len(x) == 0:
        raise DataError("no training samples")
    labels = np.asarray(to_numpy(y))
    if labels.ndim != 1:
        return
    if labels.dtype.kind not in "iuf" or (labels.dtype.kind == "f" and not np.isfinite(labels).all()):
        raise DataError(f"labels must be integers, got dtype {labels.dtype}" if labels.dtype.kind not in "iuf"
                        else "labels contain NaN or infinite values")
    outputs = int(net.shapes[-1][0]) if len(net.shapes[-1]) == 1 else 0
    classes = max(outputs, 2)  # one output unit: labels 0 and 1 (bce)
    if labels.size and (labels.min() < 0 or labels.max() >= classes):
        raise DataError(f"labels must lie in 0..{classes - 1} for a network with {outputs} output(s), "
                        f"got {labels.min():g}..{labels.max():g}")


def evaluate(net: Network, x: Any, y: Any, loss: str = "cross-entropy", batch_size: int = 1024) -> tuple[float, float]:
    """Mean loss and accuracy of ``net`` on (x, y)."""
    xp = get_xp()
    output = xp.asarray(net.predict(x, batch_size))
    labels = xp.asarray(np.asarray(y), dtype=np.int64)
    value, _ = get_loss(loss)(output, labels)
    return value, accuracy(output, labels)


def train(
    net: Network,
    x: Any,
    y: Any,
    epochs: int = 1,
    batch_size: int = 64,
    lr: float = 0.01,
    optimizer: str = "sgd",
    loss: str = "cross-entropy",
    seed: int = 0,
    validation: tuple[Any, Any] | None = None,
) -> Iterator[Progress]:
    """Train ``net`` in place with mini-batch gradient descent, yielding progress records.

    Stop iterating (or ``close()`` the generator) to cancel between batches; the network then
    holds the weights of the last completed update. A non-finite or exploding loss restores the
    weights from before the failing update and raises :class:`TrainingDiverged`.

    Parameters
    ----------
    x : array (N, *input_shape) or (N, features)
    y : array (N,) of integer labels
    """
    _check_training_args(net, x, y, epochs, batch_size)
    xp = get_xp()
    inputs = net.prepare_input(x)
    labels = xp.asarray(np.asarray(to_numpy(y)), dtype=np.int64)
    loss_fn = get_loss(loss)
    opt = make_optimizer(optimizer, lr)
    rng = np.random.default_rng(seed)
    n = inputs.shape[0]
    n_batches = (n + batch_size - 1) // batch_size
    for epoch in range(epochs):
        order = xp.asarray(rng.permutation(n))
        losses, accs = [], []
        for b in range(n_batches):
            idx = order[b * batch_size : (b + 1) * batch_size]
            value, acc = _step(net, inputs[idx], labels[idx], loss_fn, opt)
            losses.append(value)
            accs.append(acc)
            yield Progress("batch", epoch, b, n_batches, value, acc)
        record = Progress("epoch", epoch, n_batches - 1, n_batches, float(np.mean(losses)), float(np.mean(accs)))
        if validation is not None:
            val_loss, val_acc = evaluate(net, validation[0], validation[1], loss)
            record = Progress("epoch", epoch, n_batches - 1, n_batches, record.loss, record.accuracy, val_loss, val_acc)
        yield record


def _backup(net: Network) -> list[tuple[dict[str, Any], str, Any]]:
    """Copies (on the backend's device) of every parameter and buffer, with where they belong."""
    return [(store, name, value.copy()) for layer in net.layers for store in (layer.params, layer.buffers)
            for name, value in store.items()]


def _restore(backup: list[tuple[dict[str, Any], str, Any]]) -> None:
    """Put the arrays of :func:`_backup` back."""
    for store, name, value in backup:
        store[name] = value


def _step(net: Network, xb: Any, yb: Any, loss_fn: Callable, opt: Any) -> tuple[float, float]:
    """One forward/backward/update on a batch in training mode; returns (loss, accuracy) before the update.

    ``net.training`` is True only while the step runs (BatchNorm uses the batch statistics and
    updates its running ones), so a network looked at between batches is in its previous mode.
    On divergence parameters and buffers are restored to their values before the step.
    """
    backup = _backup(net)
    was_training = net.training
    net.training = True
    try:
        trace = net.trace(xb)
    finally:
        net.training = was_training
    value, grad = loss_fn(trace.output, yb)
    if not np.isfinite(value) or value > EXPLODING_LOSS:
        _restore(backup)
        raise TrainingDiverged(
            f"training diverged (loss {value:.3g}); the last good weights were kept - try a smaller learning rate"
        )
    _, grads = net.backward(grad, trace, input_grad=False)
    for j, (node, layer) in enumerate(zip(net.names, net.layers)):
        for name, param in layer.params.items():
            opt.step(f"{node}.{name}", param, grads[j][name])
    if not all(bool(get_xp().isfinite(p).all()) for _, p in net.iter_params()):
        _restore(backup)
        raise TrainingDiverged("training diverged (weights became non-finite); the last good weights were kept")
    return value, accuracy(trace.output, yb)


def every_k_batches(records: Iterator[Progress], every: int) -> Iterator[Progress]:
    """Pass on every epoch record and every ``every``-th batch record (plus each epoch's last batch).

    Within-epoch progress for callers that report it (a bar, a log line, a GUI label) without
    handling every batch: batch records ``b`` with ``(b + 1) % every == 0`` or ``b == n_batches - 1``.

    Parameters
    ----------
    records : iterator of Progress
        E.g. :func:`train`'s generator (closed when this generator is closed).
    every : int
        >= 1; 1 passes every record.

    Raises
    ------
    ParameterError
        For ``every < 1`` (before the first record is read).
    """
    if int(every) != every or every < 1:
        raise ParameterError(f"progress every k batches needs an integer k >= 1, got {every!r}")
    return _thinned(records, int(every))


def _thinned(records: Iterator[Progress], every: int) -> Iterator[Progress]:
    try:
        for record in records:
            if record.kind == "epoch" or (record.batch + 1) % every == 0 or record.batch == record.n_batches - 1:
                yield record
    finally:
        close = getattr(records, "close", None)
        if close is not None:
            close()


def fit(
    net: Network,
    x: Any,
    y: Any,
    epochs: int = 1,
    batch_size: int = 64,
    lr: float = 0.01,
    optimizer: str = "sgd",
    loss: str = "cross-entropy",
    callback: Callable[[Progress], Any] | None = None,
    seed: int = 0,
    validation: tuple[Any, Any] | None = None,
    every: int = 1,
) -> dict[str, list[float]]:
    """Train to completion; ``callback(record)`` sees the records and may return False to stop.

    ``callback`` gets every epoch record and, within an epoch, every ``every``-th batch record
    (and each epoch's last one; :func:`every_k_batches`): progress inside a long epoch
    (60,000 MNIST samples take tens of seconds) without a call per batch. Default 1: every batch.

    Returns
    -------
    dict
        Per-epoch ``loss`` and ``accuracy`` (and ``val_loss``/``val_accuracy`` with validation data).
    """
    history: dict[str, list[float]] = {"loss": [], "accuracy": []}
    records = every_k_batches(train(net, x, y, epochs, batch_size, lr, optimizer, loss, seed, validation), every)
    for record in records:
        if record.kind == "epoch":
            history["loss"].append(record.loss)
            history["accuracy"].append(record.accuracy)
            if record.val_loss is not None:
                history.setdefault("val_loss", []).append(record.val_loss)
                history.setdefault("val_accuracy", []).append(record.val_accuracy)
        if callback is not None and callback(record) is False:
            records.close()  # the network keeps the weights of the last completed update
            break
    return history
