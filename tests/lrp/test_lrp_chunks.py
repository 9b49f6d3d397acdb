"""Large batches are explained in chunks; the joined result equals one pass over the whole batch."""

import importlib

import numpy as np
import pytest

from lrp_studio.errors import ParameterError
from lrp_studio.lrp import explain

explain_module = importlib.import_module("lrp_studio.lrp.explain")
budget_module = importlib.import_module("lrp_studio.nn.budget")  # the module, not the function
from lrp_studio.nn import lenet


@pytest.mark.parametrize("method", ["epsilon-plus-flat", "epsilon-gamma-box", "gradient"])
def test_chunked_equals_whole(backend, monkeypatch, method):
    net = lenet(channels=(4, 6), hidden=12)
    rng = np.random.default_rng(0)
    x = rng.random((10, 1, 28, 28), dtype=np.float32)
    targets = rng.integers(0, 10, size=10)
    whole = explain(net, x, target=targets, method=method, messages=True)
    monkeypatch.setattr(budget_module, "CHUNK_BUDGET", 3 * 6000)
    assert explain_module.chunk_size(net) < 10  # really chunked
    chunked = explain(net, x, target=targets, method=method, messages=True)
    np.testing.assert_allclose(chunked.relevance, whole.relevance, rtol=1e-4, atol=1e-6)
    np.testing.assert_array_equal(chunked.targets, whole.targets)
    np.testing.assert_allclose(chunked.logits, whole.logits, rtol=1e-5, atol=1e-6)
    assert [r.name for r in chunked.layers] == [r.name for r in whole.layers]
    for a, b in zip(chunked.layers, whole.layers):
        np.testing.assert_allclose(a.activation, b.activation, rtol=1e-5, atol=1e-6)
        if b.relevance is not None:
            np.testing.assert_allclose(a.relevance, b.relevance, rtol=1e-4, atol=1e-6)
    assert chunked.messages.keys() == whole.messages.keys()
    for key in whole.messages:
        np.testing.assert_allclose(chunked.messages[key], whole.messages[key], rtol=1e-4, atol=1e-6)


def test_chunked_checks_target_length(backend, monkeypatch):
    net = lenet(channels=(4, 6), hidden=12)
    monkeypatch.setattr(budget_module, "CHUNK_BUDGET", 3 * 6000)
    with pytest.raises(ParameterError):
        explain(net, np.zeros((10, 1, 28, 28), np.float32), target=[1, 2, 3], method="lrp0")


def test_chunk_size_bounds_working_set():
    net = lenet()
    assert 16 <= explain_module.chunk_size(net) <= 256
    from lrp_studio.nn import mlp

    assert explain_module.chunk_size(mlp([784, 300, 100, 10], input_shape=(1, 28, 28))) >= 1024
