"""One-output (binary) models: every command names classes, predictions and probabilities right (issue 13, 4).

The model is the README's toy classifier (``train --arch mlp:16,16 --dataset toy:moons --loss bce``):
one output z, class 1 when z > 0, P(class 1) = sigmoid(z); the relevance starts at z.
"""

from __future__ import annotations

import csv
import json

import numpy as np
import pytest

from lrp_studio.cli import main
from lrp_studio.data import make_toy
from lrp_studio.io import load_model
from lrp_studio.lrp.outputs import output_classes


def run(capsys, *argv):
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture(scope="module")
def moons_model(tmp_path_factory):
    path = tmp_path_factory.mktemp("binary") / "moons.npz"
    assert main(["train", "--arch", "mlp:16,16", "--dataset", "toy:moons", "--loss", "bce", "--epochs", "30",
                 "--batch-size", "32", "--lr", "0.1", "--out", str(path)]) == 0
    return path


def _logits(model):
    return np.asarray(load_model(model).predict(make_toy("moons").x), dtype=np.float64)[:, 0]


def test_output_classes_of_one_output_and_of_many():
    binary = output_classes(["1"])
    assert binary.binary and binary.names == ("0", "1") and binary.n_classes == 2
    z = np.array([[-7.49], [0.0], [2.0]])
    np.testing.assert_array_equal(binary.predicted(z), [0, 0, 1])  # z > 0 is class 1
    p1 = 1 / (1 + np.exp(-z[:, 0]))
    np.testing.assert_allclose(binary.probabilities(z), np.stack([1 - p1, p1], axis=1))
    assert binary.unit(1) == binary.unit(0) == 0 and binary.target_name(0) == "1"
    assert output_classes(["dog"]).names == ("not dog", "dog")
    many = output_classes(["a", "b", "c"])
    assert not many.binary and many.predicted(np.array([[0.0, 3.0, 1.0]]))[0] == 1 and many.unit(2) == 2


@pytest.mark.parametrize("sign", [-1, 1])
def test_explain_names_the_binary_prediction_and_its_probability(capsys, moons_model, sign):
    z = _logits(moons_model)
    index = int(np.flatnonzero(np.sign(z) == sign)[0])
    code, out, err = run(capsys, "explain", "--model", moons_model, "--dataset", "toy:moons", "--index", index)
    assert code == 0, err
    assert "Traceback" not in err
    predicted = 1 if z[index] > 0 else 0
    p1 = 1 / (1 + np.exp(-z[index]))
    probability = p1 if predicted else 1 - p1
    assert f"prediction: class {predicted} (probability {probability:.4f})" in out
    assert f"target:     logit z = {z[index]:.6g}" in out
    # the relevance starts at z: the conservation line compares with z itself
    assert f"vs explained logit {z[index]:.6g}" in out


def test_explain_refuses_class_0_as_target_of_a_one_output_model(capsys, moons_model):
    code, out, err = run(capsys, "explain", "--model", moons_model, "--dataset", "toy:moons", "--target", "0")
    assert code == 2 and len(err.strip().splitlines()) == 1 and "logit z" in err
    code, out, err = run(capsys, "explain", "--model", moons_model, "--dataset", "toy:moons", "--target", "1")
    assert code == 0, err


def test_export_index_names_each_binary_prediction(capsys, moons_model, tmp_path):
    code, out, err = run(capsys, "export", "--model", moons_model, "--dataset", "toy:moons", "--indices", "0:40",
                         "--out-dir", tmp_path / "maps")
    assert code == 0, err
    rows = list(csv.DictReader(open(tmp_path / "maps" / "index.csv")))
    expected = (_logits(moons_model)[:40] > 0).astype(int)
    assert [int(row["prediction"]) for row in rows] == expected.tolist()
    assert {row["prediction"] for row in rows} == {"0", "1"}
    assert {row["target"] for row in rows} == {"1"}  # z, class 1's logit, is explained for every sample
    assert all(f"_pred{row['prediction']}.png" in row["png"] for row in rows)
    code, out, err = run(capsys, "export", "--model", moons_model, "--dataset", "toy:moons", "--misclassified",
                         "--out-dir", tmp_path / "wrong")
    assert "Traceback" not in err


def test_compare_and_evaluate_with_a_one_output_model(capsys, moons_model, tmp_path):
    z = _logits(moons_model)
    index = int(np.flatnonzero(z < 0)[0])
    code, out, err = run(capsys, "compare", "--model", moons_model, "--dataset", "toy:moons", "--index", index,
                         "--methods", "lrp0,gradient", "--out", tmp_path / "grid.png")
    assert code == 0, err
    assert f"explaining logit z = {z[index]:.6g}" in out and "predicted class 0" in out
    code, out, err = run(capsys, "evaluate", "--model", moons_model, "--dataset", "toy:moons", "--n-samples", "40",
                         "--methods", "lrp0,gradient", "--region", "1", "--perturbation-steps", "2",
                         "--out", tmp_path / "report.json")
    assert code == 0, err
    report = json.loads((tmp_path / "report.json").read_text())
    labels = make_toy("moons").y[:40]
    assert report["accuracy"] == pytest.approx(float(np.mean((z[:40] > 0) == labels)))
    assert report["accuracy"] > 0.9
