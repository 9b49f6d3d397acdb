"""Import ONNX graphs, sequential or branching (needs the optional ``onnx`` package: ``pip install 'lrp-studio[onnx]'``).

The graph becomes a :class:`~lrp_studio.nn.Network` whose stages are the graph's computed tensors (a
tensor read by several nodes is one stage read by several layers). Supported nodes:

- ``Gemm`` (transB 0/1, alpha, beta), ``MatMul`` (+ ``Add``/``Sub`` of a per-output constant: the bias),
  ``Conv`` (square kernel, equal strides, symmetric equal padding, dilations 1, group 1; a following
  constant ``Add`` becomes its bias),
- ``Relu``, ``Sigmoid``, ``Tanh``,
- ``MaxPool`` / ``AveragePool`` (square kernel, equal strides, no padding), ``GlobalAveragePool`` (a
  ``globalavgpool`` layer, (N, C, H, W) -> (N, C); a ``Flatten``/``Reshape``/``Squeeze`` of its
  (N, C, 1, 1) result adds no layer), ``ReduceMean`` over height and width (the same layer),
  ``GlobalMaxPool`` (square maps),
- ``Flatten`` (axis 1), ``Reshape`` / ``Squeeze`` that flatten to (batch, features),
- merges: ``Add`` / ``Sum`` of two or more computed tensors of equal shape (a residual addition: an
  ``add`` layer) and ``Concat`` along the channels (axis 1: a ``concat`` layer),
- ``BatchNormalization`` (eval mode): merged into the Conv/Gemm/MatMul right before it when nothing
  else reads that layer's output, ``W' = W * gamma / sqrt(var + eps)``,
  ``b' = (b - mean) * gamma / sqrt(var + eps) + beta``; otherwise kept as a ``batchnorm`` layer
  (explanations merge it into a neighbouring layer, :mod:`lrp_studio.lrp.canonizers`),
- ``Softmax`` / ``LogSoftmax`` as the last node: dropped (relevance starts at the logits),
- ``Identity`` / ``Dropout``: skipped.

Nodes the graph output does not depend on are ignored (with a note). A chain of model-file version-1
layer types imports as before (default node names ``"0"``, ``"1"``, ...); a graph gets node names
from the PyTorch module of each weight initializer (``"block1.conv1"`` from
``"block1.conv1.weight"``), else from the ONNX node's name, and saves as model file version 2.

Weights come from initializers, ``Constant`` nodes, or small constant sub-graphs (``Identity``,
``Transpose``, ``Cast``, shape arithmetic such as ``Shape -> Gather -> Concat`` feeding a
``Reshape``), which are evaluated once with ONNX's reference implementation. Anything else raises a
:class:`~lrp_studio.errors.ModelFileError` naming the node, its operator and its index in the graph.

Class names come from the model's ``metadata_props`` key ``classes`` (a JSON list or comma-separated
names), the input range from ``input_range`` (``"0,1"`` or ``[0, 1]``) when present.
"""

from __future__ import annotations

import math
import warnings
from collections import Counter
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from lrp_studio.errors import ModelFileError, ParameterError
from lrp_studio.io.import_common import (
    MissingModelInfo, build_network, entry_output_shape, fold_batchnorm, merge_output_shape, parse_classes,
    parse_input_range,
)
from lrp_studio.io.onnx_constants import OnnxGraphReader
from lrp_studio.nn.graph import INPUT_NAME
from lrp_studio.nn.network import Network

__all__ = ["SUPPORTED_OPS", "import_onnx", "import_onnx_with_notes"]

SUPPORTED_OPS = (
    "Gemm", "MatMul", "Add", "Sub", "Conv", "Relu", "Sigmoid", "Tanh", "MaxPool", "AveragePool",
    "GlobalAveragePool", "GlobalMaxPool", "Flatten", "Reshape", "Squeeze", "BatchNormalization",
    "Softmax", "LogSoftmax", "Identity", "Dropout", "Sum", "Concat", "ReduceMean",
)
_FLOAT_TYPES = {0, 1, 10, 11, 16}  # undefined, float, float16, double, bfloat16


class _OnnxImporter(OnnxGraphReader):
    """Walks the graph once, in its (topological) node order, building layer entries and weights."""

    def __init__(self, path: Path, onnx: Any, model: Any) -> None:
        super().__init__(path, onnx, model)
        # Data tensors (computed from the graph input): the network stage holding their values and
        # their per-sample shape as ONNX sees it (the "view": (C, 1, 1) after a GlobalAveragePool,
        # whose stage is (C,)).
        self.view: dict[str, tuple[int, ...]] = {}
        self.stage_shapes: list[tuple[int, ...]] = []  # per stage (0 = the input)
        self.stage_reads: dict[int, int] = {}          # how many node inputs (and graph outputs) read a stage
        self.linear_at: dict[int, int] = {}            # stage -> the Conv/Dense layer that computes it
        self.readers: Counter[str] = Counter()         # tensor -> how many node inputs / graph outputs read it
        self.needed: set[str] = set()                  # tensors the graph output depends on
        self.layers: list[dict[str, Any]] = []
        self.node_inputs: list[tuple[int, ...]] = []
        self.names: list[str] = []
        self.params: dict[int, dict[str, np.ndarray]] = {}
        self.final: str | None = None                 # the Softmax that ended the network
        self.notes: list[str] = []
        self.batch = 1                                # the graph's batch size where fixed (for Shape)
        self.input_shape: tuple[int, ...] = ()
        # the node being converted: its data input's stage and view (what the op_* handlers read)
        self.source = 0
        self.shape: tuple[int, ...] = ()
        self.node_label = ""
        self.node_weight = ""                         # the name of its weight input (for the node name)
        self.new_stage: int | None = None             # set when the node added a layer

    # ------------------------------------------------------------------ graph ends
    def read_input(self, input_shape: tuple[int, ...] | None) -> str:
        inputs = [i for i in self.graph.input if i.name not in self.consts]
        if len(inputs) != 1:
            names = ", ".join(repr(i.name) for i in inputs) or "none"
            raise self.fail(f"expected exactly one input tensor, found {len(inputs)} ({names}); "
                            "only single-input sequential networks are supported")
        if len(self.graph.output) != 1:
            raise self.fail(f"expected exactly one output, found {len(self.graph.output)}")
        graph_input = inputs[0]
        if not graph_input.type.HasField("tensor_type"):
            raise self.fail(f"input {graph_input.name!r} is not a tensor")
        tensor_type = graph_input.type.tensor_type
        if tensor_type.elem_type not in _FLOAT_TYPES:
            raise self.fail(f"input {graph_input.name!r} has element type "
                            f"{self.onnx.TensorProto.DataType.Name(tensor_type.elem_type)}; expected floats")
        dims: list[int | None] | None = None
        if tensor_type.HasField("shape"):
            dims = [d.dim_value if d.HasField("dim_value") and d.dim_value > 0 else None for d in tensor_type.shape.dim]
        if dims is not None and not 2 <= len(dims) <= 4:
            raise self.fail(f"input {graph_input.name!r} has {len(dims)} dimensions; expected (batch, features) "
                            "or (batch, C, H, W)")
        stored = tuple(dims[1:]) if dims is not None else None
        if input_shape is not None:
            if stored is not None and (
                len(stored) != len(input_shape) or any(s is not None and s != g for s, g in zip(stored, input_shape))
            ):
                shown = tuple("?" if s is None else s for s in stored)
                raise self.fail(f"input_shape {tuple(input_shape)} does not match the graph input "
                                f"{graph_input.name!r} of per-sample shape {shown}")
            shape = tuple(input_shape)
        elif stored is None or any(s is None for s in stored):
            shown = "unknown" if stored is None else str(tuple("?" if s is None else s for s in stored))
            raise MissingModelInfo(self.path, "input_shape", f"the graph input {graph_input.name!r} has no fixed "
                                   f"per-sample shape (it is {shown})", "(1, 28, 28)")
        else:
            shape = tuple(int(s) for s in stored)  # type: ignore[arg-type]
        if dims is not None and dims[0] is not None:
            self.batch = int(dims[0])
        self.input_shape = shape
        self.stage_of[graph_input.name], self.view[graph_input.name] = 0, shape
        self.stage_shapes.append(shape)
        self.stage_reads[0] = self.readers[graph_input.name]
        return graph_input.name

    def shape_of(self, node: Any, name: str) -> None:
        """``Shape`` of a data tensor: a constant, with the batch dimension as the graph's (or 1)."""
        shape = np.array((self.batch,) + self.view[name], dtype=np.int64)
        attrs = self.attrs(node)
        start, end = attrs.get("start", 0), attrs.get("end", None)
        self.consts[node.output[0]] = shape[start:end]

    # ------------------------------------------------------------------ layers
    def layer_name(self, params: dict[str, np.ndarray] | None, weight_name: str = "") -> str:
        """A unique node name: the PyTorch module of the weight (``"block1.conv1"`` from
        ``"block1.conv1.weight"``), else the ONNX node's name, else its output's."""
        weight_name = weight_name or self.node_weight
        base = weight_name[: -len(".weight")] if params is not None and weight_name.endswith(".weight") else ""
        base = base or self.node_label or "node"
        name, count = base, 1
        while name in self.names or name == INPUT_NAME:
            count += 1
            name = f"{base}_{count}"
        return name

    def append_layer(self, entry: dict[str, Any], stages: tuple[int, ...], shape: tuple[int, ...],
                     params: dict[str, np.ndarray] | None = None, weight_name: str = "") -> int:
        """Add a layer reading ``stages`` whose output (a new stage) has per-sample ``shape``."""
        self.names.append(self.layer_name(params, weight_name))
        self.layers.append(entry)
        self.node_inputs.append(stages)
        self.stage_shapes.append(tuple(shape))
        if params is not None:
            self.params[len(self.layers) - 1] = params
        self.new_stage = len(self.layers)
        return self.new_stage

    def add(self, entry: dict[str, Any], where: str, params: dict[str, np.ndarray] | None = None,
            weight_name: str = "") -> None:
        """Add a one-input layer reading the current node's data input."""
        try:
            shape = entry_output_shape(entry, self.stage_shapes[self.source])
        except ParameterError as error:
            raise self.fail(str(error), where) from None
        elementwise = entry["type"] in ("relu", "sigmoid", "tanh", "batchnorm")
        stage = self.append_layer(entry, (self.source,), shape, params, weight_name)
        if params is not None and entry["type"] in ("dense", "conv2d"):
            self.linear_at[stage] = len(self.layers) - 1
        self.source = stage
        if not elementwise:  # an activation after a GlobalAveragePool keeps its (C, 1, 1) view
            self.shape = shape

    def flatten(self) -> None:
        if len(self.shape) > 1:
            if len(self.stage_shapes[self.source]) == 1:  # a GlobalAveragePool's (C, 1, 1): already flat
                self.shape = self.stage_shapes[self.source]
            else:
                self.add({"type": "flatten"}, "flatten")

    def mergeable(self) -> int | None:
        """The Conv/Dense layer computing the current data input when only this node reads its output
        (so a bias Add or a BatchNorm may be folded into it), else None."""
        if self.stage_reads.get(self.source, 0) != 1:
            return None
        return self.linear_at.get(self.source)

    def need_flat(self, where: str) -> None:
        if len(self.shape) != 1:
            raise self.fail(f"needs flat (batch, features) data, but each sample here has shape {self.shape}; "
                            "flatten it first", where)

    def need_map(self, where: str) -> None:
        if len(self.shape) != 3:
            raise self.fail(f"needs (batch, C, H, W) data, but each sample here has shape {self.shape}", where)
        if self.stage_shapes[self.source] != self.shape:
            raise self.fail(f"reads the (batch, {', '.join(map(str, self.shape))}) output of a GlobalAveragePool as "
                            "a feature map; only flattening it is supported", where)

    def dense(self, weight: np.ndarray, bias: np.ndarray, where: str) -> None:
        self.need_flat(where)
        if weight.shape[1] != self.shape[0]:
            raise self.fail(f"its weight takes {weight.shape[1]} inputs, the data has {self.shape[0]} features", where)
        entry = {"type": "dense", "in_features": int(weight.shape[1]), "out_features": int(weight.shape[0])}
        self.add(entry, where, {"weight": weight, "bias": bias})

    # ------------------------------------------------------------------ operators
    def op_gemm(self, node: Any, where: str, attrs: dict[str, Any]) -> None:
        if attrs.get("transA", 0):
            raise self.fail("transA=1 is not supported", where)
        b = self.const(node, 1, where, "weight").astype(np.float64)
        if b.ndim != 2:
            raise self.fail(f"its weight has shape {b.shape}; expected a matrix", where)
        weight = (b if attrs.get("transB", 0) else b.T) * float(attrs.get("alpha", 1.0))
        c = self.const(node, 2, where, "bias", required=False)
        bias = np.zeros(weight.shape[0])
        if c is not None:
            bias = float(attrs.get("beta", 1.0)) * self.per_output(c.astype(np.float64), (weight.shape[0],), where)
        self.dense(weight, bias, where)

    def op_matmul(self, node: Any, where: str, attrs: dict[str, Any]) -> None:
        b = self.const(node, 1, where, "weight").astype(np.float64)
        if b.ndim != 2:
            raise self.fail(f"its weight has shape {b.shape}; expected a matrix (in, out)", where)
        self.dense(b.T, np.zeros(b.shape[1]), where)

    def per_output(self, value: np.ndarray, out_shape: tuple[int, ...], where: str) -> np.ndarray:
        """A constant broadcast over (1, *out_shape) that holds one value per channel -> (channels,)."""
        full_shape = (1,) + tuple(out_shape)
        try:
            if np.broadcast_shapes(full_shape, value.shape) != full_shape:
                raise ValueError
            full = np.broadcast_to(value, full_shape)[0].reshape(out_shape[0], -1)
        except ValueError:
            raise self.fail(f"a constant of shape {value.shape} does not broadcast to the output "
                            f"(batch, {', '.join(map(str, out_shape))})", where) from None
        if not (full == full[:, :1]).all():
            raise self.fail("adds a constant that varies within a channel; only a per-channel bias is supported", where)
        return full[:, 0].copy()

    def op_add(self, node: Any, where: str, attrs: dict[str, Any], data_position: int) -> None:
        if node.op_type == "Sub" and data_position != 0:
            raise self.fail("subtracts the data from a constant; only data - constant is supported", where)
        linear = self.mergeable()
        if linear is None:
            raise self.fail(f"{node.op_type} of a constant is supported only as the bias right after a Gemm, "
                            "MatMul or Conv (whose output nothing else reads)", where)
        value = self.const(node, 1 - data_position, where, "bias").astype(np.float64)
        bias = self.per_output(value, self.shape, where)
        params = self.params[linear]
        params["bias"] = params["bias"] + (bias if node.op_type == "Add" else -bias)

    def pads(self, attrs: dict[str, Any], kernel: Sequence[int], stride: int, where: str) -> int:
        """One symmetric padding for both spatial axes (or an error naming the node)."""
        auto = attrs.get("auto_pad", "NOTSET")
        if auto in ("NOTSET", ""):
            pads = list(attrs.get("pads", [0, 0, 0, 0]))
            if len(pads) != 4:
                raise self.fail(f"pads={pads}: only 2-D operations are supported", where)
        elif auto == "VALID":
            pads = [0, 0, 0, 0]
        elif auto in ("SAME_UPPER", "SAME_LOWER"):
            totals = [max((math.ceil(size / stride) - 1) * stride + k - size, 0)
                      for size, k in zip(self.shape[1:], kernel)]
            if any(t % 2 for t in totals):
                raise self.fail(f"auto_pad={auto} pads asymmetrically here (total padding {totals}); "
                                "only symmetric padding is supported", where)
            pads = [t // 2 for t in totals] * 2
        else:
            raise self.fail(f"unknown auto_pad {auto!r}", where)
        if pads[:2] != pads[2:]:
            raise self.fail(f"asymmetric padding pads={pads} (begin {pads[:2]} != end {pads[2:]}) is not supported", where)
        if pads[0] != pads[1]:
            raise self.fail(f"different padding for height and width (pads={pads}) is not supported", where)
        return int(pads[0])

    def square(self, attrs: dict[str, Any], key: str, default: Sequence[int], where: str) -> int:
        values = list(attrs.get(key, default))
        if len(values) != 2:
            raise self.fail(f"{key}={values}: only 2-D operations are supported", where)
        if values[0] != values[1]:
            raise self.fail(f"{key}={values}: only equal sizes for height and width are supported", where)
        return int(values[0])

    def op_conv(self, node: Any, where: str, attrs: dict[str, Any]) -> None:
        weight = self.const(node, 1, where, "weight").astype(np.float64)
        if weight.ndim != 4:
            raise self.fail(f"weight of shape {weight.shape}: only 2-D convolutions are supported", where)
        if attrs.get("group", 1) != 1:
            raise self.fail(f"grouped convolution (group={attrs['group']}) is not supported", where)
        if any(d != 1 for d in attrs.get("dilations", [1, 1])):
            raise self.fail(f"dilated convolution (dilations={list(attrs['dilations'])}) is not supported", where)
        if list(attrs.get("kernel_shape", weight.shape[2:])) != list(weight.shape[2:]):
            raise self.fail(f"kernel_shape {list(attrs['kernel_shape'])} differs from the weight {weight.shape}", where)
        kernel = self.square({"kernel_shape": weight.shape[2:]}, "kernel_shape", (), where)
        stride = self.square(attrs, "strides", (1, 1), where)
        self.need_map(where)
        padding = self.pads(attrs, weight.shape[2:], stride, where)
        if weight.shape[1] != self.shape[0]:
            raise self.fail(f"its weight expects {weight.shape[1]} input channels, the data has {self.shape[0]}", where)
        b = self.const(node, 2, where, "bias", required=False)
        bias = np.zeros(weight.shape[0]) if b is None else self.per_output(b.astype(np.float64), (weight.shape[0],), where)
        entry = {"type": "conv2d", "in_channels": int(weight.shape[1]), "out_channels": int(weight.shape[0]),
                 "kernel_size": kernel, "stride": stride, "padding": padding}
        self.add(entry, where, {"weight": weight, "bias": bias})

    def op_reduce_mean(self, node: Any, where: str, attrs: dict[str, Any]) -> None:
        """``ReduceMean`` over the two spatial axes of (N, C, H, W) (``x.mean((2, 3))`` in PyTorch): a
        ``globalavgpool`` layer; with ``keepdims=1`` ONNX holds (N, C, 1, 1)."""
        axes = attrs.get("axes")
        if axes is None:
            given = self.const(node, 1, where, "axes", required=False)
            axes = None if given is None else [int(v) for v in given.reshape(-1)]
        rank = len(self.shape) + 1
        spatial = None if axes is None else sorted(a + rank if a < 0 else a for a in axes)
        if rank != 4 or spatial != [2, 3]:
            raise self.fail(f"ReduceMean over axes {axes} of (batch, {', '.join(map(str, self.shape))}) is not "
                            "supported; only the mean over height and width of (batch, C, H, W)", where)
        channels = self.shape[0]
        self.add({"type": "globalavgpool"}, where)
        self.shape = (channels, 1, 1) if attrs.get("keepdims", 1) else (channels,)

    def op_pool(self, node: Any, where: str, attrs: dict[str, Any]) -> None:
        self.need_map(where)
        kind = "maxpool2d" if node.op_type.endswith("MaxPool") else "avgpool2d"
        if node.op_type == "GlobalAveragePool":
            self.add({"type": "globalavgpool"}, where)
            self.shape = (self.shape[0], 1, 1)  # what ONNX holds; the stage is (C,)
            return
        if node.op_type.startswith("Global"):
            if self.shape[1] != self.shape[2]:
                raise self.fail(f"global pooling of non-square maps {self.shape[1:]} is not supported", where)
            kernel = stride = self.shape[1]
        else:
            if "kernel_shape" not in attrs:
                raise self.fail("has no kernel_shape", where)
            kernel = self.square(attrs, "kernel_shape", (), where)
            stride = self.square(attrs, "strides", (1, 1), where)
            if any(d != 1 for d in attrs.get("dilations", [1, 1])):
                raise self.fail(f"dilated pooling (dilations={list(attrs['dilations'])}) is not supported", where)
            if self.pads(attrs, (kernel, kernel), stride, where) != 0:
                raise self.fail(f"padded pooling (pads={list(attrs.get('pads', []))}) is not supported", where)
            if attrs.get("ceil_mode", 0) and any((s - kernel) % stride for s in self.shape[1:]):
                raise self.fail("ceil_mode=1 changes the output size here; only floor mode is supported", where)
        self.add({"type": kind, "kernel_size": kernel, "stride": stride}, where)

    def op_flatten(self, node: Any, where: str, attrs: dict[str, Any]) -> None:
        axis = int(attrs.get("axis", 1))
        if (axis + len(self.shape) + 1 if axis < 0 else axis) != 1:
            raise self.fail(f"axis={axis}: only Flatten(axis=1) (keep the batch axis) is supported", where)
        self.flatten()

    def op_reshape(self, node: Any, where: str, attrs: dict[str, Any]) -> None:
        target = [int(v) for v in self.const(node, 1, where, "shape").reshape(-1)]
        size = math.prod(self.shape)
        batch_ok = (0, -1, self.batch)
        if attrs.get("allowzero", 0) and 0 in target:
            raise self.fail(f"allowzero=1 with shape {target} is not supported", where)
        if len(target) == 2 and target[0] in batch_ok and target[1] in (-1, size) and target != [-1, -1] and (
            target[0] != -1 or target[1] == size
        ):
            self.flatten()
        elif len(target) == len(self.shape) + 1 and target[0] in batch_ok and (
            all(t in (s, 0) for t, s in zip(target[1:], self.shape)) or (target[0] == -1 and target[1:] == list(self.shape))
        ):
            pass  # reshapes to the shape it already has
        else:
            raise self.fail(f"reshapes (batch, {', '.join(map(str, self.shape))}) to {target}; only flattening to "
                            "(batch, features) is supported", where)

    def op_squeeze(self, node: Any, where: str, attrs: dict[str, Any]) -> None:
        axes = attrs.get("axes")
        if axes is None:
            given = self.const(node, 1, where, "axes", required=False)
            axes = None if given is None else [int(v) for v in given.reshape(-1)]
        rank = len(self.shape) + 1
        if axes is None:
            kept = [s for s in self.shape if s != 1]
        else:
            axes = [a + rank if a < 0 else a for a in axes]
            if 0 in axes:
                raise self.fail("squeezes the batch axis", where)
            if any(not 0 < a < rank or self.shape[a - 1] != 1 for a in axes):
                raise self.fail(f"axes {axes} do not name size-1 axes of (batch, {self.shape})", where)
            kept = [s for i, s in enumerate(self.shape, start=1) if i not in axes]
        if len(kept) > 1:
            raise self.fail(f"squeezes (batch, {self.shape}) to a shape that is not (batch, features)", where)
        self.flatten()

    def op_batchnorm(self, node: Any, where: str, attrs: dict[str, Any]) -> None:
        """Merged into the Conv/Gemm before it where only the BatchNorm reads that layer's output
        (``W' = W * s``, ``b' = (b - mean) * s + beta``, ``s = gamma / sqrt(var + eps)``); elsewhere a
        ``batchnorm`` layer (eval mode), which the LRP canonizer merges into a neighbour or refuses."""
        if attrs.get("training_mode", 0) or any(node.output[1:]):
            raise self.fail("training-mode BatchNormalization is not supported (export the model in eval mode)", where)
        if not attrs.get("spatial", 1):
            raise self.fail("spatial=0 is not supported", where)
        if len(self.shape) not in (1, 3):
            raise self.fail(f"BatchNormalization of (batch, {', '.join(map(str, self.shape))}) is not supported; "
                            "expected (batch, C) or (batch, C, H, W)", where)
        gamma, beta, mean, var = (self.const(node, i, where, what).astype(np.float64).reshape(-1)
                                  for i, what in enumerate(("scale", "bias", "mean", "variance"), start=1))
        channels = self.shape[0]
        if any(v.size != channels for v in (gamma, beta, mean, var)):
            raise self.fail(f"its parameters do not have one value per channel ({channels})", where)
        eps = float(attrs.get("epsilon", 1e-5))
        if not (math.isfinite(eps) and eps > 0):
            raise self.fail(f"epsilon={eps} must be a positive number", where)
        linear = self.mergeable()
        if linear is None:
            params = {"weight": gamma, "bias": beta, "running_mean": mean, "running_var": var}
            self.add({"type": "batchnorm", "num_features": int(channels), "eps": eps}, where, params)
            self.notes.append(f"kept {where} as a batchnorm layer (it does not directly follow a Conv or Gemm "
                              "read only by it); explanations merge it into a neighbouring layer")
            return
        params = self.params[linear]
        params["weight"], params["bias"] = fold_batchnorm(params["weight"], params["bias"], gamma, beta, mean, var, eps)
        self.notes.append(f"merged {where} into layer {linear} ({self.layers[linear]['type']})")

    def op_dropout(self, node: Any, where: str, attrs: dict[str, Any]) -> None:
        training = self.const(node, 2, where, "training_mode", required=False)
        if training is not None and bool(np.asarray(training).reshape(-1)[0]):
            raise self.fail("training-mode Dropout is not supported (export the model in eval mode)", where)

    def op_softmax(self, node: Any, where: str, attrs: dict[str, Any]) -> None:
        axis = int(attrs.get("axis", 1 if self.opset < 13 else -1))
        if len(self.shape) != 1 or axis not in (1, -1):
            raise self.fail(f"{node.op_type} over axis {axis} of (batch, {self.shape}) is not supported; only a "
                            "softmax over the classes at the output", where)
        self.final = where
        self.notes.append(f"dropped the final {where}: explanations start at the logits")

    # ------------------------------------------------------------------ merges
    def op_merge(self, node: Any, where: str, attrs: dict[str, Any], names: list[str]) -> None:
        """``Add`` / ``Sum`` of two or more computed tensors (a residual addition) or ``Concat`` along the
        channels: a merge layer reading every input's stage."""
        constants = [name for name in node.input if name and name not in self.stage_of]
        if constants:
            raise self.fail(f"combines computed tensors with the constant {constants[0]!r}; only merges of computed "
                            "tensors are supported", where)
        stages = tuple(self.stage_of[name] for name in names)
        views = [self.view[name] for name in names]
        shapes = [self.stage_shapes[stage] for stage in stages]
        if node.op_type == "Concat":
            rank = len(views[0]) + 1
            axis = int(attrs.get("axis", 1))
            if (axis + rank if axis < 0 else axis) != 1:
                raise self.fail(f"concatenates along axis {axis} of (batch, {', '.join(map(str, views[0]))}); only "
                                "axis 1 (the channels) is supported", where)
            kind, view = "concat", None
        else:
            kind, view = "add", views[0]
        try:
            shape = merge_output_shape(kind, shapes)
            if kind == "concat":
                view = merge_output_shape(kind, views)
            elif any(v != views[0] for v in views):
                raise ParameterError("add needs inputs of equal shape, got "
                                     + ", ".join(str(tuple(v)) for v in views) + " (no broadcasting)")
        except ParameterError as error:
            raise self.fail(str(error), where) from None
        self.source = self.append_layer({"type": kind}, stages, shape)
        self.shape = view

    # ------------------------------------------------------------------ the walk
    def count_readers(self) -> None:
        """How often each tensor is read, and which tensors the graph output depends on."""
        for node in self.graph.node:
            self.readers.update(name for name in node.input if name)
        self.readers.update(output.name for output in self.graph.output)
        self.needed = {output.name for output in self.graph.output}
        for node in reversed(self.graph.node):
            if any(name in self.needed for name in node.output):
                self.needed.update(name for name in node.input if name)

    def pass_through(self, source_name: str, outputs: Sequence[str]) -> None:
        """Record a node's outputs: a new stage when it added a layer, else the stage of its input."""
        stage = self.source
        for name in outputs:
            if not name:
                continue
            self.stage_of[name], self.view[name] = stage, self.shape
            if self.new_stage is not None:
                self.stage_reads[stage] = self.stage_reads.get(stage, 0) + self.readers[name]
            else:  # an alias: its readers read the input's stage instead of this node
                self.stage_reads[stage] += self.readers[name]
        if self.new_stage is None and source_name:
            self.stage_reads[stage] -= 1

    def convert(self, node: Any, where: str, uses: list[tuple[int, str]]) -> None:
        """Turn one node that reads computed data into layers (or fold it into one)."""
        handlers = {
            "Gemm": self.op_gemm, "MatMul": self.op_matmul, "Conv": self.op_conv, "MaxPool": self.op_pool,
            "AveragePool": self.op_pool, "GlobalAveragePool": self.op_pool, "GlobalMaxPool": self.op_pool,
            "Flatten": self.op_flatten, "Reshape": self.op_reshape, "Squeeze": self.op_squeeze,
            "BatchNormalization": self.op_batchnorm, "Dropout": self.op_dropout, "Softmax": self.op_softmax,
            "LogSoftmax": self.op_softmax, "ReduceMean": self.op_reduce_mean,
        }
        activations = {"Relu": "relu", "Sigmoid": "sigmoid", "Tanh": "tanh"}
        merge = node.op_type == "Concat" or (node.op_type in ("Add", "Sum") and len(uses) > 1)
        if len(uses) > 1 and not merge:
            names = " and ".join(repr(name) for _, name in uses)
            raise self.fail(f"combines two computed tensors ({names}) with {node.op_type}; only Add, Sum and "
                            "Concat may merge branches", where)
        if node.op_type == "Sum" and not merge:
            raise self.fail("Sum of a single computed tensor is not supported", where)
        position, name = uses[0]
        if not merge and position != 0 and node.op_type not in ("Add", "Sub"):
            raise self.fail(f"takes the data as input {position}; it must be the first input", where)
        if self.final is not None and node.op_type not in ("Identity", "Dropout"):
            raise self.fail(f"follows the {self.final}; a Softmax/LogSoftmax is supported only as the last node",
                            where)
        self.source, self.shape, self.new_stage = self.stage_of[name], self.view[name], None
        self.node_label = node.name or (node.output[0] if len(node.output) else "")
        self.node_weight = node.input[1] if len(node.input) > 1 else ""
        try:
            attrs = self.attrs(node)
            if merge:
                self.op_merge(node, where, attrs, [n for _, n in uses])
            elif node.op_type in activations:
                self.add({"type": activations[node.op_type]}, where)
            elif node.op_type in ("Add", "Sub"):
                self.op_add(node, where, attrs, position)
            elif node.op_type != "Identity":
                handlers[node.op_type](node, where, attrs)
        except ModelFileError:
            raise
        except (TypeError, ValueError, KeyError, IndexError, OverflowError, AttributeError) as error:
            # e.g. an attribute of the wrong type in a damaged file
            raise self.fail(f"malformed node ({type(error).__name__}: {str(error)[:120]})", where) from None
        if not node.output or not node.output[0]:
            raise self.fail("has no output", where)
        if merge:  # every input's stage lost one reader to the merge layer's own stage
            self.new_stage = self.source
        self.pass_through("" if merge else name, node.output[:1])

    def run(self, input_shape: tuple[int, ...] | None) -> None:
        self.read_initializers()
        self.count_readers()
        self.read_input(input_shape)
        for index, node in enumerate(self.graph.node):
            where = self.where(node, index)
            uses = [(position, name) for position, name in enumerate(node.input) if name in self.stage_of]
            if not uses:
                self.skip_constant_node(node, where)
                continue
            if node.op_type == "Shape" and len(uses) == 1 and node.domain in ("", "ai.onnx"):
                self.shape_of(node, uses[0][1])
                self.stage_reads[self.stage_of[uses[0][1]]] -= 1  # reads the shape only, not the values
                continue
            if not any(name in self.needed for name in node.output):
                self.notes.append(f"ignored {where}: the graph output does not depend on it")
                for _, name in uses:
                    self.stage_reads[self.stage_of[name]] -= 1
                continue
            if node.domain not in ("", "ai.onnx") or node.op_type not in SUPPORTED_OPS:
                domain = f" of domain {node.domain!r}" if node.domain not in ("", "ai.onnx") else ""
                raise self.fail(f"unsupported operator {node.op_type}{domain}; supported: {', '.join(SUPPORTED_OPS)}",
                                where)
            self.convert(node, where, uses)
        self.finish()

    def finish(self) -> None:
        """Check that the graph output is the last layer's output; flatten it if needed."""
        output = self.graph.output[0].name
        if output not in self.stage_of:
            reason = self.unknown[output].reason if output in self.unknown else (
                "it is a constant" if output in self.consts else "it is not computed from the input")
            raise self.fail(f"the graph output {output!r} is not computed from the input: {reason}")
        if not self.layers or not any(e["type"] in ("dense", "conv2d") for e in self.layers):
            raise self.fail("the graph has no Gemm, MatMul or Conv layer")
        if self.stage_of[output] != len(self.layers):
            raise self.fail(f"the graph output {output!r} is not the result of the last layer")
        self.source, self.shape, self.node_label = len(self.layers), self.view[output], "flatten_output"
        if len(self.stage_shapes[-1]) != 1:
            self.flatten()
            self.notes.append("flattened the output")


def _load_onnx(path: Path) -> tuple[Any, Any]:
    try:
        import onnx
    except ImportError:
        raise ModelFileError(f"{path}: reading ONNX files needs the 'onnx' package: "
                             "pip install 'lrp-studio[onnx]' (or pip install onnx)") from None
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # onnx warns about damaged external-data entries, then fails
            model = onnx.load(str(path))
    except Exception as error:  # protobuf DecodeError, missing external data, ...
        message = " ".join(str(error).split())[:200] or type(error).__name__
        raise ModelFileError(f"{path}: not a readable ONNX model ({message})") from None
    if not model.HasField("graph") or not len(model.graph.node):
        raise ModelFileError(f"{path}: not an ONNX model (no graph nodes)")
    return onnx, model


def import_onnx_with_notes(path: Any, input_shape: tuple[int, ...] | None = None,
                           input_range: tuple[float, float] | None = None,
                           classes: Sequence[str] | None = None) -> tuple[Network, list[str]]:
    """:func:`import_onnx` plus a list of notes (merged BatchNorms, dropped Softmax)."""
    path = Path(path)
    onnx, model = _load_onnx(path)
    importer = _OnnxImporter(path, onnx, model)
    try:
        with np.errstate(all="ignore"):  # non-finite weights are reported by build_network
            importer.run(tuple(input_shape) if input_shape is not None else None)
    except ModelFileError:
        raise
    except (TypeError, ValueError, KeyError, IndexError, OverflowError, AttributeError) as error:
        raise ModelFileError(f"{path}: malformed ONNX graph ({type(error).__name__}: {str(error)[:120]})") from None
    metadata = {p.key: p.value for p in model.metadata_props}
    source = "classes"
    if classes is None and "classes" in metadata:
        try:
            classes = parse_classes(metadata["classes"], "metadata 'classes'")
        except ParameterError as error:
            raise ModelFileError(f"{path}: {error}") from None
        source = "the model's metadata 'classes'"
    if input_range is None and "input_range" in metadata:
        try:
            input_range = parse_input_range(metadata["input_range"], "metadata 'input_range'")
        except ParameterError as error:
            raise ModelFileError(f"{path}: {error}") from None
    net = build_network(path, importer.layers, importer.params, importer.input_shape, classes, input_range, source,
                        names=importer.names, node_inputs=importer.node_inputs)
    return net, importer.notes


def import_onnx(path: Any, input_shape: tuple[int, ...] | None = None, input_range: tuple[float, float] | None = None,
                classes: Sequence[str] | None = None) -> Network:
    """Import a sequential ONNX model as a :class:`Network` (see the module docstring for what is supported).

    Parameters
    ----------
    path : str or path-like
    input_shape : tuple of int, optional
        One sample's shape; needed when the graph input's dimensions (other than batch) are dynamic.
    input_range : (low, high), optional
        Overrides the metadata ``input_range``.
    classes : list of str, optional
        Overrides the metadata ``classes``.

    Raises
    ------
    MissingModelInfo
        The input shape is not fixed by the graph and not given.
    ModelFileError
        Unreadable file, ``onnx`` not installed, or an unsupported node (named with its index).
    """
    return import_onnx_with_notes(path, input_shape, input_range, classes)[0]
