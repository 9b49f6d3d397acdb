"""The Network: an ordered list of layers with input shape, class names and value range."""

from __future__ import annotations

import copy
import math
from dataclasses import dataclass
from typing import Any, Iterator, Sequence

import numpy as np

from lrp_studio.backend import asarray, get_xp, to_numpy, xp_of
from lrp_studio.errors import DataError, ParameterError
from lrp_studio.nn.layers import Activation, Layer, Sigmoid, Tanh, layer_from_spec

Array = Any


@dataclass
class Trace:
    """Everything a forward pass kept for backward and LRP.

    Attributes
    ----------
    inputs : list of arrays
        ``inputs[i]`` is the input of layer i; ``inputs[-1]`` (one longer than the layer list)
        is the network output (N, classes).
    caches : list
        Per layer, what its ``backward`` needs (for conv layers: the input shape and im2col columns).
    """

    inputs: list[Array]
    caches: list[Any]

    @property
    def output(self) -> Array:
        return self.inputs[-1]


class Network:
    """A sequential network.

    Parameters
    ----------
    layers : sequence of Layer
    input_shape : tuple of int
        One sample's shape, e.g. (1, 28, 28) or (2,).
    classes : list of str, optional
        Names of the output classes.
    input_range : (low, high), optional
        Value range of the inputs (used by the zbox rule and SmoothGrad).
    """

    def __init__(
        self,
        layers: Sequence[Layer],
        input_shape: Sequence[int],
        classes: Sequence[str] | None = None,
        input_range: tuple[float, float] | None = None,
    ) -> None:
        self.layers = list(layers)
        self.input_shape = tuple(int(v) for v in input_shape)
        self.shapes = self._infer_shapes()
        n_out = int(np.prod(self.shapes[-1]))
        if classes is not None and len(classes) != n_out:
            raise ParameterError(f"{len(classes)} class names given for {n_out} outputs")
        self.classes = [str(c) for c in classes] if classes is not None else [str(i) for i in range(n_out)]
        self.input_range = (float(input_range[0]), float(input_range[1])) if input_range is not None else None

    # ------------------------------------------------------------------ structure
    def _infer_shapes(self) -> list[tuple[int, ...]]:
        """Per-sample shapes: ``shapes[i]`` is layer i's input, ``shapes[-1]`` the output."""
        shapes = [self.input_shape]
        for index, layer in enumerate(self.layers):
            try:
                shapes.append(tuple(layer.output_shape(shapes[-1])))
            except ParameterError as error:
                raise ParameterError(f"layer {index}: {error}") from None
        if len(shapes[-1]) != 1:
            raise ParameterError(f"the network must end in a flat output, got shape {shapes[-1]}")
        return shapes

    @property
    def n_classes(self) -> int:
        return self.shapes[-1][0]

    @property
    def linear_indices(self) -> list[int]:
        """Indices of the dense and conv layers."""
        return [i for i, layer in enumerate(self.layers) if layer.is_linear]

    def spec(self) -> dict[str, Any]:
        """The model file's ``architecture`` object (DESIGN.md 3.1)."""
        arch: dict[str, Any] = {
            "format": "lrp-studio-model",
            "version": 1,
            "input_shape": list(self.input_shape),
            "layers": [layer.spec() for layer in self.layers],
            "classes": list(self.classes),
        }
        if self.input_range is not None:
            arch["input_range"] = list(self.input_range)
        return arch

    @classmethod
    def from_spec(cls, arch: dict[str, Any], seed: int | None = 0) -> "Network":
        """Build a network from an ``architecture`` object; weights initialised with ``seed``."""
        layers = []
        for index, entry in enumerate(arch.get("layers", [])):
            try:
                layers.append(layer_from_spec(entry))
            except (ParameterError, TypeError) as error:
                raise ParameterError(f"layer {index}: {error}") from None
        net = cls(layers, arch["input_shape"], arch.get("classes"), arch.get("input_range"))
        if seed is not None:
            net.init_weights(seed)
        return net

    def state_dict(self) -> dict[str, np.ndarray]:
        """Parameters as NumPy arrays keyed ``"{i}.weight"`` / ``"{i}.bias"`` (PyTorch order)."""
        return {
            f"{i}.{name}": np.array(to_numpy(value))  # a copy: never the live parameter arrays
            for i, layer in enumerate(self.layers)
            for name, value in layer.params.items()
        }

    def load_state_dict(self, state: dict[str, np.ndarray]) -> None:
        """Copy parameters in (shapes must match exactly; missing or extra keys are errors)."""
        expected = {f"{i}.{n}": v.shape for i, layer in enumerate(self.layers) for n, v in layer.params.items()}
        missing = sorted(set(expected) - set(state))
        extra = sorted(set(state) - set(expected))
        if missing or extra:
            raise ParameterError(f"parameters do not match the layers: missing {missing}, unexpected {extra}")
        for key, shape in expected.items():
            if tuple(state[key].shape) != tuple(shape):
                raise ParameterError(f"parameter {key} has shape {tuple(state[key].shape)}, expected {tuple(shape)}")
        for i, layer in enumerate(self.layers):
            for name in layer.params:
                # copy: in-place optimizer updates must not write into the caller's arrays
                layer.params[name] = get_xp().array(state[f"{i}.{name}"], dtype=np.float32)

    def init_weights(self, seed: int = 0) -> None:
        """He-normal init for layers followed by ReLU (or nothing), Xavier-normal before sigmoid/tanh."""
        rng = np.random.default_rng(seed)
        for i, layer in enumerate(self.layers):
            if not layer.is_linear:
                continue
            following = next((l for l in self.layers[i + 1 :] if isinstance(l, Activation) or l.is_linear), None)
            weight = layer.params["weight"]
            fan_in = layer.fan_in
            fan_out = weight.shape[0] * (weight[0, 0].size if weight.ndim == 4 else 1)
            if isinstance(following, (Sigmoid, Tanh)):
                std = math.sqrt(2.0 / (fan_in + fan_out))
            else:
                std = math.sqrt(2.0 / fan_in)
            layer.params["weight"] = asarray(rng.normal(0.0, std, size=weight.shape))
            layer.params["bias"] = asarray(np.zeros(weight.shape[0]))

    def copy(self) -> "Network":
        """Deep copy (independent parameters)."""
        return copy.deepcopy(self)

    # ------------------------------------------------------------------ computing
    def prepare_input(self, x: Any) -> Array:
        """Validate and move a batch onto the backend as float32 (N, *input_shape).

        Accepts flat rows (N, prod(input_shape)) for image models and a single sample
        without batch axis.
        """
        xp = get_xp()
        if isinstance(x, xp.ndarray):
            array = x.astype(np.float32, copy=False)
        else:  # lists, scalars, or arrays of the other backend
            array = xp.asarray(to_numpy(x) if xp_of(x) is not xp else x, dtype=np.float32)
        size = int(np.prod(self.input_shape))
        if array.size == size and array.ndim <= len(self.input_shape):  # one sample without batch axis
            array = array.reshape((1,) + self.input_shape)
        elif array.ndim >= 2 and int(np.prod(array.shape[1:])) == size:
            array = array.reshape((array.shape[0],) + self.input_shape)
        else:
            raise DataError(f"input of shape {tuple(array.shape)} does not fit the model's input shape {self.input_shape}")
        if not bool(xp.isfinite(array).all()):
            raise DataError("input contains NaN or infinite values")
        return array

    def forward(self, x: Array) -> Array:
        """Network output (N, classes) for a prepared batch; keeps nothing."""
        return self.forward_from(x, 0)

    def check_stage(self, stage: int) -> int:
        """``stage`` as an int in 0..len(layers) (0 = the input, i + 1 = the output of layer i).

        Raises
        ------
        ParameterError
            ``stage`` is not an integer in that range.
        """
        if isinstance(stage, bool) or int(stage) != stage or not 0 <= int(stage) <= len(self.layers):
            raise ParameterError(f"stage must be an integer in 0..{len(self.layers)}, got {stage}")
        return int(stage)

    def forward_to(self, x: Array, stage: int) -> Array:
        """Activation of ``stage`` for a prepared batch: ``layers[:stage]`` applied to ``x``.

        Parameters
        ----------
        x : array (N, *input_shape)
        stage : int
            0 returns ``x``; ``len(layers)`` the output (N, classes).

        Returns
        -------
        array (N, *shapes[stage])

        Raises
        ------
        ParameterError
            ``stage`` outside 0..len(layers).
        """
        for layer in self.layers[: self.check_stage(stage)]:
            x, _ = layer.forward(x)
        return x

    def forward_from(self, activation: Array, stage: int) -> Array:
        """Run ``layers[stage:]`` on a stage's activation (N, *shapes[stage]); the output (N, classes).

        Stage 0 is a full forward pass; ``len(layers)`` returns ``activation`` itself.

        Raises
        ------
        ParameterError
            ``stage`` outside 0..len(layers).
        """
        for layer in self.layers[self.check_stage(stage) :]:
            activation, _ = layer.forward(activation)
        return activation

    def trace(self, x: Array) -> Trace:
        """Forward pass keeping every layer's input and backward cache."""
        inputs, caches = [x], []
        for layer in self.layers:
            x, cache = layer.forward(x)
            inputs.append(x)
            caches.append(cache)
        return Trace(inputs, caches)

    def backward(self, grad_out: Array, trace: Trace, input_grad: bool = True) -> tuple[Array | None, list[dict[str, Array]]]:
        """Gradient w.r.t. the input (N, *input_shape) and per-layer parameter gradients.

        With ``input_grad=False`` (training) the layers below the first dense/conv layer are
        skipped and that layer computes only its parameter gradients; the first return is None.
        """
        grads: list[dict[str, Array]] = [{} for _ in self.layers]
        linear = self.linear_indices
        lowest = 0 if input_grad or not linear else linear[0]
        grad = grad_out
        for i in range(len(self.layers) - 1, lowest - 1, -1):
            grad, grads[i] = self.layers[i].backward(grad, trace.caches[i], need_input=input_grad or i > lowest)
        return (grad if input_grad else None), grads

    def predict(self, x: Any, batch_size: int = 1024) -> np.ndarray:
        """Outputs (N, classes) as NumPy, computed in batches."""
        array = self.prepare_input(x)
        parts = [to_numpy(self.forward(array[i : i + batch_size])) for i in range(0, array.shape[0], batch_size)]
        return np.concatenate(parts) if parts else np.zeros((0, self.n_classes), np.float32)

    def iter_params(self) -> Iterator[tuple[str, Array]]:
        """(key, array) for every parameter, keys as in :meth:`state_dict`."""
        for i, layer in enumerate(self.layers):
            for name, value in layer.params.items():
                yield f"{i}.{name}", value

    def n_parameters(self) -> int:
        return int(sum(int(v.size) for _, v in self.iter_params()))

    def __repr__(self) -> str:
        body = ", ".join(l.type_name + (f"({l.spec().get('out_features', l.spec().get('out_channels', ''))})" if l.is_linear else "") for l in self.layers)
        return f"Network(input={self.input_shape}, [{body}])"


def mlp(sizes: Sequence[int], activation: str = "relu", seed: int = 0, input_shape: Sequence[int] | None = None,
        classes: Sequence[str] | None = None, input_range: tuple[float, float] | None = None) -> Network:
    """Multi-layer perceptron ``sizes[0] -> ... -> sizes[-1]`` with ``activation`` between dense layers.

    With an image ``input_shape`` a flatten layer comes first.
    """
    layers: list[dict[str, Any]] = []
    shape = list(input_shape) if input_shape is not None else [sizes[0]]
    if len(shape) > 1:
        layers.append({"type": "flatten"})
    for i, (a, b) in enumerate(zip(sizes[:-1], sizes[1:])):
        layers.append({"type": "dense", "in_features": a, "out_features": b})
        if i < len(sizes) - 2:
            layers.append({"type": activation})
    arch = {"input_shape": shape, "layers": layers, "classes": classes, "input_range": input_range}
    return Network.from_spec(arch, seed=seed)


def lenet(channels: tuple[int, int] = (16, 32), hidden: int = 100, n_classes: int = 10, seed: int = 0,
          input_shape: Sequence[int] = (1, 28, 28), classes: Sequence[str] | None = None,
          input_range: tuple[float, float] | None = (0.0, 1.0)) -> Network:
    """The CNN of DESIGN.md 5: conv5x5(16)-maxpool2-conv5x5(32)-maxpool2-dense100-dense10, ReLU."""
    c, h, w = input_shape
    c1, c2 = channels
    side = ((h - 4) // 2 - 4) // 2
    layers = [
        {"type": "conv2d", "in_channels": c, "out_channels": c1, "kernel_size": 5, "stride": 1, "padding": 0},
        {"type": "relu"}, {"type": "maxpool2d", "kernel_size": 2, "stride": 2},
        {"type": "conv2d", "in_channels": c1, "out_channels": c2, "kernel_size": 5, "stride": 1, "padding": 0},
        {"type": "relu"}, {"type": "maxpool2d", "kernel_size": 2, "stride": 2},
        {"type": "flatten"},
        {"type": "dense", "in_features": c2 * side * side, "out_features": hidden}, {"type": "relu"},
        {"type": "dense", "in_features": hidden, "out_features": n_classes},
    ]
    arch = {"input_shape": list(input_shape), "layers": layers, "classes": classes, "input_range": input_range}
    return Network.from_spec(arch, seed=seed)
