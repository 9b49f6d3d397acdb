"""Composites: plain data mapping each dense/conv layer of a network to a rule (DESIGN.md 3.3).

A composite is registered by name with three rule choices: the first dense-or-conv layer,
the other conv layers and the other dense layers. ``"by type"`` for the first layer means
it gets the rule of its type.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Mapping

from lrp_studio.errors import ParameterError
from lrp_studio.lrp.rules import RULES, Rule, make_rule
from lrp_studio.nn.layers import Conv2d

BY_TYPE = "by type"


@dataclass(frozen=True)
class RuleChoice:
    """A rule name with its fixed parameters (user parameters fill in the rest)."""

    name: str
    fixed: tuple[tuple[str, Any], ...] = ()

    def build(self, params: Mapping[str, Any]) -> Rule:
        merged = {**dict(self.fixed), **{k: v for k, v in params.items() if v is not None}}
        return make_rule(self.name, **merged)


@dataclass(frozen=True)
class Composite:
    """Rules for the first layer, other conv layers and other dense layers."""

    name: str
    first: RuleChoice | str
    conv: RuleChoice
    dense: RuleChoice
    description: str = ""

    def choices(self, net: Any) -> dict[int, RuleChoice]:
        """Layer index -> rule choice for every dense/conv layer of ``net``."""
        mapping = {}
        for position, index in enumerate(net.linear_indices):
            by_type = self.conv if isinstance(net.layers[index], Conv2d) else self.dense
            mapping[index] = by_type if position > 0 or self.first == BY_TYPE else self.first
        return mapping

    def rules(self, net: Any, params: Mapping[str, Any]) -> dict[int, Rule]:
        """Layer index -> rule object; user ``params`` (epsilon, gamma, low, high...) override defaults."""
        return {index: choice.build(params) for index, choice in self.choices(net).items()}


EPS_SMALL = RuleChoice("epsilon", (("epsilon", 1e-6),))
ZPLUS = RuleChoice("zplus")
ZBOX = RuleChoice("zbox")

COMPOSITES: dict[str, Composite] = {
    c.name: c
    for c in (
        Composite("epsilon-plus", BY_TYPE, ZPLUS, EPS_SMALL, "zplus on conv layers, epsilon (1e-6) on dense layers"),
        Composite("epsilon-plus-flat", RuleChoice("flat"), ZPLUS, EPS_SMALL,
                  "flat on the first layer, zplus on conv, epsilon (1e-6) on dense"),
        Composite("epsilon-alpha2-beta1", BY_TYPE, RuleChoice("alphabeta", (("alpha", 2.0), ("beta", 1.0))), EPS_SMALL,
                  "alpha2-beta1 on conv layers, epsilon (1e-6) on dense layers"),
        Composite("epsilon-gamma-box", ZBOX, RuleChoice("gamma", (("gamma", 0.25),)), EPS_SMALL,
                  "zbox on the first layer, gamma (0.25) on conv, epsilon (1e-6) on dense"),
        Composite("deep-taylor", ZBOX, ZPLUS, ZPLUS, "zbox on the first layer, zplus everywhere else"),
    )
}


def custom_rules(net: Any, mapping: Mapping[Any, Any], params: Mapping[str, Any]) -> dict[int, Rule]:
    """Rules of a custom composite: ``{layer index: rule name or Rule}`` for every dense/conv layer.

    Dense/conv layers missing from the mapping get ``epsilon`` with the user's (or default) epsilon.
    """
    linear = set(net.linear_indices)
    result: dict[int, Rule] = {}
    for key, value in mapping.items():
        try:
            index = int(key)
        except (TypeError, ValueError):
            raise ParameterError(f"custom composite keys must be layer indices, got {key!r}") from None
        if index not in linear:
            raise ParameterError(f"layer {index} is not a dense or conv layer (those are {sorted(linear)})")
        result[index] = value if isinstance(value, Rule) else make_rule(str(value), **params)
    for index in linear - set(result):
        result[index] = make_rule("epsilon", **params)
    return result


def rule_names() -> list[str]:
    """Names of the single rules usable as methods."""
    return list(RULES)


def default_method(net: Any) -> str:
    """The composite the GUI and CLI start with for ``net``.

    ``epsilon-plus-flat`` for networks whose first dense/conv layer is a convolution; for a
    dense first layer the flat rule would spread relevance uniformly over all inputs (every
    input feeds every neuron), so those networks start with ``epsilon-plus``.
    """
    linear = net.linear_indices
    return "epsilon-plus-flat" if linear and isinstance(net.layers[linear[0]], Conv2d) else "epsilon-plus"


def flat_on_dense_input(net: Any, rules: Mapping[int, Rule]) -> bool:
    """True when the first layer is dense and gets the flat rule (input relevance is then uniform)."""
    linear = net.linear_indices
    return bool(linear) and not isinstance(net.layers[linear[0]], Conv2d) and getattr(rules.get(linear[0]), "name", "") == "flat"
