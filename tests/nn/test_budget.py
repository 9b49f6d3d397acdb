"""Chunk sizes from a memory budget (lrp_studio/nn/budget.py), worked out by hand."""

from __future__ import annotations

from lrp_studio.nn import Network
from lrp_studio.nn.budget import FORWARD_BUDGET, chunk_size, forward_chunk


def _net(spec: dict) -> Network:
    return Network.from_spec(spec, seed=0)


def test_dense_chunk_counts_every_stage_value():
    net = _net({"input_shape": [4], "layers": [{"type": "dense", "in_features": 4, "out_features": 3},
                                               {"type": "relu"}, {"type": "dense", "in_features": 3, "out_features": 2}]})
    # stages: input 4, dense 3, relu 3, dense 2 = 12 values per sample
    assert chunk_size(net, 120) == 10 and chunk_size(net, 131) == 10 and chunk_size(net, 11) == 1


def test_conv_chunk_adds_the_im2col_columns():
    net = _net({"input_shape": [1, 5, 5], "layers": [
        {"type": "conv2d", "in_channels": 1, "out_channels": 2, "kernel_size": 3, "stride": 1, "padding": 0},
        {"type": "relu"}, {"type": "flatten"}, {"type": "dense", "in_features": 18, "out_features": 2}]})
    # stages 25 + 18 + 18 + 18 + 2 = 81, im2col: fan-in 9 x 9 output positions = 81 -> 162 per sample
    assert chunk_size(net, 162 * 7) == 7 and chunk_size(net, 162 * 7 - 1) == 6


def test_forward_chunk_is_the_larger_budget_capped_by_the_limit():
    net = _net({"input_shape": [4], "layers": [{"type": "dense", "in_features": 4, "out_features": 2}]})
    assert forward_chunk(net) == 2048 and forward_chunk(net, 100) == 100  # 6 values per sample: the limit wins
    wide = _net({"input_shape": [3, 64, 64], "layers": [
        {"type": "conv2d", "in_channels": 3, "out_channels": 64, "kernel_size": 3, "stride": 1, "padding": 1},
        {"type": "flatten"}, {"type": "dense", "in_features": 64 * 64 * 64, "out_features": 2}]})
    per_sample = 3 * 4096 + 2 * 64 * 4096 + 2 + 27 * 4096  # input, conv and flatten, dense out, im2col
    assert forward_chunk(wide) == FORWARD_BUDGET // per_sample < 2048
