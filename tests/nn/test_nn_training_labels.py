"""Training refuses labels the network cannot learn (out of range, negative, non-finite) with a DataError."""

from __future__ import annotations

import numpy as np
import pytest

from lrp_studio import fit
from lrp_studio.errors import DataError
from lrp_studio.nn import mlp


@pytest.mark.parametrize("outputs, loss, labels, fragment", [
    (3, "cross-entropy", np.arange(12) % 5, "labels must lie in 0..2"),
    (3, "mse", np.arange(12) % 4, "labels must lie in 0..2"),
    (3, "cross-entropy", -(np.arange(12) % 2), "labels must lie in 0..2"),  # -1 would silently index the last class
    (1, "bce", np.arange(12) % 3, "labels must lie in 0..1"),
    (1, "bce", -np.ones(12, int), "labels must lie in 0..1"),
    (3, "cross-entropy", np.where(np.arange(12) == 3, np.nan, 1.0), "NaN or infinite"),
    (3, "cross-entropy", np.array(["a"] * 12), "labels must be integers"),
])
def test_labels_out_of_range_are_refused_before_training(outputs, loss, labels, fragment):
    net = mlp([4, 6, outputs], input_shape=(4,), seed=0)
    before = {k: v.copy() for k, v in net.state_dict().items()}
    x = np.random.default_rng(0).random((12, 4)).astype(np.float32)
    with pytest.raises(DataError, match=fragment):
        fit(net, x, labels, epochs=1, loss=loss)
    assert all(np.array_equal(before[k], v) for k, v in net.state_dict().items())
