"""Sessions: save and reopen the whole state; bad files leave the window as it was; recent files."""

from __future__ import annotations

import json
import pickle

import numpy as np
import pytest
from PySide6.QtWidgets import QDockWidget

from lrp_studio.gui import dialogs
from lrp_studio.gui.canvas import SIDE
from lrp_studio.gui.state import CUSTOM_INDEX


def _checked(window, title):
    for action in window.menuBar().actions():
        menu = action.menu()
        for sub in menu.actions() if menu else []:
            if sub.menu() is not None and sub.menu().title() == title:
                return [a.text() for a in sub.menu().actions() if a.isChecked()]
    raise AssertionError(title)


def _set_view(window, title, text):
    for action in window.menuBar().actions():
        menu = action.menu()
        for sub in menu.actions() if menu else []:
            if sub.menu() is not None and sub.menu().title() == title:
                next(a for a in sub.menu().actions() if a.text() == text).trigger()
                return
    raise AssertionError(title)


def _snapshot(window):
    state = window.state
    return {"net": state.net, "index": state.index, "method": state.method, "target": state.target,
            "dataset": state.dataset, "params": json.dumps(state.params_by_method, sort_keys=True, default=str),
            "colormap": window.heatmap.colormap, "custom": state.custom_input}


def test_round_trip(tmp_path, make_window):
    first = make_window()
    first.set_sample(7)
    first.set_method("custom")
    first.state.set_custom_rule(1, "zplus")
    first.state.set_param("gamma", 0.5)
    first.state.set_target(3)
    assert first.wait_idle(20)
    first.select_neuron(3, 17)
    first.heatmap.set_colormap("coldnhot")
    first.heatmap.set_overlay(True)
    _set_view(first, "Colour neurons by", "activation")
    _set_view(first, "Edges per neuron (top-k)", "5")
    _set_view(first, "Colour scale", "one for all layers")
    assert first.wait_idle(20)
    path = tmp_path / "mine.lrpsession"
    assert first.save_session_as(str(path)) and path.exists()
    relevance = first.state.explanation.relevance.copy()
    rgba = first.heatmap.rgba.copy()

    second = make_window()
    assert second.state.index == 0 and second.state.method != "custom"
    assert second.open_session(str(path))
    assert second.wait_idle(20)
    state = second.state
    assert state.index == 7 and state.method == "custom" and state.target == 3
    assert state.custom_rules[1] == "zplus" and state.params["gamma"] == 0.5
    for key, value in first.state.net.state_dict().items():
        np.testing.assert_array_equal(state.net.state_dict()[key], value)
    assert second.graph.selection() == (3, 17)
    assert second.heatmap.colormap == "coldnhot" and second.heatmap.overlay_enabled
    assert _checked(second, "Colour neurons by") == ["activation"]
    assert _checked(second, "Edges per neuron (top-k)") == ["5"]
    assert _checked(second, "Colour scale") == ["one for all layers"]
    combo = second.explanation_panel.rule_table.cellWidget(0, 1)  # row 0: layer 1 (after the flatten layer)
    assert combo.currentText() == "zplus"
    assert state.explained_index == 7 and int(state.explanation.targets[0]) == 3
    np.testing.assert_allclose(state.explanation.relevance, relevance, rtol=1e-6, atol=1e-8)
    np.testing.assert_array_equal(second.heatmap.rgba, rgba)
    assert str(path.resolve()) in [e["path"] for e in second.recent_files()]


def test_round_trip_of_a_drawing_and_a_toy_dataset(tmp_path, make_window, qtbot):
    first = make_window()
    image = np.zeros((SIDE, SIDE), np.float32)
    image[5:23, 13:15] = 1.0
    first.canvas.set_image(image)
    first.draw_panel.send()
    assert first.wait_idle(20)
    drawn = tmp_path / "drawn.lrpsession"
    assert first.save_session_as(str(drawn))
    first.open_dataset("toy:circles")
    assert first.wait_idle(20)
    toy = tmp_path / "toy"  # the suffix is added
    assert first.save_session_as(str(toy))

    second = make_window()
    assert second.open_session(str(drawn)) and second.wait_idle(20)
    assert second.state.explained_index == CUSTOM_INDEX
    np.testing.assert_allclose(second.state.custom_input.reshape(SIDE, SIDE), image)
    np.testing.assert_allclose(second.canvas.image, image)
    assert "Your input" in second.heatmap.caption.text()
    assert second.open_session(str(toy) + ".lrpsession") and second.wait_idle(20)
    assert second.state.dataset.name == "toy:circles" and second.state.net.n_classes == 1
    assert second.playground.applies() and second.playground.result is not None
    assert second.training_panel.loss_combo.currentText() == "bce"


def test_a_session_without_a_method_opens_with_the_model_aware_default(tmp_path, make_window):
    """Session files from before the method field: the bundled MLP (dense first) opens with epsilon-plus."""
    from lrp_studio.lrp import default_method

    window = make_window()
    window.set_method("epsilon")
    assert window.wait_idle(20)
    good = _good_session(tmp_path, window)
    with np.load(good, allow_pickle=False) as archive:
        arrays = {k: archive[k] for k in archive.files}
    session = json.loads(str(arrays["session"][()]))
    del session["method"]
    arrays["session"] = np.array(json.dumps(session))
    path = tmp_path / "old.lrpsession"
    with open(path, "wb") as handle:
        np.savez(handle, **arrays)
    assert window.open_session(str(path)) and window.wait_idle(20)
    assert default_method(window.state.net) == "epsilon-plus"
    assert window.state.method == "epsilon-plus" and window.state.explanation.method == "epsilon-plus"


def _good_session(tmp_path, window):
    path = tmp_path / "good.lrpsession"
    assert window.save_session_as(str(path))
    return path


@pytest.mark.parametrize("kind", ["corrupt", "truncated", "pickled", "model", "index", "method", "empty"])
def test_bad_session_files_leave_the_state_unchanged(tmp_path, make_window, error_dialogs, kind):
    window = make_window()
    good = _good_session(tmp_path, window)
    window.set_sample(5)
    window.set_method("epsilon")
    assert window.wait_idle(20)
    before = _snapshot(window)
    path = tmp_path / f"{kind}.lrpsession"
    data = good.read_bytes()
    if kind == "corrupt":
        path.write_bytes(data[:200] + b"\x00garbage\x00" * 50 + data[600:])
    elif kind == "truncated":
        path.write_bytes(data[: len(data) // 3])
    elif kind == "pickled":
        path.write_bytes(pickle.dumps({"architecture": "x", "session": "y"}))
    elif kind == "empty":
        path.write_bytes(b"")
    elif kind == "model":
        from lrp_studio.io import save_model

        save_model(window.state.net, tmp_path / "plain.npz")
        path = tmp_path / "plain.npz"
    else:
        with np.load(good, allow_pickle=False) as archive:
            arrays = {k: archive[k] for k in archive.files}
        session = json.loads(str(arrays["session"][()]))
        session.update({"index": 99999} if kind == "index" else {"method": "magic"})
        arrays["session"] = np.array(json.dumps(session))
        with open(path, "wb") as handle:
            np.savez(handle, **arrays)
    assert not window.open_session(str(path))
    assert len(error_dialogs) == 1 and error_dialogs[0][0] == "Cannot open session"
    message = error_dialogs[0][1]
    assert "\n" not in message and str(path) in message
    after = _snapshot(window)
    assert after["net"] is before["net"] and after["dataset"] is before["dataset"]
    assert {k: v for k, v in after.items() if k not in ("net", "dataset")} == \
        {k: v for k, v in before.items() if k not in ("net", "dataset")}
    assert str(path) not in [e["path"] for e in window.recent_files()]


def test_recent_files_menu(tmp_path, make_window, error_dialogs, monkeypatch):
    window = make_window()
    texts = lambda: [a.text() for a in window.recent_menu.actions() if a.text()]  # noqa: E731
    window._rebuild_recent_menu()
    assert texts()[0] == "(no recent files)"
    session = _good_session(tmp_path, window)
    model = tmp_path / "net.npz"
    assert window.save_model(str(model))
    window.recent_menu.aboutToShow.emit()
    shown = texts()
    assert shown[0].startswith("&1 net.npz") and "model" in shown[0]
    assert shown[1].startswith("&2 good.lrpsession") and "session" in shown[1]
    # a file that disappeared is greyed out, and opening it removes it with a message
    model.unlink()
    window.recent_menu.aboutToShow.emit()
    entry = next(a for a in window.recent_menu.actions() if "net.npz" in a.text())
    assert "(missing)" in entry.text() and not entry.isEnabled()
    assert not window.open_recent(json.loads(entry.data()))
    assert error_dialogs and "no longer exists" in error_dialogs[-1][1]
    assert [e["path"] for e in window.recent_files()] == [str(session.resolve())]
    # opening through the menu entry
    window.set_sample(9)
    action = next(a for a in window.recent_menu.actions() if "good.lrpsession" in a.text())
    action.trigger()
    assert window.wait_idle(20) and window.state.index == 0
    # at most eight entries, newest first, no duplicates
    for k in range(10):
        window.add_recent(str(tmp_path / f"m{k}.npz"), "model")
    window.add_recent(str(tmp_path / "m3.npz"), "model")
    paths = [e["path"] for e in window.recent_files()]
    assert len(paths) == 8 and paths[0].endswith("m3.npz") and len(set(paths)) == 8
    # the list lives in QSettings: a new window sees it
    other = make_window()
    assert [e["path"] for e in other.recent_files()] == paths


def test_file_menu_entries(window):
    file_menu = window.menuBar().actions()[0].menu()
    titles = [a.text().replace("&", "") for a in file_menu.actions()]
    for title in ("Open session\u2026", "Save session as\u2026", "Recent", "Import model (ONNX, safetensors)\u2026"):
        assert title in titles, titles
    assert window.findChild(QDockWidget, "dock_canvas") is not None
    assert window.findChild(QDockWidget, "dock_playground") is not None


def test_save_errors_show_a_dialog(tmp_path, window, error_dialogs):
    assert not window.save_session_as(str(tmp_path / "missing" / "s.lrpsession"))
    assert error_dialogs and error_dialogs[0][0] == "Cannot save session"


def test_dialog_paths(tmp_path, window, monkeypatch):
    target = tmp_path / "picked.lrpsession"
    monkeypatch.setattr(dialogs, "get_save_path", lambda *a, **k: str(target))
    monkeypatch.setattr(dialogs, "get_open_path", lambda *a, **k: str(target))
    window.save_session_action.trigger()
    assert target.exists()
    window.set_sample(4)
    window.open_session_action.trigger()
    assert window.wait_idle(20) and window.state.index == 0
    monkeypatch.setattr(dialogs, "get_open_path", lambda *a, **k: "")
    assert not window.open_session()
