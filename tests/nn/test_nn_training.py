"""Training: progress records, cancellation, reproducibility, divergence, and that it learns."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from lrp_studio.backend import to_numpy
from lrp_studio.errors import DataError, ParameterError, TrainingDiverged
from lrp_studio.nn.losses import get_loss
from lrp_studio.nn.network import mlp
from lrp_studio.nn.training import Progress, evaluate, fit, train

MNIST = Path(__file__).parents[2] / "resources" / "mnist_5k.npz"


def moons(n_samples=400, noise=0.1, seed=0):
    """Two-moons data: (N, 2) float32 and (N,) int labels (lrp_studio.data.toy when available)."""
    try:
        from lrp_studio.data.toy import make_toy
    except ImportError:
        make_toy = None
    if make_toy is not None:
        data = make_toy("moons", n_samples=n_samples, noise=noise, seed=seed)
        return np.asarray(data.x, np.float32), np.asarray(data.y).astype(np.int64)
    rng = np.random.default_rng(seed)
    half = n_samples // 2
    t0, t1 = rng.uniform(0, np.pi, half), rng.uniform(0, np.pi, n_samples - half)
    x = np.concatenate([np.stack([np.cos(t0), np.sin(t0)], 1), np.stack([1 - np.cos(t1), 0.5 - np.sin(t1)], 1)])
    x += rng.normal(0, noise, x.shape)
    y = np.concatenate([np.zeros(half, np.int64), np.ones(n_samples - half, np.int64)])
    order = rng.permutation(n_samples)
    return x[order].astype(np.float32), y[order]


def snapshot(net):
    """An independent copy of every parameter, as NumPy."""
    return {key: np.array(to_numpy(value), copy=True) for key, value in net.iter_params()}


def assert_same_params(a, b):
    assert a.keys() == b.keys()
    for key in a:
        np.testing.assert_array_equal(a[key], b[key], err_msg=key)


def all_finite(params):
    return all(np.all(np.isfinite(value)) for value in params.values())


def small_problem(n=100, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, 2)).astype(np.float32)
    y = (x[:, 0] * x[:, 1] > 0).astype(np.int64)
    return x, y


# ------------------------------------------------------------------ the progress records


def test_progress_records_per_batch_and_epoch(backend):
    x, y = small_problem(100)
    net = mlp([2, 8, 2], seed=0)
    records = list(train(net, x, y, epochs=2, batch_size=32, lr=0.1))
    assert all(isinstance(r, Progress) for r in records)
    assert [r.kind for r in records] == (["batch"] * 4 + ["epoch"]) * 2
    assert [r.batch for r in records if r.kind == "batch"] == [0, 1, 2, 3] * 2
    assert [r.epoch for r in records] == [0] * 5 + [1] * 5
    assert all(r.n_batches == 4 for r in records)
    for epoch in (0, 1):
        batches = [r for r in records if r.kind == "batch" and r.epoch == epoch]
        summary = next(r for r in records if r.kind == "epoch" and r.epoch == epoch)
        assert summary.loss == pytest.approx(np.mean([r.loss for r in batches]))
        assert summary.accuracy == pytest.approx(np.mean([r.accuracy for r in batches]))
        assert summary.val_loss is None
    assert all(0.0 <= r.accuracy <= 1.0 and np.isfinite(r.loss) for r in records)


def test_batch_record_reports_the_loss_before_its_update(backend):
    """With one full batch, the record's loss is the loss of the weights before the step."""
    x, y = small_problem(64)
    net = mlp([2, 8, 2], seed=0)
    before = evaluate(net, x, y, loss="cross-entropy")
    first = next(iter(train(net, x, y, epochs=1, batch_size=64, lr=0.1)))
    assert first.loss == pytest.approx(before[0], rel=1e-5)
    assert first.accuracy == pytest.approx(before[1])


def test_one_full_batch_step_is_plain_gradient_descent(backend):
    x, y = small_problem(50)
    net = mlp([2, 6, 2], seed=3)
    inputs = net.prepare_input(x)
    trace = net.trace(inputs)
    _, grad_out = get_loss("cross-entropy")(trace.output, backend.asarray(y))
    _, grads = net.backward(grad_out, trace)
    expected = {f"{i}.{name}": to_numpy(param) - 0.5 * to_numpy(grads[i][name])
                for i, layer in enumerate(net.layers) for name, param in layer.params.items()}
    gen = train(net, x, y, epochs=1, batch_size=50, lr=0.5)  # one batch = all samples, order irrelevant
    next(gen)
    gen.close()
    after = snapshot(net)
    for key in expected:
        np.testing.assert_allclose(after[key], expected[key], rtol=1e-5, atol=1e-6, err_msg=key)


def test_closing_the_generator_mid_epoch_keeps_the_last_yielded_weights(backend):
    x, y = small_problem(160)
    net = mlp([2, 8, 8, 2], seed=0)
    gen = train(net, x, y, epochs=3, batch_size=16, lr=0.1, optimizer="momentum")
    snapshots = [snapshot(net)]
    for record in gen:
        snapshots.append(snapshot(net))
        if len(snapshots) == 6:  # five batches into the first epoch of ten
            assert record.kind == "batch" and record.epoch == 0 and record.batch == 4
            break
    gen.close()
    after = snapshot(net)
    assert_same_params(after, snapshots[-1])
    assert all_finite(after)
    for earlier, later in zip(snapshots, snapshots[1:]):  # every yielded batch was one update
        assert any(not np.array_equal(earlier[k], later[k]) for k in earlier)
    # the same run, uncancelled, passes through exactly these weights
    replay = mlp([2, 8, 8, 2], seed=0)
    for count, _ in enumerate(train(replay, x, y, epochs=3, batch_size=16, lr=0.1, optimizer="momentum"), start=1):
        if count == 5:
            break
    assert_same_params(snapshot(replay), after)
    # the network still works after the cancel
    assert np.all(np.isfinite(replay.predict(x)))


def test_fit_callback_returning_false_stops_training(backend):
    x, y = small_problem(100)
    net = mlp([2, 8, 2], seed=0)
    seen = []

    def callback(record):
        seen.append((record, snapshot(net)))
        return len(seen) < 3

    history = fit(net, x, y, epochs=5, batch_size=10, lr=0.1, callback=callback)
    assert len(seen) == 3
    assert history == {"loss": [], "accuracy": []}  # stopped before the first epoch ended
    assert_same_params(snapshot(net), seen[-1][1])


# ------------------------------------------------------------------ reproducibility and validation


@pytest.mark.parametrize("optimizer", ["sgd", "momentum", "adam"])
def test_fit_is_reproducible_with_a_seed(backend, optimizer):
    x, y = small_problem(120)
    runs = []
    for _ in range(2):
        net = mlp([2, 8, 2], seed=1)
        history = fit(net, x, y, epochs=3, batch_size=16, lr=0.05, optimizer=optimizer, seed=7)
        runs.append((history, snapshot(net)))
    assert runs[0][0] == runs[1][0]
    assert len(runs[0][0]["loss"]) == 3
    assert_same_params(runs[0][1], runs[1][1])
    other = mlp([2, 8, 2], seed=1)
    other_history = fit(other, x, y, epochs=3, batch_size=16, lr=0.05, optimizer=optimizer, seed=8)
    assert other_history["loss"] != runs[0][0]["loss"]  # the seed drives the shuffling


def test_fit_with_validation_reports_validation_metrics(backend):
    x, y = small_problem(120)
    xv, yv = small_problem(40, seed=1)
    net = mlp([2, 8, 2], seed=0)
    history = fit(net, x, y, epochs=2, batch_size=20, lr=0.1, validation=(xv, yv))
    assert set(history) == {"loss", "accuracy", "val_loss", "val_accuracy"}
    assert len(history["val_loss"]) == 2 and len(history["val_accuracy"]) == 2
    val_loss, val_acc = evaluate(net, xv, yv)
    assert history["val_loss"][-1] == pytest.approx(val_loss, rel=1e-6)
    assert history["val_accuracy"][-1] == pytest.approx(val_acc)


def test_training_keeps_float32_parameters(backend):
    x, y = small_problem(60)
    for optimizer in ("sgd", "momentum", "adam"):
        net = mlp([2, 4, 2], seed=0)
        fit(net, x, y, epochs=1, batch_size=20, lr=0.01, optimizer=optimizer)
        assert all(value.dtype == np.float32 for _, value in net.iter_params())


# ------------------------------------------------------------------ divergence


@pytest.mark.filterwarnings("ignore:overflow encountered:RuntimeWarning")
@pytest.mark.parametrize("loss,outputs", [("cross-entropy", 2), ("bce", 1), ("mse", 2)])
@pytest.mark.parametrize("lr", [1e4, 1e300], ids=["lr1e4", "lr1e300"])
def test_divergence_raises_and_keeps_the_last_good_weights(backend, loss, outputs, lr):
    x, y = small_problem(200)
    x = x * 10
    net = mlp([2, 16, outputs], seed=0)
    good = snapshot(net)
    gen = train(net, x, y, epochs=20, batch_size=20, lr=lr, loss=loss)
    with pytest.raises(TrainingDiverged) as info:
        for _ in gen:
            good = snapshot(net)
    assert "diverged" in str(info.value)
    after = snapshot(net)
    assert all_finite(after)
    assert_same_params(after, good)


def test_a_finite_but_exploding_loss_counts_as_divergence(backend):
    """Inputs of size 1e5 give an MSE far above any sane value; a tiny step keeps everything finite."""
    x, y = small_problem(40)
    net = mlp([2, 8, 2], seed=0)
    before = snapshot(net)
    huge = x * 1e5
    loss, _ = evaluate(net, huge, y, loss="mse")
    assert np.isfinite(loss) and loss > 1e7
    with pytest.raises(TrainingDiverged):
        fit(net, huge, y, epochs=1, batch_size=40, lr=1e-12, loss="mse")
    assert_same_params(snapshot(net), before)
    # the same step on sane inputs is no divergence
    fit(net, x, y, epochs=1, batch_size=40, lr=1e-12, loss="mse")


def test_fit_raises_training_diverged(backend):
    x, y = small_problem(100)
    net = mlp([2, 8, 2], seed=0)
    with pytest.raises(TrainingDiverged):
        fit(net, x * 10, y, epochs=10, batch_size=10, lr=1e4)
    assert all_finite(snapshot(net))


# ------------------------------------------------------------------ argument checks


@pytest.mark.parametrize("kwargs,error", [
    ({"epochs": 0}, ParameterError),
    ({"batch_size": 0}, ParameterError),
    ({"lr": 0.0}, ParameterError),
    ({"lr": -0.1}, ParameterError),
    ({"optimizer": "rmsprop"}, ParameterError),
    ({"loss": "hinge"}, ParameterError),
])
def test_bad_training_arguments(backend, kwargs, error):
    x, y = small_problem(20)
    net = mlp([2, 4, 2], seed=0)
    before = snapshot(net)
    with pytest.raises(error):
        fit(net, x, y, **kwargs)
    with pytest.raises(error):
        next(train(net, x, y, **kwargs))
    assert_same_params(snapshot(net), before)


def test_bad_training_data(backend):
    x, y = small_problem(20)
    net = mlp([2, 4, 2], seed=0)
    with pytest.raises(DataError):
        fit(net, x, y[:-1])
    with pytest.raises(DataError):
        fit(net, x[:0], y[:0])
    with pytest.raises(DataError):
        fit(net, np.zeros((20, 3), np.float32), y)
    bad = x.copy()
    bad[3, 1] = np.nan
    with pytest.raises(DataError):
        fit(net, bad, y)
    with pytest.raises(ParameterError):  # bce needs a single output
        fit(net, x, y, loss="bce")


# ------------------------------------------------------------------ it learns


def test_mlp_learns_two_moons_with_bce(backend):
    x, y = moons(400, noise=0.1, seed=0)
    net = mlp([2, 16, 16, 1], activation="relu", seed=0)
    history = fit(net, x, y, epochs=40, batch_size=32, lr=0.02, optimizer="adam", loss="bce", seed=0)
    loss, acc = evaluate(net, x, y, loss="bce")
    assert acc >= 0.95, f"accuracy {acc:.3f}"
    assert history["loss"][-1] < history["loss"][0]
    assert loss == pytest.approx(history["loss"][-1], abs=0.05)
    # fresh moons from the same distribution
    x_test, y_test = moons(400, noise=0.1, seed=1)
    assert evaluate(net, x_test, y_test, loss="bce")[1] >= 0.9


@pytest.mark.skipif(not MNIST.exists(), reason="bundled MNIST subset not present")
def test_mlp_learns_1000_mnist_images_in_three_epochs(backend):
    with np.load(MNIST, allow_pickle=False) as data:
        images, labels = data["images"], data["labels"]
    # the file is sorted by class: every fifth image gives 100 of each digit
    x = images[::5].astype(np.float32) / 255.0
    y = labels[::5].astype(np.int64)
    assert len(x) == 1000 and np.all(np.bincount(y) == 100)
    net = mlp([784, 100, 10], activation="relu", seed=0, input_shape=(1, 28, 28))
    history = fit(net, x, y, epochs=3, batch_size=32, lr=0.05, optimizer="momentum", seed=0)
    _, acc = evaluate(net, x, y)
    assert acc > 0.85, f"train accuracy {acc:.3f}"
    assert history["loss"] == sorted(history["loss"], reverse=True)
    # flat rows (N, 784) are accepted as well
    assert evaluate(net, x.reshape(1000, 784), y)[1] == pytest.approx(acc)
