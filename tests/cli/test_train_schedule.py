"""``lrp-studio train``: step decay (--decay-at/--decay), random-shift augmentation (--shift) and the
training record (--record) equal the same training written out by hand with the library."""

from __future__ import annotations

import json
import shlex

import numpy as np
import pytest

from lrp_studio.cli import main
from lrp_studio.cli.main import build_parser
from lrp_studio.data import load_dataset
from lrp_studio.data.augment import random_shift
from lrp_studio.io import load_model
from lrp_studio.nn import train
from lrp_studio.zoo import build_architecture

ARCH = "conv:2:3,bn,relu,maxpool:2,dense:10"


def by_hand(phases, shift=0, seed=0):
    """The library calls the CLI's options stand for: (epochs, lr, seed) phases, shifted epochs."""
    data = load_dataset("mnist:test")
    net = build_architecture(ARCH, data.x.shape[1:], 10, classes=list(data.classes), input_range=data.input_range,
                             seed=seed)
    done = 0
    for count, lr, phase_seed in phases:
        x = random_shift(data.x, shift, np.random.default_rng([seed, done])) if shift else data.x
        for _ in train(net, x, data.y, count, 64, lr, "momentum", "cross-entropy", phase_seed):
            pass
        done += count
    return net


def run_cli(tmp_path, *options):
    out, record = tmp_path / "m.npz", tmp_path / "r.json"
    code = main(["train", "--arch", ARCH, "--dataset", "mnist:test", "--validation", "mnist:test", "--lr", "0.05",
                 *options, "--out", str(out), "--record", str(record)])
    assert code == 0
    return load_model(out), json.loads(record.read_text(encoding="utf-8"))


def same_weights(a, b):
    sa, sb = a.state_dict(), b.state_dict()
    assert sa.keys() == sb.keys()
    for key in sa:
        np.testing.assert_array_equal(sa[key], sb[key], err_msg=key)


def test_decay_at_trains_two_phases_with_the_decayed_rate(tmp_path, capsys):
    net, record = run_cli(tmp_path, "--epochs", "3", "--decay-at", "3", "--decay", "0.2")
    same_weights(net, by_hand([(2, 0.05, 0), (1, 0.01, 1)]))
    assert [(e["epoch"], e["lr"]) for e in record["epochs"]] == [(1, 0.05), (2, 0.05), (3, 0.01)]
    assert "x 0.2 from epoch 3" in capsys.readouterr().out


def test_shift_augments_every_epoch_anew(tmp_path):
    net, record = run_cli(tmp_path, "--epochs", "2", "--shift", "1", "--seed", "3")
    same_weights(net, by_hand([(1, 0.05, 3), (1, 0.05, 4)], shift=1, seed=3))
    assert record["validation"]["samples"] == 1000 and len(record["epochs"]) == 2


def test_the_record_holds_a_command_that_parses_back(tmp_path):
    _, record = run_cli(tmp_path, "--epochs", "2", "--decay-at", "2", "--shift", "1")
    again = vars(build_parser().parse_args(shlex.split(record["command"])[1:]))
    assert again["arch"] == ARCH and again["decay_at"] == 2 and again["shift"] == 1 and again["lr"] == 0.05
    assert record["validation"]["accuracy"] == pytest.approx(record["epochs"][-1]["val_accuracy"])
    assert record["parameters"] > 0 and record["numpy"] == np.__version__


@pytest.mark.parametrize("options, message", [
    (["--epochs", "3", "--decay-at", "1"], "--decay-at 1: must lie in 2..3"),
    (["--epochs", "3", "--decay-at", "4"], "--decay-at 4: must lie in 2..3"),
    (["--epochs", "3", "--decay-at", "2", "--decay", "0"], "--decay 0.0: must lie in"),
    (["--dataset", "toy:moons", "--shift", "1"], "--shift 1: needs image data"),
    (["--record", "run.txt"], "training records end in .json"),
])
def test_bad_schedule_options_are_one_line_errors(tmp_path, capsys, options, message):
    code = main(["train", "--arch", "mlp:4", "--out", str(tmp_path / "m.npz"), *options])
    err = capsys.readouterr().err
    assert code == 2 and message in err and "Traceback" not in err
    assert not (tmp_path / "m.npz").exists()
