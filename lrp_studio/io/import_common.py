"""What the importers share: the :class:`MissingModelInfo` error, readers of the user's values
(input shape, input range, class names), BatchNorm folding and the validated network build.

:mod:`.importing` (the dispatch), :mod:`.onnx_import` and :mod:`.state_dict_import` import from here,
so none of them needs another.
"""

from __future__ import annotations

import json
import math
from typing import Any, Sequence

import numpy as np

from lrp_studio.errors import ModelFileError, ParameterError
from lrp_studio.nn.network import Network

__all__ = [
    "MissingModelInfo", "PICKLE_ADVICE", "PICKLE_SUFFIXES", "build_network", "entry_output_shape",
    "fold_batchnorm", "merge_output_shape", "parse_classes", "parse_input_range", "parse_input_shape",
]

PICKLE_SUFFIXES = (".pt", ".pth", ".pkl", ".pickle", ".ckpt", ".tar", ".bin", ".joblib")
PICKLE_ADVICE = (
    "pickled PyTorch files are never loaded (unpickling can run any code stored in the file); convert it "
    "in PyTorch: export it to ONNX with torch.onnx.export(model, example_input, 'model.onnx'), or save the "
    "state dict with safetensors.torch.save_file(model.state_dict(), 'model.safetensors') and import that "
    "with its architecture (--arch)"
)


class MissingModelInfo(ModelFileError):
    """The file lacks something only the user can supply (input shape, architecture).

    Attributes
    ----------
    path : str
        The model file.
    what : str
        The argument of :func:`import_model` that supplies it: ``"input_shape"`` or ``"arch"``.
    problem : str
        What is missing, without advice (callers add their own, e.g. a CLI flag).
    """

    def __init__(self, path: Any, what: str, problem: str, example: str) -> None:
        self.path, self.what, self.problem, self.example = str(path), what, problem, example
        super().__init__(f"{path}: {problem}; give {what}, e.g. {what}={example}")

    def with_hint(self, hint: str) -> str:
        """The message with other advice, e.g. ``"pass --input-shape C,H,W"``."""
        return f"{self.path}: {self.problem}; {hint}"


# ----------------------------------------------------------------------------- user values
def parse_input_shape(value: Any, source: str = "input_shape") -> tuple[int, ...]:
    """``"1,28,28"``, ``[1, 28, 28]`` or ``(784,)`` -> a tuple of 1 to 3 positive ints (one sample)."""
    items: Any = value
    if isinstance(value, str):
        text = value.strip().strip("()[]")
        items = [v for v in text.replace("x", ",").split(",") if v.strip()]
    try:
        shape = tuple(int(v) for v in items)
        exact = all(float(v) == int(v) for v in items) if not isinstance(value, str) else True
    except (TypeError, ValueError):
        raise ParameterError(f"{source}: cannot read {value!r} as a shape like 1,28,28") from None
    if not exact or not 1 <= len(shape) <= 3 or min(shape) < 1:
        raise ParameterError(f"{source}: {value!r} must be 1 to 3 positive integers (one sample, no batch axis)")
    return shape


def parse_input_range(value: Any, source: str = "input_range") -> tuple[float, float]:
    """``"0,1"``, ``"[-1, 1]"`` or ``(0.0, 1.0)`` -> (low, high) with low < high, both finite."""
    items: Any = value
    if isinstance(value, str):
        text = value.strip().strip("()[]")
        items = [v for v in text.split(",") if v.strip()]
    try:
        low, high = (float(v) for v in items)
    except (TypeError, ValueError):
        raise ParameterError(f"{source}: cannot read {value!r} as two numbers LOW,HIGH") from None
    if not (math.isfinite(low) and math.isfinite(high) and low < high):
        raise ParameterError(f"{source}: {value!r} must be two finite numbers with LOW < HIGH")
    return low, high


def parse_channel_values(value: Any, source: str) -> list[float]:
    """``"0.485,0.456,0.406"``, ``"[0.5]"`` or a sequence -> a list of finite floats (one per channel)."""
    items: Any = value
    if isinstance(value, str):
        items = [v for v in value.strip().strip("()[]").split(",") if v.strip()]
    try:
        numbers = [float(v) for v in items]
    except (TypeError, ValueError):
        raise ParameterError(f"{source}: cannot read {value!r} as comma-separated numbers (one per channel)") from None
    if not numbers or not all(math.isfinite(v) for v in numbers):
        raise ParameterError(f"{source}: {value!r} must be one or more finite numbers (one per channel)")
    return numbers


def parse_classes(value: Any, source: str = "classes") -> list[str]:
    """A JSON list, a comma-separated string or a sequence -> class names."""
    if isinstance(value, str):
        text = value.strip()
        if text.startswith("["):
            try:
                value = json.loads(text)
            except ValueError:
                raise ParameterError(f"{source}: not a valid JSON list of names") from None
        else:
            value = [v.strip() for v in text.split(",")]
    if isinstance(value, (str, bytes)) or not isinstance(value, Sequence) or not value:
        raise ParameterError(f"{source}: expected a non-empty list of class names")
    names = [str(v) for v in value]
    if any(not n for n in names):
        raise ParameterError(f"{source}: class names must not be empty")
    return names


# ----------------------------------------------------------------------------- shared pieces
def entry_output_shape(entry: dict[str, Any], shape: tuple[int, ...]) -> tuple[int, ...]:
    """One sample's output shape of a model-file layer entry (no arrays allocated).

    Raises ParameterError when the layer does not fit ``shape``.
    """
    kind = entry["type"]
    if kind == "dense":
        if len(shape) != 1 or shape[0] != entry["in_features"]:
            raise ParameterError(f"dense layer expects {entry['in_features']} features, gets shape {shape}")
        return (entry["out_features"],)
    if kind == "flatten":
        return (math.prod(shape),)
    if kind in ("conv2d", "maxpool2d", "avgpool2d"):
        if len(shape) != 3:
            raise ParameterError(f"{kind} expects (C, H, W) inputs, gets shape {shape}")
        k, s, p = entry["kernel_size"], entry["stride"], entry.get("padding", 0)
        if kind == "conv2d" and shape[0] != entry["in_channels"]:
            raise ParameterError(f"conv2d expects {entry['in_channels']} input channels, gets shape {shape}")
        ho, wo = (shape[1] + 2 * p - k) // s + 1, (shape[2] + 2 * p - k) // s + 1
        if ho < 1 or wo < 1:
            raise ParameterError(f"{kind} kernel {k} does not fit input {shape}")
        return (entry["out_channels"] if kind == "conv2d" else shape[0], ho, wo)
    if kind == "globalavgpool":
        if len(shape) != 3:
            raise ParameterError(f"globalavgpool expects (C, H, W) inputs, gets shape {shape}")
        return (shape[0],)
    if kind == "batchnorm" and (len(shape) not in (1, 3) or shape[0] != entry["num_features"]):
        raise ParameterError(f"batchnorm of {entry['num_features']} channels gets shape {shape}")
    return shape


def merge_output_shape(kind: str, shapes: Sequence[tuple[int, ...]]) -> tuple[int, ...]:
    """One sample's output shape of an ``add`` (equal shapes) or ``concat`` (along axis 0 of a sample,
    the channels) of per-sample ``shapes``.

    Raises ParameterError when they do not fit together.
    """
    first = tuple(shapes[0])
    if kind == "add":
        if any(tuple(s) != first for s in shapes):
            raise ParameterError("add needs inputs of equal shape, got " + ", ".join(str(tuple(s)) for s in shapes))
        return first
    if any(len(s) != len(first) or tuple(s[1:]) != first[1:] for s in shapes):
        raise ParameterError("concat needs inputs that differ only in their channels, got "
                             + ", ".join(str(tuple(s)) for s in shapes))
    return (int(sum(s[0] for s in shapes)),) + first[1:]


def fold_batchnorm(weight: np.ndarray, bias: np.ndarray, gamma: np.ndarray, beta: np.ndarray,
                   mean: np.ndarray, var: np.ndarray, eps: float) -> tuple[np.ndarray, np.ndarray]:
    """Merge ``BN(W x + b)`` into one layer (per output channel, in float64).

    ``s = gamma / sqrt(var + eps)``; ``W' = W * s`` (row/filter k scaled by s_k),
    ``b' = (b - mean) * s + beta``.
    """
    scale = np.asarray(gamma, np.float64) / np.sqrt(np.asarray(var, np.float64) + float(eps))
    w = np.asarray(weight, np.float64) * scale.reshape((-1,) + (1,) * (weight.ndim - 1))
    b = (np.asarray(bias, np.float64) - np.asarray(mean, np.float64)) * scale + np.asarray(beta, np.float64)
    return w, b


def import_architecture(layers: list[dict[str, Any]], input_shape: tuple[int, ...],
                        input_range: tuple[float, float] | None, names: Sequence[str] | None = None,
                        node_inputs: Sequence[tuple[int, ...]] | None = None) -> tuple[dict[str, Any], list[str]]:
    """The model-file ``architecture`` of imported layers, and the node names its parameter keys use.

    A chain (``node_inputs`` None or every layer reading the previous stage) of version-1 layer types
    gives a version-1 architecture with the default names ``"0"``, ``"1"``, ... (as before graphs
    existed); anything else a version-2 one whose entries carry ``"name"`` and ``"inputs"``
    (``names`` are used only for graphs).
    """
    from lrp_studio.nn.graph import INPUT_NAME
    from lrp_studio.nn.layers import V1_LAYER_TYPES

    graph = node_inputs is not None and any(tuple(st) != (j,) for j, st in enumerate(node_inputs))
    version = 2 if graph or any(e["type"] not in V1_LAYER_TYPES for e in layers) else 1
    keys = list(names) if graph and names is not None else [str(j) for j in range(len(layers))]
    stages = list(node_inputs) if node_inputs is not None else [(j,) for j in range(len(layers))]
    entries = [dict(entry) for entry in layers]
    if version == 2:
        for j, entry in enumerate(entries):
            entry["name"] = keys[j]
            entry["inputs"] = [INPUT_NAME if s == 0 else keys[s - 1] for s in stages[j]]
    arch: dict[str, Any] = {"format": "lrp-studio-model", "version": version,
                            "input_shape": [int(v) for v in input_shape], "layers": entries}
    if input_range is not None:
        arch["input_range"] = [float(input_range[0]), float(input_range[1])]
    return arch, keys


def build_network(path: Any, layers: list[dict[str, Any]], params: dict[int, dict[str, np.ndarray]],
                  input_shape: tuple[int, ...], classes: Sequence[str] | None,
                  input_range: tuple[float, float] | None, classes_source: str = "classes", *,
                  names: Sequence[str] | None = None,
                  node_inputs: Sequence[tuple[int, ...]] | None = None) -> Network:
    """Validate imported layers and weights exactly as a model file is validated, then build the network.

    Parameters
    ----------
    path : path-like
        The imported file (for messages).
    layers : list of dict
        Model-file layer entries (DESIGN.md 3.1, README "Model file format").
    params : dict of int to dict of str to ndarray
        ``params[i]``: layer i's ``weight`` and ``bias`` (and a batchnorm's ``running_mean`` and
        ``running_var``), PyTorch shapes, any float dtype.
    input_shape : tuple of int
    classes, input_range : optional
    classes_source : str
        Where the class names came from (for the message when their number is wrong).
    names : sequence of str, optional (keyword only)
        Node names of a graph (see :func:`import_architecture`).
    node_inputs : sequence of tuple of int, optional (keyword only)
        The stages each layer reads (stage 0 = the input, k + 1 = layer k's output); None: a chain.

    Raises
    ------
    ModelFileError
        Layers that do not fit together, parameters of the wrong shape, NaN or infinite values, too
        many class names.
    """
    from lrp_studio.io import model as model_file

    arch, keys = import_architecture(layers, input_shape, input_range, names, node_inputs)
    where = {f"{keys[i]}.{name}": (i, name) for i, p in params.items() for name in p}
    try:
        expected = model_file.validate_architecture(arch)
        headers = {key: (tuple(params[i][name].shape), params[i][name].dtype) for key, (i, name) in where.items()}
        model_file.check_parameters(expected, headers)
    except model_file.Refused as problem:
        raise ModelFileError(f"{path}: the imported network is not valid: {problem}") from None
    try:
        net = Network.from_spec(arch, seed=None)
    except ParameterError as error:
        raise ModelFileError(f"{path}: the imported layers do not fit together: {error}") from None
    try:
        model_file.check_sample_sizes(net)
    except model_file.Refused as problem:
        raise ModelFileError(f"{path}: {problem}") from None
    state = {}
    for key in expected:
        index, name = where[key]
        with np.errstate(over="ignore", invalid="ignore"):
            array = np.ascontiguousarray(params[index][name], dtype=np.float32)
        if not np.isfinite(array).all():
            label = f"layer {index}" if keys[index] == str(index) else f"layer {index} ({keys[index]!r})"
            raise ModelFileError(f"{path}: {label} {name} contains NaN or infinite values (in float32)")
        state[key] = array
    net.load_state_dict(state)
    if classes is not None:
        if len(classes) != net.n_classes:
            raise ModelFileError(f"{path}: {classes_source} has {len(classes)} class names for {net.n_classes} outputs")
        net.classes = [str(c) for c in classes]
    return net
