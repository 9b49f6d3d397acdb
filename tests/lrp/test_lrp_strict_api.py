"""The strict public API (issue 11 part 2): every parameter is declared, checked and really used.

- unknown, misspelt and not-taken parameters raise ParameterError naming them and listing those taken;
- a composite's fixed parameters are refused, epsilon has a floor (MIN_EPSILON) and no rule returns
  non-finite relevance for finite input at that floor;
- the default method is model-aware (``default_method``) in ``explain`` and ``explain_neuron``;
- each method's declared parameters are exactly those its constructor / function accepts, and each
  one changes the result;
- ``keep_layers=False`` gives the same numbers as ``keep_layers=True`` (also in chunks).
"""

from __future__ import annotations

import inspect

import numpy as np
import pytest

from lrp_studio.errors import ParameterError
from lrp_studio.lrp import (BASELINES, COMPOSITES, LRP_METHODS, METHODS, RULES, default_method, explain,
                            explain_neuron, make_rule, method_info)
from lrp_studio.lrp.explain import chunk_size
from lrp_studio.lrp.params import ALL_PARAMS, MIN_EPSILON
from lrp_studio.zoo import load_any_model


@pytest.fixture
def cnn(backend, twins):
    return twins.build(twins.cnn_arch(), None, backend, float64=False, seed=1)


@pytest.fixture
def dense_net(backend, twins):
    return twins.build(twins.mlp_arch(), None, backend, float64=False, seed=2)


def cnn_inputs(n: int = 3, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).uniform(-1, 2, size=(n, 2, 8, 8)).astype(np.float32)


def mlp_inputs(n: int = 3, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).uniform(-1, 2, size=(n, 10)).astype(np.float32)


def taken(method) -> list[str]:
    return [p.name for p in method_info(method).params]


# ----------------------------------------------------------------------- parameter errors
@pytest.mark.parametrize("method", ["epsilon", "epsilon-plus", "epsilon-gamma-box", {0: "zplus", 3: "epsilon"}],
                         ids=["rule", "composite", "box-composite", "custom"])
def test_misspelt_parameter_is_named_with_the_ones_taken(cnn, method):
    with pytest.raises(ParameterError) as info:
        explain(cnn, cnn_inputs(1), method=method, epslion=5.0)
    message = str(info.value)
    assert "'epslion'" in message and "misspelt" in message
    for name in taken(method):
        assert name in message.split("takes:")[1], message


@pytest.mark.parametrize("method", ["gradient", "gradient-x-input", "occlusion"])
def test_parameter_a_baseline_does_not_take_is_refused(cnn, method):
    with pytest.raises(ParameterError) as info:
        explain(cnn, cnn_inputs(1), method=method, epsilon=0.25)
    message = str(info.value)
    assert "'epsilon'" in message and method in message
    assert "misspelt" not in message  # a real parameter, just not this method's
    assert message.split("takes:")[1].strip() == (", ".join(taken(method)) or "no parameters")


@pytest.mark.parametrize("method", ["lrp0", "zplus", "flat", "wsquare", "epsilon-plus"])
def test_parameter_an_lrp_method_does_not_take_is_refused(cnn, method):
    with pytest.raises(ParameterError, match="'gamma'"):
        explain(cnn, cnn_inputs(1), method=method, gamma=0.5)


@pytest.mark.parametrize("params", [{"alpha": 3.0, "beta": 2.0}, {"alpha": 2.0, "beta": 1.0}, {"alpha": 3.0},
                                    {"beta": 1.0}])
def test_fixed_parameters_of_a_composite_are_refused(cnn, params):
    """epsilon-alpha2-beta1 fixes alpha 2 / beta 1: even the same values are not parameters of it."""
    with pytest.raises(ParameterError) as info:
        explain(cnn, cnn_inputs(1), method="epsilon-alpha2-beta1", **params)
    assert "epsilon" in str(info.value).split("takes:")[1]
    assert "fixes alpha=2, beta=1" in str(info.value)
    exp = explain(cnn, cnn_inputs(1), method="epsilon-alpha2-beta1")
    assert exp.rules[3] == "alphabeta(alpha=2, beta=1)"


def test_bias_false_with_a_baseline_is_refused(cnn):
    for method in BASELINES:
        with pytest.raises(ParameterError, match="bias"):
            explain(cnn, cnn_inputs(1), method=method, bias=False)
        explain(cnn, cnn_inputs(1), method=method, bias=None)  # None: the default, accepted


def test_none_means_default(cnn):
    x = cnn_inputs(2)
    np.testing.assert_array_equal(explain(cnn, x, method="epsilon", epsilon=None).relevance,
                                  explain(cnn, x, method="epsilon").relevance)
    np.testing.assert_array_equal(explain(cnn, x, method="epsilon-gamma-box", gamma=None, low=None).relevance,
                                  explain(cnn, x, method="epsilon-gamma-box").relevance)


# ----------------------------------------------------------------------- epsilon floor, finite relevance
@pytest.mark.parametrize("epsilon", [0.0, MIN_EPSILON / 2, -MIN_EPSILON, float("inf")])
@pytest.mark.parametrize("method", ["epsilon", "epsilon-plus", "epsilon-plus-flat", {0: "flat"}])
def test_epsilon_below_the_floor_is_refused(cnn, method, epsilon):
    with pytest.raises(ParameterError, match="epsilon"):
        explain(cnn, cnn_inputs(1), method=method, epsilon=epsilon)


def test_epsilon_floor_is_accepted_and_the_rule_uses_it(cnn):
    exp = explain(cnn, cnn_inputs(1), method="epsilon", epsilon=MIN_EPSILON)
    assert set(exp.rules.values()) == {"epsilon(epsilon=1e-09)"}
    with pytest.raises(ParameterError):
        make_rule("epsilon", epsilon=0.0)


def smallest_params(method) -> dict:
    """The smallest allowed value of every float parameter a method takes (epsilon 1e-9, gamma 0, ...)."""
    params = {}
    for p in method_info(method).params:
        if p.name == "beta":
            continue  # follows alpha (alpha - beta = 1)
        if p.kind == "float" and p.minimum is not None:
            params[p.name] = p.minimum
    return params


def blank_states(twins, arch, seed):
    """Zero weights and biases everywhere; zero weights with biases; random weights without biases."""
    net = twins.build(arch, None, np, float64=False)
    base = twins.random_state(net, seed)
    return {
        "all-zero": {k: np.zeros_like(v) for k, v in base.items()},
        "zero-weights": {k: (np.zeros_like(v) if k.endswith("weight") else v) for k, v in base.items()},
        "zero-bias": {k: (np.zeros_like(v) if k.endswith("bias") else v) for k, v in base.items()},
    }


@pytest.mark.parametrize("method", LRP_METHODS)
@pytest.mark.parametrize("kind", ["cnn", "mlp"])
def test_no_rule_returns_non_finite_relevance_at_the_smallest_parameters(backend, twins, kind, method):
    arch = twins.cnn_arch() if kind == "cnn" else twins.mlp_arch()
    shape = tuple(arch["input_shape"])
    rng = np.random.default_rng(1)
    inputs = {"blank": np.zeros((2,) + shape), "mixed": rng.uniform(-1, 2, size=(2,) + shape),
              "tiny": np.full((2,) + shape, 1e-30)}
    params = smallest_params(method)
    for state_name, state in blank_states(twins, arch, 4).items():
        for float64 in (False, True):
            net = twins.build(arch, state, backend, float64=float64)
            for input_name, x in inputs.items():
                for bias in (True, False):
                    exp = explain(net, x.astype(np.float64 if float64 else np.float32), method=method, bias=bias,
                                  **params)
                    where = f"{state_name}/{input_name}/bias={bias}/float64={float64}/{params}"
                    assert np.isfinite(exp.relevance).all(), where
                    for record in exp.layers:
                        if record.relevance is not None:
                            assert np.isfinite(record.relevance).all(), (where, record.name)
                    assert np.isfinite(exp.stage_sums).all(), where


# ----------------------------------------------------------------------- model-aware default
def test_default_method_depends_on_the_first_layer(cnn, dense_net):
    assert default_method(dense_net) == "epsilon-plus"
    assert default_method(cnn) == "epsilon-plus-flat"


@pytest.mark.parametrize("kind", ["cnn", "mlp"])
def test_explain_and_explain_neuron_use_the_model_aware_default(cnn, dense_net, kind):
    net, x = (cnn, cnn_inputs(2)) if kind == "cnn" else (dense_net, mlp_inputs(2))
    expected = "epsilon-plus-flat" if kind == "cnn" else "epsilon-plus"
    default = explain(net, x)
    explicit = explain(net, x, method=expected)
    assert default.method == expected
    np.testing.assert_array_equal(default.relevance, explicit.relevance)
    assert default.rules == explicit.rules
    neuron = explain_neuron(net, x, 2, 1)
    np.testing.assert_array_equal(neuron.relevance, explain_neuron(net, x, 2, 1, method=expected).relevance)
    assert neuron.method == expected


def test_bundled_mlp_default_is_not_a_constant_heatmap(backend):
    """The flat rule on a dense first layer gives every pixel the same relevance; the default must not."""
    from lrp_studio.data import load_mnist_subset

    mlp = load_any_model("mlp")
    cnn = load_any_model("cnn")
    x = load_mnist_subset().x[:2]
    assert explain(mlp, x).method == "epsilon-plus"
    assert explain(cnn, x).method == "epsilon-plus-flat"
    relevance = explain(mlp, x).relevance.reshape(2, -1)
    assert (relevance.std(axis=1) > 1e-3 * np.abs(relevance).max(axis=1)).all()
    flat = explain(mlp, x, method="epsilon-plus-flat").relevance.reshape(2, -1)
    np.testing.assert_allclose(flat, flat[:, :1] * np.ones_like(flat), rtol=1e-4)  # what the old default gave


# ----------------------------------------------------------------------- declared parameters are the real ones
def constructor_names(method: str) -> set[str]:
    """The keyword parameters a rule's constructor or a baseline's function accepts."""
    if method in RULES:
        signature = inspect.signature(RULES[method].__init__)
        skip = {"self"}
    else:
        signature = inspect.signature(BASELINES[method].function)
        skip = {"net", "x", "targets", "input_range"}
    return {name for name, q in signature.parameters.items()
            if name not in skip and q.kind not in (q.VAR_POSITIONAL, q.VAR_KEYWORD)}  # object.__init__


@pytest.mark.parametrize("method", list(RULES) + list(BASELINES))
def test_declared_parameters_are_what_the_constructor_accepts(method):
    assert set(taken(method)) == constructor_names(method)
    if method in RULES:  # and the constructor refuses every other parameter name
        for name in set(ALL_PARAMS) - set(taken(method)):
            with pytest.raises((TypeError, ParameterError)):
                RULES[method](**{name: CHANGED[name][name]})
    for p in method_info(method).params:  # declared defaults are the constructor's defaults
        if method in RULES and p.default is not None:
            assert getattr(RULES[method](), p.name) == p.default
        elif method in BASELINES:
            assert inspect.signature(BASELINES[method].function).parameters[p.name].default == p.default


@pytest.mark.parametrize("name", list(COMPOSITES))
def test_composite_parameters_reach_its_rules(cnn, name):
    """Each declared parameter of a composite is a parameter of at least one of its rules, with its default."""
    composite = COMPOSITES[name]
    rules = composite.rules(cnn, {})
    for p in composite.params:
        users = [rule for rule in rules.values() if p.name in {q.name for q in rule.params}]
        assert users, p.name
        if p.default is not None:
            assert all(getattr(rule, p.name) == p.default for rule in users)


# One non-default value per parameter (beta only together with alpha, alpha - beta = 1).
CHANGED = {"epsilon": {"epsilon": 0.7}, "alpha": {"alpha": 3.0}, "beta": {"alpha": 1.0, "beta": 0.0},
           "gamma": {"gamma": 2.0}, "low": {"low": -0.3}, "high": {"high": 3.5}, "steps": {"steps": 2},
           "samples": {"samples": 3}, "noise": {"noise": 0.6}, "seed": {"seed": 7}, "patch": {"patch": 3},
           "iterations": {"iterations": 1}}  # issue 20: the taylor root search


def declared_cases():
    return [(m, p.name) for m in METHODS for p in method_info(m).params]


@pytest.mark.parametrize("method, param", declared_cases(), ids=[f"{m}-{p}" for m, p in declared_cases()])
def test_each_declared_parameter_changes_the_result(cnn, method, param):
    x = cnn_inputs(2, seed=5)
    default = explain(cnn, x, target=[0, 1], method=method).relevance
    changed = explain(cnn, x, target=[0, 1], method=method, **CHANGED[param]).relevance
    assert np.isfinite(changed).all()
    assert not np.allclose(changed, default, rtol=1e-4, atol=1e-7), f"{param} has no effect on {method}"


def undeclared_cases():
    return [(m, name) for m in METHODS for name in ALL_PARAMS if name not in taken(m)]


@pytest.mark.parametrize("method, param", undeclared_cases(), ids=[f"{m}-{p}" for m, p in undeclared_cases()])
def test_each_undeclared_parameter_is_refused(cnn, method, param):
    value = CHANGED[param][param]
    with pytest.raises(ParameterError) as info:
        explain(cnn, cnn_inputs(1), method=method, **{param: value})
    assert repr(param) in str(info.value)


def test_every_parameter_has_a_changed_value():
    assert set(CHANGED) == set(ALL_PARAMS)


# ----------------------------------------------------------------------- keep_layers=False
def assert_same_numbers(lean, full):
    assert lean.layers == []
    assert full.layers  # the comparison is against a real full run
    np.testing.assert_array_equal(lean.relevance, full.relevance)
    np.testing.assert_array_equal(lean.logits, full.logits)
    np.testing.assert_array_equal(lean.targets, full.targets)
    assert lean.method == full.method and lean.rules == full.rules and lean.stage_names == full.stage_names
    np.testing.assert_array_equal(lean.stage_sums, full.stage_sums)
    lean_report, full_report = lean.conservation(), full.conservation()
    np.testing.assert_array_equal(lean_report.sums, full_report.sums)
    np.testing.assert_array_equal(lean_report.explained, full_report.explained)
    assert set(lean.timings) == {"forward", "relevance"}


@pytest.mark.parametrize("method", ["epsilon-plus-flat", "epsilon-gamma-box", "lrp0", "alphabeta", "gradient",
                                    "integrated-gradients"])
def test_keep_layers_false_gives_the_same_numbers(cnn, method):
    x = cnn_inputs(4, seed=2)
    full = explain(cnn, x, target=[0, 1, 2, 0], method=method)
    lean = explain(cnn, x, target=[0, 1, 2, 0], method=method, keep_layers=False)
    assert_same_numbers(lean, full)
    if method not in BASELINES:  # the per-stage sums are those of the full records
        sums = np.stack([r.relevance.reshape(4, -1).sum(axis=1, dtype=np.float64) for r in full.layers])
        np.testing.assert_allclose(lean.stage_sums, sums, rtol=1e-6, atol=1e-9)


def test_keep_layers_false_in_chunks(backend, twins):
    """A batch larger than chunk_size(net) runs in several chunks; lean and full agree, and with one pass."""
    net = twins.build(twins.cnn_arch(), None, backend, float64=False, seed=3)
    n = chunk_size(net) + 5
    assert n <= 20_000  # the test network is tiny, so this stays a small batch
    x = np.random.default_rng(0).uniform(-1, 2, size=(n, 2, 8, 8)).astype(np.float32)
    for method in ("epsilon-plus-flat", "gradient-x-input"):
        full = explain(net, x, method=method)
        lean = explain(net, x, method=method, keep_layers=False)
        assert_same_numbers(lean, full)
        assert lean.relevance.shape == x.shape and lean.stage_sums.shape == (len(net.layers) + 1, n)
        head = explain(net, x[:7], method=method, keep_layers=False)  # one chunk
        np.testing.assert_allclose(lean.relevance[:7], head.relevance, rtol=1e-5, atol=1e-7)
        np.testing.assert_allclose(lean.stage_sums[:, :7], head.stage_sums, rtol=1e-5, atol=1e-7)


def test_explain_neuron_keep_layers_false(cnn):
    x = cnn_inputs(3, seed=4)
    full = explain_neuron(cnn, x, 5, 3, method="epsilon-plus")
    lean = explain_neuron(cnn, x, 5, 3, method="epsilon-plus", keep_layers=False)
    assert_same_numbers(lean, full)
    assert np.isnan(lean.stage_sums[6:]).all() and np.isfinite(lean.stage_sums[:6]).all()
