"""Gradient-based and perturbation baselines (DESIGN.md 3.3), vectorised over samples and steps."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Mapping

import numpy as np

from lrp_studio.backend import to_numpy, xp_of
from lrp_studio.errors import ParameterError
from lrp_studio.lrp.params import ITERATIONS, NOISE, PATCH, SAMPLES, SEED, STEPS, Param, check_params
from lrp_studio.lrp.perturbation import perturbation_heatmap
from lrp_studio.lrp.taylor import taylor, taylor_segment
from lrp_studio.nn.network import Network

Array = Any


def gradient(net: Network, x: Array, targets: Array) -> Array:
    """d f_target / d x, shaped like ``x`` (N, ...)."""
    xp = xp_of(x)
    trace = net.trace(x)
    seed = xp.zeros_like(trace.output)
    seed[xp.arange(x.shape[0]), targets] = 1
    grad, _ = net.backward(seed, trace)
    return grad


def gradient_x_input(net: Network, x: Array, targets: Array) -> Array:
    """x ⊙ d f_target / d x."""
    return x * gradient(net, x, targets)


def integrated_gradients(net: Network, x: Array, targets: Array, steps: int = 32) -> Array:
    """(x - 0) ⊙ mean over alpha in {1/steps, 2/steps, ..., 1} of grad f_target(alpha x) (zero baseline)."""
    if steps < 1:
        raise ParameterError(f"integrated gradients needs steps >= 1, got {steps}")
    xp = xp_of(x)
    alphas = xp.linspace(1.0 / steps, 1.0, steps, dtype=x.dtype)
    n = x.shape[0]
    total = xp.zeros_like(x)
    chunk = max(1, 4096 // max(n, 1))
    for start in range(0, steps, chunk):
        a = alphas[start : start + chunk]
        path = (a.reshape((-1,) + (1,) * x.ndim) * x[None]).reshape((-1,) + x.shape[1:])
        grads = gradient(net, path, xp.tile(targets, a.shape[0]))
        total += grads.reshape((a.shape[0],) + x.shape).sum(axis=0)
    return x * total / steps


def smoothgrad(net: Network, x: Array, targets: Array, samples: int = 32, noise: float = 0.1,
               seed: int = 0, input_range: tuple[float, float] | None = None) -> Array:
    """Mean gradient over ``samples`` noisy copies, noise std = ``noise`` x (input range width)."""
    if samples < 1 or noise < 0:
        raise ParameterError(f"smoothgrad needs samples >= 1 and noise >= 0, got {samples}, {noise}")
    xp = xp_of(x)
    low, high = input_range if input_range is not None else (float(x.min()), float(x.max()))
    std = noise * (high - low)
    rng = np.random.default_rng(seed)
    noisy = x[None] + xp.asarray(rng.normal(0.0, std, size=(samples,) + x.shape).astype(x.dtype))
    grads = gradient(net, noisy.reshape((-1,) + x.shape[1:]), xp.tile(targets, samples))
    return grads.reshape((samples,) + x.shape).mean(axis=0)


def occlusion(net: Network, x: Array, targets: Array, patch: int = 4) -> Array:
    """Drop of f_target when a patch (images) or a feature (dense inputs) is set to the sample's mean.

    The notes' perturbation heatmap (:func:`~lrp_studio.lrp.perturbation.perturbation_heatmap`) with
    ``patch`` x ``patch`` regions over all channels for images, single features for flat inputs. Each
    input gets its patch's drop divided by the patch size, so the map sums to the sum of drops.

    Parameters
    ----------
    net : Network
    x : array (N, *input_shape), prepared (on the backend)
    targets : (N,) ints
    patch : int
        Patch side in pixels (default 4); ignored for flat inputs.

    Returns
    -------
    array shaped like ``x``, same dtype and backend

    Raises
    ------
    ParameterError
        ``patch`` < 1.
    """
    if int(patch) != patch or patch < 1:
        raise ParameterError(f"occlusion patch size must be an integer >= 1, got {patch}")
    region = int(patch) if x.ndim == 4 else 1
    heat = perturbation_heatmap(net, x, to_numpy(targets), region=region)
    return xp_of(x).asarray(heat, dtype=x.dtype)


@dataclass(frozen=True)
class Baseline:
    """A non-LRP attribution method: its function, declared parameters and formula.

    Attributes
    ----------
    name : str
    function : callable ``(net, x, targets, **params) -> relevance`` shaped like ``x``
    params : tuple of Param
    title, formula, about : str
        Display title, formula and explanation (HTML) for the formula pane.
    needs_input_range : bool
        Whether ``function`` takes the model's ``input_range`` keyword (SmoothGrad's noise scale).
    """

    name: str
    function: Callable[..., Array]
    params: tuple[Param, ...] = ()
    title: str = ""
    formula: str = ""
    about: str = ""
    needs_input_range: bool = False

    def __call__(self, net: Network, x: Array, targets: Array, params: Mapping[str, Any]) -> Array:
        """Relevance (N, ...) for validated ``params`` (see :meth:`check`)."""
        kwargs = dict(params)
        if self.needs_input_range:
            kwargs["input_range"] = net.input_range
        return self.function(net, x, targets, **kwargs)

    def check(self, params: Mapping[str, Any]) -> dict[str, Any]:
        """Validated parameters; raises ParameterError for unknown or out-of-range ones."""
        return check_params(self.name, self.params, params)


BASELINES: dict[str, Baseline] = {
    b.name: b
    for b in (
        Baseline("gradient", gradient, (), "Gradient (saliency)",
                 "R<sub>i</sub> = &part;f<sub>c</sub>(x) / &part;x<sub>i</sub>",
                 "How sensitive the logit is to each input; says nothing about the input's own value."),
        Baseline("gradient-x-input", gradient_x_input, (), "Gradient &times; input",
                 "R<sub>i</sub> = x<sub>i</sub> &middot; &part;f<sub>c</sub>/&part;x<sub>i</sub>",
                 "Equals LRP-0 on ReLU networks without bias; noisy for deep networks."),
        Baseline("integrated-gradients", integrated_gradients, (STEPS,), "Integrated gradients",
                 "R<sub>i</sub> = x<sub>i</sub> &middot; (1/m) &sum;<sub>s=1..m</sub> &part;f<sub>c</sub>(s/m &middot; x)"
                 "/&part;x<sub>i</sub>",
                 "Averages gradients along the straight path from a zero image; sums to f(x) &minus; f(0) "
                 "as the number of steps m grows (Sundararajan et al. 2017)."),
        Baseline("smoothgrad", smoothgrad, (SAMPLES, NOISE, SEED), "SmoothGrad",
                 "R = mean over n noisy copies of &part;f<sub>c</sub>(x + &eta;)/&part;x, "
                 "&eta; ~ N(0, (noise&middot;range)<sup>2</sup>)",
                 "Averaging gradients of noisy copies removes their high-frequency noise (Smilkov et al. 2017).",
                 needs_input_range=True),
        Baseline("occlusion", occlusion, (PATCH,), "Occlusion",
                 "R<sub>patch</sub> = f<sub>c</sub>(x) &minus; f<sub>c</sub>(x with patch := mean)",
                 "Replaces one patch (or one feature of a flat input) by the sample's mean and measures how much "
                 "the logit drops &mdash; the perturbation check of the notes. Slow: one forward pass per patch."),
        Baseline("taylor", taylor, (ITERATIONS,), "Taylor decomposition (root along the gradient)",
                 "R<sub>p</sub> = (x &minus; x&#771;)<sub>p</sub> &middot; &part;f<sub>c</sub>/&part;x<sub>p</sub>(x&#771;), "
                 "f<sub>c</sub>(x&#771;) = 0, x&#771; = x &minus; t &nabla;f/|&nabla;f|",
                 "The notes' plain Taylor decomposition (Montavon et al. 2017): expand the logit at a root point "
                 "found by Newton steps along the gradient direction. Sum R = f(x) only where no ReLU kink lies "
                 "between x and the root; the rest is the conservation gap (higher-order terms)."),
        Baseline("taylor-segment", taylor_segment, (), "Taylor decomposition (root towards zero)",
                 "R<sub>p</sub> = (x &minus; x&#771;)<sub>p</sub> &middot; &part;f<sub>c</sub>/&part;x<sub>p</sub>(x&#771;), "
                 "x&#771; = s x, the largest s in [0, 1] with f<sub>c</sub>(s x) = 0",
                 "Taylor decomposition at the root nearest to x on the segment to the zero input (the zero input "
                 "itself when f keeps its sign); the gap shows how much the choice of root matters."),
    )
}
