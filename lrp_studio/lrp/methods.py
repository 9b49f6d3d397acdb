"""The method registry: every rule, composite and baseline by name, with its declared parameters.

This is the one place the GUI (method list, parameter widgets, formula pane), the CLI (flags,
``--help``) and :func:`lrp_studio.explain` (validation) read what a method takes. A new rule is a
class in :mod:`.rules` plus its line in :data:`~lrp_studio.lrp.rules.RULES`; it then appears here.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Mapping

from lrp_studio.errors import ParameterError
from lrp_studio.lrp.baselines import BASELINES
from lrp_studio.lrp.composites import COMPOSITES, custom_params
from lrp_studio.lrp.params import BIAS_HELP, Param, did_you_mean, merge_params
from lrp_studio.lrp.rules import RULES

#: Name of a per-layer (custom) composite in the GUI and in :attr:`Explanation.method`.
CUSTOM = "custom"

LRP_METHODS: list[str] = list(RULES) + list(COMPOSITES)
METHODS: list[str] = LRP_METHODS + list(BASELINES)


@dataclass(frozen=True)
class MethodInfo:
    """What the GUI, the CLI and the formula pane need to know of one method.

    Attributes
    ----------
    name : str
    kind : {"rule", "composite", "baseline", "custom"}
    params : tuple of Param
        The parameters the method takes, with the method's defaults.
    uses_bias : bool
        Whether the ``bias`` switch changes the result.
    title, formula, about : str
        Display title, formula and explanation (HTML); composites have no formula of their own.
    fixed : dict str -> value
        Parameters a composite's name fixes (``{"alpha": 2.0, "beta": 1.0}``); refused when given.
    """

    name: str
    kind: str
    params: tuple[Param, ...]
    uses_bias: bool
    title: str
    formula: str = ""
    about: str = ""
    fixed: Mapping[str, Any] = field(default_factory=dict)


def _rule_info(name: str) -> MethodInfo:
    cls = RULES[name]
    return MethodInfo(name, "rule", cls.params, cls.uses_bias, cls.title, cls.formula, cls.about)


def _composite_info(name: str) -> MethodInfo:
    c = COMPOSITES[name]
    return MethodInfo(name, "composite", c.params, True, c.title, "", c.about, c.fixed)


def _baseline_info(name: str) -> MethodInfo:
    b = BASELINES[name]
    return MethodInfo(name, "baseline", b.params, False, b.title, b.formula, b.about)


def custom_info(mapping: Mapping[Any, Any] | None = None) -> MethodInfo:
    """The per-layer composite: with a mapping, the parameters of its rules; without, of all rules."""
    params = custom_params(mapping) if mapping is not None else merge_params(cls.params for cls in RULES.values())
    return MethodInfo(CUSTOM, "custom", params, True, "Custom composite", "",
                      "Choose one rule per dense/conv layer; each parameter applies to every layer whose rule uses it.")


def method_info(method: Any) -> MethodInfo:
    """The :class:`MethodInfo` of a method name or a custom mapping ``{layer index: rule}``.

    Raises
    ------
    ParameterError
        For an unknown method name (listing the known ones).
    """
    if isinstance(method, Mapping):
        return custom_info(method)
    if method in RULES:
        return _rule_info(method)
    if method in COMPOSITES:
        return _composite_info(method)
    if method in BASELINES:
        return _baseline_info(method)
    if method == CUSTOM:
        return custom_info()
    raise ParameterError(f"unknown method {method!r}{did_you_mean(method, METHODS)}; choose one of {', '.join(METHODS)}")


def all_params() -> tuple[Param, ...]:
    """Every parameter any method takes (first declaration of each name), e.g. for CLI flags."""
    return merge_params(method_info(name).params for name in METHODS)


def methods_taking(name: str) -> list[str]:
    """Names of the methods that take parameter ``name`` (for ``--help`` texts)."""
    return [m for m in METHODS if any(p.name == name for p in method_info(m).params)]


__all__ = ["BIAS_HELP", "CUSTOM", "LRP_METHODS", "METHODS", "MethodInfo", "all_params", "custom_info",
           "method_info", "methods_taking"]
