"""Point 1 of issue 13: a model trained in the app is never replaced without a question, and a
recovery copy of it survives a crash. These tests drive the real QMessageBox (a timer clicks it)."""

from __future__ import annotations

import json

import numpy as np
import pytest
from PySide6.QtCore import QTimer
from PySide6.QtWidgets import QApplication, QMessageBox

from lrp_studio.gui import dialogs, unsaved
from lrp_studio.io import load_model
from lrp_studio.io.recovery import find_recovery, load_recovery, recovery_dir, write_recovery

pytestmark = pytest.mark.usefixtures("real_unsaved_dialogs")


def answer_box(qtbot, name: str, button, seen: list[str]) -> None:
    """Click ``button`` (a StandardButton, or a button text) of the next modal box named ``name``."""
    def click() -> None:
        box = QApplication.activeModalWidget()
        if not isinstance(box, QMessageBox) or box.objectName() != name:
            QTimer.singleShot(20, click)
            return
        seen.append(f"{box.text()} | {box.informativeText()}")
        target = (box.button(button) if not isinstance(button, str)
                  else next(b for b in box.buttons() if b.text().replace("&", "") == button))
        target.click()

    QTimer.singleShot(0, click)


def weights(net) -> dict[str, np.ndarray]:
    return {k: np.array(v) for k, v in net.state_dict().items()}


def same(a: dict, b: dict) -> bool:
    return a.keys() == b.keys() and all(np.array_equal(a[k], b[k]) for k in a)


def train_in_app(qtbot, window) -> dict[str, np.ndarray]:
    """The issue's steps: open toy:moons (a new untrained model appears), train it; returns its weights."""
    assert window.open_dataset("toy:moons")
    assert not window.state.model_dirty  # a freshly built untrained model holds nothing to lose
    panel = window.training_panel
    panel.epochs_spin.setValue(3)
    with qtbot.waitSignal(panel.trainingFinished, timeout=120_000):
        panel.start_button.click()
    assert window.wait_idle(30)
    assert window.state.model_dirty and window.windowTitle().startswith("LRP Studio \u2014 *")
    return weights(window.state.net)


def test_replacing_a_trained_model_asks_and_cancel_keeps_everything(qtbot, window):
    trained = train_in_app(qtbot, window)
    seen: list[str] = []
    answer_box(qtbot, unsaved.UNSAVED_BOX, QMessageBox.StandardButton.Cancel, seen)
    assert not window.open_dataset("mnist")  # the MNIST subset needs another model
    assert len(seen) == 1 and "not saved" in seen[0] and "open 'mnist'" in seen[0]
    assert window.state.dataset.name.startswith("toy") and same(weights(window.state.net), trained)
    assert window.state.model_dirty
    # every other replacing action asks the same question: build a new model, open a model, quit
    answer_box(qtbot, unsaved.UNSAVED_BOX, QMessageBox.StandardButton.Cancel, seen)
    window.training_panel.build_button.click()
    assert len(seen) == 2 and "build a new model" in seen[1] and same(weights(window.state.net), trained)
    answer_box(qtbot, unsaved.UNSAVED_BOX, QMessageBox.StandardButton.Cancel, seen)
    window.close()
    assert len(seen) == 3 and "quit" in seen[2] and window.isVisible()


def test_discard_replaces_and_removes_the_recovery_copy(qtbot, window):
    train_in_app(qtbot, window)
    assert find_recovery() is not None  # written when the run ended
    seen: list[str] = []
    answer_box(qtbot, unsaved.UNSAVED_BOX, QMessageBox.StandardButton.Discard, seen)
    assert window.open_dataset("mnist")
    assert len(seen) == 1 and window.state.dataset.name == "mnist" and not window.state.model_dirty
    assert find_recovery() is None
    # File > Recent keeps the datasets opened by name
    assert [e["path"] for e in window.recent_files()][:2] == ["mnist", "toy:moons"]
    window.recent_menu.aboutToShow.emit()
    texts = [a.text() for a in window.recent_menu.actions() if a.isEnabled()]
    assert any("toy:moons" in t for t in texts) and any("mnist" in t for t in texts)


def test_save_writes_the_model_then_replaces_it(qtbot, window, tmp_path, monkeypatch):
    trained = train_in_app(qtbot, window)
    target = tmp_path / "moons.npz"
    monkeypatch.setattr(dialogs, "get_save_path", lambda *a, **k: str(target))
    seen: list[str] = []
    answer_box(qtbot, unsaved.UNSAVED_BOX, QMessageBox.StandardButton.Save, seen)
    assert window.open_dataset("mnist")
    assert len(seen) == 1 and same(weights(load_model(target)), trained)
    assert find_recovery() is None and not window.state.model_dirty
    assert str(target.resolve()) in [e["path"] for e in window.recent_files()]
    # cancelling the save dialog cancels the action
    train_in_app(qtbot, window)
    monkeypatch.setattr(dialogs, "get_save_path", lambda *a, **k: "")
    answer_box(qtbot, unsaved.UNSAVED_BOX, QMessageBox.StandardButton.Save, seen)
    assert not window.open_model(str(target))
    assert window.state.model_dirty and window.state.model_name == "trained in the app"


def test_a_saved_or_loaded_model_is_replaced_without_a_question(qtbot, window, tmp_path, monkeypatch):
    train_in_app(qtbot, window)
    assert window.save_model(str(tmp_path / "m.npz"))
    assert not window.state.model_dirty and find_recovery() is None
    asked: list[str] = []
    monkeypatch.setattr(unsaved, "ask_unsaved", lambda *args: asked.append(args[-1]) or unsaved.CANCEL)
    assert window.open_dataset("mnist") and asked == []
    assert window.open_model(str(tmp_path / "m.npz")) and asked == [] and not window.state.model_dirty


def test_recovery_copy_is_offered_at_the_next_start(qtbot, make_window):
    first = make_window()
    trained = train_in_app(qtbot, first)
    info = find_recovery()
    assert info is not None and info.dataset_spec == "toy:moons" and info.model_name == "trained in the app"
    assert same(weights(load_recovery(info)), trained)
    first.shutdown()  # a crash: nothing asked, the copy stays
    second = make_window()
    seen: list[str] = []
    answer_box(qtbot, unsaved.RECOVERY_BOX, "Restore", seen)
    assert second.offer_recovery()
    assert len(seen) == 1 and seen[0].startswith(f"Restore unsaved model from {info.when()}?")
    assert second.wait_idle(30)
    assert same(weights(second.state.net), trained) and second.state.model_dirty
    assert second.state.dataset.name.startswith("toy") and find_recovery() is not None  # kept until a save
    # "Later" keeps it for the next start, "Discard" removes it
    third = make_window()
    answer_box(qtbot, unsaved.RECOVERY_BOX, "Later", seen)
    assert not third.offer_recovery() and find_recovery() is not None
    answer_box(qtbot, unsaved.RECOVERY_BOX, QMessageBox.StandardButton.Discard, seen)
    assert not third.offer_recovery() and find_recovery() is None and not third.state.model_dirty
    second.state.set_dirty(False)  # closing it now would ask (test_replacing_... drives that)


def test_recovery_copies_during_a_long_run(qtbot, window, monkeypatch):
    written: list[bool] = []
    original = unsaved.UnsavedWorkMixin.write_recovery_copy
    monkeypatch.setattr(unsaved, "RECOVERY_INTERVAL_S", 0.0)
    monkeypatch.setattr(unsaved.UnsavedWorkMixin, "write_recovery_copy",
                        lambda self: written.append(self.training_panel.is_running()) or original(self))
    train_in_app(qtbot, window)
    assert written.count(True) >= 1, "no recovery copy while the run went on"
    assert written[-1] is False  # and one after it ended


def test_recovery_files_are_plain_and_atomic(tmp_path, monkeypatch):
    from lrp_studio.nn import mlp

    monkeypatch.setenv("LRP_STUDIO_RECOVERY_DIR", str(tmp_path / "rec"))
    assert recovery_dir() == tmp_path / "rec" and find_recovery() is None
    net = mlp([2, 3, 1], input_shape=(2,))
    info = write_recovery(net, "trained in the app", "toy:moons", "toy:moons", now=0.0)
    assert sorted(p.name for p in (tmp_path / "rec").iterdir()) == ["unsaved-model.json", "unsaved-model.npz"]
    meta = json.loads((tmp_path / "rec" / "unsaved-model.json").read_text())
    assert meta["saved_at"] == 0.0 and meta["dataset_spec"] == "toy:moons"
    with np.load(info.path, allow_pickle=False) as archive:  # a plain model file, readable without pickle
        assert len(archive.files) > 0
    (tmp_path / "rec" / "unsaved-model.json").write_text("{not json")
    assert find_recovery() is None  # a damaged copy is not offered, and nothing raises at start-up
