"""Model files: ``.npz`` with a JSON ``architecture`` and PyTorch-keyed parameters, never pickle.

The format (DESIGN.md 3.1; README "Model file format")::

    architecture   0-d unicode array holding a JSON object
                   {"format": "lrp-studio-model", "version": 1 or 2, "input_shape": [1, 28, 28],
                    "layers": [...], "classes": [...] (optional), "input_range": [lo, hi] (optional)}
    "{name}.weight"   node ``name``'s weight, PyTorch shape (dense (out, in); conv (out_c, in_c, kh, kw);
                      batchnorm (C,))
    "{name}.bias"     its bias (out,)
    "{name}.running_mean", "{name}.running_var"   a batchnorm node's running statistics (C,)

A ``{"type": "normalize", "mean": [...], "std": [...]}`` node (version 2, no arrays; lists of one
finite number per input channel, std > 0) is an input normalisation the network applies first
(:mod:`lrp_studio.nn.preprocessing`).

A node's name is its entry's ``"name"`` (version 2), by default its index i, so in version 1 (and
for unnamed nodes) the keys are ``"{i}.weight"`` and a ``torch.nn.Sequential`` state_dict maps onto
it key for key. Version 2 entries may carry ``"name"`` and ``"inputs"`` (a list of earlier node
names, ``"input"`` for the network input); an entry without ``"inputs"`` reads the previous node,
so every version-1 file is a valid version-2 graph. Version 1 files may use only the version-1
layer types (dense, conv2d, maxpool2d, avgpool2d, flatten, relu, sigmoid, tanh) and are always
sequential (their entries' ``"name"``/``"inputs"`` keys, never written, are ignored as before). :func:`load_model` treats the
file as hostile: every problem becomes one :class:`~lrp_studio.errors.ModelFileError` line naming
the file, and nothing is allocated from sizes the file claims before they have been checked.
"""

from __future__ import annotations

import json
import math
import os
import warnings
from pathlib import Path
from typing import Any

import numpy as np

from lrp_studio.errors import ModelFileError, ParameterError
from lrp_studio.io.atomic import PathLike, atomic_write, describe_os_error
from lrp_studio.io.npy_header import read_npy_header
from lrp_studio.nn.graph import check_no_dead_nodes, check_node_inputs, consumers_of, infer_shapes, resolve_entries
from lrp_studio.nn.layers import LAYER_KEYS, LAYER_OPTIONAL_KEYS, MAX_LAYER_PARAMETERS, V1_LAYER_TYPES, Layer, layer_from_spec
from lrp_studio.nn.network import Network

__all__ = ["FORMAT_NAME", "FORMAT_VERSION", "READ_VERSIONS", "MAX_ARCHITECTURE_CHARS", "MAX_LAYERS", "MAX_MODEL_PARAMETERS",
           "MAX_OUTPUTS", "MAX_SAMPLE_VALUES", "Refused", "check_layer_sizes", "check_parameters",
           "check_sample_sizes", "load_model", "load_model_with_texts", "member_headers", "model_arrays",
           "save_model", "validate_architecture"]

FORMAT_NAME = "lrp-studio-model"
FORMAT_VERSION = 2  # the newest version written; every version in READ_VERSIONS is read
READ_VERSIONS = (1, 2)
_GRAPH_KEYS = ("name", "inputs")  # version-2 entry keys (besides the layer's own)

MAX_LAYERS = 10_000
MAX_MODEL_PARAMETERS = 2 * MAX_LAYER_PARAMETERS  # all layers together
MAX_SAMPLE_VALUES = MAX_LAYER_PARAMETERS  # values per sample in any layer's input, output or im2col
MAX_ARCHITECTURE_CHARS = 16 * 2**20
MAX_OUTPUTS = 1_000_000  # outputs (classes) of a network: each gets a class name

_ARCHITECTURE = "architecture"
_PICKLE_REFUSAL = "contains pickled objects, which are never loaded"
_MIN_VALUE = {"padding": 0}  # every other layer key must be >= 1


class Refused(Exception):
    """A problem with a model file or an imported network, without the file name.

    The loaders (this module and the importers in :mod:`lrp_studio.io`) turn it into one
    :class:`~lrp_studio.errors.ModelFileError` line that names the file.
    """


def _short(value: Any, limit: int = 80) -> str:
    """``repr`` of a (possibly huge, hostile) value cut to ``limit`` characters."""
    try:
        text = repr(value)
    except Exception:  # e.g. a huge int beyond the str conversion limit
        text = f"<{type(value).__name__}>"
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _fail(path: Any, problem: str) -> ModelFileError:
    message = f"{path}: {problem}"
    return ModelFileError(" ".join(message.split("\n")).replace("\r", " "))


# ---------------------------------------------------------------------------------------- saving
def save_model(net: Network, path: PathLike) -> Path:
    """Save ``net`` as a model file (DESIGN.md 3.1), atomically.

    Parameters
    ----------
    net : Network
    path : str or path-like
        Must end in ``.npz``.

    Returns
    -------
    pathlib.Path
        The written path.
    """
    target = Path(os.fspath(path))
    if target.suffix.lower() != ".npz":
        raise _fail(target, "model files must end in .npz")
    arrays = model_arrays(net)

    def write(temp_path: str) -> None:
        # A file object, so np.savez never appends ".npz" to a path (e.g. "MODEL.NPZ").
        with open(temp_path, "wb") as handle:
            np.savez(handle, **arrays)

    try:
        return atomic_write(target, write)
    except OSError as error:
        raise _fail(target, f"cannot write the model file ({describe_os_error(error)})") from None


def model_arrays(net: Network) -> dict[str, np.ndarray]:
    """The entries of ``net``'s model file: ``architecture`` (JSON) and its parameters and buffers as float32.

    The architecture is version 1 for a sequential network of version-1 layer types with default
    names (byte for byte as before graphs existed), else version 2 (:meth:`Network.spec`).
    """
    arrays = {_ARCHITECTURE: np.array(json.dumps(net.spec()))}
    for key, value in net.state_dict().items():
        arrays[key] = np.ascontiguousarray(value, dtype=np.float32)
    return arrays


# --------------------------------------------------------------------------------------- loading


def member_headers(npz: Any) -> dict[str, tuple[tuple[int, ...], np.dtype]]:
    """Every archive member's shape and dtype, read from the ``.npy`` headers only.

    Parameters
    ----------
    npz : numpy.lib.npyio.NpzFile
        An archive opened with ``allow_pickle=False``.

    Returns
    -------
    dict
        Entry name (without ``.npy``) -> (shape, dtype).

    Raises
    ------
    Refused
        For a member that is not a ``.npy`` array, a name that appears more than once, a damaged
        header or an object (pickle) array.
    """
    headers: dict[str, tuple[tuple[int, ...], np.dtype]] = {}
    for member in npz.zip.namelist():
        if not member.endswith(".npy"):
            raise Refused(f"entry {_short(member)} is not a NumPy array (.npy)")
        key = member[: -len(".npy")]
        if key in headers:
            raise Refused(f"entry {_short(key)} appears more than once")
        with npz.zip.open(member) as handle, warnings.catch_warnings():
            # A damaged header dict can make Python's literal parser warn (e.g. bad escapes).
            warnings.simplefilter("ignore", DeprecationWarning)
            warnings.simplefilter("ignore", SyntaxWarning)
            try:
                headers[key] = read_npy_header(handle)
            except Exception as error:
                raise Refused(f"entry {_short(key)} is not a valid NumPy array ({_short(str(error))})") from None
        if headers[key][1].hasobject:
            raise Refused(f"entry {_short(key)} {_PICKLE_REFUSAL}")
    return headers


def _read_architecture(npz: Any, header: tuple[tuple[int, ...], np.dtype]) -> Any:
    shape, dtype = header
    if shape != () or dtype.kind != "U":
        raise Refused(f"'architecture' must be a 0-d unicode string array, got dtype {dtype} and shape {shape}")
    if dtype.itemsize // 4 > MAX_ARCHITECTURE_CHARS:
        raise Refused(f"'architecture' is longer than {MAX_ARCHITECTURE_CHARS:,} characters")
    text = str(npz[_ARCHITECTURE][()])
    try:
        return json.loads(text)
    except (ValueError, RecursionError) as error:
        raise Refused(f"'architecture' is not valid JSON ({_short(str(error))})") from None


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_finite_number(value: Any) -> bool:
    if not isinstance(value, (int, float)) or isinstance(value, bool):
        return False
    try:
        return math.isfinite(float(value))
    except OverflowError:  # an int beyond the float range
        return False


def _check_optional_keys(where: str, kind: str, entry: dict[str, Any]) -> None:
    """BatchNorm's ``eps`` (> 0) and ``momentum`` (in [0, 1]), finite numbers when present."""
    for key in LAYER_OPTIONAL_KEYS.get(kind, ()):
        if key not in entry:
            continue
        value = entry[key]
        good = _is_finite_number(value) and (value > 0 if key == "eps" else 0 <= value <= 1)
        if not good:
            bounds = "> 0" if key == "eps" else "in [0, 1]"
            raise Refused(f"{where} ({kind}): {key} must be a finite number {bounds}, got {_short(value)}")


def _parameter_shapes(kind: str, entry: dict[str, Any]) -> dict[str, tuple[int, ...]]:
    """The parameter and buffer shapes a layer entry implies (empty for parameter-free layers)."""
    if kind == "dense":
        return {"weight": (entry["out_features"], entry["in_features"]), "bias": (entry["out_features"],)}
    if kind == "conv2d":
        k = entry["kernel_size"]
        return {"weight": (entry["out_channels"], entry["in_channels"], k, k), "bias": (entry["out_channels"],)}
    if kind == "batchnorm":
        c = (entry["num_features"],)
        return {"weight": c, "bias": c, "running_mean": c, "running_var": c}
    return {}


#: Layer keys that hold lists of numbers (one per channel) instead of integers.
_VECTOR_KEYS = {"normalize": ("mean", "std")}

#: Longest per-channel list accepted (a normalize node's mean/std).
MAX_CHANNELS = 4096


def _check_vector(where: str, kind: str, key: str, value: Any) -> None:
    """A per-channel list: 1..MAX_CHANNELS finite numbers (the layer checks the rest, e.g. std > 0)."""
    if not isinstance(value, list) or not 1 <= len(value) <= MAX_CHANNELS or not all(_is_finite_number(v) for v in value):
        raise Refused(f"{where} ({kind}): {key} must be a list of 1 to {MAX_CHANNELS} finite numbers, "
                      f"got {_short(value)}")


def _validate_layers(layers: Any, version: int = 1) -> dict[str, tuple[int, ...]]:
    """Check the ``layers`` list; return the expected parameter shapes keyed ``"{name}.weight"``."""
    if not isinstance(layers, list) or not layers:
        raise Refused("'layers' must be a non-empty list")
    if len(layers) > MAX_LAYERS:
        raise Refused(f"{len(layers):,} layers exceed the limit of {MAX_LAYERS:,}")
    known = LAYER_KEYS if version >= 2 else V1_LAYER_TYPES
    sized: list[tuple[int, dict[str, tuple[int, ...]]]] = []
    total = 0
    for index, entry in enumerate(layers):
        where = f"layer {index}"
        if not isinstance(entry, dict):
            raise Refused(f"{where} must be an object, got {_short(entry)}")
        kind = entry.get("type")
        if isinstance(kind, str) and kind in LAYER_KEYS and kind not in known:
            raise Refused(f"{where}: layer type {kind!r} needs model file version 2 (the file says version {version})")
        if not isinstance(kind, str) or kind not in known:
            raise Refused(f"{where}: unknown layer type {_short(kind)}; known: {', '.join(known)}")
        for key in LAYER_KEYS[kind]:
            if key not in entry:
                raise Refused(f"{where} ({kind}) is missing {key!r}")
            if key in _VECTOR_KEYS.get(kind, ()):
                _check_vector(where, kind, key, entry[key])
                continue
            value, minimum = entry[key], _MIN_VALUE.get(key, 1)
            if not _is_int(value) or value < minimum:
                raise Refused(f"{where} ({kind}): {key} must be an integer >= {minimum}, got {_short(value)}")
        _check_optional_keys(where, kind, entry)
        shapes = _parameter_shapes(kind, entry)
        if not shapes:
            continue
        count = math.prod(shapes["weight"])
        if count > MAX_LAYER_PARAMETERS:
            raise Refused(f"{where} ({kind}): {_short(count, 40)} weights exceed the limit of {MAX_LAYER_PARAMETERS:,}")
        total += sum(math.prod(shape) for shape in shapes.values())
        if total > MAX_MODEL_PARAMETERS:
            raise Refused(f"more than {MAX_MODEL_PARAMETERS:,} parameters in all (the limit)")
        sized.append((index, shapes))
    names = _node_names(layers, version)
    return {f"{names[index]}.{name}": shape for index, shapes in sized for name, shape in shapes.items()}


def _graph_entries(layers: list[dict[str, Any]], version: int) -> list[dict[str, Any]]:
    """The entries as the graph reads them: version 1 ignores ``name``/``inputs`` (always sequential)."""
    if version >= 2:
        return layers
    return [{k: v for k, v in entry.items() if k not in _GRAPH_KEYS} for entry in layers]


def _node_names(layers: list[dict[str, Any]], version: int) -> list[str]:
    """Node names of the (type-checked) entries; their ``inputs`` references are checked too."""
    try:
        names, _ = resolve_entries(_graph_entries(layers, version))
    except ParameterError as error:
        raise Refused(f"inconsistent architecture: {error}") from None
    return names if names is not None else [str(j) for j in range(len(layers))]


def validate_architecture(arch: Any) -> dict[str, tuple[int, ...]]:
    """Check everything in the architecture JSON that can be checked alone (no array is allocated).

    Parameters
    ----------
    arch : object
        The parsed ``architecture`` JSON (DESIGN.md 3.1).

    Returns
    -------
    dict
        ``"{name}.weight"`` / ``"{name}.bias"`` (and a batchnorm's ``"{name}.running_mean"`` /
        ``"{name}.running_var"``) -> the shape each stored array must have; names default to the
        layer index.

    Raises
    ------
    Refused
        For a wrong format or version, a bad input shape, classes or input range, unknown layer
        types (or version-2 types in a version-1 file), missing or non-integer layer keys, bad node
        names or ``inputs`` references, more than :data:`MAX_LAYERS` layers, a layer over
        ``MAX_LAYER_PARAMETERS`` weights, or more than :data:`MAX_MODEL_PARAMETERS` weights and
        biases in all.
    """
    if not isinstance(arch, dict):
        raise Refused(f"'architecture' must be a JSON object, got {type(arch).__name__}")
    if arch.get("format") != FORMAT_NAME:
        raise Refused(f"not an LRP Studio model: format is {_short(arch.get('format'))}, expected {FORMAT_NAME!r}")
    version = arch.get("version")
    if not _is_int(version) or version not in READ_VERSIONS:
        raise Refused(f"unsupported model file version {_short(version)} (this version reads "
                      f"{' and '.join(str(v) for v in READ_VERSIONS)})")
    shape = arch.get("input_shape")
    if (
        not isinstance(shape, list) or not 1 <= len(shape) <= 3
        or not all(_is_int(v) and v >= 1 for v in shape)
    ):
        raise Refused(f"'input_shape' must be a list of 1 to 3 positive integers, got {_short(shape)}")
    if math.prod(shape) > MAX_SAMPLE_VALUES:
        raise Refused(f"input shape {_short(shape)} exceeds the limit of {MAX_SAMPLE_VALUES:,} values per sample")
    classes = arch.get("classes")
    if classes is not None and (not isinstance(classes, list) or not all(isinstance(c, str) for c in classes)):
        raise Refused(f"'classes' must be a list of strings, got {_short(classes)}")
    value_range = arch.get("input_range")
    if value_range is not None:
        if (
            not isinstance(value_range, list) or len(value_range) != 2
            or not all(_is_finite_number(v) for v in value_range)
            or not value_range[0] < value_range[1]
        ):
            raise Refused(f"'input_range' must be two finite numbers low < high, got {_short(value_range)}")
    return _validate_layers(arch.get("layers"), version)


def check_parameters(expected: dict[str, tuple[int, ...]], headers: dict[str, tuple[tuple[int, ...], np.dtype]]) -> None:
    """Names, shapes and dtypes of the stored parameters against the architecture (headers only).

    Parameters
    ----------
    expected : dict
        From :func:`validate_architecture`.
    headers : dict
        From :func:`member_headers` (an ``architecture`` entry is ignored).

    Raises
    ------
    Refused
        For missing or unexpected parameters, a wrong shape, or a dtype that is not real numbers.
    """
    stored = {key: value for key, value in headers.items() if key != _ARCHITECTURE}
    missing = [key for key in expected if key not in stored]
    extra = sorted(key for key in stored if key not in expected)
    if missing or extra:
        parts = []
        if missing:
            parts.append(f"missing {_short(missing)}")
        if extra:
            parts.append(f"unexpected {_short(extra)}")
        raise Refused(f"parameters do not match the layers: {', '.join(parts)}")
    for key, shape in expected.items():
        stored_shape, dtype = stored[key]
        if stored_shape != shape:
            raise Refused(f"parameter {key!r} has shape {_short(stored_shape)}, expected {shape}")
        if dtype.kind not in "fiu":
            raise Refused(f"parameter {key!r} has dtype {dtype}, expected real numbers")


def _sample_shapes(layers: list[Layer], input_shape: tuple[int, ...],
                   node_inputs: list[tuple[int, ...]] | None = None) -> list[tuple[int, ...]]:
    """Per-sample shapes of every stage (input, then each layer's output), computed without allocating."""
    try:
        wiring = check_node_inputs(layers, node_inputs)
        return infer_shapes(layers, wiring, input_shape)
    except ParameterError as error:
        raise Refused(f"inconsistent architecture: {error}") from None


def check_layer_sizes(layers: list[Layer], shapes: list[tuple[int, ...]],
                      node_inputs: list[tuple[int, ...]] | None = None) -> None:
    """Refuse networks whose per-sample buffers or number of outputs would be absurd.

    Parameters
    ----------
    layers : list of Layer
    shapes : list of tuple
        Per-sample shapes of the stages: the input, then each layer's output (``len(layers) + 1``).
    node_inputs : list of tuple of int, optional
        The stages each layer reads (default sequential); a layer's input is its first one.

    Raises
    ------
    Refused
        When any layer's input, output, zero-padded input, (conv) im2col buffer or (pooling) window
        values hold more than :data:`MAX_SAMPLE_VALUES` values per sample, or the network has more than
        :data:`MAX_OUTPUTS` outputs.
    """
    for index, layer in enumerate(layers):
        shape = shapes[node_inputs[index][0] if node_inputs is not None else index]
        values = math.prod(shape)
        if getattr(layer, "type_name", "") == "conv2d":
            out, pad = shapes[index + 1], 2 * layer.padding
            padded = shape[0] * (shape[1] + pad) * (shape[2] + pad)
            im2col = out[1] * out[2] * layer.fan_in  # the unfolded input: one column per output position
            values = max(values, padded, im2col, math.prod(out))
        elif getattr(layer, "type_name", "") in ("maxpool2d", "avgpool2d"):
            out = shapes[index + 1]  # every window value is read once per offset: k*k passes over the output
            values = max(values, math.prod(out) * layer.kernel_size**2)
        if values > MAX_SAMPLE_VALUES:
            raise Refused(f"layer {index} would need {values:,} values per sample (limit {MAX_SAMPLE_VALUES:,})")
    outputs = math.prod(shapes[-1])
    if outputs > MAX_OUTPUTS:  # each output gets a class name: refuse before making millions of them
        raise Refused(f"{outputs:,} outputs exceed the limit of {MAX_OUTPUTS:,} classes")


def check_sample_sizes(net: Network) -> None:
    """:func:`check_layer_sizes` for a built network.

    Raises
    ------
    Refused
        As :func:`check_layer_sizes`.
    """
    check_layer_sizes(net.layers, net.shapes, net.node_inputs)


def _build_network(arch: dict[str, Any]) -> Network:
    """The network of a validated architecture; its per-sample sizes are checked before it is built."""
    try:
        entries = _graph_entries(arch["layers"], arch["version"])
        layers = []
        for index, entry in enumerate(entries):
            try:
                layers.append(layer_from_spec({k: v for k, v in entry.items() if k not in _GRAPH_KEYS}))
            except (ParameterError, TypeError) as error:
                raise ParameterError(f"layer {index}: {error}") from None
        names, node_inputs = resolve_entries(entries)
        shapes = _sample_shapes(layers, tuple(arch["input_shape"]), node_inputs)
        wiring = check_node_inputs(layers, node_inputs)
        check_no_dead_nodes(consumers_of(wiring, len(layers) + 1), names or [str(j) for j in range(len(layers))])
        check_layer_sizes(layers, shapes, wiring)
        return Network(layers, arch["input_shape"], arch.get("classes"), arch.get("input_range"),
                       inputs=node_inputs, names=names)
    except ParameterError as error:
        raise Refused(f"inconsistent architecture: {error}") from None
    except (TypeError, ValueError, KeyError, IndexError, OverflowError) as error:
        raise Refused(f"invalid architecture ({type(error).__name__}: {_short(str(error))})") from None


def _read_parameters(npz: Any, keys: list[str]) -> dict[str, np.ndarray]:
    """Read, convert to float32 and check the parameters (all finite)."""
    state = {}
    for key in keys:
        try:
            raw = npz[key]
        except Exception as error:
            raise Refused(f"parameter {key!r} cannot be read ({_short(str(error))})") from None
        with np.errstate(over="ignore", invalid="ignore"):
            array = np.ascontiguousarray(raw, dtype=np.float32)
        if not np.isfinite(array).all():
            raise Refused(f"parameter {key!r} contains NaN or infinite values (in float32)")
        state[key] = array
    return state


def _read_text(npz: Any, key: str, header: tuple[tuple[int, ...], np.dtype]) -> str:
    """An extra 0-d unicode entry (e.g. a session's JSON), size-checked before reading."""
    shape, dtype = header
    if shape != () or dtype.kind != "U":
        raise Refused(f"{key!r} must be a 0-d unicode string array, got dtype {dtype} and shape {shape}")
    if dtype.itemsize // 4 > MAX_ARCHITECTURE_CHARS:
        raise Refused(f"{key!r} is longer than {MAX_ARCHITECTURE_CHARS:,} characters")
    return str(npz[key][()])


def _load(path: Path, texts: dict[str, str | None] | None = None) -> Network:
    if not path.exists():
        raise Refused("file not found")
    if path.is_dir():
        raise Refused("is a directory, not a model file")
    try:
        handle = open(path, "rb")
    except OSError as error:
        raise Refused(f"cannot open the file ({describe_os_error(error)})") from None
    with handle:
        if handle.read(len(np.lib.format.MAGIC_PREFIX)) == np.lib.format.MAGIC_PREFIX:
            # Refused before np.load would allocate whatever shape its header claims.
            raise Refused("is a single .npy array, not an .npz archive")
        handle.seek(0)
        try:
            npz = np.load(handle, allow_pickle=False)
        except ValueError as error:
            if "pickle" in str(error):  # neither zip nor .npy: NumPy would have tried pickle
                raise Refused("not an .npz archive") from None
            raise Refused(f"not a readable .npz archive ({_short(str(error))})") from None
        except Exception as error:
            raise Refused(f"not a readable .npz archive ({type(error).__name__}: {_short(str(error))})") from None
        if not isinstance(npz, np.lib.npyio.NpzFile):
            raise Refused("is a single .npy array, not an .npz archive")
        with npz:
            try:
                headers = member_headers(npz)
            except Refused:
                raise
            except Exception as error:
                raise Refused(f"damaged .npz archive ({type(error).__name__}: {_short(str(error))})") from None
            if _ARCHITECTURE not in headers:
                raise Refused("no 'architecture' entry (not an LRP Studio model file)")
            for key in list(texts or ()):
                if key in headers:
                    texts[key] = _read_text(npz, key, headers.pop(key))
            try:
                arch = _read_architecture(npz, headers[_ARCHITECTURE])
            except Refused:
                raise
            except Exception as error:
                raise Refused(f"'architecture' cannot be read ({type(error).__name__}: {_short(str(error))})") from None
            expected = validate_architecture(arch)
            check_parameters(expected, headers)
            net = _build_network(arch)
            state = _read_parameters(npz, list(expected))
    try:
        net.load_state_dict(state)
    except ParameterError as error:
        raise Refused(str(error)) from None
    return net


def load_model(path: PathLike) -> Network:
    """Load a model file written by :func:`save_model` (or by any writer following DESIGN.md 3.1).

    The file is read with ``np.load(..., allow_pickle=False)``; parameters are converted to float32.
    Nothing is initialised at random: every parameter comes from the file.

    Parameters
    ----------
    path : str or path-like

    Returns
    -------
    Network

    Raises
    ------
    ModelFileError
        One line naming the file and the problem: missing or unreadable file, not an ``.npz``,
        pickled objects, bad or inconsistent architecture JSON, absurd sizes, missing, extra,
        mis-shaped or non-finite parameters.
    """
    try:
        target = Path(os.fspath(path))
    except TypeError:
        raise ModelFileError(f"{_short(path)}: not a file path") from None
    try:
        return _load(target)
    except Refused as problem:
        raise _fail(target, str(problem)) from None


def load_model_with_texts(path: PathLike, keys: Any) -> tuple[Network, dict[str, str | None]]:
    """Load a model file that also carries text entries ``keys`` (0-d unicode arrays, e.g. JSON).

    The model is validated exactly as by :func:`load_model`; ``keys`` are allowed besides the
    parameters and returned (``None`` for a key the file lacks). Used by session files.
    """
    try:
        target = Path(os.fspath(path))
    except TypeError:
        raise ModelFileError(f"{_short(path)}: not a file path") from None
    texts: dict[str, str | None] = {str(key): None for key in keys}
    try:
        return _load(target, texts), texts
    except Refused as problem:
        raise _fail(target, str(problem)) from None
