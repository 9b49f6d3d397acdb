"""Sanity checks of explanation methods: parameter randomisation, random logit, sparseness, complexity.

- **Model parameter randomisation** (MPRT, Adebayo et al. 2018, "Sanity checks for saliency maps"): the
  dense/conv layers are re-drawn one after another, cascading from the output down; after each layer the
  heatmap of the randomised model is compared with the original one (Spearman rank correlation of |R|,
  :func:`scipy.stats.spearmanr`, and SSIM of the signed maps, :func:`skimage.metrics.structural_similarity`). A method that
  explains the model should lose its similarity quickly; one whose curve stays high shows the input more
  than the model.
- **Efficient MPRT** (eMPRT, Hedström et al. 2023, "Sanity checks revisited"): the relative rise in the
  explanation's complexity (discrete entropy of a 100-bin histogram, as Quantus' ``EfficientMPRT``)
  from the original to the fully randomised model, ``(H_random - H_original) / H_original``; higher is
  better.
- **Random logit** (Sixt et al. 2020, "When explanations lie"; Quantus' ``RandomLogit``): similarity of
  the explanation of a random other class (uniform, seeded) to that of the predicted class; z+ and
  alpha-beta maps were shown to barely change. Lower is better.
- **Sparseness** (Gini index of |R|, Chalasani et al. 2020; Hurley & Rickard 2009) and **complexity**
  (Shannon entropy of |R| / sum |R|, Bhatt et al. 2020), per map. Neither is "better" on its own.

The randomised weights are drawn from N(0, sd) with sd the standard deviation of the trained layer's
weights (biases likewise; Adebayo et al. re-initialise from a truncated normal), from a seeded
generator, so every method sees the same randomised models.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, Iterator, Sequence

import numpy as np

from lrp_studio.backend import get_xp, to_numpy
from lrp_studio.lrp.faithfulness import explain_in_batches
from lrp_studio.lrp.metrics import node_label
from lrp_studio.nn.network import Network

#: The metrics of :func:`sanity_scores`, in their table order.
SANITY_METRICS = ("randomisation", "random-logit", "sparseness", "complexity")
#: Histogram bins of eMPRT's discrete entropy (Quantus' default).
EMPRT_BINS = 100


def gini(relevance: np.ndarray) -> np.ndarray:
    """Gini index of each map's absolute values (Chalasani et al. 2020, Quantus ``Sparseness``).

    ``G = sum_i (2 i - n - 1) a_(i) / (n sum_i a_(i))`` with a_(1) <= ... <= a_(n) the sorted |R|:
    0 for a uniform map, (n - 1) / n when one value holds everything.

    Parameters
    ----------
    relevance : ndarray (N, ...)

    Returns
    -------
    ndarray (N,) float64; NaN for an all-zero map
    """
    a = np.sort(np.abs(np.asarray(relevance, dtype=np.float64).reshape(len(relevance), -1)), axis=1)
    n = a.shape[1]
    weights = 2 * np.arange(1, n + 1) - n - 1
    with np.errstate(divide="ignore", invalid="ignore"):
        return (a @ weights) / (n * a.sum(axis=1))


def complexity(relevance: np.ndarray) -> np.ndarray:
    """Shannon entropy (nats) of each map's |R| / sum |R| (Bhatt et al. 2020, Quantus ``Complexity``).

    Parameters
    ----------
    relevance : ndarray (N, ...)

    Returns
    -------
    ndarray (N,) float64: 0 for a map with one non-zero value, log(n) for a uniform one
    """
    from scipy.stats import entropy  # imported on use (here and below): scipy.stats adds ~0.7 s to the app's start

    a = np.abs(np.asarray(relevance, dtype=np.float64).reshape(len(relevance), -1))
    return np.array([entropy(row) if row.sum() > 0 else np.nan for row in a])


def discrete_entropy(relevance: np.ndarray, bins: int = EMPRT_BINS) -> np.ndarray:
    """Entropy of each map's histogram of ``bins`` equal-width bins (eMPRT's complexity, as Quantus)."""
    from scipy.stats import entropy

    flat = np.asarray(relevance, dtype=np.float64).reshape(len(relevance), -1)
    return np.array([entropy(np.histogram(row, bins=bins)[0]) for row in flat])


def spearman(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Spearman rank correlation of the absolute values of each pair of maps (N,); NaN where a map is constant.

    Absolute values as in Adebayo et al. (2018, "rank correlation (abs)"): the sign of a map explaining a
    randomised logit is arbitrary, its ranking of where the evidence sits is not.
    """
    from scipy.stats import spearmanr

    a, b = (np.abs(np.asarray(v, dtype=np.float64).reshape(len(v), -1)) for v in (a, b))
    out = np.full(len(a), np.nan)
    for i in range(len(a)):
        if np.ptp(a[i]) > 0 and np.ptp(b[i]) > 0:
            out[i] = spearmanr(a[i], b[i]).statistic
    return out


def ssim(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """SSIM of each pair of image maps (N, C, H, W) or (N, H, W), each scaled by its max |R| (range 2).

    Returns NaN for maps that are not images (fewer than 7 pixels a side) or all zero.
    """
    from skimage.metrics import structural_similarity

    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    if a.ndim == 3:
        a, b = a[:, None], b[:, None]
    out = np.full(len(a), np.nan)
    if a.ndim != 4 or min(a.shape[2:]) < 7:
        return out
    for i in range(len(a)):
        sa, sb = np.abs(a[i]).max(), np.abs(b[i]).max()
        if sa > 0 and sb > 0:
            out[i] = structural_similarity(a[i] / sa, b[i] / sb, data_range=2.0, channel_axis=0)
    return out


def randomisation_order(net: Network) -> list[int]:
    """The dense/conv layers in the order MPRT randomises them: from the output down."""
    return list(reversed(net.linear_indices))


def cascade(net: Network, seed: int = 0) -> Iterator[tuple[str, Network]]:
    """Yield (layer name, model) with one more dense/conv layer randomised each time, from the output down.

    The same ``net`` copy is changed in place and yielded each time (explain it before the next step).
    """
    model = net.copy()
    rng = np.random.default_rng(seed)
    xp = get_xp()
    for index in randomisation_order(net):
        for name, value in model.layers[index].params.items():
            values = to_numpy(value)
            drawn = rng.normal(0.0, float(values.std()) or 1e-2, size=values.shape)
            model.layers[index].params[name] = xp.asarray(drawn, dtype=values.dtype)
        yield node_label(net, index), model


def random_other_classes(targets: np.ndarray, n_classes: int, seed: int = 0) -> np.ndarray:
    """A uniformly drawn class other than ``targets[i]`` per sample (seeded)."""
    rng = np.random.default_rng(seed)
    shift = rng.integers(1, n_classes, size=len(targets))
    return (np.asarray(targets) + shift) % n_classes


@dataclass
class SanityScore:
    """One method's sanity figures (means over samples).

    Attributes
    ----------
    method : str
    layers : list of str
        The randomised layers, in cascade order (output first).
    spearman, ssim : list of float
        MPRT: mean similarity to the original map after each layer of ``layers`` was randomised.
    emprt : float
        Mean relative rise in complexity from the original to the fully randomised model (higher better).
    logit_spearman, logit_ssim : float
        Random logit: mean similarity of a random other class's map to the predicted class's.
    sparseness, complexity : float
        Mean Gini index and mean entropy of the original maps.
    """

    method: str
    layers: list[str] = field(default_factory=list)
    spearman: list[float] = field(default_factory=list)
    ssim: list[float] = field(default_factory=list)
    emprt: float = float("nan")
    logit_spearman: float = float("nan")
    logit_ssim: float = float("nan")
    sparseness: float = float("nan")
    complexity: float = float("nan")

    def as_dict(self) -> dict[str, Any]:
        return {"layers": self.layers, "spearman": self.spearman, "ssim": self.ssim, "emprt": self.emprt,
                "random_logit": {"spearman": self.logit_spearman, "ssim": self.logit_ssim},
                "sparseness": self.sparseness, "complexity": self.complexity}


def _mean(values: np.ndarray) -> float:
    finite = np.asarray(values)[np.isfinite(values)]
    return float(finite.mean()) if finite.size else float("nan")


def iter_sanity(net: Network, x: Any, targets: np.ndarray, methods: Sequence[Any],
                metrics: Sequence[str] = SANITY_METRICS, method_params: dict[str, dict[str, Any]] | None = None,
                seed: int = 0, batch_size: int = 50,
                progress: Callable[[str], None] | None = None) -> Iterator[SanityScore]:
    """The sanity figures of one method after another (a generator: the GUI's worker stops between methods).

    Parameters
    ----------
    net : Network
    x : array (N, ...)
    targets : ndarray (N,) int
        The explained classes (usually the predicted ones).
    methods : sequence of method names
    metrics : subset of :data:`SANITY_METRICS`
    method_params : dict method -> keywords of :func:`lrp_studio.explain`
    seed : int
        Seeds the randomised weights (the same cascade for every method) and the random classes.
    batch_size : int
    progress : callable, optional
        Called with a short text before each step (CLI progress).

    Yields
    ------
    SanityScore
    """
    params = method_params or {}
    xb = np.asarray(to_numpy(net.prepare_input(x)), dtype=np.float32)
    targets = np.asarray(targets, dtype=np.int64)
    for method in methods:
        name = str(method)

        def maps(model: Network, which: np.ndarray) -> np.ndarray:
            return explain_in_batches(model, xb, which, method, batch_size, **params.get(name, {}))

        if progress:
            progress(f"{name}: original maps")
        score, base = SanityScore(name), maps(net, targets)
        if "sparseness" in metrics:
            score.sparseness = _mean(gini(base))
        if "complexity" in metrics:
            score.complexity = _mean(complexity(base))
        if "random-logit" in metrics:
            other = maps(net, random_other_classes(targets, net.n_classes, seed))
            score.logit_spearman, score.logit_ssim = _mean(spearman(base, other)), _mean(ssim(base, other))
        if "randomisation" in metrics:
            randomised = base
            for layer, model in cascade(net, seed):
                if progress:
                    progress(f"{name}: randomised down to {layer}")
                randomised = maps(model, targets)
                score.layers.append(layer)
                score.spearman.append(_mean(spearman(base, randomised)))
                score.ssim.append(_mean(ssim(base, randomised)))
            before = discrete_entropy(base)
            with np.errstate(divide="ignore", invalid="ignore"):
                score.emprt = _mean((discrete_entropy(randomised) - before) / before)
        yield score


def sanity_scores(net: Network, x: Any, targets: np.ndarray, methods: Sequence[Any],
                  metrics: Sequence[str] = SANITY_METRICS, method_params: dict[str, dict[str, Any]] | None = None,
                  seed: int = 0, batch_size: int = 50,
                  progress: Callable[[str], None] | None = None) -> dict[str, SanityScore]:
    """:func:`iter_sanity` as a dict method -> SanityScore (same arguments)."""
    return {s.method: s for s in iter_sanity(net, x, targets, methods, metrics, method_params, seed, batch_size,
                                             progress)}


def rankings(scores: dict[str, SanityScore], aopc: dict[str, float] | None = None) -> dict[str, list[str]]:
    """Methods best first under each criterion (NaN last); what "best" means is stated per key.

    Keys: ``"aopc"`` (higher), ``"mprt spearman"`` (lower similarity after the full cascade),
    ``"emprt"`` (higher), ``"random-logit spearman"`` (lower), ``"sparseness"`` (higher Gini),
    ``"complexity"`` (lower entropy).
    """
    criteria = {
        "mprt spearman": (lambda s: s.spearman[-1] if s.spearman else np.nan, 1),
        "emprt": (lambda s: s.emprt, -1),
        "random-logit spearman": (lambda s: s.logit_spearman, 1),
        "sparseness": (lambda s: s.sparseness, -1),
        "complexity": (lambda s: s.complexity, 1),
    }
    out = {}
    if aopc:
        out["aopc"] = sorted(aopc, key=lambda m: -aopc[m])
    for key, (value, sign) in criteria.items():
        values = {name: value(s) for name, s in scores.items()}
        if all(np.isnan(v) for v in values.values()):
            continue
        out[key] = sorted(values, key=lambda m: (np.isnan(values[m]), sign * values[m]))
    return out
