"""lrp_studio.load_model opens every model source the CLI's --model opens; one architecture vocabulary
(nn/builders.py) behind train --arch, the zoo and the state-dict importer."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

import lrp_studio
from lrp_studio.errors import ModelFileError, ParameterError
from lrp_studio.io import MissingModelInfo, import_model, save_model
from lrp_studio.nn.builders import architecture_layers, parse_layer_tokens
from lrp_studio.zoo import build_architecture, load_any_model

SPEC = "conv:4:3:1:1,relu,maxpool:2,conv:6:3,tanh,avgpool:2,flatten,dense:12,relu,dense:3"
RNG = np.random.default_rng(11)


def outputs(net, x):
    return np.asarray(net.forward(net.prepare_input(x)))


def random_net(spec=SPEC, input_shape=(1, 12, 12), n_classes=3):
    net = build_architecture(spec, input_shape, n_classes=n_classes, input_range=None, seed=4)
    for layer in net.layers:  # non-zero biases, so a dropped bias shows
        if layer.is_linear:
            layer.params["bias"] = RNG.normal(size=layer.params["bias"].shape).astype(np.float32)
    return net


def write_state_dict(net, path):
    """A torch.nn.Sequential-style state dict (.npz of '{i}.weight' / '{i}.bias', no architecture)."""
    np.savez(path, **net.state_dict())
    return path


# ----------------------------------------------------------------------------- load_model: every source
@pytest.mark.parametrize("name, shape", [("mlp", (1, 28, 28)), ("cnn", (1, 28, 28))])
def test_bundled_names_open_without_importing_the_zoo(name, shape):
    code = (f"import sys, lrp_studio; net = lrp_studio.load_model({name!r}); "
            "print(net.input_shape, net.n_classes, len(net.layers))")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    reference = load_any_model(name)
    assert result.stdout.strip() == f"{shape} 10 {len(reference.layers)}"
    assert reference.input_shape == shape


def test_a_model_file_opens_with_its_weights(tmp_path):
    net = random_net()
    path = save_model(net, tmp_path / "model.npz")
    loaded = lrp_studio.load_model(path)
    x = RNG.random((3, 1, 12, 12), dtype=np.float32)
    np.testing.assert_array_equal(outputs(loaded, x), outputs(net, x))
    renamed = lrp_studio.load_model(str(path), classes="a,b,c")  # keywords go through the importer
    assert renamed.classes == ["a", "b", "c"]


def test_a_state_dict_opens_with_its_architecture(tmp_path):
    net = random_net()
    path = write_state_dict(net, tmp_path / "weights.npz")
    loaded = lrp_studio.load_model(path, arch=SPEC, input_shape=(1, 12, 12), classes=["x", "y", "z"])
    x = RNG.random((2, 1, 12, 12), dtype=np.float32)
    np.testing.assert_allclose(outputs(loaded, x), outputs(net, x), rtol=1e-6, atol=1e-6)
    assert loaded.classes == ["x", "y", "z"]
    with pytest.raises(MissingModelInfo) as missing:
        lrp_studio.load_model(path)
    assert missing.value.what == "arch" and "arch=" in str(missing.value)
    with pytest.raises(ModelFileError, match="lrp-studio import .* --arch SPEC"):
        load_any_model(path)  # the CLI's wording names its flag


def test_a_state_dict_finds_the_json_next_to_it(tmp_path):
    import json

    net = random_net("dense:7,relu,dense:3", (5,))
    path = write_state_dict(net, tmp_path / "weights.npz")
    (tmp_path / "weights.json").write_text(json.dumps({"layers": net.spec()["layers"]}))
    x = RNG.random((4, 5), dtype=np.float32)
    np.testing.assert_allclose(outputs(lrp_studio.load_model(path), x), outputs(net, x), rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(outputs(load_any_model(str(path)), x), outputs(net, x), rtol=1e-6, atol=1e-6)


def test_an_onnx_graph_opens(tmp_path):
    onnx = pytest.importorskip("onnx")
    from onnx import TensorProto, helper, numpy_helper

    weight, bias = RNG.normal(size=(3, 4)).astype(np.float32), RNG.normal(size=3).astype(np.float32)
    graph = helper.make_graph(
        [helper.make_node("Gemm", ["x", "w", "b"], ["y"], transB=1)], "g",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 4])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["N", 3])],
        initializer=[numpy_helper.from_array(weight, "w"), numpy_helper.from_array(bias, "b")])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    path = tmp_path / "model.onnx"
    onnx.save(model, str(path))
    x = RNG.random((2, 4), dtype=np.float32)
    for net in (lrp_studio.load_model(path), lrp_studio.load_model(str(path), classes="a,b,c")):
        np.testing.assert_allclose(outputs(net, x), x @ weight.T + bias, rtol=1e-5, atol=1e-5)


def test_bad_sources_say_what_is_wrong(tmp_path):
    with pytest.raises(ModelFileError, match="not a bundled model .*mlp, cnn"):
        lrp_studio.load_model("mpl")
    with pytest.raises(ParameterError, match="bundled model 'cnn' takes no arch"):
        lrp_studio.load_model("cnn", arch="mlp")
    (tmp_path / "model.pt").write_bytes(b"\x80\x04junk")
    with pytest.raises(ModelFileError, match="never loaded"):
        lrp_studio.load_model(tmp_path / "model.pt")
    with pytest.raises(ModelFileError, match="file not found"):
        lrp_studio.load_model(tmp_path / "missing.onnx")
    with pytest.raises(ModelFileError, match="not a model name or file path"):
        lrp_studio.load_model(3)


def test_the_plain_model_file_loader_stays():
    from lrp_studio.io import load_model as load_model_file

    with pytest.raises(ModelFileError):
        load_model_file("cnn")  # io.load_model opens files only
    assert lrp_studio.load_model is not load_model_file


# ----------------------------------------------------------------------------- one architecture vocabulary
@pytest.mark.parametrize("spec, shape", [
    (SPEC, (1, 12, 12)), ("CONV:4:3,ReLU,MaxPool:2:2,dense:3", (2, 9, 9)), ("mlp:16,8", (6,)), ("cnn", (1, 28, 28)),
])
def test_train_and_import_read_a_spec_the_same_way(tmp_path, spec, shape):
    net = random_net(spec, shape)
    path = write_state_dict(net, tmp_path / "weights.npz")
    imported = import_model(path, arch=spec, input_shape=shape)
    assert imported.spec()["layers"] == net.spec()["layers"]
    x = RNG.random((2, *shape), dtype=np.float32)
    np.testing.assert_allclose(outputs(imported, x), outputs(net, x), rtol=1e-5, atol=1e-5)


def test_training_accepts_the_import_tokens_it_can_build():
    plain = architecture_layers("dense:8,relu,dense:3", (4,), 3)
    assert architecture_layers("identity,dense:8,relu,dense:3,logsoftmax", (4,), 3) == plain
    with pytest.raises(ParameterError, match="can only be imported with weights"):
        build_architecture("dense:8,dropout:0.5,relu,dense:3", (4,), n_classes=3)
    for token, eps in (("bn", 1e-5), ("batchnorm:1e-3", 1e-3)):  # trainable since BatchNorm is (issue 12)
        net = build_architecture(f"dense:8,{token},relu,dense:3", (4,), n_classes=3)
        assert net.layers[1].spec() == {"type": "batchnorm", "num_features": 8, "eps": eps, "momentum": 0.1}
    with pytest.raises(ParameterError, match="softmax .* may only come last"):
        build_architecture("dense:8,softmax,dense:3", (4,), n_classes=3)


def test_the_import_tokens_parse_with_their_arguments():
    assert parse_layer_tokens("conv:8:5:2:1, bn:0.001, dropout:0.3, maxpool:3, avgpool:2:1, logsoftmax") == [
        {"type": "conv2d", "out_channels": 8, "kernel_size": 5, "stride": 2, "padding": 1},
        {"type": "batchnorm", "eps": 0.001}, {"type": "dropout"},
        {"type": "maxpool2d", "kernel_size": 3, "stride": 3}, {"type": "avgpool2d", "kernel_size": 2, "stride": 1},
        {"type": "softmax"},
    ]


@pytest.mark.parametrize("spec, message", [
    ("dense:5,relu,lstm:3", "cannot read layer 'lstm:3'"),
    ("dense:x", "cannot read the numbers in 'dense:x'"),
    ("conv:8", "cannot read layer 'conv:8'"),
    ("relu:2", "cannot read layer 'relu:2'"),
    (" , ", "the architecture is empty"),
])
def test_one_error_style_for_train_and_import(tmp_path, spec, message):
    with pytest.raises(ParameterError, match=message):
        build_architecture(spec, (5,), n_classes=3)
    path = write_state_dict(random_net("dense:3", (5,)), tmp_path / "weights.npz")
    with pytest.raises(ModelFileError, match=message):
        import_model(path, arch=spec)


def test_layers_that_do_not_fit_are_named():
    with pytest.raises(ParameterError, match=r"layer 0 \(conv2d\).*does not fit"):
        build_architecture("conv:4:9,relu,dense:3", (1, 5, 5), n_classes=3)
    with pytest.raises(ParameterError, match="'cnn' needs"):
        build_architecture("cnn", (784,), n_classes=10)
