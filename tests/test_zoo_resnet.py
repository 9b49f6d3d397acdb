"""The bundled residual model: its file, architecture, stated accuracy, training record, and every way to open it."""

from __future__ import annotations

import json
import re
import shlex
from pathlib import Path

import numpy as np
import pytest

import lrp_studio
from lrp_studio.cli import main
from lrp_studio.data import load_mnist_subset
from lrp_studio.io import load_model as load_model_file
from lrp_studio.nn.builders import RESNET_SPEC
from lrp_studio.zoo import BUNDLED_MODELS, build_architecture, bundled_model_path, load_any_model

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
RECORD = ROOT / "resources" / "resnet_training.json"


def readme_row() -> str:
    return next(line for line in README.read_text(encoding="utf-8").splitlines()
                if f"resources/{BUNDLED_MODELS['resnet']}" in line and "%" in line)


def test_the_bundled_resnet_is_the_documented_graph():
    net = lrp_studio.load_model("resnet")
    assert bundled_model_path("resnet").name == "resnet.npz"
    assert not net.is_sequential and net.input_shape == (1, 28, 28) and net.input_range == (0.0, 1.0)
    assert net.classes == [str(d) for d in range(10)]
    kinds = [layer.type_name for layer in net.layers]
    assert kinds[:4] == ["conv2d", "batchnorm", "relu", "maxpool2d"] and kinds[-2:] == ["globalavgpool", "dense"]
    assert kinds.count("add") == 2 and kinds.count("batchnorm") == 6
    # the second block's shortcut is a strided 1x1 projection reading the first block's output
    shortcut = net.layers[net.names.index("block2.shortcut")].spec()
    assert (shortcut["kernel_size"], shortcut["stride"], shortcut["out_channels"]) == (1, 2, 32)
    assert net.node_inputs[net.names.index("block2.shortcut")] == (net.names.index("block1.relu2") + 1,)
    assert net.node_inputs[net.names.index("block1.add")] == (net.names.index("block1.bn2") + 1, 4)
    # the file holds exactly the architecture `train --arch resnet` builds, with trained BN statistics
    assert net.spec()["layers"] == build_architecture(RESNET_SPEC).spec()["layers"]
    state = net.state_dict()
    assert not np.allclose(state["block1.bn1.running_var"], 1.0)


def test_the_bundled_resnet_reaches_the_accuracy_the_readme_states():
    net = load_any_model("resnet")
    test = load_mnist_subset("test")
    accuracy = float(np.mean(net.predict(test.x).argmax(axis=1) == test.y))
    stated = float(re.search(r"\| ([0-9.]+) % \|", readme_row()).group(1)) / 100
    assert accuracy == pytest.approx(stated, abs=0.0005)
    assert accuracy >= 0.975
    record = json.loads(RECORD.read_text(encoding="utf-8"))
    assert record["validation"]["accuracy"] == pytest.approx(accuracy, abs=1e-9)
    assert record["validation"]["samples"] == 1000


def test_the_readme_command_is_the_recorded_one():
    """README's reproduce command parses to the arguments of the recorded run (the CLI wrote its own command)."""
    from lrp_studio.cli.main import build_parser

    record = json.loads(RECORD.read_text(encoding="utf-8"))
    documented = vars(build_parser().parse_args(shlex.split(re.search(r"`lrp-studio (train [^`]+)`",
                                                                      readme_row()).group(1))))
    recorded = vars(build_parser().parse_args(shlex.split(record["command"])[1:]))
    assert {**documented, "record": None} == {**recorded, "record": None}
    assert documented["arch"] == "resnet" and documented["out"] == "resources/resnet.npz"
    assert [epoch["epoch"] for epoch in record["epochs"]] == list(range(1, documented["epochs"] + 1))


def test_cli_and_api_open_the_resnet(capsys):
    assert main(["explain", "--model", "resnet", "--dataset", "mnist:test", "--index", "0", "--target", "label"]) == 0
    out = capsys.readouterr().out
    assert "method:     epsilon-plus-flat" in out and "conservation:" in out
    with pytest.raises(lrp_studio.ParameterError, match="takes no input_shape"):
        lrp_studio.load_model("resnet", input_shape=(1, 28, 28))
    net = load_model_file(bundled_model_path("resnet"))
    assert net.spec() == lrp_studio.load_model("resnet").spec()


@pytest.mark.parametrize("method", ["epsilon-plus-flat", "epsilon-plus", "epsilon-alpha2-beta1", "epsilon-gamma-box"])
def test_the_resnet_explains_as_zennit_on_its_pytorch_twin(method):
    """The benchmark's twin (same weights and BN statistics, zennit Sum at the adds, NamedMergeBatchNorm):
    equal logits and, sample by sample (batch 1), Zennit-equal relevance of the trained model."""
    torch = pytest.importorskip("torch", reason="the PyTorch twin needs torch")
    pytest.importorskip("zennit", reason="the comparison needs zennit")
    from lrp_studio.bench import torch_model, zennit_relevance

    net = lrp_studio.load_model("resnet")
    x = np.array(load_mnist_subset("test").x[:6], dtype=np.float32)  # writable (torch.from_numpy)
    model = torch_model(net, sum_layer=True).eval()
    for parameter in model.parameters():
        parameter.requires_grad_(False)
    with torch.no_grad():
        np.testing.assert_allclose(model(torch.from_numpy(x)).numpy(), np.asarray(net.forward(net.prepare_input(x))),
                                   atol=1e-5, rtol=0)
    theirs = zennit_relevance(net, model, method)
    try:
        for i in range(len(x)):
            ours = np.asarray(lrp_studio.explain(net, x[i : i + 1], method=method, keep_layers=False).relevance)
            reference = theirs(x[i : i + 1])
            assert np.linalg.norm(ours - reference) <= 1e-3 * np.linalg.norm(reference), (method, i)
    finally:
        theirs.composite.remove()
