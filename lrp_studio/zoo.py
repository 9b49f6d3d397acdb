"""Bundled models (``mlp``, ``cnn``, ``resnet``), named architectures, and :func:`load_model` for every model source.

The zoo sits above :mod:`lrp_studio.io` and :mod:`lrp_studio.nn`: it knows the bundled files and the
MNIST class names, the layers below it know neither.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Sequence

from lrp_studio.data import MNIST_CLASSES, resource_path
from lrp_studio.errors import ModelFileError, ParameterError
from lrp_studio.io import MissingModelInfo, import_model
from lrp_studio.io import load_model as load_model_file
from lrp_studio.lrp.params import did_you_mean
from lrp_studio.nn import Network
from lrp_studio.nn.builders import architecture_layers

__all__ = ["BUNDLED_DATASETS", "BUNDLED_MODELS", "build_architecture", "bundled_model_path", "load_any_model", "load_model"]

#: Bundled model name -> its file in resources/ (README "Bundled data and models").
BUNDLED_MODELS = {"mlp": "mlp_mnist.npz", "cnn": "cnn_mnist.npz", "resnet": "resnet.npz", "shapes": "cnn_shapes.npz"}

#: The dataset a bundled model was made for, when it is not MNIST (the app opens it with the model).
BUNDLED_DATASETS = {"shapes": "toy:shapes:test"}

# What ``lrp-studio`` flags supply each piece of information a file may lack.
_CLI_FLAGS = {"input_shape": "--input-shape C,H,W", "arch": "--arch SPEC"}


def bundled_model_path(name: str) -> Path:
    """The file of a bundled model (``"mlp"``, ``"cnn"``, ``"resnet"`` or ``"shapes"``, the toy:shapes CNN).

    Raises
    ------
    ModelFileError
        ``name`` is not bundled, or its file is missing from this installation.
    """
    if name not in BUNDLED_MODELS:
        raise ModelFileError(f"{name!r} is not a bundled model; bundled: {', '.join(BUNDLED_MODELS)}")
    try:
        return resource_path(BUNDLED_MODELS[name])
    except Exception as error:
        raise ModelFileError(f"bundled model {name!r} is missing from this installation ({error})") from None


def load_model(source: str | os.PathLike[str], *, arch: str | None = None, input_shape: Any = None,
               input_range: Any = None, classes: Any = None) -> Network:
    """Open a network from any source ``lrp-studio --model`` accepts.

    Parameters
    ----------
    source : str or path-like
        One of

        - a bundled model name: ``"mlp"`` (784-300-100-10), ``"cnn"`` (LeNet-style, 1 x 28 x 28 inputs) or
          ``"resnet"`` (a residual CNN with BatchNorm, :data:`lrp_studio.nn.builders.RESNET_SPEC`; a graph);
        - an LRP Studio model file (``.npz``, DESIGN.md 3.1);
        - an ONNX graph (``.onnx``, needs the optional ``onnx`` package);
        - a PyTorch ``torch.nn.Sequential`` state dict (``.safetensors`` or ``.npz``) with its architecture
          in ``arch``, in the file's metadata or in a ``.json`` file of the same stem next to it.

        Pickled files (``.pt``, ``.pth``, ``.ckpt``, ...) are refused: unpickling runs code.
    arch : str, optional
        State dicts only: a text spec such as ``"conv:8:5,bn,relu,maxpool:2,flatten,dense:10"`` (the
        vocabulary of :mod:`lrp_studio.nn.builders`), ``"mlp"``/``"cnn"``, or JSON (text or a ``.json`` path).
    input_shape : sequence of int or str, optional
        One sample's shape, e.g. ``(1, 28, 28)`` or ``"1,28,28"``, where the file does not fix it.
    input_range : (low, high) or str, optional
        Value range of the inputs (used by the zbox rule); overrides what the file says.
    classes : list of str or str, optional
        Class names; override the stored names.

    Returns
    -------
    Network

    Raises
    ------
    MissingModelInfo
        The file lacks its architecture or input shape; ``error.what`` names the keyword to give.
    ModelFileError
        Unknown name or missing file, a damaged, pickled or unsupported file, or weights that do not fit
        the architecture (the message names the file and the problem).
    ParameterError
        Unreadable keywords (``arch``, ``input_shape``, ...), or keywords given with a bundled model.

    Examples
    --------
    >>> import lrp_studio
    >>> net = lrp_studio.load_model("cnn")
    >>> net.input_shape
    (1, 28, 28)
    """
    keywords = {"arch": arch, "input_shape": input_shape, "input_range": input_range, "classes": classes}
    given = {name: value for name, value in keywords.items() if value is not None}
    if isinstance(source, str) and source in BUNDLED_MODELS:
        if given:
            raise ParameterError(f"bundled model {source!r} takes no {', '.join(given)}")
        return load_model_file(bundled_model_path(source))
    try:
        path = Path(os.fspath(source))
    except TypeError:
        raise ModelFileError(f"{source!r}: not a model name or file path") from None
    if not path.suffix and not path.exists():
        raise ModelFileError(f"{path}: no such file, and not a bundled model ({', '.join(BUNDLED_MODELS)})"
                             + did_you_mean(str(path), BUNDLED_MODELS))
    if path.suffix.lower() == ".npz" and not given:
        try:
            return load_model_file(path)
        except ModelFileError:
            if not _is_state_dict(path):
                raise
    return import_model(path, **keywords)


def _is_state_dict(path: Path) -> bool:
    """Whether an ``.npz`` has no ``architecture`` member (so it may be a state dict)."""
    import zipfile

    try:
        with zipfile.ZipFile(path) as archive:
            names = archive.namelist()[:100_000]
    except (OSError, zipfile.BadZipFile, ValueError):
        return False
    return bool(names) and "architecture.npy" not in names


def load_any_model(spec: str | os.PathLike[str]) -> Network:
    """:func:`load_model` with the command line's advice when the file lacks information.

    Raises
    ------
    ModelFileError
        As :func:`load_model`; a missing architecture or input shape is reported with the
        ``lrp-studio import`` command that converts the file once.
    """
    try:
        return load_model(spec)
    except MissingModelInfo as missing:
        flag = _CLI_FLAGS.get(missing.what, missing.what)
        raise ModelFileError(missing.with_hint(
            f"convert it once with: lrp-studio import {spec} {flag} --out model.npz")) from None


def build_architecture(spec: str, input_shape: Sequence[int] = (1, 28, 28), n_classes: int = 10,
                       classes: list[str] | None = None, input_range: tuple[float, float] | None = (0.0, 1.0),
                       seed: int = 0) -> Network:
    """A fresh network from a shortcut or layer list (:mod:`lrp_studio.nn.builders`).

    Parameters
    ----------
    spec : str
        ``mlp`` = 784-300-100-10 ReLU, ``cnn`` = conv5x5(16)-pool-conv5x5(32)-pool-100-10 ReLU,
        ``resnet`` = the bundled residual CNN, ``mlp:H1,H2,...`` = an MLP with the given hidden widths, or a
        layer list such as ``conv:8:5,relu,maxpool:2,flatten,dense:64,relu,dense:10`` (with ``res:C[:sS]``
        residual blocks, ``bn`` and ``gap`` a graph).
    input_shape : sequence of int
        One sample's shape (default 1 x 28 x 28).
    n_classes : int
        Outputs of a shortcut (default 10).
    classes : list of str, optional
        Default: the MNIST digit names for 10 outputs, else "0", "1", ...
    input_range : (low, high) or None
        Default (0, 1).
    seed : int
        Weight initialisation seed.

    Raises
    ------
    ParameterError
        Unreadable spec or layers that do not fit the input shape.
    """
    layers = architecture_layers(spec, input_shape, n_classes)
    if classes is None:
        outputs = Network.from_spec({"input_shape": list(input_shape), "layers": layers}, seed=None).n_classes
        classes = list(MNIST_CLASSES) if outputs == 10 else [str(i) for i in range(outputs)]
    arch = {"input_shape": list(input_shape), "layers": layers, "classes": classes, "input_range": input_range}
    return Network.from_spec(arch, seed=seed)
