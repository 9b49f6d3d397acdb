"""Wide layers draw at most MAX_EDGES_PER_CONNECTION lines: the strongest of the per-target top-k."""

import numpy as np

from lrp_studio.data import load_mnist_subset
from lrp_studio.gui.graph_view import NetworkView
from lrp_studio.lrp.explain import explain
from lrp_studio.viz.graph_edges import MAX_EDGES_PER_CONNECTION
from lrp_studio.viz.graph_layout import top_k_edges
from lrp_studio.zoo import load_any_model


def test_wide_mlp_edges_are_capped_to_the_strongest(qtbot):
    net = load_any_model("mlp")
    view = NetworkView()
    qtbot.addWidget(view)
    view.set_network(net)
    view.set_top_k(6)  # 100 targets x 6 candidates: more than the cap
    exp = explain(net, load_mnist_subset("test").x[:1], method="epsilon-plus", messages=True)
    view.set_explanation(exp)
    edges = {layer: (src, dst, values) for layer, src, dst, values in view.edge_data()}
    assert 3 in edges  # dense 300 -> dense 100
    for layer, (src, dst, values) in edges.items():
        assert len(values) <= MAX_EDGES_PER_CONNECTION
    src, dst, values = edges[3]
    _, _, candidates = top_k_edges(exp.messages[3], 6, drop_zero=True)
    assert len(candidates) > MAX_EDGES_PER_CONNECTION  # the cap really applied here
    strongest = np.sort(np.abs(candidates))[::-1][:MAX_EDGES_PER_CONNECTION]
    np.testing.assert_allclose(np.sort(np.abs(values))[::-1], strongest)
