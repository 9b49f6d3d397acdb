"""Numbers that cannot be trusted are never returned (issue 13, point 5) and target errors name the
user's argument and the sample's position, also in chunked batches (point 8)."""

from __future__ import annotations

import numpy as np
import pytest

import lrp_studio
from lrp_studio.app.batch_export import export_batch
from lrp_studio.data import Dataset
from lrp_studio.errors import DataError, ParameterError
from lrp_studio.lrp import explain
from lrp_studio.lrp.explain import chunk_size, explain_neuron
from lrp_studio.lrp.faithfulness import evaluate_methods
from lrp_studio.nn import mlp

METHODS = ["lrp0", "epsilon-plus", "zplus", "epsilon-gamma-box", "gradient", "integrated-gradients", "occlusion"]


@pytest.fixture(scope="module")
def net():
    return lrp_studio.load_model("mlp")


@pytest.mark.parametrize("method", METHODS)
def test_overflowing_input_is_a_data_error_naming_the_sample(net, method):
    """|x| = 1e38 is finite float32, but the logits overflow to inf: a DataError, never inf/NaN relevance."""
    x = np.zeros((3, 784), np.float32)
    x[1] = 1e38
    with pytest.raises(DataError, match=r"NaN or infinite .*sample 1\b"):
        explain(net, x, method=method, keep_layers=False)
    assert np.isfinite(explain(net, x[[0, 2]], method=method, keep_layers=False).relevance).all()


def test_overflowing_relevance_with_finite_logits_is_a_data_error(net):
    """Occlusion at 1e36: every logit is finite, the drops overflow - the relevance check catches it."""
    x = np.full((1, 784), 1e36, np.float32)
    assert np.isfinite(net.predict(x)).all()
    with pytest.raises(DataError, match=r"method 'occlusion' gave NaN or infinite relevance for sample 0"):
        explain(net, x, method="occlusion")


def test_huge_weights_and_conditional_explanations(net):
    big = mlp([4, 3, 2], seed=0)
    big.layers[0].params["weight"][:] = 3e38
    with pytest.raises(DataError, match="NaN or infinite"):
        explain(big, np.ones((2, 4), np.float32), method="epsilon")
    x = np.full((1, 784), 1e38, np.float32)
    with pytest.raises(DataError, match="NaN or infinite"):
        explain_neuron(net, x, stage=2, unit=5, method="lrp0")


def test_target_error_in_a_chunked_batch_names_the_argument_and_position(net):
    n = chunk_size(net) * 2 + 5
    x = np.zeros((n, 784), np.float32)
    target = np.zeros(n, np.int64)
    target[n - 3] = -1
    with pytest.raises(ParameterError) as caught:
        explain(net, x, target=target, keep_layers=False)
    message = str(caught.value)
    assert f"sample {n - 3} has -1" in message and "target=[0, 0," in message and "array(" not in message
    with pytest.raises(ParameterError, match=r"target=12: every sample has 12, not a class index in 0\.\.9"):
        explain(net, x, target=12, keep_layers=False)
    with pytest.raises(ParameterError, match=rf"target=\[1, 2\]: must be an int or {n} ints"):
        explain(net, x, target=[1, 2], keep_layers=False)


def test_target_error_in_export_and_evaluation_names_the_dataset_index(net, tmp_path):
    data = lrp_studio.data.load_mnist_subset("test")
    indices = np.arange(100, 140)
    target = np.zeros(40, np.int64)
    target[33] = 11
    with pytest.raises(ParameterError, match=r"mnist:test index 133 has 11"):
        export_batch(net, data, indices, tmp_path / "maps", target=target, batch_size=8)
    assert not (tmp_path / "maps").exists()  # refused before anything was written
    targets = np.zeros(12, np.int64)
    targets[9] = 10
    with pytest.raises(ParameterError, match=r"sample 9 has 10"):
        evaluate_methods(net, data.x[:12], targets=targets, methods=["lrp0"])


def test_export_names_the_dataset_index_of_an_overflowing_sample(net, tmp_path):
    data = lrp_studio.data.load_mnist_subset("test")
    x = data.x[:24].copy()
    x[21] = 1e38
    bad = Dataset("bad", x, data.y[:24], data.classes)
    with pytest.raises(DataError, match=r"for bad index 21 .*relevance\.npy and index\.csv were not written"):
        export_batch(net, bad, np.arange(24), tmp_path / "maps", batch_size=8)
    assert not (tmp_path / "maps" / "relevance.npy").exists() and not (tmp_path / "maps" / "index.csv").exists()
    assert not list((tmp_path / "maps").glob("sample_0002[0-3]_*.png"))  # the bad chunk wrote nothing
