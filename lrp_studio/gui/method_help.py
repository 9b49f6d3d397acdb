"""The formula pane's HTML, built from the methods' declarations (no text of its own per method).

Titles, formulas and explanations are the ``title``/``formula``/``about`` of each rule class
(:mod:`lrp_studio.lrp.rules`), composite and baseline, read through
:func:`lrp_studio.lrp.method_info`; a composite's pane lists the rule each layer of the current
network gets (from :func:`lrp_studio.lrp.resolve_rules`) with those rules' formulas.
"""

from __future__ import annotations

import html
import re
from typing import Any, Mapping

from lrp_studio.gui.state import method_params
from lrp_studio.lrp import RULES, MethodInfo, Param

#: What every LRP method has in common (shown under each LRP method's pane).
COMMON = (
    "Every LRP rule redistributes the relevance R<sub>k</sub> of a layer's outputs onto its inputs. "
    "Relevance starts at the output as the explained logit, so the input heatmap sums to f(x) when "
    "nothing is absorbed &mdash; the <i>conservation</i> plot checks this."
)

_ENTITIES = {"&epsilon;": "\u03b5", "&alpha;": "\u03b1", "&beta;": "\u03b2", "&gamma;": "\u03b3",
             "&times;": "\u00d7", "&minus;": "-", "&nbsp;": " "}


def plain_text(text: str) -> str:
    """``text`` without HTML tags and with the entities the declarations use (for combo-box items)."""
    for entity, char in _ENTITIES.items():
        text = text.replace(entity, char)
    return html.unescape(re.sub(r"<[^>]+>", "", text))


def method_title(method: str) -> str:
    """The title of ``method`` (HTML) as the GUI shows it: the declared one, each rule named once.

    A composite's declared title lists its three rules (first layer / conv / dense), so a rule that
    two of them use appeared twice (``z<sup>B</sup> / z<sup>+</sup> / z<sup>+</sup>`` for deep-taylor).
    """
    return unique_rules(method_params(method).title)


def unique_rules(title: str) -> str:
    """``"a / b / b"`` -> ``"a / b"`` (a title listing rules names each once)."""
    parts = [part.strip() for part in title.split(" / ")]
    return " / ".join(dict.fromkeys(parts)) if len(parts) > 1 else title


def param_rows(params: tuple[Param, ...]) -> str:
    """One line per parameter: label, range and help (for the formula pane)."""
    rows = "".join(f"<p style='margin:2px 0'>&bull; <b>{html.escape(p.display)}</b> ({html.escape(p.range_text())}"
                   f"{', ' + html.escape(p.unit) if p.unit else ''}): {html.escape(p.help, quote=False)}</p>"
                   for p in params)
    return rows  # plain paragraphs: a list's indent takes a third of a narrow dock


def _formula_block(title: str, formula: str, about: str, with_title: bool = True) -> str:
    heading = f"<b>{title}</b><br>" if with_title else ""
    shown = f"<span style='font-family:serif'>{formula}</span><br>" if formula else ""
    return f"<p>{heading}{shown}{about}</p>"


def rule_html(rule: str, with_title: bool = True) -> str:
    """Title, formula and explanation of the rule class registered as ``rule``."""
    cls = RULES[rule]
    return _formula_block(cls.title, cls.formula, cls.about, with_title)


def _layer_table(layer_rules: Mapping[int, Any], layer_names: Mapping[int, str]) -> str:
    rows = "".join(f"<tr><td>{layer_names.get(i, f'layer {i}')}</td><td>&nbsp;&larr; {html.escape(rule.describe())}"
                   f"</td></tr>" for i, rule in sorted(layer_rules.items()))
    return f"<p><b>Rules in this network</b></p><table>{rows}</table>"


def method_html(method: str, layer_rules: Mapping[int, Any] | None = None,
                layer_names: Mapping[int, str] | None = None, info: MethodInfo | None = None) -> str:
    """The formula pane of ``method``: title, formula, parameters and (for composites) the per-layer rules.

    Parameters
    ----------
    method : str
        A method name of :func:`~lrp_studio.gui.state.method_names`.
    layer_rules : dict layer index -> Rule, optional
        The rule object each dense/conv layer gets in the current network (``resolve_rules``).
    layer_names : dict layer index -> str, optional
        Display names of those layers (e.g. ``"1: dense 300"``).
    info : MethodInfo, optional
        The declaration to show (default: :func:`~lrp_studio.gui.state.method_params` of ``method``).
    """
    info = info or method_params(method)
    if info.kind == "composite":  # the title lists the rules, which the line under it explains per layer
        parts = [f"<h3 style='margin:0'>Composite <code>{html.escape(method)}</code></h3>",
                 f"<p style='margin:2px 0; color:#555'>{unique_rules(info.title)}</p>"]
    else:
        parts = [f"<h3 style='margin:0'>{info.title} <code>{html.escape(method)}</code></h3>"]
    if info.kind == "rule":
        parts.append(_formula_block(info.title, info.formula, info.about, with_title=False))
        parts.append("<p>Applied to every dense and conv layer. Activations pass relevance unchanged; max-pooling "
                     "gives it to the winning input.</p>")
    elif info.kind == "baseline":
        parts.append(_formula_block(info.title, info.formula, info.about, with_title=False))
        parts.append("<p>A baseline, not LRP: the graph shows activations; only the input has relevance.</p>")
    else:
        parts.append(f"<p>{info.about}</p>")
    parts.append(param_rows(info.params))
    if layer_rules:
        parts.append(_layer_table(layer_rules, layer_names or {}))
        used = sorted({rule.name for rule in layer_rules.values()} - {method})
        parts.extend(rule_html(name) for name in used if name in RULES)
    if info.kind != "baseline":
        parts.append(f"<p style='color:#555'>{COMMON}</p>")
    return "".join(parts)


__all__ = ["COMMON", "method_html", "method_title", "unique_rules", "param_rows", "plain_text", "rule_html"]
