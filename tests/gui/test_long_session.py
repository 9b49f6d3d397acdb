"""Long sessions: memory stays flat over 80 explanations (every method, two models) and 1,200 repaints.

A lighter twin of ``benchmarks/long_session_gui.py`` (2,000 explanations): the real window, models opened
through File > Open model in turn, samples picked in the sample browser, every method of the list, neuron
selections, and the graph, heatmap, plots and inspector repainted after each explanation. The assertion is
on memory (a generous bound), never on time. Two caches that once grew without bound are checked directly.
"""

from __future__ import annotations

import gc

import numpy as np
from PySide6.QtCore import Qt

from lrp_studio.data import resource_path
from lrp_studio.gui.long_session import rss_mb, run_long_session, scene_item_count
from lrp_studio.gui.sample_browser import ICON_CACHE_SIZE


def test_memory_stays_flat_over_80_explanations_and_1200_repaints(make_window):
    window = make_window()
    models = (str(resource_path("mlp_mnist.npz")), str(resource_path("cnn_mnist.npz")))
    run_long_session(window, 6, block=6, model_paths=models, switch_every=3, settle_ms=1)  # both models once
    gc.collect()
    start, items = rss_mb(), scene_item_count(window)  # the CNN is shown, as at the end of every block
    # 80 explanations: every method of the list on each model, samples and class filters changing
    records = run_long_session(window, 80, block=40, model_paths=models, switch_every=20, settle_ms=1,
                               repaint_rounds=3)
    assert records[-1].repaints >= 1000
    growth = [round(r.rss_mb - start, 1) for r in records]
    assert growth[-1] < 40, growth
    # after the first block (thumbnail and pixmap caches fill, ~10 MB) memory is flat: keeping every
    # explanation (0.3-1 MB each) would add ~20 MB in the second block
    assert growth[-1] - growth[0] < 12, growth
    assert [r.scene_items for r in records] == [items] * len(records)  # no graphics items pile up
    assert np.isfinite(window.state.explanation.relevance).all()


def test_sample_thumbnails_are_a_bounded_cache(window):
    model = window.sample_browser.model
    assert len(window.state.dataset) > ICON_CACHE_SIZE + 100
    for row in range(len(window.state.dataset)):  # scrolling through all 5,000 samples
        model.data(model.index(row), Qt.ItemDataRole.DecorationRole)
    assert len(model._icons) == ICON_CACHE_SIZE
    assert not model.data(model.index(0), Qt.ItemDataRole.DecorationRole).isNull()  # rebuilt when needed


def test_neuron_symbols_do_not_pile_up_in_the_scatter_atlas(window):
    """Units without values (a baseline explains no hidden layer) share one brush: pyqtgraph's symbol atlas,
    keyed by brush object, then holds one symbol instead of one per explanation."""
    window.set_method("gradient")
    scatters = list(window.graph._scatters.values())
    assert scatters

    def atlas_sizes() -> list[int]:
        return [len(scatter.fragmentAtlas) for scatter in scatters]

    for index in range(3):
        window.set_sample(index)
        assert window.wait_idle(10)
        window.graph.graphics_view().viewport().repaint()
    sizes = atlas_sizes()
    for index in range(3, 15):
        window.set_sample(index)
        assert window.wait_idle(10)
        window.graph.graphics_view().viewport().repaint()
    assert atlas_sizes() == sizes
