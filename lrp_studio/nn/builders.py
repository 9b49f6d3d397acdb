"""The one architecture vocabulary: ``mlp``, ``cnn``, ``resnet``, ``mlp:H1,H2,...`` or a layer list such as
``conv:8:5,relu,maxpool:2,flatten,dense:64,relu,dense:10`` or
``conv:16:3:1:1,bn,relu,maxpool:2,res:16,res:32:s2,gap,dense:10`` (residual blocks make a graph).

Used by ``lrp-studio train --arch`` and the zoo (:func:`architecture_layers`: a network to train)
and by the state-dict importer (:func:`parse_layer_tokens`: layers whose sizes the weights tell).

Tokens (case-insensitive, separated by commas, arguments by colons):

=========================================  ===================================================
``conv:C:K[:S[:P]]``                       Conv2d, C output channels, K x K kernel, stride S
                                           (default 1), zero padding P (default 0)
``dense:N``                                Dense with N outputs (a ``flatten`` is added before
                                           it when its input is an image)
``maxpool:K[:S]``, ``avgpool:K[:S]``       pooling, K x K window, stride S (default K)
``flatten``, ``relu``, ``sigmoid``,
``tanh``                                   as in the model file
``batchnorm[:EPS]`` (``bn``,               BatchNorm over the channels (trainable; running
``batchnorm1d``, ``batchnorm2d``)          statistics at inference), eps default 1e-5
``res:C[:sS]``                             residual basic block (He et al. 2016, Fig. 2; torchvision's
                                           ``BasicBlock``): conv3x3(C, stride S, padding 1)-bn-relu-
                                           conv3x3(C, padding 1)-bn, plus the shortcut, then relu.
                                           The shortcut is the block input itself when S = 1 and the
                                           channels stay C, else a projection conv1x1(C, stride S)-bn
                                           (option B of the paper). S defaults to 1; ``res:C:2`` =
                                           ``res:C:s2``
``gap`` (``globalavgpool``)                global average pooling (N, C, H, W) -> (N, C)
``dropout[:P]``, ``identity``              no-ops at inference (import only for dropout)
``softmax``, ``logsoftmax``                last layer only; dropped (explanations start at the
                                           logits, training applies it in the loss)
=========================================  ===================================================

The shortcuts: ``mlp`` = 784-300-100-10 ReLU (input size from the input shape), ``mlp:H1,...``
the given hidden widths, ``cnn`` = conv5x5(16)-pool-conv5x5(32)-pool-100-10 ReLU
(:func:`~lrp_studio.nn.network.lenet`), ``resnet`` = :data:`RESNET_SPEC` (the bundled residual model).

A layer list with a ``res`` token becomes a graph (model file version 2): every entry gets a
``name`` (blocks ``block{k}.conv1``, ``.bn1``, ``.relu1``, ``.conv2``, ``.bn2``, ``.shortcut``,
``.shortcut_bn``, ``.add``, ``.relu2``; other layers their index, e.g. ``"3"``) and the entries that
do not read the previous node carry ``inputs`` (the projection reads the block input, ``add``
reads ``bn2`` and the shortcut). A list without ``res`` stays sequential (no names, version 1).
"""

from __future__ import annotations

import math
import re
from typing import Any, Sequence

from lrp_studio.errors import ParameterError
from lrp_studio.nn.layers import layer_from_spec
from lrp_studio.nn.network import Network, lenet, mlp
from lrp_studio.nn.preprocessing import Normalize

__all__ = [
    "with_normalization",
    "IMPORT_ONLY", "RESNET_SPEC", "SHORTCUT_PATTERN", "TOKENS", "architecture_layers", "complete_layers",
    "is_shortcut", "parse_layer_tokens", "residual_block", "shortcut_layers",
]

#: Token kinds and what they become (``type`` of the layer entry).
TOKENS = {
    "conv": "conv2d", "dense": "dense", "maxpool": "maxpool2d", "avgpool": "avgpool2d", "flatten": "flatten",
    "relu": "relu", "sigmoid": "sigmoid", "tanh": "tanh", "batchnorm": "batchnorm", "bn": "batchnorm",
    "batchnorm1d": "batchnorm", "batchnorm2d": "batchnorm", "dropout": "dropout", "identity": "identity",
    "softmax": "softmax", "logsoftmax": "softmax", "res": "res", "gap": "globalavgpool",
    "globalavgpool": "globalavgpool",
}
#: Entry types only an import can build (they need stored weights or change training).
IMPORT_ONLY = ("dropout",)
#: The bundled residual model (``resnet``): stem conv3x3(16)-bn-relu-maxpool2, a 16-channel block, a
#: 32-channel block with stride 2 and a projection shortcut, global average pooling, dense 10.
RESNET_SPEC = "conv:16:3:1:1,bn,relu,maxpool:2,res:16,res:32:s2,gap,dense:10"
#: ``mlp``, ``mlp:H1,H2,...`` or ``cnn``.
SHORTCUT_PATTERN = re.compile(r"(mlp(:[\d,\s]+)?|cnn)")
_FLOAT_ARGS = ("batchnorm", "dropout")
_ARITY = {"conv2d": (2, 4), "dense": (1, 1), "maxpool2d": (1, 2), "avgpool2d": (1, 2), "batchnorm": (0, 1),
          "dropout": (0, 1), "res": (1, 2)}


def _token_entry(spec: str, token: str) -> dict[str, Any]:
    """One token -> a layer entry (sizes the running shape gives are left out)."""
    word, *args = (part.strip() for part in token.split(":"))
    kind = TOKENS.get(word.lower())
    if kind is None:
        raise ParameterError(f"architecture {spec!r}: cannot read layer {token!r}")
    if kind == "res" and len(args) == 2 and args[1][:1].lower() == "s":
        args[1] = args[1][1:]  # res:C:s2 = res:C:2
    try:
        numbers = [float(a) if kind in _FLOAT_ARGS else int(a) for a in args]
    except ValueError:
        raise ParameterError(f"architecture {spec!r}: cannot read the numbers in {token!r}") from None
    low, high = _ARITY.get(kind, (0, 0))
    if not low <= len(numbers) <= high:
        raise ParameterError(f"architecture {spec!r}: cannot read layer {token!r}")
    if kind == "conv2d":
        return {"type": kind, "out_channels": numbers[0], "kernel_size": numbers[1],
                "stride": numbers[2] if len(numbers) > 2 else 1, "padding": numbers[3] if len(numbers) > 3 else 0}
    if kind == "dense":
        return {"type": kind, "out_features": numbers[0]}
    if kind in ("maxpool2d", "avgpool2d"):
        return {"type": kind, "kernel_size": numbers[0], "stride": numbers[-1]}
    if kind == "batchnorm":
        return {"type": kind, "eps": numbers[0] if numbers else 1e-5}
    if kind == "res":
        return {"type": kind, "out_channels": numbers[0], "stride": numbers[1] if len(numbers) > 1 else 1}
    return {"type": kind}


def parse_layer_tokens(spec: str) -> list[dict[str, Any]]:
    """A layer list -> layer entries without the sizes that inputs or weights tell.

    Parameters
    ----------
    spec : str
        Comma-separated tokens, see the module docstring (not a shortcut).

    Returns
    -------
    list of dict
        E.g. ``"conv:8:5,relu"`` -> ``[{"type": "conv2d", "out_channels": 8, "kernel_size": 5,
        "stride": 1, "padding": 0}, {"type": "relu"}]``.

    Raises
    ------
    ParameterError
        An unknown token, wrong argument count or unreadable number (naming the token), or an empty list.
    """
    items = [_token_entry(spec, token) for token in (t.strip() for t in str(spec).split(",")) if token]
    if not items:
        raise ParameterError("the architecture is empty")
    return items


def is_shortcut(spec: str) -> bool:
    """Whether ``spec`` is ``mlp``, ``mlp:H1,...`` or ``cnn``."""
    return SHORTCUT_PATTERN.fullmatch(str(spec).strip()) is not None


def _hidden_widths(spec: str) -> list[int]:
    widths = []
    for text in (v.strip() for v in spec[4:].split(",")):
        if text:
            try:
                widths.append(int(text))
            except ValueError:
                raise ParameterError(f"architecture {spec!r}: cannot read the numbers in {text!r}") from None
    return widths


def shortcut_layers(spec: str, input_shape: Sequence[int], n_classes: int) -> list[dict[str, Any]]:
    """Complete model-file layer entries of a shortcut for one sample's ``input_shape``.

    Raises
    ------
    ParameterError
        ``spec`` is no shortcut, or ``cnn`` with an input that is not a (C, H, W) image big enough.
    """
    text, shape = str(spec).strip(), tuple(int(v) for v in input_shape)
    if not is_shortcut(text):
        raise ParameterError(f"architecture {spec!r}: not one of mlp, mlp:H1,H2,..., cnn")
    if text == "cnn":
        if len(shape) != 3:
            raise ParameterError(f"architecture 'cnn' needs (C, H, W) image inputs, got input shape {shape}")
        net = lenet(n_classes=n_classes, input_shape=shape, seed=None)
    else:
        hidden = [300, 100] if text == "mlp" else _hidden_widths(text)
        net = mlp([math.prod(shape), *hidden, n_classes], input_shape=shape, seed=None)
    return [dict(entry) for entry in net.spec()["layers"]]


def _checked_shape(entry: dict[str, Any], shapes: Sequence[tuple[int, ...]]) -> tuple[int, ...]:
    """Output shape of one entry on its input shape(s) (merge layers take the list)."""
    plain = {key: value for key, value in entry.items() if key not in ("name", "inputs")}
    layer = layer_from_spec(plain)
    if getattr(layer, "is_merge", False):
        return tuple(layer.output_shape([tuple(s) for s in shapes]))
    return tuple(layer.output_shape(tuple(shapes[0])))


def residual_block(input_shape: Sequence[int], out_channels: int, stride: int = 1, prefix: str = "block1",
                   source: str = "input", eps: float = 1e-5) -> tuple[list[dict[str, Any]], tuple[int, ...]]:
    """Model-file entries of one residual basic block (He et al. 2016, Fig. 2; torchvision ``BasicBlock``).

    ``conv3x3(C, stride S, padding 1) - bn - relu - conv3x3(C, padding 1) - bn``, added to the shortcut,
    then ``relu``. The shortcut is the block input itself when ``S == 1`` and the input has ``C``
    channels, else a projection ``conv1x1(C, stride S) - bn`` (the paper's option B).

    Parameters
    ----------
    input_shape : sequence of int
        The block input's per-sample shape (C_in, H, W).
    out_channels : int
        C, the channels of both 3x3 convolutions and of the block output.
    stride : int, default 1
        Stride S of the first convolution and of the projection; the output is
        (C, (H - 1) // S + 1, (W - 1) // S + 1).
    prefix : str, default "block1"
        Node names are ``f"{prefix}.conv1"``, ``.bn1``, ``.relu1``, ``.conv2``, ``.bn2``,
        ``.shortcut`` and ``.shortcut_bn`` (projection only), ``.add``, ``.relu2``.
    source : str, default "input"
        Name of the node the block reads (``"input"`` = the network input); the first entry reads the
        previous entry, so the block must follow that node in the layer list.
    eps : float, default 1e-5
        Of the batchnorm layers.

    Returns
    -------
    entries : list of dict
        Complete layer entries with ``name`` and, where they do not read the previous node, ``inputs``.
    output_shape : tuple of int

    Raises
    ------
    ParameterError
        The input is not a (C, H, W) image, or ``out_channels`` / ``stride`` are not integers >= 1.
    """
    shape = tuple(int(v) for v in input_shape)
    if len(shape) != 3:
        raise ParameterError(f"a residual block needs (C, H, W) image inputs, got shape {shape}")
    for value, what in ((out_channels, "channels"), (stride, "stride")):
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ParameterError(f"residual block {prefix}: {what} must be an integer >= 1, got {value!r}")
    c = int(out_channels)

    def conv(name: str, c_in: int, kernel: int, step: int, padding: int, **extra: Any) -> dict[str, Any]:
        return {"type": "conv2d", "in_channels": c_in, "out_channels": c, "kernel_size": kernel, "stride": step,
                "padding": padding, "name": f"{prefix}.{name}", **extra}

    def bn(name: str) -> dict[str, Any]:
        return {"type": "batchnorm", "num_features": c, "eps": eps, "name": f"{prefix}.{name}"}

    entries = [conv("conv1", shape[0], 3, stride, 1), bn("bn1"), {"type": "relu", "name": f"{prefix}.relu1"},
               conv("conv2", c, 3, 1, 1), bn("bn2")]
    shortcut = source
    if stride != 1 or shape[0] != c:
        entries += [conv("shortcut", shape[0], 1, stride, 0, inputs=[source]), bn("shortcut_bn")]
        shortcut = f"{prefix}.shortcut_bn"
    entries += [{"type": "add", "name": f"{prefix}.add", "inputs": [f"{prefix}.bn2", shortcut]},
                {"type": "relu", "name": f"{prefix}.relu2"}]
    shapes, previous = {source: shape}, source
    for entry in entries:
        shapes[entry["name"]] = _checked_shape(entry, [shapes[n] for n in entry.get("inputs", [previous])])
        previous = entry["name"]
    return entries, shapes[previous]


def complete_layers(items: Sequence[dict[str, Any]], input_shape: Sequence[int],
                    spec: str = "") -> list[dict[str, Any]]:
    """Fill in input sizes from the running shape and add a ``flatten`` before a dense layer on images.

    ``identity`` entries and a final ``softmax`` are dropped; dropout (import only) is refused;
    ``res`` items become the entries of :func:`residual_block`. With a ``res`` item every entry is
    named (blocks ``block{k}.*`` counted from 1, other layers their index as a string) and the list
    is a graph (model file version 2); without one the entries carry no names (sequential).

    Raises
    ------
    ParameterError
        A layer that does not fit its input (named by its token position), an import-only layer, or a
        softmax that is not last.
    """
    shape = tuple(int(v) for v in input_shape)
    layers: list[dict[str, Any]] = []
    name = spec or "(layer list)"
    graph = any(item["type"] == "res" for item in items)
    blocks = 0
    for position, item in enumerate(items):
        entry, kind = dict(item), item["type"]
        if kind in IMPORT_ONLY:
            raise ParameterError(f"architecture {name!r}: layer {position} ({kind}) can only be imported with "
                                 "weights (lrp-studio import); a network to train has no such layer")
        if kind == "softmax":
            if position != len(items) - 1:
                raise ParameterError(f"architecture {name!r}: softmax (layer {position}) may only come last")
            continue
        if kind == "identity":
            continue
        if kind == "res":
            blocks += 1
            source = str(len(layers) - 1) if layers else "input"
            if layers and "name" in layers[-1]:
                source = layers[-1]["name"]
            try:
                block, shape = residual_block(shape, entry["out_channels"], entry["stride"], f"block{blocks}", source)
            except ParameterError as error:
                raise ParameterError(f"architecture {name!r}: layer {position} (res): {error}") from None
            layers += block
            continue
        if kind == "dense":
            if len(shape) != 1:
                layers.append({"type": "flatten", **({"name": str(len(layers))} if graph else {})})
                shape = (math.prod(shape),)
            entry.setdefault("in_features", shape[0])
        elif kind == "conv2d":
            entry.setdefault("in_channels", shape[0] if len(shape) == 3 else 0)
        elif kind == "batchnorm":
            entry.setdefault("num_features", shape[0] if shape else 0)
        if graph:
            entry["name"] = str(len(layers))
        try:
            shape = _checked_shape(entry, [shape])
        except (ParameterError, TypeError, KeyError) as error:
            raise ParameterError(f"architecture {name!r}: layer {position} ({kind}): {error}") from None
        layers.append(entry)
    return layers


def architecture_layers(spec: str, input_shape: Sequence[int], n_classes: int) -> list[dict[str, Any]]:
    """Complete model-file layer entries of a shortcut or layer list (DESIGN.md 3.1).

    Parameters
    ----------
    spec : str
        ``mlp``, ``mlp:H1,...``, ``cnn``, ``resnet`` or a layer list (module docstring).
    input_shape : sequence of int
        One sample's shape, e.g. (1, 28, 28) or (2,).
    n_classes : int
        Outputs of a shortcut (a layer list sets its own last layer).

    Raises
    ------
    ParameterError
        Unreadable tokens or layers that do not fit together (see :func:`parse_layer_tokens`,
        :func:`complete_layers`).
    """
    text = str(spec).strip()
    if is_shortcut(text):
        return shortcut_layers(text, input_shape, n_classes)
    if text.lower() == "resnet":
        if len(tuple(input_shape)) != 3:
            raise ParameterError(f"architecture 'resnet' needs (C, H, W) image inputs, got input shape "
                                 f"{tuple(input_shape)}")
        text = RESNET_SPEC.replace("dense:10", f"dense:{int(n_classes)}")
    return complete_layers(parse_layer_tokens(text), input_shape, text)


def with_normalization(net: Network, mean: Sequence[float], std: Sequence[float]) -> Network:
    """A copy of ``net`` that first normalises its input: a :class:`Normalize` node before every other.

    The other nodes keep their names (so their parameter keys, e.g. a PyTorch state dict's ``"0.weight"``,
    stay as they were) and their wiring; layers that read the network input now read the normalised one.

    Parameters
    ----------
    net : Network
        With image inputs (C, H, W) or flat ones (F,).
    mean, std : sequences of C (or F) floats
        In input units (``net.input_range``); std > 0.

    Returns
    -------
    Network
        Parameters copied.

    Raises
    ------
    ParameterError
        Bad ``mean``/``std``, their length not the number of channels, or ``net`` already normalises.
    """
    if net.layers and net.layers[0].type_name == "normalize":
        raise ParameterError("the network already starts with a normalize node")
    node = Normalize(list(mean), list(std))
    node.output_shape(tuple(net.input_shape))  # the channel count must fit
    copy = net.copy()
    taken = set(copy.names)
    name = next(n for n in ("normalize", *(f"normalize_{k}" for k in range(1, len(taken) + 2))) if n not in taken)
    inputs = [tuple(s + 1 for s in stages) for stages in copy.node_inputs]
    return Network([node, *copy.layers], copy.input_shape, copy.classes, copy.input_range,
                   inputs=[(0,), *inputs], names=[name, *copy.names])
