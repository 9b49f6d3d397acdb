"""Layer-wise relevance propagation: rules, composites, baselines, explain(), conservation."""

from lrp_studio.lrp.baselines import BASELINES
from lrp_studio.lrp.composites import COMPOSITES, Composite, RuleChoice, default_method, flat_on_dense_input
from lrp_studio.lrp.explain import LRP_METHODS, METHODS, Explanation, LayerRecord, explain, explain_neuron
from lrp_studio.lrp.metrics import ConservationReport
from lrp_studio.lrp.rules import RULES, Rule, make_rule, stabilize

__all__ = [
    "BASELINES", "COMPOSITES", "LRP_METHODS", "METHODS", "Composite", "ConservationReport", "Explanation",
    "LayerRecord", "RULES", "default_method", "flat_on_dense_input", "Rule", "RuleChoice", "explain", "explain_neuron", "make_rule", "stabilize",
]
