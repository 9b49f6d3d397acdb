"""Importing a model trained on normalised inputs: ``--mean/--std`` prepend a normalize node (ONNX and state dicts)."""

import numpy as np
import pytest

pytest.importorskip("onnx")

from lrp_studio.cli import main  # noqa: E402
from lrp_studio.errors import ParameterError  # noqa: E402
from lrp_studio.io import load_model  # noqa: E402
from lrp_studio.io.importing import import_model_with_notes  # noqa: E402
from lrp_studio.lrp.explain import resolve_rules  # noqa: E402
from tests.io.test_onnx_import import assert_close, cnn_model, cnn_reference, logits, randn, save  # noqa: E402

MEAN, STD = [0.5, 0.25], [0.2, 0.4]


def test_onnx_import_with_normalisation_matches_the_model_on_normalised_inputs(tmp_path):
    model, w = cnn_model()
    net, notes = import_model_with_notes(save(model, tmp_path), input_range="0,1", mean="0.5,0.25", std=[0.2, 0.4])
    assert net.layers[0].type_name == "normalize" and net.names[0] == "normalize"
    assert any("normalisation" in note for note in notes)
    x = np.random.default_rng(0).random((4, 2, 12, 12)).astype(np.float32)
    z = (x - np.array(MEAN, np.float32)[:, None, None]) / np.array(STD, np.float32)[:, None, None]
    assert_close(logits(net, x), cnn_reference(z, w))
    box = resolve_rules(net, "epsilon-gamma-box", {})[1]
    np.testing.assert_allclose(box.low[:, 0, 0], [(0 - 0.5) / 0.2, (0 - 0.25) / 0.4])
    np.testing.assert_allclose(box.high[:, 0, 0], [(1 - 0.5) / 0.2, (1 - 0.25) / 0.4])


def test_cli_import_writes_the_normalisation_into_the_model_file(tmp_path, capsys):
    model, w = cnn_model()
    source, out = save(model, tmp_path), tmp_path / "normed.npz"
    code = main(["import", str(source), "--input-range", "0,1", "--mean", "0.5,0.25", "--std", "0.2,0.4",
                 "--out", str(out)])
    printed, err = capsys.readouterr()
    assert code == 0, err
    assert "normalisation" in printed
    net = load_model(out)
    assert net.layers[0].mean == MEAN and net.layers[0].std == STD
    x = randn(3, 2, 12, 12, scale=1.0)
    z = (x - np.array(MEAN, np.float32)[:, None, None]) / np.array(STD, np.float32)[:, None, None]
    assert_close(logits(net, x), cnn_reference(z, w))


@pytest.mark.parametrize("mean, std, message", [
    ("0.5,0.25", None, "both"),
    ("0.5", "0.2", "does not have 1 channels"),
    ("0.5,x", "0.2,0.4", "cannot read"),
    ("0.5,0.25", "0.2,0", "std must be > 0"),
])
def test_bad_normalisation_is_refused(tmp_path, mean, std, message):
    model, _ = cnn_model()
    with pytest.raises(ParameterError, match=message):
        import_model_with_notes(save(model, tmp_path), mean=mean, std=std)
