"""A residual RGB CNN with BatchNorm, exported from PyTorch to ONNX, opened with ``lrp_studio.load_model``:
same logits as PyTorch and the same relevance as Zennit 0.5.1 (issue 12, "Done when").

The network (``ResNet`` below): stem conv 3x3 (3 -> 8, bias) + BatchNorm + ReLU; a basic block 8 -> 8
with an identity shortcut; a basic block 8 -> 16 with stride 2 and a strided 1x1 projection shortcut
(conv + BatchNorm); global average pooling; linear 16 -> 10. Its weights are PyTorch's initialisation
(seeded), the BatchNorm statistics and affine parameters are random, everything in eval mode.

It is exported twice with the legacy exporter (``dynamo=False``; ``onnxscript`` is not installed):
as PyTorch does by default (``TrainingMode.EVAL`` with constant folding: the exporter fuses each
BatchNorm into its Conv) and with ``TrainingMode.PRESERVE`` (``BatchNormalization`` nodes stay in the
graph and LRP Studio's importer merges them).

The Zennit reference is a twin model with the same parameters whose additions are ``zennit.layer.Sum``
modules (so Zennit's composites apply their ``Norm`` rule there: addend i gets x_i / stab(sum) of the
relevance) and whose BatchNorms are merged by ``zennit.canonizers.NamedMergeBatchNorm``; it runs in
float64. Our side is the public ``explain()`` in float32 on the imported network. Compared: the
gradient and the composites ``epsilon-plus``, ``epsilon-plus-flat``, ``epsilon-alpha2-beta1``,
``epsilon-gamma-box`` (Zennit's ``EpsilonPlus``, ``EpsilonPlusFlat``, ``EpsilonAlpha2Beta1``,
``EpsilonGammaBox(low, high)``), by relative L2 ||ours - zennit|| / ||zennit|| <= 1e-3.

Inputs are real: each sample's R, G and B channels are three different bundled MNIST test digits.

A second, branching model (``Branches``: two paths from the stem joined by ``torch.cat``) checks the
exported ``Concat`` the same way (logits; epsilon-plus and epsilon-alpha2-beta1 against Zennit).
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch", reason="the PyTorch/Zennit agreement needs torch")
pytest.importorskip("zennit", reason="the PyTorch/Zennit agreement needs zennit")
onnx = pytest.importorskip("onnx", reason="the ONNX export needs the onnx package")

from torch import nn  # noqa: E402
from zennit import composites as zc  # noqa: E402
from zennit.attribution import Gradient  # noqa: E402
from zennit.canonizers import NamedMergeBatchNorm  # noqa: E402
from zennit.layer import Sum  # noqa: E402

import lrp_studio  # noqa: E402
from lrp_studio.data import load_mnist_subset  # noqa: E402

SAMPLES = 6
LOW, HIGH = 0.0, 1.0
REL_L2 = 1e-3          # the bound
LOGIT_TOL = 1e-5       # the bound (max |ours - torch|)


class BasicBlock(nn.Module):
    """conv3x3-BN-ReLU-conv3x3-BN, plus the shortcut (identity, or a 1x1 conv + BN when the shape changes), ReLU."""

    def __init__(self, cin: int, cout: int, stride: int, zennit_sum: bool) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(cin, cout, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(cout)
        self.relu1 = nn.ReLU()
        self.conv2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(cout)
        self.proj = self.proj_bn = None
        if stride != 1 or cin != cout:
            self.proj = nn.Conv2d(cin, cout, 1, stride, 0, bias=False)
            self.proj_bn = nn.BatchNorm2d(cout)
        self.sum = Sum() if zennit_sum else None   # Zennit's canonical form of the addition
        self.relu2 = nn.ReLU()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.bn2(self.conv2(self.relu1(self.bn1(self.conv1(x)))))
        shortcut = x if self.proj is None else self.proj_bn(self.proj(x))
        out = out + shortcut if self.sum is None else self.sum(torch.stack([out, shortcut], dim=-1))
        return self.relu2(out)


class ResNet(nn.Module):
    """Stem conv + BN + ReLU, block 8->8, block 8->16 (stride 2, projection), global average pool, linear 10."""

    def __init__(self, zennit_sum: bool = False) -> None:
        super().__init__()
        self.stem = nn.Conv2d(3, 8, 3, 1, 1)
        self.stem_bn = nn.BatchNorm2d(8)
        self.stem_relu = nn.ReLU()
        self.block1 = BasicBlock(8, 8, 1, zennit_sum)
        self.block2 = BasicBlock(8, 16, 2, zennit_sum)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.flatten = nn.Flatten()
        self.fc = nn.Linear(16, 10)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.stem_relu(self.stem_bn(self.stem(x)))
        return self.fc(self.flatten(self.pool(self.block2(self.block1(x)))))


# (linear modules, the BatchNorm that follows them) for NamedMergeBatchNorm
BN_MERGES = [
    (["stem"], "stem_bn"),
    (["block1.conv1"], "block1.bn1"), (["block1.conv2"], "block1.bn2"),
    (["block2.conv1"], "block2.bn1"), (["block2.conv2"], "block2.bn2"), (["block2.proj"], "block2.proj_bn"),
]
COMPOSITES = {  # our method name -> a fresh Zennit composite (with the BatchNorm canonizer)
    "epsilon-plus": lambda: zc.EpsilonPlus(canonizers=[NamedMergeBatchNorm(BN_MERGES)]),
    "epsilon-plus-flat": lambda: zc.EpsilonPlusFlat(canonizers=[NamedMergeBatchNorm(BN_MERGES)]),
    "epsilon-alpha2-beta1": lambda: zc.EpsilonAlpha2Beta1(canonizers=[NamedMergeBatchNorm(BN_MERGES)]),
    "epsilon-gamma-box": lambda: zc.EpsilonGammaBox(low=LOW, high=HIGH, canonizers=[NamedMergeBatchNorm(BN_MERGES)]),
}


@lru_cache(maxsize=None)
def state() -> dict[str, torch.Tensor]:
    """The parameters: PyTorch's seeded initialisation, random BatchNorm statistics and affine parameters."""
    torch.manual_seed(12)
    model = ResNet()
    generator = torch.Generator().manual_seed(3)
    with torch.no_grad():
        for module in model.modules():
            if isinstance(module, nn.BatchNorm2d):
                module.weight.uniform_(0.5, 1.5, generator=generator)
                module.bias.normal_(0.0, 0.3, generator=generator)
                module.running_mean.normal_(0.0, 0.3, generator=generator)
                module.running_var.uniform_(0.5, 2.0, generator=generator)
    return {k: v.clone() for k, v in model.state_dict().items()}


def torch_model(zennit_sum: bool = False, float64: bool = False) -> ResNet:
    model = ResNet(zennit_sum)
    model.load_state_dict(state())
    return (model.double() if float64 else model.float()).eval()


@lru_cache(maxsize=None)
def samples() -> tuple[np.ndarray, np.ndarray]:
    """(SAMPLES, 3, 28, 28) float64 in [0, 1]: channels are three different MNIST digits; and the targets
    (the prediction for odd samples, another class for even ones)."""
    digits = np.asarray(load_mnist_subset("test").x[: 3 * SAMPLES], np.float64).reshape(SAMPLES, 3, 28, 28)
    with torch.no_grad():
        logits = torch_model(float64=True)(torch.from_numpy(digits)).numpy()
    targets = logits.argmax(axis=1)
    targets[::2] = (targets[::2] + 3 + np.arange(0, SAMPLES, 2)) % 10  # other classes too
    return digits, targets


def export(tmp_dir: Path, training: str) -> Path:
    path = tmp_dir / f"resnet-{training.lower()}.onnx"
    torch.onnx.export(torch_model(), (torch.zeros(1, 3, 28, 28),), str(path), input_names=["x"],
                      output_names=["logits"], dynamic_axes={"x": {0: "batch"}, "logits": {0: "batch"}},
                      dynamo=False, training=getattr(torch.onnx.TrainingMode, training))
    model = onnx.load(str(path))
    onnx.helper.set_model_props(model, {"input_range": f"{LOW},{HIGH}"})
    onnx.save(model, str(path))
    return path


@pytest.fixture(scope="module", params=["EVAL", "PRESERVE"])
def exported(request, tmp_path_factory) -> tuple[str, Path]:
    return request.param, export(tmp_path_factory.mktemp("onnx"), request.param)


@lru_cache(maxsize=None)
def zennit_relevance(method: str) -> np.ndarray:
    """Zennit's input relevance (float64, Sum twin) for the one-hot of the targets; plain gradient for 'gradient'."""
    x_np, targets = samples()
    model = torch_model(zennit_sum=True, float64=True)
    x = torch.from_numpy(x_np).requires_grad_(True)
    onehot = torch.zeros(SAMPLES, 10, dtype=x.dtype)
    onehot[torch.arange(SAMPLES), torch.as_tensor(targets)] = 1
    if method == "gradient":  # d logit_target / d x
        with Gradient(model=model) as attributor:
            _, relevance = attributor(x, onehot)
    else:  # relevance starts as logit x one-hot (DESIGN.md 3.2)
        with Gradient(model=model, composite=COMPOSITES[method]()) as attributor:
            _, relevance = attributor(x, lambda out: out * onehot)
    return relevance.detach().numpy()


def relative_l2(ours: np.ndarray, ref: np.ndarray) -> float:
    ours, ref = np.asarray(ours, np.float64).reshape(ref.shape), np.asarray(ref, np.float64)
    return float(np.linalg.norm(ours - ref) / np.linalg.norm(ref))


# ------------------------------------------------------------------------------- the reference itself
def test_twin_with_zennit_sum_computes_the_same_function():
    x = torch.from_numpy(samples()[0])
    with torch.no_grad():
        plain, twin = torch_model(float64=True)(x), torch_model(zennit_sum=True, float64=True)(x)
    np.testing.assert_allclose(twin.numpy(), plain.numpy(), rtol=0, atol=1e-12)


def test_without_the_sum_module_zennit_gives_something_else():
    """Why the twin uses ``zennit.layer.Sum``: at a plain ``+`` autograd hands the whole relevance signal to
    both addends, so Zennit's result is not the canonical one the issue asks to match."""
    x_np, targets = samples()
    onehot = torch.zeros(SAMPLES, 10, dtype=torch.float64)
    onehot[torch.arange(SAMPLES), torch.as_tensor(targets)] = 1
    with Gradient(model=torch_model(float64=True), composite=COMPOSITES["epsilon-plus"]()) as attributor:
        _, plain = attributor(torch.from_numpy(x_np).requires_grad_(True), lambda out: out * onehot)
    assert relative_l2(plain.detach().numpy(), zennit_relevance("epsilon-plus")) > 0.05


# ------------------------------------------------------------------------------- ours against PyTorch and Zennit
def test_imported_network_is_a_graph_with_the_residual_structure(exported):
    training, path = exported
    net = lrp_studio.load_model(path)
    kinds = [layer.type_name for layer in net.layers]
    assert not net.is_sequential and net.input_shape == (3, 28, 28) and net.input_range == (LOW, HIGH)
    assert kinds == ["conv2d", "relu", "conv2d", "relu", "conv2d", "add", "relu",      # stem, block 1
                     "conv2d", "relu", "conv2d", "conv2d", "add", "relu",                # block 2 (+ projection)
                     "globalavgpool", "dense"]                                          # BatchNorms merged
    assert net.node_inputs[5] == (5, 2)             # block 1 adds the stem's ReLU output (identity shortcut)
    assert net.node_inputs[10] == (7,) and net.layers[10].kernel_size == 1 and net.layers[10].stride == 2
    assert net.node_inputs[11] == (10, 11)          # block 2 adds its main path and the 1x1 projection
    if training == "PRESERVE":                      # unfused: node names are the PyTorch modules
        assert [net.names[j] for j in (0, 2, 10, 14)] == ["stem", "block1.conv1", "block2.proj", "fc"]


def test_logits_equal_pytorch(exported):
    _, path = exported
    net = lrp_studio.load_model(path)
    x, _ = samples()
    ours = np.asarray(net.forward(net.prepare_input(x.astype(np.float32))), np.float64)
    with torch.no_grad():
        ref32 = torch_model()(torch.from_numpy(x.astype(np.float32))).numpy()
        ref64 = torch_model(float64=True)(torch.from_numpy(x)).numpy()
    assert np.abs(ours - ref32).max() <= LOGIT_TOL
    assert np.abs(ours - ref64).max() <= LOGIT_TOL


@pytest.mark.parametrize("method", ["gradient", *COMPOSITES])
def test_relevance_equals_zennit(exported, method):
    _, path = exported
    net = lrp_studio.load_model(path)
    x, targets = samples()
    exp = lrp_studio.explain(net, x.astype(np.float32), target=targets, method=method)
    error = relative_l2(exp.relevance, zennit_relevance(method))
    assert error <= REL_L2, f"{method}: relative L2 to Zennit {error:.3g} > {REL_L2:g}"


# ------------------------------------------------------------------------------- a branching (concat) network
class Branches(nn.Module):
    """Two branches from one stage concatenated along the channels (``torch.cat``), as in Inception blocks:
    stem conv+BN+ReLU (3->4), then conv3x3+BN+ReLU (4->4) and conv1x1+ReLU (4->3), cat -> 7 channels,
    conv3x3 stride 2 + ReLU, AdaptiveAvgPool2d(1), linear 10."""

    def __init__(self) -> None:
        super().__init__()
        self.stem, self.stem_bn, self.stem_relu = nn.Conv2d(3, 4, 3, 1, 1), nn.BatchNorm2d(4), nn.ReLU()
        self.a, self.a_bn, self.a_relu = nn.Conv2d(4, 4, 3, 1, 1, bias=False), nn.BatchNorm2d(4), nn.ReLU()
        self.b, self.b_relu = nn.Conv2d(4, 3, 1), nn.ReLU()
        self.mix, self.mix_relu = nn.Conv2d(7, 8, 3, 2, 1), nn.ReLU()
        self.pool, self.fc = nn.AdaptiveAvgPool2d(1), nn.Linear(8, 10)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.stem_relu(self.stem_bn(self.stem(x)))
        x = torch.cat([self.a_relu(self.a_bn(self.a(x))), self.b_relu(self.b(x))], dim=1)
        return self.fc(torch.flatten(self.pool(self.mix_relu(self.mix(x))), 1))


@lru_cache(maxsize=None)
def branches_model() -> Branches:
    torch.manual_seed(5)
    model = Branches()
    with torch.no_grad():
        for bn in (model.stem_bn, model.a_bn):
            bn.weight.uniform_(0.5, 1.5)
            bn.bias.normal_(0.0, 0.3)
            bn.running_mean.normal_(0.0, 0.3)
            bn.running_var.uniform_(0.5, 2.0)
    return model.double().eval()


def test_concat_network_from_pytorch_equals_pytorch_and_zennit(tmp_path):
    """torch.cat exports as Concat(axis=1); Zennit needs no canonical form there (autograd splits the
    relevance by slices, as our concat rule). Both composites give the first-layer rule by type, so the
    two layers reading the stem agree with Zennit's module-order "first layer"."""
    model = branches_model()
    path = tmp_path / "branches.onnx"
    torch.onnx.export(model.float(), (torch.zeros(1, 3, 28, 28),), str(path), input_names=["x"],
                      output_names=["logits"], dynamic_axes={"x": {0: "batch"}}, dynamo=False)
    model.double()
    net = lrp_studio.load_model(path)
    assert [layer.type_name for layer in net.layers] == [
        "conv2d", "relu", "conv2d", "relu", "conv2d", "relu", "concat", "conv2d", "relu", "globalavgpool", "dense"]
    assert net.node_inputs[4] == (2,) and net.node_inputs[6] == (4, 6)   # both branches read the stem's ReLU
    x, targets = samples()
    with torch.no_grad():
        reference = model(torch.from_numpy(x)).numpy()
    assert np.abs(np.asarray(net.forward(net.prepare_input(x.astype(np.float32)))) - reference).max() <= LOGIT_TOL
    onehot = torch.zeros(SAMPLES, 10, dtype=torch.float64)
    onehot[torch.arange(SAMPLES), torch.as_tensor(targets)] = 1
    merge = [(["stem"], "stem_bn"), (["a"], "a_bn")]
    for method, composite in (("epsilon-plus", zc.EpsilonPlus), ("epsilon-alpha2-beta1", zc.EpsilonAlpha2Beta1)):
        with Gradient(model=model, composite=composite(canonizers=[NamedMergeBatchNorm(merge)])) as attributor:
            _, ref = attributor(torch.from_numpy(x).requires_grad_(True), lambda out: out * onehot)
        ours = lrp_studio.explain(net, x.astype(np.float32), target=targets, method=method).relevance
        error = relative_l2(ours, ref.detach().numpy())
        assert error <= REL_L2, f"{method}: relative L2 to Zennit {error:.3g} > {REL_L2:g}"
