"""``explain --layers`` prints the relevance ledger; ``evaluate --metric`` prints the sanity checks."""

from __future__ import annotations

import json

import numpy as np
import pytest

from lrp_studio.cli import main


def run(capsys, *argv):
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


@pytest.mark.parametrize("model, method", [("mlp", "epsilon"), ("cnn", "epsilon-gamma-box")])
def test_explain_layers_prints_a_ledger_that_adds_up(capsys, model, method):
    code, out, err = run(capsys, "explain", "--model", model, "--index", "3", "--method", method, "--layers")
    assert code == 0, err
    assert "relevance ledger" in out and "waterfall:" in out
    rows = [line.split() for line in out.splitlines() if "(layer " in line and "->" not in line]
    assert rows
    for row in rows:  # in - bias - stabiliser - dropped = out, to the printed digits
        received, bias, stab, dropped, sent = (float(v) for v in row[-5:])
        assert received - bias - stab - dropped == pytest.approx(sent, rel=1e-4, abs=1e-4)
    total = float(out.split("= input total ")[1].split()[0])
    assert total == pytest.approx(float(out.split("sum of input relevance = ")[1].split()[0]), rel=1e-5)


def test_baseline_has_no_ledger(capsys):
    code, out, err = run(capsys, "explain", "--model", "cnn", "--method", "gradient", "--layers")
    assert code == 0, err
    assert "relevance ledger" not in out


def test_evaluate_sanity_metrics_print_per_method_figures(capsys, tmp_path):
    report = tmp_path / "sanity.json"
    code, out, err = run(capsys, "evaluate", "--model", "cnn", "--metric", "randomisation,random-logit,sparseness,aopc",
                         "--methods", "lrp0,gradient", "--n-samples", "6", "--out", str(report))
    assert code == 0, err
    head = next(line for line in out.splitlines() if line.startswith("method") and "AOPC" in line)
    assert head.split()[1:] == ["AOPC", "MPRT", "rho", "MPRT", "SSIM", "eMPRT", "logit", "rho", "logit", "SSIM",
                                "Gini"]
    data = json.loads(report.read_text())
    for method in ("lrp0", "gradient"):
        row = next(line for line in out.splitlines() if line.startswith(method + " "))
        values = [float(v) for v in row.split()[1:]]
        figures = data["methods"][method]
        assert values[0] == pytest.approx(figures["aopc"], abs=1e-3)
        assert values[1] == pytest.approx(figures["spearman"][-1], abs=1e-3)
        assert values[6] == pytest.approx(figures["sparseness"], abs=1e-3)
        assert len(figures["ssim"]) == 4  # the CNN's four dense/conv layers
    assert "rankings" in out and data["rankings"]["aopc"]


def test_default_metric_is_aopc_and_needs_out(capsys):
    code, out, err = run(capsys, "evaluate", "--model", "cnn", "--n-samples", "2")
    assert code == 2 and "--out" in err and "Traceback" not in err


@pytest.mark.parametrize("metric", ["nosuch", "aopc,nosuch", ""])
def test_unknown_metric_is_one_line(capsys, metric):
    code, out, err = run(capsys, "evaluate", "--model", "cnn", "--metric", metric)
    assert code == 2
    lines = err.strip().splitlines()
    assert len(lines) == 1 and "metric" in lines[0] and "Traceback" not in err


def test_tune_prints_the_table_and_the_best_setting(capsys, tmp_path):
    out_csv = tmp_path / "t.csv"
    code, out, err = run(capsys, "tune", "--model", "cnn", "--composite", "epsilon-gamma-box", "--samples", "4",
                         "--grid", "gamma=0,1;epsilon=1e-6", "--csv", str(out_csv))
    assert code == 0, err
    assert "gamma: conv2d (layer 3)" in out and "default" in out and "best: " in out
    best = float(out.split("best: ")[1].split("AOPC ")[1].split()[0])
    default = float(out.split("vs default ")[1].split()[0])
    assert best >= default
    assert len(out_csv.read_text().splitlines()) == 4  # header + gamma 0, 0.25, 1


@pytest.mark.parametrize("argv, message", [
    (["--grid", "alpha=1,2"], "alpha"),
    (["--grid", "gamma=x"], "--grid"),
    (["--composite", "gradient"], "--composite"),
    (["--samples", "0"], "--samples"),
])
def test_tune_bad_input_is_one_line(capsys, argv, message):
    code, out, err = run(capsys, "tune", "--model", "cnn", *argv)
    assert code == 2
    lines = err.strip().splitlines()
    assert len(lines) == 1 and message in lines[0] and "Traceback" not in err
