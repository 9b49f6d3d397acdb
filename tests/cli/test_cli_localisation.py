"""``evaluate --metric localisation`` on toy:shapes with the bundled shapes CNN; ``--metric`` parsing."""

import json

import numpy as np
import pytest

from lrp_studio.cli import main
from lrp_studio.data import load_dataset
from lrp_studio.lrp.faithfulness import explain_in_batches
from lrp_studio.lrp.localisation import pooled_heatmaps, relevance_mass_accuracy
from lrp_studio.zoo import load_any_model


def test_localisation_table_and_report(capsys, tmp_path):
    out = tmp_path / "loc.json"
    code = main(["evaluate", "--model", "shapes", "--dataset", "toy:shapes:test", "--metric", "localisation",
                 "--n-samples", "8", "--select", "first", "--target", "label", "--methods", "epsilon-plus,gradient",
                 "--out", str(out)])
    printed, err = capsys.readouterr()
    assert code == 0, err
    assert "mass acc" in printed and "rank acc" in printed and "uniform" in printed
    assert "AOPC" not in printed  # only the metric asked for
    report = json.loads(out.read_text())["localisation"]["methods"]
    assert set(report) == {"epsilon-plus", "gradient", "uniform"}
    data, net = load_dataset("toy:shapes:test"), load_any_model("shapes")
    relevance = explain_in_batches(net, data.x[:8], data.y[:8], "epsilon-plus")
    expected = relevance_mass_accuracy(pooled_heatmaps(relevance), data.masks[:8])
    np.testing.assert_allclose(report["epsilon-plus"]["per_sample_mass"], expected, rtol=1e-6)
    assert report["uniform"]["mass_accuracy"] == pytest.approx(data.masks[:8].mean())


@pytest.mark.parametrize("argv, message", [
    (["--metric", "precision"], "unknown metric precision; choose from aopc, randomisation, random-logit, sparseness, complexity, localisation"),
    (["--metric", "localisation"], "mnist:test has no ground-truth masks"),
])
def test_bad_metric_requests_are_one_line_errors(capsys, tmp_path, argv, message):
    code = main(["evaluate", "--model", "cnn", "--n-samples", "2", "--methods", "gradient",
                 "--out", str(tmp_path / "r.json"), *argv])
    _, err = capsys.readouterr()
    assert code != 0 and message in err and len(err.strip().splitlines()) == 1


def test_per_channel_heatmaps_of_a_colour_input(capsys, tmp_path):
    out, npy = tmp_path / "h.png", tmp_path / "r.npy"
    code = main(["explain", "--model", "shapes", "--dataset", "toy:shapes:test", "--index", "2", "--method",
                 "epsilon-plus", "--out", str(out), "--npy", str(npy), "--per-channel", "--upscale", "1"])
    printed, err = capsys.readouterr()
    assert code == 0, err
    relevance = np.load(npy)
    assert relevance.shape == (3, 32, 32)
    from PIL import Image

    for c in range(3):
        assert f"wrote {tmp_path / f'h_c{c}.png'}" in printed
        assert Image.open(tmp_path / f"h_c{c}.png").size == (32, 32)
    # each channel's picture follows its own relevance: the reddest pixel of channel c is its largest R
    for c in range(3):
        pixels = np.asarray(Image.open(tmp_path / f"h_c{c}.png").convert("RGB")).astype(int)
        redness = pixels[..., 0] - pixels[..., 2]
        assert np.unravel_index(redness.argmax(), redness.shape) == np.unravel_index(relevance[c].argmax(), (32, 32))

