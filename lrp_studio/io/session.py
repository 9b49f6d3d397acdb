"""Session files (``.lrpsession``): the whole state of the app in one file, never pickle.

A session file is a model file (DESIGN.md 3.1: ``architecture`` JSON plus ``"{i}.weight"`` /
``"{i}.bias"`` arrays) with one more entry, ``session``: a 0-d unicode array holding a JSON
object::

    {"format": "lrp-studio-session", "version": 1,
     "model_name": "cnn_mnist.npz",
     "dataset": {"spec": "mnist", "name": "mnist"},      # spec: what load_dataset() opens, or null
     "index": 7, "method": "epsilon-plus", "target": null,  # method null or missing: the model's default
     "params": {"epsilon-plus": {"epsilon": 1e-06, "bias": true}},
     "custom_rules": {"0": "flat", "2": "zplus"},
     "selection": [2, 17],                               # graph stage and unit, or null
     "view": {"colormap": "bwr", "color_mode": "relevance", "scale_mode": "layer",
              "overlay": false, "top_k": 3},
     "custom_input": null}                               # a drawn input (flat list of numbers) or null

Loading validates the model exactly as :func:`~lrp_studio.io.load_model` does and every session
field's type; anything wrong is one :class:`~lrp_studio.errors.ModelFileError` line naming the
file. This module does not import Qt: the GUI glue is :mod:`lrp_studio.gui.session`.

A missing (or null) ``method`` means the network's model-aware default,
:func:`lrp_studio.lrp.default_method` (``epsilon-plus`` for a dense first layer,
``epsilon-plus-flat`` for a convolution first). ``io`` sits below ``lrp`` and does not import it:
:func:`load_session` resolves the default with the function its caller passes, otherwise the
field stays ``None``.
"""

from __future__ import annotations

import json
import math
import os
from pathlib import Path
from typing import Any, Callable

import numpy as np

from lrp_studio.errors import ModelFileError
from lrp_studio.io.atomic import PathLike, atomic_write, describe_os_error
from lrp_studio.io.model import load_model_with_texts, model_arrays
from lrp_studio.nn.network import Network

__all__ = ["SESSION_FORMAT", "SESSION_SUFFIX", "SESSION_VERSION", "default_session", "load_session", "save_session",
           "validate_session"]

SESSION_FORMAT = "lrp-studio-session"
SESSION_VERSION = 1
SESSION_SUFFIX = ".lrpsession"
SESSION_KEY = "session"
MAX_CUSTOM_INPUT = 1 << 20
MAX_NAME = 4096

VIEW_DEFAULTS: dict[str, Any] = {"colormap": "bwr", "color_mode": "relevance", "scale_mode": "layer",
                                 "overlay": False, "top_k": 3}


def default_session() -> dict[str, Any]:
    """A session with every field at its default (fill in what you have).

    ``method`` is None: the network's model-aware default (see the module doc).
    """
    return {"format": SESSION_FORMAT, "version": SESSION_VERSION, "model_name": "model",
            "dataset": {"spec": None, "name": ""}, "index": 0, "method": None, "target": None,
            "params": {}, "custom_rules": {}, "selection": None, "view": dict(VIEW_DEFAULTS), "custom_input": None}


class _Bad(Exception):
    pass


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _string(value: Any, where: str, optional: bool = False) -> str | None:
    if value is None and optional:
        return None
    if not isinstance(value, str) or len(value) > MAX_NAME:
        raise _Bad(f"{where} must be a string (at most {MAX_NAME} characters), got {_short(value)}")
    return value


def _short(value: Any, limit: int = 60) -> str:
    try:
        text = repr(value)
    except Exception:
        text = f"<{type(value).__name__}>"
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _int(value: Any, where: str, minimum: int = 0, optional: bool = False) -> int | None:
    if value is None and optional:
        return None
    if not _is_int(value) or value < minimum or value > 2**31:
        raise _Bad(f"{where} must be an integer >= {minimum}, got {_short(value)}")
    return int(value)


def _params(value: Any) -> dict[str, dict[str, float | int | bool]]:
    if not isinstance(value, dict):
        raise _Bad(f"'params' must be an object, got {_short(value)}")
    out: dict[str, dict[str, float | int | bool]] = {}
    for method, entries in value.items():
        _string(method, "a 'params' key")
        if not isinstance(entries, dict):
            raise _Bad(f"params of {_short(method)} must be an object, got {_short(entries)}")
        out[method] = {}
        for name, number in entries.items():
            _string(name, f"a parameter name of {_short(method)}")
            ok = isinstance(number, bool) or (isinstance(number, (int, float)) and math.isfinite(float(number)))
            if not ok:
                raise _Bad(f"parameter {_short(method)}.{_short(name)} must be a finite number or true/false, "
                           f"got {_short(number)}")
            out[method][name] = number
    return out


def validate_session(data: Any) -> dict[str, Any]:
    """Check a session object's fields and types; return it with defaults for missing optional fields.

    Raises
    ------
    ModelFileError
        (without a file name) on the first wrong field.
    """
    try:
        return _validate(data)
    except _Bad as problem:
        raise ModelFileError(str(problem)) from None


def _validate(data: Any) -> dict[str, Any]:
    if not isinstance(data, dict):
        raise _Bad(f"'session' must be a JSON object, got {type(data).__name__}")
    if data.get("format") != SESSION_FORMAT:
        raise _Bad(f"not an LRP Studio session: format is {_short(data.get('format'))}, expected {SESSION_FORMAT!r}")
    if not _is_int(data.get("version")) or data.get("version") != SESSION_VERSION:
        raise _Bad(f"unsupported session version {_short(data.get('version'))} (this version reads {SESSION_VERSION})")
    out = default_session()
    out["model_name"] = _string(data.get("model_name", "model"), "'model_name'")
    dataset = data.get("dataset", {})
    if not isinstance(dataset, dict):
        raise _Bad(f"'dataset' must be an object, got {_short(dataset)}")
    out["dataset"] = {"spec": _string(dataset.get("spec"), "'dataset.spec'", optional=True),
                      "name": _string(dataset.get("name", ""), "'dataset.name'")}
    out["index"] = _int(data.get("index", 0), "'index'")
    out["method"] = _string(data.get("method"), "'method'", optional=True)
    out["target"] = _int(data.get("target"), "'target'", optional=True)
    out["params"] = _params(data.get("params", {}))
    rules = data.get("custom_rules", {})
    if not isinstance(rules, dict):
        raise _Bad(f"'custom_rules' must be an object, got {_short(rules)}")
    out["custom_rules"] = {}
    for key, rule in rules.items():
        if not isinstance(key, str) or not key.isdigit():
            raise _Bad(f"'custom_rules' keys must be layer indices, got {_short(key)}")
        out["custom_rules"][int(key)] = _string(rule, f"custom rule of layer {key}")
    selection = data.get("selection")
    if selection is not None:
        if not isinstance(selection, list) or len(selection) != 2:
            raise _Bad(f"'selection' must be [stage, unit] or null, got {_short(selection)}")
        selection = [_int(selection[0], "selection stage"), _int(selection[1], "selection unit")]
    out["selection"] = selection
    view = data.get("view", {})
    if not isinstance(view, dict):
        raise _Bad(f"'view' must be an object, got {_short(view)}")
    out["view"] = dict(VIEW_DEFAULTS)
    for key in ("colormap", "color_mode", "scale_mode"):
        if key in view:
            out["view"][key] = _string(view[key], f"'view.{key}'")
    if "overlay" in view:
        if not isinstance(view["overlay"], bool):
            raise _Bad(f"'view.overlay' must be true or false, got {_short(view['overlay'])}")
        out["view"]["overlay"] = view["overlay"]
    if "top_k" in view:
        out["view"]["top_k"] = _int(view["top_k"], "'view.top_k'")
    custom = data.get("custom_input")
    if custom is not None:
        if not isinstance(custom, list) or not 1 <= len(custom) <= MAX_CUSTOM_INPUT:
            raise _Bad(f"'custom_input' must be a list of 1 to {MAX_CUSTOM_INPUT:,} numbers or null")
        if not all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in custom):
            raise _Bad("'custom_input' must hold numbers only")
        array = np.asarray(custom, dtype=np.float32)
        if not np.isfinite(array).all():
            raise _Bad("'custom_input' contains NaN or infinite values")
        custom = array
    out["custom_input"] = custom
    return out


def _jsonable(session: dict[str, Any]) -> dict[str, Any]:
    data = dict(session)
    data["format"], data["version"] = SESSION_FORMAT, SESSION_VERSION
    custom = data.get("custom_input")
    data["custom_input"] = None if custom is None else [float(v) for v in np.asarray(custom, np.float64).ravel()]
    data["custom_rules"] = {str(k): str(v) for k, v in (data.get("custom_rules") or {}).items()}
    params = data.get("params") or {}
    data["params"] = {str(m): {str(k): (v if isinstance(v, bool) else float(v) if isinstance(v, float) else
                                        int(v) if isinstance(v, (int, np.integer)) else float(v))
                               for k, v in p.items()} for m, p in params.items()}
    if data.get("selection") is not None:
        data["selection"] = [int(v) for v in data["selection"]]
    return data


def save_session(path: PathLike, net: Network, session: dict[str, Any]) -> Path:
    """Write ``net`` and ``session`` (see the module doc) to ``path`` atomically.

    The session is validated first, so what is written can be read back.
    """
    target = Path(os.fspath(path))
    data = _jsonable({**default_session(), **session})
    try:
        _validate(json.loads(json.dumps(data)))
        text = json.dumps(data, allow_nan=False)
    except (_Bad, ValueError) as problem:
        raise ModelFileError(f"{target}: cannot save the session: {problem}") from None
    arrays = model_arrays(net)
    arrays[SESSION_KEY] = np.array(text)

    def write(temp_path: str) -> None:
        with open(temp_path, "wb") as handle:  # a file object: np.savez never appends ".npz"
            np.savez(handle, **arrays)

    try:
        return atomic_write(target, write)
    except OSError as error:
        raise ModelFileError(f"{target}: cannot write the session file ({describe_os_error(error)})") from None


def load_session(path: PathLike, default_method: Callable[[Network], str] | None = None
                 ) -> tuple[Network, dict[str, Any]]:
    """Read a session file: the network and the validated session object.

    Parameters
    ----------
    path : str or Path
        The ``.lrpsession`` file.
    default_method : callable (Network -> str), optional
        Gives the method of a session without one (files written before the field existed, or
        with ``"method": null``); pass :func:`lrp_studio.lrp.default_method` for the model-aware
        default. Without it such a session's ``method`` is None.

    Returns
    -------
    (Network, dict)
        The network and the session (every field present; see the module doc).

    Raises
    ------
    ModelFileError
        One line naming the file: any model-file problem (pickles, bad archive, bad architecture,
        missing or mis-shaped parameters), no ``session`` entry, bad JSON or a wrong field.
    """
    net, texts = load_model_with_texts(path, [SESSION_KEY])
    text = texts[SESSION_KEY]
    if text is None:
        raise ModelFileError(f"{path}: no 'session' entry (a model file, not a session: open it as a model)")
    try:
        data = json.loads(text)
    except (ValueError, RecursionError) as error:
        raise ModelFileError(f"{path}: 'session' is not valid JSON ({_short(str(error))})") from None
    try:
        session = _validate(data)
    except _Bad as problem:
        raise ModelFileError(f"{path}: {problem}") from None
    if session["method"] is None and default_method is not None:
        session["method"] = default_method(net)
    return net, session
