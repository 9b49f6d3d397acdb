"""ONNX import: models built with onnx.helper, imported, and checked against NumPy evaluations of the
same weights (BatchNorm unmerged); unsupported graphs fail with the node named."""

from __future__ import annotations

import json

import numpy as np
import pytest

onnx = pytest.importorskip("onnx")
from numpy.lib.stride_tricks import sliding_window_view  # noqa: E402
from onnx import TensorProto, helper, numpy_helper  # noqa: E402

from lrp_studio.errors import ModelFileError  # noqa: E402
from lrp_studio.io import MissingModelInfo, import_model, load_model, save_model  # noqa: E402
from lrp_studio.io.importing import import_model_with_notes  # noqa: E402

RNG = np.random.default_rng(7)


# ------------------------------------------------------------------------------- building models
def randn(*shape: int, scale: float = 0.5) -> np.ndarray:
    return (RNG.normal(size=shape) * scale).astype(np.float32)


def build(nodes, weights: dict, input_dims, output="y", input_name="x", opset=17, metadata=None, check=True):
    """A model from nodes and initializers; the input's first dim is the dynamic batch 'N'."""
    graph = helper.make_graph(
        nodes, "test",
        [helper.make_tensor_value_info(input_name, TensorProto.FLOAT, ["N", *input_dims])],
        [helper.make_tensor_value_info(output, TensorProto.FLOAT, ["N", None])],
        initializer=[numpy_helper.from_array(np.asarray(v), name=k) for k, v in weights.items()],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)])
    model.ir_version = 8
    if metadata:
        helper.set_model_props(model, metadata)
    if check:
        onnx.checker.check_model(model, full_check=True)
    return model


def save(model, tmp_path, name="model.onnx"):
    path = tmp_path / name
    onnx.save(model, str(path))
    return path


def logits(net, x: np.ndarray) -> np.ndarray:
    return np.asarray(net.forward(net.prepare_input(x)))


# ------------------------------------------------------------------------------- NumPy references
def conv_ref(x, w, b, stride=1, pad=0):
    x = np.pad(x.astype(np.float64), ((0, 0), (0, 0), (pad, pad), (pad, pad)))
    win = sliding_window_view(x, w.shape[2:], axis=(2, 3))[:, :, ::stride, ::stride]
    return np.einsum("nchwij,ocij->nohw", win, w.astype(np.float64)) + b[None, :, None, None]


def pool_ref(x, k, stride, reduce):
    return reduce(sliding_window_view(x, (k, k), axis=(2, 3))[:, :, ::stride, ::stride], axis=(-2, -1))


def bn_ref(x, gamma, beta, mean, var, eps):
    shape = (1, -1) + (1,) * (x.ndim - 2)
    return (x - mean.reshape(shape)) / np.sqrt(var.reshape(shape) + eps) * gamma.reshape(shape) + beta.reshape(shape)


def relu(x):
    return np.maximum(x, 0)


def assert_close(ours, reference):
    reference = np.asarray(reference, np.float64)
    np.testing.assert_allclose(ours, reference, rtol=1e-5, atol=1e-5 * max(1.0, np.abs(reference).max()))


# ------------------------------------------------------------------------------- supported graphs
def test_mlp_gemm_relu_gemm_softmax(tmp_path):
    w1, b1, w2, b2 = randn(5, 6), randn(5), randn(5, 3), randn(3)  # second Gemm: transB=0, (in, out)
    nodes = [
        helper.make_node("Gemm", ["x", "w1", "b1"], ["h"], name="fc1", transB=1),
        helper.make_node("Relu", ["h"], ["r"], name="act"),
        helper.make_node("Gemm", ["r", "w2", "b2"], ["z"], name="fc2", alpha=0.5, beta=2.0),
        helper.make_node("Softmax", ["z"], ["y"], name="prob", axis=1),
    ]
    model = build(nodes, {"w1": w1, "b1": b1, "w2": w2, "b2": b2}, [6],
                  metadata={"classes": json.dumps(["cat", "dog", "emu"])})
    net, notes = import_model_with_notes(save(model, tmp_path))
    assert [layer.type_name for layer in net.layers] == ["dense", "relu", "dense"]
    assert net.input_shape == (6,) and net.classes == ["cat", "dog", "emu"] and net.input_range is None
    assert any("Softmax" in note and "prob" in note for note in notes)
    x = randn(8, 6, scale=1.0)
    assert_close(logits(net, x), 0.5 * (relu(x @ w1.T + b1) @ w2) + 2.0 * b2)


def test_mlp_matmul_add_with_metadata_range_and_commuted_bias(tmp_path):
    w1, b1, w2, b2 = randn(4, 7), randn(1, 7), randn(7, 2), randn(2)
    nodes = [
        helper.make_node("MatMul", ["x", "w1"], ["m1"], name="mm1"),
        helper.make_node("Add", ["m1", "b1"], ["a1"], name="bias1"),
        helper.make_node("Tanh", ["a1"], ["t"], name="tanh"),
        helper.make_node("Dropout", ["t"], ["d"], name="drop"),
        helper.make_node("MatMul", ["d", "w2"], ["m2"], name="mm2"),
        helper.make_node("Add", ["b2", "m2"], ["a2"], name="bias2"),  # constant first
        helper.make_node("Sigmoid", ["a2"], ["y"], name="sig"),
    ]
    model = build(nodes, {"w1": w1, "b1": b1, "w2": w2, "b2": b2}, [4],
                  metadata={"classes": "no, yes", "input_range": "-1,1"})
    net = import_model(save(model, tmp_path))
    assert [layer.type_name for layer in net.layers] == ["dense", "tanh", "dense", "sigmoid"]
    assert net.classes == ["no", "yes"] and net.input_range == (-1.0, 1.0)
    x = randn(5, 4, scale=1.0)
    expected = 1 / (1 + np.exp(-(np.tanh(x @ w1 + b1) @ w2 + b2)))
    assert_close(logits(net, x), expected)


def cnn_model(bn_eps=1e-3):
    """Conv(pads 1) - Relu - MaxPool - Conv - BatchNorm - Relu - AveragePool - Flatten - Gemm, input (2, 12, 12)."""
    w = {
        "c1w": randn(4, 2, 3, 3), "c1b": randn(4),
        "c2w": randn(5, 4, 3, 3), "c2b": randn(5),
        "gamma": (RNG.uniform(0.5, 2.0, 5)).astype(np.float32), "beta": randn(5),
        "mean": randn(5), "var": RNG.uniform(0.2, 3.0, 5).astype(np.float32),
        "fw": randn(3, 5 * 2 * 2), "fb": randn(3),
    }
    nodes = [
        helper.make_node("Conv", ["x", "c1w", "c1b"], ["c1"], name="conv1", pads=[1, 1, 1, 1], kernel_shape=[3, 3]),
        helper.make_node("Relu", ["c1"], ["r1"], name="relu1"),
        helper.make_node("MaxPool", ["r1"], ["p1"], name="pool1", kernel_shape=[2, 2], strides=[2, 2]),
        helper.make_node("Conv", ["p1", "c2w", "c2b"], ["c2"], name="conv2", strides=[1, 1]),
        helper.make_node("BatchNormalization", ["c2", "gamma", "beta", "mean", "var"], ["bn"], name="bn2",
                         epsilon=bn_eps),
        helper.make_node("Relu", ["bn"], ["r2"], name="relu2"),
        helper.make_node("AveragePool", ["r2"], ["p2"], name="pool2", kernel_shape=[2, 2], strides=[2, 2]),
        helper.make_node("Flatten", ["p2"], ["f"], name="flat", axis=1),
        helper.make_node("Gemm", ["f", "fw", "fb"], ["y"], name="fc", transB=1),
    ]
    return build(nodes, w, [2, 12, 12]), w


def cnn_reference(x, w, bn_eps=1e-3):
    h = pool_ref(relu(conv_ref(x, w["c1w"], w["c1b"], pad=1)), 2, 2, np.max)
    h = bn_ref(conv_ref(h, w["c2w"], w["c2b"]), w["gamma"], w["beta"], w["mean"], w["var"], bn_eps)  # unmerged
    h = pool_ref(relu(h), 2, 2, np.mean)
    return h.reshape(len(x), -1) @ w["fw"].T.astype(np.float64) + w["fb"]


def test_cnn_with_batchnorm_matches_the_unmerged_computation(tmp_path):
    model, w = cnn_model()
    net, notes = import_model_with_notes(save(model, tmp_path))
    assert [layer.type_name for layer in net.layers] == [
        "conv2d", "relu", "maxpool2d", "conv2d", "relu", "avgpool2d", "flatten", "dense"]
    assert net.layers[0].padding == 1 and net.input_shape == (2, 12, 12)
    assert any("bn2" in note and "layer 3" in note for note in notes)
    x = randn(6, 2, 12, 12, scale=1.0)
    assert_close(logits(net, x), cnn_reference(x, w))
    # The merge really changed the conv's weights (the BatchNorm is not silently dropped).
    assert not np.allclose(np.asarray(net.layers[3].params["weight"]), w["c2w"])


def test_imported_model_saves_and_loads(tmp_path):
    model, w = cnn_model()
    net = import_model(save(model, tmp_path), input_range=(0, 1), classes=list("abc"))
    path = save_model(net, tmp_path / "m.npz")
    again = load_model(path)
    x = randn(3, 2, 12, 12, scale=1.0)
    np.testing.assert_array_equal(logits(again, x), logits(net, x))
    assert again.classes == ["a", "b", "c"] and again.input_range == (0.0, 1.0)


def test_batchnorm_after_gemm_and_after_matmul_bias(tmp_path):
    w1, b1 = randn(6, 4), randn(6)
    gamma, beta, mean, var = randn(6) + 1, randn(6), randn(6), RNG.uniform(0.5, 2, 6).astype(np.float32)
    w2, b2 = randn(6, 2), randn(2)
    nodes = [
        helper.make_node("MatMul", ["x", "w1"], ["m"], name="mm"),
        helper.make_node("Add", ["m", "b1"], ["a"], name="bias"),
        helper.make_node("BatchNormalization", ["a", "g", "be", "mu", "v"], ["bn"], name="bn"),
        helper.make_node("Relu", ["bn"], ["r"], name="relu"),
        helper.make_node("Gemm", ["r", "w2", "b2"], ["y"], name="out"),
    ]
    model = build(nodes, {"w1": w1.T.copy(), "b1": b1, "g": gamma, "be": beta, "mu": mean, "v": var,
                          "w2": w2, "b2": b2}, [4])
    net = import_model(save(model, tmp_path))
    x = randn(9, 4, scale=1.0)
    expected = relu(bn_ref(x @ w1.T.astype(np.float64) + b1, gamma, beta, mean, var, 1e-5)) @ w2 + b2
    assert_close(logits(net, x), expected)


def test_reshape_shape_arithmetic_constants_and_folded_weights(tmp_path):
    """Flatten via Shape->Gather->Unsqueeze->Concat->Reshape (as exporters write x.view(x.size(0), -1)),
    a weight in a Constant node, a Transpose of an initializer, Identity, Reshape([0, -1])."""
    cw, cb, fw, fb = randn(3, 1, 2, 2), randn(3), randn(3 * 3 * 3, 4), randn(4)
    nodes = [
        helper.make_node("Constant", [], ["cw"], name="const_w", value=numpy_helper.from_array(cw)),
        helper.make_node("Conv", ["x", "cw", "cb"], ["c"], name="conv", strides=[2, 2]),
        helper.make_node("Identity", ["c"], ["i"], name="ident"),
        helper.make_node("Shape", ["i"], ["s"], name="shape"),
        helper.make_node("Gather", ["s", "zero"], ["n"], name="gather", axis=0),
        helper.make_node("Unsqueeze", ["n", "axes"], ["n1"], name="unsq"),
        helper.make_node("Concat", ["n1", "minus1"], ["target"], name="cat", axis=0),
        helper.make_node("Reshape", ["i", "target"], ["f"], name="view"),
        helper.make_node("Reshape", ["f", "keep"], ["f2"], name="noop"),
        helper.make_node("Transpose", ["fw"], ["fwt"], name="tr"),
        helper.make_node("Gemm", ["f2", "fwt", "fb"], ["y"], name="fc", transB=1),
    ]
    weights = {"cb": cb, "fw": fw, "fb": fb, "zero": np.array(0, np.int64), "axes": np.array([0], np.int64),
               "minus1": np.array([-1], np.int64), "keep": np.array([0, -1], np.int64)}
    net = import_model(save(build(nodes, weights, [1, 6, 6]), tmp_path))
    assert [layer.type_name for layer in net.layers] == ["conv2d", "flatten", "dense"]
    x = randn(4, 1, 6, 6, scale=1.0)
    assert_close(logits(net, x), conv_ref(x, cw, cb, stride=2).reshape(4, -1) @ fw + fb)


def test_global_average_pool_and_squeeze(tmp_path):
    cw, cb, fw, fb = randn(4, 3, 3, 3), randn(4), randn(2, 4), randn(2)
    nodes = [
        helper.make_node("Conv", ["x", "cw", "cb"], ["c"], name="conv", auto_pad="SAME_UPPER"),
        helper.make_node("Relu", ["c"], ["r"], name="relu"),
        helper.make_node("GlobalAveragePool", ["r"], ["g"], name="gap"),
        helper.make_node("Squeeze", ["g", "axes"], ["s"], name="squeeze"),
        helper.make_node("Gemm", ["s", "fw", "fb"], ["y"], name="fc", transB=1),
    ]
    model = build(nodes, {"cw": cw, "cb": cb, "fw": fw, "fb": fb, "axes": np.array([2, 3], np.int64)}, [3, 5, 5])
    net = import_model(save(model, tmp_path))
    x = randn(3, 3, 5, 5, scale=1.0)
    expected = relu(conv_ref(x, cw, cb, pad=1)).mean(axis=(2, 3)) @ fw.T + fb
    assert_close(logits(net, x), expected)


def test_input_shape_asked_for_when_the_graph_does_not_fix_it(tmp_path):
    model, w = cnn_model()
    dims = model.graph.input[0].type.tensor_type.shape.dim
    dims[2].dim_param, dims[3].dim_param = "H", "W"
    path = save(model, tmp_path)
    with pytest.raises(MissingModelInfo) as error:
        import_model(path)
    assert error.value.what == "input_shape" and "input_shape" in str(error.value) and str(path) in str(error.value)
    net = import_model(path, input_shape=(2, 12, 12))
    x = randn(2, 2, 12, 12, scale=1.0)
    assert_close(logits(net, x), cnn_reference(x, w))
    with pytest.raises(ModelFileError, match="does not match"):
        import_model(path, input_shape=(3, 12, 12))


def test_classes_from_arguments_override_metadata_and_must_fit(tmp_path):
    w1, b1 = randn(3, 2), randn(3)
    model = build([helper.make_node("Gemm", ["x", "w", "b"], ["y"], name="fc", transB=1)], {"w": w1, "b": b1}, [2],
                  metadata={"classes": "a,b,c"})
    path = save(model, tmp_path)
    assert import_model(path).classes == ["a", "b", "c"]
    assert import_model(path, classes="x,y,z").classes == ["x", "y", "z"]
    with pytest.raises(ModelFileError, match="2 class names for 3 outputs"):
        import_model(path, classes=["x", "y"])
    bad = build([helper.make_node("Gemm", ["x", "w", "b"], ["y"], name="fc", transB=1)], {"w": w1, "b": b1}, [2],
                metadata={"classes": "a,b"})
    with pytest.raises(ModelFileError, match="metadata 'classes' has 2 class names for 3 outputs"):
        import_model(save(bad, tmp_path, "bad.onnx"))


# ------------------------------------------------------------------------------- refused graphs
def _conv(name, src, dst, **attrs):
    return helper.make_node("Conv", [src, "cw", "cb"], [dst], name=name, **attrs)


CONV_W = {"cw": randn(2, 2, 3, 3), "cb": randn(2), "fw": randn(3, 2 * 6 * 6), "fb": randn(3)}
TAIL = [helper.make_node("Flatten", ["t"], ["f"], name="flat"),
        helper.make_node("Gemm", ["f", "fw", "fb"], ["y"], name="fc", transB=1)]


@pytest.mark.parametrize("nodes, weights, message", [
    # Skip connections (Add of two computed tensors), Concat, branches and a BatchNorm that cannot be merged
    # on import are supported since issue 12: see tests/io/test_onnx_graph.py (and its refused merges).
    pytest.param(
        [_conv("conv", "x", "c", pads=[0, 0, 2, 2]), helper.make_node("Relu", ["c"], ["t"], name="relu")] + TAIL,
        CONV_W, "node 'conv' (Conv, #0): asymmetric padding pads=[0, 0, 2, 2]", id="asymmetric-pads"),
    pytest.param(
        [helper.make_node("Conv", ["x", "gw", "cb"], ["c"], name="gconv", group=2, pads=[1, 1, 1, 1]),
         helper.make_node("Relu", ["c"], ["t"], name="relu")] + TAIL,
        {**CONV_W, "gw": randn(2, 1, 3, 3)}, "node 'gconv' (Conv, #0): grouped convolution (group=2)", id="group-conv"),
    pytest.param(
        [_conv("conv", "x", "c", pads=[1, 1, 1, 1]), helper.make_node("LeakyRelu", ["c"], ["t"], name="leaky")] + TAIL,
        CONV_W, "node 'leaky' (LeakyRelu, #1): unsupported operator LeakyRelu", id="leaky-relu"),
    pytest.param(
        [_conv("conv", "x", "c", pads=[1, 1, 1, 1]),
         helper.make_node("MaxPool", ["c"], ["t"], name="pool", kernel_shape=[3, 3], pads=[1, 1, 1, 1])] + TAIL,
        CONV_W, "node 'pool' (MaxPool, #1): padded pooling", id="padded-pool"),
    pytest.param(
        [_conv("conv", "x", "c", pads=[1, 1, 1, 1], dilations=[2, 2]),
         helper.make_node("Relu", ["c"], ["t"], name="relu")] + TAIL,
        CONV_W, "dilated convolution", id="dilation"),
])
def test_unsupported_graphs_name_the_node(tmp_path, nodes, weights, message):
    path = save(build(nodes, weights, [2, 6, 6], check=False), tmp_path)
    with pytest.raises(ModelFileError) as error:
        import_model(path)
    assert message in str(error.value)
    assert str(path) in str(error.value)


def test_lstm_is_refused_by_name(tmp_path):
    w, r = randn(1, 12, 4), randn(1, 12, 3)
    nodes = [helper.make_node("LSTM", ["x", "w", "r"], ["seq", "y"], name="lstm", hidden_size=3, layout=1)]
    graph = helper.make_graph(nodes, "rnn", [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 5, 4])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["N", 1, 3])],
                              initializer=[numpy_helper.from_array(w, "w"), numpy_helper.from_array(r, "r")])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    onnx.checker.check_model(model)
    with pytest.raises(ModelFileError, match=r"node 'lstm' \(LSTM, #0\): unsupported operator LSTM"):
        import_model(save(model, tmp_path))


def test_softmax_only_at_the_end(tmp_path):
    w1, b1, w2, b2 = randn(4, 3), randn(4), randn(2, 4), randn(2)
    nodes = [
        helper.make_node("Gemm", ["x", "w1", "b1"], ["h"], name="fc1", transB=1),
        helper.make_node("Softmax", ["h"], ["s"], name="early"),
        helper.make_node("Gemm", ["s", "w2", "b2"], ["y"], name="fc2", transB=1),
    ]
    with pytest.raises(ModelFileError, match=r"node 'fc2' \(Gemm, #2\): follows the node 'early'"):
        import_model(save(build(nodes, {"w1": w1, "b1": b1, "w2": w2, "b2": b2}, [3]), tmp_path))


def test_bias_that_varies_within_a_channel_is_refused(tmp_path):
    nodes = [helper.make_node("Conv", ["x", "cw"], ["c"], name="conv"),
             helper.make_node("Add", ["c", "bias"], ["t"], name="not_a_bias")] + TAIL
    weights = {**CONV_W, "bias": randn(1, 2, 6, 6)}
    weights.pop("cb")
    with pytest.raises(ModelFileError, match=r"node 'not_a_bias' \(Add, #1\): adds a constant that varies"):
        import_model(save(build(nodes, weights, [2, 8, 8]), tmp_path))


def test_two_inputs_and_a_computed_weight_are_refused(tmp_path):
    w = randn(2, 3)
    graph = helper.make_graph(
        [helper.make_node("Gemm", ["x", "w2"], ["y"], name="fc", transB=1)], "two",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 3]),
         helper.make_tensor_value_info("w2", TensorProto.FLOAT, [2, 3])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["N", 2])])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    with pytest.raises(ModelFileError, match="expected exactly one input tensor, found 2"):
        import_model(save(model, tmp_path))
    nodes = [helper.make_node("RandomNormalLike", ["w"], ["noise"], name="rnd"),
             helper.make_node("Gemm", ["x", "noise"], ["y"], name="fc", transB=1)]
    with pytest.raises(ModelFileError, match=r"node 'fc' \(Gemm, #1\): its weight 'noise' is not a constant: "
                                             r"computed by node 'rnd'"):
        import_model(save(build(nodes, {"w": w}, [3]), tmp_path, "b.onnx"))


@pytest.mark.parametrize("content", [b"", b"garbage\x00\xff" * 10, "truncated"])
def test_unreadable_files(tmp_path, content):
    if content == "truncated":
        full = cnn_model()[0].SerializeToString()
        content = full[: len(full) // 2]
    path = tmp_path / "broken.onnx"
    path.write_bytes(content)
    with pytest.raises(ModelFileError) as error:
        import_model(path)
    assert str(path) in str(error.value)


def test_missing_file_and_unknown_type(tmp_path):
    with pytest.raises(ModelFileError, match="file not found"):
        import_model(tmp_path / "nope.onnx")
    other = tmp_path / "model.h5"
    other.write_bytes(b"\x89HDF")
    with pytest.raises(ModelFileError, match="unknown model file type"):
        import_model(other)


# ------------------------------------------------------------------------------- optional dependency
def test_base_install_does_not_import_onnx():
    import subprocess
    import sys

    code = ("import sys, lrp_studio, lrp_studio.io, lrp_studio.cli, lrp_studio.zoo; lrp_studio.cli.build_parser();"
            "bad = [m for m in ('onnx', 'safetensors', 'torch') if m in sys.modules]; print(bad); sys.exit(1 if bad else 0)")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr


def test_without_onnx_installed_the_error_says_what_to_install(tmp_path, monkeypatch):
    path = save(cnn_model()[0], tmp_path)
    monkeypatch.setitem(__import__("sys").modules, "onnx", None)  # `import onnx` now raises ImportError
    with pytest.raises(ModelFileError, match=r"needs the 'onnx' package: pip install 'lrp-studio\[onnx\]'"):
        import_model(path)
