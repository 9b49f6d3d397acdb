"""Method flags built from the declarations: refused flags, deprecated spellings, and the rule flags of compare/evaluate."""

from __future__ import annotations

import json

import numpy as np
import pytest

import lrp_studio
from lrp_studio.cli import build_parser, main
from lrp_studio.cli.options import param_flag
from lrp_studio.data import load_mnist_subset
from lrp_studio.lrp import METHODS, all_params
from lrp_studio.zoo import load_any_model


def run(capsys, *argv):
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


def one_error_line(code: int, err: str) -> str:
    lines = err.strip().splitlines()
    assert code == 2 and len(lines) == 1 and lines[0].startswith("lrp-studio: error: "), (code, err)
    assert "Traceback" not in err
    return lines[0]


# ------------------------------------------------------------------------------------------ flags from declarations
def test_every_declared_parameter_has_a_flag_with_its_help_and_methods(capsys):
    assert main(["explain", "--help"]) == 0
    text = " ".join(capsys.readouterr().out.split())  # argparse wraps lines
    for param in all_params():
        assert param_flag(param) in text
        assert " ".join(param.help.split()[:6]) in text, param.name
    # the epilog lists every method with its parameter flags and the method's own default
    for name in METHODS:
        assert f" {name} " in text
    assert "epsilon-plus composite bias --epsilon 1e-06" in text
    assert "epsilon rule bias --epsilon 0.25" in text
    assert "smoothgrad baseline --smoothgrad-samples 32, --noise 0.1, --smoothgrad-seed 0" in text


def test_flag_names_mean_one_thing_across_sub_commands():
    """A method flag has the same dest in every command; no command uses it for something else."""
    parser = build_parser()
    commands = parser._subparsers._group_actions[0].choices  # noqa: SLF001 - argparse keeps them here
    flags: dict[str, set[str]] = {}
    for name in ("explain", "export", "compare", "evaluate"):
        for action in commands[name]._actions:  # noqa: SLF001
            for option in action.option_strings:
                if action.help != "==SUPPRESS==":
                    flags.setdefault(option, set()).add(action.dest)
    for param in all_params():
        assert flags[param_flag(param)] == {f"param_{param.name}"}
    assert flags["--target"] == {"target"} and flags["--upscale"] == {"upscale"}
    assert "--samples" not in flags and "--steps" not in flags and "--scale" not in flags


def test_only_the_given_parameters_reach_explain(capsys, tmp_path, monkeypatch):
    """No flag given: explain() gets no parameter keywords at all (the declarations' defaults apply)."""
    from lrp_studio.cli import explain as command

    seen = []
    real = command.explain

    def spy(*args, **kwargs):
        seen.append(kwargs)
        return real(*args, **kwargs)

    monkeypatch.setattr("lrp_studio.cli.explain.explain", spy)
    assert run(capsys, "explain", "--method", "epsilon-gamma-box", "--index", "2")[0] == 0
    assert run(capsys, "explain", "--method", "epsilon-gamma-box", "--index", "2", "--gamma", "0.5")[0] == 0
    names = {p.name for p in all_params()}
    assert [sorted(set(k) & names) for k in seen] == [[], ["gamma"]]
    assert seen[1]["gamma"] == 0.5 and seen[0]["bias"] is None


@pytest.mark.parametrize("argv, fragment", [
    (["--method", "epsilon", "--gamma", "0.5"], "--gamma: method 'epsilon' does not take it; it takes: --epsilon"),
    (["--method", "gradient", "--epsilon", "0.1"], "--epsilon: method 'gradient' does not take it"),
    (["--method", "epsilon-alpha2-beta1", "--alpha", "3", "--beta", "2"],
     "--alpha: method 'epsilon-alpha2-beta1' fixes alpha=2, beta=1; for other values use --method alphabeta"),
    (["--method", "lrp0", "--integrated-gradients-steps", "8"], "--integrated-gradients-steps: method 'lrp0'"),
    (["--method", "smoothgrad", "--no-bias"], "--no-bias: method 'smoothgrad' has no biases"),
    (["--rules", "1:flat,3:zplus,5:epsilon", "--gamma", "1"], "--gamma: method 'custom 1:flat,3:zplus,5:epsilon'"),
    (["--method", "epsilon", "--epsilon", "0"], "--epsilon: epsilon must be 1e-09 .. 1e+06"),
    (["--method", "epsilon", "--epsilon", "abc"], "--epsilon: invalid float value: 'abc'"),
    (["--method", "nosuch"], "--method: invalid choice: 'nosuch'"),
    (["--target", "label", "--input", "x.npy"], "--target label: the input has no label"),
])
def test_refused_flags_name_the_flag(capsys, tmp_path, monkeypatch, argv, fragment):
    monkeypatch.chdir(tmp_path)
    np.save(tmp_path / "x.npy", np.zeros((28, 28), np.float32))
    line = one_error_line(*run(capsys, "explain", "--index", "3", *argv)[::2])
    assert fragment in line, line


def test_rules_flags_reach_the_rules_that_take_them(capsys, tmp_path):
    net, x = load_any_model("mlp"), load_mnist_subset("all").x[3:4]
    npy = tmp_path / "r.npy"
    code, _, err = run(capsys, "explain", "--index", "3", "--rules", "1:zplus,3:gamma,5:epsilon", "--gamma", "2",
                       "--epsilon", "0.01", "--npy", npy)
    assert code == 0, err
    rules = {1: "zplus", 3: "gamma", 5: "epsilon"}
    expected = lrp_studio.explain(net, x, method=rules, gamma=2.0, epsilon=0.01).relevance[0]
    np.testing.assert_allclose(np.load(npy), expected, rtol=1e-5, atol=1e-7)
    assert not np.allclose(expected, lrp_studio.explain(net, x, method=rules).relevance[0], rtol=1e-3)


# ------------------------------------------------------------------------------------------ deprecated spellings
@pytest.mark.parametrize("old, new", [
    (["--method", "integrated-gradients", "--steps", "4"], ["--method", "integrated-gradients",
                                                              "--integrated-gradients-steps", "4"]),
    (["--method", "smoothgrad", "--samples", "3"], ["--method", "smoothgrad", "--smoothgrad-samples", "3"]),
    (["--scale", "3"], ["--upscale", "3"]),
])
def test_deprecated_explain_spellings_still_work_with_a_note(capsys, tmp_path, old, new):
    outputs = []
    for argv, name in ((old, "old"), (new, "new")):
        code, out, err = run(capsys, "explain", "--model", "cnn", "--index", "5", *argv,
                             "--npy", tmp_path / f"{name}.npy", "--out", tmp_path / f"{name}.png")
        assert code == 0, err
        outputs.append(err)
    flag = old[-2]
    replacement = new[new.index(old[-1]) - 1]
    assert outputs[0].strip().splitlines() == [f"lrp-studio: note: {flag} is deprecated here; use {replacement}"]
    assert outputs[1].strip() == ""
    np.testing.assert_array_equal(np.load(tmp_path / "old.npy"), np.load(tmp_path / "new.npy"))
    assert (tmp_path / "old.png").read_bytes() == (tmp_path / "new.png").read_bytes()
    if flag == "--scale":
        from PIL import Image

        assert Image.open(tmp_path / "old.png").size == (28 * 3, 28 * 3)


@pytest.mark.parametrize("argv", [["--steps", "4", "--integrated-gradients-steps", "8"],
                                  ["--integrated-gradients-steps=8", "--steps", "4"]])
def test_old_and_new_spelling_together_are_refused(capsys, argv):
    """Either order: the later one would silently win otherwise."""
    code, _, err = run(capsys, "explain", "--method", "integrated-gradients", *argv)
    error = [line for line in err.strip().splitlines() if "error:" in line]
    assert code == 2 and len(error) == 1 and "Traceback" not in err, err
    assert error[0] == ("lrp-studio: error: --steps and --integrated-gradients-steps both given (the same "
                        "setting); use --integrated-gradients-steps alone")


def test_deprecated_export_class_selects_like_label(capsys, tmp_path):
    for flag in ("--class", "--label"):
        code, _, err = run(capsys, "export", "--dataset", "mnist:test", "--indices", "95:105", flag, "1",
                           "--method", "lrp0", "--out-dir", tmp_path / flag)
        assert code == 0, err
        assert ("deprecated" in err) == (flag == "--class")
    rows = [(tmp_path / flag / "index.csv").read_text() for flag in ("--class", "--label")]
    assert rows[0] == rows[1] and len(rows[0].splitlines()) == 6  # test samples 100..104 are the 1s


def test_deprecated_compare_and_evaluate_spellings(capsys, tmp_path):
    code, _, err = run(capsys, "compare", "--model", "cnn", "--methods", "lrp0", "--no-perturbation",
                       "--scale", "each", "--zoom", "2", "--out", tmp_path / "g.png")
    assert code == 0, err
    assert "--scale is deprecated here; use --color-scale" in err and "--zoom is deprecated here; use --upscale" in err
    code, _, err = run(capsys, "evaluate", "--model", "cnn", "--methods", "lrp0", "--samples", "2", "--steps", "3",
                       "--out", tmp_path / "r.json")
    assert code == 0, err
    assert "--samples is deprecated here; use --n-samples" in err
    assert "--steps is deprecated here; use --perturbation-steps" in err
    report = json.loads((tmp_path / "r.json").read_text())
    assert report["samples"] == 2 and report["protocol"]["steps"] == 3


# ------------------------------------------------------------------------------------------ compare / evaluate
def _compare_sums(out: str, methods: list[str]) -> dict[str, float]:
    rows = {line.split()[0]: line.split() for line in out.splitlines() if line.split()}
    return {m: float(rows[m][1]) for m in methods}


def test_compare_takes_rule_parameters_and_no_bias(capsys):
    net, x = load_any_model("cnn"), load_mnist_subset("all").x[4:5]
    methods = ["epsilon", "gamma", "gradient"]
    argv = ["compare", "--model", "cnn", "--index", "4", "--methods", ",".join(methods), "--no-perturbation"]
    code, out, err = run(capsys, *argv, "--epsilon", "2", "--gamma", "1", "--no-bias")
    assert code == 0, err
    sums = _compare_sums(out, methods)
    t = int(np.argmax(net.predict(x)[0]))
    expected = {"epsilon": lrp_studio.explain(net, x, t, "epsilon", epsilon=2.0, bias=False),
                "gamma": lrp_studio.explain(net, x, t, "gamma", gamma=1.0, bias=False),
                "gradient": lrp_studio.explain(net, x, t, "gradient")}
    for name, exp in expected.items():
        assert sums[name] == pytest.approx(float(exp.relevance.sum()), rel=1e-3), name
    code, out, err = run(capsys, *argv)
    defaults = _compare_sums(out, methods)
    assert defaults["epsilon"] != pytest.approx(sums["epsilon"], rel=1e-2)
    assert defaults["gamma"] != pytest.approx(sums["gamma"], rel=1e-2)


@pytest.mark.parametrize("argv, fragment", [
    (["--methods", "lrp0,gradient", "--gamma", "1"], "--gamma: none of the methods lrp0, gradient takes it"),
    (["--methods", "gradient,occlusion", "--no-bias"], "--no-bias: none of the methods gradient, occlusion"),
    (["--methods", "epsilon", "--epsilon", "-1"], "--epsilon: epsilon must be"),
])
def test_compare_and_evaluate_refuse_flags_no_method_takes(capsys, tmp_path, argv, fragment):
    for command in (["compare"], ["evaluate", "--out", str(tmp_path / "r.json")]):
        line = one_error_line(*run(capsys, *command, "--model", "cnn", *argv)[::2])
        assert fragment in line, line
    assert not (tmp_path / "r.json").exists()


def test_evaluate_takes_rule_parameters_and_no_bias(capsys, tmp_path):
    """--epsilon reaches epsilon only, --no-bias reaches the LRP methods, neither the gradient."""
    methods = ["epsilon", "lrp0", "gradient"]

    def per_sample(*flags):
        report = tmp_path / "r.json"
        code, _, err = run(capsys, "evaluate", "--model", "cnn", "--methods", ",".join(methods), "--n-samples", "4",
                           "--perturbation-steps", "4", "--reference", "none", "--select", "first", *flags,
                           "--out", report)
        assert code == 0, err
        scores = json.loads(report.read_text())["methods"]
        return {name: scores[name]["aopc_per_sample"] for name in methods}

    default, tuned = per_sample(), per_sample("--epsilon", "50", "--no-bias")
    assert tuned["gradient"] == default["gradient"]
    assert not np.allclose(tuned["epsilon"], default["epsilon"])
    assert not np.allclose(tuned["lrp0"], default["lrp0"])  # lrp0 takes no epsilon: --no-bias did this
    from lrp_studio.lrp.faithfulness import EvaluationSettings, evaluate_methods

    params = {"epsilon": {"epsilon": 50.0, "bias": False}, "lrp0": {"bias": False}}
    scores = evaluate_methods(load_any_model("cnn"), load_mnist_subset("test").x[:4], methods=["epsilon", "lrp0"],
                              include_random=False, settings=EvaluationSettings(steps=4, method_params=params))
    for name in ("epsilon", "lrp0"):
        np.testing.assert_allclose(tuned[name], scores[name].per_sample, rtol=1e-6)


def test_target_vocabulary_is_the_same_in_every_command(capsys, tmp_path):
    """--target label explains the true label in explain, export, compare and evaluate alike."""
    data = load_mnist_subset("test")
    net = load_any_model("mlp")
    wrong = int(np.flatnonzero(net.predict(data.x).argmax(axis=1) != data.y)[0])
    label = data.classes[int(data.y[wrong])]
    code, out, _ = run(capsys, "explain", "--dataset", "mnist:test", "--index", wrong, "--target", "label")
    assert code == 0 and f"target:     class {label} " in out
    code, _, _ = run(capsys, "export", "--dataset", "mnist:test", "--indices", f"{wrong}:{wrong + 1}",
                     "--target", "label", "--out-dir", tmp_path)
    assert code == 0 and (tmp_path / "index.csv").read_text().splitlines()[1].split(",")[3] == label
    code, out, _ = run(capsys, "compare", "--dataset", "mnist:test", "--index", wrong, "--methods", "lrp0",
                       "--target", "label", "--no-perturbation")
    assert code == 0 and f"explaining class {label} " in out
    code, _, err = run(capsys, "evaluate", "--methods", "lrp0", "--n-samples", "3", "--perturbation-steps", "2",
                       "--target", "label", "--out", tmp_path / "r.json")
    assert code == 0, err
    assert json.loads((tmp_path / "r.json").read_text())["target"] == "label"
