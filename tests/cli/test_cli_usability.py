"""--version, "did you mean ...?", no negative indices, and --help that says what --model/--dataset take
and shows defaults (issue 13, point 14)."""

from __future__ import annotations

import argparse
import subprocess
import sys
from pathlib import Path

import pytest

import lrp_studio
from lrp_studio.cli import main
from lrp_studio.cli.main import build_parser
from lrp_studio.errors import ParameterError

ROOT = Path(__file__).resolve().parents[2]


def run(capsys, *argv):
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


@pytest.mark.parametrize("module", ["lrp_studio.cli", "lrp_studio"])
def test_version(module):
    result = subprocess.run([sys.executable, "-m", module, "--version"], cwd=ROOT, capture_output=True, text=True,
                            timeout=60)
    assert result.returncode == 0 and result.stdout.strip() == f"lrp-studio {lrp_studio.__version__}"


@pytest.mark.parametrize("argv, suggestion", [
    (["explain", "--epslion", "5"], "(did you mean '--epsilon'?)"),
    (["explain", "--epslion=5"], "(did you mean '--epsilon'?)"),
    (["export", "--out-dir", "x", "--indeces", "0:2"], "(did you mean '--indices'?)"),
    (["evaluate", "--n-sampels", "4", "--out", "r.json"], "(did you mean '--n-samples'?)"),
    (["explain", "--method", "epslion"], "(did you mean 'epsilon'?)"),
    (["explain", "--method", "epsilon-plus-flt"], "(did you mean 'epsilon-plus-flat'?)"),
    (["explian"], "(did you mean 'explain'?)"),
    (["compare", "--methods", "lrp0,gradiant"], "(did you mean 'gradient'?)"),
    (["compare", "--color-scale", "shard"], "(did you mean 'shared'?)"),
])
def test_misspelt_options_and_methods_get_a_suggestion(capsys, argv, suggestion):
    code, out, err = run(capsys, *argv)
    assert code == 2 and suggestion in err and len(err.strip().splitlines()) == 1, err


def test_no_suggestion_for_something_unlike_any_option(capsys):
    code, out, err = run(capsys, "explain", "--zzzzzzzz", "1")
    assert code == 2 and "unrecognized arguments" in err and "did you mean" not in err


def test_api_suggests_a_method_name():
    net = lrp_studio.load_model("mlp")
    with pytest.raises(ParameterError, match=r"unknown method 'epslion' \(did you mean 'epsilon'\?\)"):
        lrp_studio.explain(net, net.prepare_input([[0.0] * 784]), method="epslion")


@pytest.mark.parametrize("argv", [["explain", "--index", "-1"], ["compare", "--index", "-1", "--methods", "lrp0"],
                                  ["export", "--indices=-5:", "--out-dir", "{tmp}/maps"]])
def test_negative_indices_are_refused(capsys, tmp_path, argv):
    code, out, err = run(capsys, *[a.format(tmp=tmp_path) for a in argv])
    assert code == 2 and ("out of range" in err or "negative" in err), err
    assert out == "" and not (tmp_path / "maps").exists()


def _subparsers():
    parser = build_parser()
    action = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    return action.choices


@pytest.mark.parametrize("command", ["gui", "explain", "export", "compare", "evaluate", "train"])
def test_help_lists_what_model_and_dataset_accept(command):
    text = " ".join(_subparsers()[command].format_help().split())
    if command != "train":
        for accepted in ("mlp", "cnn", ".npz", ".onnx", ".safetensors", "state dict"):
            assert accepted in text, (command, accepted)
    for accepted in ("mnist:train", "mnist:test", "toy:NAME", "moons", ".csv", "IDX pair", "images.idx.gz,labels.idx.gz"):
        assert accepted in text, (command, accepted)


@pytest.mark.parametrize("command", ["gui", "train", "explain", "export", "bench", "import", "compare", "evaluate"])
def test_help_shows_every_default(command):
    """Every option with a default value (not None/False/suppressed) says its default in its help."""
    missing = []
    for action in _subparsers()[command]._actions:
        if not action.option_strings or action.help in (None, argparse.SUPPRESS):
            continue
        if action.default in (None, False, argparse.SUPPRESS) or isinstance(action, argparse._HelpAction):
            continue
        if "default" not in action.help:
            missing.append(action.option_strings[0])
    assert missing == []


def test_misspelt_bundled_model_gets_a_suggestion(capsys):
    code, out, err = run(capsys, "explain", "--model", "cnnn")
    assert code != 0 and "(did you mean 'cnn'?)" in err and len(err.strip().splitlines()) == 1, err
    code, out, err = run(capsys, "explain", "--model", "zzzz")
    assert code != 0 and "did you mean" not in err


@pytest.mark.parametrize("indices", ["995:1005", "0:1001"])
def test_export_range_past_the_dataset_end_is_refused_not_clipped(capsys, tmp_path, indices):
    code, out, err = run(capsys, "export", "--dataset", "mnist:test", "--indices", indices,
                         "--out-dir", str(tmp_path / "h"))
    assert code != 0 and "the dataset has 1000 samples" in err and len(err.strip().splitlines()) == 1, err
    assert not (tmp_path / "h").exists()


def test_export_range_up_to_the_dataset_end_is_accepted():
    from lrp_studio.cli.export import parse_indices
    assert parse_indices("998:1000", 1000).tolist() == [998, 999]
