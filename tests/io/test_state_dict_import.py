"""State-dict import: .safetensors / .npz weights of a torch.nn.Sequential plus an architecture
(text spec or JSON); BatchNorm merging against the unmerged computation; pickled files refused."""

from __future__ import annotations

import json
import pickle
import struct
import zipfile

import numpy as np
import pytest

safetensors_numpy = pytest.importorskip("safetensors.numpy")

from lrp_studio.errors import ModelFileError  # noqa: E402
from lrp_studio.io import MissingModelInfo, import_model, save_model  # noqa: E402
from lrp_studio.io.importing import import_model_with_notes  # noqa: E402
from lrp_studio.io.state_dict_import import read_safetensors  # noqa: E402
from lrp_studio.zoo import build_architecture  # noqa: E402

CNN_SPEC = "conv:4:3:1:1,relu,maxpool:2,conv:6:3,tanh,avgpool:2,flatten,dense:12,relu,dense:3"


def random_net(spec, input_shape, n_classes=3, seed=3):
    net = build_architecture(spec, input_shape, n_classes=n_classes, input_range=None, seed=seed)
    rng = np.random.default_rng(seed)
    for layer in net.layers:  # non-zero biases too
        if layer.is_linear:
            layer.params["bias"] = rng.normal(size=layer.params["bias"].shape).astype(np.float32)
    return net


def outputs(net, x):
    return np.asarray(net.forward(net.prepare_input(x)))


def write_safetensors_by_hand(path, tensors: dict, metadata=None, dtype_names=None):
    """The format written out directly: u64 header length, JSON header, raw little-endian data."""
    header, blobs, offset = {}, [], 0
    for name, array in tensors.items():
        data = np.ascontiguousarray(array).tobytes()
        kind = (dtype_names or {}).get(name) or {"float32": "F32", "float64": "F64", "float16": "F16",
                                                  "int64": "I64"}[array.dtype.name]
        header[name] = {"dtype": kind, "shape": list(array.shape), "data_offsets": [offset, offset + len(data)]}
        blobs.append(data)
        offset += len(data)
    if metadata:
        header["__metadata__"] = metadata
    text = json.dumps(header).encode()
    path.write_bytes(struct.pack("<Q", len(text)) + text + b"".join(blobs))


# ------------------------------------------------------------------------------ round trips
@pytest.mark.parametrize("suffix", [".safetensors", ".npz"])
def test_cnn_state_dict_with_text_spec_round_trips(tmp_path, suffix):
    net = random_net(CNN_SPEC, (2, 10, 10))
    path = tmp_path / f"weights{suffix}"
    state = net.state_dict()  # keys "0.weight", "3.bias", ... as a torch.nn.Sequential's
    if suffix == ".npz":
        np.savez(path, **state)
    else:
        safetensors_numpy.save_file(state, str(path))
    imported = import_model(path, arch=CNN_SPEC, input_shape="2,10,10", input_range="0,1", classes="a,b,c")
    assert [layer.type_name for layer in imported.layers] == [layer.type_name for layer in net.layers]
    assert imported.classes == ["a", "b", "c"] and imported.input_range == (0.0, 1.0)
    x = np.random.default_rng(0).normal(size=(5, 2, 10, 10))
    np.testing.assert_array_equal(outputs(imported, x), outputs(net, x))


def test_mlp_input_shape_is_told_by_the_first_weight(tmp_path):
    net = random_net("dense:16,sigmoid,dense:4", (7,), n_classes=4)
    path = tmp_path / "mlp.safetensors"
    safetensors_numpy.save_file(net.state_dict(), str(path))
    for arch in ("dense:16,sigmoid,dense:4", "mlp:16"):
        imported = import_model(path, arch=arch)
        assert imported.input_shape == (7,)
        if arch == "dense:16,sigmoid,dense:4":
            x = np.random.default_rng(1).normal(size=(3, 7))
            np.testing.assert_array_equal(outputs(imported, x), outputs(net, x))


def test_conv_first_needs_the_input_shape(tmp_path):
    net = random_net(CNN_SPEC, (2, 10, 10))
    path = tmp_path / "w.safetensors"
    safetensors_numpy.save_file(net.state_dict(), str(path))
    with pytest.raises(MissingModelInfo) as error:
        import_model(path, arch=CNN_SPEC)
    assert error.value.what == "input_shape"
    with pytest.raises(MissingModelInfo) as error:
        import_model(path)
    assert error.value.what == "arch" and "w.json" in str(error.value)


def test_architecture_from_metadata_sidecar_and_json(tmp_path):
    net = random_net(CNN_SPEC, (2, 10, 10))
    state = net.state_dict()
    # 1. safetensors metadata
    with_meta = tmp_path / "meta.safetensors"
    safetensors_numpy.save_file(state, str(with_meta), metadata={
        "architecture": CNN_SPEC, "input_shape": "[2, 10, 10]", "classes": json.dumps(["x", "y", "z"]),
        "input_range": "-1,1"})
    a = import_model(with_meta)
    assert a.classes == ["x", "y", "z"] and a.input_range == (-1.0, 1.0)
    # 2. a JSON architecture next to the weights, layers with sizes left for the weights to tell
    layers = [{"type": "conv2d", "padding": 1}, {"type": "relu"}, {"type": "maxpool2d", "kernel_size": 2},
              {"type": "conv2d"}, {"type": "tanh"}, {"type": "avgpool2d", "kernel_size": 2},
              {"type": "flatten"}, {"type": "dense"}, {"type": "relu"}, {"type": "dropout"}, {"type": "dense"}]
    # dropout adds a Sequential index: renumber the keys of the last dense layer as torch would
    sidecar_state = {k.replace("9.", "10."): v for k, v in state.items()}
    weights = tmp_path / "side.npz"
    np.savez(weights, **sidecar_state)
    (tmp_path / "side.json").write_text(json.dumps({"layers": layers, "input_shape": [2, 10, 10]}))
    b = import_model(weights)
    # 3. the same JSON given as a path
    c = import_model(weights, arch=str(tmp_path / "side.json"))
    x = np.random.default_rng(2).normal(size=(4, 2, 10, 10))
    for imported in (a, b, c):
        np.testing.assert_array_equal(outputs(imported, x), outputs(net, x))


def test_batchnorm_is_merged_and_matches_the_unmerged_computation(tmp_path):
    """Sequential(Conv, BatchNorm2d, ReLU, MaxPool, Flatten, Linear, BatchNorm1d, Tanh, Linear)."""
    rng = np.random.default_rng(5)
    base = random_net("conv:3:3,relu,maxpool:2,flatten,dense:8,tanh,dense:2", (1, 8, 8), n_classes=2)
    sd = base.state_dict()

    def bn(n):
        return {"weight": rng.uniform(0.5, 2, n), "bias": rng.normal(size=n), "running_mean": rng.normal(size=n),
                "running_var": rng.uniform(0.1, 3, n)}

    bn2d, bn1d = bn(3), bn(8)
    torch_keys = {"0.weight": sd["0.weight"], "0.bias": sd["0.bias"], "5.weight": sd["4.weight"],
                  "5.bias": sd["4.bias"], "8.weight": sd["6.weight"], "8.bias": sd["6.bias"],
                  "1.num_batches_tracked": np.array(10, np.int64)}
    torch_keys.update({f"1.{k}": v.astype(np.float32) for k, v in bn2d.items()})
    torch_keys.update({f"6.{k}": v.astype(np.float32) for k, v in bn1d.items()})
    path = tmp_path / "bn.safetensors"
    safetensors_numpy.save_file(torch_keys, str(path))
    net, notes = import_model_with_notes(path, arch="conv:3:3,bn,relu,maxpool:2,flatten,dense:8,batchnorm1d,tanh,"
                                                   "dense:2", input_shape=(1, 8, 8))
    assert [layer.type_name for layer in net.layers] == [layer.type_name for layer in base.layers]
    assert sum("merged batchnorm" in note for note in notes) == 2

    def batchnorm(h, p, eps=1e-5):
        shape = (1, -1) + (1,) * (h.ndim - 2)
        return ((h - p["running_mean"].astype(np.float32).reshape(shape))
                / np.sqrt(p["running_var"].astype(np.float32).reshape(shape) + eps)
                * p["weight"].astype(np.float32).reshape(shape) + p["bias"].astype(np.float32).reshape(shape))

    x = rng.normal(size=(6, 1, 8, 8)).astype(np.float32)
    h = x
    for index, layer in enumerate(base.layers):  # the unmerged network: BatchNorm applied on its own
        h = np.asarray(layer.forward(h)[0], np.float64)
        if index == 0:
            h = batchnorm(h, bn2d)
        if index == 4:
            h = batchnorm(h, bn1d)
    np.testing.assert_allclose(outputs(net, x), h, rtol=1e-5, atol=1e-5)


def test_shortcut_cnn_and_prefixed_keys(tmp_path):
    net = random_net("cnn", (1, 28, 28), n_classes=10)
    path = tmp_path / "lenet.npz"
    np.savez(path, **{f"model.{k}": v for k, v in net.state_dict().items()})
    imported = import_model(path, arch="cnn")
    x = np.random.default_rng(3).uniform(size=(2, 1, 28, 28))
    np.testing.assert_array_equal(outputs(imported, x), outputs(net, x))


def test_softmax_token_dropped_only_at_the_end(tmp_path):
    net = random_net("dense:5,relu,dense:3", (4,))
    path = tmp_path / "m.npz"
    np.savez(path, **{"0.weight": net.state_dict()["0.weight"], "0.bias": net.state_dict()["0.bias"],
                      "2.weight": net.state_dict()["2.weight"], "2.bias": net.state_dict()["2.bias"]})
    imported, notes = import_model_with_notes(path, arch="dense:5,relu,dense:3,softmax")
    assert any("softmax" in note for note in notes) and len(imported.layers) == 3
    with pytest.raises(ModelFileError, match="softmax may only come last"):
        import_model(path, arch="dense:5,softmax,dense:3")


# ------------------------------------------------------------------------------ mismatches
@pytest.mark.parametrize("arch, message", [
    ("dense:5,relu,dense:4", r"layer 2 of the architecture \(dense\) has out_features 4, but '2.weight' has shape"),
    ("dense:5,relu", "the architecture has 1 layers with parameters"),
    ("conv:5:3,relu,dense:3", r"layer 0 of the architecture is conv2d, but the parameters '0.\*' are dense"),
    ("dense:5,bn,dense:3", "the architecture has 3 layers with parameters"),
    ("dense:5,relu,lstm:3", "cannot read layer 'lstm:3'"),
    ('{"layers": [{"type": "gru"}]}', "unknown type 'gru'"),
    ("{not json", "not valid JSON"),
])
def test_architecture_mismatches_are_named(tmp_path, arch, message):
    net = random_net("dense:5,relu,dense:3", (4,))
    path = tmp_path / "m.safetensors"
    safetensors_numpy.save_file(net.state_dict(), str(path))
    with pytest.raises(ModelFileError, match=message):
        import_model(path, arch=arch)


def test_unexpected_keys_are_refused(tmp_path):
    path = tmp_path / "odd.npz"
    np.savez(path, **{"0.weight": np.ones((2, 3), np.float32), "0.scale": np.ones(2, np.float32)})
    with pytest.raises(ModelFileError, match="unexpected tensor '0.scale'"):
        import_model(path, arch="dense:2")


# ------------------------------------------------------------------------------ the safetensors reader
def test_reader_matches_the_safetensors_library_for_every_float_width(tmp_path):
    rng = np.random.default_rng(4)
    tensors = {"a": rng.normal(size=(3, 4)).astype(np.float16), "b": rng.normal(size=5),
               "c": rng.normal(size=(2, 1, 3, 3)).astype(np.float32), "n": np.array(7, np.int64)}
    path = tmp_path / "t.safetensors"
    safetensors_numpy.save_file(tensors, str(path), metadata={"k": "v"})
    ours, metadata = read_safetensors(path)
    reference = safetensors_numpy.load_file(str(path))
    assert metadata == {"k": "v"} and set(ours) == set(reference)
    for key, value in reference.items():
        assert ours[key].dtype == value.dtype
        np.testing.assert_array_equal(ours[key], value)


def test_reader_widens_bfloat16(tmp_path):
    values = np.array([1.0, -2.5, 0.15625, 2.0**100], np.float32)
    upper = (values.view(np.uint32) >> 16).astype("<u2")  # exactly representable in bfloat16
    path = tmp_path / "bf.safetensors"
    write_safetensors_by_hand(path, {"w": upper}, dtype_names={"w": "BF16"})
    np.testing.assert_array_equal(read_safetensors(path)[0]["w"], values)


@pytest.mark.parametrize("damage, message", [
    (lambda b: b[:5], "too short"),
    (lambda b: struct.pack("<Q", 10**9) + b[8:], "header length"),
    (lambda b: b[:8] + b"!" + b[9:], "not JSON"),
    (lambda b: b[:-4], "outside the file"),
    (lambda b: b.replace(b'"F32"', b'"C64"'), "unsupported dtype 'C64'"),
    (lambda b: b.replace(b"[0, 24]", b"[0, 20]"), "20 bytes stored for shape"),
])
def test_reader_refuses_damaged_files(tmp_path, damage, message):
    good = tmp_path / "good.safetensors"
    write_safetensors_by_hand(good, {"w": np.ones((2, 3), np.float32)})
    bad = tmp_path / "bad.safetensors"
    bad.write_bytes(damage(good.read_bytes()))
    with pytest.raises(ModelFileError, match=message):
        read_safetensors(bad)


# ------------------------------------------------------------------------------ pickle is never loaded
@pytest.mark.parametrize("name", ["model.pt", "model.pth", "checkpoint.ckpt", "weights.bin", "mystery.dat"])
def test_pickled_pytorch_files_are_refused_with_advice(tmp_path, name):
    path = tmp_path / name
    if name == "mystery.dat":  # PyTorch's zip format, whatever the suffix
        with zipfile.ZipFile(path, "w") as archive:
            archive.writestr("archive/data.pkl", pickle.dumps({"w": 1}))
    else:
        path.write_bytes(pickle.dumps({"0.weight": [[1.0]]}))
    with pytest.raises(ModelFileError) as error:
        import_model(path)
    message = str(error.value)
    assert "pickled PyTorch files are never loaded" in message
    assert "torch.onnx.export" in message and "safetensors" in message


def test_lrp_studio_model_files_import_as_they_are(tmp_path):
    net = random_net("dense:5,relu,dense:3", (4,))
    path = save_model(net, tmp_path / "model.npz")
    imported = import_model(path, classes=["p", "q", "r"], input_range=(-1, 1))
    assert imported.classes == ["p", "q", "r"] and imported.input_range == (-1.0, 1.0)
    x = np.random.default_rng(0).normal(size=(2, 4))
    np.testing.assert_array_equal(outputs(imported, x), outputs(net, x))
