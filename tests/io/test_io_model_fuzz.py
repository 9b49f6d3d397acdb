"""Fuzzing load_model: damaged bytes and random architecture JSON give a Network or ModelFileError only."""

from __future__ import annotations

import io
import json
import math
import zipfile

import numpy as np
import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from lrp_studio.errors import ModelFileError
from lrp_studio.io import load_model, save_model
from lrp_studio.nn import Network, mlp
from lrp_studio.nn.layers import LAYER_KEYS

FUZZ = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
FEW = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


def _small_cnn() -> Network:
    arch = {
        "input_shape": [2, 9, 9],
        "layers": [
            {"type": "conv2d", "in_channels": 2, "out_channels": 3, "kernel_size": 3, "stride": 1, "padding": 1},
            {"type": "sigmoid"}, {"type": "avgpool2d", "kernel_size": 2, "stride": 2},
            {"type": "conv2d", "in_channels": 3, "out_channels": 2, "kernel_size": 2, "stride": 2, "padding": 0},
            {"type": "maxpool2d", "kernel_size": 2, "stride": 1}, {"type": "flatten"},
            {"type": "dense", "in_features": 2, "out_features": 3},
        ],
        "classes": ["a", "b", "c"], "input_range": [-1.0, 1.0],
    }
    return Network.from_spec(arch, seed=4)


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    """Bytes of two valid saved models (a small MLP and a small CNN) and the fuzz directory."""
    directory = tmp_path_factory.mktemp("fuzz")
    saved = []
    for name, net in (("mlp", mlp([5, 4, 3], seed=2, input_range=(0.0, 1.0))), ("cnn", _small_cnn())):
        path = directory / f"{name}.npz"
        save_model(net, path)
        saved.append(path.read_bytes())
    return directory, saved


def _load_outcome(path):
    """Load and return the Network or the ModelFileError; any other exception fails the test."""
    try:
        net = load_model(path)
    except ModelFileError as error:
        event(str(error)[len(str(path)) + 2:][:30])  # shows with --hypothesis-show-statistics
        message = str(error)
        assert path.name in message and "\n" not in message
        return error
    assert isinstance(net, Network)
    event("NETWORK")
    x = np.zeros((1,) + net.input_shape, np.float32)
    assert net.predict(x).shape == (1, net.n_classes)
    return net


# --------------------------------------------------------------------------------- byte damage
_mutation = st.one_of(
    st.tuples(st.just("flip"), st.floats(0, 1, exclude_max=True), st.integers(1, 255)),
    st.tuples(st.just("truncate"), st.floats(0, 1, exclude_max=True), st.just(0)),
    st.tuples(st.just("splice"), st.floats(0, 1, exclude_max=True), st.binary(min_size=1, max_size=64)),
    st.tuples(st.just("delete"), st.floats(0, 1, exclude_max=True), st.integers(1, 200)),
    st.tuples(st.just("duplicate"), st.floats(0, 1, exclude_max=True), st.integers(1, 300)),
)


def _mutate(data: bytes, mutations) -> bytes:
    buffer = bytearray(data)
    for kind, where, arg in mutations:
        if not buffer:
            break
        at = int(where * len(buffer))
        if kind == "flip":
            buffer[at] ^= arg
        elif kind == "truncate":
            del buffer[at:]
        elif kind == "splice":
            buffer[at:at + len(arg)] = arg
        elif kind == "delete":
            del buffer[at:at + arg]
        else:
            buffer[at:at] = buffer[at:at + arg]
    return bytes(buffer)


@FUZZ
@given(which=st.integers(0, 1), mutations=st.lists(_mutation, min_size=1, max_size=4))
def test_damaged_bytes_give_network_or_model_file_error(models, which, mutations):
    directory, saved = models
    path = directory / "damaged.npz"
    path.write_bytes(_mutate(saved[which], mutations))
    _load_outcome(path)


def _members(data: bytes) -> dict[str, bytes]:
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        return {name: archive.read(name) for name in archive.namelist()}


@FUZZ
@given(which=st.integers(0, 1), member=st.integers(0, 20), mutations=st.lists(_mutation, min_size=1, max_size=3))
def test_damaged_member_with_valid_checksums(models, which, member, mutations):
    """Damage one .npy member and re-zip it, so the zip CRC no longer catches it: headers and values are checked."""
    directory, saved = models
    members = _members(saved[which])
    name = sorted(members)[member % len(members)]
    members[name] = _mutate(members[name], mutations)
    path = directory / "rezipped.npz"
    with zipfile.ZipFile(path, "w") as archive:
        for key, value in members.items():
            archive.writestr(key, value)
    _load_outcome(path)


# -------------------------------------------------------------------------------- JSON fuzzing
json_values = st.recursive(
    st.none() | st.booleans() | st.floats() | st.integers() | st.text(max_size=8),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4),
    max_leaves=12,
)


def _write(path, arch_text: str, params: dict) -> None:
    np.savez(path, architecture=np.array(arch_text), **params)


_CACHE: dict[int, tuple[str, dict]] = {}


def _arch_and_params(models) -> tuple[dict, dict]:
    """A fresh copy of the CNN's architecture object and its parameters."""
    if id(models) not in _CACHE:
        with np.load(io.BytesIO(models[1][1]), allow_pickle=False) as npz:
            text = str(npz["architecture"][()])
            _CACHE[id(models)] = (text, {key: npz[key] for key in npz.files if key != "architecture"})
    text, params = _CACHE[id(models)]
    return json.loads(text), params


@FEW
@given(value=json_values)
def test_random_json_architecture(models, value):
    directory, _ = models
    _, params = _arch_and_params(models)
    path = directory / "random-json.npz"
    _write(path, json.dumps(value), params)
    assert isinstance(_load_outcome(path), ModelFileError)


@settings(FUZZ, max_examples=100)
@given(data=st.data(), value=json_values)
def test_random_json_value_for_a_key(models, data, value):
    """Replace (or add, or delete) one key of the architecture or of one layer entry."""
    directory, _ = models
    arch, params = _arch_and_params(models)
    layer_keys = sorted({k for keys in LAYER_KEYS.values() for k in keys} | {"type", "extra"})
    if data.draw(st.booleans(), label="top level"):
        target = arch
        key = data.draw(st.sampled_from(["format", "version", "input_shape", "layers", "classes", "input_range", "x"]))
    else:
        target = arch["layers"][data.draw(st.integers(0, len(arch["layers"]) - 1), label="layer")]
        key = data.draw(st.sampled_from(layer_keys), label="layer key")
    if data.draw(st.booleans(), label="delete") and key in target:
        del target[key]
    else:
        target[key] = value
    path = directory / "random-key.npz"
    _write(path, json.dumps(arch), params)
    _load_outcome(path)


_small = st.sampled_from([1, 1, 2, 2, 3, 3, 4, 5, 0, -1])
_layer_entry = st.sampled_from(sorted(LAYER_KEYS)).flatmap(
    lambda kind: st.fixed_dictionaries({"type": st.just(kind), **{key: _small for key in LAYER_KEYS[kind]}})
)


def _make_consistent(input_shape: list, layers: list) -> None:
    """Set dense in_features / conv in_channels from the previous output shape (where known)."""
    shape = tuple(input_shape)
    for entry in layers:
        kind = entry["type"]
        try:
            if kind == "dense":
                entry["in_features"] = shape[0] if len(shape) == 1 else entry["in_features"]
                shape = (entry["out_features"],)
            elif kind == "conv2d":
                entry["in_channels"] = shape[0]
                k, s, p = entry["kernel_size"], entry["stride"], entry["padding"]
                shape = (entry["out_channels"],) + tuple((v + 2 * p - k) // s + 1 for v in shape[1:])
            elif kind in ("maxpool2d", "avgpool2d"):
                k, s = entry["kernel_size"], entry["stride"]
                shape = shape[:1] + tuple((v - k) // s + 1 for v in shape[1:])
            elif kind == "flatten":
                shape = (math.prod(shape),)
        except (IndexError, ZeroDivisionError):
            return


@FUZZ
@given(
    input_shape=st.lists(st.integers(1, 7), min_size=1, max_size=3),
    layers=st.lists(_layer_entry, min_size=1, max_size=6),
    consistent=st.booleans(),
    classes=st.none() | st.lists(st.text(max_size=3), min_size=2, max_size=3),
    seed=st.integers(0, 2**16),
)
def test_random_layer_stacks_with_matching_parameters(models, input_shape, layers, consistent, classes, seed):
    """Plausible but random networks, with parameters of the claimed shapes: valid ones must also run."""
    directory, _ = models
    if consistent:  # end in flatten -> dense and chain the shapes: many of these are valid networks
        layers = layers + [{"type": "flatten"}, {"type": "dense", "in_features": 1, "out_features": 2}]
        _make_consistent(input_shape, layers)
    arch = {"format": "lrp-studio-model", "version": 1, "input_shape": input_shape, "layers": layers}
    if classes is not None:
        arch["classes"] = classes
    rng = np.random.default_rng(seed)
    params = {}
    for index, entry in enumerate(layers):
        if entry["type"] == "dense":
            shape = (entry["out_features"], entry["in_features"])
        elif entry["type"] == "conv2d":
            shape = (entry["out_channels"], entry["in_channels"], entry["kernel_size"], entry["kernel_size"])
        else:
            continue
        if min(shape) < 0 or math.prod(shape) > 10_000:
            continue
        params[f"{index}.weight"] = rng.normal(size=shape).astype(np.float32)
        params[f"{index}.bias"] = rng.normal(size=shape[0]).astype(np.float32)
    path = directory / "stack.npz"
    _write(path, json.dumps(arch), params)
    _load_outcome(path)
