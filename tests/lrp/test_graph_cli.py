"""``lrp-studio explain --layers`` on a graph: one line per merge saying how it divided its relevance."""

from __future__ import annotations

import re

import numpy as np

import lrp_studio
from lrp_studio.cli import main
from lrp_studio.lrp.metrics import merge_lines


def test_explain_layers_prints_each_merge_share_of_the_bundled_resnet(capsys):
    assert main(["explain", "--model", "resnet", "--dataset", "mnist", "--index", "7", "--layers",
                 "--method", "epsilon-plus-flat"]) == 0
    out = capsys.readouterr().out
    lines = [line.strip() for line in out.splitlines() if line.strip().startswith("add '")]
    assert [line.split(":")[0] for line in lines] == ["add 'block1.add'", "add 'block2.add'"]
    for line in lines:
        shares = [float(v) for v in re.findall(r"([-\d.]+) % to", line)]
        assert len(shares) == 2 and abs(sum(shares) - 100.0) < 0.2
    assert "'block2.bn2'" in lines[1] and "'block2.shortcut_bn'" in lines[1]


def test_merge_lines_name_the_inputs_and_skip_sequential_networks():
    net = lrp_studio.load_model("resnet")
    add = net.names.index("block2.add")
    assert merge_lines(net, {add: [0.75, 0.25]}) == [
        "add 'block2.add': 75.0 % to 'block2.bn2', 25.0 % to 'block2.shortcut_bn'"]
    cnn = lrp_studio.load_model("cnn")
    exp = lrp_studio.explain(cnn, np.zeros((1, 1, 28, 28), np.float32))
    assert merge_lines(cnn, exp.merge_shares) == []
