"""Add, Concat and GlobalAvgPool: loop twins for forward, central finite differences for backward.

Everything runs in float64 (the layers are dtype-agnostic); the scalar under test is
``sum(y * r)`` with random ``r``, whose gradient w.r.t. y is ``r``.
"""

from __future__ import annotations

import numpy as np
import pytest

from lrp_studio.backend import to_numpy
from lrp_studio.errors import ParameterError
from lrp_studio.nn import layers as L

from finite_differences import numerical_grad


def check_merge_gradients(layer, xs, xp, rng):
    y, cache = layer.forward(xs)
    r = xp.asarray(rng.standard_normal(y.shape))
    grads, params = layer.backward(r, cache)
    assert params == {} and len(grads) == len(xs)

    def scalar():
        return float((layer.forward(xs)[0] * r).sum())

    for i, (x, g) in enumerate(zip(xs, grads)):
        assert g.shape == x.shape
        np.testing.assert_allclose(to_numpy(g), numerical_grad(scalar, to_numpy(x) if xp is np else x),
                                   rtol=1e-6, atol=1e-8, err_msg=f"input {i}")


# ------------------------------------------------------------------------------- add


def test_add_is_the_elementwise_sum_of_a_loop(backend):
    rng = np.random.default_rng(0)
    xs = [rng.standard_normal((2, 3, 4, 5)) for _ in range(3)]
    y, _ = L.Add().forward([backend.asarray(x) for x in xs])
    twin = np.zeros((2, 3, 4, 5))
    for index in np.ndindex(twin.shape):
        twin[index] = sum(x[index] for x in xs)
    np.testing.assert_allclose(to_numpy(y), twin, rtol=1e-12)
    # forward must not write into its inputs
    again = [backend.asarray(x.copy()) for x in xs]
    L.Add().forward(again)
    for a, x in zip(again, xs):
        np.testing.assert_array_equal(to_numpy(a), x)


@pytest.mark.parametrize("count", [2, 3])
def test_add_gradients(count):
    rng = np.random.default_rng(count)
    xs = [rng.standard_normal((2, 3, 2, 2)) for _ in range(count)]
    check_merge_gradients(L.Add(), xs, np, rng)


def test_add_backward_gives_each_input_its_own_array():
    grads, _ = L.Add().backward(np.ones((2, 3)), 3)
    grads[0] += 1
    np.testing.assert_array_equal(grads[1], np.ones((2, 3)))


def test_add_shapes():
    assert L.Add().output_shape([(3, 4, 4), (3, 4, 4)]) == (3, 4, 4)
    with pytest.raises(ParameterError, match="equal shape"):
        L.Add().output_shape([(3, 4, 4), (3, 4, 5)])
    with pytest.raises(ParameterError, match="at least 2"):
        L.Add().output_shape([(3,)])
    assert L.Add().is_merge and not L.Dense(2, 2).is_merge


# ------------------------------------------------------------------------------ concat


def test_concat_matches_a_channel_loop(backend):
    rng = np.random.default_rng(1)
    xs = [rng.standard_normal((2, c, 3, 4)) for c in (1, 3, 2)]
    y, sizes = L.Concat().forward([backend.asarray(x) for x in xs])
    assert sizes == [1, 3, 2]
    twin = np.zeros((2, 6, 3, 4))
    channel = 0
    for x in xs:
        for c in range(x.shape[1]):
            for n in range(2):
                for i in range(3):
                    for j in range(4):
                        twin[n, channel, i, j] = x[n, c, i, j]
            channel += 1
    np.testing.assert_array_equal(to_numpy(y), twin)


@pytest.mark.parametrize("shapes", [[(2, 2, 3, 3), (2, 3, 3, 3)], [(3, 2), (3, 4), (3, 1)]], ids=["nchw", "dense"])
def test_concat_gradients(shapes):
    rng = np.random.default_rng(2)
    xs = [rng.standard_normal(s) for s in shapes]
    check_merge_gradients(L.Concat(), xs, np, rng)


def test_concat_shapes():
    assert L.Concat().output_shape([(2, 5, 5), (3, 5, 5)]) == (5, 5, 5)
    assert L.Concat().output_shape([(2,), (7,)]) == (9,)
    with pytest.raises(ParameterError, match="only in their channels"):
        L.Concat().output_shape([(2, 5, 5), (2, 5, 4)])
    with pytest.raises(ParameterError, match="only in their channels"):
        L.Concat().output_shape([(2, 5, 5), (10,)])


# -------------------------------------------------------------------------- global avg pool


def test_global_avg_pool_matches_a_loop(backend):
    rng = np.random.default_rng(3)
    x = rng.standard_normal((2, 3, 4, 5))
    y, _ = L.GlobalAvgPool().forward(backend.asarray(x))
    twin = np.zeros((2, 3))
    for n in range(2):
        for c in range(3):
            total = 0.0
            for i in range(4):
                for j in range(5):
                    total += x[n, c, i, j]
            twin[n, c] = total / 20
    np.testing.assert_allclose(to_numpy(y), twin, rtol=1e-12)
    assert L.GlobalAvgPool().output_shape((3, 4, 5)) == (3,)
    with pytest.raises(ParameterError, match=r"\(C, H, W\)"):
        L.GlobalAvgPool().output_shape((12,))


def test_global_avg_pool_gradients():
    rng = np.random.default_rng(4)
    layer = L.GlobalAvgPool()
    x = rng.standard_normal((2, 3, 3, 4))
    y, cache = layer.forward(x)
    r = rng.standard_normal(y.shape)
    grad, params = layer.backward(r, cache)
    assert params == {}
    np.testing.assert_allclose(grad, numerical_grad(lambda: float((layer.forward(x)[0] * r).sum()), x),
                               rtol=1e-6, atol=1e-8)


@pytest.mark.parametrize("entry", [{"type": "add"}, {"type": "concat"}, {"type": "globalavgpool"}])
def test_new_layers_round_trip_their_spec(entry):
    layer = L.layer_from_spec(entry)
    assert layer.spec() == entry and layer.params == {} and layer.buffers == {}
