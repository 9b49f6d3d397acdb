"""Browse the dataset: thumbnails with label and prediction, class/misclassified filter, next/previous."""

from __future__ import annotations

from collections import OrderedDict

import numpy as np
from PySide6.QtCore import QAbstractListModel, QModelIndex, QSignalBlocker, QSize, Qt, Signal
from PySide6.QtGui import QBrush, QColor, QIcon, QImage, QPixmap
from PySide6.QtWidgets import (
    QComboBox, QHBoxLayout, QLabel, QListView, QPushButton, QVBoxLayout, QWidget,
)

from lrp_studio.gui.formatting import percent
from lrp_studio.data import TOY_NAMES, split_indices
from lrp_studio.gui.state import AppState

BUILTIN_DATASETS = [("MNIST subset (5,000)", "mnist"), ("MNIST test split", "mnist:test"),
                    ("MNIST train split", "mnist:train")] + [(f"toy: {name}", f"toy:{name}") for name in TOY_NAMES]
ALL, MISCLASSIFIED = "all", "misclassified"


def thumbnail(sample: np.ndarray, input_range: tuple[float, float], size: int = 36) -> QPixmap | None:
    """A thumbnail of an image sample: colour for (3, H, W), grey otherwise (None for flat samples)."""
    array = np.asarray(sample)
    colour = array.ndim == 3 and array.shape[0] == 3
    if colour:
        array = np.moveaxis(array, 0, -1)
    elif array.ndim == 3:
        array = array.mean(axis=0)
    if array.ndim != 2 and not colour:
        return None
    low, high = input_range
    with np.errstate(over="ignore", invalid="ignore"):  # huge finite values saturate to white
        scaled = (np.asarray(array, np.float64) - low) / (high - low) * 255.0
    pixels = np.ascontiguousarray(np.clip(np.nan_to_num(scaled), 0, 255).astype(np.uint8))
    kind = QImage.Format.Format_RGB888 if colour else QImage.Format.Format_Grayscale8
    image = QImage(pixels.data, pixels.shape[1], pixels.shape[0], pixels.strides[0], kind)
    return QPixmap.fromImage(image.copy()).scaled(size, size, Qt.AspectRatioMode.KeepAspectRatio,
                                                  Qt.TransformationMode.FastTransformation)


#: Thumbnails kept for the sample list (a screenful is ~20; the rest are rebuilt when scrolled back to).
ICON_CACHE_SIZE = 512


class SampleListModel(QAbstractListModel):
    """Rows are dataset indices passing the current filter."""

    def __init__(self, state: AppState) -> None:
        super().__init__()
        self.state = state
        self.rows = np.arange(len(state.dataset))
        self._icons: OrderedDict[int, QIcon] = OrderedDict()  # least recently shown first

    def set_rows(self, rows: np.ndarray) -> None:
        self.beginResetModel()
        self.rows = np.asarray(rows, dtype=np.int64)
        self.endResetModel()

    def reset_cache(self) -> None:
        self._icons.clear()

    def rowCount(self, parent: QModelIndex = QModelIndex()) -> int:  # noqa: N802 (Qt API)
        return 0 if parent.isValid() else len(self.rows)

    def data(self, index: QModelIndex, role: int = Qt.ItemDataRole.DisplayRole) -> object:
        if not index.isValid():
            return None
        sample = int(self.rows[index.row()])
        dataset = self.state.dataset
        label = int(dataset.y[sample])
        predictions = self.state.predictions
        predicted = int(predictions[sample]) if predictions is not None and sample < len(predictions) else None
        predicted = None if predicted is not None and predicted < 0 else predicted  # -1: not predicted yet
        if role == Qt.ItemDataRole.DisplayRole:
            guess = "?" if predicted is None else dataset.classes[predicted] if predicted < len(dataset.classes) else str(predicted)
            mark = "  \u2717" if predicted is not None and predicted != label else ""
            return f"#{sample}   label {dataset.classes[label]}   pred {guess}{mark}"
        if role == Qt.ItemDataRole.DecorationRole:
            icon = self._icons.get(sample)
            if icon is None:
                pixmap = thumbnail(dataset.x[sample], dataset.input_range)
                icon = self._icons[sample] = QIcon(pixmap) if pixmap is not None else QIcon()
                if len(self._icons) > ICON_CACHE_SIZE:  # bounded: browsing 60,000 samples must not keep 60,000
                    self._icons.popitem(last=False)
            else:
                self._icons.move_to_end(sample)
            return icon
        if role == Qt.ItemDataRole.ForegroundRole and predicted is not None and predicted != label:
            return QBrush(QColor("#c0392b"))
        if role == Qt.ItemDataRole.UserRole:
            return sample
        return None


class SampleBrowser(QWidget):
    """The dataset list with filter and navigation; selecting a row picks the sample."""

    openDatasetRequested = Signal(str)   # a dataset spec ("mnist:test", "toy:moons") or "" for a file dialog
    visibleRowsChanged = Signal(object)  # dataset indices on screen (predicted first, gui/predictions.py)

    def __init__(self, state: AppState, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("sampleBrowser")
        self.state = state
        self.model = SampleListModel(state)

        self.dataset_combo = QComboBox()
        self.dataset_combo.setToolTip("Built-in datasets; 'Open file...' reads IDX, CSV or NPZ files.")
        self.open_button = QPushButton("Open file\u2026")
        self.filter_combo = QComboBox()
        self.filter_combo.setObjectName("sampleFilter")
        self.filter_combo.setToolTip("Show all samples, only misclassified ones, or one class.")
        self.list = QListView()
        self.list.setObjectName("sampleList")
        self.list.setModel(self.model)
        self.list.setUniformItemSizes(True)
        self.list.setIconSize(QSize(36, 36))
        self.list.setAlternatingRowColors(True)
        self.prev_button = QPushButton("\u25c0 Previous")
        self.next_button = QPushButton("Next \u25b6")
        self.prev_button.setToolTip("Previous sample in the list (P or Ctrl+Left)")
        self.next_button.setToolTip("Next sample in the list (N or Ctrl+Right)")
        self.count_label = QLabel()
        self.count_label.setWordWrap(True)  # the accuracy text must not set the dock's minimum width

        top = QHBoxLayout()
        top.addWidget(self.dataset_combo, 1)
        top.addWidget(self.open_button)
        filter_row = QHBoxLayout()
        filter_row.addWidget(QLabel("Show:"))
        filter_row.addWidget(self.filter_combo, 1)
        nav = QHBoxLayout()
        nav.addWidget(self.prev_button)
        nav.addWidget(self.next_button)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 4)
        layout.addLayout(top)
        layout.addLayout(filter_row)
        layout.addWidget(self.count_label)
        layout.addWidget(self.list, 1)
        layout.addLayout(nav)

        self.open_button.clicked.connect(lambda: self.openDatasetRequested.emit(""))
        self.dataset_combo.activated.connect(self._dataset_chosen)
        self.filter_combo.currentIndexChanged.connect(lambda _: self.apply_filter())
        self.list.selectionModel().currentChanged.connect(self._row_changed)
        self.prev_button.clicked.connect(self.previous)
        self.next_button.clicked.connect(self.next)
        self.list.verticalScrollBar().valueChanged.connect(lambda _: self._emit_visible())
        state.datasetChanged.connect(self._dataset_changed)
        state.predictionsChanged.connect(self._predictions_changed)
        state.sampleChanged.connect(self._sample_changed)
        self._dataset_changed()

    # ------------------------------------------------------------------ public
    def set_filter(self, value: str | int) -> None:
        """``"all"``, ``"misclassified"`` or a class index."""
        index = self.filter_combo.findData(value)
        if index >= 0:
            self.filter_combo.setCurrentIndex(index)

    def visible_indices(self) -> np.ndarray:
        return self.model.rows.copy()

    def on_screen(self) -> np.ndarray:
        """Dataset indices of the rows the list shows now (plus a screenful below, for scrolling on)."""
        rows = self.model.rows
        if not len(rows):
            return np.zeros(0, np.int64)
        top = self.list.indexAt(self.list.viewport().rect().topLeft())
        first = top.row() if top.isValid() else 0
        height = max(self.list.sizeHintForRow(0), 1)
        count = max(self.list.viewport().height() // height + 1, 20)
        return rows[first: first + 2 * count].copy()

    def _emit_visible(self) -> None:
        self.visibleRowsChanged.emit(self.on_screen())

    def next(self) -> None:
        self._step(+1)

    def previous(self) -> None:
        self._step(-1)

    def select_sample(self, index: int) -> None:
        self.state.set_index(index)

    # ------------------------------------------------------------------ internals
    def _step(self, delta: int) -> None:
        rows = self.model.rows
        if not len(rows):
            return
        position = int(np.searchsorted(rows, self.state.index))
        if position < len(rows) and rows[position] == self.state.index:
            position += delta
        elif delta < 0:
            position -= 1
        position = int(np.clip(position, 0, len(rows) - 1))
        self.state.set_index(int(rows[position]))

    def _dataset_chosen(self, index: int) -> None:
        spec = self.dataset_combo.itemData(index)
        if spec and spec != getattr(self.state.dataset, "name", None):
            self.openDatasetRequested.emit(str(spec))

    def _dataset_changed(self) -> None:
        dataset = self.state.dataset
        # the same dataset again (e.g. after a failed open): keep the user's filter
        kept_filter = self.filter_combo.currentData() if dataset is getattr(self, "_listed_dataset", None) else None
        self._listed_dataset = dataset
        with QSignalBlocker(self.dataset_combo):
            self.dataset_combo.clear()
            for title, spec in BUILTIN_DATASETS:
                self.dataset_combo.addItem(title, spec)
            found = self.dataset_combo.findData(dataset.name)
            if found < 0:
                self.dataset_combo.insertItem(0, dataset.name, dataset.name)
                found = 0
            self.dataset_combo.setCurrentIndex(found)
        with QSignalBlocker(self.filter_combo):
            self.filter_combo.clear()
            self.filter_combo.addItem("all samples", ALL)
            self.filter_combo.addItem("misclassified only", MISCLASSIFIED)
            for k, name in enumerate(dataset.classes):
                self.filter_combo.addItem(f"class {name}", k)
            if kept_filter is not None and self.filter_combo.findData(kept_filter) >= 0:
                self.filter_combo.setCurrentIndex(self.filter_combo.findData(kept_filter))
        self.model.reset_cache()
        self.apply_filter()

    def _predictions_changed(self) -> None:
        if self.filter_combo.currentData() == MISCLASSIFIED:
            self.apply_filter()
        else:
            self.model.dataChanged.emit(self.model.index(0), self.model.index(max(0, self.model.rowCount() - 1)))
            self._update_count()

    def apply_filter(self) -> None:
        dataset = self.state.dataset
        choice = self.filter_combo.currentData()
        if choice == MISCLASSIFIED:
            predictions = self.state.predictions
            rows = np.flatnonzero((predictions != dataset.y) & (predictions >= 0)) \
                if predictions is not None and len(predictions) == len(dataset) else np.zeros(0, np.int64)
        elif isinstance(choice, int):
            rows = np.flatnonzero(dataset.y == choice)
        else:
            rows = np.arange(len(dataset))
        self.model.set_rows(rows)
        self._update_count()
        self._sample_changed(self.state.index)
        self._emit_visible()

    def _update_count(self) -> None:
        dataset = self.state.dataset
        text = f"{len(self.model.rows)} of {len(dataset)} samples"
        predictions = self.state.predictions
        pending = int(np.count_nonzero(predictions < 0)) if predictions is not None else 0
        if pending and len(predictions) == len(dataset):
            text += f" \u2014 predicting\u2026 {len(dataset) - pending:,} of {len(dataset):,} done"
        elif predictions is not None and len(predictions) == len(dataset):
            accuracy = float(np.mean(predictions == dataset.y)) * 100.0
            text += f" \u2014 model accuracy {percent(accuracy)}"
            if dataset.name == "mnist" and len(dataset) == 5000:  # the bundled subset: 4,000 are training data
                _, test = split_indices()
                held_out = float(np.mean(predictions[test] == dataset.y[test])) * 100.0
                text += f" (held-out 1,000: {percent(held_out)})"
        elif self.filter_combo.currentData() == MISCLASSIFIED:
            text += " (predictions not ready yet)"
        self.count_label.setText(text)

    def _row_changed(self, current: QModelIndex, _previous: QModelIndex) -> None:
        if current.isValid():
            self.state.set_index(int(self.model.rows[current.row()]))

    def _sample_changed(self, index: int) -> None:
        rows = self.model.rows
        position = int(np.searchsorted(rows, index))
        selection = self.list.selectionModel()
        with QSignalBlocker(selection):
            if position < len(rows) and rows[position] == index:
                model_index = self.model.index(position)
                selection.setCurrentIndex(model_index, selection.SelectionFlag.ClearAndSelect)
                self.list.scrollTo(model_index)
            else:
                selection.clearSelection()
        self.list.viewport().update()
