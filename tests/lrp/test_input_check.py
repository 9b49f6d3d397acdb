"""The out-of-range warning: input_range, explicit z-box bounds (scalar and per channel), the likely fix."""

import numpy as np

from lrp_studio.lrp.input_check import range_warning


def test_inside_the_range_and_float_noise_are_quiet():
    x = np.linspace(0, 1, 50, dtype=np.float32).reshape(2, 1, 5, 5)
    assert range_warning(x, (0.0, 1.0)) is None
    assert range_warning(x + 5e-4, (0.0, 1.0)) is None  # within the 1e-3 tolerance
    assert range_warning(x * 255, None) is None


def test_pixels_and_normalised_tensors_get_their_fix():
    x = np.linspace(0, 1, 25).reshape(1, 1, 5, 5)
    assert "divide by 255" in range_warning(x * 255, (0.0, 1.0))
    assert "already normalised" in range_warning((x - 0.5) / 0.25, (0.0, 1.0))
    assert "rescale the input to [-1, 1]" in range_warning(x * 10 - 5, (-1.0, 1.0))


def test_explicit_zbox_bounds_per_channel():
    x = np.zeros((1, 2, 3, 3))
    x[0, 1] = 0.9
    assert range_warning(x, (0.0, 1.0), (0.0, 1.0)) is None
    message = range_warning(x, (0.0, 1.0), ([0.0, 0.0], [1.0, 0.5]))
    assert "outside the z-box bounds [0, [1, 0.5]]" in message
    assert range_warning(x, (0.0, 1.0), ([0.0, 0.0], [0.5, 1.0])) is None  # channel 0 is 0, channel 1 0.9 <= 1
