"""Model files: round trips, PyTorch-style files, hostile files, pickle refusal, atomic saves."""

from __future__ import annotations

import io
import json
import os
import pickle
import tracemalloc
import warnings
import zipfile

import numpy as np
import pytest

from lrp_studio.errors import ModelFileError, ParameterError
from lrp_studio.io import atomic_write, load_model, save_model
from lrp_studio.io import model as model_file
from lrp_studio.nn import Network, lenet, mlp
from lrp_studio.nn.layers import MAX_LAYER_PARAMETERS


# ------------------------------------------------------------------------------------- helpers
def small_arch() -> dict:
    """A tiny valid architecture: 4 -> dense 3 -> relu -> dense 2."""
    return {
        "format": "lrp-studio-model", "version": 1, "input_shape": [4],
        "layers": [
            {"type": "dense", "in_features": 4, "out_features": 3}, {"type": "relu"},
            {"type": "dense", "in_features": 3, "out_features": 2},
        ],
        "classes": ["no", "yes"], "input_range": [0.0, 1.0],
    }


def small_params() -> dict:
    rng = np.random.default_rng(1)
    return {
        "0.weight": rng.normal(size=(3, 4)).astype(np.float32), "0.bias": rng.normal(size=3).astype(np.float32),
        "2.weight": rng.normal(size=(2, 3)).astype(np.float32), "2.bias": rng.normal(size=2).astype(np.float32),
    }


def write_npz(path, arch=None, params=None, architecture=None) -> str:
    """Write a model file by hand with plain np.savez (``architecture`` overrides the JSON array)."""
    arrays = dict(small_params() if params is None else params)
    if architecture is not None:
        arrays["architecture"] = architecture
    elif arch is not None:
        arrays["architecture"] = np.array(json.dumps(arch))
    np.savez(path, **arrays)
    return str(path)


def assert_refused(path, *fragments: str) -> ModelFileError:
    with pytest.raises(ModelFileError) as info:
        load_model(path)
    message = str(info.value)
    assert os.path.basename(str(path)) in message
    assert "\n" not in message
    for fragment in fragments:
        assert fragment in message, message
    return info.value


# ----------------------------------------------------------------------------------- round trip
@pytest.mark.parametrize("make", [
    lambda: mlp([784, 30, 10], input_shape=(1, 28, 28)),
    lambda: lenet(),
    lambda: mlp([2, 8, 8, 3], activation="tanh", seed=3, classes=["a", "b", "c"], input_range=(-1.0, 2.0)),
], ids=["mlp", "lenet", "toy-tanh"])
def test_round_trip_keeps_spec_weights_and_outputs(tmp_path, make):
    net = make()
    path = save_model(net, tmp_path / "model.npz")
    loaded = load_model(path)
    assert loaded.spec() == net.spec()
    original, restored = net.state_dict(), loaded.state_dict()
    assert original.keys() == restored.keys()
    for key in original:
        assert restored[key].dtype == np.float32
        np.testing.assert_array_equal(restored[key], original[key])
    x = np.random.default_rng(0).random((5,) + net.input_shape, dtype=np.float32)
    np.testing.assert_array_equal(loaded.predict(x), net.predict(x))


def test_saved_file_follows_the_contract(tmp_path):
    net = lenet()
    save_model(net, tmp_path / "m.npz")
    with np.load(tmp_path / "m.npz", allow_pickle=False) as npz:
        arch_array = npz["architecture"]
        assert arch_array.shape == () and arch_array.dtype.kind == "U"
        arch = json.loads(str(arch_array[()]))
        assert arch["format"] == "lrp-studio-model" and arch["version"] == 1
        assert sorted(k for k in npz.files if k != "architecture") == sorted(net.state_dict())
        assert npz["0.weight"].shape == (16, 1, 5, 5) and npz["0.weight"].dtype == np.float32
        assert npz["7.weight"].shape == (100, 512)


def test_save_returns_path_and_overwrites(tmp_path):
    path = tmp_path / "m.npz"
    save_model(mlp([2, 3]), path)
    assert save_model(mlp([2, 5, 3], seed=1), str(path)) == path
    assert load_model(path).spec()["layers"][0]["out_features"] == 5
    assert os.listdir(tmp_path) == ["m.npz"]


def test_uppercase_suffix_writes_exactly_that_file(tmp_path):
    save_model(mlp([2, 3]), tmp_path / "MODEL.NPZ")
    assert os.listdir(tmp_path) == ["MODEL.NPZ"]
    assert load_model(tmp_path / "MODEL.NPZ").n_classes == 3


@pytest.mark.parametrize("name", ["model.npy", "model", "model.npz.txt"])
def test_save_requires_npz_suffix(tmp_path, name):
    with pytest.raises(ModelFileError, match=".npz"):
        save_model(mlp([2, 3]), tmp_path / name)
    assert os.listdir(tmp_path) == []


def test_save_into_missing_directory_is_a_model_file_error(tmp_path):
    with pytest.raises(ModelFileError, match="m.npz"):
        save_model(mlp([2, 3]), tmp_path / "nowhere" / "m.npz")


def test_torch_style_state_dict_written_by_plain_savez_loads(tmp_path):
    """A torch.nn.Sequential(Linear, ReLU, Linear) state_dict maps key for key; float64 is converted."""
    params = {key: value.astype(np.float64) for key, value in small_params().items()}
    arch = small_arch()
    del arch["classes"], arch["input_range"]  # both optional
    path = write_npz(tmp_path / "torch.npz", arch, params)
    net = load_model(path)
    assert [layer.type_name for layer in net.layers] == ["dense", "relu", "dense"]
    assert net.classes == ["0", "1"] and net.input_range is None
    x = np.random.default_rng(2).random((6, 4))
    expected = np.maximum(x @ params["0.weight"].T + params["0.bias"], 0) @ params["2.weight"].T + params["2.bias"]
    np.testing.assert_allclose(net.predict(x), expected, rtol=1e-5, atol=1e-5)
    for key, value in net.state_dict().items():
        assert value.dtype == np.float32
        np.testing.assert_array_equal(value, params[key].astype(np.float32))


def test_torch_style_cnn_loads(tmp_path):
    net = lenet(channels=(2, 3), hidden=5, n_classes=4)
    arch = net.spec()
    del arch["classes"]
    params = {k: np.asfortranarray(v).astype(">f4") for k, v in net.state_dict().items()}  # big-endian, F order
    loaded = load_model(write_npz(tmp_path / "cnn.npz", arch, params))
    x = np.random.default_rng(3).random((2, 1, 28, 28), dtype=np.float32)
    np.testing.assert_allclose(loaded.predict(x), net.predict(x), rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize("dtype", [np.float16, np.float64, np.int8, np.int64, np.uint16])
def test_real_numeric_parameter_dtypes_are_converted(tmp_path, dtype):
    params = {key: np.round(value * 3).astype(dtype) for key, value in small_params().items()}
    net = load_model(write_npz(tmp_path / "d.npz", small_arch(), params))
    for key, value in net.state_dict().items():
        assert value.dtype == np.float32
        np.testing.assert_array_equal(value, params[key].astype(np.float32))


def test_loading_never_uses_random_init(tmp_path, monkeypatch):
    def forbidden(self, seed=0):
        raise AssertionError("init_weights called while loading")

    monkeypatch.setattr(Network, "init_weights", forbidden)
    assert isinstance(load_model(write_npz(tmp_path / "m.npz", small_arch())), Network)


def test_null_classes_and_input_range_are_absent(tmp_path):
    arch = dict(small_arch(), classes=None, input_range=None)
    net = load_model(write_npz(tmp_path / "m.npz", arch))
    assert net.classes == ["0", "1"] and net.input_range is None


# ------------------------------------------------------------------------------- hostile files
def _arch(**changes) -> dict:
    arch = small_arch()
    for key, value in changes.items():
        if value is _DELETE:
            del arch[key]
        else:
            arch[key] = value
    return arch


def _layer(index: int, **changes) -> dict:
    arch = small_arch()
    for key, value in changes.items():
        if value is _DELETE:
            del arch["layers"][index][key]
        else:
            arch["layers"][index][key] = value
    return arch


_DELETE = object()
_NAN_JSON = json.dumps(dict(small_arch(), input_range=[0.0, float("nan")]))
_INF_JSON = json.dumps(dict(small_arch(), input_range=[0.0, float("inf")]))

BAD_ARCHITECTURES = {
    "format-wrong": (_arch(format="keras"), "format"),
    "format-missing": (_arch(format=_DELETE), "format"),
    "version-3": (_arch(version=3), "version"),  # 1 and 2 are read (issue 12: version 2 = graphs)
    "version-string": (_arch(version="1"), "version"),
    "version-float": (_arch(version=1.0), "version"),
    "version-bool": (_arch(version=True), "version"),
    "version-missing": (_arch(version=_DELETE), "version"),
    "input-shape-missing": (_arch(input_shape=_DELETE), "input_shape"),
    "input-shape-empty": (_arch(input_shape=[]), "input_shape"),
    "input-shape-4d": (_arch(input_shape=[1, 1, 2, 2]), "input_shape"),
    "input-shape-zero": (_arch(input_shape=[0]), "input_shape"),
    "input-shape-negative": (_arch(input_shape=[-4]), "input_shape"),
    "input-shape-float": (_arch(input_shape=[4.0]), "input_shape"),
    "input-shape-string": (_arch(input_shape=["4"]), "input_shape"),
    "input-shape-bool": (_arch(input_shape=[True]), "input_shape"),
    "input-shape-scalar": (_arch(input_shape=4), "input_shape"),
    "input-shape-huge": (_arch(input_shape=[10**6, 10**6, 10**6]), "limit"),
    "layers-missing": (_arch(layers=_DELETE), "layers"),
    "layers-empty": (_arch(layers=[]), "layers"),
    "layers-object": (_arch(layers={"0": {"type": "relu"}}), "layers"),
    "layer-not-object": (_arch(layers=["dense"]), "layer 0"),
    "layer-unknown-type": (_layer(1, type="softmax"), "unknown layer type"),
    "layer-type-missing": (_layer(1, type=_DELETE), "unknown layer type"),
    "layer-type-list": (_layer(1, type=["relu"]), "unknown layer type"),
    "layer-key-missing": (_layer(0, in_features=_DELETE), "in_features"),
    "layer-key-bool": (_layer(0, out_features=True), "out_features"),
    "layer-key-negative": (_layer(0, out_features=-3), "out_features"),
    "layer-key-zero": (_layer(0, out_features=0), "out_features"),
    "layer-key-float": (_layer(0, out_features=3.0), "out_features"),
    "layer-key-string": (_layer(0, out_features="3"), "out_features"),
    "layer-key-null": (_layer(0, out_features=None), "out_features"),
    "classes-wrong-length": (_arch(classes=["a", "b", "c"]), "class"),
    "classes-not-strings": (_arch(classes=[0, 1]), "classes"),
    "classes-string": (_arch(classes="ab"), "classes"),
    "range-reversed": (_arch(input_range=[1.0, 0.0]), "input_range"),
    "range-equal": (_arch(input_range=[1.0, 1.0]), "input_range"),
    "range-one-value": (_arch(input_range=[0.0]), "input_range"),
    "range-string": (_arch(input_range=["0", "1"]), "input_range"),
    "range-bool": (_arch(input_range=[False, True]), "input_range"),
    "range-huge-int": (_arch(input_range=[0, 10**400]), "input_range"),
    "range-object": (_arch(input_range={"low": 0, "high": 1}), "input_range"),
}


@pytest.mark.parametrize("case", list(BAD_ARCHITECTURES), ids=list(BAD_ARCHITECTURES))
def test_bad_architecture_is_refused(tmp_path, case):
    arch, fragment = BAD_ARCHITECTURES[case]
    assert_refused(write_npz(tmp_path / f"{case}.npz", arch), fragment)


@pytest.mark.parametrize("text, fragment", [
    (_NAN_JSON, "input_range"), (_INF_JSON, "input_range"), ("{not json", "JSON"), ("", "JSON"),
    ("[1, 2, 3]", "JSON object"), ('"a string"', "JSON object"), ("null", "JSON object"),
    ("[" * 100_000 + "]" * 100_000, "JSON"), ('{"version": ' + "9" * 5000 + "}", "JSON"),
], ids=["nan", "inf", "broken", "empty", "list", "string", "null", "deep", "long-int"])
def test_architecture_json_problems_are_refused(tmp_path, text, fragment):
    assert_refused(write_npz(tmp_path / "j.npz", architecture=np.array(text)), fragment)


@pytest.mark.parametrize("architecture", [
    np.array(5), np.array([json.dumps(small_arch())]), np.array(json.dumps(small_arch()).encode()),
    np.zeros((2, 2), np.float32),
], ids=["int", "1-d-string", "bytes", "float-matrix"])
def test_architecture_must_be_a_0d_unicode_array(tmp_path, architecture):
    assert_refused(write_npz(tmp_path / "a.npz", architecture=architecture), "architecture")


def test_missing_architecture(tmp_path):
    assert_refused(write_npz(tmp_path / "noarch.npz"), "architecture")


def test_total_parameter_limit_is_named(tmp_path):
    layers = ([{"type": "dense", "in_features": 4, "out_features": 2**13}]
              + [{"type": "dense", "in_features": 2**13, "out_features": 2**13}] * 5
              + [{"type": "dense", "in_features": 2**13, "out_features": 2}])
    arch = {"format": "lrp-studio-model", "version": 1, "input_shape": [4], "layers": layers}
    assert_refused(write_npz(tmp_path / "total.npz", arch, params={}), "parameters in all")


def test_dense_in_features_not_matching_previous_output(tmp_path):
    arch = _layer(2, in_features=5)
    # Parameters as the (inconsistent) architecture claims them: the shapes themselves disagree.
    params = _params(**{"2_weight": np.zeros((2, 5), np.float32)})
    assert_refused(write_npz(tmp_path / "mismatch.npz", arch, params), "layer 2", "dense")
    # With the parameters of the real network the stored shape is reported instead.
    assert_refused(write_npz(tmp_path / "mismatch2.npz", arch), "2.weight", "shape")


def test_cnn_shape_problems_are_refused(tmp_path):
    net = lenet(channels=(2, 3), hidden=5, n_classes=4)
    params = net.state_dict()
    arch = net.spec()
    arch["layers"][3]["in_channels"] = 4  # conv after conv(2 channels)
    params["3.weight"] = np.zeros((3, 4, 5, 5), np.float32)
    assert_refused(write_npz(tmp_path / "conv-channels.npz", arch, params), "layer 3")
    arch = net.spec()
    arch["input_shape"] = [1, 8, 8]  # the second conv no longer fits
    assert_refused(write_npz(tmp_path / "conv-fit.npz", arch, net.state_dict()), "inconsistent")
    arch = net.spec()
    arch["layers"] = arch["layers"][:2]  # ends in (C, H, W), not a flat output
    params = {k: v for k, v in net.state_dict().items() if k.startswith("0.")}
    assert_refused(write_npz(tmp_path / "not-flat.npz", arch, params), "flat")
    arch = net.spec()
    arch["layers"][2]["stride"] = 0
    assert_refused(write_npz(tmp_path / "pool-stride.npz", arch, net.state_dict()), "stride")
    arch = net.spec()
    arch["layers"][0]["padding"] = -1
    assert_refused(write_npz(tmp_path / "padding.npz", arch, net.state_dict()), "padding")


def _params(**changes) -> dict:
    params = small_params()
    for key, value in changes.items():
        if value is _DELETE:
            del params[key.replace("_", ".")]
        else:
            params[key.replace("_", ".")] = value
    return params


BAD_PARAMETERS = {
    "missing-weight": (_params(**{"2_weight": _DELETE}), "missing"),
    "missing-bias": (_params(**{"0_bias": _DELETE}), "missing"),
    "extra-key": (_params(**{"1_weight": np.zeros((3, 3), np.float32)}), "unexpected"),
    "extra-other": (_params(**{"optimizer": np.zeros(3, np.float32)}), "unexpected"),
    "transposed": (_params(**{"0_weight": np.zeros((4, 3), np.float32)}), "shape"),
    "bias-2d": (_params(**{"0_bias": np.zeros((3, 1), np.float32)}), "shape"),
    "scalar": (_params(**{"2_bias": np.float32(0.5)}), "shape"),
    "bool": (_params(**{"0_bias": np.ones(3, bool)}), "dtype"),
    "complex": (_params(**{"0_bias": np.ones(3, np.complex64)}), "dtype"),
    "string": (_params(**{"0_bias": np.array(["a", "b", "c"])}), "dtype"),
    "datetime": (_params(**{"0_bias": np.zeros(3, "datetime64[s]")}), "dtype"),
    "structured": (_params(**{"0_bias": np.zeros(3, [("a", "f4")])}), "dtype"),
    "nan": (_params(**{"0_weight": np.full((3, 4), np.nan, np.float32)}), "NaN"),
    "inf": (_params(**{"2_bias": np.array([0.0, -np.inf], np.float32)}), "NaN or infinite"),
    "float32-overflow": (_params(**{"2_bias": np.array([0.0, 1e300])}), "infinite"),
}


@pytest.mark.parametrize("case", list(BAD_PARAMETERS), ids=list(BAD_PARAMETERS))
def test_bad_parameters_are_refused(tmp_path, case):
    params, fragment = BAD_PARAMETERS[case]
    assert_refused(write_npz(tmp_path / f"{case}.npz", small_arch(), params), fragment)


def _valid_bytes(tmp_path) -> bytes:
    return open(write_npz(tmp_path / "valid.npz", small_arch()), "rb").read()


@pytest.mark.parametrize("content", [
    b"", b"\x00", b"hello, this is not a model\n", bytes(range(256)) * 40, b"PK\x03\x04" + b"\x00" * 100,
    b"PK\x05\x06" + b"\x00" * 18, b"\x93NUMPY",
], ids=["empty", "one-byte", "text", "random", "zip-prefix", "empty-zip-ish", "npy-magic"])
def test_not_an_npz_is_refused(tmp_path, content):
    path = tmp_path / "junk.npz"
    path.write_bytes(content)
    assert_refused(path)


def test_random_bytes_are_refused(tmp_path):
    rng = np.random.default_rng(7)
    for i in range(20):
        path = tmp_path / f"random{i}.npz"
        path.write_bytes(rng.integers(0, 256, size=int(rng.integers(1, 5000)), dtype=np.uint8).tobytes())
        assert_refused(path)


def test_truncated_files_are_refused(tmp_path):
    data = _valid_bytes(tmp_path)
    for cut in sorted({1, 4, 30, 100, len(data) // 3, len(data) // 2, len(data) - 22, len(data) - 1}):
        path = tmp_path / f"cut{cut}.npz"
        path.write_bytes(data[:cut])
        assert_refused(path)


def test_flipped_data_byte_is_refused_by_the_zip_checksum(tmp_path):
    data = bytearray(_valid_bytes(tmp_path))
    offset = data.find(b"\x93NUMPY", data.find(b"0.weight.npy")) + 128 + 20  # inside the 0.weight data
    data[offset] ^= 0xFF
    path = tmp_path / "flipped.npz"
    path.write_bytes(bytes(data))
    assert_refused(path)


def test_npy_file_named_npz_is_refused(tmp_path):
    path = tmp_path / "single.npz"
    with open(path, "wb") as handle:
        np.save(handle, np.zeros(3))
    assert_refused(path, ".npy")


def test_empty_zip_is_refused(tmp_path):
    path = tmp_path / "empty.npz"
    with zipfile.ZipFile(path, "w"):
        pass
    assert_refused(path, "architecture")


def test_non_array_member_is_refused(tmp_path):
    path = tmp_path / "notes.npz"
    write_npz(path, small_arch())
    with zipfile.ZipFile(path, "a") as archive:
        archive.writestr("notes.txt", "hello")
    assert_refused(path, "notes.txt")


def test_member_with_garbage_instead_of_npy_is_refused(tmp_path):
    path = tmp_path / "garbage.npz"
    write_npz(path, small_arch(), _params(**{"2_bias": _DELETE}))
    with zipfile.ZipFile(path, "a") as archive:
        archive.writestr("2.bias.npy", b"\x93NUMPY\x01\x00garbage")
    assert_refused(path, "2.bias")


def test_header_claiming_a_huge_array_is_refused_before_reading(tmp_path):
    """A .npy header that claims (10**12,) floats must not make the loader allocate them."""
    path = tmp_path / "claims.npz"
    write_npz(path, small_arch(), _params(**{"2_bias": _DELETE}))
    header = io.BytesIO()
    np.lib.format.write_array_header_1_0(header, {"descr": "<f4", "fortran_order": False, "shape": (10**12,)})
    with zipfile.ZipFile(path, "a") as archive:
        archive.writestr("2.bias.npy", header.getvalue() + b"\x00" * 16)
    tracemalloc.start()
    try:
        assert_refused(path, "2.bias", "shape")
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 16 * 2**20  # nothing of the claimed 4 TB was allocated


def test_missing_file_directory_and_bad_paths(tmp_path):
    assert_refused(tmp_path / "missing.npz", "not found")
    (tmp_path / "folder.npz").mkdir()
    assert_refused(tmp_path / "folder.npz", "directory")
    blocker = tmp_path / "plain.txt"
    blocker.write_text("x")
    assert_refused(blocker / "inside.npz", "not found")
    with pytest.raises(ModelFileError):
        load_model(None)


@pytest.mark.skipif(not hasattr(os, "geteuid") or os.geteuid() == 0, reason="root reads any file")
def test_unreadable_file(tmp_path):
    path = write_npz(tmp_path / "locked.npz", small_arch())
    os.chmod(path, 0)
    try:
        assert_refused(path, "cannot open")
    finally:
        os.chmod(path, 0o644)


# --------------------------------------------------------------------------------------- pickle
class _Payload:
    """Unpickling this writes a marker file: proof that pickle ran."""

    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return (open, (self.marker, "w"))


def test_pickle_payload_is_never_unpickled(tmp_path):
    # Sanity: the payload works when someone does unpickle it.
    probe = tmp_path / "probe"
    probe.mkdir()
    np.savez(probe / "p.npz", payload=np.array([_Payload(probe / "ran")], dtype=object))
    with np.load(probe / "p.npz", allow_pickle=True) as npz:
        npz["payload"][0].close()
    assert (probe / "ran").exists()

    marker = tmp_path / "marker"
    for name, extra in {
        "payload-extra.npz": {"payload": np.array([_Payload(marker)], dtype=object)},
        "payload-param.npz": {"0.bias": np.array([_Payload(marker)] * 3, dtype=object)},
    }.items():
        params = dict(small_params(), **extra)
        path = write_npz(tmp_path / name, small_arch(), params)
        assert_refused(path, "contains pickled objects, which are never loaded")
        assert not marker.exists()
    path = write_npz(tmp_path / "payload-arch.npz", architecture=np.array([_Payload(marker)], dtype=object))
    assert_refused(path, "pickled objects")
    assert not marker.exists()


def test_whole_file_pickle_is_never_unpickled(tmp_path):
    marker = tmp_path / "marker"
    path = tmp_path / "pickled.npz"
    path.write_bytes(pickle.dumps({"architecture": _Payload(marker)}))
    assert_refused(path, "not an .npz")
    assert not marker.exists()


# ---------------------------------------------------------------------------------- absurd sizes
@pytest.mark.parametrize("layers, input_shape", [
    ([{"type": "dense", "in_features": 10**9, "out_features": 10**9}], [4]),
    ([{"type": "dense", "in_features": 4, "out_features": 10**9}, {"type": "dense", "in_features": 10**9, "out_features": 2}], [4]),
    ([{"type": "conv2d", "in_channels": 1, "out_channels": 10**6, "kernel_size": 10**3, "stride": 1, "padding": 0},
      {"type": "flatten"}], [1, 28, 28]),
    ([{"type": "dense", "in_features": 4, "out_features": 10**400}], [4]),
    ([{"type": "dense", "in_features": 4, "out_features": 2**13}]
     + [{"type": "dense", "in_features": 2**13, "out_features": 2**13}] * 5
     + [{"type": "dense", "in_features": 2**13, "out_features": 2}], [4]),  # each layer allowed, total not
    ([{"type": "conv2d", "in_channels": 1, "out_channels": 1, "kernel_size": 3, "stride": 1, "padding": 10**6},
      {"type": "maxpool2d", "kernel_size": 2 * 10**6, "stride": 2 * 10**6}, {"type": "flatten"},
      {"type": "dense", "in_features": 1, "out_features": 2}], [1, 28, 28]),  # tiny weights, absurd activations
], ids=["dense-1e18", "dense-1e9-wide", "conv-1e12", "dense-1e400", "total", "padding-1e6"])
def test_absurd_sizes_are_refused_fast_without_allocating(tmp_path, layers, input_shape):
    arch = {"format": "lrp-studio-model", "version": 1, "input_shape": input_shape, "layers": layers}
    path = write_npz(tmp_path / "absurd.npz", arch, params={})
    if layers[0].get("padding") == 10**6:  # supply the (tiny) matching parameters
        path = write_npz(tmp_path / "absurd.npz", arch, params={
            "0.weight": np.zeros((1, 1, 3, 3), np.float32), "0.bias": np.zeros(1, np.float32),
            "3.weight": np.zeros((2, 1), np.float32), "3.bias": np.zeros(2, np.float32)})
    tracemalloc.start()
    try:
        error = assert_refused(path)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 16 * 2**20
    assert "limit" in str(error)
    assert MAX_LAYER_PARAMETERS < 10**12


# -------------------------------------------------------------------------------------- atomic
def test_failed_save_leaves_previous_file_byte_identical(tmp_path, monkeypatch):
    path = tmp_path / "model.npz"
    save_model(mlp([2, 4, 3]), path)
    before = path.read_bytes()

    def broken_savez(file, *args, **kwargs):
        if hasattr(file, "write"):
            file.write(b"PK\x03\x04 half a model")
        else:
            open(file, "wb").write(b"PK\x03\x04 half a model")
        raise RuntimeError("disk exploded")

    monkeypatch.setattr(np, "savez", broken_savez)
    with pytest.raises(RuntimeError, match="disk exploded"):
        save_model(mlp([2, 8, 3], seed=5), path)
    assert path.read_bytes() == before
    assert os.listdir(tmp_path) == ["model.npz"]
    monkeypatch.undo()
    assert load_model(path).spec()["layers"][0]["out_features"] == 4


def test_failed_first_save_leaves_nothing(tmp_path, monkeypatch):
    def broken_savez(file, *args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(np, "savez", broken_savez)
    with pytest.raises(KeyboardInterrupt):
        save_model(mlp([2, 3]), tmp_path / "new.npz")
    assert os.listdir(tmp_path) == []


def test_atomic_write_gives_temp_path_with_same_suffix_in_same_directory(tmp_path):
    seen = []

    def write(temp_path):
        seen.append(temp_path)
        with open(temp_path, "w") as handle:
            handle.write("content")

    result = atomic_write(tmp_path / "out.tar.csv", write)
    assert result == tmp_path / "out.tar.csv"
    assert (tmp_path / "out.tar.csv").read_text() == "content"
    assert os.path.dirname(seen[0]) == str(tmp_path) and seen[0].endswith(".csv")
    assert os.listdir(tmp_path) == ["out.tar.csv"]


def test_atomic_write_failure_keeps_old_content_and_cleans_up(tmp_path):
    target = tmp_path / "keep.txt"
    target.write_text("old")

    def write(temp_path):
        with open(temp_path, "w") as handle:
            handle.write("new but broken")
        raise ValueError("stop")

    with pytest.raises(ValueError, match="stop"):
        atomic_write(target, write)
    assert target.read_text() == "old"
    assert os.listdir(tmp_path) == ["keep.txt"]


def test_atomic_write_keeps_mode_of_existing_file_and_umask_for_new(tmp_path):
    target = tmp_path / "mode.txt"
    target.write_text("old")
    os.chmod(target, 0o640)
    atomic_write(target, lambda p: open(p, "w").write("new"))
    assert (target.stat().st_mode & 0o777) == 0o640
    umask = os.umask(0o022)
    try:
        atomic_write(tmp_path / "fresh.txt", lambda p: open(p, "w").write("x"))
    finally:
        os.umask(umask)
    assert (tmp_path / "fresh.txt").stat().st_mode & 0o777 == 0o644


def test_atomic_write_into_missing_directory_raises_oserror(tmp_path):
    with pytest.raises(OSError):
        atomic_write(tmp_path / "no" / "file.txt", lambda p: None)


def test_parameter_error_is_not_a_model_file_error():
    """Guard: loading wraps ParameterError; the two stay distinct types."""
    assert not issubclass(ParameterError, ModelFileError)


def test_round_trip_on_each_backend(tmp_path, backend):
    """Save from and load onto the active backend (NumPy; CuPy where a GPU is usable)."""
    from lrp_studio.backend import to_numpy

    net = lenet(channels=(2, 3), hidden=5, n_classes=4, seed=9)
    save_model(net, tmp_path / "b.npz")
    loaded = load_model(tmp_path / "b.npz")
    for key, value in loaded.iter_params():
        assert type(value).__module__.split(".")[0] == backend.__name__.split(".")[0]
        np.testing.assert_array_equal(to_numpy(value), net.state_dict()[key])
    x = np.random.default_rng(4).random((3, 1, 28, 28), dtype=np.float32)
    np.testing.assert_allclose(loaded.predict(x), net.predict(x), rtol=1e-5, atol=1e-6)


# ------------------------------------------------------------------------- hostile files (issue 11, part 5)
def peak_memory_of_refusal(path, *fragments: str) -> int:
    """Bytes allocated at most while ``load_model(path)`` refuses the file (one ModelFileError line)."""
    tracemalloc.start()
    try:
        assert_refused(path, *fragments)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    return peak


def test_duplicate_zip_member_is_refused(tmp_path):
    """A second "0.weight.npy" would silently win (zipfile reads the last one): refuse the file."""
    path = tmp_path / "duplicate.npz"
    write_npz(path, small_arch())
    other = io.BytesIO()
    np.save(other, np.ones((3, 4), np.float32))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # zipfile warns about the duplicate name
        with zipfile.ZipFile(path, "a") as archive:
            archive.writestr("0.weight.npy", other.getvalue())
    with zipfile.ZipFile(path) as archive:
        assert archive.namelist().count("0.weight.npy") == 2
    assert_refused(path, "'0.weight'", "more than once")


def test_duplicate_architecture_member_is_refused(tmp_path):
    path = tmp_path / "two-architectures.npz"
    write_npz(path, small_arch())
    other = io.BytesIO()
    np.save(other, np.array(json.dumps(dict(small_arch(), classes=["a", "b"]))))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        with zipfile.ZipFile(path, "a") as archive:
            archive.writestr("architecture.npy", other.getvalue())
    assert_refused(path, "'architecture'", "more than once")


def test_architecture_text_over_its_limit_is_refused_before_reading(tmp_path):
    """Valid JSON padded past MAX_ARCHITECTURE_CHARS (64 MB as UCS-4, 65 kB compressed) is refused unread."""
    text = json.dumps(small_arch()) + " " * model_file.MAX_ARCHITECTURE_CHARS
    assert len(text) > model_file.MAX_ARCHITECTURE_CHARS and json.loads(text) == small_arch()
    path = tmp_path / "long.npz"
    np.savez_compressed(path, architecture=np.array(text), **small_params())
    del text
    assert peak_memory_of_refusal(path, "'architecture' is longer than", "characters") < 16 * 2**20


@pytest.mark.parametrize("over", [0, 1])
def test_architecture_text_limit_is_exact(tmp_path, monkeypatch, over):
    text = json.dumps(small_arch())
    monkeypatch.setattr(model_file, "MAX_ARCHITECTURE_CHARS", len(text) - over)
    path = write_npz(tmp_path / "edge.npz", architecture=np.array(text))
    if over:
        assert_refused(path, "longer than")
    else:
        assert load_model(path).spec()["layers"] == small_arch()["layers"]


def im2col_arch(side: int, kernel: int) -> dict:
    return {"format": "lrp-studio-model", "version": 1, "input_shape": [1, side, side], "layers": [
        {"type": "conv2d", "in_channels": 1, "out_channels": 1, "kernel_size": kernel, "stride": 1, "padding": 0},
        {"type": "flatten"}]}


def test_convolution_whose_im2col_buffer_alone_exceeds_the_limit_is_refused(tmp_path):
    """Input 4096^2 and output 4093^2 values are allowed; the unfolded input (16 x 4093^2) is not."""
    side, kernel = 4096, 4
    out = side - kernel + 1
    limit = model_file.MAX_SAMPLE_VALUES
    assert side * side <= limit and out * out <= limit < out * out * kernel * kernel
    path = write_npz(tmp_path / "im2col.npz", im2col_arch(side, kernel), params={
        "0.weight": np.zeros((1, 1, kernel, kernel), np.float32), "0.bias": np.zeros(1, np.float32)})
    peak = peak_memory_of_refusal(path, "layer 0", f"{out * out * kernel * kernel:,} values per sample", "limit")
    assert peak < 16 * 2**20  # refused from the shapes alone: no class names, no buffers


def test_network_with_millions_of_outputs_is_refused(tmp_path):
    """A 1x1 convolution over 2048^2 pixels, flattened: 4M outputs would mean 4M class names."""
    path = write_npz(tmp_path / "outputs.npz", im2col_arch(2048, 1), params={
        "0.weight": np.zeros((1, 1, 1, 1), np.float32), "0.bias": np.zeros(1, np.float32)})
    assert peak_memory_of_refusal(path, "4,194,304 outputs", "limit") < 16 * 2**20


def dense_pair(widths: tuple[int, int, int]) -> dict:
    a, b, c = widths
    return {"format": "lrp-studio-model", "version": 1, "input_shape": [a], "layers": [
        {"type": "dense", "in_features": a, "out_features": b}, {"type": "dense", "in_features": b, "out_features": c}]}


def test_parameter_limit_counts_biases(tmp_path):
    """Two layers of exactly MAX_LAYER_PARAMETERS weights reach the model limit; their biases go over it."""
    widths = (2**14, 2**13, 2**14)
    weights = widths[0] * widths[1] + widths[1] * widths[2]
    assert 2**14 * 2**13 == MAX_LAYER_PARAMETERS and weights == model_file.MAX_MODEL_PARAMETERS
    path = write_npz(tmp_path / "biases.npz", dense_pair(widths), params={})  # refused before any array is read
    assert_refused(path, "parameters in all", "limit")


@pytest.mark.parametrize("over", [0, 1])
def test_parameter_limit_is_exact_and_counts_biases(tmp_path, monkeypatch, over):
    """small_arch has 3*4 + 3 + 2*3 + 2 = 23 parameters: a limit of 23 loads it, 22 refuses it."""
    monkeypatch.setattr(model_file, "MAX_MODEL_PARAMETERS", 23 - over)
    path = write_npz(tmp_path / "edge.npz", small_arch())
    if over:
        assert_refused(path, "parameters in all")
    else:
        assert load_model(path).state_dict().keys() == small_params().keys()
