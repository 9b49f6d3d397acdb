"""Merge lines name an input with a default name by its type and layer index, not by a bare number."""

from __future__ import annotations

import lrp_studio
from lrp_studio.lrp.metrics import merge_lines, node_label


def test_default_named_input_reads_as_a_layer() -> None:
    net = lrp_studio.load_model("resnet")
    add = net.names.index("block1.add")
    skip = net.node_inputs[add][1] - 1
    assert net.names[skip] == str(skip)  # the stem's pool has a default name
    assert node_label(net, skip) == f"{net.layers[skip].type_name} (layer {skip})"
    (line,) = merge_lines(net, {add: [0.5, 0.5]})
    assert line.endswith(f"50.0 % to '{net.layers[skip].type_name} (layer {skip})'")
    assert node_label(net, add) == "block1.add"
