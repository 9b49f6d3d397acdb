"""Slow, formula-literal twins of the LRP rules (DESIGN.md 3.3) and helpers for the LRP tests.

Everything here is plain NumPy float64 and explicit Python loops over outputs k and inputs j,
written as the table in DESIGN.md 3.3 states it, independent of ``lrp_studio``'s vectorised code.
A layer is described by its *fields*: for every output unit k the list of ``(j, w_jk)`` pairs of
the non-padding inputs feeding it (zero padding contributes nothing in any rule), plus ``b_k``.

Tests get the helpers through the ``twins`` fixture (no imports by path needed).
"""

from __future__ import annotations

import json
from types import SimpleNamespace
from typing import Any

import numpy as np
import pytest

DEFAULT_EPS = 1e-6


# --------------------------------------------------------------------------- scalars
def sign0(z: float) -> float:
    """Sign with sign(0) = +1."""
    return 1.0 if z >= 0 else -1.0


def stab(z: float, eps: float = DEFAULT_EPS) -> float:
    """stab(z) = z + eps * s(z), s(0) = +1."""
    return z + eps * sign0(z)


def pos(v: float) -> float:
    return v if v > 0 else 0.0


def neg(v: float) -> float:
    return v if v < 0 else 0.0


# --------------------------------------------------------------------------- fields
def dense_fields(weight: np.ndarray) -> list[list[tuple[int, float]]]:
    """fields[k] = [(j, w_jk) for every input j]; ``weight`` is (out, in) as in PyTorch."""
    n_out, n_in = weight.shape
    fields = []
    for k in range(n_out):
        field = []
        for j in range(n_in):
            field.append((j, float(weight[k, j])))
        fields.append(field)
    return fields


def conv_fields(weight: np.ndarray, in_shape: tuple[int, int, int], stride: int, padding: int
                ) -> tuple[list[list[tuple[int, float]]], list[int], tuple[int, int, int]]:
    """Receptive fields of a conv layer, looping over output positions and kernel offsets.

    Returns fields (one per output unit, flat C-order index o*Ho*Wo + i*Wo + j), the output
    channel of every output unit, and the output shape (O, Ho, Wo). Inputs are flat C-order
    indices c*H*W + y*W + x; positions in the zero padding are left out.
    """
    n_out, n_in, kh, kw = weight.shape
    c_in, h, w = in_shape
    assert c_in == n_in
    ho = (h + 2 * padding - kh) // stride + 1
    wo = (w + 2 * padding - kw) // stride + 1
    fields, channels = [], []
    for o in range(n_out):
        for i in range(ho):
            for jj in range(wo):
                field = []
                for c in range(c_in):
                    for di in range(kh):
                        for dj in range(kw):
                            y = i * stride + di - padding
                            x = jj * stride + dj - padding
                            if 0 <= y < h and 0 <= x < w:  # padding contributes nothing
                                field.append((c * h * w + y * w + x, float(weight[o, c, di, dj])))
                fields.append(field)
                channels.append(o)
    return fields, channels, (n_out, ho, wo)


def linear_forward(x: np.ndarray, fields, biases) -> np.ndarray:
    """z_k = sum_j x_j w_jk + b_k for one sample (flat x)."""
    z = np.zeros(len(fields))
    for k, field in enumerate(fields):
        total = 0.0
        for j, w in field:
            total += x[j] * w
        z[k] = total + biases[k]
    return z


# --------------------------------------------------------------------------- rules
def rule_twin(name: str, params: dict[str, Any], x: np.ndarray, fields, biases, relevance: np.ndarray,
              use_bias: bool = True, low: np.ndarray | None = None, high: np.ndarray | None = None) -> np.ndarray:
    """Input relevance of one sample for one dense/conv layer, literally per DESIGN.md 3.3.

    Parameters
    ----------
    x : (J,) flat input of one sample
    fields : per output k, list of (j, w_jk) over non-padding inputs
    biases : (K,) b_k per output unit (ignored when ``use_bias`` is False)
    relevance : (K,) R_k
    low, high : (J,) per-input bounds l_j, h_j (zbox)
    """
    r_in = np.zeros(len(x))
    for k, field in enumerate(fields):
        r_k = float(relevance[k])
        b = float(biases[k]) if use_bias else 0.0
        if name in ("lrp0", "epsilon"):
            eps = DEFAULT_EPS if name == "lrp0" else params.get("epsilon", 0.25)
            den = 0.0
            for j, w in field:
                den += x[j] * w
            den += b
            g = r_k / stab(den, eps)
            for j, w in field:
                r_in[j] += x[j] * w * g
        elif name == "zplus":
            den = 0.0
            for j, w in field:
                den += pos(x[j]) * pos(w) + neg(x[j]) * neg(w)
            den += pos(b)
            g = r_k / stab(den)
            for j, w in field:
                r_in[j] += (pos(x[j]) * pos(w) + neg(x[j]) * neg(w)) * g
        elif name == "alphabeta":
            alpha, beta = params.get("alpha", 2.0), params.get("beta", 1.0)
            p_sum, n_sum = 0.0, 0.0
            for j, w in field:
                p_sum += pos(x[j]) * pos(w) + neg(x[j]) * neg(w)
                n_sum += pos(x[j]) * neg(w) + neg(x[j]) * pos(w)
            p_k = stab(p_sum + pos(b))
            n_k = stab(n_sum + neg(b))
            for j, w in field:
                plus = pos(x[j]) * pos(w) + neg(x[j]) * neg(w)
                minus = pos(x[j]) * neg(w) + neg(x[j]) * pos(w)
                r_in[j] += (alpha * plus / p_k - beta * minus / n_k) * r_k
        elif name == "gamma":
            gamma = params.get("gamma", 0.25)
            z = 0.0
            for j, w in field:
                z += x[j] * w
            z += b
            if z == 0:
                continue
            nums = []
            for j, w in field:
                if z > 0:
                    nums.append(pos(x[j]) * (w + gamma * pos(w)) + neg(x[j]) * (w + gamma * neg(w)))
                else:
                    nums.append(pos(x[j]) * (w + gamma * neg(w)) + neg(x[j]) * (w + gamma * pos(w)))
            den = sum(nums) + b + (gamma * pos(b) if z > 0 else gamma * neg(b))
            g = r_k / stab(den)
            for (j, _), num in zip(field, nums):
                r_in[j] += num * g
        elif name == "wsquare":
            den = 0.0
            for _, w in field:
                den += w * w
            den += b * b
            g = r_k / stab(den)
            for j, w in field:
                r_in[j] += w * w * g
        elif name == "flat":
            count = 0
            for _ in field:
                count += 1
            g = r_k / stab(float(count))
            for j, _ in field:
                r_in[j] += 1.0 * g
        elif name == "zbox":
            nums = []
            for j, w in field:
                nums.append(x[j] * w - low[j] * pos(w) - high[j] * neg(w))
            g = r_k / stab(sum(nums))
            for (j, _), num in zip(field, nums):
                r_in[j] += num * g
        else:
            raise KeyError(name)
    return r_in


def maxpool_twin(x: np.ndarray, relevance: np.ndarray, kernel: int, stride: int) -> np.ndarray:
    """Winner-take-all per window (ties: first position in row-major order); x (C, H, W)."""
    c_n, h, w = x.shape
    ho, wo = (h - kernel) // stride + 1, (w - kernel) // stride + 1
    out = np.zeros_like(x)
    for c in range(c_n):
        for i in range(ho):
            for j in range(wo):
                best, best_pos = None, None
                for di in range(kernel):
                    for dj in range(kernel):
                        v = x[c, i * stride + di, j * stride + dj]
                        if best is None or v > best:  # strict: the first maximum wins
                            best, best_pos = v, (i * stride + di, j * stride + dj)
                out[c, best_pos[0], best_pos[1]] += relevance[c, i, j]
    return out


def maxpool_forward(x: np.ndarray, kernel: int, stride: int) -> np.ndarray:
    c_n, h, w = x.shape
    ho, wo = (h - kernel) // stride + 1, (w - kernel) // stride + 1
    out = np.zeros((c_n, ho, wo))
    for c in range(c_n):
        for i in range(ho):
            for j in range(wo):
                out[c, i, j] = max(x[c, i * stride + di, j * stride + dj] for di in range(kernel) for dj in range(kernel))
    return out


def avgpool_forward(x: np.ndarray, kernel: int, stride: int) -> np.ndarray:
    c_n, h, w = x.shape
    ho, wo = (h - kernel) // stride + 1, (w - kernel) // stride + 1
    out = np.zeros((c_n, ho, wo))
    for c in range(c_n):
        for i in range(ho):
            for j in range(wo):
                total = 0.0
                for di in range(kernel):
                    for dj in range(kernel):
                        total += x[c, i * stride + di, j * stride + dj]
                out[c, i, j] = total / (kernel * kernel)
    return out


def avgpool_twin(x: np.ndarray, relevance: np.ndarray, kernel: int, stride: int) -> np.ndarray:
    """Input j of window k gets x_j / K * R_k / stab(z_k), z_k the window mean."""
    c_n, h, w = x.shape
    ho, wo = (h - kernel) // stride + 1, (w - kernel) // stride + 1
    big_k = kernel * kernel
    z = avgpool_forward(x, kernel, stride)
    out = np.zeros_like(x)
    for c in range(c_n):
        for i in range(ho):
            for j in range(wo):
                for di in range(kernel):
                    for dj in range(kernel):
                        y, xx = i * stride + di, j * stride + dj
                        out[c, y, xx] += x[c, y, xx] / big_k * relevance[c, i, j] / stab(z[c, i, j])
    return out


# --------------------------------------------------------------------------- whole networks
def bounds_per_input(bound: Any, shape: tuple[int, ...]) -> np.ndarray:
    """Flat per-input bounds from a scalar, a per-channel (C,) array or a per-feature array."""
    value = np.asarray(bound, dtype=np.float64)
    if value.ndim == 1 and len(shape) == 3:
        value = value.reshape(-1, 1, 1)
    return np.broadcast_to(value, shape).reshape(-1).astype(np.float64)


def network_twin(arch: dict[str, Any], state: dict[str, np.ndarray], x: np.ndarray, start: np.ndarray,
                 rules: dict[int, tuple[str, dict[str, Any]]], use_bias: bool = True,
                 start_stage: int | None = None) -> tuple[list[np.ndarray | None], list[np.ndarray]]:
    """Forward one sample and propagate ``start`` down with the twin rules.

    Parameters
    ----------
    arch : the model file's architecture object (``net.spec()``)
    state : "{i}.weight"/"{i}.bias" float64 arrays
    x : one sample (input shape)
    start : relevance at ``start_stage`` (default: the output), any shape with the right size
    rules : layer index -> (rule name, parameters incl. low/high for zbox)

    Returns
    -------
    stages : flat relevance per stage (None above the start stage)
    activations : flat activation per stage
    """
    layers = arch["layers"]
    shapes = [tuple(arch["input_shape"])]
    acts = [np.asarray(x, dtype=np.float64).reshape(-1)]
    fields_of: dict[int, tuple[Any, np.ndarray]] = {}
    for i, layer in enumerate(layers):
        kind, a, shape = layer["type"], acts[-1], shapes[-1]
        if kind == "dense":
            weight = state[f"{i}.weight"]
            fields, biases = dense_fields(weight), state[f"{i}.bias"]
            fields_of[i] = (fields, biases)
            acts.append(linear_forward(a, fields, biases))
            shapes.append((weight.shape[0],))
        elif kind == "conv2d":
            weight = state[f"{i}.weight"]
            fields, channels, out_shape = conv_fields(weight, shape, layer["stride"], layer["padding"])
            biases = np.array([state[f"{i}.bias"][o] for o in channels])
            fields_of[i] = (fields, biases)
            acts.append(linear_forward(a, fields, biases))
            shapes.append(out_shape)
        elif kind == "relu":
            acts.append(np.array([v if v > 0 else 0.0 for v in a]))
            shapes.append(shape)
        elif kind in ("sigmoid", "tanh"):
            fn = (lambda v: 1 / (1 + np.exp(-v))) if kind == "sigmoid" else np.tanh
            acts.append(np.array([fn(v) for v in a]))
            shapes.append(shape)
        elif kind == "flatten":
            acts.append(a.copy())
            shapes.append((int(np.prod(shape)),))
        elif kind in ("maxpool2d", "avgpool2d"):
            fwd = maxpool_forward if kind == "maxpool2d" else avgpool_forward
            out = fwd(a.reshape(shape), layer["kernel_size"], layer["stride"])
            acts.append(out.reshape(-1))
            shapes.append(out.shape)
        else:
            raise KeyError(kind)
    top = len(layers) if start_stage is None else start_stage
    stages: list[np.ndarray | None] = [None] * (len(layers) + 1)
    relevance = np.asarray(start, dtype=np.float64).reshape(-1)
    stages[top] = relevance
    for i in range(top - 1, -1, -1):
        kind, a, shape = layers[i]["type"], acts[i], shapes[i]
        if kind in ("dense", "conv2d"):
            name, params = rules[i]
            fields, biases = fields_of[i]
            low = high = None
            if name == "zbox":
                low = bounds_per_input(params.get("low", 0.0), shape)
                high = bounds_per_input(params.get("high", 1.0), shape)
            relevance = rule_twin(name, params, a, fields, biases, relevance, use_bias, low, high)
        elif kind == "maxpool2d":
            relevance = maxpool_twin(a.reshape(shape), relevance.reshape(shapes[i + 1]),
                                     layers[i]["kernel_size"], layers[i]["stride"]).reshape(-1)
        elif kind == "avgpool2d":
            relevance = avgpool_twin(a.reshape(shape), relevance.reshape(shapes[i + 1]),
                                     layers[i]["kernel_size"], layers[i]["stride"]).reshape(-1)
        else:  # activations and flatten pass relevance unchanged
            relevance = relevance.copy()
        stages[i] = relevance
    return stages, acts


# --------------------------------------------------------------------------- building networks
def random_state(net: Any, seed: int, scale: float = 1.0, bias_scale: float = 0.3) -> dict[str, np.ndarray]:
    """Random float64 weights/biases with mixed signs for every parameter of ``net``."""
    rng = np.random.default_rng(seed)
    state = {}
    for key, value in net.state_dict().items():
        if key.endswith("weight"):
            fan_in = int(np.prod(value.shape[1:]))
            state[key] = rng.normal(0.0, scale / np.sqrt(fan_in), size=value.shape)
        else:
            state[key] = rng.normal(0.0, bias_scale, size=value.shape)
    return state


def set_state64(net: Any, state: dict[str, np.ndarray], xp: Any) -> None:
    """Put float64 parameters on the backend (``load_state_dict`` would cast to float32)."""
    for i, layer in enumerate(net.layers):
        for name in layer.params:
            layer.params[name] = xp.asarray(np.asarray(state[f"{i}.{name}"], dtype=np.float64))


def build(arch: dict[str, Any], state: dict[str, np.ndarray] | None, xp: Any, float64: bool = True,
          seed: int = 0) -> Any:
    """A network from an architecture object with the given (or random) parameters."""
    from lrp_studio.nn import Network

    net = Network.from_spec(json.loads(json.dumps(arch)), seed=seed)
    if state is None:
        state = random_state(net, seed)
    if float64:
        set_state64(net, state, xp)
    else:
        net.load_state_dict({k: np.asarray(v, dtype=np.float32) for k, v in state.items()})
    return net


def cnn_arch(input_range: tuple[float, float] | None = (-1.0, 2.0), classes: int = 3) -> dict[str, Any]:
    """conv-relu-maxpool-conv-relu-flatten-dense-relu-dense on (2, 8, 8) inputs."""
    return {
        "input_shape": [2, 8, 8],
        "layers": [
            {"type": "conv2d", "in_channels": 2, "out_channels": 3, "kernel_size": 3, "stride": 1, "padding": 1},
            {"type": "relu"},
            {"type": "maxpool2d", "kernel_size": 2, "stride": 2},
            {"type": "conv2d", "in_channels": 3, "out_channels": 4, "kernel_size": 3, "stride": 1, "padding": 0},
            {"type": "relu"},
            {"type": "flatten"},
            {"type": "dense", "in_features": 16, "out_features": 6},
            {"type": "relu"},
            {"type": "dense", "in_features": 6, "out_features": classes},
        ],
        "input_range": list(input_range) if input_range is not None else None,
    }


def mlp_arch(sizes: tuple[int, ...] = (10, 8, 6, 4), activation: str = "relu",
             input_range: tuple[float, float] | None = (-1.0, 2.0)) -> dict[str, Any]:
    layers: list[dict[str, Any]] = []
    for i, (a, b) in enumerate(zip(sizes[:-1], sizes[1:])):
        layers.append({"type": "dense", "in_features": a, "out_features": b})
        if i < len(sizes) - 2:
            layers.append({"type": activation})
    return {"input_shape": [sizes[0]], "layers": layers,
            "input_range": list(input_range) if input_range is not None else None}


def assert_close(actual: Any, expected: Any, rtol: float = 1e-10, atol_scale: float = 1e-12) -> None:
    """Relative comparison with an absolute floor scaled by the expected magnitude."""
    from lrp_studio.backend import to_numpy

    actual = np.asarray(to_numpy(actual), dtype=np.float64)
    expected = np.asarray(expected, dtype=np.float64)
    assert actual.shape == expected.shape, (actual.shape, expected.shape)
    scale = max(float(np.abs(expected).max(initial=0.0)), 1e-300)
    np.testing.assert_allclose(actual, expected, rtol=rtol, atol=atol_scale * scale)


# --------------------------------------------------------------------------- rule cases
# (id, rule name, parameters); zbox "per unit" bounds are drawn by the test for the layer at hand.
RULE_CASES = [
    ("lrp0", "lrp0", {}),
    ("eps0.01", "epsilon", {"epsilon": 0.01}),
    ("eps0.25", "epsilon", {"epsilon": 0.25}),
    ("eps3", "epsilon", {"epsilon": 3.0}),
    ("zplus", "zplus", {}),
    ("ab2-1", "alphabeta", {"alpha": 2.0, "beta": 1.0}),
    ("ab1-0", "alphabeta", {"alpha": 1.0, "beta": 0.0}),
    ("gamma0.25", "gamma", {"gamma": 0.25}),
    ("gamma1", "gamma", {"gamma": 1.0}),
    ("wsquare", "wsquare", {}),
    ("flat", "flat", {}),
    ("zbox-scalar", "zbox", {"low": -0.7, "high": 1.3}),
    ("zbox-low0", "zbox", {"low": 0.0, "high": 1.0}),  # the code skips the zero bound's products
    ("zbox-high0", "zbox", {"low": -1.0, "high": 0.0}),
    ("zbox-per-unit", "zbox", {"per_unit": True}),
]


def rule_params(params: dict[str, Any], n_units: int, seed: int = 5) -> dict[str, Any]:
    """Concrete rule parameters: per-unit zbox bounds become arrays of ``n_units`` values (low < high)."""
    if not params.get("per_unit"):
        return dict(params)
    rng = np.random.default_rng(seed)
    low = -rng.uniform(0.1, 1.0, size=n_units)
    high = rng.uniform(0.3, 1.7, size=n_units)
    return {"low": low, "high": high}


def pytest_generate_tests(metafunc: Any) -> None:
    if "rule_case" in metafunc.fixturenames:
        metafunc.parametrize("rule_case", [c[1:] for c in RULE_CASES], ids=[c[0] for c in RULE_CASES])


TWINS = SimpleNamespace(
    RULE_CASES=RULE_CASES, rule_params=rule_params,
    sign0=sign0, stab=stab, pos=pos, neg=neg, dense_fields=dense_fields, conv_fields=conv_fields,
    linear_forward=linear_forward, rule_twin=rule_twin, maxpool_twin=maxpool_twin, avgpool_twin=avgpool_twin,
    maxpool_forward=maxpool_forward, avgpool_forward=avgpool_forward, bounds_per_input=bounds_per_input,
    network_twin=network_twin, random_state=random_state, set_state64=set_state64, build=build,
    cnn_arch=cnn_arch, mlp_arch=mlp_arch, assert_close=assert_close, DEFAULT_EPS=DEFAULT_EPS,
)


@pytest.fixture(scope="session")
def twins() -> SimpleNamespace:
    """The slow formula-literal twins and network builders of this directory."""
    return TWINS
