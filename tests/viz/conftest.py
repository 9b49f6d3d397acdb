"""Small graph networks for the network-view tests (built with the nn API, never trained)."""

from __future__ import annotations

import numpy as np
import pytest

from lrp_studio.nn import Add, BatchNorm, Concat, Conv2d, Dense, GlobalAvgPool, Network, ReLU


def residual_cnn(seed: int = 0, channels: tuple[int, int] = (4, 6)) -> Network:
    """stem conv-bn-relu, an identity block, a strided block with a 1x1 projection, GAP, dense 10.

    Stages: 3 stem, 9 block-1 add, 10 its relu (read by conv and projection), 18/19 block-2 add.
    """
    a, b = channels
    layers = [
        Conv2d(1, a, 3, 1, 1), BatchNorm(a), ReLU(),                 # 0-2 -> stage 3
        Conv2d(a, a, 3, 1, 1), BatchNorm(a), ReLU(),                 # 3-5
        Conv2d(a, a, 3, 1, 1), BatchNorm(a),                         # 6-7 -> stage 8
        Add(), ReLU(),                                               # 8 reads (8, 3); 9 -> stage 10
        Conv2d(a, b, 3, 2, 1), BatchNorm(b), ReLU(),                 # 10-12 read 10
        Conv2d(b, b, 3, 1, 1), BatchNorm(b),                         # 13-14 -> stage 15
        Conv2d(a, b, 1, 2, 0), BatchNorm(b),                         # 15-16 projection reads 10 -> 17
        Add(), ReLU(),                                               # 17 reads (15, 17); 18 -> stage 19
        GlobalAvgPool(), Dense(b, 10),                               # 19, 20 -> stage 21
    ]
    inputs = [(0,), (1,), (2,), (3,), (4,), (5,), (6,), (7,), (8, 3), (9,), (10,), (11,), (12,), (13,), (14,),
              (10,), (16,), (15, 17), (18,), (19,), (20,)]
    net = Network(layers, (1, 28, 28), input_range=(0.0, 1.0), inputs=inputs)
    net.init_weights(seed)
    rng = np.random.default_rng(seed)
    for layer in net.layers:
        if isinstance(layer, BatchNorm):
            n = layer.num_features
            layer.params["weight"][...] = rng.uniform(0.5, 1.5, n)
            layer.params["bias"][...] = rng.normal(0, 0.1, n)
            layer.buffers["running_mean"][...] = rng.normal(0, 0.1, n)
            layer.buffers["running_var"][...] = rng.uniform(0.5, 1.5, n)
    return net


def branching_mlp(skip_first: bool = False) -> Network:
    """A dense net with a concat of two branches and an additive skip around one of them
    (``skip_first``: the addition lists the skip as its first input)."""
    layers = [
        Dense(6, 8), ReLU(),            # 0-1 -> stage 2
        Dense(8, 5), ReLU(),            # 2-3 branch a -> stage 4
        Dense(8, 3), ReLU(),            # 4-5 branch b reads 2 -> stage 6
        Concat(),                       # 6 reads (4, 6) -> stage 7 (8 neurons)
        Dense(8, 8),                    # 7 -> stage 8
        Add(),                          # 8 reads (8, 2) -> stage 9
        Dense(8, 3),                    # 9 -> stage 10
    ]
    inputs = [(0,), (1,), (2,), (3,), (2,), (5,), (4, 6), (7,), (2, 8) if skip_first else (8, 2), (9,)]
    net = Network(layers, (6,), classes=["a", "b", "c"], inputs=inputs)
    net.init_weights(1)
    return net


@pytest.fixture(scope="module")
def resnet() -> Network:
    return residual_cnn()


@pytest.fixture(scope="module")
def branchy() -> Network:
    return branching_mlp()


@pytest.fixture(scope="module")
def make_branchy():
    return branching_mlp
