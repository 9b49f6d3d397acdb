"""A ``torch.nn.Module`` as a :class:`~lrp_studio.nn.Network`, converted through ONNX (issue 17).

The module is traced by the TorchScript-based exporter (``torch.onnx.export(..., dynamo=False)``)
on one zero input of ``input_shape`` into an in-memory buffer; the bytes are written to a
temporary file only because the ONNX importer reads files, and that file is removed at once.
The graph then goes through :func:`lrp_studio.io.onnx_import.import_onnx`, so the limits are the
importer's: Linear/Gemm, Conv2d (square kernels, one stride), ReLU, max/average pooling,
Flatten/Reshape, BatchNorm, Dropout, a final Softmax (dropped), and the graph nodes residual additions
(Add/Sum), channel concatenation and global average pooling; recurrent layers, attention and
data-dependent control flow are refused with a :class:`~lrp_studio.errors.ModelFileError` naming
the node. Tracing records the path taken by the zero input: Python ``if``s on values are frozen.
The module is put in ``eval()`` mode for the export and its mode restored afterwards.
"""

from __future__ import annotations

import io
import os
import tempfile
from typing import Any, Sequence

from lrp_studio.errors import ModelFileError, ParameterError
from lrp_studio.nn import Network


def is_torch_module(obj: Any) -> bool:
    """Whether ``obj`` is a ``torch.nn.Module`` (False without importing torch when it is not loaded)."""
    import sys

    torch = sys.modules.get("torch")
    return torch is not None and isinstance(obj, torch.nn.Module)


def onnx_bytes(module: Any, input_shape: Sequence[int]) -> bytes:
    """The ONNX graph of ``module`` traced on a zero input of shape ``(1, *input_shape)``.

    Raises
    ------
    ModelFileError
        torch or onnx missing, or the exporter failed (its message, shortened).
    """
    try:
        import onnx  # noqa: F401 - the exporter and the importer both need it
        import torch
    except ImportError as error:
        raise ModelFileError(f"converting a torch module needs torch and onnx: pip install torch onnx ({error})") from None
    buffer = io.BytesIO()
    was_training = bool(module.training)
    module.eval()
    try:
        dummy = torch.zeros((1, *(int(n) for n in input_shape)), dtype=torch.float32)
        with torch.no_grad():
            torch.onnx.export(module, (dummy,), buffer, dynamo=False, input_names=["input"], output_names=["output"],
                              opset_version=17)
    except Exception as error:  # noqa: BLE001 - the exporter raises many kinds
        message = " ".join(str(error).split())[:200] or type(error).__name__
        raise ModelFileError(f"torch module: ONNX export failed ({type(error).__name__}: {message})") from None
    finally:
        module.train(was_training)
    return buffer.getvalue()


def network_from_torch(module: Any, input_shape: Sequence[int], classes: Sequence[str] | None = None,
                       input_range: tuple[float, float] | None = None) -> Network:
    """Convert ``module`` to a :class:`Network` through ONNX (see the module docstring for the limits).

    Parameters
    ----------
    module : torch.nn.Module
        An image or vector classifier (sequential or a graph, see above) taking float32 input of shape (N, *input_shape).
    input_shape : sequence of int
        One sample's shape: ``(F,)`` or ``(C, H, W)``.
    classes : list of str, optional
        Names of the outputs.
    input_range : (low, high), optional
        Value range of the inputs (the z-box rule's bounds).

    Raises
    ------
    ParameterError
        ``input_shape`` is empty or has a non-positive size.
    ModelFileError
        torch/onnx missing, the export failed, or the graph has a node the importer does not support.
    """
    shape = tuple(int(n) for n in input_shape)
    if not shape or min(shape) <= 0:
        raise ParameterError(f"torch module: input_shape must be (F,) or (C, H, W) with positive sizes, got {shape}")
    from lrp_studio.io.onnx_import import import_onnx

    data = onnx_bytes(module, shape)
    handle, path = tempfile.mkstemp(suffix=".onnx", prefix="lrp-studio-torch-")
    try:
        with os.fdopen(handle, "wb") as file:
            file.write(data)
        return import_onnx(path, input_shape=shape, input_range=input_range, classes=classes)
    except ModelFileError as error:
        raise ModelFileError(str(error).replace(path, "torch module")) from None
    finally:
        os.unlink(path)


__all__ = ["is_torch_module", "network_from_torch", "onnx_bytes"]
