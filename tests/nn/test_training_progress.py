"""Point 12 of issue 13: progress within an epoch (a callback every k batches; the CLI's lines)."""

from __future__ import annotations

import numpy as np
import pytest

from lrp_studio.data import make_toy
from lrp_studio.errors import ParameterError
from lrp_studio.nn import fit, mlp, train
from lrp_studio.nn.training import every_k_batches


def moons_net():
    return mlp([2, 8, 1], input_shape=(2,), seed=0)


def test_callback_every_k_batches_sees_the_same_records_as_every_batch():
    data = make_toy("moons", n_samples=200)
    every_batch, every_third = [], []
    fit(moons_net(), data.x, data.y, epochs=2, batch_size=16, lr=0.05, loss="bce", callback=every_batch.append)
    fit(moons_net(), data.x, data.y, epochs=2, batch_size=16, lr=0.05, loss="bce", callback=every_third.append,
        every=3)
    n_batches = 13  # ceil(200 / 16)
    batches = [(r.epoch, r.batch) for r in every_third if r.kind == "batch"]
    expected = [(e, b) for e in range(2) for b in range(n_batches) if (b + 1) % 3 == 0 or b == n_batches - 1]
    assert batches == expected  # inside every epoch, not only at its end
    assert [r.kind for r in every_third].count("epoch") == 2
    kept = {(r.kind, r.epoch, r.batch): r for r in every_batch}
    for record in every_third:  # the same training: the thinned records are the full run's records
        assert record == kept[(record.kind, record.epoch, record.batch)]


def test_callback_can_stop_inside_an_epoch():
    data = make_toy("moons", n_samples=200)
    seen = []

    def stop_at_second(record):
        seen.append(record)
        return len(seen) < 2

    history = fit(moons_net(), data.x, data.y, epochs=3, batch_size=16, loss="bce", callback=stop_at_second, every=4)
    assert [(r.kind, r.batch) for r in seen] == [("batch", 3), ("batch", 7)] and history["loss"] == []


@pytest.mark.parametrize("every", [0, -2, 1.5])
def test_bad_k_is_a_parameter_error(every):
    data = make_toy("moons", n_samples=40)
    with pytest.raises(ParameterError, match="k >= 1"):
        every_k_batches(train(moons_net(), data.x, data.y, loss="bce"), every)


def test_cli_train_reports_progress_within_an_epoch_without_a_terminal(capsys, tmp_path, monkeypatch):
    """stderr is captured (not a terminal, so tqdm's bar is off): plain lines name the batch inside the epoch."""
    from lrp_studio.cli import main
    from lrp_studio.cli import train as train_command

    monkeypatch.setattr(train_command, "LOG_INTERVAL_S", 0.0)
    code = main(["train", "--arch", "mlp:8", "--dataset", "toy:moons", "--loss", "bce", "--epochs", "2",
                 "--batch-size", "4", "--out", str(tmp_path / "m.npz")])
    err = capsys.readouterr().err
    assert code == 0
    lines = [line for line in err.splitlines() if line.startswith("epoch 1/2: batch ")]
    assert len(lines) == 10  # 100 batches per epoch, a line every 10
    assert lines[0].startswith("epoch 1/2: batch 10/100, loss ") and lines[-1].startswith("epoch 1/2: batch 100/100")
