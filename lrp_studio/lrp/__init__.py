"""Layer-wise relevance propagation: rules, composites, baselines, explain(), conservation.

Every method declares its parameters once (:mod:`.params`); :func:`method_info` is the registry
the GUI, the CLI and :func:`explain` read.
"""

from lrp_studio.lrp.baselines import BASELINES, Baseline
from lrp_studio.lrp.composites import COMPOSITES, Composite, RuleChoice, default_method, flat_on_dense_input
from lrp_studio.lrp.explain import explain, explain_neuron, resolve_rules
from lrp_studio.lrp.explanation import Explanation, LayerRecord
from lrp_studio.lrp.methods import CUSTOM, LRP_METHODS, METHODS, MethodInfo, all_params, method_info
from lrp_studio.lrp.metrics import ConservationReport
from lrp_studio.lrp.params import Param
from lrp_studio.lrp.rules import RULES, Rule, make_rule, stabilize

__all__ = [
    "BASELINES", "Baseline", "COMPOSITES", "CUSTOM", "LRP_METHODS", "METHODS", "Composite", "ConservationReport",
    "Explanation", "LayerRecord", "MethodInfo", "Param", "RULES", "Rule", "RuleChoice", "all_params",
    "default_method", "explain", "explain_neuron", "flat_on_dense_input", "make_rule", "method_info",
    "resolve_rules", "stabilize",
]
