"""Declared parameters of explanation methods: one :class:`Param` per name, validated in one place.

Every rule (:mod:`lrp_studio.lrp.rules`), composite (:mod:`lrp_studio.lrp.composites`) and
baseline (:mod:`lrp_studio.lrp.baselines`) lists the parameters it takes as :class:`Param`
objects. The GUI's parameter widgets, the CLI's flags and ``--help``, the formula pane and the
checks in :func:`lrp_studio.explain` are all built from these declarations, so a new parameter
is written once.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from typing import Any, Iterable, Mapping

import numpy as np

from lrp_studio.errors import ParameterError

#: The smallest epsilon a rule accepts: with epsilon > 0 no denominator is 0, so no rule returns
#: NaN (0 / 0) for finite input; 1e-9 keeps R / epsilon well inside float32's range.
MIN_EPSILON = 1e-9


@dataclass(frozen=True)
class Param:
    """One parameter of a rule, composite or baseline.

    Attributes
    ----------
    name : str
        Keyword of :func:`lrp_studio.explain` and the CLI flag ``--name``.
    default : float, int or None
        None for a default that comes from the model (the z-box bounds: the model's input range,
        else [0, 1]).
    kind : {"float", "int", "bound"}
        ``"bound"``: a float, per-channel floats (C,) for image inputs, or one sample's shape
        (checked against the network in :func:`lrp_studio.lrp.explain.box_bound`).
    minimum, maximum : float or None
        Inclusive bounds (None: unbounded).
    unit : str
        What the number is measured in ("" when it is a plain factor).
    help : str
        One line, used for tooltips and ``--help``.
    label : str
        Short display name for the GUI (Greek letters where the papers use them).
    """

    name: str
    default: Any
    kind: str = "float"
    minimum: float | None = None
    maximum: float | None = None
    unit: str = ""
    help: str = ""
    label: str = ""

    def with_default(self, default: Any) -> "Param":
        """The same parameter with another default (a composite's epsilon of 1e-6, say)."""
        return replace(self, default=default)

    @property
    def display(self) -> str:
        """The label shown next to the widget (``label`` or the name)."""
        return self.label or self.name

    def range_text(self) -> str:
        """The allowed range as text, e.g. ``">= 1e-09"`` or ``"1 .. 4096"``."""
        if self.minimum is not None and self.maximum is not None:
            return f"{self.minimum:g} .. {self.maximum:g}"
        if self.minimum is not None:
            return f">= {self.minimum:g}"
        if self.maximum is not None:
            return f"<= {self.maximum:g}"
        return "any finite value"

    def validate(self, value: Any) -> Any:
        """``value`` converted to the parameter's type and checked against its range.

        Raises
        ------
        ParameterError
            When the value is not a number of the right kind, not finite, or out of range.
        """
        if self.kind == "bound":
            return self._validate_bound(value)
        if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
            raise ParameterError(f"{self.name} must be a number, got {value!r}")
        if self.kind == "int":
            if float(value) != int(value):
                raise ParameterError(f"{self.name} must be a whole number, got {value!r}")
            number: Any = int(value)
        else:
            number = float(value)
            if not math.isfinite(number):
                raise ParameterError(f"{self.name} must be finite, got {value!r}")
        self._check_range(number)
        return number

    def _check_range(self, number: float) -> None:
        too_low = self.minimum is not None and number < self.minimum
        too_high = self.maximum is not None and number > self.maximum
        if too_low or too_high:
            raise ParameterError(f"{self.name} must be {self.range_text()}, got {number:g}")

    def _validate_bound(self, value: Any) -> Any:
        try:
            array = np.asarray(value, dtype=np.float64)
        except (TypeError, ValueError):
            raise ParameterError(f"{self.name} must be a number or per-channel numbers, got {value!r}") from None
        if array.size == 0 or not np.isfinite(array).all():
            raise ParameterError(f"{self.name} must be a finite number, per-channel numbers (C,) or one sample "
                                 f"of numbers, got {value!r}")
        return float(array) if array.ndim == 0 else array


# The vocabulary: every parameter name used by a method, with its default, range and help.
EPSILON = Param("epsilon", 0.25, minimum=MIN_EPSILON, maximum=1e6, label="\u03b5 (epsilon)",
                help="stabiliser added to every denominator z_k with z_k's sign; larger: sparser heatmap, "
                     "more relevance absorbed")
ALPHA = Param("alpha", 2.0, minimum=1.0, maximum=100.0, label="\u03b1 (alpha)",
              help="weight of the positive contributions (alpha - beta = 1)")
BETA = Param("beta", 1.0, minimum=0.0, maximum=99.0, label="\u03b2 (beta = \u03b1 \u2212 1)",
             help="weight of the negative contributions (beta = alpha - 1)")
GAMMA = Param("gamma", 0.25, minimum=0.0, maximum=1e3, label="\u03b3 (gamma)",
              help="extra weight of the contributions that agree in sign with z_k (0 = LRP-0)")
LOW = Param("low", None, kind="bound", unit="input units", label="low (l)",
            help="lowest possible input value, z-box lower bound (default: the model's input range, else 0)")
HIGH = Param("high", None, kind="bound", unit="input units", label="high (h)",
             help="highest possible input value, z-box upper bound (default: the model's input range, else 1)")
STEPS = Param("steps", 32, kind="int", minimum=1, maximum=4096, unit="steps", label="steps",
              help="points on the straight path from the zero baseline to x")
SAMPLES = Param("samples", 32, kind="int", minimum=1, maximum=4096, unit="copies", label="samples",
                help="noisy copies whose gradients are averaged")
NOISE = Param("noise", 0.1, minimum=0.0, maximum=10.0, unit="fraction of the input range", label="noise",
              help="standard deviation of the noise as a fraction of the input range")
SEED = Param("seed", 0, kind="int", minimum=0, maximum=2**32 - 1, label="seed",
             help="seed of the noise generator")
PATCH = Param("patch", 4, kind="int", minimum=1, maximum=1024, unit="pixels", label="patch",
              help="side of the square patch set to the sample's mean (image inputs)")
ITERATIONS = Param("iterations", 20, kind="int", minimum=1, maximum=1000, unit="steps", label="root steps",
                   help="Newton steps of the Taylor root search along the gradient direction")

#: ``bias`` is a keyword of :func:`lrp_studio.explain` shared by the LRP methods (not of baselines).
BIAS_HELP = ("whether the bias b_k takes part in the denominators; off: relevance is conserved exactly "
             "(up to epsilon), on: biases absorb part of it")

ALL_PARAMS: dict[str, Param] = {p.name: p for p in (EPSILON, ALPHA, BETA, GAMMA, LOW, HIGH, STEPS, SAMPLES,
                                                     NOISE, SEED, PATCH, ITERATIONS)}


def merge_params(groups: Iterable[Iterable[Param]]) -> tuple[Param, ...]:
    """The union of several parameter lists in first-seen order (first declaration wins)."""
    seen: dict[str, Param] = {}
    for group in groups:
        for param in group:
            seen.setdefault(param.name, param)
    return tuple(seen.values())


def check_params(method: str, declared: Iterable[Param], given: Mapping[str, Any]) -> dict[str, Any]:
    """Validate ``given`` against ``declared``; return the validated values (None values are dropped).

    Raises
    ------
    ParameterError
        For a name the method does not take (naming it and listing the ones it takes) or an
        out-of-range value.
    """
    by_name = {p.name: p for p in declared}
    checked: dict[str, Any] = {}
    for name, value in given.items():
        if name not in by_name:
            takes = ", ".join(by_name) if by_name else "no parameters"
            hint = " (is it misspelt?)" if name not in ALL_PARAMS else ""
            raise ParameterError(f"method {method!r} does not take parameter {name!r}{hint}; it takes: {takes}")
        if value is not None:
            checked[name] = by_name[name].validate(value)
    return checked


def did_you_mean(word: str, choices: Any) -> str:
    """``" (did you mean 'epsilon'?)"`` for the choice closest to a misspelt ``word``, else ``""``.

    Closeness is :func:`difflib.get_close_matches` (ratio >= 0.6), the same measure Python 3.14's
    argparse uses for ``suggest_on_error``.
    """
    import difflib

    matches = difflib.get_close_matches(str(word), [str(choice) for choice in choices], n=1, cutoff=0.6)
    return f" (did you mean {matches[0]!r}?)" if matches else ""
