"""Tabular relevance as a bar chart: row order, the "other" row, colours by sign, and the CLI for CSV data."""

import numpy as np
import pytest
from PIL import Image

from lrp_studio.cli import main
from lrp_studio.data import load_dataset
from lrp_studio.errors import ParameterError
from lrp_studio.viz.bars import NEGATIVE, POSITIVE, ROW, bar_rows, render_relevance_bars


def test_rows_by_decreasing_magnitude_with_the_rest_summed():
    rows = bar_rows(np.array([0.5, -2.0, 0.5, 1.0, 0.1]), ["a", "b", "c", "d", "e"], max_bars=3)
    assert rows == [("b", -2.0), ("d", 1.0), ("a", 0.5), ("other 2 features", pytest.approx(0.6))]
    assert bar_rows(np.array([1.0, -3.0]))[0] == ("feature 1", -3.0)
    with pytest.raises(ParameterError):
        bar_rows(np.ones((2, 2)))
    with pytest.raises(ParameterError):
        bar_rows(np.ones(3), ["a"])


def test_bars_are_red_for_positive_and_blue_for_negative():
    image = render_relevance_bars(np.array([2.0, -1.0]), ["up", "down"])
    rows = [image[10 + k * ROW + ROW // 2] for k in range(2)]  # the middle line of each row (no title)
    assert any((pixel == POSITIVE).all() for pixel in rows[0])
    assert any((pixel == NEGATIVE).all() for pixel in rows[1])
    red = sum((pixel == POSITIVE).all() for pixel in rows[0])
    blue = sum((pixel == NEGATIVE).all() for pixel in rows[1])
    assert red == pytest.approx(2 * blue, abs=2)  # lengths proportional to |relevance|


def test_csv_header_names_the_features_and_explain_draws_bars(tmp_path, capsys):
    rng = np.random.default_rng(0)
    x = rng.random((120, 3))
    y = (x[:, 0] > 0.5).astype(int)
    path = tmp_path / "table.csv"
    path.write_text("age,income,debt,label\n" + "".join(
        ",".join(f"{v:.4f}" for v in row) + f",{label}\n" for row, label in zip(x, y)))
    assert load_dataset(str(path)).features == ["age", "income", "debt"]
    model, png = tmp_path / "tab.npz", tmp_path / "bars.png"
    assert main(["train", "--dataset", str(path), "--arch", "mlp:8", "--epochs", "5", "--out", str(model)]) == 0
    assert main(["explain", "--model", str(model), "--dataset", str(path), "--index", "0", "--out", str(png)]) == 0
    capsys.readouterr()
    chart = np.asarray(Image.open(png).convert("RGB"))
    assert chart.shape[1] > 300 and chart.shape[0] > 3 * ROW  # a chart, not a 1 x 3 image
    assert any(((chart == POSITIVE).all(axis=-1) | (chart == NEGATIVE).all(axis=-1)).ravel())
