"""Residual blocks in the architecture vocabulary (nn/builders.py): tokens, wiring, shapes, errors.

The wiring twin: a built block's output equals the textbook formula
``relu(bn2(conv2(relu(bn1(conv1(x))))) + shortcut(x))`` evaluated with the network's own layer
objects called one by one (the layer maths has its own finite-difference and loop twins in
tests/nn; this checks that the graph reads the right stages).
"""

from __future__ import annotations

import numpy as np
import pytest

from lrp_studio.errors import ParameterError
from lrp_studio.nn.builders import RESNET_SPEC, architecture_layers, parse_layer_tokens, residual_block
from lrp_studio.zoo import build_architecture

RNG = np.random.default_rng(12)


def randomise(net):
    """Non-trivial weights, biases and BatchNorm statistics (eval mode uses the running ones)."""
    for layer in net.layers:
        for key, value in layer.params.items():
            layer.params[key] = RNG.normal(0.5 if key == "weight" and layer.type_name == "batchnorm" else 0.0,
                                           0.3, size=value.shape).astype(np.float32)
        for key, value in getattr(layer, "buffers", {}).items():
            layer.buffers[key] = (RNG.uniform(0.5, 2.0, size=value.shape) if key == "running_var"
                                  else RNG.normal(0, 0.3, size=value.shape)).astype(np.float32)
    return net


def run(net, name, x):
    """Apply the node called ``name`` of ``net`` to ``x`` (one array)."""
    y, _ = net.layers[net.names.index(name)].forward(x)
    return y


def block_by_formula(net, prefix, x, projection):
    """relu(bn2(conv2(relu(bn1(conv1(x))))) + shortcut(x)), node by node."""
    h = run(net, f"{prefix}.relu1", run(net, f"{prefix}.bn1", run(net, f"{prefix}.conv1", x)))
    main = run(net, f"{prefix}.bn2", run(net, f"{prefix}.conv2", h))
    skip = run(net, f"{prefix}.shortcut_bn", run(net, f"{prefix}.shortcut", x)) if projection else x
    return np.maximum(main + skip, 0.0)


def test_res_tokens_parse_with_channels_and_stride():
    assert parse_layer_tokens("res:16, res:32:s2, RES:8:3, gap, globalavgpool") == [
        {"type": "res", "out_channels": 16, "stride": 1}, {"type": "res", "out_channels": 32, "stride": 2},
        {"type": "res", "out_channels": 8, "stride": 3}, {"type": "globalavgpool"}, {"type": "globalavgpool"},
    ]


def test_identity_block_reads_its_input_and_adds_it():
    entries, shape = residual_block((4, 6, 6), 4, 1, prefix="b", source="stem")
    assert shape == (4, 6, 6)
    assert [e["name"] for e in entries] == ["b.conv1", "b.bn1", "b.relu1", "b.conv2", "b.bn2", "b.add", "b.relu2"]
    assert [e["type"] for e in entries] == ["conv2d", "batchnorm", "relu", "conv2d", "batchnorm", "add", "relu"]
    assert entries[5]["inputs"] == ["b.bn2", "stem"]
    assert all("inputs" not in e for i, e in enumerate(entries) if i != 5)  # the others read the previous node
    assert entries[0] == {"type": "conv2d", "in_channels": 4, "out_channels": 4, "kernel_size": 3, "stride": 1,
                          "padding": 1, "name": "b.conv1"}


@pytest.mark.parametrize("channels, stride, side, out_side", [(8, 2, 7, 4), (8, 2, 8, 4), (6, 1, 5, 5), (8, 3, 7, 3)])
def test_projection_block_when_channels_or_stride_change(channels, stride, side, out_side):
    entries, shape = residual_block((4, side, side), channels, stride, prefix="b", source="input")
    assert shape == (channels, out_side, out_side)
    names = [e["name"] for e in entries]
    assert names[5:] == ["b.shortcut", "b.shortcut_bn", "b.add", "b.relu2"]
    shortcut = entries[5]
    assert shortcut["inputs"] == ["input"]
    assert (shortcut["kernel_size"], shortcut["stride"], shortcut["padding"]) == (1, stride, 0)
    assert entries[7]["inputs"] == ["b.bn2", "b.shortcut_bn"]
    assert entries[0]["stride"] == stride and entries[3]["stride"] == 1


def test_the_resnet_spec_builds_a_graph_whose_blocks_follow_the_formula():
    net = randomise(build_architecture(RESNET_SPEC, (1, 12, 12), seed=3))
    assert not net.is_sequential
    kinds = [layer.type_name for layer in net.layers]
    assert kinds.count("add") == 2 and kinds.count("batchnorm") == 6 and kinds[-2:] == ["globalavgpool", "dense"]
    assert net.shapes[-1] == (10,)
    x = RNG.random((3, 1, 12, 12), dtype=np.float32)
    stem = run(net, "3", run(net, "2", run(net, "1", run(net, "0", x))))
    block1 = block_by_formula(net, "block1", stem, projection=False)
    block2 = block_by_formula(net, "block2", block1, projection=True)
    assert block2.shape == (3, 32, 3, 3)
    logits = run(net, net.names[-1], block2.mean(axis=(2, 3)))
    np.testing.assert_allclose(np.asarray(net.forward(net.prepare_input(x))), logits, rtol=1e-5, atol=1e-5)


def test_a_block_first_reads_the_network_input_and_blocks_chain():
    layers = architecture_layers("res:2,res:3:s2,res:3,gap,dense:4", (2, 5, 5), 4)
    by_name = {e["name"]: e for e in layers}
    assert by_name["block1.add"]["inputs"] == ["block1.bn2", "input"]
    assert by_name["block2.shortcut"]["inputs"] == ["block1.relu2"]
    assert by_name["block3.add"]["inputs"] == ["block3.bn2", "block2.relu2"]
    net = randomise(build_architecture("res:2,res:3:s2,res:3,gap,dense:4", (2, 5, 5), seed=1))
    x = RNG.random((2, 2, 5, 5), dtype=np.float32)
    h = block_by_formula(net, "block1", x, projection=False)
    h = block_by_formula(net, "block2", h, projection=True)
    h = block_by_formula(net, "block3", h, projection=False)
    expected = run(net, net.names[-1], h.mean(axis=(2, 3)))
    np.testing.assert_allclose(np.asarray(net.forward(net.prepare_input(x))), expected, rtol=1e-5, atol=1e-5)


def test_layer_lists_without_blocks_stay_sequential_and_unnamed():
    layers = architecture_layers("conv:4:3,bn,relu,maxpool:2,dense:5", (1, 8, 8), 5)
    assert all("name" not in e and "inputs" not in e for e in layers)
    assert layers[1] == {"type": "batchnorm", "eps": 1e-5, "num_features": 4}
    assert build_architecture("conv:4:3,bn,relu,maxpool:2,dense:5", (1, 8, 8)).is_sequential


def test_resnet_shortcut_name_is_the_bundled_architecture():
    assert architecture_layers("resnet", (1, 28, 28), 10) == architecture_layers(RESNET_SPEC, (1, 28, 28), 10)
    three = architecture_layers("resnet", (3, 16, 16), 5)
    assert three[0]["in_channels"] == 3 and three[-1]["out_features"] == 5


@pytest.mark.parametrize("spec, shape, message", [
    ("dense:4,res:4", (1, 6, 6), "needs .C, H, W. image inputs"),
    ("res:0", (1, 6, 6), "channels must be an integer >= 1"),
    ("res:4:s0", (1, 6, 6), "stride must be an integer >= 1"),
    ("res:4:x2", (1, 6, 6), "cannot read the numbers in 'res:4:x2'"),
    ("res", (1, 6, 6), "cannot read layer 'res'"),
    ("res:4:1:1", (1, 6, 6), "cannot read layer 'res:4:1:1'"),
    ("resnet", (784,), "'resnet' needs .C, H, W. image inputs"),
])
def test_bad_residual_specs_are_refused_with_the_token(spec, shape, message):
    with pytest.raises(ParameterError, match=message):
        build_architecture(spec, shape)


def test_a_residual_network_trains(tmp_path):
    """A small residual net with BatchNorm learns a separable task (loss falls, BN statistics move)."""
    from lrp_studio.nn import fit

    x = RNG.random((96, 1, 6, 6), dtype=np.float32)
    y = (x[:, 0, :3].mean(axis=(1, 2)) > x[:, 0, 3:].mean(axis=(1, 2))).astype(np.int64)
    net = build_architecture("conv:4:3:1:1,bn,relu,res:4,res:6:s2,gap,dense:2", (1, 6, 6), seed=0)
    before = net.state_dict()["block1.bn1.running_mean"].copy()
    history = fit(net, x, y, epochs=12, batch_size=16, lr=0.05, optimizer="momentum")
    assert history["loss"][-1] < 0.6 * history["loss"][0]
    assert not np.allclose(net.state_dict()["block1.bn1.running_mean"], before)
    assert net.training is False
