"""Bundled models and named architectures (``mlp``, ``cnn``, or a short text spec)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from lrp_studio.data import MNIST_CLASSES, resource_path
from lrp_studio.errors import ModelFileError, ParameterError
from lrp_studio.nn import Network, lenet, mlp

BUNDLED_MODELS = {"mlp": "mlp_mnist.npz", "cnn": "cnn_mnist.npz"}

# How the bundled models were trained (``lrp-studio train`` reproduces them bit for bit on NumPy).
BUNDLED_RECIPES = {
    "mlp": dict(arch="mlp", epochs=15, batch_size=64, lr=0.05, optimizer="momentum", seed=0),
    "cnn": dict(arch="cnn", epochs=15, batch_size=64, lr=0.02, optimizer="momentum", seed=0),
}


def load_any_model(spec: str | Path) -> Network:
    """Load a bundled model by name (``mlp``, ``cnn``), a model file (``.npz``) or, imported on the
    fly, an ``.onnx`` / ``.safetensors`` model (see :func:`lrp_studio.io.import_model`)."""
    from lrp_studio.io import MissingModelInfo, import_model, load_model

    name = str(spec)
    if name in BUNDLED_MODELS:
        try:
            path = resource_path(BUNDLED_MODELS[name])
        except Exception as error:
            raise ModelFileError(f"bundled model {name!r} is missing from this installation ({error})") from None
        return load_model(path)
    if Path(name).suffix.lower() == ".npz":
        return load_model(name)
    try:
        return import_model(name)
    except MissingModelInfo as missing:
        flag = {"input_shape": "--input-shape C,H,W", "arch": "--arch SPEC"}.get(missing.what, missing.what)
        raise ModelFileError(missing.with_hint(
            f"convert it once with: lrp-studio import {name} {flag} --out model.npz")) from None


def build_architecture(spec: str, input_shape: tuple[int, ...] = (1, 28, 28), n_classes: int = 10,
                       classes: list[str] | None = None, input_range: tuple[float, float] | None = (0.0, 1.0),
                       seed: int = 0) -> Network:
    """A fresh network from a name or text spec.

    ``mlp`` = 784-300-100-10 ReLU, ``cnn`` = conv5x5(16)-pool-conv5x5(32)-pool-100-10 ReLU,
    ``mlp:H1,H2,...`` = an MLP with the given hidden widths, or a layer list such as
    ``conv:8:5,relu,maxpool:2,flatten,dense:64,relu,dense:10`` (``conv:C:K[:S[:P]]``, ``dense:N``,
    ``maxpool:K[:S]``, ``avgpool:K[:S]``, ``flatten``, ``relu``, ``sigmoid``, ``tanh``).
    """
    classes = classes or (list(MNIST_CLASSES) if n_classes == 10 else [str(i) for i in range(n_classes)])
    features = _prod(input_shape)
    spec = spec.strip()
    if spec == "mlp":
        return mlp([features, 300, 100, n_classes], seed=seed, input_shape=input_shape, classes=classes, input_range=input_range)
    if spec == "cnn":
        return lenet(n_classes=n_classes, seed=seed, input_shape=input_shape, classes=classes, input_range=input_range)
    if spec.startswith("mlp:"):
        hidden = [_int(v, spec) for v in spec[4:].split(",") if v.strip()]
        return mlp([features, *hidden, n_classes], seed=seed, input_shape=input_shape, classes=classes, input_range=input_range)
    layers = _parse_layers(spec, input_shape)
    arch = {"input_shape": list(input_shape), "layers": layers, "classes": classes, "input_range": input_range}
    return Network.from_spec(arch, seed=seed)


def _int(text: str, spec: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise ParameterError(f"architecture {spec!r}: {text!r} is not an integer") from None


def _parse_layers(spec: str, input_shape: tuple[int, ...]) -> list[dict[str, Any]]:
    """Text layer list -> model-file layer entries, filling in input sizes from the running shape."""
    from lrp_studio.nn.layers import layer_from_spec

    shape = tuple(input_shape)
    layers: list[dict[str, Any]] = []
    for token in (t.strip() for t in spec.split(",") if t.strip()):
        kind, *args = token.split(":")
        numbers = [_int(a, spec) for a in args]
        if kind == "conv" and 2 <= len(numbers) <= 4:
            stride = numbers[2] if len(numbers) > 2 else 1
            padding = numbers[3] if len(numbers) > 3 else 0
            entry = {"type": "conv2d", "in_channels": shape[0], "out_channels": numbers[0], "kernel_size": numbers[1],
                     "stride": stride, "padding": padding}
        elif kind == "dense" and len(numbers) == 1:
            if len(shape) != 1:
                layers.append({"type": "flatten"})
                shape = (int(_prod(shape)),)
            entry = {"type": "dense", "in_features": shape[0], "out_features": numbers[0]}
        elif kind in ("maxpool", "avgpool") and 1 <= len(numbers) <= 2:
            entry = {"type": f"{kind}2d", "kernel_size": numbers[0], "stride": numbers[-1]}
        elif kind in ("flatten", "relu", "sigmoid", "tanh") and not numbers:
            entry = {"type": kind}
        else:
            raise ParameterError(f"architecture {spec!r}: cannot read layer {token!r}")
        try:
            shape = layer_from_spec(entry).output_shape(shape) if kind in ("conv", "maxpool", "avgpool", "flatten") else (
                (entry["out_features"],) if kind == "dense" else shape)
        except ParameterError as error:
            raise ParameterError(f"architecture {spec!r}: layer {token!r}: {error}") from None
        layers.append(entry)
    return layers


def _prod(values: tuple[int, ...]) -> int:
    result = 1
    for v in values:
        result *= v
    return result
