"""The lrp-studio command: output, files, and one-line errors with a non-zero exit."""

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from lrp_studio.cli import main

ROOT = Path(__file__).resolve().parents[2]


def run(capsys, *argv):
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_explain_prints_prediction_target_and_conservation(capsys, tmp_path):
    png, npy, csv = tmp_path / "h.png", tmp_path / "r.npy", tmp_path / "r.csv"
    code, out, err = run(capsys, "explain", "--model", "cnn", "--dataset", "mnist", "--index", "7",
                         "--method", "epsilon-plus-flat", "--out", str(png), "--npy", str(npy), "--csv", str(csv),
                         "--layers")
    assert code == 0, err
    assert "prediction: class 0" in out and "target:     class 0" in out
    assert "sum of input relevance" in out and "explained logit" in out
    relevance = np.load(npy, allow_pickle=False)
    assert relevance.shape == (1, 28, 28)
    image = Image.open(png)
    assert image.size == (28 * 8, 28 * 8)
    assert np.loadtxt(csv, delimiter=",").shape == (28, 28)
    # The printed input sum is the sum of the saved relevance.
    printed = float(out.split("sum of input relevance = ")[1].split()[0])
    assert printed == pytest.approx(float(relevance.sum()), rel=1e-4)


def test_heatmap_follows_the_strokes(capsys, tmp_path):
    """epsilon-plus-flat on the CNN puts its positive relevance on the digit, not the background."""
    npy = tmp_path / "r.npy"
    code, _, err = run(capsys, "explain", "--model", "cnn", "--index", "7", "--method", "epsilon-plus-flat",
                       "--npy", str(npy))
    assert code == 0, err
    from lrp_studio.data import load_mnist_subset

    from numpy.lib.stride_tricks import sliding_window_view

    image = load_mnist_subset("all").x[7, 0]
    relevance = np.load(npy)[0]
    stroke = image > 0.5
    # Pixels more than 4 px from any stroke (beyond the 5x5 spread of the flat rule).
    far = ~sliding_window_view(np.pad(stroke, 4), (9, 9)).any(axis=(-1, -2))
    assert far.sum() > 50
    assert relevance[stroke].mean() > 20 * abs(relevance[far].mean())


@pytest.fixture
def named_mlp(tmp_path):
    """The bundled MLP saved with class names 'zero' .. 'nine' (so a name is not also an index)."""
    from lrp_studio.io import save_model
    from lrp_studio.zoo import load_any_model

    net = load_any_model("mlp")
    net.classes = ["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine"]
    path = tmp_path / "named.npz"
    save_model(net, path)
    return net, path


def test_explain_target_by_name_and_custom_rules(capsys, tmp_path, named_mlp):
    """--target five explains class 5, and each layer's rule of --rules is the one that ran."""
    import lrp_studio
    from lrp_studio.data import load_mnist_subset

    net, model = named_mlp
    npy = tmp_path / "r.npy"
    code, out, err = run(capsys, "explain", "--model", str(model), "--index", "3", "--target", "five",
                         "--rules", "1:zplus,3:gamma,5:epsilon", "--npy", str(npy))
    assert code == 0, err
    assert "target:     class five" in out and "method:     custom 1:zplus,3:gamma,5:epsilon" in out
    x = load_mnist_subset("all").x[3:4]
    relevance = np.load(npy)
    rules = {1: "zplus", 3: "gamma", 5: "epsilon"}
    expected = lrp_studio.explain(net, x, target=5, method=rules).relevance[0]
    np.testing.assert_allclose(relevance, expected, rtol=1e-5, atol=1e-7)
    predicted = int(np.argmax(net.predict(x)[0]))
    assert predicted != 5  # so the target really is the one asked for, not the prediction
    assert not np.allclose(relevance, lrp_studio.explain(net, x, target=predicted, method=rules).relevance[0])
    for layer, other in ((1, "epsilon"), (3, "zplus"), (5, "zplus")):  # each layer's rule changes the result
        changed = lrp_studio.explain(net, x, target=5, method={**rules, layer: other}).relevance[0]
        assert not np.allclose(relevance, changed, rtol=1e-3, atol=1e-6), layer


def test_flat_on_dense_first_layer_warns(capsys):
    code, _, err = run(capsys, "explain", "--index", "7", "--method", "epsilon-plus-flat")
    assert code == 0
    assert "uniform" in err


@pytest.mark.parametrize("argv, message", [
    (["explain", "--model", "missing.npz"], "missing.npz"),
    (["explain", "--index", "99999"], "out of range"),
    (["explain", "--method", "alphabeta", "--alpha", "3", "--beta", "1"], "alpha - beta = 1"),
    (["explain", "--epsilon", "-1", "--method", "epsilon"], "epsilon"),
    (["explain", "--dataset", "nosuch.csv"], "nosuch.csv"),
    (["explain", "--target", "12"], "out of range"),
    (["explain", "--rules", "1-flat"], "--rules"),
    (["export", "--dataset", "mnist:test", "--indices", "5:x", "--out-dir", "unused"], "--indices"),
    (["train", "--out", "model.txt"], ".npz"),
])
def test_bad_input_gives_one_line_and_exit_2(capsys, argv, message):
    code, out, err = run(capsys, *argv)
    assert code == 2
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("lrp-studio: error:") and message in lines[0]
    assert "Traceback" not in err


def test_bad_model_file_is_one_line(capsys, tmp_path):
    bad = tmp_path / "model.npz"
    bad.write_bytes(b"not a zip file at all")
    code, _, err = run(capsys, "explain", "--model", str(bad))
    assert code == 2 and str(bad) in err and len(err.strip().splitlines()) == 1


def test_explain_input_npy(capsys, tmp_path):
    """--input x.npy (28, 28) explains that array: the relevance is explain()'s on it, reshaped to the model's input."""
    import lrp_studio
    from lrp_studio.data import load_mnist_subset
    from lrp_studio.zoo import load_any_model

    image = load_mnist_subset("test").x[0, 0]
    sample, npy = tmp_path / "x.npy", tmp_path / "r.npy"
    np.save(sample, image)  # (28, 28) without batch or channel axis
    code, out, err = run(capsys, "explain", "--model", "cnn", "--input", str(sample), "--method", "zplus",
                         "--npy", str(npy))
    assert code == 0, err
    assert out.splitlines()[0] == f"input {sample}"
    expected = lrp_studio.explain(load_any_model("cnn"), image[None, None], method="zplus").relevance[0]
    relevance = np.load(npy)
    assert relevance.shape == (1, 28, 28)
    np.testing.assert_allclose(relevance, expected, rtol=1e-5, atol=1e-7)
    printed = float(out.split("sum of input relevance = ")[1].split()[0])
    assert printed == pytest.approx(float(expected.sum()), rel=1e-4)


def test_export_many_samples(capsys, tmp_path):
    out_dir = tmp_path / "maps"
    code, out, err = run(capsys, "export", "--model", "mlp", "--dataset", "mnist:test", "--indices", "290:330",
                         "--label", "3", "--method", "epsilon", "--out-dir", str(out_dir), "--batch-size", "16")
    assert code == 0, err
    pngs = sorted(out_dir.glob("*.png"))
    relevance = np.load(out_dir / "relevance.npy")
    index = (out_dir / "index.csv").read_text().splitlines()
    assert len(pngs) == relevance.shape[0] == len(index) - 1 == 30
    assert all("label3" in p.name for p in pngs)


def test_export_misclassified_only(capsys, tmp_path):
    code, out, err = run(capsys, "export", "--dataset", "mnist:test", "--misclassified", "--method", "lrp0",
                         "--out-dir", str(tmp_path))
    assert code == 0, err
    rows = (tmp_path / "index.csv").read_text().splitlines()[1:]
    assert rows and all(r.split(",")[1] != r.split(",")[2] for r in rows)


def test_train_toy_and_reload(capsys, tmp_path):
    model = tmp_path / "moons.npz"
    code, out, err = run(capsys, "train", "--arch", "mlp:16,16", "--dataset", "toy:moons", "--loss", "bce",
                         "--epochs", "60", "--batch-size", "32", "--lr", "0.1", "--out", str(model))
    assert code == 0, err
    from lrp_studio.data import make_toy
    from lrp_studio.io import load_model

    net = load_model(model)
    data = make_toy("moons")
    accuracy = ((net.predict(data.x)[:, 0] > 0) == data.y).mean()
    assert accuracy >= 0.95


@pytest.mark.parametrize("command", ["gui", "train", "explain", "export", "bench", "import", "compare", "evaluate"])
def test_every_command_has_help(command):
    result = subprocess.run([sys.executable, "-m", "lrp_studio.cli", command, "--help"], capture_output=True,
                            text=True, cwd=ROOT)
    assert result.returncode == 0 and "usage: lrp-studio" in result.stdout
