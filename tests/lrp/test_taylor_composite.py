"""The lecture notes' deep-Taylor recipe as a named composite: ``deep-taylor-unbounded`` (seed 003).

w^2 at the first dense/conv layer (Montavon et al. 2017's rule for an unbounded input domain), z+ in
every other layer; the same result as the custom composite the notes' users had to write by hand,
listed wherever methods are listed, and conserving relevance exactly with the bias off.
"""

from __future__ import annotations

import numpy as np
import pytest

import lrp_studio
from lrp_studio.data import load_mnist_subset
from lrp_studio.lrp import COMPOSITES, METHODS, explain, method_info, resolve_rules

NAME = "deep-taylor-unbounded"


@pytest.fixture(scope="module")
def digits():
    return load_mnist_subset("test").x[:6]


@pytest.mark.parametrize("model", ["mlp", "cnn"])
def test_rules_are_wsquare_first_and_zplus_elsewhere(model):
    net = lrp_studio.load_model(model)
    rules = resolve_rules(net, NAME, {})
    first, *others = net.linear_indices
    assert rules[first].name == "wsquare"
    assert others and all(rules[i].name == "zplus" for i in others)


@pytest.mark.parametrize("model", ["mlp", "cnn"])
def test_equals_the_hand_written_custom_composite(model, digits):
    net = lrp_studio.load_model(model)
    first, *others = net.linear_indices
    mapping = {first: "wsquare", **{i: "zplus" for i in others}}
    for bias in (True, False):
        named = explain(net, digits, method=NAME, bias=bias, keep_layers=False).relevance
        custom = explain(net, digits, method=mapping, bias=bias, keep_layers=False).relevance
        np.testing.assert_array_equal(named, custom)


def test_differs_from_deep_taylor_with_zbox(digits):
    net = lrp_studio.load_model("mlp")
    a = explain(net, digits, method=NAME, keep_layers=False).relevance
    b = explain(net, digits, method="deep-taylor", keep_layers=False).relevance
    assert np.abs(a - b).max() > 1e-3


def test_listed_everywhere_methods_are():
    from lrp_studio.cli.options import parse_methods

    assert NAME in COMPOSITES and NAME in METHODS
    info = method_info(NAME)
    assert info.kind == "composite" and info.uses_bias and info.params == ()
    assert NAME in parse_methods("all") and parse_methods(f"{NAME},gradient") == [NAME, "gradient"]
    assert "w<sup>2</sup>" in info.title


def test_bias_free_recipe_conserves_exactly_on_the_bundled_models(digits):
    for model in ("mlp", "cnn"):
        net = lrp_studio.load_model(model)
        report = explain(net, digits, method=NAME, bias=False, keep_layers=False).conservation()
        np.testing.assert_allclose(report.input_sum, report.explained, rtol=1e-5)
