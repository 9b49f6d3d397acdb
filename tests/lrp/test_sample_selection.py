"""Sample selection for faithfulness runs: class-balanced and seeded by default, 'first N' on request."""

from __future__ import annotations

import numpy as np
import pytest

from lrp_studio.data import load_dataset
from lrp_studio.errors import ParameterError
from lrp_studio.lrp.sample_selection import balanced_indices, select_samples


@pytest.fixture(scope="module")
def labels():
    return np.asarray(load_dataset("mnist:test").y)


def test_bundled_test_split_is_sorted_by_label(labels):
    """The reason for the balanced default: the first 200 test digits are zeros and ones only."""
    assert set(labels[:200].tolist()) == {0, 1}


def test_twenty_balanced_have_two_of_each_class(labels):
    selection = select_samples(labels, 20)
    assert selection.mode == "balanced" and selection.seed == 0
    assert len(np.unique(selection.indices)) == 20
    assert np.bincount(labels[selection.indices], minlength=10).tolist() == [2] * 10
    assert selection.class_counts == {k: 2 for k in range(10)}
    # round-robin: the first ten are one of each class, in ascending label order
    assert labels[selection.indices[:10]].tolist() == list(range(10))
    assert "per class 0:2 1:2" in selection.describe()


def test_same_seed_same_selection_other_seed_other(labels):
    a, b, c = (select_samples(labels, 200, seed=s).indices for s in (0, 0, 1))
    assert np.array_equal(a, b)
    assert not np.array_equal(a, c)
    assert np.bincount(labels[c], minlength=10).tolist() == [20] * 10
    # not just the first members of each class: the order within a class is seeded
    assert not np.array_equal(np.sort(a[labels[a] == 3]), np.flatnonzero(labels == 3)[:20])


def test_first_keeps_the_old_choice(labels):
    selection = select_samples(labels, 20, "first")
    assert selection.indices.tolist() == list(range(20))
    assert selection.seed is None and selection.class_counts[0] == 20 and selection.class_counts[5] == 0
    assert selection.as_dict()["indices"] == list(range(20))


def test_a_class_that_runs_out_is_skipped():
    labels = np.array([0, 0, 0, 0, 0, 1, 2])  # classes 1 and 2 have one sample each
    order = balanced_indices(labels, 7, seed=5)
    assert sorted(order.tolist()) == list(range(7))
    assert labels[order[:3]].tolist() == [0, 1, 2] and labels[order[3:]].tolist() == [0] * 4
    assert np.bincount(labels[balanced_indices(labels, 4)]).tolist() == [2, 1, 1]


@pytest.mark.parametrize("n, mode", [(0, "balanced"), (8, "balanced"), (3, "random")])
def test_bad_requests_raise(n, mode):
    with pytest.raises(ParameterError):
        select_samples(np.array([0, 0, 1, 1, 2, 2, 2]), n, mode)
