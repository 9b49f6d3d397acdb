"""Unsaved models: one Save / Discard / Cancel question before anything replaces them, and recovery copies.

The app state's :attr:`~lrp_studio.gui.state.AppState.model_dirty` says whether the shown model was
trained or changed in the app since it was last saved or loaded. Every action that would replace
it (open a dataset that needs a new model, open or import a model, open a session, build a new
model, quit) calls :meth:`AppState.may_replace_model <lrp_studio.gui.state.AppState.may_replace_model>`,
which asks :meth:`UnsavedWorkMixin.confirm_replace` (this module's one question). A recovery copy
(:mod:`lrp_studio.io.recovery`) is written when a training run ends and about every
:data:`RECOVERY_INTERVAL_S` seconds during a long one; the next start offers to restore it, and a
save or an explicit discard removes it.
"""

from __future__ import annotations

import time
from typing import Any

from PySide6.QtWidgets import QMessageBox, QWidget

from lrp_studio.gui import dialogs

SAVE, DISCARD, CANCEL = "save", "discard", "cancel"
RESTORE = "restore"
#: Seconds between two recovery copies while a training run goes on.
RECOVERY_INTERVAL_S = 60.0
UNSAVED_BOX = "unsavedModelBox"
RECOVERY_BOX = "recoveryBox"


def ask_unsaved(parent: QWidget | None, model_name: str, action: str) -> str:
    """Ask what to do with an unsaved model before ``action``: :data:`SAVE`, :data:`DISCARD` or :data:`CANCEL`.

    A modal ``QMessageBox`` (object name ``unsavedModelBox``); Escape or closing it is Cancel.
    """
    box = QMessageBox(QMessageBox.Icon.Warning, "Unsaved model",
                      f"The model \u201c{model_name}\u201d was trained or changed here and is not saved.",
                      QMessageBox.StandardButton.Save | QMessageBox.StandardButton.Discard
                      | QMessageBox.StandardButton.Cancel, parent)
    box.setObjectName(UNSAVED_BOX)
    box.setInformativeText(f"Save it before you {action}?")
    box.setDefaultButton(QMessageBox.StandardButton.Save)
    box.setEscapeButton(QMessageBox.StandardButton.Cancel)
    answer = box.exec()
    return {QMessageBox.StandardButton.Save: SAVE,
            QMessageBox.StandardButton.Discard: DISCARD}.get(QMessageBox.StandardButton(answer), CANCEL)


def ask_restore(parent: QWidget | None, info: Any) -> str:
    """"Restore unsaved model from <time>?": :data:`RESTORE`, :data:`DISCARD`, or :data:`CANCEL` (keep it for later)."""
    box = QMessageBox(QMessageBox.Icon.Question, "Restore unsaved model",
                      f"Restore unsaved model from {info.when()}?", QMessageBox.StandardButton.NoButton, parent)
    box.setObjectName(RECOVERY_BOX)
    detail = f"\u201c{info.model_name}\u201d" + (f", trained on {info.dataset_name}" if info.dataset_name else "")
    box.setInformativeText(f"{detail}. LRP Studio ended before it was saved.")
    restore = box.addButton("Restore", QMessageBox.ButtonRole.AcceptRole)
    discard = box.addButton(QMessageBox.StandardButton.Discard)
    later = box.addButton("Later", QMessageBox.ButtonRole.RejectRole)
    box.setDefaultButton(restore)
    box.setEscapeButton(later)
    box.exec()
    clicked = box.clickedButton()
    return RESTORE if clicked is restore else DISCARD if clicked is discard else CANCEL


class UnsavedWorkMixin:
    """Mixed into :class:`~lrp_studio.gui.main_window.MainWindow` (uses its state, save_model and status bar)."""

    def _install_unsaved_work(self) -> None:
        self._last_recovery = 0.0
        self.state.confirm_replace = self.confirm_replace
        self.state.weightsChanged.connect(self._maybe_write_recovery)
        self.training_panel.trainingFinished.connect(lambda _reason: self.write_recovery_copy())

    def confirm_replace(self, action: str) -> bool:
        """Save / Discard / Cancel for the unsaved model before ``action``; True when the action may go on.

        Save runs File > Save model as (cancelling that dialog cancels the action); Discard removes
        the recovery copy.
        """
        state = self.state
        if not state.model_dirty:
            return True
        answer = ask_unsaved(self, state.model_name, action)
        if answer == SAVE:
            return bool(self.save_model())
        if answer == DISCARD:
            from lrp_studio.io.recovery import discard_recovery

            discard_recovery()
            state.set_dirty(False)
            return True
        self.show_status(f"Cancelled: {action}")
        return False

    def model_saved(self) -> None:
        """The shown model is on disk now: not dirty, no recovery copy."""
        from lrp_studio.io.recovery import discard_recovery

        self.state.set_dirty(False)
        discard_recovery()

    def write_recovery_copy(self) -> bool:
        """Write the recovery copy of an unsaved model (a failure is a status-bar message); True when written."""
        state = self.state
        if not state.model_dirty:
            return False
        from lrp_studio.errors import LRPStudioError
        from lrp_studio.io.recovery import write_recovery

        try:
            write_recovery(state.net, state.model_name, state.dataset.name, getattr(state, "dataset_spec", None))
        except LRPStudioError as error:
            self.show_status(f"no recovery copy of the unsaved model: {error}", 10000)
            return False
        self._last_recovery = time.monotonic()
        return True

    def _maybe_write_recovery(self) -> None:
        """During a long training run: a recovery copy about every RECOVERY_INTERVAL_S seconds."""
        if self.training_panel.is_running() and time.monotonic() - self._last_recovery >= RECOVERY_INTERVAL_S:
            if self._last_recovery == 0.0:  # the run's first weights: start the clock, copy a minute later
                self._last_recovery = time.monotonic()
                return
            self.write_recovery_copy()

    def offer_recovery(self) -> bool:
        """At start: offer the recovery copy left by a crash or kill; True when a model was restored."""
        from lrp_studio.errors import LRPStudioError
        from lrp_studio.io.recovery import discard_recovery, find_recovery, load_recovery

        info = find_recovery()
        if info is None:
            return False
        answer = ask_restore(self, info)
        if answer == DISCARD:
            discard_recovery()
            return False
        if answer != RESTORE:
            return False
        try:
            net = load_recovery(info)
        except LRPStudioError as error:
            dialogs.show_error(self, "Cannot restore the unsaved model", str(error))
            return False
        if not self.state.may_replace_model("restore the unsaved model"):
            return False
        if info.dataset_spec and not self.state.fits(net=net):
            self.open_dataset(info.dataset_spec)  # the data it was trained on, when the shown one does not fit
        self.state.set_network(net, info.model_name, dirty=True)  # still unsaved: the copy stays until a save
        self.show_status(f"Restored the unsaved model from {info.when()}: save it with File > Save model as")
        return True


__all__ = ["CANCEL", "DISCARD", "RECOVERY_INTERVAL_S", "RESTORE", "SAVE", "UnsavedWorkMixin", "ask_restore",
           "ask_unsaved"]
