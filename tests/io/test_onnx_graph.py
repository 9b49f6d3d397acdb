"""ONNX graphs with branches and merges (issue 12), built with ``onnx.helper``: residual blocks with
identity and strided 1x1 projection shortcuts, Concat, Sum, BatchNormalization merged or kept,
GlobalAveragePool with Flatten/Reshape/Squeeze after it. Each imported network is compared with a
NumPy evaluation of the same ONNX graph (BatchNorm unmerged), and its structure (which stage each
layer reads, node names) is checked; unsupported merges fail with the node named."""

from __future__ import annotations

import numpy as np
import pytest

onnx = pytest.importorskip("onnx")
from numpy.lib.stride_tricks import sliding_window_view  # noqa: E402
from onnx import TensorProto, helper, numpy_helper  # noqa: E402

from lrp_studio.errors import ModelFileError, ParameterError  # noqa: E402
from lrp_studio.io import import_model, load_model, save_model  # noqa: E402
from lrp_studio.io.importing import import_model_with_notes  # noqa: E402
from lrp_studio.lrp import explain  # noqa: E402

RNG = np.random.default_rng(12)


# ------------------------------------------------------------------------------- building graphs
def randn(*shape: int, scale: float = 0.5) -> np.ndarray:
    return (RNG.normal(size=shape) * scale).astype(np.float32)


def bn_params(prefix: str, channels: int) -> dict[str, np.ndarray]:
    """Random BatchNorm parameters named like PyTorch's exporter names them."""
    return {f"{prefix}.weight": RNG.uniform(0.5, 1.5, channels).astype(np.float32),
            f"{prefix}.bias": randn(channels, scale=0.3),
            f"{prefix}.running_mean": randn(channels, scale=0.3),
            f"{prefix}.running_var": RNG.uniform(0.5, 2.0, channels).astype(np.float32)}


def bn_node(prefix: str, src: str, dst: str, **attrs) -> object:
    return helper.make_node("BatchNormalization", [src] + [f"{prefix}.{k}" for k in
                            ("weight", "bias", "running_mean", "running_var")], [dst], name=f"/{prefix}/BN", **attrs)


def build(nodes, weights: dict, input_dims, output="y", check=True):
    """A model from nodes and initializers; the input 'x' has the dynamic batch 'N'."""
    graph = helper.make_graph(
        nodes, "graph",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", *input_dims])],
        [helper.make_tensor_value_info(output, TensorProto.FLOAT, ["N", None])],
        initializer=[numpy_helper.from_array(np.asarray(v), name=k) for k, v in weights.items()],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    if check:
        onnx.checker.check_model(model, full_check=True)
    return model


def save(model, tmp_path, name="model.onnx"):
    path = tmp_path / name
    onnx.save(model, str(path))
    return path


def logits(net, x: np.ndarray) -> np.ndarray:
    return np.asarray(net.forward(net.prepare_input(x)), np.float64)


# ------------------------------------------------------------------------------- NumPy references
def conv_ref(x, w, b=None, stride=1, pad=0):
    x = np.pad(np.asarray(x, np.float64), ((0, 0), (0, 0), (pad, pad), (pad, pad)))
    win = sliding_window_view(x, w.shape[2:], axis=(2, 3))[:, :, ::stride, ::stride]
    out = np.einsum("nchwij,ocij->nohw", win, w.astype(np.float64))
    return out if b is None else out + b[None, :, None, None]


def bn_ref(x, weights, prefix, eps=1e-5):
    shape = (1, -1) + (1,) * (x.ndim - 2)
    p = {k: weights[f"{prefix}.{k}"].astype(np.float64).reshape(shape)
         for k in ("weight", "bias", "running_mean", "running_var")}
    return (x - p["running_mean"]) / np.sqrt(p["running_var"] + eps) * p["weight"] + p["bias"]


def relu(x):
    return np.maximum(x, 0)


def assert_close(ours, reference):
    reference = np.asarray(reference, np.float64)
    np.testing.assert_allclose(ours, reference, rtol=1e-5, atol=1e-5 * max(1.0, np.abs(reference).max()))


# ------------------------------------------------------------------------------- a residual network
def resnet_graph():
    """stem conv+BN+relu (3->4); block 4->4 (identity shortcut); block 4->6 (stride 2, 1x1 projection + BN);
    GlobalAveragePool; Flatten; Gemm 6->5. Input (3, 8, 8). Names as PyTorch's exporter writes them."""
    w = {"stem.weight": randn(4, 3, 3, 3), "stem.bias": randn(4), **bn_params("stem_bn", 4),
         "b1.conv1.weight": randn(4, 4, 3, 3), **bn_params("b1.bn1", 4),
         "b1.conv2.weight": randn(4, 4, 3, 3), **bn_params("b1.bn2", 4),
         "b2.conv1.weight": randn(6, 4, 3, 3), **bn_params("b2.bn1", 6),
         "b2.conv2.weight": randn(6, 6, 3, 3), **bn_params("b2.bn2", 6),
         "b2.proj.weight": randn(6, 4, 1, 1), **bn_params("b2.proj_bn", 6),
         "fc.weight": randn(5, 6), "fc.bias": randn(5)}
    conv = helper.make_node
    nodes = [
        conv("Conv", ["x", "stem.weight", "stem.bias"], ["s"], name="/stem/Conv", pads=[1, 1, 1, 1]),
        bn_node("stem_bn", "s", "s_bn"), helper.make_node("Relu", ["s_bn"], ["s_r"], name="/stem_relu/Relu"),
        conv("Conv", ["s_r", "b1.conv1.weight"], ["b1c1"], name="/b1/conv1/Conv", pads=[1, 1, 1, 1]),
        bn_node("b1.bn1", "b1c1", "b1n1"), helper.make_node("Relu", ["b1n1"], ["b1r1"], name="/b1/relu1/Relu"),
        conv("Conv", ["b1r1", "b1.conv2.weight"], ["b1c2"], name="/b1/conv2/Conv", pads=[1, 1, 1, 1]),
        bn_node("b1.bn2", "b1c2", "b1n2"),
        helper.make_node("Add", ["b1n2", "s_r"], ["b1sum"], name="/b1/Add"),
        helper.make_node("Relu", ["b1sum"], ["b1out"], name="/b1/relu2/Relu"),
        conv("Conv", ["b1out", "b2.conv1.weight"], ["b2c1"], name="/b2/conv1/Conv", pads=[1, 1, 1, 1],
             strides=[2, 2]),
        bn_node("b2.bn1", "b2c1", "b2n1"), helper.make_node("Relu", ["b2n1"], ["b2r1"], name="/b2/relu1/Relu"),
        conv("Conv", ["b2r1", "b2.conv2.weight"], ["b2c2"], name="/b2/conv2/Conv", pads=[1, 1, 1, 1]),
        bn_node("b2.bn2", "b2c2", "b2n2"),
        conv("Conv", ["b1out", "b2.proj.weight"], ["b2p"], name="/b2/proj/Conv", strides=[2, 2]),
        bn_node("b2.proj_bn", "b2p", "b2pn"),
        helper.make_node("Add", ["b2n2", "b2pn"], ["b2sum"], name="/b2/Add"),
        helper.make_node("Relu", ["b2sum"], ["b2out"], name="/b2/relu2/Relu"),
        helper.make_node("GlobalAveragePool", ["b2out"], ["gap"], name="/pool/GlobalAveragePool"),
        helper.make_node("Flatten", ["gap"], ["flat"], name="/flatten/Flatten", axis=1),
        helper.make_node("Gemm", ["flat", "fc.weight", "fc.bias"], ["y"], name="/fc/Gemm", transB=1),
    ]
    return build(nodes, w, [3, 8, 8]), w


def resnet_reference(x, w):
    s = relu(bn_ref(conv_ref(x, w["stem.weight"], w["stem.bias"], pad=1), w, "stem_bn"))
    h = relu(bn_ref(conv_ref(s, w["b1.conv1.weight"], pad=1), w, "b1.bn1"))
    b1 = relu(bn_ref(conv_ref(h, w["b1.conv2.weight"], pad=1), w, "b1.bn2") + s)
    h = relu(bn_ref(conv_ref(b1, w["b2.conv1.weight"], stride=2, pad=1), w, "b2.bn1"))
    main = bn_ref(conv_ref(h, w["b2.conv2.weight"], pad=1), w, "b2.bn2")
    shortcut = bn_ref(conv_ref(b1, w["b2.proj.weight"], stride=2), w, "b2.proj_bn")
    pooled = relu(main + shortcut).mean(axis=(2, 3))
    return pooled @ w["fc.weight"].T.astype(np.float64) + w["fc.bias"]


def test_residual_network_imports_as_a_graph_with_the_unmerged_function(tmp_path):
    model, w = resnet_graph()
    net, notes = import_model_with_notes(save(model, tmp_path))
    kinds = [layer.type_name for layer in net.layers]
    assert kinds == ["conv2d", "relu", "conv2d", "relu", "conv2d", "add", "relu",
                     "conv2d", "relu", "conv2d", "conv2d", "add", "relu", "globalavgpool", "dense"]
    assert not net.is_sequential
    # node names: the PyTorch module of each weight, the ONNX node name otherwise
    assert net.names[:3] == ["stem", "/stem_relu/Relu", "b1.conv1"]
    assert net.names[5] == "/b1/Add" and net.names[10] == "b2.proj" and net.names[-1] == "fc"
    # the identity shortcut: the first Add reads block 1's last conv and the stem's ReLU (stage 2)
    assert net.node_inputs[5] == (5, 2)
    # the projection reads block 1's output (stage 7), as does block 2's first conv; the Add reads both paths
    assert net.node_inputs[7] == (7,) and net.node_inputs[10] == (7,) and net.node_inputs[11] == (10, 11)
    assert net.layers[10].kernel_size == 1 and net.layers[10].stride == 2 and net.layers[7].stride == 2
    assert sum("merged" in note for note in notes) == 6
    x = randn(5, 3, 8, 8, scale=1.0)
    assert_close(logits(net, x), resnet_reference(x, w))


def test_residual_graph_saves_as_version_2_and_loads_back(tmp_path):
    net = import_model(save(resnet_graph()[0], tmp_path), input_range=(0, 1))
    again = load_model(save_model(net, tmp_path / "resnet.npz"))
    x = randn(3, 3, 8, 8, scale=1.0)
    np.testing.assert_array_equal(logits(again, x), logits(net, x))
    assert again.names == net.names and again.node_inputs == net.node_inputs
    assert "b1.conv1.weight" in again.state_dict()


def test_torch_style_batchnorm_kept_where_it_cannot_be_merged_on_import(tmp_path):
    """BN after an Add (pre-activation style) and BN of a conv output another node also reads: kept as
    batchnorm layers (merging the second into its conv would change what the other reader sees)."""
    w = {"c1.weight": randn(3, 2, 3, 3), "c1.bias": randn(3), "c2.weight": randn(3, 3, 3, 3),
         **bn_params("shared_bn", 3), **bn_params("post_bn", 3), "fc.weight": randn(4, 3 * 6 * 6), "fc.bias": randn(4)}
    nodes = [
        helper.make_node("Conv", ["x", "c1.weight", "c1.bias"], ["c1"], name="/c1/Conv", pads=[1, 1, 1, 1]),
        bn_node("shared_bn", "c1", "n1"),                                        # c1 is also read by the Add
        helper.make_node("Relu", ["n1"], ["r1"], name="/relu/Relu"),
        helper.make_node("Conv", ["r1", "c2.weight"], ["c2"], name="/c2/Conv", pads=[1, 1, 1, 1]),
        helper.make_node("Add", ["c2", "c1"], ["sum"], name="/Add"),
        bn_node("post_bn", "sum", "n2"),                                         # follows the Add
        helper.make_node("Relu", ["n2"], ["r2"], name="/relu2/Relu"),
        helper.make_node("Flatten", ["r2"], ["f"], name="/flatten"),
        helper.make_node("Gemm", ["f", "fc.weight", "fc.bias"], ["y"], name="/fc/Gemm", transB=1),
    ]
    net, notes = import_model_with_notes(save(build(nodes, w, [2, 6, 6]), tmp_path))
    kinds = [layer.type_name for layer in net.layers]
    assert kinds == ["conv2d", "batchnorm", "relu", "conv2d", "add", "batchnorm", "relu", "flatten", "dense"]
    assert net.node_inputs[4] == (4, 1)  # the Add reads the conv before the BatchNorm
    assert sum("kept" in note for note in notes) == 2
    assert net.state_dict()["shared_bn.running_var"].shape == (3,)
    x = randn(4, 2, 6, 6, scale=1.0)
    with pytest.raises(ParameterError, match="batchnorm node 'shared_bn'"):  # LRP cannot merge it either way
        explain(net, x, method="epsilon-plus")
    c1 = conv_ref(x, w["c1.weight"], w["c1.bias"], pad=1)
    h = conv_ref(relu(bn_ref(c1, w, "shared_bn")), w["c2.weight"], pad=1)
    expected = relu(bn_ref(h + c1, w, "post_bn")).reshape(4, -1) @ w["fc.weight"].T.astype(np.float64) + w["fc.bias"]
    assert_close(logits(net, x), expected)


def test_bias_and_batchnorm_merge_through_identity_in_a_branching_graph(tmp_path):
    """MatMul -> Identity -> bias Add -> BatchNorm, whose result two branches read: both merged into the dense
    layer (only the chain reads each intermediate tensor)."""
    w = {"w1": randn(4, 6), "b1": randn(6), **bn_params("bn", 6), "w2": randn(6, 3), "w3": randn(6, 3)}
    nodes = [
        helper.make_node("MatMul", ["x", "w1"], ["m"], name="/mm"),
        helper.make_node("Identity", ["m"], ["i"], name="/id"),
        helper.make_node("Add", ["i", "b1"], ["a"], name="/bias"),
        bn_node("bn", "a", "n"),
        helper.make_node("Relu", ["n"], ["r"], name="/relu"),
        helper.make_node("MatMul", ["r", "w2"], ["p"], name="/p"),
        helper.make_node("MatMul", ["n", "w3"], ["q"], name="/q"),
        helper.make_node("Add", ["p", "q"], ["y"], name="/out"),
    ]
    net, notes = import_model_with_notes(save(build(nodes, w, [4]), tmp_path))
    assert [layer.type_name for layer in net.layers] == ["dense", "relu", "dense", "dense", "add"]
    assert net.node_inputs[3] == (1,) and any("merged" in note for note in notes)
    x = randn(6, 4, scale=1.0)
    n = bn_ref(x.astype(np.float64) @ w["w1"] + w["b1"], w, "bn")
    assert_close(logits(net, x), relu(n) @ w["w2"] + n @ w["w3"])


def test_a_shape_read_does_not_block_the_bias_merge(tmp_path):
    """Conv -> (Shape of it for the flatten target, and a bias Add): Shape reads only the size, so the
    conv output still has one real reader and the bias joins the conv."""
    w = {"c.weight": randn(2, 1, 3, 3), "k": randn(1, 2, 1, 1), "fc.weight": randn(3, 2 * 4 * 4), "fc.bias": randn(3),
         "zero": np.array([0], np.int64), "minus1": np.array([-1], np.int64)}
    nodes = [
        helper.make_node("Conv", ["x", "c.weight"], ["c"], name="/c/Conv"),
        helper.make_node("Shape", ["c"], ["s"], name="/shape"),
        helper.make_node("Gather", ["s", "zero"], ["n"], name="/gather", axis=0),
        helper.make_node("Concat", ["n", "minus1"], ["target"], name="/target", axis=0),
        helper.make_node("Add", ["c", "k"], ["a"], name="/bias"),
        helper.make_node("Reshape", ["a", "target"], ["f"], name="/view"),
        helper.make_node("Gemm", ["f", "fc.weight", "fc.bias"], ["y"], name="/fc/Gemm", transB=1),
    ]
    net = import_model(save(build(nodes, w, [1, 6, 6]), tmp_path))
    assert [layer.type_name for layer in net.layers] == ["conv2d", "flatten", "dense"]
    x = randn(2, 1, 6, 6, scale=1.0)
    h = (conv_ref(x, w["c.weight"]) + w["k"]).reshape(2, -1)
    assert_close(logits(net, x), h @ w["fc.weight"].T.astype(np.float64) + w["fc.bias"])


def test_batchnorm_kept_before_a_gemm_explains_as_the_gemm_folded_by_hand(tmp_path):
    """Conv -> Relu -> GlobalAveragePool -> BatchNormalization -> Gemm: the BN is kept on import (it does not
    follow a Conv) and merged into the Gemm when explaining, so the relevance equals that of the same graph
    with W' = W diag(a), b' = b + W (beta - mean a), a = gamma / sqrt(var + eps) written by hand."""
    w = {"c.weight": randn(4, 2, 3, 3), "c.bias": randn(4), **bn_params("bn", 4), "fc.weight": randn(3, 4),
         "fc.bias": randn(3)}
    head = [helper.make_node("Conv", ["x", "c.weight", "c.bias"], ["c"], name="/c/Conv"),
            helper.make_node("Relu", ["c"], ["r"], name="/relu"),
            helper.make_node("GlobalAveragePool", ["r"], ["g"], name="/gap"),
            helper.make_node("Flatten", ["g"], ["f"], name="/flatten")]
    with_bn = build(head + [bn_node("bn", "f", "n"),
                            helper.make_node("Gemm", ["n", "fc.weight", "fc.bias"], ["y"], name="/fc", transB=1)],
                    w, [2, 5, 5])
    a = w["bn.weight"].astype(np.float64) / np.sqrt(w["bn.running_var"].astype(np.float64) + 1e-5)
    shift = w["bn.bias"] - w["bn.running_mean"] * a
    folded = {**w, "fc.weight": (w["fc.weight"] * a).astype(np.float32),
              "fc.bias": (w["fc.bias"] + w["fc.weight"].astype(np.float64) @ shift).astype(np.float32)}
    by_hand = build(head + [helper.make_node("Gemm", ["f", "fc.weight", "fc.bias"], ["y"], name="/fc", transB=1)],
                    folded, [2, 5, 5])
    net = import_model(save(with_bn, tmp_path))
    twin = import_model(save(by_hand, tmp_path, "folded.onnx"))
    assert [layer.type_name for layer in net.layers] == ["conv2d", "relu", "globalavgpool", "batchnorm", "dense"]
    x = randn(4, 2, 5, 5, scale=1.0)
    assert_close(logits(net, x), logits(twin, x))
    for method, params in (("epsilon-plus", {}), ("epsilon-gamma-box", {"low": -3.0, "high": 3.0})):
        ours, reference = (explain(n, x, target=1, method=method, **params).relevance for n in (net, twin))
        np.testing.assert_allclose(ours, reference, rtol=1e-4, atol=1e-5 * np.abs(reference).max())


def test_concat_and_sum_of_branches(tmp_path):
    """Two conv branches from the input concatenated (axis -3 = the channels), a three-way Sum of stages
    of equal shape, then GlobalAveragePool -> Reshape(0, -1) -> Gemm."""
    w = {"a.weight": randn(2, 3, 3, 3), "a.bias": randn(2), "b.weight": randn(3, 3, 1, 1), "b.bias": randn(3),
         "fc.weight": randn(2, 5), "fc.bias": randn(2), "shape": np.array([0, -1], np.int64)}
    nodes = [
        helper.make_node("Conv", ["x", "a.weight", "a.bias"], ["a"], name="/a/Conv", pads=[1, 1, 1, 1]),
        helper.make_node("Conv", ["x", "b.weight", "b.bias"], ["b"], name="/b/Conv"),
        helper.make_node("Concat", ["a", "b"], ["cat"], name="/cat", axis=-3),
        helper.make_node("Relu", ["cat"], ["r"], name="/relu"),
        helper.make_node("Sigmoid", ["cat"], ["s"], name="/sig"),
        helper.make_node("Sum", ["r", "s", "cat"], ["sum3"], name="/sum3"),
        helper.make_node("GlobalAveragePool", ["sum3"], ["g"], name="/gap"),
        helper.make_node("Reshape", ["g", "shape"], ["f"], name="/reshape"),
        helper.make_node("Gemm", ["f", "fc.weight", "fc.bias"], ["y"], name="/fc/Gemm", transB=1),
    ]
    net = import_model(save(build(nodes, w, [3, 5, 5]), tmp_path))
    assert [layer.type_name for layer in net.layers] == [
        "conv2d", "conv2d", "concat", "relu", "sigmoid", "add", "globalavgpool", "dense"]
    assert net.node_inputs[1] == (0,) and net.node_inputs[2] == (1, 2) and net.node_inputs[5] == (4, 5, 3)
    x = randn(3, 3, 5, 5, scale=1.0)
    cat = np.concatenate([conv_ref(x, w["a.weight"], w["a.bias"], pad=1), conv_ref(x, w["b.weight"], w["b.bias"])], 1)
    summed = relu(cat) + 1 / (1 + np.exp(-cat)) + cat
    assert_close(logits(net, x), summed.mean(axis=(2, 3)) @ w["fc.weight"].T.astype(np.float64) + w["fc.bias"])


def test_global_average_pool_then_squeeze_and_a_relu_on_the_pooled_map(tmp_path):
    """An activation between GlobalAveragePool and Squeeze sees (N, C, 1, 1) in ONNX: no extra layer."""
    w = {"c.weight": randn(4, 2, 3, 3), "fc.weight": randn(3, 4), "fc.bias": randn(3),
         "axes": np.array([2, 3], np.int64)}
    nodes = [
        helper.make_node("Conv", ["x", "c.weight"], ["c"], name="/c/Conv"),
        helper.make_node("GlobalAveragePool", ["c"], ["g"], name="/gap"),
        helper.make_node("Tanh", ["g"], ["t"], name="/tanh"),
        helper.make_node("Squeeze", ["t", "axes"], ["s"], name="/squeeze"),
        helper.make_node("Gemm", ["s", "fc.weight", "fc.bias"], ["y"], name="/fc/Gemm", transB=1),
    ]
    net = import_model(save(build(nodes, w, [2, 6, 4]), tmp_path))  # non-square maps are fine
    assert [layer.type_name for layer in net.layers] == ["conv2d", "globalavgpool", "tanh", "dense"]
    x = randn(2, 2, 6, 4, scale=1.0)
    pooled = np.tanh(conv_ref(x, w["c.weight"]).mean(axis=(2, 3)))
    assert_close(logits(net, x), pooled @ w["fc.weight"].T.astype(np.float64) + w["fc.bias"])


@pytest.mark.parametrize("opset, keepdims", [(17, 0), (17, 1), (18, 0)])
def test_reduce_mean_over_height_and_width_is_global_average_pooling(tmp_path, opset, keepdims):
    """``x.mean((2, 3))`` as exporters write it: axes as an attribute (opset < 18) or an input (opset 18)."""
    w = {"c.weight": randn(3, 2, 3, 3), "fc.weight": randn(2, 3), "fc.bias": randn(2),
         "axes": np.array([-1, 2], np.int64), "squeeze": np.array([2, 3], np.int64)}
    mean = (helper.make_node("ReduceMean", ["c"], ["m"], name="/mean", axes=[-1, 2], keepdims=keepdims)
            if opset < 18 else helper.make_node("ReduceMean", ["c", "axes"], ["m"], name="/mean", keepdims=keepdims))
    nodes = [helper.make_node("Conv", ["x", "c.weight"], ["c"], name="/c/Conv"), mean,
             helper.make_node("Squeeze", ["m", "squeeze"], ["f"], name="/squeeze") if keepdims else
             helper.make_node("Identity", ["m"], ["f"], name="/id"),
             helper.make_node("Gemm", ["f", "fc.weight", "fc.bias"], ["y"], name="/fc/Gemm", transB=1)]
    model = build(nodes, w, [2, 5, 6], check=False)
    model.opset_import[0].version = opset
    onnx.checker.check_model(model, full_check=True)
    net = import_model(save(model, tmp_path))
    assert [layer.type_name for layer in net.layers] == ["conv2d", "globalavgpool", "dense"]
    x = randn(3, 2, 5, 6, scale=1.0)
    assert_close(logits(net, x), conv_ref(x, w["c.weight"]).mean(axis=(2, 3)) @ w["fc.weight"].T + w["fc.bias"])


def test_a_branch_the_output_does_not_need_is_ignored_with_a_note(tmp_path):
    w = {"c.weight": randn(2, 1, 3, 3), "fc.weight": randn(3, 2 * 4 * 4), "fc.bias": randn(3)}
    nodes = [
        helper.make_node("Conv", ["x", "c.weight"], ["c"], name="/c/Conv"),
        helper.make_node("Sigmoid", ["c"], ["unused"], name="/probe"),
        helper.make_node("Relu", ["c"], ["r"], name="/relu"),
        helper.make_node("Flatten", ["r"], ["f"], name="/flatten"),
        helper.make_node("Gemm", ["f", "fc.weight", "fc.bias"], ["y"], name="/fc/Gemm", transB=1),
    ]
    net, notes = import_model_with_notes(save(build(nodes, w, [1, 6, 6]), tmp_path))
    assert [layer.type_name for layer in net.layers] == ["conv2d", "relu", "flatten", "dense"]
    assert any("/probe" in note and "does not depend" in note for note in notes)


# ------------------------------------------------------------------------------- refused graphs
TWO = {"c.weight": randn(2, 2, 3, 3), "d.weight": randn(2, 2, 1, 1), "fc.weight": randn(3, 2 * 6 * 6),
       "fc.bias": randn(3), "k": randn(2, 1, 1)}
TAIL = [helper.make_node("Flatten", ["t"], ["f"], name="/flatten"),
        helper.make_node("Gemm", ["f", "fc.weight", "fc.bias"], ["y"], name="/fc", transB=1)]


def _c(src="x", dst="c", **attrs):
    return helper.make_node("Conv", [src, "c.weight"], [dst], name="/c", pads=[1, 1, 1, 1], **attrs)


@pytest.mark.parametrize("nodes, message", [
    pytest.param([_c(), helper.make_node("Sub", ["x", "c"], ["t"], name="diff")] + TAIL,
                 "node 'diff' (Sub, #1): combines two computed tensors ('x' and 'c') with Sub; only Add, Sum and "
                 "Concat may merge branches", id="sub-of-two-tensors"),
    pytest.param([_c(dst="c0"), helper.make_node("ReduceMean", ["c0"], ["t"], name="chan_mean", axes=[1])] + TAIL,
                 "node 'chan_mean' (ReduceMean, #1): ReduceMean over axes [1]", id="reduce-mean-channels"),
    pytest.param([_c(), helper.make_node("Mul", ["x", "c"], ["t"], name="gate")] + TAIL,
                 "node 'gate' (Mul, #1): unsupported operator Mul", id="mul-of-two-tensors"),
    pytest.param([_c(), helper.make_node("Concat", ["x", "c"], ["t"], name="cat_h", axis=2)] + TAIL,
                 "node 'cat_h' (Concat, #1): concatenates along axis 2", id="concat-height"),
    pytest.param([_c(), helper.make_node("Concat", ["c", "k6"], ["t"], name="cat_const", axis=1)] + TAIL,
                 "node 'cat_const' (Concat, #1): combines computed tensors with the constant 'k6'", id="concat-const"),
    pytest.param([_c(), helper.make_node("Conv", ["x", "d.weight"], ["d"], name="/d", strides=[2, 2]),
                  helper.make_node("Add", ["c", "d"], ["t"], name="bad_add")] + TAIL,
                 "node 'bad_add' (Add, #2): add needs inputs of equal shape, got (2, 6, 6), (2, 3, 3)",
                 id="add-of-different-shapes"),
    pytest.param([_c(), helper.make_node("Add", ["c", "k"], ["t0"], name="late_bias"),
                  helper.make_node("Add", ["t0", "c"], ["t"], name="merge")] + TAIL,
                 "node 'late_bias' (Add, #1): Add of a constant is supported only as the bias right after a Gemm, "
                 "MatMul or Conv (whose output nothing else reads)", id="bias-of-a-shared-conv"),
])
def test_unsupported_merges_name_the_node(tmp_path, nodes, message):
    path = save(build(nodes, {**TWO, "k6": randn(1, 2, 6, 6)}, [2, 6, 6], check=False), tmp_path)
    with pytest.raises(ModelFileError) as error:
        import_model(path)
    assert message in str(error.value)
    assert str(path) in str(error.value)
