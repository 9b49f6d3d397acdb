"""Formulas and parameter explanations for every method (DESIGN.md 3.3), as small HTML snippets.

The help pane of the explanation panel shows :func:`method_html`; parameter widgets take their
tooltips from :data:`PARAM_HELP`. Notation follows DESIGN.md: z_k = sum_j x_j w_jk + b_k,
x+ / x- and w+ / w- the positive and negative parts, stab(z) = z + eps * sign(z).
"""

from __future__ import annotations

from typing import Any

COMMON = (
    "Every LRP rule redistributes the relevance R<sub>k</sub> of a layer's outputs onto its inputs: "
    "R<sub>j</sub> = &sum;<sub>k</sub> numerator<sub>jk</sub> / denominator<sub>k</sub> &middot; R<sub>k</sub>. "
    "Relevance starts at the output as the explained logit (the target class), so the input heatmap "
    "should sum to f(x) when nothing is absorbed &mdash; the <i>conservation</i> plot checks this."
)

#: Per rule or method: (title, formula HTML, explanation HTML).
RULE_HELP: dict[str, tuple[str, str, str]] = {
    "lrp0": ("LRP-0 (basic rule)",
             "R<sub>j</sub> = &sum;<sub>k</sub> x<sub>j</sub>w<sub>jk</sub> / z<sub>k</sub> &middot; R<sub>k</sub>,"
             " &nbsp; z<sub>k</sub> = &sum;<sub>j</sub> x<sub>j</sub>w<sub>jk</sub> + b<sub>k</sub>",
             "Each input gets the share it contributed to z<sub>k</sub>. Equivalent to gradient&times;input for "
             "ReLU networks: faithful but noisy; tiny z<sub>k</sub> can blow up relevance."),
    "epsilon": ("LRP-&epsilon;",
                "R<sub>j</sub> = &sum;<sub>k</sub> x<sub>j</sub>w<sub>jk</sub> / (z<sub>k</sub> + &epsilon;&middot;sign(z<sub>k</sub>))"
                " &middot; R<sub>k</sub>",
                "&epsilon; absorbs part of the relevance of weakly activated neurons: larger &epsilon; gives "
                "sparser, less noisy heatmaps and a conservation gap (relevance lost in the denominators)."),
    "zplus": ("z<sup>+</sup> (&alpha;1-&beta;0)",
              "R<sub>j</sub> = &sum;<sub>k</sub> (x<sup>+</sup><sub>j</sub>w<sup>+</sup><sub>jk</sub> + "
              "x<sup>&minus;</sup><sub>j</sub>w<sup>&minus;</sup><sub>jk</sub>) / (&sum;<sub>j</sub>(same) + b<sup>+</sup><sub>k</sub>)"
              " &middot; R<sub>k</sub>",
              "Only contributions that push z<sub>k</sub> up are credited, so all relevance stays positive "
              "(deep Taylor decomposition for ReLU layers)."),
    "alphabeta": ("LRP-&alpha;&beta;",
                  "R<sub>j</sub> = &sum;<sub>k</sub> [&alpha; (x<sup>+</sup>w<sup>+</sup> + x<sup>&minus;</sup>w<sup>&minus;</sup>)<sub>jk</sub>"
                  " / P<sub>k</sub> &minus; &beta; (x<sup>+</sup>w<sup>&minus;</sup> + x<sup>&minus;</sup>w<sup>+</sup>)<sub>jk</sub>"
                  " / N<sub>k</sub>] R<sub>k</sub>, &nbsp; &alpha; &minus; &beta; = 1",
                  "P<sub>k</sub> and N<sub>k</sub> are the sums of the positive and negative contributions "
                  "(with b<sup>+</sup> and b<sup>&minus;</sup>). &alpha; weights evidence for the class, &beta; "
                  "evidence against it; &alpha;=1, &beta;=0 is z<sup>+</sup>. Raising &beta; shows more negative (blue) relevance."),
    "gamma": ("LRP-&gamma;",
              "z<sub>k</sub> &gt; 0: numerator x<sup>+</sup>(w + &gamma;w<sup>+</sup>) + x<sup>&minus;</sup>(w + &gamma;w<sup>&minus;</sup>);"
              " z<sub>k</sub> &lt; 0: x<sup>+</sup>(w + &gamma;w<sup>&minus;</sup>) + x<sup>&minus;</sup>(w + &gamma;w<sup>+</sup>)",
              "Denominator: the sum of the numerator plus b<sub>k</sub> + &gamma;b<sup>&plusmn;</sup><sub>k</sub>. "
              "&gamma; &gt; 0 favours contributions that agree in sign with z<sub>k</sub>: &gamma;=0 is LRP-0, "
              "large &gamma; approaches z<sup>+</sup>; more stable, less noisy heatmaps."),
    "wsquare": ("w<sup>2</sup> rule",
                "R<sub>j</sub> = &sum;<sub>k</sub> w<sub>jk</sub><sup>2</sup> / (&sum;<sub>j</sub> w<sub>jk</sub><sup>2</sup> + "
                "b<sub>k</sub><sup>2</sup>) &middot; R<sub>k</sub>",
                "Ignores the input values: relevance follows the squared weights (deep Taylor rule for an "
                "unbounded input layer). The heatmap shows where the model looks, not what the sample holds."),
    "flat": ("flat rule",
             "R<sub>j</sub> = &sum;<sub>k</sub> 1 / (number of inputs of k) &middot; R<sub>k</sub>",
             "Spreads each output's relevance evenly over its receptive field (bias ignored); used on the first "
             "layer of epsilon-plus-flat to give smooth input maps."),
    "zbox": ("z<sup>B</sup> (bounded input)",
             "R<sub>j</sub> = &sum;<sub>k</sub> (x<sub>j</sub>w<sub>jk</sub> &minus; l<sub>j</sub>w<sup>+</sup><sub>jk</sub> &minus; "
             "h<sub>j</sub>w<sup>&minus;</sup><sub>jk</sub>) / &sum;<sub>j</sub>(same) &middot; R<sub>k</sub>",
             "Deep Taylor rule for inputs confined to [low, high] (pixels in [0, 1]): also a dark pixel "
             "can be relevant when the weight says it should be bright or dark."),
}

COMPOSITE_HELP: dict[str, str] = {
    "epsilon-plus": "first layer by its type; conv layers: z<sup>+</sup>; dense layers: &epsilon; (1e-6).",
    "epsilon-plus-flat": "first layer: flat; other conv layers: z<sup>+</sup>; dense layers: &epsilon; (1e-6). "
                         "A good default for images.",
    "epsilon-alpha2-beta1": "first layer by its type; conv layers: &alpha;2&beta;1; dense layers: &epsilon; (1e-6).",
    "epsilon-gamma-box": "first layer: z<sup>B</sup>(low, high); conv layers: &gamma; (0.25); dense layers: &epsilon; (1e-6).",
    "deep-taylor": "first layer: z<sup>B</sup>(low, high); every other layer: z<sup>+</sup>.",
}

BASELINE_HELP: dict[str, tuple[str, str, str]] = {
    "gradient": ("Gradient (saliency)", "R<sub>i</sub> = &part;f<sub>c</sub>(x) / &part;x<sub>i</sub>",
                 "How sensitive the logit is to each input; says nothing about the input's own value."),
    "gradient-x-input": ("Gradient &times; input", "R<sub>i</sub> = x<sub>i</sub> &middot; &part;f<sub>c</sub>/&part;x<sub>i</sub>",
                         "Equals LRP-0 on ReLU networks without bias; noisy for deep networks."),
    "integrated-gradients": ("Integrated gradients",
                             "R<sub>i</sub> = x<sub>i</sub> &middot; (1/m) &sum;<sub>s=1..m</sub> &part;f<sub>c</sub>(s/m &middot; x)/&part;x<sub>i</sub>",
                             "Averages gradients along the straight path from a zero image; sums to f(x) &minus; f(0) "
                             "as the number of steps m grows."),
    "smoothgrad": ("SmoothGrad", "R = mean over n noisy copies of &part;f<sub>c</sub>(x + &eta;)/&part;x, "
                   "&eta; ~ N(0, (noise&middot;range)<sup>2</sup>)",
                   "Averaging gradients of noisy copies removes their high-frequency noise."),
    "occlusion": ("Occlusion", "R<sub>patch</sub> = f<sub>c</sub>(x) &minus; f<sub>c</sub>(x with patch := mean)",
                  "Replaces one patch (or one feature of a flat input) by the sample's mean and measures how much "
                  "the logit drops &mdash; the perturbation check of the notes. Slow: one forward pass per patch."),
}

PARAM_HELP: dict[str, str] = {
    "epsilon": "Stabiliser added to every denominator z_k (with the sign of z_k). Larger: sparser heatmap, "
               "more relevance absorbed (see the conservation plot).",
    "alpha": "Weight of the positive contributions (alpha - beta = 1 is enforced).",
    "beta": "Weight of the negative contributions (beta = alpha - 1).",
    "gamma": "How much extra weight contributions of the same sign as z_k get (0 = LRP-0).",
    "low": "Lowest possible input value (zbox lower bound l).",
    "high": "Highest possible input value (zbox upper bound h).",
    "bias": "Whether the bias b_k takes part in the denominators. Off: relevance is conserved exactly "
            "(up to epsilon); on: biases absorb part of it.",
    "steps": "Number of points m on the path from the zero baseline to x.",
    "samples": "Number of noisy copies averaged.",
    "noise": "Noise standard deviation as a fraction of the input range.",
    "patch": "Side of the square patch replaced by the mean (image inputs).",
}


def method_title(method: str) -> str:
    if method in RULE_HELP:
        return RULE_HELP[method][0]
    if method in BASELINE_HELP:
        return BASELINE_HELP[method][0]
    if method == "custom":
        return "Custom composite"
    return f"Composite {method}"


def rule_html(rule: str, with_title: bool = True) -> str:
    title, formula, text = RULE_HELP[rule]
    heading = f"<b>{title}</b><br>" if with_title else ""
    return f"<p>{heading}<span style='font-family:serif'>{formula}</span><br>{text}</p>"


def method_html(method: str, layer_rules: dict[int, Any] | None = None, layer_names: dict[int, str] | None = None) -> str:
    """Help text of ``method``: formula, what its parameters do and (for composites) the per-layer rules.

    Parameters
    ----------
    layer_rules : dict layer index -> rule name, optional
        The rule each dense/conv layer gets in the current network.
    layer_names : dict layer index -> str, optional
        Display names of those layers (e.g. ``"dense 300"``).
    """
    parts = [f"<h3 style='margin:0'>{method_title(method)} <code>{method}</code></h3>"]
    if method in RULE_HELP:
        parts.append(rule_html(method, with_title=False))
        parts.append("<p>Applied to every dense and conv layer. Activations pass relevance unchanged; max-pooling "
                     "gives it to the winning input.</p>")
    elif method in BASELINE_HELP:
        _, formula, text = BASELINE_HELP[method]
        parts.append(f"<p><span style='font-family:serif'>{formula}</span><br>{text}</p>"
                     "<p>A baseline, not LRP: only the input relevance exists, so the graph shows activations.</p>")
    elif method in COMPOSITE_HELP:
        parts.append(f"<p>{COMPOSITE_HELP[method]}</p>")
    elif method == "custom":
        parts.append("<p>Choose one rule per dense/conv layer in the table; the parameter boxes apply to every "
                     "layer whose rule uses them.</p>")
    if layer_rules:
        rows = "".join(f"<tr><td>{(layer_names or {}).get(i, f'layer {i}')}</td><td>&nbsp;&larr; {r}</td></tr>"
                       for i, r in sorted(layer_rules.items()))
        parts.append(f"<p><b>Rules in this network</b></p><table>{rows}</table>")
        used = sorted({str(r).split("(")[0] for r in layer_rules.values()} - {method})
        for rule in used:
            if rule in RULE_HELP:
                parts.append(rule_html(rule))
    if method not in BASELINE_HELP:
        parts.append(f"<p style='color:#555'>{COMMON}</p>")
    return "".join(parts)
