"""Agreement with Zennit (DESIGN.md 3.3): every rule, composite and gradient baseline, same weights.

Runs where ``torch`` and ``zennit`` import (skipped as a whole otherwise), e.g.

    PYTHONPATH=. /work/venv-ref/bin/python -m pytest tests/lrp/test_zennit_agreement.py

Networks: the bundled MLP and CNN (their trained weights, bundled MNIST samples) and a small CNN
with padding, stride 2 and average pooling (random weights and biases of both signs). Each method is
mapped onto Zennit rules layer by layer as DESIGN.md 3.3 states it, and compared

- in float64: our rules on float64 parameters (``resolve_rules`` + ``propagate``, so composites go
  through our registry) against the torch model in double, to 1e-10 of the largest relevance;
- in float32: the public ``explain()`` against the float64 reference, to 5e-5 of the largest
  relevance or, where float32 itself cannot do better (LRP-0 without bias on the bundled models
  divides by bias-free z_k of 1e-3), no further from it than 3x Zennit's own float32 result.

Zennit's built-in composites are compared too. Where Zennit's ``EpsilonGammaBox`` differs from the
DESIGN table by design (it puts ZBox on a first *conv* layer only, DESIGN.md on the first dense or
conv layer), the dense-first MLP is compared through the name map only. With the bias left out,
Zennit's ``Gamma`` still takes the sign of z_k from the forward pass *with* bias (its fifth term is an
unmodified ``NoMod()``), while DESIGN.md 3.3 leaves the bias out of z_k everywhere; the gamma cases
without bias are compared with Zennit's Gamma whose sign term gets the same ``zero_params``.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("zennit")

from zennit import composites as zc  # noqa: E402
from zennit import rules as zr  # noqa: E402
from zennit.attribution import Gradient, IntegratedGradients  # noqa: E402
from zennit.composites import NameLayerMapComposite, layer_map_base  # noqa: E402

from lrp_studio.backend import to_numpy  # noqa: E402
from lrp_studio.data import load_mnist_subset  # noqa: E402
from lrp_studio.lrp import BASELINES, COMPOSITES, explain  # noqa: E402
from lrp_studio.lrp.explain import resolve_rules  # noqa: E402
from lrp_studio.lrp.propagate import one_hot_start, propagate  # noqa: E402
from lrp_studio.nn import Network  # noqa: E402
from lrp_studio.zoo import load_any_model  # noqa: E402

RTOL64 = 1e-10  # of max |zennit|; measured worst 3.8e-12 (LRP-0 without bias on the bundled MLP), else < 1e-14
RTOL32 = 5e-5  # of max |zennit|; measured worst 1e-5
SAMPLES = 6

EPS_SMALL = ("epsilon", {"epsilon": 1e-6})
ZPLUS = ("zplus", {})
BOX = "box"
TABLE = {  # DESIGN.md 3.3: (first dense/conv layer, other conv, other dense)
    "epsilon-plus": ("by type", ZPLUS, EPS_SMALL),
    "epsilon-plus-flat": (("flat", {}), ZPLUS, EPS_SMALL),
    "epsilon-alpha2-beta1": ("by type", ("alphabeta", {"alpha": 2.0, "beta": 1.0}), EPS_SMALL),
    "epsilon-gamma-box": (BOX, ("gamma", {"gamma": 0.25}), EPS_SMALL),
    "deep-taylor": (BOX, ZPLUS, ZPLUS),
    "deep-taylor-unbounded": (("wsquare", {}), ZPLUS, ZPLUS),  # issue 20: the notes' recipe
}
RULE_CASES = [
    ("lrp0", {}), ("epsilon", {"epsilon": 0.25}), ("epsilon", {"epsilon": 3.0}), ("zplus", {}),
    ("alphabeta", {"alpha": 2.0, "beta": 1.0}), ("alphabeta", {"alpha": 1.0, "beta": 0.0}),
    ("gamma", {"gamma": 0.25}), ("gamma", {"gamma": 1.0}), ("wsquare", {}), ("flat", {}), ("zbox", {}),
]
BUILTIN = {
    "epsilon-plus": lambda low, high: zc.EpsilonPlus(),
    "epsilon-plus-flat": lambda low, high: zc.EpsilonPlusFlat(),
    "epsilon-alpha2-beta1": lambda low, high: zc.EpsilonAlpha2Beta1(),
    "epsilon-gamma-box": lambda low, high: zc.EpsilonGammaBox(low=low, high=high),
}
NETWORKS = ["mlp", "cnn", "small-cnn"]


def small_cnn_arch() -> dict[str, Any]:
    return {"input_shape": [2, 9, 9], "input_range": [-1.0, 2.0], "layers": [
        {"type": "conv2d", "in_channels": 2, "out_channels": 4, "kernel_size": 3, "stride": 2, "padding": 1},
        {"type": "relu"}, {"type": "avgpool2d", "kernel_size": 2, "stride": 1},
        {"type": "conv2d", "in_channels": 4, "out_channels": 5, "kernel_size": 3, "stride": 1, "padding": 1},
        {"type": "relu"}, {"type": "maxpool2d", "kernel_size": 2, "stride": 2},
        {"type": "flatten"},
        {"type": "dense", "in_features": 20, "out_features": 12}, {"type": "relu"},
        {"type": "dense", "in_features": 12, "out_features": 4}]}


def torch_model(arch: dict[str, Any]) -> Any:
    """The torch.nn.Sequential of a model-file architecture (same layer indices)."""
    modules = []
    for layer in arch["layers"]:
        kind = layer["type"]
        if kind == "dense":
            modules.append(torch.nn.Linear(layer["in_features"], layer["out_features"]))
        elif kind == "conv2d":
            modules.append(torch.nn.Conv2d(layer["in_channels"], layer["out_channels"], layer["kernel_size"],
                                           stride=layer["stride"], padding=layer["padding"]))
        elif kind == "maxpool2d":
            modules.append(torch.nn.MaxPool2d(layer["kernel_size"], layer["stride"]))
        elif kind == "avgpool2d":
            modules.append(torch.nn.AvgPool2d(layer["kernel_size"], layer["stride"]))
        elif kind == "flatten":
            modules.append(torch.nn.Flatten())
        elif kind == "relu":
            modules.append(torch.nn.ReLU())
        else:
            raise KeyError(kind)
    return torch.nn.Sequential(*modules)


@dataclass(frozen=True)
class Case:
    """One network in NumPy float64 terms: architecture, parameters, inputs, targets, input range."""

    name: str
    arch: dict[str, Any]
    state: dict[str, np.ndarray]
    x: np.ndarray
    targets: np.ndarray
    low: float
    high: float

    def ours(self, xp: Any, float64: bool) -> Network:
        net = Network.from_spec(self.arch, seed=0)
        if float64:
            for i, layer in enumerate(net.layers):
                for key in layer.params:
                    layer.params[key] = xp.asarray(self.state[f"{i}.{key}"])
        else:
            net.load_state_dict({k: v.astype(np.float32) for k, v in self.state.items()})
        return net

    def torch(self, float64: bool) -> Any:
        model = torch_model(self.arch).double() if float64 else torch_model(self.arch).float()
        dtype = np.float64 if float64 else np.float32
        model.load_state_dict({k: torch.from_numpy(v.astype(dtype)) for k, v in self.state.items()})
        return model.eval()

    @property
    def linear(self) -> list[int]:
        return [i for i, layer in enumerate(self.arch["layers"]) if layer["type"] in ("dense", "conv2d")]


@lru_cache(maxsize=None)
def network_case(name: str) -> Case:
    if name == "small-cnn":
        arch = small_cnn_arch()
        net = Network.from_spec(arch, seed=0)
        rng = np.random.default_rng(1)
        state = {k: rng.normal(0, np.sqrt(2.0 / np.prod(v.shape[1:])) if k.endswith("weight") else 0.3,
                               size=v.shape) for k, v in net.state_dict().items()}
        x = np.random.default_rng(2).uniform(-1.0, 2.0, size=(SAMPLES,) + tuple(arch["input_shape"]))
    else:
        net = load_any_model(name)
        arch = net.spec()
        state = {k: v.astype(np.float64) for k, v in net.state_dict().items()}
        digits = np.asarray(load_mnist_subset().x[:SAMPLES], np.float64).reshape((SAMPLES,) + net.input_shape)
        # MNIST repeats receptive fields exactly (strokes, blank margins): max-pool windows then tie exactly in
        # float64 while float32 rounding (which depends on the BLAS path) may break the tie either way. A jitter
        # of a few grey levels (1/255 each) makes every window's winner clear in both precisions (checked below).
        jitter = np.random.default_rng(0).uniform(0.0, 1e-2, size=digits.shape)
        x = np.clip(digits + jitter, 0.0, 1.0)
    assert_clear_max_pool_winners(arch, state, x)
    low, high = arch["input_range"]
    case = Case(name, arch, state, x, np.zeros(SAMPLES, np.int64), float(low), float(high))
    logits = case.torch(True)(torch.from_numpy(x)).detach().numpy()
    targets = logits.argmax(axis=1)
    targets[::2] = (targets[::2] + 3) % logits.shape[1]  # some non-predicted classes too
    return Case(name, arch, state, x, targets, float(low), float(high))


def assert_clear_max_pool_winners(arch: dict[str, Any], state: dict[str, np.ndarray], x: np.ndarray) -> None:
    """Every max-pool window's largest value beats the next by far more than float32 rounding.

    float32 activations are within ~1.5e-7 of the largest activation from float64 ones; a gap of
    1e-6 of it keeps every winner the same in both precisions.
    """
    net = Network.from_spec(arch, seed=0)
    for i, layer in enumerate(net.layers):
        for key in layer.params:
            layer.params[key] = np.asarray(state[f"{i}.{key}"])
    inputs = net.trace(x).inputs
    for index, layer in enumerate(arch["layers"]):
        if layer["type"] != "maxpool2d":
            continue
        k, stride, a = layer["kernel_size"], layer["stride"], inputs[index]
        windows = np.stack([a[:, :, i::stride, j::stride][:, :, : inputs[index + 1].shape[2], : inputs[index + 1].shape[3]]
                            for i in range(k) for j in range(k)], axis=-1)
        ordered = np.sort(windows, axis=-1)
        top, second = ordered[..., -1], ordered[..., -2]
        live = top > 0  # windows of exact zeros (dead ReLUs) tie in both precisions alike
        assert (top - second)[live].min() > 1e-6 * np.abs(a).max(), f"near-tie in max-pool layer {index}"


def table_map(case: Case, method: Any) -> dict[int, tuple[str, dict]]:
    """Layer index -> (rule, parameters) per DESIGN.md 3.3, for a rule case or a composite name."""
    if isinstance(method, tuple):
        return {i: method for i in case.linear}
    first, conv, dense = TABLE[method]
    result = {}
    for position, i in enumerate(case.linear):
        by_type = conv if case.arch["layers"][i]["type"] == "conv2d" else dense
        chosen = by_type if position > 0 or first == "by type" else first
        result[i] = ("zbox", {}) if chosen == BOX else chosen
    return result


class GammaBiasFreeSign(zr.Gamma):
    """Zennit's Gamma whose z_k-sign term (the fifth) also leaves out the zeroed parameters."""

    def __init__(self, gamma: float, zero_params: list[str] | None) -> None:
        super().__init__(gamma=gamma, zero_params=zero_params)
        self.param_modifiers = (*self.param_modifiers[:4], zr.NoMod(zero_params=zero_params))


def zennit_rule(case: Case, name: str, params: dict, bias: bool) -> Any:
    zero = None if bias else ["bias"]
    if name in ("lrp0", "epsilon"):
        return zr.Epsilon(epsilon=params.get("epsilon", 1e-6), zero_params=zero)
    if name == "zplus":
        return zr.ZPlus(zero_params=zero)
    if name == "alphabeta":
        return zr.AlphaBeta(alpha=params["alpha"], beta=params["beta"], zero_params=zero)
    if name == "gamma":
        return zr.Gamma(gamma=params["gamma"]) if bias else GammaBiasFreeSign(params["gamma"], zero)
    if name == "wsquare":
        return zr.WSquare(zero_params=zero)
    if name == "flat":
        return zr.Flat()
    if name == "zbox":
        return zr.ZBox(low=case.low, high=case.high, zero_params=zero)
    raise KeyError(name)


def zennit_relevance(case: Case, composite: Any, float64: bool) -> np.ndarray:
    model = case.torch(float64)
    x = torch.from_numpy(case.x if float64 else case.x.astype(np.float32)).requires_grad_(True)
    n_out = case.arch["layers"][-1]["out_features"]
    onehot = torch.zeros(len(case.x), n_out, dtype=x.dtype)
    onehot[torch.arange(len(case.x)), torch.as_tensor(case.targets)] = 1
    with Gradient(model=model, composite=composite) as attributor:
        _, relevance = attributor(x, lambda out: out * onehot)
    return relevance.detach().numpy()


def name_map_composite(case: Case, method: Any, bias: bool) -> Any:
    name_map = [((str(i),), zennit_rule(case, n, p, bias)) for i, (n, p) in table_map(case, method).items()]
    return NameLayerMapComposite(name_map=name_map, layer_map=layer_map_base())


def ours64(case: Case, xp: Any, method: Any, params: dict, bias: bool) -> np.ndarray:
    net = case.ours(xp, float64=True)
    rules = resolve_rules(net, method, params)
    trace = net.trace(xp.asarray(case.x))
    start = one_hot_start(trace.output, xp.asarray(case.targets))
    return to_numpy(propagate(net, trace, start, rules, bias=bias)[0])


def assert_agrees(ours: np.ndarray, ref: np.ndarray, rtol: float) -> None:
    ours, ref = np.asarray(ours, np.float64).reshape(ref.shape), np.asarray(ref, np.float64)
    scale = np.abs(ref).max()
    assert scale > 0
    worst = np.abs(ours - ref).max() / scale
    assert worst <= rtol, f"max |ours - zennit| / max |zennit| = {worst:.3g} > {rtol:g}"


def assert_float32_agrees(ours32: np.ndarray, case: Case, composite: Any) -> None:
    """Our float32 result is as close to Zennit's float64 one as float32 allows (see module docstring)."""
    ref64 = zennit_relevance(case, composite(), True)
    zennit32 = zennit_relevance(case, composite(), False)
    scale = np.abs(ref64).max()
    own_error = np.abs(zennit32 - ref64).max() / scale
    assert_agrees(ours32, ref64, max(RTOL32, 3 * own_error))


def rule_cases():
    cases = []
    for name, params in RULE_CASES:
        biases = (True,) if name in ("flat", "zbox") else (True, False)  # flat and z-box ignore the bias
        for bias in biases:
            label = name + "".join(f"-{k}{v:g}" for k, v in params.items()) + ("" if bias else "-nobias")
            cases.append(pytest.param(name, params, bias, id=label))
    return cases


@pytest.mark.parametrize("net_name", NETWORKS)
@pytest.mark.parametrize("rule, params, bias", rule_cases())
def test_rule_agrees_with_zennit(backend, net_name, rule, params, bias):
    case = network_case(net_name)
    composite = name_map_composite(case, (rule, params), bias)
    assert_agrees(ours64(case, backend, rule, params, bias), zennit_relevance(case, composite, True), RTOL64)
    exp = explain(case.ours(backend, float64=False), case.x.astype(np.float32), target=case.targets, method=rule,
                  bias=bias, **params)
    assert_float32_agrees(exp.relevance, case, lambda: name_map_composite(case, (rule, params), bias))


@pytest.mark.parametrize("net_name", NETWORKS)
@pytest.mark.parametrize("composite_name", list(TABLE))
def test_composite_agrees_with_zennit_rules_per_layer(backend, net_name, composite_name):
    case = network_case(net_name)
    ref64 = zennit_relevance(case, name_map_composite(case, composite_name, True), True)
    assert_agrees(ours64(case, backend, composite_name, {}, True), ref64, RTOL64)
    exp = explain(case.ours(backend, float64=False), case.x.astype(np.float32), target=case.targets,
                  method=composite_name)
    assert_float32_agrees(exp.relevance, case, lambda: name_map_composite(case, composite_name, True))


def test_table_is_the_registry():
    assert set(TABLE) == set(COMPOSITES)


BUILTIN_CASES = [(n, c) for n in NETWORKS for c in BUILTIN
                 if not (n == "mlp" and c == "epsilon-gamma-box")]  # differs by design (module docstring)


@pytest.mark.parametrize("net_name, composite_name", BUILTIN_CASES, ids=[f"{n}-{c}" for n, c in BUILTIN_CASES])
def test_composite_agrees_with_zennit_builtin(backend, net_name, composite_name):
    case = network_case(net_name)
    builtin = BUILTIN[composite_name](case.low, case.high)
    assert_agrees(ours64(case, backend, composite_name, {}, True), zennit_relevance(case, builtin, True), RTOL64)


@pytest.mark.parametrize("net_name", NETWORKS)
def test_zennit_gamma_takes_the_sign_of_z_with_bias(backend, net_name):
    """Why the gamma cases without bias use GammaBiasFreeSign: Zennit's own Gamma differs from DESIGN.md there."""
    case = network_case(net_name)
    stock = NameLayerMapComposite(name_map=[((str(i),), zr.Gamma(gamma=0.25, zero_params=["bias"]))
                                            for i in case.linear], layer_map=layer_map_base())
    ours = ours64(case, backend, "gamma", {"gamma": 0.25}, False)
    assert np.abs(ours - zennit_relevance(case, stock, True)).max() > 1e-4 * np.abs(ours).max()


def test_epsilon_gamma_box_on_a_dense_first_layer_is_zbox_unlike_zennit_builtin(backend):
    """The one documented difference: DESIGN.md puts z-box on the MLP's first (dense) layer, Zennit does not."""
    case = network_case("mlp")
    ours = ours64(case, backend, "epsilon-gamma-box", {}, True)
    builtin = zennit_relevance(case, BUILTIN["epsilon-gamma-box"](case.low, case.high), True)
    assert np.abs(ours - builtin).max() > 1e-3 * np.abs(builtin).max()


@pytest.mark.parametrize("net_name", NETWORKS)
def test_gradient_baselines_agree_with_autograd_and_zennit(backend, net_name):
    case = network_case(net_name)
    for float64 in (True, False):
        dtype = np.float64 if float64 else np.float32
        model = case.torch(float64)
        x = torch.from_numpy(case.x.astype(dtype)).requires_grad_(True)
        model(x)[torch.arange(len(case.x)), torch.as_tensor(case.targets)].sum().backward()
        grad = x.grad.numpy()
        n_out = case.arch["layers"][-1]["out_features"]
        onehot = torch.zeros(len(case.x), n_out, dtype=x.dtype)
        onehot[torch.arange(len(case.x)), torch.as_tensor(case.targets)] = 1
        with IntegratedGradients(model=model, n_iter=32) as attributor:
            _, ig = attributor(torch.from_numpy(case.x.astype(dtype)), onehot)
        expected = {"gradient": grad, "gradient-x-input": grad * case.x.astype(dtype),
                    "integrated-gradients": ig.detach().numpy()}
        rtol = RTOL64 if float64 else RTOL32
        for method, ref in expected.items():
            if float64:
                net = case.ours(backend, float64=True)
                got = to_numpy(BASELINES[method](net, backend.asarray(case.x), backend.asarray(case.targets),
                                                 BASELINES[method].check({})))
            else:
                got = explain(case.ours(backend, float64=False), case.x.astype(np.float32), target=case.targets,
                              method=method).relevance
            assert_agrees(got, ref, rtol)
