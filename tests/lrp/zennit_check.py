"""Cross-check LRP Studio's rules, composites and baselines against Zennit (not a pytest module).

Run with an interpreter that has torch + zennit (and numpy), from the repository root:

    /work/venv-ref/bin/python tests/lrp/zennit_check.py

It builds the DESIGN.md 5 networks (MLP 784-300-100-10, CNN conv5x5(16)-pool-conv5x5(32)-pool-
dense100-dense10) and a small padded/strided CNN with the same random weights and biases in torch
and in LRP Studio, maps every rule and composite of DESIGN.md 3.3 onto Zennit hooks layer by layer,
and prints max |ours - zennit| / max |zennit| in float64 (our propagate() on float64 parameters vs
the torch model in double) and in float32 (our public explain() vs the torch model in float).
Zennit's own built-in composites are compared too; where their "first layer" differs from the
DESIGN table (Zennit's EpsilonGammaBox only special-cases a first *conv* layer) that is expected.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import torch
from zennit import composites as zc
from zennit import rules as zr
from zennit.attribution import Gradient, IntegratedGradients
from zennit.composites import NameLayerMapComposite, layer_map_base

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from lrp_studio import backend as lrp_backend  # noqa: E402
from lrp_studio.lrp import explain  # noqa: E402
from lrp_studio.lrp.explain import resolve_rules  # noqa: E402
from lrp_studio.lrp.propagate import one_hot_start, propagate  # noqa: E402
from lrp_studio.nn import Network  # noqa: E402

LOW, HIGH = 0.0, 1.0
EPS_SMALL = ("epsilon", {"epsilon": 1e-6})
ZPLUS = ("zplus", {})
BOX = ("zbox", {"low": LOW, "high": HIGH})
TABLE = {  # DESIGN.md 3.3: (first dense/conv layer, other conv, other dense)
    "epsilon-plus": ("by type", ZPLUS, EPS_SMALL),
    "epsilon-plus-flat": (("flat", {}), ZPLUS, EPS_SMALL),
    "epsilon-alpha2-beta1": ("by type", ("alphabeta", {"alpha": 2.0, "beta": 1.0}), EPS_SMALL),
    "epsilon-gamma-box": (BOX, ("gamma", {"gamma": 0.25}), EPS_SMALL),
    "deep-taylor": (BOX, ZPLUS, ZPLUS),
}
RULE_METHODS = [
    ("lrp0", {}), ("epsilon", {"epsilon": 0.25}), ("epsilon", {"epsilon": 3.0}), ("zplus", {}),
    ("alphabeta", {"alpha": 2.0, "beta": 1.0}), ("alphabeta", {"alpha": 1.0, "beta": 0.0}),
    ("gamma", {"gamma": 0.25}), ("gamma", {"gamma": 1.0}), ("wsquare", {}), ("flat", {}),
    ("zbox", {"low": LOW, "high": HIGH}),
]
BUILTIN = {
    "epsilon-plus": lambda: zc.EpsilonPlus(),
    "epsilon-plus-flat": lambda: zc.EpsilonPlusFlat(),
    "epsilon-alpha2-beta1": lambda: zc.EpsilonAlpha2Beta1(),
    "epsilon-gamma-box": lambda: zc.EpsilonGammaBox(low=LOW, high=HIGH),
}


def zennit_rule(name: str, params: dict, zero_bias: bool):
    zero = ["bias"] if zero_bias else None
    if name == "lrp0":
        return zr.Epsilon(epsilon=1e-6, zero_params=zero)
    if name == "epsilon":
        return zr.Epsilon(epsilon=params.get("epsilon", 0.25), zero_params=zero)
    if name == "zplus":
        return zr.ZPlus(zero_params=zero)
    if name == "alphabeta":
        return zr.AlphaBeta(alpha=params.get("alpha", 2.0), beta=params.get("beta", 1.0), zero_params=zero)
    if name == "gamma":
        return zr.Gamma(gamma=params.get("gamma", 0.25), zero_params=zero)
    if name == "wsquare":
        return zr.WSquare(zero_params=zero)
    if name == "flat":
        return zr.Flat()
    if name == "zbox":
        return zr.ZBox(low=params["low"], high=params["high"], zero_params=zero)
    raise KeyError(name)


def torch_model(arch) -> torch.nn.Sequential:
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


def mlp_arch():
    sizes = (784, 300, 100, 10)
    layers = []
    for i, (a, b) in enumerate(zip(sizes[:-1], sizes[1:])):
        layers.append({"type": "dense", "in_features": a, "out_features": b})
        if i < len(sizes) - 2:
            layers.append({"type": "relu"})
    return {"input_shape": [784], "layers": layers, "input_range": [LOW, HIGH]}


def lenet_arch():
    return {"input_shape": [1, 28, 28], "input_range": [LOW, HIGH], "layers": [
        {"type": "conv2d", "in_channels": 1, "out_channels": 16, "kernel_size": 5, "stride": 1, "padding": 0},
        {"type": "relu"}, {"type": "maxpool2d", "kernel_size": 2, "stride": 2},
        {"type": "conv2d", "in_channels": 16, "out_channels": 32, "kernel_size": 5, "stride": 1, "padding": 0},
        {"type": "relu"}, {"type": "maxpool2d", "kernel_size": 2, "stride": 2},
        {"type": "flatten"},
        {"type": "dense", "in_features": 512, "out_features": 100}, {"type": "relu"},
        {"type": "dense", "in_features": 100, "out_features": 10}]}


def small_cnn_arch():
    return {"input_shape": [2, 9, 9], "input_range": [LOW, HIGH], "layers": [
        {"type": "conv2d", "in_channels": 2, "out_channels": 4, "kernel_size": 3, "stride": 2, "padding": 1},
        {"type": "relu"}, {"type": "avgpool2d", "kernel_size": 2, "stride": 1},
        {"type": "conv2d", "in_channels": 4, "out_channels": 5, "kernel_size": 3, "stride": 1, "padding": 1},
        {"type": "relu"}, {"type": "maxpool2d", "kernel_size": 2, "stride": 2},
        {"type": "flatten"},
        {"type": "dense", "in_features": 20, "out_features": 12}, {"type": "relu"},
        {"type": "dense", "in_features": 12, "out_features": 4}]}


def random_state(net, seed):
    rng = np.random.default_rng(seed)
    state = {}
    for key, value in net.state_dict().items():
        if key.endswith("weight"):
            state[key] = rng.normal(0, np.sqrt(2.0 / np.prod(value.shape[1:])), size=value.shape)
        else:
            state[key] = rng.normal(0, 0.05, size=value.shape)
    return state


def rule_map(arch, method):
    """Layer index -> (rule name, params) per DESIGN.md 3.3 for a rule name or composite name."""
    linear = [i for i, layer in enumerate(arch["layers"]) if layer["type"] in ("dense", "conv2d")]
    if isinstance(method, tuple):
        return {i: method for i in linear}
    first, conv, dense = TABLE[method]
    result = {}
    for position, i in enumerate(linear):
        by_type = conv if arch["layers"][i]["type"] == "conv2d" else dense
        result[i] = by_type if position > 0 or first == "by type" else first
    return result


def zennit_attr(model, x, targets, composite):
    onehot = torch.zeros(len(x), model[-1].out_features, dtype=x.dtype)
    onehot[torch.arange(len(x)), torch.as_tensor(targets)] = 1
    inp = x.clone().requires_grad_(True)
    with Gradient(model=model, composite=composite) as attributor:
        _, relevance = attributor(inp, lambda out: out * onehot)
    return relevance.detach().numpy()


def ours64(net, x, targets, method_rules, bias=True):
    from lrp_studio.lrp.rules import make_rule

    rules = {i: make_rule(name, **params) for i, (name, params) in method_rules.items()}
    trace = net.trace(x)
    return propagate(net, trace, one_hot_start(trace.output, np.asarray(targets)), rules, bias=bias)[0]


def diff(ours, ref):
    ours, ref = np.asarray(ours, np.float64), np.asarray(ref, np.float64)
    scale = np.abs(ref).max()
    return np.abs(ours - ref).max() / scale if scale > 0 else np.abs(ours - ref).max()


def main():
    lrp_backend.set_backend("numpy")
    torch.manual_seed(0)
    rows = []
    for net_name, arch in (("mlp", mlp_arch()), ("lenet", lenet_arch()), ("small-cnn", small_cnn_arch())):
        net64 = Network.from_spec(arch, seed=0)
        state = random_state(net64, 1)
        for i, layer in enumerate(net64.layers):
            for name in layer.params:
                layer.params[name] = np.asarray(state[f"{i}.{name}"], np.float64)
        net32 = Network.from_spec(arch, seed=0)
        net32.load_state_dict({k: v.astype(np.float32) for k, v in state.items()})
        model64 = torch_model(arch).double()
        model64.load_state_dict({k: torch.from_numpy(v) for k, v in state.items()})
        model32 = torch_model(arch).float()
        model32.load_state_dict({k: torch.from_numpy(v.astype(np.float32)) for k, v in state.items()})
        rng = np.random.default_rng(2)
        x = rng.uniform(LOW, HIGH, size=(8,) + tuple(arch["input_shape"]))
        x32 = x.astype(np.float32)
        logits = model64(torch.from_numpy(x)).detach().numpy()
        targets = logits.argmax(axis=1)

        methods = [(n + ("(" + ", ".join(f"{k}={v}" for k, v in p.items()) + ")" if p else ""), (n, p))
                   for n, p in RULE_METHODS] + [(c, c) for c in TABLE]
        for label, method in methods:
            mapping = rule_map(arch, method)
            for bias in ((True, False) if isinstance(method, tuple) and method[0] in ("epsilon", "zplus") else (True,)):
                name_map = [((str(i),), zennit_rule(n, p, zero_bias=not bias)) for i, (n, p) in mapping.items()]
                comp = lambda: NameLayerMapComposite(name_map=name_map, layer_map=layer_map_base())  # noqa: E731
                ref64 = zennit_attr(model64, torch.from_numpy(x), targets, comp())
                got64 = ours64(net64, x, targets, mapping, bias=bias)
                ref32 = zennit_attr(model32, torch.from_numpy(x32), targets, comp())
                if isinstance(method, tuple):
                    got32 = explain(net32, x32, target=targets, method=method[0], bias=bias, **method[1]).relevance
                else:
                    got32 = explain(net32, x32, target=targets, method=method, bias=bias).relevance
                rows.append((net_name, label + ("" if bias else " bias=False"), diff(got64, ref64), diff(got32, ref32)))
        for name, make in BUILTIN.items():
            ref32 = zennit_attr(model32, torch.from_numpy(x32), targets, make())
            got32 = explain(net32, x32, target=targets, method=name).relevance
            note = " (*)" if name == "epsilon-gamma-box" and arch["layers"][0]["type"] == "dense" else ""
            rows.append((net_name, f"{name} vs zennit built-in{note}", float("nan"), diff(got32, ref32)))

        # baselines: gradient / gradient x input / integrated gradients (32 steps) against torch autograd / zennit
        inp = torch.from_numpy(x32).requires_grad_(True)
        out = model32(inp)
        out[torch.arange(len(x32)), torch.as_tensor(targets)].sum().backward()
        grad_ref = inp.grad.numpy()
        rows.append((net_name, "gradient vs autograd", float("nan"),
                     diff(explain(net32, x32, target=targets, method="gradient").relevance, grad_ref)))
        rows.append((net_name, "gradient-x-input vs autograd", float("nan"),
                     diff(explain(net32, x32, target=targets, method="gradient-x-input").relevance, grad_ref * x32)))
        onehot = torch.zeros(len(x32), 10 if net_name != "small-cnn" else 4)
        onehot[torch.arange(len(x32)), torch.as_tensor(targets)] = 1
        with IntegratedGradients(model=model32, n_iter=32) as attributor:
            _, ig_ref = attributor(torch.from_numpy(x32), onehot)
        rows.append((net_name, "integrated-gradients (32) vs zennit", float("nan"),
                     diff(explain(net32, x32, target=targets, method="integrated-gradients").relevance,
                          ig_ref.detach().numpy())))

    print(f"{'network':10s} {'method':44s} {'float64 rel':>12s} {'float32 rel':>12s}")
    for net_name, label, d64, d32 in rows:
        print(f"{net_name:10s} {label:44s} {d64:12.3g} {d32:12.3g}")
    worst64 = max(r[2] for r in rows if not np.isnan(r[2]))
    worst32 = max(r[3] for r in rows if "(*)" not in r[1])
    print(f"\nworst float64 (max|diff| / max|zennit|): {worst64:.3g}; worst float32: {worst32:.3g}")
    print("(*) expected: Zennit's EpsilonGammaBox puts ZBox on a first conv layer only; DESIGN.md 3.3 puts it on "
          "the first dense or conv layer, so a dense-first MLP differs there by design.")
    return rows


if __name__ == "__main__":
    main()
