"""Whatever the model loader accepts runs; what cannot run is refused at load (issue 13, point 7)."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

import lrp_studio
from lrp_studio.errors import LRPStudioError, ModelFileError
from lrp_studio.io import load_model, save_model
from lrp_studio.io.model import MAX_SAMPLE_VALUES
from lrp_studio.lrp.explain import explain_neuron
from lrp_studio.nn import Network, fit
from lrp_studio.nn.functional import max_windows, route_to_winners, winner_dtype
from lrp_studio.nn.layers import layer_from_spec


def pool_net(kind, kernel, stride, size, channels=2):
    spec = {"input_shape": [channels, size, size], "layers": [{"type": kind, "kernel_size": kernel, "stride": stride}]}
    out = layer_from_spec(spec["layers"][0]).output_shape((channels, size, size))
    spec["layers"] += [{"type": "flatten"}, {"type": "dense", "in_features": int(np.prod(out)), "out_features": 3}]
    return Network.from_spec(spec, seed=0)


def test_max_pool_kernel_17_from_a_file_explains_and_trains(tmp_path):
    """The issue's case: a valid file with a 17x17 max-pool loaded, then failed with OverflowError (uint8)."""
    path = save_model(pool_net("maxpool2d", 17, 17, 34), tmp_path / "pool17.npz")
    net = load_model(path)
    x = np.random.default_rng(0).uniform(size=(3, 2, 34, 34)).astype(np.float32)
    for method in ("lrp0", "epsilon-plus", "gradient", "occlusion"):
        exp = lrp_studio.explain(net, x, method=method)
        assert np.isfinite(exp.relevance).all()
    exp = lrp_studio.explain(net, x, method="lrp0", bias=False)  # lrp0 without bias conserves exactly
    np.testing.assert_allclose(exp.relevance.reshape(3, -1).sum(axis=1), exp.explained, rtol=1e-4)
    assert np.isfinite(explain_neuron(net, x, 1, 5).relevance).all()
    fit(net, x, np.array([0, 1, 2]), epochs=1, batch_size=3, lr=0.01)


@pytest.mark.parametrize("kernel", [2, 16, 17, 40])
def test_max_windows_winner_is_the_first_maximum_for_every_kernel(kernel):
    """Formula-literal twin: per window, the row-major offset of the first maximum; relevance goes there."""
    rng = np.random.default_rng(kernel)
    size = 2 * kernel + 1
    x = rng.integers(0, 3, size=(2, 1, size, size)).astype(np.float32)  # many ties
    best, winner = max_windows(x, kernel, kernel)
    assert winner.dtype == winner_dtype(kernel) and int(winner.max()) < kernel * kernel
    for n, i, j in itertools.product(range(2), range(best.shape[2]), range(best.shape[3])):
        window = x[n, 0, i * kernel:(i + 1) * kernel, j * kernel:(j + 1) * kernel].reshape(-1)
        assert best[n, 0, i, j] == window.max() and winner[n, 0, i, j] == int(np.argmax(window))
    values = rng.normal(size=best.shape).astype(np.float32)
    routed = route_to_winners(values, winner, x.shape, kernel, kernel)
    np.testing.assert_allclose(routed.sum(axis=(2, 3)), values.sum(axis=(2, 3)), rtol=1e-5)


def test_winner_dtype_holds_every_offset():
    assert winner_dtype(16) == np.uint8 and winner_dtype(17) == np.uint16
    assert winner_dtype(256) == np.uint16 and winner_dtype(257) == np.uint32


def test_pooling_beyond_the_work_limit_is_refused_at_load(tmp_path):
    """k*k passes over the output: a pooling layer whose window values exceed the per-sample limit."""
    kernel, size = 2048, 4096  # 4096x4096 input, stride 1: 2049^2 outputs x 2048^2 offsets
    spec = {"input_shape": [1, size, size], "layers": [{"type": "maxpool2d", "kernel_size": kernel, "stride": 1}]}
    from lrp_studio.io.model import Refused, check_layer_sizes

    layers = [layer_from_spec(entry) for entry in spec["layers"]]
    shapes = [(1, size, size), tuple(layers[0].output_shape((1, size, size)))]
    assert np.prod(shapes[0]) < MAX_SAMPLE_VALUES  # the input alone is within the limit
    with pytest.raises(Refused, match="layer 0 would need"):
        check_layer_sizes(layers, shapes)


def test_small_pooling_and_conv_configurations_all_run(tmp_path):
    """Every small conv/pool configuration the loader accepts explains with every method family."""
    problems = []
    for kind, k, s, size in itertools.product(["maxpool2d", "avgpool2d"], [1, 3, 17], [1, 2, 20], [17, 40]):
        try:
            net = load_model(save_model(pool_net(kind, k, s, size), tmp_path / "m.npz"))
        except (LRPStudioError, ModelFileError):
            continue
        x = np.random.default_rng(0).uniform(size=(2, 2, size, size)).astype(np.float32)
        for method in ("lrp0", "epsilon-plus-flat", "epsilon-gamma-box", "gradient"):
            try:
                assert np.isfinite(lrp_studio.explain(net, x, method=method).relevance).all()
            except Exception as error:  # noqa: BLE001 - collected, reported below
                problems.append((kind, k, s, size, method, repr(error)))
    assert problems == []
