"""A finite input whose explanation overflows float32 is reported in the status bar (issue 13, point 5)."""

from __future__ import annotations

import numpy as np

from lrp_studio.data import Dataset, load_mnist_subset


def test_overflowing_sample_is_a_status_message_and_nothing_is_shown(window, error_dialogs):
    state = window.state
    before = state.explanation
    x = load_mnist_subset("test").x[:4].copy()
    x[0] = 1e38  # finite float32: passes the input check, but the logits overflow
    state.set_dataset(Dataset("huge", x, np.arange(4), [str(k) for k in range(10)]))
    assert window.wait_idle(20)
    message = window.statusBar().currentMessage()
    assert "NaN or infinite" in message and "\n" not in message
    assert state.explanation is before  # no inf/NaN map is shown
    assert error_dialogs == []
    window.set_sample(1)
    assert window.wait_idle(20) and state.explained_index == 1
    assert np.isfinite(state.explanation.relevance).all()
