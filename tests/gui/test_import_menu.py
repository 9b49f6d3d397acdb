"""File > Import model: ONNX graphs through the dialogs; missing information is asked for."""

from __future__ import annotations

import numpy as np
import pytest

onnx = pytest.importorskip("onnx")
from onnx import TensorProto, helper, numpy_helper  # noqa: E402
from PySide6.QtWidgets import QInputDialog  # noqa: E402

from lrp_studio.gui import dialogs  # noqa: E402

RNG = np.random.default_rng(3)


def _save(tmp_path, nodes, weights, dims, name="model.onnx"):
    graph = helper.make_graph(
        nodes, "gui-import",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", *dims])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["N", 10])],
        initializer=[numpy_helper.from_array(np.asarray(v, np.float32), name=k) for k, v in weights.items()],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    path = tmp_path / name
    onnx.save(model, str(path))
    return path


def mlp_onnx(tmp_path):
    """Flatten - Gemm(784 -> 32) - Relu - Gemm(32 -> 10), input (1, 28, 28)."""
    w1, b1 = RNG.normal(0, 0.05, (32, 784)), RNG.normal(0, 0.1, 32)
    w2, b2 = RNG.normal(0, 0.2, (10, 32)), RNG.normal(0, 0.1, 10)
    nodes = [helper.make_node("Flatten", ["x"], ["f"], axis=1),
             helper.make_node("Gemm", ["f", "w1", "b1"], ["h"], transB=1),
             helper.make_node("Relu", ["h"], ["r"]),
             helper.make_node("Gemm", ["r", "w2", "b2"], ["y"], transB=1)]
    return _save(tmp_path, nodes, {"w1": w1, "b1": b1, "w2": w2, "b2": b2}, [1, 28, 28]), (w1, b1, w2, b2)


def dynamic_cnn_onnx(tmp_path, dims=(1, "H", "W"), kernel=5, name="dynamic.onnx"):
    """Conv(C -> 3, k x k) - Relu - GlobalAveragePool - Flatten - Gemm(3 -> 10), input (C, H, W) = ``dims``."""
    weights = {"cw": RNG.normal(0, 0.3, (3, dims[0], kernel, kernel)), "cb": RNG.normal(0, 0.1, 3),
               "fw": RNG.normal(0, 0.5, (10, 3)), "fb": RNG.normal(0, 0.1, 10)}
    nodes = [helper.make_node("Conv", ["x", "cw", "cb"], ["c"], kernel_shape=[kernel, kernel]),
             helper.make_node("Relu", ["c"], ["r"]),
             helper.make_node("GlobalAveragePool", ["r"], ["g"]),
             helper.make_node("Flatten", ["g"], ["f"], axis=1),
             helper.make_node("Gemm", ["f", "fw", "fb"], ["y"], transB=1)]
    return _save(tmp_path, nodes, weights, list(dims), name)


@pytest.fixture
def answers(monkeypatch):
    """Patch QInputDialog.getText: answers popped in order; every prompt recorded."""
    asked: list[str] = []
    queue: list[tuple[str, bool]] = []

    def get_text(parent, title, label, echo=None, text="", *args, **kwargs):
        asked.append(label)
        return queue.pop(0) if queue else (text, True)

    monkeypatch.setattr(QInputDialog, "getText", staticmethod(get_text))
    return asked, queue


def test_import_an_onnx_model(tmp_path, window, answers, monkeypatch):
    asked, queue = answers
    path, (w1, b1, w2, b2) = mlp_onnx(tmp_path)
    queue.append(("0,1", True))  # the input range
    monkeypatch.setattr(dialogs, "get_open_path", lambda *a, **k: str(path))
    window.import_model_action.trigger()
    assert window.wait_idle(20)
    net = window.state.net
    assert window.state.model_name == "model.onnx" and net.input_shape == (1, 28, 28)
    assert net.input_range == (0.0, 1.0)
    assert len(asked) == 1 and "range" in asked[0]
    x = window.state.dataset.x[:4].reshape(4, -1).astype(np.float64)
    expected = np.maximum(x @ w1.T + b1, 0) @ w2.T + b2
    np.testing.assert_allclose(net.predict(window.state.dataset.x[:4]), expected, rtol=1e-4, atol=1e-4)
    assert window.state.explanation is not None and window.state.explanation.logits.shape == (1, 10)
    assert str(path.resolve()) in [e["path"] for e in window.recent_files()]
    assert "model.onnx" in window.windowTitle()


def test_missing_input_shape_is_asked_for(tmp_path, window, answers):
    asked, queue = answers
    path = dynamic_cnn_onnx(tmp_path)
    queue.extend([("1,28,28", True), ("0,1", True)])
    assert window.import_model_file(str(path))
    assert window.wait_idle(20)
    assert "Input shape" in asked[0] and "range" in asked[1]
    net = window.state.net
    assert net.input_shape == (1, 28, 28) and [l.type_name for l in net.layers][0] == "conv2d"
    assert window.state.fits() and window.state.explanation.logits.shape == (1, 10)


def test_cancel_and_bad_answers_keep_the_previous_model(tmp_path, window, answers, error_dialogs):
    asked, queue = answers
    before = window.state.net
    path = dynamic_cnn_onnx(tmp_path)
    queue.append(("", False))  # cancelled
    assert not window.import_model_file(str(path))
    assert window.state.net is before and not error_dialogs
    queue.append(("one,two", True))  # not a shape
    assert not window.import_model_file(str(path))
    assert window.state.net is before and error_dialogs and "shape" in error_dialogs[-1][1]
    queue.extend([("1,28,28", True), ("5,1", True)])  # a range with low > high
    assert not window.import_model_file(str(path))
    assert window.state.net is before and "range" in error_dialogs[-1][1]


def test_bad_files_show_one_line(tmp_path, window, answers, error_dialogs):
    before = window.state.net
    broken = tmp_path / "broken.onnx"
    broken.write_bytes(b"not an onnx file")
    pickled = tmp_path / "model.pt"
    pickled.write_bytes(b"\x80\x04junk")
    for path in (broken, pickled, tmp_path / "missing.onnx"):
        assert not window.import_model_file(str(path))
        assert window.state.net is before
        title, message = error_dialogs[-1]
        assert title == "Cannot import model" and "\n" not in message and str(path) in message
    assert "never loaded" in error_dialogs[1][1]


def rgb_cnn_onnx(tmp_path):
    """The :func:`dynamic_cnn_onnx` network with 3 input channels and a fixed (3, 8, 8) input."""
    return dynamic_cnn_onnx(tmp_path, (3, 8, 8), kernel=3, name="rgb.onnx")


@pytest.fixture
def normalization_dialog(qtbot, monkeypatch, no_import_normalization):
    """The real mean/std dialog of File > Import model, filled by a timer: ``fill(mean, std, ok=True)``."""
    from PySide6.QtCore import QTimer
    from PySide6.QtWidgets import QApplication, QDialog, QLineEdit

    from lrp_studio.gui import import_normalization

    monkeypatch.setattr(import_normalization, "ask_import_normalization", no_import_normalization)  # the real one
    seen: list[str] = []

    def fill(mean: str, std: str, ok: bool = True) -> None:
        def answer() -> None:
            dialog = QApplication.activeModalWidget()
            if not isinstance(dialog, QDialog) or dialog.objectName() != import_normalization.DIALOG_NAME:
                QTimer.singleShot(50, answer)  # not open yet
                return
            seen.append(dialog.windowTitle())
            dialog.findChild(QLineEdit, "meanEdit").setText(mean)
            dialog.findChild(QLineEdit, "stdEdit").setText(std)
            dialog.accept() if ok else dialog.reject()

        QTimer.singleShot(0, answer)

    return fill, seen


MEAN, STD = "0.485,0.456,0.406", "0.229,0.224,0.225"


def test_import_dialog_mean_std_give_the_normalize_node_of_import_mean_std(tmp_path, window, answers,
                                                                        normalization_dialog, error_dialogs):
    from lrp_studio.cli.main import main
    from lrp_studio.io import import_model, load_model

    fill, seen = normalization_dialog
    path = rgb_cnn_onnx(tmp_path)
    fill(MEAN, STD)
    assert window.import_model_file(str(path)) and seen and not error_dialogs
    net = window.state.net
    first = net.layers[0]
    assert first.type_name == "normalize" and [l.type_name for l in net.layers][1] == "conv2d"
    np.testing.assert_allclose(first.mean, [0.485, 0.456, 0.406])
    np.testing.assert_allclose(first.std, [0.229, 0.224, 0.225])
    out = tmp_path / "cli.npz"  # the same file through lrp-studio import --mean/--std
    assert main(["import", str(path), "--mean", MEAN, "--std", STD, "--input-range", "0,1", "--out", str(out)]) == 0
    cli = load_model(out)
    assert net.names == cli.names and [l.type_name for l in net.layers] == [l.type_name for l in cli.layers]
    np.testing.assert_array_equal(first.mean, cli.layers[0].mean)
    np.testing.assert_array_equal(first.std, cli.layers[0].std)
    x = RNG.uniform(0, 1, (4, 3, 8, 8)).astype(np.float32)
    np.testing.assert_allclose(net.predict(x), cli.predict(x), rtol=1e-6)
    plain = (x - np.array([0.485, 0.456, 0.406], np.float32)[:, None, None]) / np.array([0.229, 0.224, 0.225],
                                                                                       np.float32)[:, None, None]
    unnormalised = import_model(path, input_range="0,1")  # the same file without the normalize node
    np.testing.assert_allclose(net.predict(x), unnormalised.predict(plain), rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("mean, std, says", [
    ("0.5,0.5", "0.2,0.2", "channels"),  # two values for three input channels
    (MEAN, "0.229,0,0.225", "> 0"),  # a zero std
    ("0.5,red,0.5", STD, "cannot read"),
    (MEAN, "", "both"),  # only one of the two
])
def test_bad_mean_std_give_a_message_and_keep_the_model(tmp_path, window, answers, normalization_dialog,
                                                       error_dialogs, mean, std, says):
    fill, _ = normalization_dialog
    before = window.state.net
    fill(mean, std)
    assert not window.import_model_file(str(rgb_cnn_onnx(tmp_path)))
    assert window.state.net is before
    title, message = error_dialogs[-1]
    assert title == "Cannot import model" and says in message and "\n" not in message and "Traceback" not in message


def test_empty_fields_import_without_normalisation_and_cancel_keeps_the_model(tmp_path, window, answers,
                                                                             normalization_dialog, error_dialogs):
    fill, _ = normalization_dialog
    path = rgb_cnn_onnx(tmp_path)
    before = window.state.net
    fill(MEAN, STD, ok=False)
    assert not window.import_model_file(str(path)) and window.state.net is before and not error_dialogs
    fill("", "")
    assert window.import_model_file(str(path)) and window.state.net.layers[0].type_name == "conv2d"
