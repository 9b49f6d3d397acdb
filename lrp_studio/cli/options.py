"""Options shared by the sub-commands: the parser class, model/dataset/target/image options, method flags.

The method flags (``--epsilon``, ``--alpha``, ... ``--integrated-gradients-steps``) are built from
the parameter declarations of :func:`lrp_studio.lrp.all_params`: help text, range and default
come from each :class:`~lrp_studio.lrp.Param`, the methods that take it from
:func:`lrp_studio.lrp.methods.methods_taking`. A parameter whose name is also the name of a
command option with another meaning (``steps``, ``samples``, ``seed``: evaluate's protocol) gets
the name of the one method that takes it as prefix, so every flag means one thing in every
sub-command. Only the parameters the user gave are passed to :func:`lrp_studio.explain`; a flag
the chosen method does not take is refused, naming the flag.
"""

from __future__ import annotations

import argparse
import os
import re
import sys
from pathlib import Path
from typing import Any, Mapping, NoReturn, Sequence

import numpy as np

from lrp_studio.app.fitting import check_fits
from lrp_studio.data import Dataset, load_dataset
from lrp_studio.errors import DataError, LRPStudioError, ParameterError
from lrp_studio.lrp import METHODS, Param, all_params, method_info
from lrp_studio.lrp.methods import methods_taking
from lrp_studio.lrp.outputs import output_classes
from lrp_studio.lrp.params import did_you_mean
from lrp_studio.lrp.start import START_HELP, Start, parse_start
from lrp_studio.nn import Network
from lrp_studio.viz import COLORMAPS

PROG = "lrp-studio"

#: Option names that sub-commands use for something other than a method parameter (evaluate's
#: ``--steps``/``--samples``/``--seed`` were the perturbation protocol's); parameters with these
#: names get a method prefix (``--smoothgrad-samples``).
COMMAND_OPTION_NAMES = frozenset({"steps", "samples", "seed", "target", "scale", "label", "output", "region",
                                  "baseline", "index", "dataset", "model", "method", "methods", "rules"})

#: Values of ``--target`` that are not class names.
TARGET_KEYWORDS = ("predicted", "label")


class CLIError(LRPStudioError):
    """A usage problem found by the command line itself."""


class Parser(argparse.ArgumentParser):
    """An argument parser whose usage errors are one line on stderr and exit status 2.

    A misspelt option, command or choice gets a "did you mean ...?" (difflib, as Python 3.14's
    ``suggest_on_error``): ``--epslion`` -> ``--epsilon``, ``--method epslion`` -> ``epsilon``.
    """

    def error(self, message: str) -> NoReturn:  # noqa: D102 - argparse's hook
        command = self.prog.removeprefix(PROG).strip()
        hint = f" (see {PROG} {command} --help)" if command else f" (see {PROG} --help)"
        self.exit(2, f"{PROG}: error: {message}{self._suggestion(message)}{hint}\n")

    def option_names(self) -> list[str]:
        """Every visible option string of this parser (``--epsilon``, ``--out``, ...)."""
        return [name for action in self._actions if action.help is not argparse.SUPPRESS
                for name in action.option_strings]

    def unrecognized(self, extras: Sequence[str]) -> NoReturn:
        """Refuse unknown arguments, suggesting the closest option of this (sub-)parser."""
        options = [token.split("=", 1)[0] for token in extras if token.startswith("-")]
        hint = did_you_mean(options[0], self.option_names()) if options else ""
        self.exit(2, f"{PROG}: error: unrecognized arguments: {' '.join(extras)}{hint} "
                     f"(see {self.prog} --help)\n")

    @staticmethod
    def _suggestion(message: str) -> str:
        found = re.search(r"invalid choice: '([^']*)' \(choose from (.*)\)", message)
        if not found:
            return ""
        return did_you_mean(found.group(1), re.findall(r"'([^']*)'", found.group(2)))


class DeprecatedFlag(argparse.Action):
    """An old spelling of an option: stores into the new option's ``dest`` and prints a one-line note."""

    def __init__(self, option_strings: Sequence[str], dest: str, new_flag: str = "", **kwargs: Any) -> None:
        self.new_flag = new_flag
        super().__init__(option_strings, dest, **kwargs)

    def __call__(self, parser: argparse.ArgumentParser, namespace: argparse.Namespace, values: Any,
                 option_string: str | None = None) -> None:
        print(f"{PROG}: note: {option_string} is deprecated here; use {self.new_flag}", file=sys.stderr)
        setattr(namespace, self.dest, values)
        used = getattr(namespace, "deprecated_used", [])
        setattr(namespace, "deprecated_used", [*used, (option_string, self.new_flag)])


def refuse_both_spellings(args: argparse.Namespace, argv: Sequence[str]) -> None:
    """Raise CLIError when an old spelling and its new name are both on the command line.

    Without this the later one would silently win (``--steps 4 --integrated-gradients-steps 8``).
    """
    for old, new in getattr(args, "deprecated_used", []):
        if any(token == new or token.startswith(new + "=") for token in argv):
            raise CLIError(f"{old} and {new} both given (the same setting); use {new} alone")


def add_deprecated(parser: argparse.ArgumentParser | argparse._ArgumentGroup, old: str, new: str, dest: str,
                   **kwargs: Any) -> None:
    """Register ``old`` as a hidden spelling of ``new`` (same ``dest`` and type)."""
    parser.add_argument(old, dest=dest, action=DeprecatedFlag, new_flag=new, help=argparse.SUPPRESS,
                        default=argparse.SUPPRESS, **kwargs)


def add_backend(parser: argparse.ArgumentParser) -> None:
    """``--backend auto|numpy|cupy``."""
    parser.add_argument("--backend", choices=("auto", "numpy", "cupy"), default=argparse.SUPPRESS,
                        help="array backend (default: $LRP_STUDIO_BACKEND or auto = CuPy when a GPU is usable)")


#: What ``--model`` accepts (every sub-command that takes a model).
MODEL_HELP = ("a bundled model: mlp (784-300-100-10 MLP), cnn (conv5x5(16)-pool-conv5x5(32)-pool-100-10), resnet "
              "(residual CNN with BatchNorm) or shapes (RGB CNN for toy:shapes, normalised input); a "
              "model file (.npz); an ONNX graph (.onnx); or a PyTorch state dict (.safetensors or .npz) whose "
              "architecture is in its metadata or a weights.json beside it (else convert it once with "
              "'lrp-studio import')")

#: What ``--dataset`` accepts (every sub-command that takes data).
DATASET_HELP = ("mnist (the 5,000 bundled MNIST images), mnist:train (their 4,000 training split), mnist:test "
                "(the 1,000 held out), toy:NAME (a 2-D set: moons, circles, xor, spiral, gaussians), a .npz file "
                "(arrays x, y) or .csv file (features..., label), an IDX pair "
                "images.idx.gz,labels.idx.gz (e.g. the full MNIST), toy:shapes / toy:shapes:test (RGB shapes "
                "with ground-truth masks), or an image folder FOLDER[@WxH] with one sub-folder per class")


def add_model(parser: argparse.ArgumentParser, default: str | None = "mlp", default_text: str | None = None) -> None:
    """``--model``: a file or a bundled name (:data:`MODEL_HELP`)."""
    shown = default_text or default
    parser.add_argument("--model", default=default, metavar="MODEL", help=f"{MODEL_HELP} (default: {shown})")


def add_dataset(parser: argparse.ArgumentParser, default: str | None, default_text: str | None = None,
                flag: str = "--dataset", what: str = "") -> None:
    """``--dataset`` (or another data option such as ``--validation``): a spec of :data:`DATASET_HELP`."""
    shown = default_text or default
    parser.add_argument(flag, default=default, metavar="DATA", help=f"{what}{DATASET_HELP} (default: {shown})")


def add_input(parser: argparse.ArgumentParser) -> None:
    """``--input FILE`` (an image or a ``.npy`` array) with the image conversion options."""
    parser.add_argument("--input", default=None, metavar="FILE",
                        help="explain this file instead of a dataset sample: an image (PNG, JPEG, BMP, TIFF; "
                             "converted to the model's input) or a .npy array")
    parser.add_argument("--polarity", choices=("auto", "invert", "keep"), default="auto",
                        help="images on one-channel models: auto inverts dark ink on a light background "
                             "(MNIST is light on dark); invert or keep force it (default auto)")
    parser.add_argument("--framing", choices=("auto", "digit", "pad"), default="auto",
                        help="digit: crop the ink, fit it into 20/28 of the frame, centre by centre of mass "
                             "(MNIST); pad: fit the whole image, aspect kept, pad with the border colour "
                             "(default: digit for one channel, pad for colour)")


def add_target(parser: argparse.ArgumentParser | argparse._ArgumentGroup, batch: bool) -> None:
    """``--target``: the class whose output is explained (the same vocabulary in every sub-command)."""
    each = "each sample's" if batch else "the sample's"
    parser.add_argument("--target", default=None, metavar="CLASS",
                        help=f"class to explain: 'predicted' (default: {each} predicted class), 'label' "
                             f"({each} true label), or a class index or class name")


def add_image(parser: argparse.ArgumentParser, upscale: int = 8, legacy_scale: bool = False) -> None:
    """Heatmap image options: ``--cmap``, ``--level``, ``--upscale`` and ``--overlay``."""
    group = parser.add_argument_group("heatmap image")
    group.add_argument("--cmap", default="bwr", choices=sorted(COLORMAPS), help="colour map (default bwr)")
    group.add_argument("--level", type=float, default=1.0, help="contrast: >1 saturates sooner (default 1)")
    group.add_argument("--upscale", type=int, default=upscale, metavar="N",
                       help=f"pixels per input pixel, nearest-neighbour (default {upscale})")
    if legacy_scale:
        add_deprecated(group, "--scale", "--upscale", "upscale", type=int)
    group.add_argument("--overlay", action="store_true", help="blend the heatmap over the input image")


# ------------------------------------------------------------------------------------ method flags
def param_flag(param: Param | str) -> str:
    """The command-line flag of a method parameter, e.g. ``--epsilon`` or ``--smoothgrad-samples``."""
    name = param if isinstance(param, str) else param.name
    if name in COMMAND_OPTION_NAMES:
        takers = methods_taking(name)
        prefix = takers[0] if len(takers) == 1 else "method"
        return f"--{prefix}-{name}"
    return f"--{name}"


def param_dest(name: str) -> str:
    """The namespace attribute a parameter flag stores into (``param_epsilon``)."""
    return f"param_{name}"


def _bound(text: str) -> float | list[float]:
    """A z-box bound: one number, or comma-separated per-channel numbers."""
    try:
        values = [float(part) for part in text.split(",")]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number or per-channel numbers like 0,0.5,1, got {text!r}") \
            from None
    return values[0] if len(values) == 1 else values


_TYPES = {"float": float, "int": int, "bound": _bound}


def _default_text(param: Param) -> str:
    groups: dict[str, list[str]] = {}
    for method in methods_taking(param.name):
        declared = next(p for p in method_info(method).params if p.name == param.name)
        value = "the model's input range" if declared.default is None else f"{declared.default:g}"
        groups.setdefault(value, []).append(method)
    if len(groups) == 1:
        return f"default {next(iter(groups))}"
    return "default " + "; ".join(f"{value} ({', '.join(names)})" for value, names in groups.items())


def _range_text(param: Param) -> str:
    if param.kind == "int" and param.minimum is not None and param.maximum is not None:
        text = f"{int(param.minimum)} .. {int(param.maximum)}"
    else:
        text = param.range_text()
    return f"{text} ({param.unit})" if param.unit else text


def param_help(param: Param) -> str:
    """``--help`` text of a parameter flag: the declared help, range and unit, defaults, the methods taking it."""
    text = (f"{param.help}; range {_range_text(param)}; {_default_text(param)}. "
            f"Taken by: {', '.join(methods_taking(param.name))}")
    return text.replace("%", "%%")


def add_method_flags(parser: argparse.ArgumentParser, single: bool = True, legacy: bool = False) -> None:
    """The explanation method options.

    Parameters
    ----------
    parser : argparse.ArgumentParser
    single : bool
        True: ``--method`` and ``--rules`` (one method); False: only the parameter flags and
        ``--no-bias`` (the command has its own ``--methods``).
    legacy : bool
        Also accept the old spellings of renamed parameter flags (``--steps``, ``--samples``) with a note.
    """
    group = parser.add_argument_group("explanation method (see the table below)")
    if single:
        group.add_argument("--method", default=None, choices=METHODS, metavar="NAME",
                           help="a rule, composite or baseline from the table below (default: epsilon-plus-flat "
                                "for networks starting with a conv layer, epsilon-plus for a dense first layer)")
        group.add_argument("--rules", default=None, metavar="MAP",
                           help="custom composite instead of --method: layer index:rule pairs, e.g. "
                                "'1:flat,3:zplus,5:epsilon' (dense/conv layers not listed get epsilon)")
    for param in all_params():
        flag = param_flag(param)
        group.add_argument(flag, dest=param_dest(param.name), type=_TYPES[param.kind], default=None,
                           metavar=param.kind.upper() if param.kind != "bound" else "X[,X...]",
                           help=param_help(param))
        if legacy and flag != f"--{param.name}":
            add_deprecated(group, f"--{param.name}", flag, param_dest(param.name), type=_TYPES[param.kind])
    group.add_argument("--no-bias", action="store_true",
                       help="leave biases out of the rules' denominators (LRP methods marked 'bias' below)")


def method_table() -> str:
    """The ``--help`` epilog: every method with its kind and its parameter flags (with the method's defaults)."""
    lines = ["methods, their parameter flags and defaults ('bias': --no-bias changes the result):"]
    for name in METHODS:
        info = method_info(name)
        flags = ", ".join(f"{param_flag(p)} {'(model input range)' if p.default is None else f'{p.default:g}'}"
                          for p in info.params) or "-"
        lines.append(f"  {name:<21} {info.kind:<9} {'bias' if info.uses_bias else '':<4}  {flags}")
    lines.append("A flag the chosen method does not take is refused (e.g. --gamma with --method epsilon); the "
                 "fixed parameters of composites (alpha 2, beta 1 in epsilon-alpha2-beta1) cannot be changed. "
                 "With --rules, the flags of the rules named apply to every layer using them.")
    return "\n".join(lines).replace("%", "%%")


def given_params(args: argparse.Namespace) -> dict[str, Any]:
    """The method parameters the user gave on the command line (name -> value)."""
    return {p.name: getattr(args, param_dest(p.name)) for p in all_params()
            if getattr(args, param_dest(p.name), None) is not None}


def method_from(args: argparse.Namespace) -> Any:
    """The method name, a custom composite mapping from ``--rules``, or None for the model's default."""
    if not getattr(args, "rules", None):
        return args.method
    if args.method:
        raise CLIError("--rules and --method: give one of them (--rules is a custom composite)")
    mapping: dict[int, str] = {}
    for item in args.rules.split(","):
        index, _, rule = item.partition(":")
        if not rule.strip() or not index.strip().isdigit():
            raise CLIError(f"--rules: cannot read {item!r}; write layer:rule pairs like '1:flat,3:zplus'")
        mapping[int(index)] = rule.strip()
    return mapping


def method_label(method: Any) -> str:
    """A method name, or ``custom 1:flat,3:zplus`` for a mapping."""
    return method if isinstance(method, str) else "custom " + ",".join(f"{k}:{v}" for k, v in method.items())


def checked_params(method: Any, given: Mapping[str, Any], no_bias: bool) -> tuple[dict[str, Any], bool | None]:
    """The parameters and bias switch for one method, refusing flags it does not take.

    Returns
    -------
    params : dict
        ``given``, each value checked against the method's declaration.
    bias : False or None
        False for ``--no-bias``, else None (the default).

    Raises
    ------
    CLIError
        Naming the flag: a parameter the method does not take (listing the flags it takes), an
        out-of-range value, or ``--no-bias`` with a method that has no biases in its denominators.
    """
    info = method_info(method)
    declared = {p.name: p for p in info.params}
    label = method_label(method)
    takes = ", ".join(param_flag(p) for p in info.params) or "no parameter flags"
    checked: dict[str, Any] = {}
    for name, value in given.items():
        if name in info.fixed:
            values = ", ".join(f"{key}={value:g}" for key, value in info.fixed.items())
            rules = [m for m in methods_taking(name) if method_info(m).kind == "rule"]
            raise CLIError(f"{param_flag(name)}: method {label!r} fixes {values}; for other values use "
                           f"--method {rules[0]} or a custom composite (--rules)")
        if name not in declared:
            raise CLIError(f"{param_flag(name)}: method {label!r} does not take it; it takes: {takes}")
        try:
            checked[name] = declared[name].validate(value)
        except ParameterError as error:
            raise CLIError(f"{param_flag(name)}: {error}") from None
    if no_bias and not info.uses_bias:
        raise CLIError(f"--no-bias: method {label!r} has no biases in its denominators ({info.kind})")
    return checked, (False if no_bias else None)


def params_per_method(methods: Sequence[Any], given: Mapping[str, Any],
                      no_bias: bool) -> dict[str, tuple[dict[str, Any], bool | None]]:
    """For commands with several methods: each method gets the given parameters it takes.

    ``--no-bias`` applies to the methods whose result depends on the bias. A flag that none of
    the methods takes is refused (naming the flag and the methods that would take it).

    Raises
    ------
    CLIError
    """
    result: dict[str, tuple[dict[str, Any], bool | None]] = {}
    used: set[str] = set()
    bias_used = False
    for method in methods:
        info = method_info(method)
        names = {p.name for p in info.params}
        mine = {name: value for name, value in given.items() if name in names}
        result[method_label(method)] = checked_params(method, mine, no_bias and info.uses_bias)
        used |= set(mine)
        bias_used |= info.uses_bias
    for name in given:
        if name not in used:
            raise CLIError(f"{param_flag(name)}: none of the methods {', '.join(map(method_label, methods))} "
                           f"takes it (taken by: {', '.join(methods_taking(name))})")
    if no_bias and not bias_used:
        raise CLIError(f"--no-bias: none of the methods {', '.join(map(method_label, methods))} has biases "
                       "in its denominators")
    return result


def parse_methods(text: str, choices: Sequence[str] | None = None) -> list[str]:
    """Comma-separated method names (``all`` = every method); an unknown name is one clear error.

    Raises
    ------
    CLIError
    """
    choices = list(METHODS) if choices is None else list(choices)
    if text.strip().lower() == "all":
        return choices
    names = [name.strip() for name in text.split(",") if name.strip()]
    if not names:
        raise CLIError("--methods: give at least one method name, e.g. lrp0,gradient")
    unknown = [name for name in names if name not in choices]
    if unknown:
        raise CLIError(f"--methods: unknown method {unknown[0]!r}{did_you_mean(unknown[0], choices)}; "
                       f"choose from {', '.join(choices)}")
    return list(dict.fromkeys(names))


# ------------------------------------------------------------------------------------ output paths
def check_output_file(path: str | None, flag: str) -> None:
    """Refuse an output file that cannot be written, before any work is done (None: not asked for).

    Raises
    ------
    CLIError
        Naming the flag, the path and the folder: the folder does not exist (it is not created: a typo
        should not make folders; ``export --out-dir`` is the one option that creates its folder), is not
        writable, or the path is a folder.
    """
    if path is None:
        return
    target = Path(path)
    folder = target.parent
    if target.is_dir():
        raise CLIError(f"{flag} {path}: is a folder; give a file name")
    if not folder.is_dir():
        raise CLIError(f"{flag} {path}: the folder {folder} does not exist (create it first)")
    if not os.access(folder, os.W_OK | os.X_OK):
        raise CLIError(f"{flag} {path}: the folder {folder} is not writable")
    if target.exists() and not os.access(target, os.W_OK):
        raise CLIError(f"{flag} {path}: the file exists and is not writable")


def check_output_folder(path: str, flag: str) -> None:
    """Refuse an output folder that cannot be created or written, before any work is done.

    A missing folder is fine (it is created with its parents) when its nearest existing parent is a
    writable folder.

    Raises
    ------
    CLIError
    """
    folder = Path(path)
    if folder.exists() and not folder.is_dir():
        raise CLIError(f"{flag} {path}: is a file, not a folder")
    existing = folder
    while not existing.exists() and existing != existing.parent:
        existing = existing.parent
    if not existing.is_dir():
        raise CLIError(f"{flag} {path}: {existing} is a file, so the folder cannot be created")
    if not os.access(existing, os.W_OK | os.X_OK):
        raise CLIError(f"{flag} {path}: the folder {existing} is not writable")


# ------------------------------------------------------------------------------------ start relevance
def add_start(parser: argparse.ArgumentParser | argparse._ArgumentGroup) -> None:
    """``--start logit|outputs|contrast:A,B|vector:FILE.npy``: the output relevance LRP starts from."""
    parser.add_argument("--start", default="logit", metavar="START",
                        help="relevance at the output the backward pass starts from: 'logit' ("
                             f"{START_HELP['logit']}), 'outputs' ({START_HELP['outputs']}), 'contrast:A,B' "
                             f"({START_HELP['contrast']}; class indices or names), 'vector:FILE.npy' "
                             f"({START_HELP['vector']}). Conservation then compares with the start total. "
                             "LRP methods only")


def resolve_start(text: str | None, classes: Sequence[str], method: Any = None) -> Start:
    """``--start`` as a :class:`~lrp_studio.lrp.start.Start` for the model's ``classes``.

    Raises
    ------
    CLIError
        Naming ``--start``: an unknown form, unknown classes, an unreadable or misshapen vector
        file, or a start other than ``logit`` with a baseline ``method``.
    """
    text = "logit" if text is None else text.strip()
    kind, _, rest = text.partition(":")
    try:
        if kind == "contrast":
            names = rest.split(",")
            if len(names) != 2:
                raise CLIError(f"--start {text!r}: write contrast:A,B with two classes, e.g. contrast:3,8")
            a, b = (class_index(name.strip(), classes, "--start contrast") for name in names)
            start = parse_start(("contrast", a, b), len(classes))
        elif kind == "vector":
            start = parse_start(_load_vector(rest), len(classes))
        else:
            start = parse_start(text, len(classes))
    except ParameterError as error:
        raise CLIError(f"--start: {error}") from None
    if start.kind != "logit" and method is not None and method_info(method).kind == "baseline":
        raise CLIError(f"--start {text}: method {method!r} is a baseline and explains one logit; "
                       "use an LRP method or --start logit")
    return start


def _load_vector(path: str) -> np.ndarray:
    """A start vector from a .npy file (read without unpickling)."""
    if not path:
        raise CLIError("--start vector: give the file, e.g. vector:start.npy")
    try:
        values = np.load(path, allow_pickle=False)
    except FileNotFoundError:
        raise DataError(f"{path}: no such file") from None
    except (OSError, ValueError) as error:
        raise DataError(f"{path}: not a readable .npy array ({error})") from None
    if not isinstance(values, np.ndarray) or not np.issubdtype(values.dtype, np.number):
        raise DataError(f"{path}: the start vector must be a numeric array")
    return values


# ------------------------------------------------------------------------------------ data, targets
def class_index(text: str, classes: Sequence[str], flag: str) -> int:
    """A class given by name or index (names first).

    Raises
    ------
    CLIError
        Naming ``flag`` when ``text`` is neither a class name nor an index in range.
    """
    if text in classes:
        return list(classes).index(text)
    try:
        value = int(text)
    except ValueError:
        raise CLIError(f"{flag} {text!r} is neither a class index nor one of {list(classes)}") from None
    if not 0 <= value < len(classes):
        raise CLIError(f"{flag} {value} is out of range 0..{len(classes) - 1}")
    return value


def resolve_target(text: str | None, classes: Sequence[str], labels: np.ndarray | None = None) -> Any:
    """``--target`` as :func:`lrp_studio.explain` takes it.

    Parameters
    ----------
    text : str or None
        None or ``predicted``, ``label``, a class name or a class index.
    classes : sequence of str
        The model's class names.
    labels : numpy.ndarray (N,), optional
        The samples' true labels (needed for ``label``).

    Returns
    -------
    None, int or numpy.ndarray (N,) int64
        The output unit(s) explained. A one-output model (binary, z > 0 is class 1) always explains
        its logit z: ``predicted``, ``label`` and class 1 give None, class 0 is refused.

    Raises
    ------
    CLIError
    """
    outputs = output_classes(classes)
    if text is None or text == "predicted":
        return None
    if text == "label":
        if labels is None:
            raise CLIError("--target label: the input has no label (give a class or 'predicted')")
        labels = np.asarray(labels, dtype=np.int64)
        if labels.size and int(labels.max()) >= outputs.n_classes:
            raise CLIError(f"--target label: labels exceed the model's {outputs.n_classes} classes")
        return None if outputs.binary else labels  # one output: its logit z is explained for either label
    chosen = class_index(text, outputs.names, "--target")
    if outputs.binary and chosen == 0:
        raise CLIError(f"--target {text}: a one-output model explains its logit z, the evidence for class "
                       f"{outputs.names[1]} (negative relevance is evidence for class {outputs.names[0]}); "
                       f"use --target predicted or {outputs.names[1]}")
    return outputs.unit(chosen)


def load_fitting(spec: str, net: Network) -> Dataset:
    """The dataset ``spec``, checked to fit ``net``'s input."""
    return check_fits(load_dataset(spec), net)


def check_index(index: int, data: Dataset) -> int:
    """``--index``, a sample index 0..N-1; a DataError otherwise (negative ones too: -1 is not "the last")."""
    if not 0 <= index < len(data):
        raise DataError(f"--index {index} is out of range for {data.name}: give 0..{len(data) - 1} "
                        f"({len(data)} samples)")
    return index
