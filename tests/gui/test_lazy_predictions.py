"""The lazy sample browser: predictions in chunks on a real worker thread, visible rows first, cached,
and cancelled by a model change (gui/predictions.py)."""

from __future__ import annotations

import numpy as np

from lrp_studio.gui.predictions import PENDING, ChunkQueue, model_digest, prediction_chunk
from lrp_studio.zoo import load_model


def test_chunk_queue_gives_prioritized_rows_first_and_every_row_once():
    queue = ChunkQueue(10, 3)
    queue.prioritize(np.array([8, 9, 4]))
    chunks = []
    while len(rows := queue.take()):
        chunks.append(rows.tolist())
    assert chunks[0] == [4, 8, 9]
    assert sorted(sum(chunks, [])) == list(range(10))
    assert all(len(c) <= 3 for c in chunks) and queue.remaining() == 0


def test_model_digest_follows_the_weights():
    net, same = load_model("mlp"), load_model("mlp")
    assert model_digest(net) == model_digest(same)
    first = next(layer for layer in same.layers if layer.params)
    first.params["weight"][0, 0] += 1.0
    assert model_digest(net) != model_digest(same)
    assert model_digest(load_model("cnn")) != model_digest(net)


def test_prediction_chunk_is_bounded_by_the_memory_budget():
    assert prediction_chunk(load_model("mlp")) > prediction_chunk(load_model("cnn")) >= 1


def test_a_model_change_cancels_pending_predictions(window, qtbot):
    lazy, state = window.predictions, window.state
    lazy.chunk = 4  # 1,250 chunks for the 5,000 samples: the change comes long before the end
    cnn = load_model("cnn")
    state.set_network(cnn, "cnn")
    assert lazy.is_running() and lazy.worker is None  # waits for the new model's explanation to arrive first
    qtbot.waitUntil(lambda: lazy.chunks_done >= 1, timeout=20000)
    assert state.explained_index is not None and state.explanation.logits.shape == (1, 10)
    old_queue, old_worker = lazy.queue, lazy.worker
    aborted = []
    old_worker.aborted.connect(lambda: aborted.append(True))
    mlp = load_model("mlp")
    state.set_network(mlp, "mlp")  # a different model: the cnn's remaining chunks are never computed
    qtbot.waitUntil(lambda: not lazy.is_running(), timeout=60000)
    qtbot.waitUntil(lambda: window.controller.long_jobs() == 0, timeout=20000)
    assert aborted and old_queue.remaining() > 0
    expected = mlp.predict(state.dataset.x).argmax(axis=1)
    np.testing.assert_array_equal(state.predictions, expected)  # no chunk of the cnn written into the mlp's list


def test_visible_rows_are_predicted_first(window, qtbot):
    lazy, browser = window.predictions, window.sample_browser
    lazy.chunk = 8
    browser.list.scrollToBottom()
    qtbot.waitUntil(lambda: int(browser.on_screen()[0]) > 4000, timeout=5000)
    shown = set(browser.on_screen().tolist())
    window.state.set_network(load_model("cnn"), "cnn")
    qtbot.waitUntil(lambda: len(lazy.arrived) >= 1, timeout=20000)
    first = set(lazy.arrived[0].tolist())
    assert shown <= first or first <= shown  # the rows on screen (a chunk's worth of them) come first
    qtbot.waitUntil(lambda: not lazy.is_running(), timeout=60000)
    assert not np.any(window.state.predictions == PENDING)


def test_partial_predictions_show_progress_and_a_finished_model_comes_from_the_cache(window, qtbot):
    lazy, state, browser = window.predictions, window.state, window.sample_browser
    mlp = state.net
    assert window.wait_idle(30) and not np.any(state.predictions == PENDING)
    lazy.chunk = 4
    state.set_network(load_model("cnn"), "cnn")
    qtbot.waitUntil(lambda: lazy.chunks_done >= 1, timeout=20000)
    if lazy.is_running():
        assert "predicting" in browser.count_label.text()
        unknown = int(np.flatnonzero(state.predictions == PENDING)[0])
        assert "pred ?" in browser.model.data(browser.model.index(unknown))
    state.set_network(mlp, "mlp")  # predicted before: from the cache, no job
    assert not lazy.is_running()
    np.testing.assert_array_equal(state.predictions, mlp.predict(state.dataset.x).argmax(axis=1))
    assert "accuracy" in browser.count_label.text()
