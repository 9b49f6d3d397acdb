"""``lrp-studio compare`` and ``lrp-studio evaluate``: tables, files, and one-line errors."""

from __future__ import annotations

import json

import pytest
from PIL import Image

from lrp_studio.cli import main


def run(capsys, *argv):
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_compare_prints_a_table_and_writes_the_grid(capsys, tmp_path):
    png = tmp_path / "grid.png"
    code, out, err = run(capsys, "compare", "--model", "cnn", "--dataset", "mnist:test", "--index", "3",
                         "--methods", "lrp0,epsilon-plus-flat,gradient", "--out", str(png))
    assert code == 0, err
    lines = out.splitlines()
    assert "sum R" in out and "logit" in out and "ratio" in out and "r(pert.)" in out
    rows = {line.split()[0]: line.split() for line in lines if line.split() and line.split()[0] in
            ("lrp0", "epsilon-plus-flat", "gradient")}
    assert set(rows) == {"lrp0", "epsilon-plus-flat", "gradient"}
    # epsilon-plus-flat conserves: sum R / logit close to 1
    assert float(rows["epsilon-plus-flat"][3]) == pytest.approx(1.0, abs=0.05)
    with Image.open(png) as image:
        width, height = image.size
    assert width >= 5 * 140 and height > 140  # input + 3 methods + perturbation, zoom 5


def test_compare_each_scale_without_perturbation(capsys, tmp_path):
    png = tmp_path / "grid.png"
    code, out, err = run(capsys, "compare", "--model", "cnn", "--methods", "lrp0,zplus", "--color-scale", "each",
                         "--no-perturbation", "--columns", "1", "--out", str(png))
    assert code == 0, err
    assert "r(pert.)" not in out
    with Image.open(png) as image:
        assert image.size[1] > image.size[0]  # one column


def test_compare_all_methods_without_output_file(capsys):
    from lrp_studio.lrp import METHODS

    code, out, err = run(capsys, "compare", "--model", "cnn", "--no-perturbation")
    assert code == 0, err
    names = {line.split()[0] for line in out.splitlines() if line.split()}
    assert set(METHODS) <= names


def test_evaluate_writes_report_and_plot(capsys, tmp_path):
    report = tmp_path / "report.json"
    code, out, err = run(capsys, "evaluate", "--model", "cnn", "--dataset", "mnist:test",
                         "--methods", "lrp0,gradient", "--n-samples", "6", "--perturbation-steps", "8", "--out", str(report))
    assert code == 0, err
    assert "AOPC" in out and "random" in out and "lrp0" in out
    assert "vs gradient" in out
    data = json.loads(report.read_text())
    assert set(data["methods"]) == {"lrp0", "gradient", "random"}
    assert data["samples"] == 6 and data["protocol"]["steps"] == 8 and data["protocol"]["region"] == 2
    assert len(data["methods"]["lrp0"]["curve_mean"]) == 9 == len(data["removed_percent"])
    assert len(data["methods"]["lrp0"]["aopc_per_sample"]) == 6
    assert "vs_reference" in data["methods"]["lrp0"]
    # the printed AOPC is the report's
    row = next(line for line in out.splitlines() if line.startswith("lrp0 "))
    assert float(row.split()[1]) == pytest.approx(data["methods"]["lrp0"]["aopc"], rel=1e-3)
    plot = tmp_path / "report.png"  # default: next to the report
    with Image.open(plot) as image:
        assert image.size == (900, 600)


def test_evaluate_options(capsys, tmp_path):
    plot = tmp_path / "curves.png"
    code, out, err = run(capsys, "evaluate", "--model", "cnn", "--methods", "lrp0", "--n-samples", "3", "--perturbation-steps", "4",
                         "--per-step", "all", "--region", "4", "--baseline", "blur", "--output", "probability",
                         "--target", "label", "--out", str(tmp_path / "r.json"), "--plot", str(plot))
    assert code == 0, err
    data = json.loads((tmp_path / "r.json").read_text())
    assert data["protocol"]["per_step"] == 13  # ceil(49 / 4)
    assert data["protocol"]["baseline"] == "blur" and data["protocol"]["output"] == "probability"
    assert data["reference"] is None
    assert all(0 <= v <= 1 for v in data["methods"]["lrp0"]["curve_mean"])
    assert plot.exists()


def test_evaluate_seed_reaches_every_row_and_the_report(capsys, tmp_path):
    """--seed changes the uniform noise of the methods' rows as well as the random row's, and the
    report states the seed and the tie rule; the same seed repeats every curve exactly."""
    data = {}
    for name, seed in (("a", "3"), ("b", "3"), ("c", "4")):
        code, out, err = run(capsys, "evaluate", "--model", "cnn", "--methods", "lrp0", "--n-samples", "3",
                             "--perturbation-steps", "6", "--reference", "none", "--seed", seed,
                             "--out", str(tmp_path / f"{name}.json"))
        assert code == 0, err
        assert f"seed {seed}" in out
        data[name] = json.loads((tmp_path / f"{name}.json").read_text())
    assert data["a"]["protocol"]["seed"] == 3 and data["c"]["protocol"]["seed"] == 4
    assert "random key" in data["a"]["protocol"]["ties"] and "noise, order, ties" in data["a"]["protocol"]["streams"]
    for row in ("lrp0", "random"):
        assert data["a"]["methods"][row]["curve_mean"] == data["b"]["methods"][row]["curve_mean"]
        assert data["a"]["methods"][row]["curve_mean"][1:] != pytest.approx(data["c"]["methods"][row]["curve_mean"][1:])


def test_evaluate_selects_class_balanced_samples_by_default(capsys, tmp_path):
    """The default N samples take the classes in turn (seeded); --select first keeps the first N."""
    import numpy as np

    from lrp_studio.data import load_dataset
    labels = np.asarray(load_dataset("mnist:test").y)
    data = {}
    for name, extra in (("a", []), ("b", []), ("c", ["--sample-seed", "1"]), ("first", ["--select", "first"])):
        code, out, err = run(capsys, "evaluate", "--model", "cnn", "--methods", "lrp0", "--n-samples", "20",
                             "--perturbation-steps", "2", "--reference", "none", *extra,
                             "--out", str(tmp_path / f"{name}.json"))
        assert code == 0, err
        data[name] = (json.loads((tmp_path / f"{name}.json").read_text()), out)
    report, out = data["a"]
    chosen = report["selection"]["indices"]
    assert report["selection"]["mode"] == "balanced" and report["selection"]["seed"] == 0
    assert np.bincount(labels[chosen], minlength=10).tolist() == [2] * 10
    assert report["selection"]["class_counts"] == {str(k): 2 for k in range(10)}
    assert "class-balanced (sample seed 0; per class 0:2 1:2 2:2" in out
    assert data["b"][0]["selection"]["indices"] == chosen
    assert data["b"][0]["methods"]["lrp0"]["aopc_per_sample"] == report["methods"]["lrp0"]["aopc_per_sample"]
    assert data["c"][0]["selection"]["indices"] != chosen
    # the rows score exactly the chosen samples (same protocol through the Python API)
    import lrp_studio
    from lrp_studio.lrp.faithfulness import evaluate_methods
    net = lrp_studio.load_model("cnn")
    x = net.prepare_input(np.asarray(load_dataset("mnist:test").x)[chosen])
    expected = evaluate_methods(net, x, methods=["lrp0"], baseline="uniform", steps=2)
    assert report["methods"]["lrp0"]["aopc_per_sample"] == pytest.approx(
        expected["lrp0"].per_sample.tolist(), rel=1e-5)
    first, out = data["first"]
    assert first["selection"]["indices"] == list(range(20)) and first["selection"]["class_counts"]["0"] == 20
    assert "the first 20 (per class 0:20 1:0" in out


@pytest.mark.parametrize("argv, message", [
    (["compare", "--methods", "lrp0,nosuch"], "nosuch"),
    (["compare", "--index", "99999"], "out of range"),
    (["compare", "--cmap", "rainbowish"], "rainbowish"),
    (["evaluate", "--methods", "nosuch", "--out", "r.json"], "nosuch"),
    (["evaluate", "--n-samples", "0", "--out", "r.json"], "--n-samples"),
    (["evaluate", "--n-samples", "-5", "--out", "r.json"], "--n-samples"),
    (["evaluate", "--n-samples", "100000", "--out", "r.json"], "--n-samples"),
    (["evaluate", "--perturbation-steps", "0", "--out", "r.json"], "--perturbation-steps"),
    (["evaluate", "--methods", "lrp0,random", "--out", "r.json"], "random"),
    (["evaluate", "--out", "no/such/folder/r.json"], "does not exist"),
])
def test_bad_input_is_one_line_and_exit_2(capsys, tmp_path, monkeypatch, argv, message):
    monkeypatch.chdir(tmp_path)
    code, out, err = run(capsys, *argv, "--model", "cnn")
    assert code == 2
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("lrp-studio: error:") and message in lines[0], err
    assert "Traceback" not in err
    assert not (tmp_path / "r.json").exists()


@pytest.mark.parametrize("command", ["compare", "evaluate"])
def test_help(capsys, command):
    assert main([command, "--help"]) == 0
    assert "--out" in capsys.readouterr().out
