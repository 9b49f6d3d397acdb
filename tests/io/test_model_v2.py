"""Model file version 2 (graphs): round trips with names, inputs and BatchNorm buffers; version 1
files (the bundled models) load and re-save byte for byte; every refusal is one ModelFileError
line naming the file."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from lrp_studio.backend import to_numpy
from lrp_studio.errors import ModelFileError
from lrp_studio.io import load_model, save_model
from lrp_studio.io.model import model_arrays
from lrp_studio.nn import layers as L
from lrp_studio.nn.network import Network

RESOURCES = Path(__file__).resolve().parents[2] / "resources"


def bn_residual_net(seed=0):
    """stem conv -> bn -> relu -> [conv -> bn] + [1x1 strided projection] -> relu -> gap -> dense, on (1, 8, 8)."""
    layers = [
        L.Conv2d(1, 4, 3, 1, 1), L.BatchNorm(4), L.ReLU(),
        L.Conv2d(4, 6, 3, 2, 1), L.BatchNorm(6),
        L.Conv2d(4, 6, 1, 2, 0),
        L.Add(), L.ReLU(), L.GlobalAvgPool(), L.Dense(6, 3),
    ]
    inputs = [(0,), (1,), (2,), (3,), (4,), (3,), (5, 6), (7,), (8,), (9,)]
    names = ["stem.conv", "stem.bn", "stem.relu", "block.conv", "block.bn", "block.shortcut", "block.add",
             "block.relu", "pool", "fc"]
    net = Network(layers, (1, 8, 8), classes=["a", "b", "c"], input_range=(0.0, 1.0), inputs=inputs, names=names)
    net.init_weights(seed)
    rng = np.random.default_rng(seed)
    for layer in net.layers:
        if isinstance(layer, L.BatchNorm):
            c = layer.num_features
            layer.params["weight"] = rng.uniform(0.5, 1.5, c).astype(np.float32)
            layer.params["bias"] = rng.standard_normal(c).astype(np.float32)
            layer.buffers["running_mean"] = rng.standard_normal(c).astype(np.float32)
            layer.buffers["running_var"] = rng.uniform(0.5, 2, c).astype(np.float32)
    return net


def write_archive(path, arch, params):
    np.savez(path, architecture=np.array(json.dumps(arch)), **params)
    return path


def test_graph_round_trip_keeps_wiring_names_and_buffers(tmp_path):
    net = bn_residual_net()
    path = save_model(net, tmp_path / "resnet.npz")
    with np.load(path, allow_pickle=False) as npz:
        arch = json.loads(str(npz["architecture"][()]))
        keys = set(npz.files)
    assert arch["version"] == 2
    assert arch["layers"][6] == {"type": "add", "name": "block.add", "inputs": ["block.bn", "block.shortcut"]}
    assert arch["layers"][5]["inputs"] == ["stem.relu"] and arch["layers"][0]["inputs"] == ["input"]
    assert arch["layers"][1] == {"type": "batchnorm", "num_features": 4, "eps": 1e-5, "momentum": 0.1,
                                 "name": "stem.bn", "inputs": ["stem.conv"]}
    assert {"stem.bn.running_mean", "stem.bn.running_var", "block.shortcut.weight", "fc.bias"} <= keys
    loaded = load_model(path)
    assert loaded.node_inputs == net.node_inputs and loaded.names == net.names and not loaded.is_sequential
    assert loaded.classes == ["a", "b", "c"] and loaded.input_range == (0.0, 1.0)
    for key, value in net.state_dict().items():
        np.testing.assert_array_equal(loaded.state_dict()[key], value, err_msg=key)
    x = np.random.default_rng(1).uniform(0, 1, (4, 1, 8, 8)).astype(np.float32)
    np.testing.assert_array_equal(loaded.predict(x), net.predict(x))
    assert not loaded.training


@pytest.mark.parametrize("name", ["mlp_mnist.npz", "cnn_mnist.npz"])
def test_bundled_version_1_files_load_and_resave_byte_for_byte(name):
    with np.load(RESOURCES / name, allow_pickle=False) as npz:
        stored = {key: npz[key] for key in npz.files}
    net = load_model(RESOURCES / name)
    assert net.is_sequential and net.names == [str(j) for j in range(len(net.layers))]
    arrays = model_arrays(net)
    assert str(arrays["architecture"][()]) == str(stored["architecture"][()])
    assert json.loads(str(arrays["architecture"][()]))["version"] == 1
    assert arrays.keys() == stored.keys()
    for key in stored:
        np.testing.assert_array_equal(arrays[key], stored[key], err_msg=key)


def _v2(layers, input_shape=(4,)):
    return {"format": "lrp-studio-model", "version": 2, "input_shape": list(input_shape), "layers": layers}


def _dense(i, o, **extra):
    return {"type": "dense", "in_features": i, "out_features": o, **extra}


def _dense_params(prefix, i, o):
    return {f"{prefix}.weight": np.ones((o, i), np.float32), f"{prefix}.bias": np.zeros(o, np.float32)}


def test_a_hand_written_v2_file_with_a_skip_loads(tmp_path):
    layers = [_dense(4, 4, name="a"), {"type": "relu", "name": "r"}, _dense(4, 4, name="b"),
              {"type": "add", "name": "sum", "inputs": ["b", "input"]}, _dense(4, 2, name="out")]
    params = {**_dense_params("a", 4, 4), **_dense_params("b", 4, 4), **_dense_params("out", 4, 2)}
    net = load_model(write_archive(tmp_path / "skip.npz", _v2(layers), params))
    assert net.node_inputs == [(0,), (1,), (2,), (3, 0), (4,)]
    x = np.array([[1.0, -2.0, 3.0, 0.5]], np.float32)
    h = np.maximum(x.sum(), 0) * np.ones(4)
    expected = np.full((1, 2), (h.sum() * np.ones(4) + x).sum())  # out(b(relu(a x)) + x)
    np.testing.assert_allclose(net.predict(x), expected, rtol=1e-6)


def test_v2_entries_without_names_or_inputs_are_sequential(tmp_path):
    layers = [_dense(4, 3), {"type": "relu"}, _dense(3, 2)]
    params = {**_dense_params("0", 4, 3), **_dense_params("2", 3, 2)}
    net = load_model(write_archive(tmp_path / "plain.npz", _v2(layers), params))
    assert net.is_sequential and net.spec()["version"] == 1  # saves back as version 1


def test_version_1_ignores_graph_keys_as_before(tmp_path):
    arch = _v2([_dense(4, 3, name="x", inputs=["input"]), _dense(3, 2, name="y", inputs=["input"])])
    arch["version"] = 1
    params = {**_dense_params("0", 4, 3), **_dense_params("1", 3, 2)}
    net = load_model(write_archive(tmp_path / "v1.npz", arch, params))
    assert net.is_sequential and net.names == ["0", "1"]


def assert_refused(path, *fragments):
    with pytest.raises(ModelFileError) as info:
        load_model(path)
    message = str(info.value)
    assert message.startswith(str(path)) and "\n" not in message
    for fragment in fragments:
        assert fragment in message, message


BAD = {
    "unknown-input": ([_dense(4, 2, name="a", inputs=["nope"])], {**_dense_params("a", 4, 2)},
                      "reads 'nope', which is not an earlier node"),
    "forward-reference": ([_dense(4, 4, name="a", inputs=["b"]), _dense(4, 2, name="b")],
                          {**_dense_params("a", 4, 4), **_dense_params("b", 4, 2)}, "not an earlier node"),
    "duplicate-name": ([_dense(4, 4, name="a"), _dense(4, 2, name="a")], {**_dense_params("a", 4, 4)}, "used twice"),
    "input-as-name": ([_dense(4, 2, name="input")], {**_dense_params("input", 4, 2)}, "names the network input"),
    "inputs-not-a-list": ([_dense(4, 2, inputs="input")], {**_dense_params("0", 4, 2)}, "non-empty list"),
    "dead-node": ([_dense(4, 4, name="a"), _dense(4, 2, name="b", inputs=["input"])],
                  {**_dense_params("a", 4, 4), **_dense_params("b", 4, 2)}, "'a' is read by no layer"),
    "merge-one-input": ([_dense(4, 2, name="a"), {"type": "add", "name": "s"}], {**_dense_params("a", 4, 2)},
                        "at least 2 inputs"),
    "add-shapes": ([_dense(4, 2, name="a"), {"type": "add", "name": "s", "inputs": ["a", "input"]}],
                   {**_dense_params("a", 4, 2)}, "equal shape"),
    "bn-missing-buffer": ([{"type": "batchnorm", "num_features": 4, "name": "bn"}, _dense(4, 2, name="fc")],
                          {"bn.weight": np.ones(4, np.float32), "bn.bias": np.ones(4, np.float32),
                           "bn.running_mean": np.ones(4, np.float32), **_dense_params("fc", 4, 2)},
                          "missing ['bn.running_var']"),
    "bn-eps": ([{"type": "batchnorm", "num_features": 4, "eps": -1}, _dense(4, 2)], {}, "eps must be a finite number > 0"),
    "bn-momentum": ([{"type": "batchnorm", "num_features": 4, "momentum": 2}, _dense(4, 2)], {}, "momentum"),
    "keys-by-index-for-named-nodes": ([_dense(4, 2, name="fc")], {**_dense_params("0", 4, 2)}, "missing ['fc.weight'"),
}


@pytest.mark.parametrize("case", sorted(BAD))
def test_bad_v2_files_are_refused_in_one_line(tmp_path, case):
    layers, params, fragment = BAD[case]
    assert_refused(write_archive(tmp_path / f"{case}.npz", _v2(layers), params), fragment)


@pytest.mark.parametrize("kind", ["add", "concat", "batchnorm", "globalavgpool"])
def test_new_layer_types_need_version_2(tmp_path, kind):
    entry = {"type": kind, "num_features": 4} if kind == "batchnorm" else {"type": kind}
    arch = _v2([entry, _dense(4, 2)])
    arch["version"] = 1
    assert_refused(write_archive(tmp_path / "v1-new.npz", arch, {}), f"layer type {kind!r} needs model file version 2")


def test_a_sequential_net_with_batchnorm_saves_as_version_2(tmp_path):
    net = Network([L.Dense(4, 3), L.BatchNorm(3), L.ReLU(), L.Dense(3, 2)], (4,))
    net.init_weights(0)
    net.layers[1].buffers["running_mean"] = np.array([1.0, 2.0, 3.0], np.float32)
    path = save_model(net, tmp_path / "bn.npz")
    loaded = load_model(path)
    assert loaded.spec()["version"] == 2 and loaded.is_sequential
    np.testing.assert_array_equal(to_numpy(loaded.layers[1].buffers["running_mean"]), [1.0, 2.0, 3.0])


def test_the_readme_example_architecture_builds_with_the_keys_it_lists():
    import re

    text = (RESOURCES.parent / "README.md").read_text()
    block = re.search(r"### Model file format.*?`{3}json\n(.*?)`{3}", text, re.S).group(1)
    arch = json.loads(block)
    arch["classes"] = [str(i) for i in range(10)]
    net = Network.from_spec(arch)
    assert net.node_inputs[4] == (4, 3) and net.names[4] == "block.add"
    keys = net.state_dict()
    assert keys["stem.weight"].shape == (16, 1, 3, 3) and keys["fc.weight"].shape == (10, 16)
    assert {"stem.bn.running_mean", "stem.bn.running_var", "block.conv.weight"} <= set(keys)
