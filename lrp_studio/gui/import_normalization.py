"""File > Import model: the input normalisation (per-channel mean and std) asked for with the import.

Two line edits, e.g. ``0.485,0.456,0.406`` and ``0.229,0.224,0.225`` (one value per input channel,
in input units); both empty means none. The texts go unchanged to
:func:`lrp_studio.io.import_model` as ``mean``/``std``, the path ``lrp-studio import --mean/--std``
takes: :func:`lrp_studio.io.import_common.parse_channel_values` reads them and
:func:`lrp_studio.nn.builders.with_normalization` prepends the ``normalize`` node, which checks
that the count matches the input channels and that every std is > 0. What they reject ends in
the import's one-line error dialog.
"""

from __future__ import annotations

from PySide6.QtWidgets import QDialog, QDialogButtonBox, QFormLayout, QLabel, QLineEdit, QVBoxLayout, QWidget

DIALOG_NAME = "importNormalizationDialog"
HINT = ("Input normalisation the model was trained with (torchvision's Normalize(mean, std)), one value "
        "per input channel in input units,\ne.g. 0.485,0.456,0.406 and 0.229,0.224,0.225 for ImageNet. "
        "Leave both empty for none.")


class ImportNormalizationDialog(QDialog):
    """Mean and std line edits (``meanEdit``, ``stdEdit``) with OK / Cancel."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName(DIALOG_NAME)
        self.setWindowTitle("Import model: input normalisation")
        self.mean_edit = QLineEdit(objectName="meanEdit", placeholderText="0.485,0.456,0.406 (empty: none)")
        self.std_edit = QLineEdit(objectName="stdEdit", placeholderText="0.229,0.224,0.225 (empty: none)")
        form = QFormLayout()
        form.addRow("Mean:", self.mean_edit)
        form.addRow("Std:", self.std_edit)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel)
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        hint = QLabel(HINT)
        hint.setWordWrap(True)
        layout.addWidget(hint)
        layout.addLayout(form)
        layout.addWidget(buttons)

    def values(self) -> dict[str, str]:
        """``{"mean": ..., "std": ...}`` for :func:`~lrp_studio.io.import_model`; empty fields are left out."""
        texts = {"mean": self.mean_edit.text().strip(), "std": self.std_edit.text().strip()}
        return {key: text for key, text in texts.items() if text}


def ask_import_normalization(parent: QWidget | None) -> dict[str, str] | None:
    """Run the dialog: the ``mean``/``std`` keyword arguments to import with ({} for none), None if cancelled.

    Only one of the two given is passed on as is; :func:`~lrp_studio.io.import_model` then says
    that both are needed.
    """
    dialog = ImportNormalizationDialog(parent)
    try:
        return dialog.values() if dialog.exec() == QDialog.DialogCode.Accepted else None
    finally:
        dialog.deleteLater()


__all__ = ["ImportNormalizationDialog", "ask_import_normalization"]
