"""``lrp-studio import`` and ``.onnx`` / ``.safetensors`` models given to the other commands."""

from __future__ import annotations

import pickle

import numpy as np
import pytest

onnx = pytest.importorskip("onnx")
from onnx import TensorProto, helper, numpy_helper  # noqa: E402

from lrp_studio.cli import main  # noqa: E402
from lrp_studio.io import load_model  # noqa: E402

NAMES = ["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine"]


def run(capsys, *argv):
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


def mnist_onnx(path, batch="N", height=28):
    """Conv5x5/2(3) - BatchNorm - Relu - MaxPool2 - Flatten - Gemm(10) - Softmax for (1, 28, 28) inputs."""
    rng = np.random.default_rng(0)
    weights = {
        "cw": rng.normal(0, 0.3, (3, 1, 5, 5)), "cb": rng.normal(0, 0.1, 3),
        "g": rng.uniform(0.5, 1.5, 3), "b": rng.normal(0, 0.1, 3), "m": rng.normal(0, 0.1, 3),
        "v": rng.uniform(0.5, 1.5, 3), "fw": rng.normal(0, 0.2, (10, 3 * 6 * 6)), "fb": rng.normal(0, 0.1, 10),
    }
    nodes = [
        helper.make_node("Conv", ["x", "cw", "cb"], ["c"], name="conv", strides=[2, 2]),
        helper.make_node("BatchNormalization", ["c", "g", "b", "m", "v"], ["n"], name="bn"),
        helper.make_node("Relu", ["n"], ["r"], name="relu"),
        helper.make_node("MaxPool", ["r"], ["p"], name="pool", kernel_shape=[2, 2], strides=[2, 2]),
        helper.make_node("Flatten", ["p"], ["f"], name="flatten"),
        helper.make_node("Gemm", ["f", "fw", "fb"], ["z"], name="fc", transB=1),
        helper.make_node("Softmax", ["z"], ["y"], name="softmax"),
    ]
    graph = helper.make_graph(
        nodes, "mnist", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [batch, 1, height, 28])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [batch, 10])],
        initializer=[numpy_helper.from_array(v.astype(np.float32), k) for k, v in weights.items()])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    helper.set_model_props(model, {"classes": ",".join(NAMES)})
    onnx.checker.check_model(model, full_check=True)
    onnx.save(model, str(path))
    return path


def test_import_then_explain_and_explain_the_onnx_file_directly(capsys, tmp_path):
    source = mnist_onnx(tmp_path / "model.onnx")
    model = tmp_path / "m.npz"
    code, out, err = run(capsys, "import", source, "--out", model, "--input-range", "0,1")
    assert code == 0, err
    assert "merged node 'bn'" in out and "dropped the final node 'softmax'" in out and f"wrote {model}" in out
    net = load_model(model)
    assert net.classes == NAMES and net.input_range == (0.0, 1.0) and net.input_shape == (1, 28, 28)

    x = np.random.default_rng(1).uniform(size=(1, 28, 28)).astype(np.float32)
    np.save(tmp_path / "x.npy", x)
    results = []
    for model_arg in (model, source):
        npy = tmp_path / f"r_{model_arg.suffix[1:]}.npy"
        code, out, err = run(capsys, "explain", "--model", model_arg, "--input", tmp_path / "x.npy",
                             "--method", "epsilon-plus-flat", "--npy", npy)
        assert code == 0, err
        assert "prediction: class" in out
        results.append(np.load(npy))
    np.testing.assert_array_equal(results[0], results[1])
    # A dataset sample through the ONNX file, with the class names it carries.
    code, out, err = run(capsys, "explain", "--model", source, "--index", "0", "--target", "seven")
    assert code == 0, err
    assert "seven" in out


def test_export_accepts_an_onnx_model(capsys, tmp_path):
    source = mnist_onnx(tmp_path / "model.onnx")
    code, _, err = run(capsys, "export", "--model", source, "--indices", "0:3", "--out-dir", tmp_path / "out")
    assert code == 0, err
    assert np.load(tmp_path / "out" / "relevance.npy").shape == (3, 1, 28, 28)


def test_missing_input_shape_names_the_flag(capsys, tmp_path):
    source = mnist_onnx(tmp_path / "dyn.onnx", height="H")
    code, _, err = run(capsys, "import", source, "--out", tmp_path / "m.npz")
    assert code == 2 and "--input-shape" in err and "dyn.onnx" in err and "Traceback" not in err
    code, _, err = run(capsys, "explain", "--model", source, "--index", "0")
    assert code == 2 and "lrp-studio import" in err and "--input-shape" in err
    code, out, err = run(capsys, "import", source, "--input-shape", "1,28,28", "--out", tmp_path / "m.npz")
    assert code == 0, err
    assert "no input range" in err  # a note, not an error


def test_import_state_dict_with_a_text_spec(capsys, tmp_path):
    safetensors_numpy = pytest.importorskip("safetensors.numpy")
    from lrp_studio.zoo import build_architecture

    spec = "conv:4:5,relu,maxpool:2,flatten,dense:10"
    net = build_architecture(spec, (1, 28, 28), seed=2)
    weights = tmp_path / "w.safetensors"
    safetensors_numpy.save_file(net.state_dict(), str(weights))
    code, _, err = run(capsys, "import", weights, "--out", tmp_path / "m.npz")
    assert code == 2 and "--arch" in err
    code, _, err = run(capsys, "import", weights, "--arch", spec, "--out", tmp_path / "m.npz")
    assert code == 2 and "--input-shape" in err
    code, out, err = run(capsys, "import", weights, "--arch", spec, "--input-shape", "1,28,28",
                         "--classes", ",".join(NAMES), "--out", tmp_path / "m.npz")
    assert code == 0, err
    imported = load_model(tmp_path / "m.npz")
    x = np.random.default_rng(3).uniform(size=(2, 1, 28, 28))
    np.testing.assert_array_equal(imported.forward(imported.prepare_input(x)), net.forward(net.prepare_input(x)))
    assert imported.classes == NAMES


@pytest.mark.parametrize("argv, message", [
    (["import", "model.pt", "--out", "m.npz"], "pickled PyTorch files are never loaded"),
    (["import", "nothing.onnx", "--out", "m.npz"], "file not found"),
    (["import", "bad.onnx", "--out", "m.npz"], "not a readable ONNX model"),
    (["import", "model.onnx", "--input-range", "1,0", "--out", "m.npz"], "LOW < HIGH"),
    (["import", "model.onnx", "--input-shape", "a,b", "--out", "m.npz"], "shape like 1,28,28"),
    (["import", "model.onnx", "--classes", "a,b", "--out", "m.npz"], "2 class names for 10 outputs"),
    (["import", "model.onnx", "--out", "m.txt"], ".npz"),
    (["explain", "--model", "model.pt"], "torch.onnx.export"),
])
def test_import_errors_are_one_line(capsys, tmp_path, monkeypatch, argv, message):
    monkeypatch.chdir(tmp_path)
    mnist_onnx(tmp_path / "model.onnx")
    (tmp_path / "model.pt").write_bytes(pickle.dumps({"w": 1}))
    (tmp_path / "bad.onnx").write_bytes(b"\x08\x07\x12\xff\xff")
    code, _, err = run(capsys, *argv)
    assert code == 2
    assert message in err and err.count("\n") == 1 and "Traceback" not in err


def test_import_help(capsys):
    assert main(["import", "--help"]) == 0
    out = capsys.readouterr().out
    for flag in ("--arch", "--input-shape", "--input-range", "--classes", "--out"):
        assert flag in out
