"""explain() / explain_neuron(): shapes, targets, records, parameter errors, finite results."""

from __future__ import annotations

import numpy as np
import pytest

from lrp_studio.errors import ParameterError
from lrp_studio.lrp import BASELINES, COMPOSITES, LRP_METHODS, METHODS, RULES, explain, explain_neuron
from lrp_studio.nn import lenet


@pytest.fixture
def cnn(backend, twins):
    return twins.build(twins.cnn_arch(), None, backend, float64=False, seed=1)


def test_method_lists():
    assert list(RULES) == ["lrp0", "epsilon", "zplus", "alphabeta", "gamma", "wsquare", "flat", "zbox"]
    assert set(COMPOSITES) == {"epsilon-plus", "epsilon-plus-flat", "epsilon-alpha2-beta1", "epsilon-gamma-box",
                               "deep-taylor", "deep-taylor-unbounded"}
    assert set(BASELINES) == {"gradient", "gradient-x-input", "integrated-gradients", "smoothgrad", "occlusion",
                              "taylor", "taylor-segment"}
    assert METHODS == LRP_METHODS + list(BASELINES)


@pytest.mark.parametrize("method", ["epsilon-plus-flat", "lrp0", "gradient", "occlusion"])
def test_relevance_has_the_shape_of_x(cnn, method):
    rng = np.random.default_rng(0)
    x = rng.uniform(-1, 2, size=(3, 2, 8, 8)).astype(np.float32)
    for given in (x, x.reshape(3, 128), x[0], x.astype(np.float64), x.tolist()):
        exp = explain(cnn, given, method=method)
        assert isinstance(exp.relevance, np.ndarray)
        assert exp.relevance.shape == np.shape(given)
        n = 1 if np.ndim(given) == 3 else 3
        assert exp.logits.shape == (n, 3) and exp.targets.shape == (n,)
    flat = explain(cnn, x.reshape(3, 128), method=method).relevance
    np.testing.assert_allclose(flat, explain(cnn, x, method=method).relevance.reshape(3, 128), rtol=1e-6)


def test_flat_rows_into_an_image_model(backend):
    net = lenet(channels=(2, 3), hidden=8, seed=0)
    x = np.random.default_rng(1).uniform(0, 1, size=(2, 784)).astype(np.float32)
    exp = explain(net, x)
    assert exp.relevance.shape == (2, 784)
    assert exp.logits.shape == (2, 10)
    assert exp.layers[0].activation.shape == (2, 1, 28, 28)
    np.testing.assert_allclose(exp.logits, net.predict(x), rtol=1e-6)


def test_targets_default_to_prediction_and_start_at_the_logit(cnn):
    x = np.random.default_rng(2).uniform(-1, 2, size=(4, 2, 8, 8)).astype(np.float32)
    exp = explain(cnn, x, method="epsilon-plus")
    np.testing.assert_array_equal(exp.targets, exp.logits.argmax(axis=1))
    np.testing.assert_allclose(exp.logits, cnn.predict(x), rtol=1e-6)
    start = np.zeros_like(exp.logits)
    start[np.arange(4), exp.targets] = exp.logits[np.arange(4), exp.targets]
    np.testing.assert_array_equal(exp.layers[-1].relevance, start)
    np.testing.assert_array_equal(exp.explained, exp.logits[np.arange(4), exp.targets])


@pytest.mark.parametrize("target, expected", [(2, [2, 2, 2]), ([0, 2, 1], [0, 2, 1]),
                                               (np.array([1, 1, 0]), [1, 1, 0]), (np.int64(0), [0, 0, 0])])
def test_target_int_or_per_sample(cnn, target, expected):
    x = np.random.default_rng(3).uniform(-1, 2, size=(3, 2, 8, 8)).astype(np.float32)
    for method in ("lrp0", "gradient"):
        exp = explain(cnn, x, target=target, method=method)
        np.testing.assert_array_equal(exp.targets, expected)
    lrp = explain(cnn, x, target=target, method="lrp0")
    assert np.count_nonzero(lrp.layers[-1].relevance[np.arange(3), expected]) == 3
    assert np.count_nonzero(lrp.layers[-1].relevance) == 3


@pytest.mark.parametrize("target", [-1, 3, [0, 1], [0, 1, 2, 0], 1.5, [0.0, 1.0, 2.0], "a"])
@pytest.mark.parametrize("method", ["epsilon-plus-flat", "gradient"])
def test_bad_target_raises(cnn, target, method):
    x = np.zeros((3, 2, 8, 8), np.float32)
    with pytest.raises(ParameterError):
        explain(cnn, x, target=target, method=method)


@pytest.mark.parametrize("method, params", [
    ("no-such-method", {}),
    ("alphabeta", {"alpha": 3.0, "beta": 1.0}),
    ("alphabeta", {"alpha": 1.5, "beta": 1.0}),
    ("alphabeta", {"alpha": 0.5, "beta": -0.5}),
    ("epsilon", {"epsilon": -0.1}),
    ("epsilon", {"epsilon": float("nan")}),
    ("gamma", {"gamma": -0.25}),
    ("zbox", {"low": 1.0, "high": 0.0}),
    ("zbox", {"low": [0.0, 2.0], "high": [1.0, 1.0]}),
    ("epsilon-gamma-box", {"low": 2.0, "high": -1.0}),
    ("deep-taylor", {"low": 2.0, "high": -1.0}),
    ("epsilon-plus", {"epsilon": -1.0}),
])
def test_bad_method_or_parameters_raise(cnn, method, params):
    x = np.zeros((1, 2, 8, 8), np.float32)
    with pytest.raises(ParameterError):
        explain(cnn, x, method=method, **params)


def test_layer_records(cnn):
    x = np.random.default_rng(4).uniform(-1, 2, size=(2, 2, 8, 8)).astype(np.float32)
    exp = explain(cnn, x, method="epsilon-gamma-box")
    assert [r.stage for r in exp.layers] == list(range(len(cnn.layers) + 1))
    assert [r.name for r in exp.layers] == ["input", "conv2d 3", "relu", "maxpool2d", "conv2d 4", "relu",
                                            "flatten", "dense 6", "relu", "dense 3"]
    for record, shape in zip(exp.layers, cnn.shapes):
        assert record.activation.shape == (2,) + tuple(shape)
        assert record.relevance.shape == (2,) + tuple(shape)
    assert exp.layers[1].rule == "zbox(low=-1, high=2)"  # the model's input range
    assert exp.layers[4].rule == "gamma(gamma=0.25)"
    assert exp.layers[2].rule is None
    assert exp.method == "epsilon-gamma-box"
    np.testing.assert_array_equal(exp.layers[0].activation, x)


def test_explain_neuron_rejects_bad_stage_and_unit(cnn):
    x = np.zeros((1, 2, 8, 8), np.float32)
    for stage, unit in ((0, 0), (len(cnn.layers) + 1, 0), (1, 3 * 8 * 8), (1, -1), (9, 3)):
        with pytest.raises(ParameterError):
            explain_neuron(cnn, x, stage, unit)


# --------------------------------------------------------------------------- finite results
def degenerate_states(twins, arch, seed):
    """Dead ReLUs everywhere, some dead units, zero-weight neurons."""
    net = twins.build(arch, None, np, float64=False)
    base = twins.random_state(net, seed)
    linear = [f"{i}" for i, layer in enumerate(arch["layers"]) if layer["type"] in ("dense", "conv2d")]
    all_dead = dict(base)
    all_dead[f"{linear[0]}.bias"] = np.full_like(base[f"{linear[0]}.bias"], -100.0)
    some_dead = dict(base)
    some_dead[f"{linear[1]}.bias"] = base[f"{linear[1]}.bias"].copy()
    some_dead[f"{linear[1]}.bias"][::2] = -100.0
    zero_units = {k: v.copy() for k, v in base.items()}
    for key in linear:
        zero_units[f"{key}.weight"][0] = 0.0
        zero_units[f"{key}.bias"][0] = 0.0
    all_zero = {k: np.zeros_like(v) for k, v in base.items()}
    return {"all-dead": all_dead, "some-dead": some_dead, "zero-units": zero_units, "all-zero-params": all_zero}


@pytest.mark.parametrize("method", LRP_METHODS + ["gradient", "gradient-x-input", "integrated-gradients"])
@pytest.mark.parametrize("kind", ["cnn", "mlp"])
def test_lrp_is_finite_on_degenerate_networks_and_inputs(backend, twins, kind, method):
    arch = twins.cnn_arch() if kind == "cnn" else twins.mlp_arch()
    shape = tuple(arch["input_shape"])
    rng = np.random.default_rng(0)
    inputs = {"random": rng.uniform(-1, 2, size=(2,) + shape), "zeros": np.zeros((2,) + shape),
              "nonneg": rng.uniform(0, 1, size=(2,) + shape)}
    for state_name, state in degenerate_states(twins, arch, 3).items():
        net = twins.build(arch, state, backend, float64=False)
        for input_name, x in inputs.items():
            for bias in (True, False) if method in LRP_METHODS else (None,):  # baselines have no bias
                exp = explain(net, x.astype(np.float32), method=method, bias=bias)
                where = f"{state_name}/{input_name}/bias={bias}"
                assert np.isfinite(exp.relevance).all(), where
                for record in exp.layers:
                    if record.relevance is not None:
                        assert np.isfinite(record.relevance).all(), (where, record.name)
