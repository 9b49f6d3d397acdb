"""The Network: a directed acyclic graph of layers (sequential = the special case).

Layers are kept as a topologically ordered list. Stage 0 is the network input, stage j + 1 the
output of layer j, stage ``len(layers)`` the network output; layer j reads the stages
``node_inputs[j]`` (``(j,)`` in a sequential network). See :mod:`lrp_studio.nn.graph`.
"""

from __future__ import annotations

import copy
import math
from dataclasses import dataclass
from typing import Any, Iterable, Iterator, Sequence

import numpy as np

from lrp_studio.backend import asarray, get_xp, to_numpy, xp_of
from lrp_studio.errors import DataError, ParameterError
from lrp_studio.nn.graph import (
    check_names, check_no_dead_nodes, check_node_inputs, consumers_of, entry_inputs, infer_shapes, resolve_entries,
)
from lrp_studio.nn.layers import V1_LAYER_TYPES, Activation, Layer, Sigmoid, Tanh, layer_from_spec
from lrp_studio.nn.normalization import BatchNorm

Array = Any


@dataclass
class Trace:
    """Everything a forward pass kept for backward and LRP.

    Attributes
    ----------
    inputs : list of arrays
        The activation of every stage (``len(layers) + 1`` entries): ``inputs[0]`` is the network
        input, ``inputs[j + 1]`` layer j's output, ``inputs[-1]`` the network output (N, classes).
        In a sequential network ``inputs[j]`` is layer j's input; in a graph use
        :meth:`layer_input` / :meth:`layer_inputs`. Also available as :attr:`stages`.
    caches : list
        Per layer, what its ``backward`` needs (for conv layers: the input shape and im2col columns).
    node_inputs : list of tuple of int, optional
        The stages each layer read (``None``: sequential).
    """

    inputs: list[Array]
    caches: list[Any]
    node_inputs: list[tuple[int, ...]] | None = None

    @property
    def output(self) -> Array:
        return self.inputs[-1]

    @property
    def stages(self) -> list[Array]:
        """The stage activations (the same list as :attr:`inputs`)."""
        return self.inputs

    def input_stages(self, j: int) -> tuple[int, ...]:
        """The stages layer j read."""
        return (j,) if self.node_inputs is None else tuple(self.node_inputs[j])

    def layer_inputs(self, j: int) -> list[Array]:
        """The input arrays of layer j (one per stage it reads; several for a merge layer)."""
        return [self.inputs[s] for s in self.input_stages(j)]

    def layer_input(self, j: int) -> Array:
        """The single input array of layer j.

        Raises
        ------
        ParameterError
            Layer j reads several stages (a merge layer): use :meth:`layer_inputs`.
        """
        stages = self.input_stages(j)
        if len(stages) != 1:
            raise ParameterError(f"layer {j} reads {len(stages)} stages; use layer_inputs({j})")
        return self.inputs[stages[0]]


class Network:
    """A network of layers: sequential, or a directed acyclic graph with skip connections and merges.

    Parameters
    ----------
    layers : sequence of Layer
        In topological order.
    input_shape : tuple of int
        One sample's shape, e.g. (1, 28, 28) or (2,).
    classes : list of str, optional
        Names of the output classes.
    input_range : (low, high), optional
        Value range of the inputs (used by the zbox rule and SmoothGrad).
    inputs : sequence of sequences of int, optional (keyword only)
        ``inputs[j]``: the stages layer j reads (each <= j; stage 0 = the network input, stage
        k + 1 = layer k's output). Merge layers (``is_merge``) read two or more stages, every
        other layer one. Default: sequential, ``inputs[j] == (j,)``.
    names : sequence of str, optional (keyword only)
        Unique node names (not ``"input"``), used for parameter keys and display; default ``str(j)``.

    Attributes
    ----------
    node_inputs : list of tuple of int
        The stages each layer reads (always filled).
    names : list of str
    shapes : list of tuple of int
        ``shapes[k]``: per-sample shape of stage k. Layer j's input shape is
        ``shapes[node_inputs[j][0]]`` (``shapes[j]`` in a sequential network).

    Raises
    ------
    ParameterError
        Bad ``inputs`` or ``names``, a node whose output nothing reads (only the last may be
        the output), inconsistent shapes, an output that is not flat, class names not matching.
    """

    def __init__(
        self,
        layers: Sequence[Layer],
        input_shape: Sequence[int],
        classes: Sequence[str] | None = None,
        input_range: tuple[float, float] | None = None,
        *,
        inputs: Sequence[Sequence[int]] | None = None,
        names: Sequence[str] | None = None,
    ) -> None:
        self.layers = list(layers)
        self.input_shape = tuple(int(v) for v in input_shape)
        self.node_inputs = check_node_inputs(self.layers, inputs)
        self.names = check_names(names, len(self.layers))
        check_no_dead_nodes(consumers_of(self.node_inputs, len(self.layers) + 1), self.names)
        self.shapes = infer_shapes(self.layers, self.node_inputs, self.input_shape, self.names)
        if len(self.shapes[-1]) != 1:
            raise ParameterError(f"the network must end in a flat output, got shape {self.shapes[-1]}")
        n_out = int(np.prod(self.shapes[-1]))
        if classes is not None and len(classes) != n_out:
            raise ParameterError(f"{len(classes)} class names given for {n_out} outputs")
        self.classes = [str(c) for c in classes] if classes is not None else [str(i) for i in range(n_out)]
        self.input_range = (float(input_range[0]), float(input_range[1])) if input_range is not None else None
        self.training = False

    # ------------------------------------------------------------------ structure
    @property
    def is_sequential(self) -> bool:
        """True when every layer reads the previous stage (a plain chain).

        Cached against the current ``node_inputs`` (the hot paths take a plain loop when True).
        """
        key = tuple(self.node_inputs)
        cached = getattr(self, "_sequential_cache", None)
        if cached is None or cached[0] != key:
            cached = self._sequential_cache = (key, all(stages == (j,) for j, stages in enumerate(key)))
        return cached[1]

    def consumers(self, stage: int) -> list[int]:
        """The layers reading ``stage`` (ascending; empty for the network output)."""
        return [j for j, stages in enumerate(self.node_inputs) if stage in stages]

    def input_shapes(self, j: int) -> list[tuple[int, ...]]:
        """Per-sample shapes of layer j's inputs (one per stage it reads)."""
        return [self.shapes[s] for s in self.node_inputs[j]]

    @property
    def training(self) -> bool:
        """Training mode (BatchNorm uses batch statistics and updates its running ones); default False."""
        return self._training

    @training.setter
    def training(self, value: bool) -> None:
        self._training = bool(value)
        for layer in self.layers:
            layer.training = self._training

    @property
    def n_classes(self) -> int:
        return self.shapes[-1][0]

    @property
    def linear_indices(self) -> list[int]:
        """Indices of the dense and conv layers."""
        return [i for i, layer in enumerate(self.layers) if layer.is_linear]

    @property
    def has_default_names(self) -> bool:
        return all(name == str(j) for j, name in enumerate(self.names))

    def spec(self) -> dict[str, Any]:
        """The model file's ``architecture`` object (DESIGN.md 3.1; README "Model file format").

        Version 1 for a sequential network of version-1 layer types with default names (byte for
        byte as before); version 2 otherwise, where every entry carries ``"name"`` and ``"inputs"``.
        """
        v1 = self.is_sequential and self.has_default_names and all(l.type_name in V1_LAYER_TYPES for l in self.layers)
        entries = [layer.spec() for layer in self.layers]
        if not v1:
            for j, entry in enumerate(entries):
                entry["name"] = self.names[j]
                entry["inputs"] = entry_inputs(self.node_inputs, self.names, j)
        arch: dict[str, Any] = {
            "format": "lrp-studio-model",
            "version": 1 if v1 else 2,
            "input_shape": list(self.input_shape),
            "layers": entries,
            "classes": list(self.classes),
        }
        if self.input_range is not None:
            arch["input_range"] = list(self.input_range)
        return arch

    @classmethod
    def from_spec(cls, arch: dict[str, Any], seed: int | None = 0) -> "Network":
        """Build a network from an ``architecture`` object (v1 or v2); weights initialised with ``seed``."""
        layers = []
        entries = arch.get("layers", [])
        for index, entry in enumerate(entries):
            try:
                layers.append(layer_from_spec(entry))
            except (ParameterError, TypeError) as error:
                raise ParameterError(f"layer {index}: {error}") from None
        names, inputs = resolve_entries(entries)
        net = cls(layers, arch["input_shape"], arch.get("classes"), arch.get("input_range"), inputs=inputs, names=names)
        if seed is not None:
            net.init_weights(seed)
        return net

    def _state_items(self) -> Iterator[tuple[str, Layer, str, str]]:
        """(key, layer, "params"|"buffers", name) for every parameter and buffer."""
        for node, layer in zip(self.names, self.layers):
            for kind in ("params", "buffers"):
                for name in getattr(layer, kind, {}):
                    yield f"{node}.{name}", layer, kind, name

    def state_dict(self) -> dict[str, np.ndarray]:
        """Parameters and buffers as NumPy copies keyed ``"{name}.{param}"`` (PyTorch names and shapes).

        With default names that is ``"{i}.weight"`` / ``"{i}.bias"`` (plus ``"{i}.running_mean"`` /
        ``"{i}.running_var"`` for BatchNorm).
        """
        return {key: np.array(to_numpy(getattr(layer, kind)[name])) for key, layer, kind, name in self._state_items()}

    def load_state_dict(self, state: dict[str, np.ndarray]) -> None:
        """Copy parameters and buffers in (shapes must match exactly; missing or extra keys are errors)."""
        items = list(self._state_items())
        expected = {key: getattr(layer, kind)[name].shape for key, layer, kind, name in items}
        missing = sorted(set(expected) - set(state))
        extra = sorted(set(state) - set(expected))
        if missing or extra:
            raise ParameterError(f"parameters do not match the layers: missing {missing}, unexpected {extra}")
        for key, shape in expected.items():
            if tuple(state[key].shape) != tuple(shape):
                raise ParameterError(f"parameter {key} has shape {tuple(state[key].shape)}, expected {tuple(shape)}")
        for key, layer, kind, name in items:
            # copy: in-place optimizer updates must not write into the caller's arrays
            getattr(layer, kind)[name] = get_xp().array(state[key], dtype=np.float32)

    def init_weights(self, seed: int = 0) -> None:
        """He-normal init for layers followed by ReLU (or nothing), Xavier-normal before sigmoid/tanh.

        "Followed" means the first activation or dense/conv layer on the path through each node's
        first reader. Biases become zero; BatchNorm layers are reset (weight 1, bias 0, running
        mean 0, running variance 1).
        """
        rng = np.random.default_rng(seed)
        for i, layer in enumerate(self.layers):
            if isinstance(layer, BatchNorm):
                layer.reset()
            if not layer.is_linear:
                continue
            following = self._next_activation_or_linear(i)
            weight = layer.params["weight"]
            fan_in = layer.fan_in
            fan_out = weight.shape[0] * (weight[0, 0].size if weight.ndim == 4 else 1)
            if isinstance(following, (Sigmoid, Tanh)):
                std = math.sqrt(2.0 / (fan_in + fan_out))
            else:
                std = math.sqrt(2.0 / fan_in)
            layer.params["weight"] = asarray(rng.normal(0.0, std, size=weight.shape))
            layer.params["bias"] = asarray(np.zeros(weight.shape[0]))

    def _next_activation_or_linear(self, j: int) -> Layer | None:
        """The first activation or linear layer after layer j, following first readers."""
        stage = j + 1
        while True:
            readers = self.consumers(stage)
            if not readers:
                return None
            layer = self.layers[readers[0]]
            if isinstance(layer, Activation) or layer.is_linear:
                return layer
            stage = readers[0] + 1

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

    def apply_layer(self, j: int, xs: Sequence[Array]) -> tuple[Array, Any]:
        """``layers[j].forward`` on its input arrays ``xs`` (one per stage it reads)."""
        layer = self.layers[j]
        return layer.forward(list(xs)) if layer.is_merge else layer.forward(xs[0])

    def _run(self, values: dict[int, Array], order: Iterable[int], target: int) -> Array:
        """Run the layers ``order`` (ascending) on the stage activations ``values``; return stage ``target``.

        A stage is dropped from ``values`` after the last of these layers has read it.
        """
        order = list(order)
        last: dict[int, int] = {}
        for j in order:
            for s in self.node_inputs[j]:
                last[s] = j
        for j in order:
            stages = self.node_inputs[j]
            values[j + 1], _ = self.apply_layer(j, [values[s] for s in stages])
            for s in stages:
                if last[s] == j and s != target:
                    values.pop(s, None)
        return values[target]

    def ancestors(self, stage: int) -> list[int]:
        """The layers (ascending) whose outputs ``stage`` depends on, itself included."""
        needed: set[int] = set()
        todo = [self.check_stage(stage)]
        while todo:
            s = todo.pop()
            if s > 0 and s - 1 not in needed:
                needed.add(s - 1)
                todo.extend(self.node_inputs[s - 1])
        return sorted(needed)

    def forward_to(self, x: Array, stage: int) -> Array:
        """Activation of ``stage`` for a prepared batch (only the layers it depends on are run).

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
        stage = self.check_stage(stage)
        if self.is_sequential:
            for layer in self.layers[:stage]:
                x, _ = layer.forward(x)
            return x
        return self._run({0: x}, self.ancestors(stage), stage)

    def skip_stages(self, stage: int) -> list[int]:
        """Stages below ``stage`` that layers ``stage..`` read (skip connections around ``stage``)."""
        stage = self.check_stage(stage)
        return sorted({s for j in range(stage, len(self.layers)) for s in self.node_inputs[j] if s < stage})

    def forward_from(self, activation: Array, stage: int, trace: Trace | None = None) -> Array:
        """Run ``layers[stage:]`` on a stage's activation (N, *shapes[stage]); the output (N, classes).

        Stage 0 is a full forward pass; ``len(layers)`` returns ``activation`` itself. In a graph,
        layers after ``stage`` may also read earlier stages (a skip around ``stage``): those are
        taken from ``trace`` (a forward pass of the same batch).

        Raises
        ------
        ParameterError
            ``stage`` outside 0..len(layers), or a skip around it and no ``trace``.
        """
        stage = self.check_stage(stage)
        if self.is_sequential:
            for layer in self.layers[stage:]:
                activation, _ = layer.forward(activation)
            return activation
        values = {stage: activation}
        skipped = self.skip_stages(stage)
        if skipped and trace is None:
            raise ParameterError(
                f"layers after stage {stage} also read stage(s) {skipped} (a skip connection around it): "
                "pass trace= from a forward pass of the same batch"
            )
        for s in skipped:
            values[s] = trace.inputs[s]
        return self._run(values, range(stage, len(self.layers)), len(self.layers))

    def trace(self, x: Array) -> Trace:
        """Forward pass keeping every stage's activation and every layer's backward cache."""
        stages, caches = [x], []
        if self.is_sequential:
            for layer in self.layers:
                x, cache = layer.forward(x)
                stages.append(x)
                caches.append(cache)
            return Trace(stages, caches)
        for j in range(len(self.layers)):
            y, cache = self.apply_layer(j, [stages[s] for s in self.node_inputs[j]])
            stages.append(y)
            caches.append(cache)
        return Trace(stages, caches, [tuple(s) for s in self.node_inputs])

    def _needs_gradient(self, input_grad: bool) -> list[bool]:
        """Per stage: does a gradient there reach a parameter (or the input when ``input_grad``)?"""
        needs = [input_grad]
        for layer, stages in zip(self.layers, self.node_inputs):
            needs.append(bool(layer.params) or any(needs[s] for s in stages))
        return needs

    def backward(self, grad_out: Array, trace: Trace, input_grad: bool = True) -> tuple[Array | None, list[dict[str, Array]]]:
        """Gradient w.r.t. the input (N, *input_shape) and per-layer parameter gradients.

        Layers run in reverse order; the gradient of a stage read by several layers is the sum
        of what each sends down. With ``input_grad=False`` (training) only gradients that reach
        a parameter are computed (layers below the first parametrised ones are skipped, and those
        compute only their parameter gradients); the first return is None.
        """
        n = len(self.layers)
        grads: list[dict[str, Array]] = [{} for _ in self.layers]
        if self.is_sequential:
            return self._backward_chain(grad_out, trace, input_grad, grads)
        needs = self._needs_gradient(input_grad)
        stage_grads: list[Array | None] = [None] * (n + 1)
        stage_grads[n] = grad_out
        for j in range(n - 1, -1, -1):
            grad, stage_grads[j + 1] = stage_grads[j + 1], None
            layer, stages = self.layers[j], self.node_inputs[j]
            need_input = any(needs[s] for s in stages)
            if grad is None or not (need_input or layer.params):
                continue
            grad_in, grads[j] = layer.backward(grad, trace.caches[j], need_input=need_input)
            if not need_input:
                continue
            for s, g in zip(stages, grad_in if layer.is_merge else [grad_in]):
                if needs[s]:
                    stage_grads[s] = g if stage_grads[s] is None else stage_grads[s] + g
        return (stage_grads[0] if input_grad else None), grads

    def _backward_chain(self, grad: Array, trace: Trace, input_grad: bool,
                        grads: list[dict[str, Array]]) -> tuple[Array | None, list[dict[str, Array]]]:
        """:meth:`backward` of a sequential network: one plain loop (no per-stage bookkeeping)."""
        trained = [j for j, layer in enumerate(self.layers) if layer.params]
        lowest = 0 if input_grad or not trained else trained[0]
        for j in range(len(self.layers) - 1, lowest - 1, -1):
            grad, grads[j] = self.layers[j].backward(grad, trace.caches[j], need_input=input_grad or j > lowest)
        return (grad if input_grad else None), grads

    def predict(self, x: Any, batch_size: int = 1024) -> np.ndarray:
        """Outputs (N, classes) as NumPy, computed in batches."""
        array = self.prepare_input(x)
        parts = [to_numpy(self.forward(array[i : i + batch_size])) for i in range(0, array.shape[0], batch_size)]
        return np.concatenate(parts) if parts else np.zeros((0, self.n_classes), np.float32)

    def iter_params(self) -> Iterator[tuple[str, Array]]:
        """(key, array) for every trainable parameter, keys as in :meth:`state_dict` (buffers excluded)."""
        for node, layer in zip(self.names, self.layers):
            for name, value in layer.params.items():
                yield f"{node}.{name}", value

    def n_parameters(self) -> int:
        return int(sum(int(v.size) for _, v in self.iter_params()))

    def __repr__(self) -> str:
        body = ", ".join(l.type_name + (f"({l.spec().get('out_features', l.spec().get('out_channels', ''))})" if l.is_linear else "") for l in self.layers)
        kind = "" if self.is_sequential else "graph, "
        return f"Network({kind}input={self.input_shape}, [{body}])"


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
