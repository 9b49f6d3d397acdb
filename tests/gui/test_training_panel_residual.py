"""Training panel and residual blocks: the editor's res rows build a graph, read it back, and train it."""

from __future__ import annotations

import numpy as np
import pytest

from lrp_studio.data import load_mnist_subset
from lrp_studio.errors import ParameterError
from lrp_studio.gui.training_panel import build_network, rows_from_network
from lrp_studio.zoo import build_architecture

CONV = {"type": "conv", "size": 4, "kernel": 3, "activation": "relu", "pool": "maxpool2d", "norm": "batchnorm"}
RES1 = {"type": "res", "size": 4, "kernel": 3, "activation": "relu", "pool": "stride 1", "norm": "batchnorm"}
RES2 = {"type": "res", "size": 6, "kernel": 3, "activation": "relu", "pool": "stride 2", "norm": "batchnorm"}


def test_res_rows_build_the_vocabularys_graph():
    mnist = load_mnist_subset("test")
    net = build_network([CONV, RES1, RES2], mnist)
    spec = "conv:4:3,bn,relu,maxpool:2,res:4,res:6:s2,gap,dense:10"
    assert net.spec()["layers"] == build_architecture(spec, mnist.sample_shape).spec()["layers"]
    assert net.names[net.layers.index(next(l for l in net.layers if l.type_name == "add"))] == "block1.add"
    assert net.shapes[net.names.index("block2.relu2") + 1] == (6, 7, 7)
    assert rows_from_network(net) == [CONV, RES1, RES2]
    dense = {"type": "dense", "size": 8, "kernel": 3, "activation": "tanh", "pool": "none", "norm": "none"}
    with_dense = build_network([CONV, RES2, dense], mnist)
    kinds = [layer.type_name for layer in with_dense.layers]
    assert kinds[-4:] == ["globalavgpool", "dense", "tanh", "dense"]
    assert rows_from_network(with_dense) == [CONV, RES2, dense]
    with pytest.raises(ParameterError, match="row 2: conv layers and residual blocks need image inputs"):
        build_network([dense, RES1], mnist)


def test_the_bundled_architecture_reads_back_as_rows():
    rows = rows_from_network(build_architecture("resnet"))
    assert [(r["type"], r["size"], r["pool"], r["norm"]) for r in rows] == [
        ("conv", 16, "maxpool2d", "batchnorm"), ("res", 16, "stride 1", "batchnorm"), ("res", 32, "stride 2", "batchnorm")]


def test_the_editor_adds_a_residual_block_and_trains_it(qtbot, window):
    panel = window.training_panel
    panel.arch_table.setRowCount(0)
    panel.add_conv_button.click()
    panel.add_res_button.click()
    panel.add_res_button.click()
    assert [r["type"] for r in panel.rows()] == ["conv", "res", "res"]
    stride = panel.arch_table.cellWidget(2, 4)
    assert [stride.itemData(i) for i in range(stride.count())] == ["stride 1", "stride 2"]
    stride.setCurrentIndex(stride.findData("stride 2"))
    panel.arch_table.cellWidget(2, 1).setValue(6)
    assert not panel.arch_table.cellWidget(1, 5).isEnabled() and panel.rows()[1]["norm"] == "batchnorm"
    assert "global average pooling, dense 10" in panel.output_label.text()
    panel.arch_table.cellWidget(0, 0).setCurrentText("res")  # a type change swaps pools for strides
    assert panel.rows()[0]["pool"] == "stride 1"
    panel.arch_table.cellWidget(0, 0).setCurrentText("conv")
    assert panel.rows()[0]["pool"] == "none"
    pool = panel.arch_table.cellWidget(0, 4)
    pool.setCurrentIndex(pool.findData("maxpool2d"))  # 12x12 maps: a lighter graph to draw
    panel.build_button.click()
    assert window.wait_idle(120)
    net = window.state.net
    assert not net.is_sequential and [l.type_name for l in net.layers].count("add") == 2
    assert net.shapes[-2] == (6,) and net.shapes[net.names.index("block1.conv1")] == (8, 12, 12)
    window.state.set_dataset(load_mnist_subset("all").subset(np.arange(0, 5000, 25), name="mnist-small"))
    assert window.wait_idle(120)
    panel.epochs_spin.setValue(1)
    panel.batch_spin.setValue(20)
    before = {key: value.copy() for key, value in net.state_dict().items()}
    with qtbot.waitSignal(panel.trainingFinished, timeout=180_000) as finished:
        panel.start_button.click()
    assert finished.args == ["done"]
    after = window.state.net.state_dict()
    assert set(after) == set(before)
    assert not np.array_equal(after["block2.conv1.weight"], before["block2.conv1.weight"])
    assert not np.array_equal(after["block1.bn2.running_mean"], before["block1.bn2.running_mean"])
    assert window.state.net.training is False
    panel.from_model_button.click()
    assert [r["type"] for r in panel.rows()] == ["conv", "res", "res"] and panel.rows()[2]["pool"] == "stride 2"
