"""Input normalisation as the network's first node: z-box bounds from input_range, mean and std; LRP and
gradients through it; the model file round trip."""

import numpy as np
import pytest

from lrp_studio.errors import ModelFileError
from lrp_studio.io import load_model, save_model
from lrp_studio.lrp import explain
from lrp_studio.lrp.explain import resolve_rules
from lrp_studio.nn.network import Network

MEAN, STD = [0.485, 0.456, 0.406], [0.229, 0.224, 0.225]  # torchvision's ImageNet statistics


def _layers(normalize: bool):
    body = [{"type": "conv2d", "in_channels": 3, "out_channels": 4, "kernel_size": 3, "stride": 1, "padding": 1},
            {"type": "relu"}, {"type": "conv2d", "in_channels": 4, "out_channels": 4, "kernel_size": 3, "stride": 1,
                               "padding": 1},
            {"type": "relu"}, {"type": "flatten"}, {"type": "dense", "in_features": 4 * 6 * 6, "out_features": 3}]
    return ([{"type": "normalize", "mean": MEAN, "std": STD}] if normalize else []) + body


def _pair():
    """The same weights with and without the normalize node in front."""
    plain = Network.from_spec({"input_shape": [3, 6, 6], "layers": _layers(False), "input_range": [0.0, 1.0]}, seed=3)
    normed = Network.from_spec({"input_shape": [3, 6, 6], "layers": _layers(True), "input_range": [0.0, 1.0]}, seed=3)
    for j, layer in enumerate(plain.layers):
        for key, value in layer.params.items():
            normed.layers[j + 1].params[key] = value.copy()
    return plain, normed


def _x():
    return np.random.default_rng(1).random((3, 3, 6, 6)).astype(np.float32)


def _by_hand(value):
    """(value - mean_c) / std_c written out for each channel, (3, 6, 6)."""
    out = np.empty((3, 6, 6))
    for c in range(3):
        out[c] = (value - MEAN[c]) / STD[c]
    return out


def test_zbox_bounds_follow_from_input_range_mean_and_std():
    _, normed = _pair()
    rules = resolve_rules(normed, "epsilon-gamma-box", {})
    first = rules[1]  # layer 0 is the normalize node; layer 1 the first conv
    assert type(first).__name__ == "ZBox"
    np.testing.assert_allclose(first.low, _by_hand(0.0))
    np.testing.assert_allclose(first.high, _by_hand(1.0))
    np.testing.assert_allclose(first.low[:, 0, 0], [-2.117904, -2.035714, -1.804444], atol=1e-6)
    np.testing.assert_allclose(first.high[:, 0, 0], [2.248908, 2.428571, 2.64], atol=1e-6)


def test_user_bounds_are_given_in_input_units_and_normalised_too():
    _, normed = _pair()
    rules = resolve_rules(normed, "epsilon-gamma-box", {"low": [0.1, 0.2, 0.3], "high": 0.9})
    expected_low = np.stack([(v - MEAN[c]) / STD[c] * np.ones((6, 6)) for c, v in enumerate([0.1, 0.2, 0.3])])
    np.testing.assert_allclose(rules[1].low, expected_low)
    np.testing.assert_allclose(rules[1].high, _by_hand(0.9))


@pytest.mark.parametrize("method", ["epsilon-gamma-box", "deep-taylor", "epsilon-plus-flat", "epsilon"])
def test_lrp_through_the_node_equals_lrp_on_the_normalised_tensor(method):
    """The same network without the node, fed (x - mean) / std with the normalised bounds: the same relevance."""
    plain, normed = _pair()
    x = _x()
    z = (x - np.array(MEAN, np.float32)[:, None, None]) / np.array(STD, np.float32)[:, None, None]
    ours = explain(normed, x, method=method)
    box = {"low": [(0 - m) / s for m, s in zip(MEAN, STD)], "high": [(1 - m) / s for m, s in zip(MEAN, STD)]}
    takes_box = method in ("epsilon-gamma-box", "deep-taylor")
    reference = explain(plain, z, method=method, **(box if takes_box else {}))
    np.testing.assert_allclose(ours.logits, reference.logits, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(ours.relevance, reference.relevance, rtol=1e-4, atol=1e-6)
    report = ours.conservation()
    assert abs(report.sums[1, 0] - report.sums[0, 0]) < 1e-5 * max(1.0, abs(report.sums[0, 0]))  # the node passes R


def test_gradient_through_the_node_is_the_chain_rule():
    """d f / d x = (d f / d z) / std per channel, z = (x - mean) / std; gradient x input uses the raw x."""
    plain, normed = _pair()
    x = _x()
    std = np.array(STD, np.float32)[:, None, None]
    z = (x - np.array(MEAN, np.float32)[:, None, None]) / std
    grad_z = explain(plain, z, target=0, method="gradient").relevance
    np.testing.assert_allclose(explain(normed, x, target=0, method="gradient").relevance, grad_z / std,
                               rtol=1e-5, atol=1e-7)
    np.testing.assert_allclose(explain(normed, x, target=0, method="gradient-x-input").relevance, x * grad_z / std,
                               rtol=1e-5, atol=1e-7)


def test_model_file_round_trip_keeps_the_normalisation(tmp_path):
    _, normed = _pair()
    path = save_model(normed, tmp_path / "normed.npz")
    loaded = load_model(path)
    assert loaded.layers[0].type_name == "normalize"
    assert loaded.layers[0].mean == MEAN and loaded.layers[0].std == STD
    x = _x()
    np.testing.assert_allclose(loaded.predict(x), normed.predict(x), rtol=1e-6)
    np.testing.assert_allclose(explain(loaded, x, method="epsilon-gamma-box").relevance,
                               explain(normed, x, method="epsilon-gamma-box").relevance, rtol=1e-6)


@pytest.mark.parametrize("entry, message", [
    ({"type": "normalize", "mean": MEAN, "std": [0.2, 0.0, 0.2]}, "std must be > 0"),
    ({"type": "normalize", "mean": MEAN, "std": [0.2, 0.2]}, "mean has 3 values, std 2"),
    ({"type": "normalize", "mean": [0.5], "std": [0.2]}, "does not have 1 channels"),
    ({"type": "normalize", "mean": "0.5", "std": [0.2, 0.2, 0.2]}, "mean must be a list of 1 to 4096 finite numbers"),
])
def test_bad_normalisation_entries_are_refused_with_one_line(tmp_path, entry, message):
    import json

    _, normed = _pair()
    path = save_model(normed, tmp_path / "m.npz")
    with np.load(path, allow_pickle=False) as npz:
        arrays = {key: npz[key] for key in npz.files}
    arch = json.loads(str(arrays["architecture"]))
    arch["layers"][0] = {**entry, "name": "0", "inputs": ["input"]}
    arrays["architecture"] = np.array(json.dumps(arch))
    np.savez(tmp_path / "bad.npz", **arrays)
    with pytest.raises(ModelFileError, match=message) as error:
        load_model(tmp_path / "bad.npz")
    assert "\n" not in str(error.value)


def test_agrees_with_zennit_epsilon_gamma_box_on_the_normalised_tensor():
    """Zennit's usual set-up: the normalisation outside the model, ZBox given the normalised bounds."""
    torch = pytest.importorskip("torch")
    zennit_composites = pytest.importorskip("zennit.composites")

    plain, normed = _pair()
    x = _x().astype(np.float64)
    model = torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3, padding=1), torch.nn.ReLU(), torch.nn.Conv2d(4, 4, 3, padding=1),
                                torch.nn.ReLU(), torch.nn.Flatten(), torch.nn.Linear(144, 3)).double()
    with torch.no_grad():
        for j, module in ((0, model[0]), (2, model[2]), (5, model[5])):
            module.weight.copy_(torch.from_numpy(np.asarray(plain.layers[j].params["weight"], dtype=np.float64)))
            module.bias.copy_(torch.from_numpy(np.asarray(plain.layers[j].params["bias"], dtype=np.float64)))
    mean = torch.tensor(MEAN, dtype=torch.float64)[:, None, None]
    std = torch.tensor(STD, dtype=torch.float64)[:, None, None]
    z = ((torch.from_numpy(x) - mean) / std).requires_grad_(True)
    low = ((0 - mean) / std).expand(3, 6, 6).expand(len(x), 3, 6, 6)
    high = ((1 - mean) / std).expand(3, 6, 6).expand(len(x), 3, 6, 6)
    composite = zennit_composites.EpsilonGammaBox(low=low, high=high, epsilon=1e-6, gamma=0.25)
    with composite.context(model) as modified:
        out = modified(z)
        target = out.argmax(dim=1)
        start = torch.zeros_like(out).scatter(1, target[:, None], out.gather(1, target[:, None]))
        (grad,) = torch.autograd.grad(out, z, start)
    ours = explain(normed, x.astype(np.float32), target=target.numpy(), method="epsilon-gamma-box").relevance
    reference = grad.numpy()
    assert np.abs(ours - reference).max() <= 5e-5 * np.abs(reference).max()
