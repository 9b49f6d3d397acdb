"""Bring your own model: import ONNX graphs and PyTorch state dicts into a :class:`Network`.

:func:`import_model` picks the importer by file type:

``.onnx``
    an ONNX graph, sequential or with branches and merges (residual additions, concatenations;
    needs the optional ``onnx`` package), see :mod:`.onnx_import`;
``.safetensors`` / ``.npz`` (a state dict)
    the weights of a ``torch.nn.Sequential`` plus its architecture (JSON or a text spec such as
    ``conv:8:5,bn,relu,maxpool:2,flatten,dense:10``), see :mod:`.state_dict_import`;
``.npz`` (an LRP Studio model file)
    loaded with :func:`~lrp_studio.io.load_model`.

Pickled PyTorch files (``.pt``, ``.pth``, ``.ckpt``, ...) are never loaded: unpickling runs code
from the file. BatchNorm layers are merged into the preceding Conv/Dense layer where they can be (as the
canonizers of LRP libraries do), so the result is an ordinary LRP Studio network.

What the file does not say and LRP Studio cannot guess (the input shape of a graph with dynamic
dimensions, a state dict's architecture) raises :class:`MissingModelInfo`, a
:class:`~lrp_studio.errors.ModelFileError` whose ``what`` names the missing argument, so a GUI can
ask for it and call again. A missing input range is not an error (``net.input_range`` stays
``None``; ask for it before using the zbox rule).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from lrp_studio.errors import ModelFileError, ParameterError
from lrp_studio.io.import_common import (
    PICKLE_ADVICE, PICKLE_SUFFIXES, MissingModelInfo, parse_channel_values, parse_classes, parse_input_range,
    parse_input_shape,
)
from lrp_studio.io.onnx_import import import_onnx_with_notes
from lrp_studio.io.state_dict_import import import_state_dict_with_notes
from lrp_studio.nn.builders import with_normalization
from lrp_studio.nn.network import Network

__all__ = [
    "MissingModelInfo", "PICKLE_SUFFIXES", "import_model", "import_model_with_notes", "parse_classes",
    "parse_input_range", "parse_input_shape",
]


def _looks_pickled(path: Path) -> bool:
    """True for pickle streams and PyTorch's zip format (an archive holding ``data.pkl``)."""
    try:
        with open(path, "rb") as handle:
            head = handle.read(4)
    except OSError:
        return False
    if len(head) >= 2 and head[0] == 0x80 and 2 <= head[1] <= 5:  # pickle protocol 2..5
        return True
    if head == b"PK\x03\x04":
        import zipfile

        try:
            with zipfile.ZipFile(path) as archive:
                return any(name.endswith(("data.pkl", ".pkl")) for name in archive.namelist()[:1000])
        except (zipfile.BadZipFile, OSError, ValueError):
            return False
    return False


# ----------------------------------------------------------------------------- dispatch
def import_model_with_notes(path: Any, input_shape: Any = None, input_range: Any = None, classes: Any = None,
                            arch: Any = None, mean: Any = None, std: Any = None) -> tuple[Network, list[str]]:
    """:func:`import_model` plus notes on what was done (merged BatchNorm, dropped Softmax, ...)."""
    if (mean is None) != (std is None):
        raise ParameterError("give both the normalisation's mean and std (one value per channel), or neither")
    net, notes = _import_with_notes(path, input_shape, input_range, classes, arch)
    if mean is None:
        return net, notes
    mean_values, std_values = parse_channel_values(mean, "mean"), parse_channel_values(std, "std")
    net = with_normalization(net, mean_values, std_values)
    return net, [*notes, f"input normalisation (x - mean) / std prepended: mean {mean_values}, std {std_values}"]


def _import_with_notes(path: Any, input_shape: Any, input_range: Any, classes: Any,
                       arch: Any) -> tuple[Network, list[str]]:
    try:
        target = Path(os.fspath(path))
    except TypeError:
        raise ModelFileError(f"{path!r}: not a file path") from None
    shape = parse_input_shape(input_shape) if input_shape is not None else None
    value_range = parse_input_range(input_range) if input_range is not None else None
    names = parse_classes(classes) if classes is not None else None
    suffix = target.suffix.lower()
    if suffix in PICKLE_SUFFIXES:
        raise ModelFileError(f"{target}: {PICKLE_ADVICE}")
    if not target.exists():
        raise ModelFileError(f"{target}: file not found")
    if target.is_dir():
        raise ModelFileError(f"{target}: is a directory, not a model file")
    if suffix == ".onnx":
        if arch is not None:
            raise ParameterError("an architecture (--arch) is only used with state dicts; an ONNX file describes itself")
        return import_onnx_with_notes(target, shape, value_range, names)
    if suffix in (".safetensors", ".npz"):
        return import_state_dict_with_notes(target, arch, shape, value_range, names)
    if _looks_pickled(target):
        raise ModelFileError(f"{target}: {PICKLE_ADVICE}")
    raise ModelFileError(f"{target}: unknown model file type {suffix or '(no suffix)'!r}; "
                         "LRP Studio imports .onnx, .safetensors and .npz (model file or state dict)")


def import_model(path: Any, input_shape: Any = None, input_range: Any = None, classes: Any = None,
                 arch: Any = None, mean: Any = None, std: Any = None) -> Network:
    """Import a network from an ONNX file, a state dict (.safetensors/.npz) or a model file.

    Parameters
    ----------
    path : str or path-like
        ``.onnx``, ``.safetensors``, ``.npz``. Pickled files (``.pt``, ``.pth``, ...) are refused.
    input_shape : sequence of int or str, optional
        One sample's shape, e.g. ``(1, 28, 28)`` or ``"1,28,28"``; needed when the file does not fix it.
    input_range : (low, high) or str, optional
        Value range of the inputs (used by zbox); overrides what the file says.
    classes : list of str or str, optional
        Class names; overrides names stored in the file (ONNX metadata ``classes``).
    arch : str, optional
        State dicts only: the architecture as JSON (text or a path to a ``.json`` file) or a text spec
        such as ``"conv:8:5,bn,relu,maxpool:2,flatten,dense:10"``.
    mean, std : sequences of float or str, optional
        The input normalisation the model was trained with (torchvision's ``Normalize(mean, std)``),
        one value per channel in input units, e.g. ``"0.485,0.456,0.406"``; both or neither. It is
        prepended as a ``normalize`` node (:func:`lrp_studio.nn.builders.with_normalization`), so
        inputs are given unnormalised and the z-box bounds follow from ``input_range``, mean and std.

    Returns
    -------
    Network

    Raises
    ------
    MissingModelInfo
        The file does not fix the input shape or (state dicts) the architecture; ``error.what``
        names the argument to supply.
    ModelFileError
        Unreadable, pickled or unsupported file; unsupported ONNX node (named, with its index).
    """
    return import_model_with_notes(path, input_shape, input_range, classes, arch, mean, std)[0]
