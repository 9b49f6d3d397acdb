"""Does a dataset fit a network? One check for the CLI, the batch export and the app."""

from __future__ import annotations

import numpy as np

from lrp_studio.data import Dataset
from lrp_studio.errors import DataError
from lrp_studio.nn import Network


def check_fits(data: Dataset, net: Network) -> Dataset:
    """``data`` unchanged when one sample has as many values as ``net``'s input.

    Raises
    ------
    DataError
        Naming the dataset, its sample shape and the model's input shape.
    """
    if int(np.prod(data.sample_shape)) != int(np.prod(net.input_shape)):
        raise DataError(f"{data.name}: samples of shape {tuple(data.sample_shape)} do not fit the model's input "
                        f"shape {tuple(net.input_shape)}")
    return data


def classes_fit(data: Dataset, net: Network) -> bool:
    """Whether ``net``'s outputs explain ``data``'s classes: one output per class, or one output
    (a logit, ``z > 0`` meaning class 1) for two classes."""
    outputs, classes = int(net.n_classes), int(data.n_classes)
    return outputs == classes or (outputs == 1 and classes == 2)
