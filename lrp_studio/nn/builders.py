"""The one architecture vocabulary: ``mlp``, ``cnn``, ``mlp:H1,H2,...`` or a layer list such as
``conv:8:5,relu,maxpool:2,flatten,dense:64,relu,dense:10``.

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
``batchnorm[:EPS]`` (``bn``,               BatchNorm (import only: merged into the layer before
``batchnorm1d``, ``batchnorm2d``)          it), eps default 1e-5
``dropout[:P]``, ``identity``              no-ops at inference (import only for dropout)
``softmax``, ``logsoftmax``                last layer only; dropped (explanations start at the
                                           logits, training applies it in the loss)
=========================================  ===================================================

The shortcuts: ``mlp`` = 784-300-100-10 ReLU (input size from the input shape), ``mlp:H1,...``
the given hidden widths, ``cnn`` = conv5x5(16)-pool-conv5x5(32)-pool-100-10 ReLU
(:func:`~lrp_studio.nn.network.lenet`).
"""

from __future__ import annotations

import math
import re
from typing import Any, Sequence

from lrp_studio.errors import ParameterError
from lrp_studio.nn.layers import layer_from_spec
from lrp_studio.nn.network import lenet, mlp

__all__ = [
    "IMPORT_ONLY", "SHORTCUT_PATTERN", "TOKENS", "architecture_layers", "complete_layers", "is_shortcut",
    "parse_layer_tokens", "shortcut_layers",
]

#: Token kinds and what they become (``type`` of the layer entry).
TOKENS = {
    "conv": "conv2d", "dense": "dense", "maxpool": "maxpool2d", "avgpool": "avgpool2d", "flatten": "flatten",
    "relu": "relu", "sigmoid": "sigmoid", "tanh": "tanh", "batchnorm": "batchnorm", "bn": "batchnorm",
    "batchnorm1d": "batchnorm", "batchnorm2d": "batchnorm", "dropout": "dropout", "identity": "identity",
    "softmax": "softmax", "logsoftmax": "softmax",
}
#: Entry types only an import can build (they need stored weights or change training).
IMPORT_ONLY = ("batchnorm", "dropout")
#: ``mlp``, ``mlp:H1,H2,...`` or ``cnn``.
SHORTCUT_PATTERN = re.compile(r"(mlp(:[\d,\s]+)?|cnn)")
_FLOAT_ARGS = ("batchnorm", "dropout")
_ARITY = {"conv2d": (2, 4), "dense": (1, 1), "maxpool2d": (1, 2), "avgpool2d": (1, 2), "batchnorm": (0, 1),
          "dropout": (0, 1)}


def _token_entry(spec: str, token: str) -> dict[str, Any]:
    """One token -> a layer entry (sizes the running shape gives are left out)."""
    word, *args = (part.strip() for part in token.split(":"))
    kind = TOKENS.get(word.lower())
    if kind is None:
        raise ParameterError(f"architecture {spec!r}: cannot read layer {token!r}")
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


def complete_layers(items: Sequence[dict[str, Any]], input_shape: Sequence[int],
                    spec: str = "") -> list[dict[str, Any]]:
    """Fill in input sizes from the running shape and add a ``flatten`` before a dense layer on images.

    ``identity`` entries and a final ``softmax`` are dropped; batchnorm and dropout (import only) are refused.

    Raises
    ------
    ParameterError
        A layer that does not fit its input (named by its token position), an import-only layer, or a
        softmax that is not last.
    """
    shape = tuple(int(v) for v in input_shape)
    layers: list[dict[str, Any]] = []
    name = spec or "(layer list)"
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
        if kind == "dense":
            if len(shape) != 1:
                layers.append({"type": "flatten"})
                shape = (math.prod(shape),)
            entry.setdefault("in_features", shape[0])
        elif kind == "conv2d":
            entry.setdefault("in_channels", shape[0] if len(shape) == 3 else 0)
        try:
            shape = tuple(layer_from_spec(entry).output_shape(shape))
        except (ParameterError, TypeError, KeyError) as error:
            raise ParameterError(f"architecture {name!r}: layer {position} ({kind}): {error}") from None
        layers.append(entry)
    return layers


def architecture_layers(spec: str, input_shape: Sequence[int], n_classes: int) -> list[dict[str, Any]]:
    """Complete model-file layer entries of a shortcut or layer list (DESIGN.md 3.1).

    Parameters
    ----------
    spec : str
        ``mlp``, ``mlp:H1,...``, ``cnn`` or a layer list (module docstring).
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
    return complete_layers(parse_layer_tokens(text), input_shape, text)
