"""Neural networks on the array backend: layers, network, losses, optimizers, training."""

from lrp_studio.nn.layers import (
    LAYER_TYPES, Activation, Add, AvgPool2d, BatchNorm, Concat, Conv2d, Dense, Flatten, GlobalAvgPool, Layer,
    MaxPool2d, ReLU, Sigmoid, Tanh, layer_from_spec,
)
from lrp_studio.nn.builders import architecture_layers, parse_layer_tokens
from lrp_studio.nn.losses import LOSSES, accuracy, get_loss, sigmoid, softmax
from lrp_studio.nn.network import Network, Trace, lenet, mlp
from lrp_studio.nn.optimizers import OPTIMIZERS, make_optimizer
from lrp_studio.nn.training import Progress, evaluate, fit, train

__all__ = [
    "LAYER_TYPES", "LOSSES", "OPTIMIZERS", "Activation", "Add", "AvgPool2d", "BatchNorm", "Concat", "Conv2d", "Dense",
    "Flatten", "GlobalAvgPool", "Layer",
    "MaxPool2d", "Network", "Progress", "ReLU", "Sigmoid", "Tanh", "Trace", "accuracy", "architecture_layers",
    "evaluate", "fit", "get_loss", "layer_from_spec", "lenet", "make_optimizer", "mlp", "parse_layer_tokens",
    "sigmoid", "softmax", "train",
]
