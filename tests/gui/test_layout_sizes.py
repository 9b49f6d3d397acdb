"""Points 9-12 of issue 13: the window at 1280x800, 1536x940 and 1600x1000 (geometry, stale text, small things)."""

from __future__ import annotations

import os
import subprocess
import sys

import numpy as np
import pytest
from PySide6.QtWidgets import QApplication

from lrp_studio.data import resource_path

SIZES = [(1280, 800), (1536, 940), (1600, 1000)]
#: Smallest compare heatmap side (px) with the graph keeping half the height: one-line titles give
#: 47 px at 1536x940 and 1600x1000 (40 with two-line titles, 30 before); at 1280x800, 31 px.
# Smallest compare-grid heatmap side per window width. 31 / 47 / 47 px with 19 methods; 12 / 26 / 38 px with all 22
# cells (issue 19's regression). Now the grid compares a default subset (15 methods + perturbation,
# gui/compare_methods.py) with elided one-line titles and 2 px grid spacing: 34-37 / 72 / 80 px measured
# (all 22 cells chosen: 23 / 60 / 60 px).
MIN_COMPARE_PX = {1280: 33, 1536: 70, 1600: 78}


def settle(window, rounds: int = 6) -> None:
    for _ in range(rounds):
        QApplication.processEvents()
    assert window.wait_idle(60)


def front(window, key: str) -> None:
    window.docks[key].show()
    window.docks[key].raise_()
    settle(window)


def graph_keeps_half(window) -> None:
    assert window.graph.height() >= 0.5 * window.height(), (window.graph.height(), window.size().toTuple())


def headers_apart(window) -> None:
    """No two column headers of the graph overlap (in pixels)."""
    rects = [title.sceneBoundingRect() for title in window.graph.header_items().values()]
    for i, first in enumerate(rects):
        for second in rects[i + 1:]:
            overlap = first.intersected(second)
            assert overlap.width() <= 1 or overlap.height() <= 1, (first, second)


@pytest.mark.parametrize("size", SIZES)
@pytest.mark.parametrize("model", ["mlp_mnist.npz", "cnn_mnist.npz"])
def test_graph_keeps_half_the_height_and_readable_headers(qtbot, make_window, size, model):
    from lrp_studio.io import load_model

    window = make_window(load_model(resource_path(model)), model_name=model)
    window.resize(*size)
    settle(window)
    window.apply_default_dock_sizes()
    settle(window)
    graph_keeps_half(window)
    headers_apart(window)
    for key in ("training", "compare", "faithfulness", "conservation"):
        front(window, key)
        graph_keeps_half(window)
        headers_apart(window)
        if key == "compare":  # the grid's heatmaps keep usable room in the shorter bottom dock
            view = window.compare_view
            qtbot.waitUntil(lambda: len(view.cells()) >= len(view.cell_names()), timeout=120_000)
            cells = view.cells().values()
            sides = [min(c.box.sceneBoundingRect().width(), c.box.sceneBoundingRect().height()) for c in cells]
            print(size, "compare heatmap side", min(sides))
            assert min(sides) >= MIN_COMPARE_PX[size[0]], sides
    window.reset_layout()  # (offscreen's 800x800 screen: the window is also brought back onto it)
    settle(window)
    graph_keeps_half(window)
    front(window, "compare")
    graph_keeps_half(window)
    headers_apart(window)


def test_inspector_caption_wraps_and_scroll_starts_at_the_heading(window):
    stages = [column.stage for column in window.graph.columns()]
    window.docks["inspector"].show()
    window.select_neuron(stages[2], 5)  # dense 100: "... into this neuron (300 sources)"
    settle(window)
    caption = window.inspector.findChild(type(window.inspector._title), "inspectorTableCaption")
    assert caption.wordWrap() and caption.width() <= window.inspector.width()
    assert caption.heightForWidth(caption.width()) <= caption.height()  # every line of it shown
    scroll = window.docks["inspector"].widget().verticalScrollBar()
    scroll.setValue(scroll.maximum())
    window.select_neuron(stages[1], 7)  # a new selection
    settle(window)
    assert scroll.value() == 0
    # the conditional heatmap comes before the messages table (above the fold)
    layout = window.inspector.layout()
    order = [layout.itemAt(i).widget() for i in range(layout.count())]
    assert order.index(window.inspector._graphics) < order.index(window.inspector._table)


def line_activation(window) -> float:
    """The activation the line under the graph states."""
    import re

    match = re.search(r"activation (?:mean )?(-?[0-9.eE+-]+)", window.graph.status_text())
    assert match, window.graph.status_text()
    return float(match.group(1))


def test_line_under_the_graph_follows_sample_dataset_and_model(window):
    stages = [column.stage for column in window.graph.columns()]

    def explained(unit: int) -> float:  # the unit's activation in the explanation the window shows now
        record = next(r for r in window.state.explanation.layers if r.stage == stages[1])
        return float(np.asarray(record.activation).reshape(-1)[unit])

    record = next(r for r in window.state.explanation.layers if r.stage == stages[1])
    unit = int(np.argmax(np.asarray(record.activation).reshape(-1)))  # an active unit: its values change
    window.select_neuron(stages[1], unit)
    settle(window)

    seen = set()
    for index in (0, 1, 7, 42):  # sample changes: the new explanation's values, as in the inspector
        window.set_sample(index)
        settle(window)
        assert f"neuron {unit}" in window.graph.status_text()
        assert line_activation(window) == pytest.approx(explained(unit), rel=1e-3, abs=1e-3)
        assert window.inspector.values()["activation"] == pytest.approx(line_activation(window), rel=1e-3, abs=1e-3)
        seen.add(round(explained(unit), 3))
    assert len(seen) > 1  # the values did change between the samples
    window.open_dataset("mnist:test")  # a dataset change
    settle(window)
    assert line_activation(window) == pytest.approx(explained(unit), rel=1e-3, abs=1e-3)
    window.open_model(str(resource_path("cnn_mnist.npz")))  # a model change: the hint, no unit of the old network
    settle(window)
    assert f"neuron {unit}" not in window.graph.status_text() and window.graph.status_text().startswith("Scroll to zoom")


def test_training_text_of_a_previous_model_is_cleared(qtbot, window):
    panel = window.training_panel
    window.open_dataset("toy:moons")
    settle(window)
    panel.epochs_spin.setValue(2)
    with qtbot.waitSignal(panel.trainingFinished, timeout=60_000):
        panel.start_button.click()
    assert panel.status.text().startswith("epoch 2/2") and panel.progress.value() > 0
    panel.build_button.click()  # a new (untrained) model: the last run's text and curves go
    settle(window)
    assert panel.status.text() == "Idle" and panel.progress.value() == 0 and panel.history["loss"] == []


def test_training_shows_progress_within_an_epoch(qtbot, window):
    panel = window.training_panel
    texts: list[str] = []
    window.open_dataset("toy:moons")
    settle(window)
    panel.epochs_spin.setValue(1)
    panel.batch_spin.setValue(1)  # 340 batches in the one epoch
    original = panel._on_progress

    def record(rec):
        original(rec)
        texts.append(panel.status.text())

    panel._on_progress = record
    with qtbot.waitSignal(panel.trainingFinished, timeout=60_000):
        panel.start_button.click()
    inside = [t for t in texts if t.startswith("epoch 1/1, batch ")]
    assert inside, texts[:3]
    batch = int(inside[0].split("batch ")[1].split("/")[0])
    assert batch < 340  # seen before the epoch ended


def test_run_buttons_use_the_style_icons(window):
    panel = window.training_panel
    for button in (panel.start_button, panel.pause_button, panel.stop_button):
        assert not button.icon().isNull()
        assert not any(ch in button.text() for ch in "\u23f8\u25b6\u25a0")  # no glyphs a font may lack


def test_percent_never_wraps_alone(window):
    stages = [column.stage for column in window.graph.columns()]
    window.select_neuron(stages[1], 3)
    settle(window)
    labels = [w for w in window.findChildren(type(window.inspector._title)) if "%" in w.text()]
    assert labels
    for label in labels:
        assert " %" not in label.text(), label.text()


def test_methods_pane_title_does_not_repeat_itself():
    from lrp_studio.gui.method_help import method_html, method_title
    from lrp_studio.gui.state import method_names, method_params
    import re

    for name in method_names():
        pane = method_html(name)
        heading = re.search(r"<h3[^>]*>(.*?)</h3>", pane).group(1)
        assert heading.count("<code>") == 1, heading  # the name once ("Composite epsilon-plus epsilon-plus")
        if method_params(name).kind == "composite":
            assert heading == f"Composite <code>{name}</code>", heading
        title = method_title(name)
        rules = [part.strip() for part in title.split(" / ")]
        assert len(rules) == len(set(rules)), title  # no rule named twice (deep-taylor: z+ / z+)


def test_screenshot_prints_no_qt_warning(tmp_path):
    env = dict(os.environ, QT_QPA_PLATFORM="offscreen", PYTHONPATH=os.pathsep.join(sys.path))
    out = tmp_path / "shot.png"
    result = subprocess.run([sys.executable, "-m", "lrp_studio.cli", "gui", "--screenshot", str(out)],
                            capture_output=True, text=True, env=env, timeout=300)
    assert result.returncode == 0, result.stderr
    assert out.is_file() and "propagateSizeHints" not in result.stderr
    assert result.stderr.strip() == "", result.stderr
