"""The inspector's atlas gallery on real windows, real worker threads and a real on-disk cache: the references
are the atlas's, drawn with their conditional heatmaps (full / cropped), clicking opens a sample, the units
table selects units, a second window reads the cache, and Cancel stops the job without caching."""

from __future__ import annotations

import os
import time

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import numpy as np
import pytest
from PySide6.QtWidgets import QApplication

from lrp_studio.app.atlas import iter_atlas
from lrp_studio.app.distributed import inputs_file
from lrp_studio.data import load_mnist_subset
from lrp_studio.lrp.conditional import conditional_relevance
from lrp_studio.zoo import load_any_model


@pytest.fixture(autouse=True)
def private_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("LRP_STUDIO_CACHE_DIR", str(tmp_path / "cache"))
    return tmp_path / "cache"


def _wait(condition, timeout=120.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        QApplication.processEvents()
        if condition():
            return True
        time.sleep(0.005)
    return False


def _computed(window, stage, unit):
    """Select a unit, wait for the cache look-up to find nothing, click Compute atlas, wait for the gallery."""
    window.select_neuron(stage, unit)
    gallery = window.atlas_gallery
    assert _wait(lambda: "not computed yet" in gallery.status.text())
    assert window.atlas_hook.job is None  # selecting never starts the computation itself
    gallery.compute.click()
    assert _wait(lambda: _drawn(window))


def _drawn(window):
    gallery = window.atlas_gallery
    return gallery.references is not None and window.atlas_hook.job is None


def _small(n=96):
    return load_mnist_subset("test").subset(np.arange(n), name="mnist test (first 96)")


def _atlas_here(net, data):
    work = iter_atlas(net, inputs_file(data.x), top=8, method="epsilon-plus-flat", bias=True, params={"epsilon": 1e-6})
    while True:
        try:
            next(work)
        except StopIteration as done:
            return done.value


def test_cnn_gallery_shows_the_atlas_references_with_conditional_heatmaps(make_window, private_cache):
    net, data = load_any_model("cnn"), _small()
    window = make_window(net, data, model_name="bundled cnn")
    _computed(window, 3, 5)  # the graph's pooled column of conv2d 16, channel 5
    gallery = window.atlas_gallery
    assert gallery.last_source == "computed" and gallery.atlas.n_samples == 96
    expected = _atlas_here(net, data).unit(2, 5)
    shown = [b.property("sample") for b in gallery.galleries["relevance"] if b.isVisible()]
    assert shown == expected.top_relevance.tolist()
    assert [b.property("sample") for b in gallery.galleries["activation"] if b.isVisible()] == \
        expected.top_activation.tolist()
    first = int(expected.top_relevance[0])  # the drawn heatmap is the CRP conditional relevance of that sample
    row = int(np.flatnonzero(gallery.references.indices == first)[0])
    twin = conditional_relevance(net, data.x[first:first + 1], 2, 5, "epsilon-plus-flat", epsilon=1e-6).relevance[0]
    np.testing.assert_allclose(gallery.references.relevance[row], twin, rtol=1e-4, atol=1e-6)
    button = gallery.galleries["relevance"][0]
    full = button.icon().pixmap(56, 56).toImage()
    gallery.cropped.setChecked(True)
    assert button.icon().pixmap(56, 56).toImage() != full  # the receptive-field crop is drawn
    button.click()
    assert _wait(lambda: window.state.index == first)
    assert list((private_cache / "atlas").iterdir())  # cached on disk


def test_units_table_is_sorted_by_relevant_share_and_selects_units(make_window):
    window = make_window(load_any_model("cnn"), _small(), model_name="bundled cnn")
    _computed(window, 3, 5)
    table = window.atlas_gallery.units
    shares = [float(table.item(r, 1).text().rstrip("%")) for r in range(table.rowCount())]
    assert table.rowCount() == 16 and shares == sorted(shares, reverse=True)
    other = int(table.item(0, 0).text())
    table.cellClicked.emit(0, 0)
    assert window.graph.selection() == (3, other)
    assert _wait(lambda: window.atlas_gallery.references is not None
                 and window.atlas_gallery.references.unit == other)


def test_a_second_window_reads_the_cache_and_a_dense_unit_works(make_window):
    data = _small()
    first = make_window(load_any_model("mlp"), data, model_name="bundled mlp")
    _computed(first, 3, 17)
    assert first.atlas_gallery.last_source == "computed"
    second = make_window(load_any_model("mlp"), data, model_name="bundled mlp")
    second.select_neuron(5, 4)
    assert second.atlas_hook.job is None  # found by the look-up: no computation, no click
    assert _wait(lambda: second.atlas_gallery.references is not None)
    assert second.atlas_gallery.last_source == "cache" and second.atlas_hook.job is None
    assert "dense 100 neuron 4" in second.atlas_gallery.status.text()
    second.set_method("zplus")  # another method: the atlas no longer applies
    assert second.atlas_gallery.atlas is None


def test_cancel_stops_the_job_and_caches_nothing(make_window, private_cache):
    window = make_window(load_any_model("cnn"), load_mnist_subset("all"), model_name="bundled cnn")
    window.select_neuron(3, 0)
    gallery = window.atlas_gallery
    assert _wait(lambda: "not computed yet" in gallery.status.text())
    gallery.compute.click()
    assert _wait(lambda: gallery.progress.value() > 0)
    gallery.cancel.click()
    assert _wait(lambda: window.atlas_hook.job is None)
    assert gallery.status.text() == "Atlas cancelled; nothing was cached."
    assert not (private_cache / "atlas").exists() or not any((private_cache / "atlas").rglob("atlas.npz"))
    assert gallery.compute.isVisible() and not gallery.progress.isVisible()
