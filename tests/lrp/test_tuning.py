"""Rule tuning (lrp/tuning.py): layer groups, the grid with the default, AOPC per point against evaluate's."""

from __future__ import annotations

import csv
import json

import numpy as np
import pytest

from lrp_studio.data import load_mnist_subset
from lrp_studio.errors import ParameterError
from lrp_studio.lrp.faithfulness import EvaluationSettings, evaluate_methods
from lrp_studio.lrp.tuning import grid_points, make_grid, parameter_groups, tune
from lrp_studio.zoo import bundled_model_path, load_model


@pytest.fixture(scope="module")
def cnn():
    net = load_model(bundled_model_path("cnn"))
    data = load_mnist_subset("test")
    x = net.prepare_input(data.x[[0, 110, 220, 330, 440, 550]])
    return net, x, np.asarray(net.predict(x).argmax(axis=1), dtype=np.int64)


def test_parameter_groups_follow_the_composite(cnn):
    net = cnn[0]
    groups = parameter_groups(net, "epsilon-gamma-box")
    assert groups == {"epsilon": ["dense (layer 7)", "dense (layer 9)"], "gamma": ["conv2d (layer 3)"]}
    assert parameter_groups(net, "gamma") == {"gamma": ["conv2d (layer 0)", "conv2d (layer 3)", "dense (layer 7)",
                                                        "dense (layer 9)"]}
    with pytest.raises(ParameterError, match="no parameter to tune"):
        parameter_groups(net, "deep-taylor")


def test_grid_always_holds_the_default():
    grid = make_grid("epsilon-gamma-box", ["gamma", "epsilon"], {"gamma": [0.0, 1.0], "epsilon": [0.1]})
    assert grid == {"gamma": [0.0, 0.25, 1.0], "epsilon": [1e-6, 0.1]}
    assert len(grid_points(grid)) == 6 and grid_points(grid)[0] == {"gamma": 0.0, "epsilon": 1e-6}


def test_each_row_is_evaluates_aopc_and_the_best_beats_the_default(cnn, tmp_path):
    net, x, targets = cnn
    settings = EvaluationSettings(steps=10, seed=2)
    result = tune(net, x, targets, "epsilon-gamma-box", {"gamma": [0.0, 1.0], "epsilon": [1e-6]}, settings)
    assert [r.params["gamma"] for r in result.rows] == [0.0, 0.25, 1.0]
    assert [r.default for r in result.rows] == [False, True, False]
    for row in result.rows:  # the twin: evaluate's own scoring of the same setting
        scored = evaluate_methods(net, x, targets, ["epsilon-gamma-box"], EvaluationSettings(
            steps=10, seed=2, method_params={"epsilon-gamma-box": row.params}), include_random=False)
        assert row.aopc == pytest.approx(scored["epsilon-gamma-box"].aopc, rel=1e-12)
    assert len({round(r.aopc, 9) for r in result.rows}) == 3  # gamma changes the maps and the score
    assert result.best.aopc == max(r.aopc for r in result.rows) >= result.default.aopc
    assert "paired difference" in result.best_vs_default()
    result.save(tmp_path / "t.csv")
    result.save(tmp_path / "t.json")
    with open(tmp_path / "t.csv", newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert [float(r["aopc"]) for r in rows] == pytest.approx([r.aopc for r in result.rows])
    report = json.loads((tmp_path / "t.json").read_text())
    assert report["best"] == result.best.params and report["groups"]["gamma"] == ["conv2d (layer 3)"]
