"""Network: spec round trip, state_dict contract, input preparation, initialisation, shapes."""

from __future__ import annotations

import json

import numpy as np
import pytest

from lrp_studio.backend import to_numpy
from lrp_studio.errors import DataError, ParameterError
from lrp_studio.nn import layers as L
from lrp_studio.nn.network import Network, lenet, mlp
from lrp_studio.nn.training import fit


def every_layer_type_net(seed=0):
    arch = {
        "format": "lrp-studio-model", "version": 1, "input_shape": [2, 9, 9],
        "layers": [
            {"type": "conv2d", "in_channels": 2, "out_channels": 4, "kernel_size": 3, "stride": 1, "padding": 1},
            {"type": "relu"},
            {"type": "maxpool2d", "kernel_size": 3, "stride": 2},
            {"type": "conv2d", "in_channels": 4, "out_channels": 3, "kernel_size": 3, "stride": 2, "padding": 2},
            {"type": "tanh"},
            {"type": "avgpool2d", "kernel_size": 2, "stride": 1},
            {"type": "flatten"},
            {"type": "dense", "in_features": 12, "out_features": 6},
            {"type": "sigmoid"},
            {"type": "dense", "in_features": 6, "out_features": 3},
        ],
        "classes": ["a", "b", "c"],
        "input_range": [-1.0, 1.0],
    }
    return arch, Network.from_spec(arch, seed=seed)


# ------------------------------------------------------------------ spec


def test_spec_round_trip_with_every_layer_type(backend):
    arch, net = every_layer_type_net()
    assert net.spec() == arch
    assert json.loads(json.dumps(net.spec())) == arch  # plain JSON
    again = Network.from_spec(json.loads(json.dumps(net.spec())), seed=0)
    assert again.spec() == arch
    state, state_again = net.state_dict(), again.state_dict()
    assert state.keys() == state_again.keys()
    for key in state:
        np.testing.assert_array_equal(state[key], state_again[key])  # same seed, same weights
    x = np.random.default_rng(0).standard_normal((2, 2, 9, 9)).astype(np.float32)
    np.testing.assert_array_equal(net.predict(x), again.predict(x))


@pytest.mark.parametrize("make", [
    lambda: mlp([784, 300, 100, 10], input_shape=(1, 28, 28)),
    lambda: mlp([2, 16, 16, 1], activation="tanh"),
    lambda: lenet(),
], ids=["mlp-image", "mlp-2d", "lenet"])
def test_spec_round_trip_of_the_builders(backend, make):
    net = make()
    spec = net.spec()
    assert spec["format"] == "lrp-studio-model" and spec["version"] == 1
    rebuilt = Network.from_spec(spec)
    assert rebuilt.spec() == spec
    assert rebuilt.shapes == net.shapes


def test_from_spec_reports_the_failing_layer():
    arch, _ = every_layer_type_net()
    arch["layers"][7]["in_features"] = 13  # does not match the flatten output (12)
    with pytest.raises(ParameterError, match="layer 7"):
        Network.from_spec(arch)
    arch, _ = every_layer_type_net()
    arch["layers"][3] = {"type": "conv2d", "in_channels": 4}
    with pytest.raises(ParameterError, match="layer 3"):
        Network.from_spec(arch)


def test_network_must_end_flat_and_match_class_names():
    with pytest.raises(ParameterError):
        Network([L.Conv2d(1, 2, 3)], (1, 5, 5))
    with pytest.raises(ParameterError):
        Network([L.Dense(4, 3)], (4,), classes=["a", "b"])
    net = Network([L.Dense(4, 3)], (4,))
    assert net.classes == ["0", "1", "2"] and net.n_classes == 3


def test_lenet_shapes():
    net = lenet()
    assert net.shapes[0] == (1, 28, 28)
    assert net.shapes[1] == (16, 24, 24)
    assert net.shapes[3] == (16, 12, 12)
    assert net.shapes[6] == (32, 4, 4)
    assert net.shapes[7] == (512,)
    assert net.shapes[-1] == (10,)
    assert net.linear_indices == [0, 3, 7, 9]


# ------------------------------------------------------------------ state_dict


def test_state_dict_keys_and_pytorch_shapes():
    net = lenet()
    shapes = {key: value.shape for key, value in net.state_dict().items()}
    assert shapes == {
        "0.weight": (16, 1, 5, 5), "0.bias": (16,),
        "3.weight": (32, 16, 5, 5), "3.bias": (32,),
        "7.weight": (100, 512), "7.bias": (100,),
        "9.weight": (10, 100), "9.bias": (10,),
    }
    assert all(isinstance(v, np.ndarray) and v.dtype == np.float32 for v in net.state_dict().values())
    assert net.n_parameters() == sum(int(np.prod(s)) for s in shapes.values())


def test_state_dict_follows_pytorch_semantics_in_forward(backend):
    """Dense y = x W^T + b with W (out, in); flatten in C order of (C, H, W)."""
    rng = np.random.default_rng(0)
    net = Network([L.Flatten(), L.Dense(12, 5), L.ReLU(), L.Dense(5, 2)], (3, 2, 2))
    net.init_weights(1)
    state = net.state_dict()
    for key in state:
        state[key] = rng.standard_normal(state[key].shape).astype(np.float32)
    net.load_state_dict(state)
    x = rng.standard_normal((4, 3, 2, 2)).astype(np.float32)
    flat = x.reshape(4, 12)
    hidden = np.maximum(flat @ state["1.weight"].T + state["1.bias"], 0)
    expected = hidden @ state["3.weight"].T + state["3.bias"]
    np.testing.assert_allclose(net.predict(x), expected, rtol=1e-5, atol=1e-5)


def test_load_state_dict_rejects_missing_extra_and_misshapen(backend):
    net = mlp([4, 3, 2])
    good = net.state_dict()
    missing = dict(good)
    del missing["2.bias"]
    extra = dict(good, **{"5.weight": np.zeros((2, 2), np.float32)})
    renamed = {key.replace("weight", "kernel"): value for key, value in good.items()}
    wrong_shape = dict(good, **{"0.weight": np.zeros((4, 3), np.float32)})  # transposed
    wrong_bias = dict(good, **{"2.bias": np.zeros((2, 1), np.float32)})
    before = net.state_dict()
    for state in (missing, extra, renamed, wrong_shape, wrong_bias):
        with pytest.raises(ParameterError):
            net.load_state_dict(state)
    after = net.state_dict()
    for key in before:  # a rejected state changes nothing
        np.testing.assert_array_equal(after[key], before[key])


def test_load_state_dict_copies_and_converts(backend):
    source = mlp([4, 3, 2], seed=1)
    target = mlp([4, 3, 2], seed=2)
    state = {key: value.astype(np.float64) for key, value in source.state_dict().items()}
    target.load_state_dict(state)
    for _, value in target.iter_params():
        assert value.dtype == np.float32
    x = np.random.default_rng(0).standard_normal((5, 4)).astype(np.float32)
    np.testing.assert_allclose(target.predict(x), source.predict(x), rtol=1e-6)


def test_state_dicts_do_not_alias_live_parameters(backend):
    """Training one network must not change another one loaded from it, nor an earlier state_dict."""
    source = mlp([2, 4, 2], seed=0)
    saved = source.state_dict()
    frozen = {key: value.copy() for key, value in saved.items()}
    clone = mlp([2, 4, 2], seed=5)
    clone.load_state_dict(saved)
    x = np.random.default_rng(0).standard_normal((40, 2)).astype(np.float32)
    fit(clone, x, (x[:, 0] > 0).astype(int), epochs=2, batch_size=8, lr=0.5)
    fit(source, x, (x[:, 1] > 0).astype(int), epochs=2, batch_size=8, lr=0.5)
    for key in frozen:
        np.testing.assert_array_equal(saved[key], frozen[key])
    assert any(not np.array_equal(a, b) for a, b in zip(source.state_dict().values(), clone.state_dict().values()))


def test_copy_is_independent(backend):
    net = mlp([2, 4, 2], seed=0)
    twin = net.copy()
    x = np.random.default_rng(1).standard_normal((30, 2)).astype(np.float32)
    before = net.state_dict()
    fit(twin, x, (x[:, 0] > 0).astype(int), epochs=1, batch_size=10, lr=0.5)
    for key, value in net.state_dict().items():
        np.testing.assert_array_equal(value, before[key])


# ------------------------------------------------------------------ prepare_input


def test_prepare_input_shapes(backend):
    net = mlp([784, 10, 10], input_shape=(1, 28, 28))
    rng = np.random.default_rng(0)
    flat = rng.uniform(0, 1, (3, 784))
    prepared = net.prepare_input(flat)
    assert prepared.shape == (3, 1, 28, 28) and prepared.dtype == np.float32
    np.testing.assert_allclose(to_numpy(prepared).reshape(3, 784), flat, rtol=1e-6)
    assert net.prepare_input(rng.uniform(0, 1, (3, 28, 28))).shape == (3, 1, 28, 28)
    assert net.prepare_input(rng.uniform(0, 1, (1, 28, 28))).shape == (1, 1, 28, 28)  # one sample, no batch axis
    assert net.prepare_input(rng.uniform(0, 1, 784)).shape == (1, 1, 28, 28)
    assert net.prepare_input(np.zeros((2, 784), np.uint8)).dtype == np.float32
    assert net.prepare_input(np.zeros((0, 784), np.float32)).shape == (0, 1, 28, 28)


def test_prepare_input_accepts_lists(backend):
    net = mlp([2, 3, 2])
    prepared = net.prepare_input([[0.5, -1.0], [2.0, 3.0]])
    assert prepared.shape == (2, 2)
    np.testing.assert_array_equal(to_numpy(prepared), [[0.5, -1.0], [2.0, 3.0]])
    assert net.prepare_input([1.0, 2.0]).shape == (1, 2)


@pytest.mark.parametrize("bad", [
    np.zeros((3, 783)), np.zeros((3, 785)), np.zeros((3, 2, 28, 28)), np.zeros(10), np.zeros((28, 29)),
], ids=["783", "785", "two-channels", "10", "28x29"])
def test_prepare_input_rejects_wrong_sizes(backend, bad):
    net = mlp([784, 10, 10], input_shape=(1, 28, 28))
    with pytest.raises(DataError):
        net.prepare_input(bad)


def test_prepare_input_takes_one_image_without_batch_or_channel_axis(backend):
    net = mlp([784, 10, 10], input_shape=(1, 28, 28))
    image = np.arange(784, dtype=np.float32).reshape(28, 28)
    prepared = to_numpy(net.prepare_input(image))
    assert prepared.shape == (1, 1, 28, 28)
    np.testing.assert_array_equal(prepared[0, 0], image)


@pytest.mark.parametrize("value", [np.nan, np.inf, -np.inf])
def test_prepare_input_rejects_non_finite(backend, value):
    net = mlp([784, 10, 10], input_shape=(1, 28, 28))
    x = np.zeros((2, 784), np.float32)
    x[1, 300] = value
    with pytest.raises(DataError):
        net.prepare_input(x)
    with pytest.raises(DataError):
        net.predict(x)


# ------------------------------------------------------------------ forward, trace, predict


def test_trace_keeps_every_layer_input_and_matches_forward(backend):
    _, net = every_layer_type_net()
    x = net.prepare_input(np.random.default_rng(0).standard_normal((3, 2, 9, 9)))
    trace = net.trace(x)
    assert len(trace.inputs) == len(net.layers) + 1 and len(trace.caches) == len(net.layers)
    for i, shape in enumerate(net.shapes):
        assert trace.inputs[i].shape == (3,) + shape
    np.testing.assert_array_equal(to_numpy(trace.output), to_numpy(net.forward(x)))


def test_predict_in_batches_equals_one_batch(backend):
    net = mlp([5, 7, 3], seed=0)
    x = np.random.default_rng(0).standard_normal((10, 5)).astype(np.float32)
    whole = net.predict(x)
    assert isinstance(whole, np.ndarray) and whole.shape == (10, 3)
    np.testing.assert_allclose(net.predict(x, batch_size=3), whole, rtol=1e-6, atol=1e-7)


# ------------------------------------------------------------------ initialisation and sizes


def test_he_init_std_is_sqrt_2_over_fan_in():
    net = mlp([1000, 500, 10], activation="relu", seed=0)
    weight = net.state_dict()["0.weight"]
    assert weight.std() == pytest.approx(np.sqrt(2 / 1000), rel=0.02)
    assert abs(weight.mean()) < 0.1 * np.sqrt(2 / 1000)
    assert np.all(net.state_dict()["0.bias"] == 0)
    last = net.state_dict()["2.weight"]  # the output layer: followed by nothing -> He as well
    assert last.std() == pytest.approx(np.sqrt(2 / 500), rel=0.1)


def test_he_init_for_conv_uses_channels_times_kernel_area():
    net = Network([L.Conv2d(8, 64, 5), L.ReLU(), L.Flatten(), L.Dense(64 * 4 * 4, 2)], (8, 8, 8))
    net.init_weights(0)
    assert net.state_dict()["0.weight"].std() == pytest.approx(np.sqrt(2 / (8 * 25)), rel=0.03)


@pytest.mark.parametrize("activation", ["sigmoid", "tanh"])
def test_xavier_init_before_sigmoid_and_tanh(activation):
    net = mlp([600, 400, 10], activation=activation, seed=0)
    assert net.state_dict()["0.weight"].std() == pytest.approx(np.sqrt(2 / (600 + 400)), rel=0.02)


def test_init_is_seeded():
    a, b, c = mlp([5, 4, 2], seed=3), mlp([5, 4, 2], seed=3), mlp([5, 4, 2], seed=4)
    np.testing.assert_array_equal(a.state_dict()["0.weight"], b.state_dict()["0.weight"])
    assert not np.array_equal(a.state_dict()["0.weight"], c.state_dict()["0.weight"])


@pytest.mark.parametrize("entry", [
    {"type": "dense", "in_features": 10**9, "out_features": 10**9},
    {"type": "conv2d", "in_channels": 10**6, "out_channels": 10**6, "kernel_size": 3, "stride": 1, "padding": 0},
])
def test_absurd_sizes_in_a_spec_raise_parameter_error(entry):
    arch = {"input_shape": [10**9], "layers": [entry]}
    with pytest.raises(ParameterError):
        Network.from_spec(arch)
