"""One batch export (lrp_studio.app.batch_export) behind ``lrp-studio export`` and the GUI: same files, lean path."""

from __future__ import annotations

import csv
import os

import numpy as np
import pytest
from PIL import Image

import lrp_studio
from lrp_studio.app.batch_export import ImageOptions, export_batch, png_name, sample_image
from lrp_studio.cli import main
from lrp_studio.data import Dataset, load_dataset
from lrp_studio.errors import DataError, ParameterError
from lrp_studio.zoo import load_any_model


def files(folder) -> dict[str, bytes]:
    return {name: (folder / name).read_bytes() for name in sorted(os.listdir(folder))}


def test_cli_and_function_write_the_same_files(capsys, tmp_path):
    """The CLI's export and a direct call (what the GUI's export does) give byte-identical folders."""
    argv = ["export", "--model", "cnn", "--dataset", "mnist:test", "--indices", "0,7,150,993", "--method",
            "epsilon-gamma-box", "--gamma", "0.5", "--no-bias", "--target", "3", "--cmap", "seismic", "--level", "2",
            "--upscale", "3", "--overlay", "--batch-size", "2", "--out-dir", str(tmp_path / "cli")]
    assert main(argv) == 0, capsys.readouterr().err
    net, data = load_any_model("cnn"), load_dataset("mnist:test")
    result = export_batch(net, data, [0, 7, 150, 993], tmp_path / "app", method="epsilon-gamma-box", target=3,
                          bias=False, params={"gamma": 0.5}, batch_size=2,
                          image=ImageOptions(cmap="seismic", level=2.0, upscale=3, overlay=True))
    cli, app = files(tmp_path / "cli"), files(tmp_path / "app")
    assert sorted(cli) == sorted(app) == sorted(["index.csv", "relevance.npy", *(p.name for p in result.pngs)])
    assert cli == app  # byte for byte: PNGs, relevance.npy, index.csv
    expected = lrp_studio.explain(net, data.x[[0, 7, 150, 993]], target=3, method="epsilon-gamma-box", gamma=0.5,
                                  bias=False).relevance
    np.testing.assert_allclose(np.load(tmp_path / "app" / "relevance.npy"), expected, rtol=1e-5, atol=1e-7)
    with Image.open(tmp_path / "app" / result.pngs[0].name) as image:
        assert image.size == (28 * 3, 28 * 3)


def test_index_csv_names_every_png_with_label_prediction_and_target(tmp_path):
    net, data = load_any_model("mlp"), load_dataset("mnist:test")
    indices = [3, 250, 999]
    result = export_batch(net, data, indices, tmp_path, method="lrp0", target=[1, 2, 3], batch_size=2)
    with open(tmp_path / "index.csv", newline="", encoding="utf-8") as handle:
        rows = list(csv.reader(handle))
    assert rows[0] == ["index", "label", "prediction", "target", "png"]
    predicted = net.predict(data.x[indices]).argmax(axis=1)
    for row, index, pred, target, png in zip(rows[1:], indices, predicted, (1, 2, 3), result.pngs):
        label = data.classes[int(data.y[index])]
        assert row == [str(index), label, str(pred), str(target), png.name]
        assert png.name == f"sample_{index:05d}_label{label}_pred{pred}.png" and png.exists()
    assert result.relevance_shape == (3, 1, 28, 28) and not result.cancelled


def test_export_uses_the_lean_path(tmp_path, monkeypatch):
    """Every chunk is explained with keep_layers=False."""
    import lrp_studio.app.batch_export as module

    calls = []
    real = module.explain

    def spy(*args, **kwargs):
        calls.append(kwargs.get("keep_layers"))
        return real(*args, **kwargs)

    monkeypatch.setattr(module, "explain", spy)
    export_batch(load_any_model("mlp"), load_dataset("mnist:test"), range(5), tmp_path, batch_size=2)
    assert calls == [False, False, False]


def test_progress_reports_every_chunk_and_can_cancel(tmp_path):
    net, data = load_any_model("mlp"), load_dataset("mnist:test")
    seen = []
    result = export_batch(net, data, range(10), tmp_path, batch_size=4, progress=lambda done, total: seen.append(
        (done, total)) or done < 8)
    assert seen == [(4, 10), (8, 10)]
    assert result.cancelled and list(result.indices) == list(range(8)) and len(result.pngs) == 8
    assert np.load(tmp_path / "relevance.npy").shape == (8, 1, 28, 28)
    assert len((tmp_path / "index.csv").read_text().splitlines()) == 9
    assert len(list(tmp_path.glob("*.png"))) == 8


def test_class_names_become_safe_file_names_and_flat_inputs_square_images(tmp_path):
    net = lrp_studio.mlp([16, 8, 2], input_shape=(16,), seed=0)
    net.classes = ["cat/dog", "a b"]
    x = np.random.default_rng(0).uniform(size=(3, 16)).astype(np.float32)
    data = Dataset("flat", x, np.array([0, 1, 0]), ["cat/dog", "a b"])
    result = export_batch(net, data, [0, 1, 2], tmp_path, method="epsilon", image=ImageOptions(upscale=2))
    assert all("/" not in p.name and " " not in p.name for p in result.pngs)
    assert result.pngs[1].name.startswith("sample_00001_labela_b_pred")
    assert png_name(1, "cat/dog", "a b") == "sample_00001_labelcat_dog_preda_b.png"
    with Image.open(result.pngs[0]) as image:
        assert image.size == (4 * 2, 4 * 2)  # 16 features drawn as 4x4
    assert sample_image(np.zeros(15)).shape == (15,)


@pytest.mark.parametrize("kwargs, error, fragment", [
    ({"indices": [0, 5000]}, DataError, "indices must be in 0..999"),
    ({"target": [1, 2]}, ParameterError, "one per exported sample"),
    ({"batch_size": 0}, ParameterError, "batch size"),
    ({"image": ImageOptions(cmap="nosuch")}, ParameterError, "nosuch"),
    ({"method": "epsilon", "params": {"gamma": 1.0}}, ParameterError, "gamma"),
])
def test_bad_requests_write_nothing(tmp_path, kwargs, error, fragment):
    net, data = load_any_model("mlp"), load_dataset("mnist:test")
    arguments = {"indices": [0, 1, 2], **kwargs}
    with pytest.raises(error, match=fragment):
        export_batch(net, data, arguments.pop("indices"), tmp_path / "out", **arguments)
    assert not (tmp_path / "out").exists() or not os.listdir(tmp_path / "out")
