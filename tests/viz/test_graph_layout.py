"""Strongest-edge primitives: top-k per target, sign/magnitude pens, strongest indices."""

from __future__ import annotations

import numpy as np
import pytest

from lrp_studio.errors import ParameterError
from lrp_studio.viz import (
    bin_edges_by_sign_and_magnitude,
    strongest,
    top_k_edges,
)


def slow_top_k(messages: np.ndarray, k: int) -> tuple[list[int], list[int], list[float]]:
    """Formula-literal twin: per output neuron, sort its inputs by |message| and keep k."""
    src, dst, values = [], [], []
    for j in range(messages.shape[1]):
        order = sorted(range(messages.shape[0]), key=lambda i: -abs(messages[i, j]))[:k]
        for i in order:
            src.append(i)
            dst.append(j)
            values.append(messages[i, j])
    return src, dst, values


@pytest.mark.parametrize(("n_in", "n_out", "k"), [(784, 30, 5), (20, 7, 1), (5, 4, 5), (3, 6, 10)])
def test_top_k_matches_slow_loop(n_in: int, n_out: int, k: int) -> None:
    messages = np.random.default_rng(n_in + k).normal(size=(n_in, n_out)).astype(np.float32)
    src, dst, values = top_k_edges(messages, k)
    slow_src, slow_dst, slow_values = slow_top_k(messages, k)
    assert src.dtype == np.int64 and dst.dtype == np.int64
    assert src.tolist() == slow_src and dst.tolist() == slow_dst
    assert np.array_equal(values, np.array(slow_values, dtype=np.float32))


def test_top_k_drop_zero() -> None:
    messages = np.array([[0.0, 1.0], [0.0, -2.0], [0.0, 0.5]])
    src, dst, values = top_k_edges(messages, 2, drop_zero=True)
    assert src.tolist() == [1, 0] and dst.tolist() == [1, 1] and values.tolist() == [-2.0, 1.0]


def test_top_k_validation() -> None:
    with pytest.raises(ParameterError):
        top_k_edges(np.ones((3, 3)), 0)
    with pytest.raises(ParameterError):
        top_k_edges(np.ones(3), 1)


def test_bins_cover_every_edge_once() -> None:
    values = np.random.default_rng(1).normal(size=500)
    groups = bin_edges_by_sign_and_magnitude(values, n_bins_per_sign=8)
    assert len(groups) == 16
    expected = [(-1, b) for b in range(8)] + [(1, b) for b in range(8)]
    assert [(s, b) for s, b, _ in groups] == expected
    counts = np.sum([mask.astype(int) for _, _, mask in groups], axis=0)
    assert np.all(counts == 1)
    for sign, bin_index, mask in groups:
        assert np.all(np.sign(values[mask]) == sign)
        magnitude = np.abs(values[mask]) / np.abs(values).max()
        assert np.all(magnitude >= bin_index / 8 - 1e-12)
        assert np.all(magnitude <= (bin_index + 1) / 8 + 1e-12)
    strongest = int(np.argmax(np.abs(values)))
    assert any(mask[strongest] and b == 7 for _, b, mask in groups)


def test_bins_zero_values_and_vmax() -> None:
    groups = bin_edges_by_sign_and_magnitude(np.zeros(3), n_bins_per_sign=2)
    assert groups[2][2].tolist() == [True, True, True]  # sign +1, bin 0
    groups = bin_edges_by_sign_and_magnitude(np.array([1.0, -10.0]), n_bins_per_sign=4, vmax=2.0)
    assert groups[3][2].tolist() == [False, True] and groups[6][2].tolist() == [True, False]


def test_strongest_orders_by_magnitude_and_drops_zeros() -> None:
    values = np.array([0.5, -3.0, 0.0, 2.0, -0.5, 0.0])
    assert strongest(values, 10).tolist() == [1, 3, 0, 4]  # ties keep their order, zeros dropped
    assert strongest(values, 2).tolist() == [1, 3]
    assert strongest(values, 0).tolist() == []
    assert strongest(np.zeros(4), 3).tolist() == []
