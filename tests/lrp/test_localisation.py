"""Relevance mass and rank accuracy (Arras et al. 2022) on hand-worked heatmaps, and against formula-literal twins."""

import numpy as np
import pytest

from lrp_studio.errors import DataError
from lrp_studio.lrp.localisation import (
    evaluate_localisation, pooled_heatmaps, relevance_mass_accuracy, relevance_rank_accuracy,
)


def _mask(*pixels, shape=(3, 3)):
    mask = np.zeros(shape, dtype=bool)
    for p in pixels:
        mask[p] = True
    return mask


def test_mass_accuracy_hand_worked():
    # positive relevance 3 + 1 inside, 2 + 4 outside (the -5 does not count): 4 / 10
    heat = np.array([[3.0, 1.0, -5.0], [2.0, 0.0, 0.0], [0.0, 0.0, 4.0]])
    mask = _mask((0, 0), (0, 1), (0, 2))
    assert relevance_mass_accuracy(heat[None], mask[None])[0] == pytest.approx(0.4)


def test_mass_accuracy_without_positive_relevance_is_zero():
    assert relevance_mass_accuracy(-np.ones((1, 3, 3)), _mask((1, 1))[None])[0] == 0.0


def test_rank_accuracy_hand_worked():
    # K = 2 mask pixels; the two most relevant are (2, 2) = 9 (outside) and (0, 0) = 5 (inside): 1 / 2
    heat = np.array([[5.0, 4.0, 0.0], [0.0, 0.0, 0.0], [0.0, 0.0, 9.0]])
    assert relevance_rank_accuracy(heat[None], _mask((0, 0), (0, 1))[None])[0] == pytest.approx(0.5)


def test_rank_ties_go_to_the_earlier_pixel():
    heat = np.zeros((1, 3, 3))
    assert relevance_rank_accuracy(heat, _mask((0, 0))[None])[0] == 1.0
    assert relevance_rank_accuracy(heat, _mask((2, 2))[None])[0] == 0.0


def _mass_twin(h, m):
    pos = [v for v in h.ravel() if v > 0]
    inside = [v for v, inside in zip(h.ravel(), m.ravel()) if v > 0 and inside]
    return sum(inside) / sum(pos) if pos else 0.0


def _rank_twin(h, m):
    k = int(m.sum())
    ranked = sorted(range(h.size), key=lambda p: (-h.ravel()[p], p))[:k]
    return sum(bool(m.ravel()[p]) for p in ranked) / k


def test_metrics_agree_with_formula_literal_twins():
    rng = np.random.default_rng(0)
    heat = rng.normal(size=(20, 6, 7)).round(1)  # rounding makes ties
    masks = rng.random((20, 6, 7)) < 0.3
    masks[:, 0, 0] = True
    np.testing.assert_allclose(relevance_mass_accuracy(heat, masks), [_mass_twin(h, m) for h, m in zip(heat, masks)])
    np.testing.assert_allclose(relevance_rank_accuracy(heat, masks), [_rank_twin(h, m) for h, m in zip(heat, masks)])


def test_pooling_sums_channels_and_bad_shapes_raise():
    relevance = np.arange(2 * 3 * 2 * 2, dtype=float).reshape(2, 3, 2, 2)
    np.testing.assert_allclose(pooled_heatmaps(relevance), relevance.sum(axis=1))
    with pytest.raises(DataError):
        pooled_heatmaps(np.ones((2, 4)))
    with pytest.raises(DataError):
        relevance_rank_accuracy(np.ones((1, 2, 2)), np.zeros((1, 2, 2), bool))


def test_gradient_x_input_on_an_object_only_network_localises_perfectly():
    """A linear model that reads only the pixels inside one fixed square: gradient x input is zero outside it."""
    from lrp_studio.nn.network import Network

    net = Network.from_spec({"input_shape": [1, 4, 4], "layers": [{"type": "flatten"},
                             {"type": "dense", "in_features": 16, "out_features": 2}], "input_range": [0.0, 1.0]})
    mask = _mask((1, 1), (1, 2), (2, 1), (2, 2), shape=(4, 4))
    weight = np.zeros((2, 16), np.float32)
    weight[0, mask.ravel()] = 1.0
    net.layers[1].params["weight"] = weight
    net.layers[1].params["bias"] = np.zeros(2, np.float32)
    x = np.random.default_rng(1).uniform(0.1, 1.0, (5, 1, 4, 4)).astype(np.float32)
    scores = evaluate_localisation(net, x, np.broadcast_to(mask, (5, 4, 4)), np.zeros(5, np.int64),
                                   ["gradient-x-input", "lrp0"])
    assert scores["gradient-x-input"].mass.tolist() == [1.0] * 5 and scores["lrp0"].rank.tolist() == [1.0] * 5
    assert scores["uniform"].mass.tolist() == [0.25] * 5
