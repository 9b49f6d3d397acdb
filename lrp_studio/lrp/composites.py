"""Composites: plain data mapping each dense/conv layer of a network to a rule (DESIGN.md 3.3).

A composite is registered by name with three rule choices: the first dense-or-conv layer(s),
the other conv layers and the other dense layers. ``"by type"`` for the first layer means
it gets the rule of its type. In a graph network the *first layers* are every dense/conv layer
reachable from the network input without passing another dense/conv layer (:func:`first_layers`):
e.g. a residual block right after the input has its conv and its 1x1 projection both reading the
input, and both get the first-layer rule. (Zennit's ``SpecialFirstLayerMapComposite`` gives it to
the first such module in module order only; the two agree whenever one layer reads the input, as
in a ResNet's stem.)
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Mapping

from lrp_studio.errors import ParameterError
from lrp_studio.lrp.params import EPSILON, GAMMA, HIGH, LOW, Param, check_params, merge_params
from lrp_studio.lrp.rules import RULES, Epsilon, Rule
from lrp_studio.nn.layers import Conv2d

BY_TYPE = "by type"


@dataclass(frozen=True)
class RuleChoice:
    """A rule name with the parameters the composite fixes (the user cannot change those).

    Attributes
    ----------
    name : str
        A key of :data:`lrp_studio.lrp.rules.RULES`.
    fixed : tuple of (name, value)
        E.g. ``(("alpha", 2.0), ("beta", 1.0))`` for epsilon-alpha2-beta1's conv layers.
    """

    name: str
    fixed: tuple[tuple[str, Any], ...] = ()

    def build(self, params: Mapping[str, Any]) -> Rule:
        """The rule from the composite's (validated) ``params``; fixed values always win."""
        return RULES[self.name].from_params({**params, **dict(self.fixed)})

    def describe(self) -> str:
        values = ", ".join(f"{v:g}" for _, v in self.fixed)
        return f"{self.name}({values})" if values else self.name


@dataclass(frozen=True)
class Composite:
    """Rules for the first dense/conv layer, the other conv layers and the other dense layers.

    Attributes
    ----------
    name : str
    first : RuleChoice or ``"by type"``
        The rule of the first layers (:func:`first_layers`); ``"by type"``: they get the rule of
        their type (``conv`` or ``dense``).
    conv, dense : RuleChoice
    params : tuple of Param
        The parameters a user may set, with the composite's defaults (e.g. epsilon 1e-6 on dense
        layers). Everything else is fixed by the composite's name.
    about : str
        One line (HTML) for the formula pane.
    """

    name: str
    first: RuleChoice | str
    conv: RuleChoice
    dense: RuleChoice
    params: tuple[Param, ...] = ()
    about: str = ""

    @property
    def title(self) -> str:
        """The three rules as a title (HTML), e.g. ``"flat rule / z<sup>+</sup> / LRP-&epsilon;"``."""
        first = self.first if isinstance(self.first, str) else RULES[self.first.name].title
        return " / ".join([first, RULES[self.conv.name].title, RULES[self.dense.name].title])

    @property
    def fixed(self) -> dict[str, Any]:
        """Parameters the composite's name fixes, e.g. ``{"alpha": 2.0, "beta": 1.0}``."""
        choices = [self.conv, self.dense] + ([self.first] if isinstance(self.first, RuleChoice) else [])
        return {name: value for choice in choices for name, value in choice.fixed}

    def choices(self, net: Any) -> dict[int, RuleChoice]:
        """Layer index -> rule choice for every dense/conv layer of ``net`` (first layers: :func:`first_layers`)."""
        mapping = {}
        first = set(first_layers(net))
        for index in net.linear_indices:
            by_type = self.conv if isinstance(net.layers[index], Conv2d) else self.dense
            mapping[index] = self.first if index in first and self.first != BY_TYPE else by_type
        return mapping

    def rules(self, net: Any, params: Mapping[str, Any]) -> dict[int, Rule]:
        """Layer index -> rule object.

        Raises
        ------
        ParameterError
            For a parameter the composite does not take (its fixed ones included) or a bad value.
        """
        fixed = [name for name in params if name in self.fixed]
        if fixed:
            values = ", ".join(f"{name}={value:g}" for name, value in self.fixed.items())
            takes = ", ".join(p.name for p in self.params) or "no parameters"
            raise ParameterError(f"method {self.name!r} fixes {values} ({fixed[0]!r} cannot be changed; use the rule "
                                 f"itself or a custom composite for other values); it takes: {takes}")
        values = {p.name: p.default for p in self.params if p.default is not None}
        values.update(check_params(self.name, self.params, params))
        return {index: choice.build(values) for index, choice in self.choices(net).items()}


EPSILON_RULE = RuleChoice("epsilon")
ZPLUS = RuleChoice("zplus")
ZBOX = RuleChoice("zbox")
#: Composites use a tiny epsilon on dense layers (Zennit's EpsilonPlus default).
SMALL_EPSILON = EPSILON.with_default(1e-6)

COMPOSITES: dict[str, Composite] = {
    c.name: c
    for c in (
        Composite("epsilon-plus", BY_TYPE, ZPLUS, EPSILON_RULE, (SMALL_EPSILON,),
                  "first layer by its type; conv layers: z<sup>+</sup>; dense layers: &epsilon; (1e-6)."),
        Composite("epsilon-plus-flat", RuleChoice("flat"), ZPLUS, EPSILON_RULE, (SMALL_EPSILON,),
                  "first layer: flat; other conv layers: z<sup>+</sup>; dense layers: &epsilon; (1e-6). "
                  "A good default for images."),
        Composite("epsilon-alpha2-beta1", BY_TYPE, RuleChoice("alphabeta", (("alpha", 2.0), ("beta", 1.0))),
                  EPSILON_RULE, (SMALL_EPSILON,),
                  "first layer by its type; conv layers: &alpha;2&beta;1 (fixed); dense layers: &epsilon; (1e-6)."),
        Composite("epsilon-gamma-box", ZBOX, RuleChoice("gamma"), EPSILON_RULE, (SMALL_EPSILON, GAMMA, LOW, HIGH),
                  "first layer: z<sup>B</sup>(low, high); conv layers: &gamma; (0.25); dense layers: &epsilon; (1e-6)."),
        Composite("deep-taylor", ZBOX, ZPLUS, ZPLUS, (LOW, HIGH),
                  "first layer: z<sup>B</sup>(low, high); every other layer: z<sup>+</sup>."),
        Composite("deep-taylor-unbounded", RuleChoice("wsquare"), ZPLUS, ZPLUS, (),
                  "the lecture notes' deep Taylor recipe (Montavon et al. 2017, unbounded input domain): first "
                  "layer: w<sup>2</sup>; every other layer: z<sup>+</sup>. Conserves relevance exactly with "
                  "--no-bias."),
    )
}


def custom_params(mapping: Mapping[Any, Any]) -> tuple[Param, ...]:
    """Parameters a custom composite takes: those of its named rules, plus epsilon (the default rule)."""
    names = [value for value in mapping.values() if not isinstance(value, Rule)]
    unknown = [str(n) for n in names if str(n) not in RULES]
    if unknown:
        raise ParameterError(f"unknown rule {unknown[0]!r} in custom composite; choose one of {', '.join(RULES)}")
    return merge_params([RULES[str(n)].params for n in names] + [Epsilon.params])


def custom_rules(net: Any, mapping: Mapping[Any, Any], params: Mapping[str, Any]) -> dict[int, Rule]:
    """Rules of a custom composite: ``{layer index: rule name or Rule}`` for every dense/conv layer.

    Dense/conv layers missing from the mapping get ``epsilon`` with the user's (or default) epsilon.

    Raises
    ------
    ParameterError
        For a key that is not a dense/conv layer index, an unknown rule, or a parameter that none
        of the named rules takes.
    """
    linear = set(net.linear_indices)
    values = check_params("custom", custom_params(mapping), params)
    result: dict[int, Rule] = {}
    for key, value in mapping.items():
        try:
            index = int(key)
        except (TypeError, ValueError):
            raise ParameterError(f"custom composite keys must be layer indices, got {key!r}") from None
        if index not in linear:
            raise ParameterError(f"layer {index} is not a dense or conv layer (those are {sorted(linear)})")
        result[index] = value if isinstance(value, Rule) else RULES[str(value)].from_params(values)
    for index in linear - set(result):
        result[index] = Epsilon.from_params(values)
    return result


def first_layers(net: Any) -> list[int]:
    """The dense/conv layers a composite's first-layer rule applies to, in layer order.

    Every dense/conv layer reachable from the network input (stage 0) without passing another
    dense/conv layer; for a sequential network that is its first dense/conv layer. Found by a
    walk over ``net.consumers`` that stops at each dense/conv layer.
    """
    found: set[int] = set()
    seen: set[int] = set()
    frontier = [0]
    while frontier:
        stage = frontier.pop()
        for reader in net.consumers(stage):
            if reader in seen:
                continue
            seen.add(reader)
            if net.layers[reader].is_linear:
                found.add(reader)
            else:
                frontier.append(reader + 1)
    return sorted(found)


def default_method(net: Any) -> str:
    """The composite the GUI and CLI start with for ``net``.

    ``epsilon-plus-flat`` for networks whose first dense/conv layer is a convolution; for a
    dense first layer the flat rule would spread relevance uniformly over all inputs (every
    input feeds every neuron), so those networks start with ``epsilon-plus``.
    """
    first = first_layers(net)
    return "epsilon-plus-flat" if first and isinstance(net.layers[first[0]], Conv2d) else "epsilon-plus"


def flat_on_dense_input(net: Any, rules: Mapping[int, Rule]) -> bool:
    """True when a first layer is dense and gets the flat rule (its input relevance is then uniform)."""
    return any(not isinstance(net.layers[i], Conv2d) and getattr(rules.get(i), "name", "") == "flat"
               for i in first_layers(net))
