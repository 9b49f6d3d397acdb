"""app/fitting.py: does a dataset fit a network (sample size, and outputs against classes)?"""

from __future__ import annotations

import numpy as np
import pytest

from lrp_studio.app.fitting import check_fits, classes_fit
from lrp_studio.data import Dataset
from lrp_studio.errors import DataError
from lrp_studio.zoo import build_architecture


def _data(shape: tuple[int, ...], classes: int) -> Dataset:
    return Dataset("d", np.zeros((classes, *shape), np.float32), np.arange(classes), [str(k) for k in range(classes)])


@pytest.mark.parametrize(("outputs", "classes", "fits"), [(10, 10, True), (3, 2, False), (1, 2, True),
                                                          (1, 3, False), (2, 3, False)])
def test_classes_fit_one_output_per_class_or_one_logit_for_two(outputs, classes, fits):
    net = build_architecture(f"dense:{outputs}", input_shape=(2,), seed=0)
    assert classes_fit(_data((2,), classes), net) is fits


def test_check_fits_compares_values_per_sample_not_shape():
    net = build_architecture("dense:2", input_shape=(1, 2, 2), seed=0)
    data = _data((4,), 2)
    assert check_fits(data, net) is data  # a flat 4-value sample fits a 1x2x2 input
    with pytest.raises(DataError, match=r"samples of shape \(5,\)"):
        check_fits(_data((5,), 2), net)
