"""Graph networks: wiring, forward against a hand-composed twin, backward against finite
differences (gradients accumulate where a stage has several readers), forward_to/forward_from,
structure checks, names and state_dict keys, spec round trip, training."""

from __future__ import annotations

import json

import numpy as np
import pytest

from lrp_studio.backend import to_numpy
from lrp_studio.errors import ParameterError
from lrp_studio.nn import layers as L
from lrp_studio.nn.losses import get_loss
from lrp_studio.nn.network import Network
from lrp_studio.nn.training import fit

from finite_differences import numerical_grad


def residual_branching_net(dtype=np.float64, seed=0):
    """input (2, 5, 5) -> conv -> relu -> conv -> add(., input) -> relu -> [conv3x3 | conv1x1] -> concat -> gap -> dense.

    Stage 0 is read by layers 0 and 3 (a skip), stage 5 by layers 5 and 6 (a branch).
    """
    layers = [
        L.Conv2d(2, 3, 3, 1, 1), L.ReLU(), L.Conv2d(3, 2, 3, 1, 1), L.Add(), L.ReLU(),
        L.Conv2d(2, 2, 3, 1, 1), L.Conv2d(2, 3, 1, 1, 0), L.Concat(), L.GlobalAvgPool(), L.Dense(5, 3),
    ]
    inputs = [(0,), (1,), (2,), (3, 0), (4,), (5,), (5,), (6, 7), (8,), (9,)]
    names = ["conv1", "relu1", "conv2", "add", "relu2", "left", "right", "cat", "gap", "fc"]
    net = Network(layers, (2, 5, 5), inputs=inputs, names=names)
    rng = np.random.default_rng(seed)
    for layer in net.layers:
        for key, value in layer.params.items():
            layer.params[key] = (rng.standard_normal(value.shape) * 0.6).astype(dtype)
    return net


def hand_composed(net, x):
    """The same function written out call by call (the twin of the graph wiring)."""
    f = [layer.forward for layer in net.layers]
    h = f[1](f[0](x)[0])[0]
    r = f[4](f[3]([f[2](h)[0], x])[0])[0]
    cat = f[7]([f[5](r)[0], f[6](r)[0]])[0]
    return f[9](f[8](cat)[0])[0]


def test_structure_attributes():
    net = residual_branching_net()
    assert not net.is_sequential
    assert net.node_inputs[3] == (3, 0)
    assert net.consumers(0) == [0, 3] and net.consumers(5) == [5, 6] and net.consumers(10) == []
    assert net.shapes[0] == (2, 5, 5) and net.shapes[6] == (2, 5, 5) and net.shapes[7] == (3, 5, 5)
    assert net.shapes[8] == (5, 5, 5) and net.shapes[-1] == (3,)
    assert net.input_shapes(7) == [(2, 5, 5), (3, 5, 5)]
    sequential = Network([L.Dense(2, 3), L.ReLU(), L.Dense(3, 1)], (2,))
    assert sequential.is_sequential and sequential.node_inputs == [(0,), (1,), (2,)]
    assert sequential.names == ["0", "1", "2"] and sequential.consumers(1) == [1]


def test_forward_equals_the_hand_composed_twin(backend):
    net = residual_branching_net()
    x = np.random.default_rng(1).standard_normal((3, 2, 5, 5))
    np.testing.assert_allclose(to_numpy(net.forward(backend.asarray(x))), to_numpy(hand_composed(net, x)), rtol=1e-12)
    trace = net.trace(backend.asarray(x))
    np.testing.assert_allclose(to_numpy(trace.output), to_numpy(hand_composed(net, x)), rtol=1e-12)
    assert len(trace.stages) == 11 and trace.stages is trace.inputs
    assert [a.shape for a in trace.layer_inputs(3)] == [(3, 2, 5, 5), (3, 2, 5, 5)]
    assert trace.layer_inputs(3)[1] is trace.inputs[0]
    assert trace.layer_input(6) is trace.inputs[5]
    with pytest.raises(ParameterError, match="layer_inputs"):
        trace.layer_input(7)


def test_backward_matches_finite_differences_for_input_and_every_parameter():
    net = residual_branching_net()
    rng = np.random.default_rng(2)
    x = rng.standard_normal((2, 2, 5, 5))
    r = rng.standard_normal((2, 3))
    grad_x, grads = net.backward(r, net.trace(x))

    def scalar():
        return float((net.forward(x) * r).sum())

    np.testing.assert_allclose(grad_x, numerical_grad(scalar, x), rtol=1e-5, atol=1e-8)
    for j, layer in enumerate(net.layers):
        assert set(grads[j]) == set(layer.params)
        for name, param in layer.params.items():
            np.testing.assert_allclose(grads[j][name], numerical_grad(scalar, param), rtol=1e-5, atol=1e-8,
                                       err_msg=f"{net.names[j]}.{name}")


def test_training_backward_skips_only_what_reaches_no_parameter():
    net = residual_branching_net()
    rng = np.random.default_rng(3)
    x = rng.standard_normal((2, 2, 5, 5))
    r = rng.standard_normal((2, 3))
    full_x, full = net.backward(r, net.trace(x))
    none_x, part = net.backward(r, net.trace(x), input_grad=False)
    assert none_x is None
    for a, b in zip(full, part):
        assert a.keys() == b.keys()
        for key in a:
            np.testing.assert_allclose(a[key], b[key], rtol=1e-12)


def test_forward_to_every_stage_equals_the_trace(backend):
    net = residual_branching_net()
    x = backend.asarray(np.random.default_rng(4).standard_normal((2, 2, 5, 5)))
    trace = net.trace(x)
    for stage in range(len(net.layers) + 1):
        np.testing.assert_allclose(to_numpy(net.forward_to(x, stage)), to_numpy(trace.inputs[stage]), rtol=1e-12)
    assert net.ancestors(7) == [0, 1, 2, 3, 4, 6]


def test_forward_from_uses_the_trace_for_skips_around_the_stage(backend):
    net = residual_branching_net()
    x = np.random.default_rng(5).standard_normal((2, 2, 5, 5))
    trace = net.trace(backend.asarray(x))
    for stage in range(len(net.layers) + 1):
        np.testing.assert_allclose(to_numpy(net.forward_from(trace.inputs[stage], stage, trace)),
                                   to_numpy(trace.output), rtol=1e-12)
    # a changed activation of stage 3 (conv2's output) goes through the add together with the
    # *traced* input: the twin replaces conv2's output and keeps x
    changed = to_numpy(trace.inputs[3]) * 0.5 + 0.1
    f = [layer.forward for layer in net.layers]
    r = f[4](f[3]([changed, x])[0])[0]
    twin = f[9](f[8](f[7]([f[5](r)[0], f[6](r)[0]])[0])[0])[0]
    np.testing.assert_allclose(to_numpy(net.forward_from(backend.asarray(changed), 3, trace)), twin, rtol=1e-12)
    assert net.skip_stages(3) == [0] and net.skip_stages(6) == [5] and net.skip_stages(4) == []
    with pytest.raises(ParameterError, match=r"stage\(s\) \[0\].*trace="):
        net.forward_from(trace.inputs[2], 2)
    with pytest.raises(ParameterError, match=r"stage\(s\) \[5\]"):
        net.forward_from(trace.inputs[6], 6)
    np.testing.assert_allclose(to_numpy(net.forward_from(trace.inputs[4], 4)), to_numpy(trace.output), rtol=1e-12)


@pytest.mark.parametrize("inputs,message", [
    ([(0,), (2,)], r"only stages 0\.\.1"),
    ([(0,), (0, 1)], "exactly one input"),
    ([(0,), ()], "exactly one input"),
    ([(0,), (-1,)], r"only stages 0\.\.1"),
    ([(0,)], "1 input lists given for 2 layers"),
])
def test_bad_inputs_are_refused(inputs, message):
    with pytest.raises(ParameterError, match=message):
        Network([L.Dense(2, 2), L.Dense(2, 2)], (2,), inputs=inputs)


def test_merge_layers_need_two_inputs_and_matching_shapes():
    with pytest.raises(ParameterError, match="at least 2 inputs"):
        Network([L.Dense(2, 2), L.Add()], (2,), inputs=[(0,), (1,)])
    with pytest.raises(ParameterError, match=r"layer 1: add needs inputs of equal shape"):
        Network([L.Dense(2, 3), L.Add()], (2,), inputs=[(0,), (1, 0)])
    with pytest.raises(ParameterError, match=r"layer 1 \('sum'\)"):
        Network([L.Dense(2, 3), L.Add()], (2,), inputs=[(0,), (1, 0)], names=["fc", "sum"])


def test_dead_nodes_are_refused_by_name():
    # fc_a's output (stage 1) is read by nobody: the graph has a dangling branch
    with pytest.raises(ParameterError, match=r"'fc_a' is read by no layer"):
        Network([L.Dense(2, 2), L.Dense(2, 2)], (2,), inputs=[(0,), (0,)], names=["fc_a", "fc_b"])
    with pytest.raises(ParameterError, match=r"the output of '1' is read by no layer"):
        Network([L.Flatten(), L.Dense(2, 2), L.Dense(2, 2)], (2,), inputs=[(0,), (1,), (1,)])


def test_names_are_checked_and_key_the_state_dict():
    net = residual_branching_net()
    keys = list(net.state_dict())
    assert keys[:4] == ["conv1.weight", "conv1.bias", "conv2.weight", "conv2.bias"] and "fc.weight" in keys
    assert [k for k, _ in net.iter_params()] == keys
    for bad, message in [(["a", "a"], "used twice"), (["input", "b"], "names the network input"),
                         (["", "b"], "non-empty string"), (["a"], "1 names given for 2 layers")]:
        with pytest.raises(ParameterError, match=message):
            Network([L.Dense(2, 2), L.Dense(2, 2)], (2,), names=bad)
    assert list(Network([L.Dense(2, 2), L.ReLU(), L.Dense(2, 2)], (2,)).state_dict()) == [
        "0.weight", "0.bias", "2.weight", "2.bias"]


def test_state_dict_round_trip_into_a_fresh_graph():
    net = residual_branching_net(dtype=np.float32)
    other = residual_branching_net(dtype=np.float32, seed=9)
    other.load_state_dict(net.state_dict())
    x = np.random.default_rng(6).standard_normal((2, 2, 5, 5)).astype(np.float32)
    np.testing.assert_array_equal(other.predict(x), net.predict(x))


def test_spec_round_trip_of_a_graph_is_version_2_with_names_and_inputs():
    net = residual_branching_net(dtype=np.float32)
    spec = json.loads(json.dumps(net.spec()))
    assert spec["version"] == 2
    assert spec["layers"][3] == {"type": "add", "name": "add", "inputs": ["conv2", "input"]}
    assert spec["layers"][7]["inputs"] == ["left", "right"] and spec["layers"][0]["inputs"] == ["input"]
    again = Network.from_spec(spec, seed=None)
    assert again.node_inputs == net.node_inputs and again.names == net.names and again.spec() == spec
    # an entry without "inputs" reads the previous node
    for entry in spec["layers"]:
        if entry["type"] in ("relu", "globalavgpool"):
            del entry["inputs"]
    assert Network.from_spec(spec).node_inputs == net.node_inputs


def test_spec_of_a_sequential_net_stays_version_1_without_names():
    net = Network([L.Dense(2, 3), L.ReLU(), L.Dense(3, 2)], (2,))
    spec = net.spec()
    assert spec["version"] == 1 and all(set(e) <= {"type", "in_features", "out_features"} for e in spec["layers"])
    named = Network([L.Dense(2, 3), L.ReLU(), L.Dense(3, 2)], (2,), names=["a", "b", "c"])
    assert named.spec()["version"] == 2 and named.spec()["layers"][2]["inputs"] == ["b"]


@pytest.mark.parametrize("layers,message", [
    ([{"type": "dense", "in_features": 2, "out_features": 2, "name": "a", "inputs": ["b"]},
      {"type": "dense", "in_features": 2, "out_features": 2, "name": "b"}], "reads 'b', which is not an earlier node"),
    ([{"type": "dense", "in_features": 2, "out_features": 2, "inputs": "input"}], "non-empty list of node names"),
    ([{"type": "dense", "in_features": 2, "out_features": 2, "inputs": []}], "non-empty list of node names"),
    ([{"type": "dense", "in_features": 2, "out_features": 2, "name": 3}], "non-empty string"),
])
def test_from_spec_refuses_bad_references(layers, message):
    with pytest.raises(ParameterError, match=message):
        Network.from_spec({"input_shape": [2], "layers": layers})


def test_init_weights_follows_the_graph():
    net = residual_branching_net(dtype=np.float32)
    net.init_weights(0)
    std = float(np.std(to_numpy(net.layers[0].params["weight"])))
    assert abs(std - np.sqrt(2 / 18)) < 0.15 * np.sqrt(2 / 18) * 3  # He init, fan_in 2*3*3
    assert not to_numpy(net.layers[9].params["bias"]).any()


def test_a_residual_graph_trains_with_fit():
    """A residual MLP on a 2-D toy problem: the loss falls and the fit is good."""
    rng = np.random.default_rng(7)
    x = rng.uniform(-1, 1, (512, 2)).astype(np.float32)
    y = (x[:, 0] * x[:, 1] > 0).astype(np.int64)  # XOR quadrants
    layers = [L.Dense(2, 16), L.ReLU(), L.Dense(16, 16), L.ReLU(), L.Add(), L.Dense(16, 2)]
    net = Network(layers, (2,), inputs=[(0,), (1,), (2,), (3,), (4, 2), (5,)])
    net.init_weights(0)
    before = get_loss("cross-entropy")(net.forward(net.prepare_input(x)), y)[0]
    history = fit(net, x, y, epochs=30, batch_size=32, lr=0.01, optimizer="adam")
    assert history["loss"][-1] < 0.5 * before
    assert history["accuracy"][-1] > 0.9
    assert not net.training
