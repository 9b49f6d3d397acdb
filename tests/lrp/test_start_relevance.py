"""Start relevance (``explain(start=...)``): the logit, the whole output vector, a contrast, a user vector.

With rules that are linear in the relevance they receive (LRP-0, z+, w^2: the denominators depend
on the activations only), the backward pass is linear in the start vector, so every start is a
combination of the one-logit explanations: outputs = sum_c R(c), contrast A,B = R(A) - R(B),
vector v = sum_c v_c / f_c R(c). Conservation then refers to the start total.
"""

from __future__ import annotations

import numpy as np
import pytest

import lrp_studio
import importlib
from lrp_studio.data import load_mnist_subset
from lrp_studio.errors import ParameterError
from lrp_studio.lrp import explain
from lrp_studio.lrp.start import Start, parse_start

explain_module = importlib.import_module("lrp_studio.lrp.explain")
budget_module = importlib.import_module("lrp_studio.nn.budget")


@pytest.fixture(scope="module")
def setup():
    net = lrp_studio.load_model("mlp")
    x = load_mnist_subset("test").x[:4]
    per_class = np.stack([explain(net, x, target=c, method="deep-taylor-unbounded", bias=False,
                                  keep_layers=False).relevance.astype(np.float64) for c in range(10)])
    logits = np.asarray(net.predict(x), dtype=np.float64)
    return net, x, per_class, logits


def run(net, x, start, **kw):
    return explain(net, x, method="deep-taylor-unbounded", bias=False, keep_layers=False, start=start, **kw)


def test_default_is_the_logit(setup):
    net, x, per_class, logits = setup
    exp = run(net, x, None)
    predicted = logits.argmax(axis=1)
    np.testing.assert_allclose(exp.relevance, per_class[predicted, np.arange(4)], rtol=1e-6, atol=1e-7)
    assert exp.start == "logit" and exp.conservation().label == "explained logit"
    np.testing.assert_array_equal(run(net, x, "logit").relevance, exp.relevance)


def test_outputs_is_the_sum_over_classes(setup):
    net, x, per_class, logits = setup
    exp = run(net, x, "outputs")
    np.testing.assert_allclose(exp.relevance, per_class.sum(axis=0), rtol=1e-4, atol=1e-5)
    report = exp.conservation()
    np.testing.assert_allclose(report.explained, logits.sum(axis=1), rtol=1e-5)
    np.testing.assert_allclose(report.input_sum, logits.sum(axis=1), rtol=1e-4, atol=1e-5)
    assert "start total (outputs)" in report.summary(0)


@pytest.mark.parametrize("spec", ["contrast:3,8", ("contrast", 3, 8)])
def test_contrast_is_the_difference_of_two_explanations(setup, spec):
    net, x, per_class, logits = setup
    exp = run(net, x, spec)
    np.testing.assert_allclose(exp.relevance, per_class[3] - per_class[8], rtol=1e-4, atol=1e-5)
    np.testing.assert_array_equal(exp.targets, [3, 3, 3, 3])
    np.testing.assert_allclose(exp.conservation().explained, logits[:, 3] - logits[:, 8], rtol=1e-5)
    assert exp.start == "contrast 3-8"


def test_user_vector_scales_each_class(setup):
    net, x, per_class, logits = setup
    v = np.linspace(-1.0, 2.0, 10)
    exp = run(net, x, v)
    expected = np.einsum("c,cn...->n...", v, per_class / logits.T.reshape(10, 4, 1, 1, 1))
    np.testing.assert_allclose(exp.relevance, expected, rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(exp.conservation().explained, np.full(4, v.sum()), rtol=1e-6)
    np.testing.assert_allclose(exp.conservation().ratio(), 1.0, rtol=1e-4)


def test_per_sample_vector_through_chunks(setup, monkeypatch):
    net, x, _, logits = setup
    rng = np.random.default_rng(0)
    v = rng.normal(size=(4, 10))
    whole = run(net, x, v)
    monkeypatch.setattr(budget_module, "CHUNK_BUDGET", 1)   # one sample per chunk
    assert explain_module.chunk_size(net) == 1
    chunked = run(net, x, v)
    np.testing.assert_allclose(chunked.relevance, whole.relevance, rtol=1e-6, atol=1e-7)
    np.testing.assert_allclose(chunked.conservation().explained, v.sum(axis=1), rtol=1e-5, atol=1e-6)
    for row in range(4):
        single = run(net, x[row : row + 1], v[row])
        np.testing.assert_allclose(single.relevance[0], whole.relevance[row], rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("bad, message", [
    ("logits", "unknown start"), ("contrast:3", "two class"), ("contrast:3,3", "two different"),
    ("contrast:3,10", "out of range"), (np.ones(9), "shape"), (np.full(10, np.nan), "NaN"),
    (np.ones((2, 10)), "rows"),
])
def test_bad_starts_raise_parameter_error(setup, bad, message):
    net, x, _, _ = setup
    with pytest.raises(ParameterError, match=message):
        run(net, x, bad)


def test_baselines_refuse_another_start(setup):
    net, x, _, _ = setup
    with pytest.raises(ParameterError, match="baseline"):
        explain(net, x, method="gradient", start="outputs")
    assert explain(net, x, method="gradient", start="logit").relevance.shape == x.shape


def test_parse_start_keeps_a_start_object():
    assert parse_start(Start("contrast", (1, 2)), 10) == Start("contrast", (1, 2))
    with pytest.raises(ParameterError):
        parse_start(Start("contrast", (1, 11)), 10)
