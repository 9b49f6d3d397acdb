"""Graph geometry and strongest-edge selection."""

from __future__ import annotations

import numpy as np
import pytest

from lrp_studio.errors import ParameterError
from lrp_studio.viz import (
    bin_edges_by_sign_and_magnitude,
    column_positions,
    edge_segments,
    top_k_edges,
)


def test_column_positions() -> None:
    columns = column_positions([3, 1, 4], width=300.0, height=120.0)
    assert [c.shape for c in columns] == [(3, 2), (1, 2), (4, 2)]
    assert [c[0, 0] for c in columns] == [50.0, 150.0, 250.0]
    for column in columns:
        assert np.all(column[:, 0] == column[0, 0])
        assert np.isclose(column[:, 1].mean(), 60.0)
        assert np.all(np.diff(column[:, 1]) > 0)
        assert column[:, 1].min() > 0 and column[:, 1].max() < 120
    assert np.allclose(columns[0][:, 1], [20.0, 60.0, 100.0])


def test_column_positions_max_spacing() -> None:
    (column,) = column_positions([3], width=10.0, height=100.0, max_spacing=5.0)
    assert np.allclose(column[:, 1], [45.0, 50.0, 55.0])


@pytest.mark.parametrize(("sizes", "w", "h"), [([0], 1.0, 1.0), ([2], 0.0, 1.0), ([2.5], 1.0, 1.0)])
def test_column_positions_validation(sizes: list, w: float, h: float) -> None:
    with pytest.raises(ParameterError):
        column_positions(sizes, w, h)


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


def test_edge_segments() -> None:
    left = np.array([[0.0, 0.0], [0.0, 1.0]])
    right = np.array([[5.0, 0.5]])
    segments = edge_segments(left, right, np.array([1, 0]), np.array([0, 0]))
    assert segments.tolist() == [[0.0, 1.0], [5.0, 0.5], [0.0, 0.0], [5.0, 0.5]]
