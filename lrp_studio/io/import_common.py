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
    "fold_batchnorm", "parse_classes", "parse_input_range", "parse_input_shape",
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
    return shape


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


def build_network(path: Any, layers: list[dict[str, Any]], params: dict[int, dict[str, np.ndarray]],
                  input_shape: tuple[int, ...], classes: Sequence[str] | None,
                  input_range: tuple[float, float] | None, classes_source: str = "classes") -> Network:
    """Validate imported layers and weights exactly as a model file is validated, then build the network.

    ``params[i]`` holds layer i's ``weight`` and ``bias`` (PyTorch shapes, any float dtype).
    """
    from lrp_studio.io import model as model_file

    arch: dict[str, Any] = {
        "format": model_file.FORMAT_NAME, "version": model_file.FORMAT_VERSION,
        "input_shape": [int(v) for v in input_shape], "layers": layers,
    }
    if input_range is not None:
        arch["input_range"] = [float(input_range[0]), float(input_range[1])]
    try:
        expected = model_file.validate_architecture(arch)
        headers = {f"{i}.{name}": (tuple(a.shape), a.dtype) for i, p in params.items() for name, a in p.items()}
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
        index, name = key.split(".")
        with np.errstate(over="ignore", invalid="ignore"):
            array = np.ascontiguousarray(params[int(index)][name], dtype=np.float32)
        if not np.isfinite(array).all():
            raise ModelFileError(f"{path}: layer {index} {name} contains NaN or infinite values (in float32)")
        state[key] = array
    net.load_state_dict(state)
    if classes is not None:
        if len(classes) != net.n_classes:
            raise ModelFileError(f"{path}: {classes_source} has {len(classes)} class names for {net.n_classes} outputs")
        net.classes = [str(c) for c in classes]
    return net
