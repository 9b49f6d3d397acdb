"""Reading an ONNX graph's constants and naming its nodes in errors (the base of :mod:`.onnx_import`).

Weights come from initializers, ``Constant`` nodes, or small constant sub-graphs (``Identity``,
``Transpose``, ``Cast``, shape arithmetic such as ``Shape -> Gather -> Concat`` feeding a
``Reshape``), which are evaluated once with ONNX's reference implementation. A tensor that is
neither computed from the graph input nor such a constant is :class:`Unknown`, with the reason.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np

from lrp_studio.errors import ModelFileError
from lrp_studio.nn.layers import MAX_LAYER_PARAMETERS

__all__ = ["FOLDABLE", "OnnxGraphReader", "Unknown"]

# Operators evaluated when all their inputs are constants (weights, shape arithmetic).
FOLDABLE = {
    "Constant", "Identity", "Cast", "Transpose", "Reshape", "Flatten", "Squeeze", "Unsqueeze", "Gather",
    "Concat", "Slice", "Add", "Sub", "Mul", "Div", "Neg", "Sqrt", "Reciprocal",
}
ELEMENTWISE = {"Add", "Sub", "Mul", "Div"}

class Unknown:
    """A tensor that is neither the data chain nor a usable constant (why, and where it came from)."""

    def __init__(self, reason: str) -> None:
        self.reason = reason


class OnnxGraphReader:
    """The graph's constants (``consts``), tensors that are neither data nor constants (``unknown``), and
    errors that name the file and node. Subclasses fill ``stage_of`` (the tensors computed from the input)."""

    def __init__(self, path: Path, onnx: Any, model: Any) -> None:
        self.path, self.onnx, self.model, self.graph = path, onnx, model, model.graph
        self.opset = next((o.version for o in model.opset_import if o.domain in ("", "ai.onnx")), 1)
        self.consts: dict[str, np.ndarray] = {}
        self.unknown: dict[str, Unknown] = {}
        self.stage_of: dict[str, int] = {}

    def read_initializers(self) -> None:
        for tensor in self.graph.initializer:
            try:
                self.consts[tensor.name] = self.onnx.numpy_helper.to_array(tensor)
            except Exception as error:
                self.unknown[tensor.name] = Unknown(f"initializer {tensor.name!r} cannot be read ({str(error)[:120]})")

    # ------------------------------------------------------------------ helpers
    def fail(self, problem: str, where: str | None = None) -> ModelFileError:
        text = f"{self.path}: {where}: {problem}" if where else f"{self.path}: {problem}"
        return ModelFileError(" ".join(text.split()))

    @staticmethod
    def where(node: Any, index: int) -> str:
        label = node.name or (node.output[0] if len(node.output) else "")
        return f"node {label!r} ({node.op_type}, #{index})"

    def attrs(self, node: Any) -> dict[str, Any]:
        values = {}
        for attribute in node.attribute:
            value = self.onnx.helper.get_attribute_value(attribute)
            values[attribute.name] = value.decode() if isinstance(value, bytes) else value
        return values

    def const(self, node: Any, position: int, where: str, what: str, required: bool = True) -> np.ndarray | None:
        """Input ``position`` of ``node`` as a constant array (None when absent and not required)."""
        name = node.input[position] if position < len(node.input) else ""
        if not name:
            if required:
                raise self.fail(f"has no {what} (input {position})", where)
            return None
        if name in self.consts:
            return self.consts[name]
        if name in self.unknown:
            raise self.fail(f"its {what} {name!r} is not a constant: {self.unknown[name].reason}", where)
        if name in self.stage_of:
            raise self.fail(f"uses the data flowing through the network as its {what}; only constant "
                            f"{what}s are supported", where)
        raise self.fail(f"its {what} {name!r} is neither an initializer nor computed before it", where)

    # ------------------------------------------------------------------ constants
    def fold(self, node: Any, where: str) -> None:
        """Evaluate a node whose inputs are all constants (or mark its outputs unknown)."""
        inputs = [self.consts.get(name) if name else None for name in node.input]
        reason = None
        if node.domain not in ("", "ai.onnx"):
            reason = f"computed by {where}, an operator of domain {node.domain!r}"
        elif node.op_type not in FOLDABLE:
            reason = f"computed by {where}, which LRP Studio does not evaluate"
        else:
            reason = self.fold_size_problem(node, inputs, where)
        if reason is None:
            try:
                outputs = self.evaluate(node, inputs)
            except Exception as error:  # the reference implementation raises many types
                reason = f"{where} could not be evaluated ({type(error).__name__}: {str(error)[:120]})"
            else:
                for name, value in zip(node.output, outputs):
                    if name:
                        self.consts[name] = np.asarray(value)
                return
        for name in node.output:
            if name:
                self.unknown[name] = Unknown(reason)

    def fold_size_problem(self, node: Any, inputs: list[np.ndarray | None], where: str) -> str | None:
        present = [a for a in inputs if a is not None]
        try:
            if node.op_type in ELEMENTWISE:
                size = math.prod(np.broadcast_shapes(*(a.shape for a in present)))
            elif node.op_type == "Concat":
                size = sum(a.size for a in present)
            elif node.op_type == "Gather" and len(present) == 2:
                data, indices = present
                axis = int(self.attrs(node).get("axis", 0)) % max(data.ndim, 1)
                size = data.size // max(data.shape[axis], 1) * indices.size if data.ndim else indices.size
            else:
                size = max((a.size for a in present), default=0)
        except (ValueError, IndexError, ZeroDivisionError) as error:
            return f"{where} has constant inputs that do not fit together ({error})"
        if size > MAX_LAYER_PARAMETERS:
            return f"{where} would create {size:,} constant values (limit {MAX_LAYER_PARAMETERS:,})"
        return None

    def evaluate(self, node: Any, inputs: list[np.ndarray | None]) -> list[np.ndarray]:
        if node.op_type == "Identity":
            return [inputs[0]]
        from onnx.reference import ReferenceEvaluator

        helper, proto = self.onnx.helper, self.onnx.TensorProto
        names = [name for name in node.input if name]
        graph = helper.make_graph(
            [node], "fold", [helper.make_tensor_value_info(n, proto.UNDEFINED, None) for n in names],
            [helper.make_tensor_value_info(n, proto.UNDEFINED, None) for n in node.output if n],
        )
        model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", self.opset)])
        feeds = {name: self.consts[name] for name in names}
        return list(ReferenceEvaluator(model).run(None, feeds))

    def skip_constant_node(self, node: Any, where: str) -> None:
        if all(not name or name in self.consts for name in node.input):
            self.fold(node, where)
            return
        bad = next(name for name in node.input if name and name not in self.consts)
        reason = self.unknown[bad].reason if bad in self.unknown else f"{bad!r} is not defined before it"
        for name in node.output:
            if name:
                self.unknown[name] = Unknown(f"{where} depends on {bad!r} ({reason})")

