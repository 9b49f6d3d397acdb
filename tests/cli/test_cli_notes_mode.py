"""The notes mode from the command line: the deep-Taylor recipe without bias conserves exactly,
the bias line says what the biases absorbed, and ``--start`` picks the start relevance.
"""

from __future__ import annotations

import re

import numpy as np
import pytest

import lrp_studio
from lrp_studio.cli import main
from lrp_studio.data import load_mnist_subset


def run(capsys, *argv):
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def printed(out):
    """(sum of input relevance, start total) from the conservation line."""
    line = next(line for line in out.splitlines() if line.startswith("conservation:"))
    line = re.sub(r" \(-?[\d.]+ %\)$", "", line)
    return float(line.split("sum of input relevance = ")[1].split()[0]), float(line.split()[-1])


@pytest.mark.parametrize("index", [0, 7, 123])
def test_notes_recipe_without_bias_conserves_exactly(capsys, tmp_path, index):
    npy = tmp_path / "r.npy"
    code, out, err = run(capsys, "explain", "--model", "mlp", "--dataset", "mnist", "--index", str(index),
                         "--method", "deep-taylor-unbounded", "--no-bias", "--npy", str(npy))
    assert code == 0, err
    relevance = np.load(npy, allow_pickle=False).astype(np.float64)
    net = lrp_studio.load_model("mlp")
    x = load_mnist_subset("all").x[index : index + 1]
    logits = np.asarray(net.predict(x), dtype=np.float64)[0]
    logit = logits.max()
    assert relevance.sum() == pytest.approx(logit, rel=2e-6)          # float32 precision
    total, start = printed(out)
    assert start == pytest.approx(logit, rel=1e-5) and total == pytest.approx(logit, rel=1e-5)
    bias = next(line for line in out.splitlines() if line.startswith("bias:"))
    assert "off (the notes' bias-free rules)" in bias
    absorbed = float(bias.split("absorbed ")[1].split()[0])
    assert abs(absorbed) < 1e-5 * abs(logit)


def test_bias_on_says_what_the_biases_absorbed(capsys):
    code, out, err = run(capsys, "explain", "--model", "mlp", "--index", "7", "--method", "deep-taylor-unbounded")
    assert code == 0, err
    total, logit = printed(out)
    bias = next(line for line in out.splitlines() if line.startswith("bias:"))
    assert bias.startswith("bias:       on") and "--no-bias" in bias
    absorbed = float(bias.split("absorbed ")[1].split()[0])
    assert absorbed == pytest.approx(logit - total, rel=1e-3, abs=1e-4)
    assert abs(absorbed) > 1e-3 * abs(logit)   # with biases the bundled MLP does not conserve


def test_baseline_bias_line(capsys):
    code, out, _ = run(capsys, "explain", "--index", "7", "--method", "taylor")
    assert code == 0
    assert "bias:       not used (a baseline" in out


def test_start_contrast_and_vector_from_the_cli(capsys, tmp_path):
    net = lrp_studio.load_model("mlp")
    x = load_mnist_subset("all").x[7:8]
    logits = np.asarray(net.predict(x), dtype=np.float64)[0]
    code, out, err = run(capsys, "explain", "--index", "7", "--method", "deep-taylor-unbounded", "--no-bias",
                         "--start", "contrast:0,6")
    assert code == 0, err
    total, start = printed(out)
    assert start == pytest.approx(logits[0] - logits[6], rel=1e-5) and total == pytest.approx(start, rel=1e-5)
    assert "start:      contrast 0-6" in out
    vector = tmp_path / "v.npy"
    np.save(vector, np.arange(10, dtype=np.float64))
    code, out, err = run(capsys, "explain", "--index", "7", "--method", "zplus", "--no-bias",
                         "--start", f"vector:{vector}")
    assert code == 0, err
    total, start = printed(out)
    assert start == pytest.approx(45.0) and total == pytest.approx(45.0, rel=1e-4)


def test_start_outputs_in_export_and_compare(capsys, tmp_path):
    code, out, err = run(capsys, "export", "--indices", "0:3", "--method", "deep-taylor-unbounded", "--no-bias",
                         "--start", "outputs", "--out-dir", str(tmp_path / "o"))
    assert code == 0, err
    relevance = np.load(tmp_path / "o" / "relevance.npy", allow_pickle=False).astype(np.float64)
    net = lrp_studio.load_model("mlp")
    logits = np.asarray(net.predict(load_mnist_subset("test").x[:3]), dtype=np.float64)
    np.testing.assert_allclose(relevance.reshape(3, -1).sum(axis=1), logits.sum(axis=1), rtol=1e-4, atol=1e-4)
    code, out, err = run(capsys, "compare", "--methods", "deep-taylor-unbounded,gradient", "--start", "outputs",
                         "--no-bias", "--no-perturbation")
    assert code == 0, err
    assert "baselines explain the target logit" in out


@pytest.mark.parametrize("argv, message", [
    (["--start", "contrast:0"], "contrast:A,B"),
    (["--start", "contrast:0,zero"], "neither a class index"),
    (["--start", "vector:/nonexistent.npy"], "no such file"),
    (["--start", "softmax"], "unknown start"),
    (["--method", "gradient", "--start", "outputs"], "baseline"),
])
def test_bad_start_is_one_line_and_exit_2(capsys, argv, message):
    code, out, err = run(capsys, "explain", *argv)
    assert code == 2
    assert message in err and len(err.strip().splitlines()) == 1 and "Traceback" not in err
