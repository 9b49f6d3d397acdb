"""The array backend module: choosing numpy/cupy, xp_of, to_numpy, asarray."""

from __future__ import annotations

import numpy as np
import pytest

from lrp_studio import backend as b
from lrp_studio.errors import ParameterError


def _cupy_usable():
    try:
        import cupy

        return bool(cupy.is_available())
    except Exception:
        return False


@pytest.fixture
def restore_backend(monkeypatch):
    """Let a test change the process-wide backend; the old one comes back afterwards."""
    monkeypatch.setattr(b, "_xp", b._xp)


def test_set_backend_numpy(restore_backend):
    assert b.set_backend("numpy") is np
    assert b.get_xp() is np
    assert b.set_backend("  NumPy ") is np  # case and spaces do not matter
    assert b.describe().startswith("NumPy ")


@pytest.mark.parametrize("name", ["torch", "", "gpu", "numpy2"])
def test_unknown_backend_name(restore_backend, name):
    b.set_backend("numpy")
    with pytest.raises(ParameterError):
        b.set_backend(name)
    assert b.get_xp() is np  # unchanged


def test_cupy_without_gpu_is_a_parameter_error(restore_backend, monkeypatch):
    monkeypatch.setattr(b, "_load_cupy", lambda: None)
    b.set_backend("numpy")
    with pytest.raises(ParameterError, match="cupy"):
        b.set_backend("cupy")
    assert b.get_xp() is np
    assert b.set_backend("auto") is np  # auto falls back to numpy


@pytest.mark.skipif(_cupy_usable(), reason="a usable GPU is present")
def test_cupy_on_this_machine_is_refused(restore_backend):
    with pytest.raises(ParameterError):
        b.set_backend("cupy")
    assert b.set_backend("auto") is np


def test_environment_variable_chooses_on_first_use(restore_backend, monkeypatch):
    monkeypatch.setattr(b, "_xp", None)
    monkeypatch.setenv(b.ENV_VAR, "numpy")
    assert b.get_xp() is np
    monkeypatch.setattr(b, "_xp", None)
    monkeypatch.setenv(b.ENV_VAR, "bogus")
    with pytest.raises(ParameterError):
        b.get_xp()


def test_xp_of_numpy_arrays():
    a = np.zeros(3)
    assert b.xp_of(a) is np
    assert b.xp_of(a, None, np.ones((2, 2))) is np
    assert b.xp_of() is np
    assert b.xp_of([1, 2], 3.0) is np


def test_to_numpy():
    a = np.arange(6.0).reshape(2, 3)
    assert b.to_numpy(a) is a  # no copy for NumPy arrays
    converted = b.to_numpy([[1, 2], [3, 4]])
    assert isinstance(converted, np.ndarray) and converted.shape == (2, 2)
    assert isinstance(b.to_numpy(2.5), np.ndarray)


def test_asarray_uses_the_backend_and_dtype(backend):
    out = b.asarray(np.arange(4, dtype=np.int64))
    assert b.xp_of(out) is backend
    assert out.dtype == np.float32
    assert b.asarray([1, 2], dtype=np.float64).dtype == np.float64
    np.testing.assert_array_equal(b.to_numpy(out), [0, 1, 2, 3])


def test_backend_fixture_roundtrip(backend):
    """Arrays made on the backend come back as NumPy through to_numpy."""
    arr = backend.asarray(np.array([1.0, 2.0], np.float32))
    assert b.xp_of(arr) is backend
    back = b.to_numpy(arr)
    assert isinstance(back, np.ndarray)
    np.testing.assert_array_equal(back, [1.0, 2.0])
