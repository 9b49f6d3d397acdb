"""Does a dataset fit a network? One check for the CLI and the batch export."""

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
