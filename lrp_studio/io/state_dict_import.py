"""Import PyTorch state dicts (``.safetensors`` or ``.npz``) with their architecture; never pickle.

A ``torch.nn.Sequential``'s state dict holds only weights, so the layers come from an architecture:

- a text spec, one token per module: ``conv:C:K[:S[:P]]``, ``dense:N``, ``maxpool:K[:S]``,
  ``avgpool:K[:S]``, ``flatten``, ``relu``, ``sigmoid``, ``tanh``, ``batchnorm[:EPS]`` (or ``bn``),
  ``dropout[:P]``, ``identity``, ``softmax`` (last only), or the shortcuts ``mlp``, ``mlp:H1,H2,...``
  and ``cnn`` (the one vocabulary of :mod:`lrp_studio.nn.builders`, shared with ``lrp-studio train
  --arch``); a ``flatten`` is added before a dense layer that gets image data;
- JSON (text, or the path of a ``.json`` file): a list of layer entries or an object with ``layers``
  and optionally ``input_shape``, ``classes``, ``input_range``. Entries follow the model file
  (DESIGN.md 3.1) plus ``{"type": "batchnorm", "eps": 1e-5}``, ``dropout``, ``identity``,
  ``softmax``; sizes that the weights tell (``in_features``, ``out_channels``, ``kernel_size``, ...)
  may be left out.

Where the architecture is not given, it is read from the safetensors metadata key ``architecture``
or from a JSON file next to the weights with the same stem (``model.safetensors`` ->
``model.json``). Parameter groups (``"0.weight"``, ``"0.bias"``, ``"1.running_mean"``, ...; any
common prefix such as ``"net."``) are matched to the layers with parameters in the order of their
module indices, and checked shape by shape. BatchNorm groups are merged into the Conv/Dense layer
before them.

Safetensors files are read by :func:`read_safetensors`, a small parser of the format (8-byte
little-endian header length, JSON header, raw little-endian data) that checks every offset and
size before reading, so neither PyTorch nor the ``safetensors`` package is needed.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from lrp_studio.errors import ModelFileError, ParameterError
from lrp_studio.io.import_common import (
    MissingModelInfo, build_network, entry_output_shape, fold_batchnorm, parse_classes, parse_input_range,
    parse_input_shape,
)
from lrp_studio.nn.builders import is_shortcut, parse_layer_tokens, shortcut_layers
from lrp_studio.nn.layers import MAX_LAYER_PARAMETERS
from lrp_studio.nn.network import Network

__all__ = ["import_state_dict", "import_state_dict_with_notes", "read_safetensors"]

MAX_HEADER_BYTES = 100 * 2**20
MAX_TENSORS = 100_000
MAX_VALUES = 4 * MAX_LAYER_PARAMETERS  # all tensors together
_DTYPES = {
    "F64": np.dtype("<f8"), "F32": np.dtype("<f4"), "F16": np.dtype("<f2"), "BF16": np.dtype("<u2"),
    "I64": np.dtype("<i8"), "I32": np.dtype("<i4"), "I16": np.dtype("<i2"), "I8": np.dtype("i1"),
    "U8": np.dtype("u1"), "BOOL": np.dtype("?"),
}
_LEAVES = ("weight", "bias", "running_mean", "running_var", "num_batches_tracked")
_IGNORED = ("dropout", "identity")
_KNOWN = ("dense", "conv2d", "maxpool2d", "avgpool2d", "flatten", "relu", "sigmoid", "tanh", "batchnorm",
          "dropout", "identity", "softmax")
_EXAMPLE_SPEC = "'conv:8:5,bn,relu,maxpool:2,flatten,dense:10'"


def _fail(path: Any, problem: str) -> ModelFileError:
    return ModelFileError(" ".join(f"{path}: {problem}".split()))


# ----------------------------------------------------------------------------- reading tensors
def read_safetensors(path: Any) -> tuple[dict[str, np.ndarray], dict[str, str]]:
    """Tensors and ``__metadata__`` of a ``.safetensors`` file, validated before anything is read.

    Returns
    -------
    tensors : dict of str to ndarray
        In their stored dtype (``BF16`` widened to float32).
    metadata : dict of str to str
    """
    path = Path(path)
    try:
        size = path.stat().st_size
        handle = open(path, "rb")
    except OSError as error:
        raise _fail(path, f"cannot open the file ({error.strerror or error})") from None
    with handle:
        head = handle.read(8)
        if len(head) < 8:
            raise _fail(path, "too short to be a safetensors file")
        length = int.from_bytes(head, "little")
        if length > min(size - 8, MAX_HEADER_BYTES):
            raise _fail(path, f"not a safetensors file (header length {length:,} exceeds the file or the limit)")
        try:
            header = json.loads(handle.read(length).decode("utf-8"))
        except (UnicodeDecodeError, ValueError, RecursionError):
            raise _fail(path, "not a safetensors file (the header is not JSON)") from None
        if not isinstance(header, dict):
            raise _fail(path, "not a safetensors file (the header is not a JSON object)")
        metadata = header.pop("__metadata__", None) or {}
        if not isinstance(metadata, dict) or not all(isinstance(v, str) for v in metadata.values()):
            raise _fail(path, "'__metadata__' must map names to strings")
        if len(header) > MAX_TENSORS:
            raise _fail(path, f"{len(header):,} tensors exceed the limit of {MAX_TENSORS:,}")
        data_start, data_size = 8 + length, size - 8 - length
        layout, total = [], 0
        for name, info in header.items():
            where = f"tensor {name[:80]!r}"
            if not isinstance(info, dict) or info.get("dtype") not in _DTYPES:
                dtype = info.get("dtype") if isinstance(info, dict) else None
                raise _fail(path, f"{where}: unsupported dtype {str(dtype)[:20]!r} (supported: {', '.join(_DTYPES)})")
            shape, offsets = info.get("shape"), info.get("data_offsets")
            if not isinstance(shape, list) or not all(isinstance(v, int) and not isinstance(v, bool) and v >= 0
                                                      for v in shape):
                raise _fail(path, f"{where}: invalid shape {str(shape)[:60]}")
            if not (isinstance(offsets, list) and len(offsets) == 2 and all(isinstance(v, int) for v in offsets)
                    and 0 <= offsets[0] <= offsets[1] <= data_size):
                raise _fail(path, f"{where}: data_offsets {str(offsets)[:60]} are missing, invalid or outside the file")
            count = math.prod(shape)
            total += count
            if total > MAX_VALUES:
                raise _fail(path, f"more than {MAX_VALUES:,} values in all (the limit)")
            dtype = _DTYPES[info["dtype"]]
            if offsets[1] - offsets[0] != count * dtype.itemsize:
                raise _fail(path, f"{where}: {offsets[1] - offsets[0]:,} bytes stored for shape {tuple(shape)} "
                                  f"of {info['dtype']}")
            layout.append((name, info["dtype"], tuple(shape), offsets[0], offsets[1]))
        tensors = {}
        for name, kind, shape, begin, end in layout:
            handle.seek(data_start + begin)
            data = handle.read(end - begin)
            if len(data) != end - begin:
                raise _fail(path, f"tensor {name[:80]!r}: the file is truncated")
            array = np.frombuffer(data, dtype=_DTYPES[kind]).reshape(shape)
            if kind == "BF16":  # bfloat16 is the upper half of a float32
                array = (array.astype(np.uint32) << 16).view(np.float32)
            tensors[name] = array
    return tensors, {str(k): v for k, v in metadata.items()}


def _read_npz_state(path: Path) -> dict[str, np.ndarray] | None:
    """Arrays of a state-dict ``.npz`` (None when it is an LRP Studio model file)."""
    from lrp_studio.io import model as model_file

    try:
        npz = np.load(path, allow_pickle=False)
    except Exception as error:
        raise _fail(path, f"not a readable .npz archive ({' '.join(str(error).split())[:120]})") from None
    if not isinstance(npz, np.lib.npyio.NpzFile):
        raise _fail(path, "is a single .npy array, not an .npz archive")
    with npz:
        try:
            headers = model_file.member_headers(npz)
        except model_file.Refused as problem:
            raise _fail(path, str(problem)) from None
        except Exception as error:
            raise _fail(path, f"damaged .npz archive ({type(error).__name__})") from None
        if "architecture" in headers:
            return None
        if sum(math.prod(shape) for shape, _ in headers.values()) > MAX_VALUES:
            raise _fail(path, f"more than {MAX_VALUES:,} values in all (the limit)")
        state = {}
        for key, (_, dtype) in headers.items():
            if dtype.kind not in "fiub":
                raise _fail(path, f"entry {key[:80]!r} has dtype {dtype}, expected numbers")
            try:
                state[key] = npz[key]
            except Exception as error:
                raise _fail(path, f"entry {key[:80]!r} cannot be read ({type(error).__name__})") from None
    return state


# ----------------------------------------------------------------------------- architecture
def _parse_arch(arch: str, groups: list[tuple[str, dict[str, np.ndarray]]],
                input_shape: tuple[int, ...] | None) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """``arch`` (JSON text, a .json path or a text spec) -> layer items and extra settings."""
    text = arch.strip()
    if text.lower().endswith(".json") and "\n" not in text and not text.startswith(("{", "[")):
        try:
            text = Path(text).read_text(encoding="utf-8")
        except OSError as error:
            raise ParameterError(f"architecture file {arch}: {error.strerror or error}") from None
        except UnicodeDecodeError:
            raise ParameterError(f"architecture file {arch}: not UTF-8 text") from None
    if text.startswith(("{", "[")):
        try:
            value = json.loads(text)
        except (ValueError, RecursionError) as error:
            raise ParameterError(f"the architecture is not valid JSON ({error})") from None
        settings = value if isinstance(value, dict) else {}
        layers = value.get("layers") if isinstance(value, dict) else value
        if not isinstance(layers, list) or not layers or not all(isinstance(e, dict) and "type" in e for e in layers):
            raise ParameterError("a JSON architecture must be a list of layer objects with a 'type', "
                                 "or an object with such a 'layers' list")
        items = [dict(entry) for entry in layers]
        for item in items:
            if item["type"] in ("batchnorm1d", "batchnorm2d", "bn"):
                item["type"] = "batchnorm"
        return items, settings
    if is_shortcut(text):
        return _shortcut(text, groups, input_shape)
    return parse_layer_tokens(text), {}


def _shortcut(spec: str, groups: list[tuple[str, dict[str, np.ndarray]]],
              input_shape: tuple[int, ...] | None) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """``mlp``, ``mlp:H1,...``, ``cnn`` (for 28x28 images unless ``input_shape`` says otherwise): the layers
    of :func:`lrp_studio.nn.builders.shortcut_layers` and the input shape they assume."""
    weights = [g["weight"] for _, g in groups if "weight" in g and "running_mean" not in g]
    if not weights:
        raise ParameterError("the file holds no weights")
    if input_shape is None:
        if spec == "cnn":
            input_shape = (int(weights[0].shape[1]), 28, 28) if weights[0].ndim == 4 else (1, 28, 28)
        else:
            input_shape = (int(weights[0].shape[-1]),)
    try:
        layers = shortcut_layers(spec, input_shape, n_classes=int(weights[-1].shape[0]))
    except ParameterError as error:
        raise ParameterError(f"architecture {spec!r} for input shape {input_shape}: {error}") from None
    return layers, {"input_shape": list(input_shape)}


# ----------------------------------------------------------------------------- parameters
def _natural(prefix: str) -> tuple[Any, ...]:
    return tuple((0, int(p), "") if p.isdigit() else (1, 0, p) for p in prefix.split("."))


def _groups(path: Path, tensors: dict[str, np.ndarray]) -> list[tuple[str, dict[str, np.ndarray]]]:
    """``{"0.weight": ..., "0.bias": ...}`` -> [("0", {"weight": ..., "bias": ...}), ...] by module index."""
    groups: dict[str, dict[str, np.ndarray]] = {}
    for key, value in tensors.items():
        prefix, _, leaf = key.rpartition(".")
        if leaf not in _LEAVES or not prefix:
            raise _fail(path, f"unexpected tensor {key[:80]!r}: expected keys like '0.weight', '0.bias', "
                              "'1.running_mean' (a torch.nn.Sequential state dict)")
        if value.dtype.kind not in "fiub":
            raise _fail(path, f"tensor {key[:80]!r} does not hold numbers")
        groups.setdefault(prefix, {})[leaf] = value
    return sorted(groups.items(), key=lambda item: _natural(item[0]))


def _group_kind(params: dict[str, np.ndarray]) -> str:
    if "running_mean" in params or "running_var" in params:
        return "batchnorm"
    weight = params.get("weight")
    if weight is None:
        return "bias only"
    return {2: "dense", 4: "conv2d"}.get(weight.ndim, f"{weight.ndim}-d weight")


def _fill_from_weights(path: Path, item: dict[str, Any], prefix: str, params: dict[str, np.ndarray],
                       position: int) -> None:
    """Check a dense/conv item against its weights and fill in the sizes it left out."""
    weight = params["weight"]
    if item["type"] == "dense":
        sizes = {"out_features": weight.shape[0], "in_features": weight.shape[1]}
    else:
        if weight.shape[2] != weight.shape[3]:
            raise _fail(path, f"'{prefix}.weight' has a non-square kernel {weight.shape[2:]}; not supported")
        sizes = {"out_channels": weight.shape[0], "in_channels": weight.shape[1], "kernel_size": weight.shape[2]}
        item.setdefault("stride", 1)
        item.setdefault("padding", 0)
    for key, size in sizes.items():
        if key in item and item[key] != int(size):
            raise _fail(path, f"layer {position} of the architecture ({item['type']}) has {key} {item[key]}, but "
                              f"'{prefix}.weight' has shape {tuple(weight.shape)}")
        item[key] = int(size)
    bias = params.get("bias")
    if bias is not None and bias.shape != (weight.shape[0],):
        raise _fail(path, f"'{prefix}.bias' has shape {tuple(bias.shape)}, expected ({weight.shape[0]},)")


def _assemble(path: Path, items: list[dict[str, Any]], groups: list[tuple[str, dict[str, np.ndarray]]],
              input_shape: tuple[int, ...] | None) -> tuple[list[dict[str, Any]], dict[int, dict[str, np.ndarray]],
                                                           tuple[int, ...], list[str]]:
    """Match parameter groups to items, merge BatchNorms, add flattens; -> layers, params, input shape, notes."""
    for position, item in enumerate(items):
        if item["type"] not in _KNOWN:
            raise _fail(path, f"layer {position} of the architecture has unknown type {str(item['type'])[:40]!r}; "
                              f"known: {', '.join(_KNOWN)}")
        if item["type"] in ("maxpool2d", "avgpool2d") and "kernel_size" in item:
            item.setdefault("stride", item["kernel_size"])
    with_params = [i for i, item in enumerate(items) if item["type"] in ("dense", "conv2d", "batchnorm")]
    if len(with_params) != len(groups):
        wanted = ", ".join(items[i]["type"] for i in with_params) or "none"
        found = ", ".join(f"{prefix} ({_group_kind(p)})" for prefix, p in groups) or "none"
        raise _fail(path, f"the architecture has {len(with_params)} layers with parameters ({wanted}) but the file "
                          f"has {len(groups)} parameter groups ({found})")
    matched: dict[int, tuple[str, dict[str, np.ndarray]]] = {}
    for position, (prefix, params) in zip(with_params, groups):
        item, kind = items[position], _group_kind(params)
        if kind != item["type"]:
            raise _fail(path, f"layer {position} of the architecture is {item['type']}, but the parameters "
                              f"'{prefix}.*' are {kind} (parameters are matched in order of their module index)")
        if kind != "batchnorm":
            _fill_from_weights(path, item, prefix, params, position)
        matched[position] = (prefix, params)
    if input_shape is None:
        first = next((item for item in items if item["type"] not in _IGNORED), None)
        if first is not None and first["type"] == "dense":
            input_shape = (first["in_features"],)
        else:
            raise MissingModelInfo(path, "input_shape", "the input shape of a state dict whose first layer is not "
                                   "dense cannot be told from its weights", "(1, 28, 28)")
    layers: list[dict[str, Any]] = []
    params_out: dict[int, dict[str, np.ndarray]] = {}
    notes: list[str] = []
    shape, open_linear, final = tuple(input_shape), None, None
    for position, item in enumerate(items):
        kind = item["type"]
        if final is not None and kind not in _IGNORED:
            raise _fail(path, f"layer {position} ({kind}) follows the softmax at layer {final}; softmax may only "
                              "come last")
        if kind in _IGNORED:
            continue
        if kind == "softmax":
            final = position
            notes.append(f"dropped the final softmax (layer {position}): explanations start at the logits")
            continue
        if kind == "batchnorm":
            prefix, bn = matched[position]
            if open_linear is None:
                raise _fail(path, f"batchnorm at layer {position} ('{prefix}.*') does not follow a conv or dense "
                                  "layer; only such a batchnorm can be merged")
            target = params_out[open_linear]
            channels = target["weight"].shape[0]
            gamma, beta = bn.get("weight", np.ones(channels)), bn.get("bias", np.zeros(channels))
            mean, var = bn.get("running_mean"), bn.get("running_var")
            if mean is None or var is None:
                raise _fail(path, f"batchnorm '{prefix}.*' lacks running_mean or running_var")
            if any(np.shape(v) != (channels,) for v in (gamma, beta, mean, var)):
                raise _fail(path, f"batchnorm '{prefix}.*' does not have {channels} values per parameter")
            try:
                eps = float(item.get("eps", 1e-5))
            except (TypeError, ValueError):
                raise _fail(path, f"batchnorm at layer {position}: eps must be a number") from None
            target["weight"], target["bias"] = fold_batchnorm(target["weight"], target["bias"], gamma, beta,
                                                              mean, var, eps)
            notes.append(f"merged batchnorm '{prefix}.*' into layer {open_linear} ({layers[open_linear]['type']})")
            continue
        if kind == "dense" and len(shape) != 1:  # as in the text specs of `lrp-studio train`
            layers.append({"type": "flatten"})
            shape = (math.prod(shape),)
        entry = {key: value for key, value in item.items()}
        try:
            shape = entry_output_shape(entry, shape)
        except (ParameterError, KeyError, TypeError) as error:
            raise _fail(path, f"layer {position} of the architecture ({kind}): {error}") from None
        layers.append(entry)
        open_linear = None
        if position in matched:
            _, group = matched[position]
            weight = np.asarray(group["weight"], np.float64)
            bias = np.asarray(group["bias"], np.float64) if "bias" in group else np.zeros(weight.shape[0])
            params_out[len(layers) - 1] = {"weight": weight, "bias": bias}
            open_linear = len(layers) - 1
    return layers, params_out, tuple(input_shape), notes


# ----------------------------------------------------------------------------- entry points
def import_state_dict_with_notes(path: Any, arch: str | None = None, input_shape: tuple[int, ...] | None = None,
                                 input_range: tuple[float, float] | None = None,
                                 classes: Sequence[str] | None = None) -> tuple[Network, list[str]]:
    """:func:`import_state_dict` plus notes on what was done (merged batchnorms, dropped softmax)."""
    path = Path(path)
    metadata: dict[str, str] = {}
    if path.suffix.lower() == ".npz":
        tensors = _read_npz_state(path)
        if tensors is None:  # an LRP Studio model file
            from lrp_studio.io.model import load_model

            net = load_model(path)
            if classes is not None:
                if len(classes) != net.n_classes:
                    raise _fail(path, f"classes has {len(classes)} names for {net.n_classes} outputs")
                net.classes = list(classes)
            if input_range is not None:
                net.input_range = tuple(input_range)
            if input_shape is not None and tuple(input_shape) != net.input_shape:
                raise _fail(path, f"input_shape {tuple(input_shape)} differs from the model's {net.input_shape}")
            return net, ["an LRP Studio model file: loaded as it is"]
    else:
        tensors, metadata = read_safetensors(path)
    if not tensors:
        raise _fail(path, "holds no tensors")
    groups = _groups(path, tensors)
    source = "argument"
    if arch is None and "architecture" in metadata:
        arch, source = metadata["architecture"], "the file's metadata 'architecture'"
    sidecar = path.with_suffix(".json")
    if arch is None and sidecar.is_file():
        arch, source = str(sidecar), str(sidecar)
    if arch is None:
        raise MissingModelInfo(path, "arch", "a state dict holds no architecture (and there is no "
                               f"{sidecar.name} next to it)", _EXAMPLE_SPEC)
    try:
        if input_shape is None and "input_shape" in metadata:
            input_shape = parse_input_shape(metadata["input_shape"], "metadata 'input_shape'")
        items, settings = _parse_arch(str(arch), groups, input_shape)
        if input_shape is None and settings.get("input_shape") is not None:
            input_shape = parse_input_shape(settings["input_shape"], "the architecture's 'input_shape'")
        if classes is None:
            stored = settings.get("classes", metadata.get("classes"))
            classes = parse_classes(stored, "stored 'classes'") if stored is not None else None
        if input_range is None:
            stored = settings.get("input_range", metadata.get("input_range"))
            input_range = parse_input_range(stored, "stored 'input_range'") if stored is not None else None
    except ParameterError as error:
        raise _fail(path, f"{error} (architecture from {source})") from None
    layers, params, shape, notes = _assemble(path, items, groups, input_shape)
    net = build_network(path, layers, params, shape, classes, input_range)
    return net, notes


def import_state_dict(path: Any, arch: str | None = None, input_shape: tuple[int, ...] | None = None,
                      input_range: tuple[float, float] | None = None, classes: Sequence[str] | None = None) -> Network:
    """Import a ``torch.nn.Sequential`` state dict saved as ``.safetensors`` or ``.npz``.

    Parameters
    ----------
    path : str or path-like
    arch : str, optional
        JSON (text or a ``.json`` path) or a text spec; see the module docstring. Default: the file's
        metadata ``architecture`` or a ``.json`` file of the same stem next to it.
    input_shape : tuple of int, optional
        Needed unless the first layer is dense or the architecture/metadata gives it.
    input_range, classes : optional
        Override what the architecture or metadata say.

    Raises
    ------
    MissingModelInfo
        No architecture, or no way to tell the input shape.
    ModelFileError
        Unreadable file, weights that do not fit the architecture (naming the keys).
    """
    return import_state_dict_with_notes(path, arch, input_shape, input_range, classes)[0]
