"""In the neuron inspector: the selected unit's atlas entry (its top references over the whole dataset).

Two galleries - the samples the unit matters most for (relevance maximisation, CRP) and those that drive
it most (activation maximisation) - each reference drawn with its conditional heatmap (CRP conditional
relevance: the input relevance of the unit's share of the explanation), full or cropped to its receptive
field; clicking a reference opens that sample. A "units" table lists the layer's units by how often
they are relevant, above a strip that maps the layer (one column per unit, darker = more often relevant).

Selecting a unit looks the atlas of the open model, dataset and method up in the on-disk cache (a short
job: :func:`lrp_studio.app.atlas_refs.cached_atlas`); *Compute atlas* computes it in the window's
long-job worker (:func:`lrp_studio.app.atlas_refs.atlas_job`, progress bar, Cancel) and caches it, so
reopening is instant. Computing is a click, not automatic: it keeps both cores busy for a while (the
bundled CNN over 5,000 digits: about 5 s here) and would hold the long-job thread that training and
the faithfulness runs use. The references' conditional heatmaps are a short job of the compute worker.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from PySide6.QtCore import QSize, Qt, Signal
from PySide6.QtGui import QIcon, QImage, QPixmap
from PySide6.QtWidgets import (
    QCheckBox, QGridLayout, QHBoxLayout, QHeaderView, QLabel, QProgressBar, QPushButton, QTableWidget,
    QTableWidgetItem, QToolButton, QVBoxLayout, QWidget,
)

from lrp_studio.app.atlas import Atlas
from lrp_studio.app.atlas_refs import (
    THUMBNAIL, ReferenceHeatmaps, atlas_job, cached_atlas, reference_heatmaps, thumbnail,
)
from lrp_studio.gui.controller import error_message
from lrp_studio.lrp import BASELINES, default_method
from lrp_studio.lrp.atlas import layer_for_stage

__all__ = ["AtlasGallery", "GALLERY_KEY", "LOOKUP_KEY", "install_atlas_gallery"]

GALLERY_KEY = "atlas-gallery"  # the references' conditional heatmaps (short job)
LOOKUP_KEY = "atlas-lookup"  # is the atlas of the open model, dataset and method cached? (short job)
#: References per unit and ranking in the GUI.
TOP = 8
COLUMNS = 4
UNITS_SHOWN = 12


def rgba_pixmap(rgba: np.ndarray, size: int = THUMBNAIL) -> QPixmap:
    """An RGBA uint8 array (h, w, 4) as a pixmap fitted into size x size (aspect kept, no smoothing)."""
    data = np.ascontiguousarray(rgba)
    image = QImage(data.data, data.shape[1], data.shape[0], data.strides[0], QImage.Format.Format_RGBA8888)
    return QPixmap.fromImage(image.copy()).scaled(size, size, Qt.AspectRatioMode.KeepAspectRatio,
                                                  Qt.TransformationMode.FastTransformation)


class AtlasGallery(QWidget):
    """The atlas section of the inspector (see the module docstring).

    Signals
    -------
    sampleRequested(int)
        A reference was clicked: open that dataset sample.
    unitRequested(int, int)
        A row of the units table was clicked: select (stage, unit).
    computeRequested()
        The Compute button was clicked.
    cancelRequested()
    """

    sampleRequested = Signal(int)
    unitRequested = Signal(int, int)
    computeRequested = Signal()
    cancelRequested = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("atlasGallery")
        self.atlas: Atlas | None = None
        self.references: ReferenceHeatmaps | None = None
        self.selection: tuple[int, int] | None = None
        self.cmap = "bwr"
        self.input_range: tuple[float, float] | None = None
        title = QLabel("Neuron atlas: top references over the whole dataset")
        title.setWordWrap(True)
        title.setStyleSheet("font-weight: bold;")
        self.status = QLabel()
        self.status.setObjectName("atlasStatus")
        self.status.setWordWrap(True)
        self.compute = QPushButton("Compute atlas")
        self.compute.setObjectName("atlasCompute")
        self.cancel = QPushButton("Cancel")
        self.cancel.setObjectName("atlasCancel")
        self.progress = QProgressBar()
        self.progress.setObjectName("atlasProgress")
        self.cropped = QCheckBox("crop to receptive field")
        self.cropped.setObjectName("atlasCropped")
        self.cropped.setToolTip("Full reference, or only the region holding its conditional relevance "
                                "(pixels above 10% of the maximum, as zennit-crp crops)")
        self.compute.clicked.connect(self.computeRequested)
        self.cancel.clicked.connect(self.cancelRequested)
        self.cropped.toggled.connect(lambda _: self._draw_references())
        row = QHBoxLayout()
        row.addWidget(self.compute)
        row.addWidget(self.progress, 1)
        row.addWidget(self.cancel)
        self.galleries: dict[str, list[QToolButton]] = {}
        self.captions: dict[str, QLabel] = {}
        box = QVBoxLayout(self)
        box.setContentsMargins(0, 6, 0, 0)
        box.addWidget(title)
        box.addLayout(row)
        box.addWidget(self.status)
        box.addWidget(self.cropped)
        for key, text in (("relevance", "by relevance"), ("activation", "by activation")):
            self.captions[key] = QLabel(text)
            self.captions[key].setObjectName(f"atlasCaption_{key}")
            self.captions[key].setWordWrap(True)
            box.addWidget(self.captions[key])
            box.addLayout(self._gallery(key))
        self.units_caption = QLabel()
        self.units_caption.setWordWrap(True)
        self.layer_map = QLabel()
        self.layer_map.setObjectName("atlasLayerMap")
        self.units = self._units_table()
        box.addWidget(self.units_caption)
        box.addWidget(self.layer_map)
        box.addWidget(self.units)
        self.set_running(False)
        self.clear("Select a hidden unit to see its atlas entry.")

    def _gallery(self, key: str) -> QGridLayout:
        grid = QGridLayout()
        grid.setSpacing(3)
        buttons = []
        for position in range(TOP):
            button = QToolButton()
            button.setObjectName(f"atlasRef_{key}_{position}")
            button.setIconSize(QSize(THUMBNAIL, THUMBNAIL))
            button.setAutoRaise(True)
            button.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextUnderIcon)
            button.clicked.connect(lambda _=False, b=button: self._clicked(b))
            grid.addWidget(button, position // COLUMNS, position % COLUMNS)
            buttons.append(button)
        self.galleries[key] = buttons
        return grid

    def _units_table(self) -> QTableWidget:
        table = QTableWidget(0, 4)
        table.setObjectName("atlasUnits")
        table.setHorizontalHeaderLabels(["unit", "relevant in", "mean act.", "classes"])
        table.verticalHeader().setVisible(False)
        table.setEditTriggers(QTableWidget.EditTrigger.NoEditTriggers)
        table.setSelectionBehavior(QTableWidget.SelectionBehavior.SelectRows)
        table.horizontalHeader().setSectionResizeMode(3, QHeaderView.ResizeMode.Stretch)
        table.verticalHeader().setDefaultSectionSize(22)
        table.setFixedHeight(24 + 22 * UNITS_SHOWN // 2)
        table.cellClicked.connect(self._unit_clicked)
        return table

    # ------------------------------------------------------------------ state
    def set_running(self, running: bool, done: int = 0, total: int = 0) -> None:
        """Show the progress of a computation (or hide the bar)."""
        self.progress.setVisible(running)
        self.cancel.setVisible(running)
        self.compute.setVisible(not running)
        if running:
            self.progress.setMaximum(max(total, 1))
            self.progress.setValue(done)
            self.progress.setFormat(f"{done} / {total} samples")

    def clear(self, message: str) -> None:
        """No references shown; ``message`` says why."""
        self.references = None
        self.status.setText(message)
        for buttons in self.galleries.values():
            for button in buttons:
                button.setIcon(QIcon())
                button.setText("")
                button.setVisible(False)
                button.setProperty("sample", None)

    def set_atlas(self, atlas: Atlas | None, note: str = "") -> None:
        """The atlas of the open model and dataset (None: not computed yet)."""
        self.atlas = atlas
        self.compute.setText("Compute atlas" if atlas is None else f"Atlas of {atlas.n_samples} samples ready")
        self.compute.setEnabled(atlas is None)
        if atlas is None:
            self.units.setRowCount(0)
            self.layer_map.clear()
            self.units_caption.setText("")
        if note:
            self.status.setText(note)

    def show_unit(self, stage: int, unit: int, selected_stage: int | None = None) -> bool:
        """Fill the rankings' texts and the units table for atlas (stage, unit); False when the atlas has no such
        unit. ``selected_stage``: the stage selected in the graph (e.g. the pooled maps of that conv layer)."""
        self.selection = (stage if selected_stage is None else selected_stage, unit)
        if self.atlas is None or stage not in [l.stage for l in self.atlas.layers]:
            return False
        entry = self.atlas.unit(stage, unit)
        classes = ", ".join(f"{self.atlas.classes[c]}" for c, total in entry.top_classes if total > 0) or "none"
        layer = self.atlas.layers[self.atlas.layer_position(stage)]
        what = "channel" if layer.is_map else "neuron"
        self.status.setText(
            f"{layer.name} {what} {unit} over {self.atlas.n_samples} samples ({self.atlas.method}): relevant in "
            f"{entry.relevant_share:.0%} of them, mean activation {entry.mean_activation:.3g} (max "
            f"{entry.max_activation:.3g}), most relevant for class {classes}. Computing the conditional heatmaps\u2026")
        self.captions["relevance"].setText(f"by relevance (top {len(entry.top_relevance)}; value = the {what}'s "
                                           "relevance for the explained class)")
        self.captions["activation"].setText(f"by activation (top {len(entry.top_activation)}"
                                            f"{'; maximum over positions' if layer.is_map else ''})")
        self._fill_units(stage, unit, self.selection[0])
        return True

    def set_references(self, references: ReferenceHeatmaps | None, error: str | None = None) -> None:
        """Draw the references of the selected unit with their conditional heatmaps."""
        self.references = references
        if references is None:
            self.clear(error or "No references.")
            return
        text = self.status.text().replace(" Computing the conditional heatmaps\u2026", "")
        self.status.setText(text + " Click a reference to open it.")
        self._draw_references()

    def _draw_references(self) -> None:
        refs, atlas = self.references, self.atlas
        if refs is None or atlas is None:
            return
        entry = atlas.unit(refs.stage, refs.unit)
        where = {int(index): row for row, index in enumerate(refs.indices)}
        for key, (indices, values) in {"relevance": (entry.top_relevance, entry.relevance_values),
                                       "activation": (entry.top_activation, entry.activation_values)}.items():
            for position, button in enumerate(self.galleries[key]):
                if position >= len(indices) or int(indices[position]) not in where:
                    button.setVisible(False)
                    continue
                row = where[int(indices[position])]
                image = thumbnail(refs.inputs[row], refs.relevance[row], self.cmap, self.cropped.isChecked(),
                                  self.input_range)
                button.setIcon(QIcon(rgba_pixmap(image)))
                button.setText(f"#{int(indices[position])}\n{values[position]:.3g}")
                button.setToolTip(f"sample {int(indices[position])}: value {values[position]:.4g}; click to open it")
                button.setProperty("sample", int(indices[position]))
                button.setVisible(True)

    def _fill_units(self, stage: int, unit: int, selected_stage: int) -> None:
        arrays = self.atlas.arrays[self.atlas.layer_position(stage)]
        share = arrays["relevant_share"]
        order = np.lexsort((np.arange(share.size), -share))
        self.units_caption.setText(f"Units of this layer by how often they are relevant (selected: {unit}); the strip "
                                   "maps the layer, one column per unit, darker = more often relevant:")
        strip = np.repeat(np.repeat((255 - 255 * share / max(float(share.max()), 1e-12)).astype(np.uint8)[None], 10,
                                    axis=0), max(1, 240 // share.size), axis=1)
        rgba = np.dstack([strip, strip, strip, np.full_like(strip, 255)])
        rgba[:, unit * (rgba.shape[1] // share.size):(unit + 1) * (rgba.shape[1] // share.size), :3] = (200, 30, 30)
        self.layer_map.setPixmap(rgba_pixmap(rgba, 260))
        self.units.setRowCount(len(order))
        for row, u in enumerate(order):
            entry = self.atlas.unit(stage, int(u))
            names = ", ".join(self.atlas.classes[c] for c, total in entry.top_classes if total > 0)
            for col, text in enumerate((str(u), f"{entry.relevant_share:.0%}", f"{entry.mean_activation:.3g}", names)):
                item = QTableWidgetItem(text)
                item.setData(Qt.ItemDataRole.UserRole, (selected_stage, int(u)))
                self.units.setItem(row, col, item)
            if u == unit:
                self.units.selectRow(row)

    def _clicked(self, button: QToolButton) -> None:
        sample = button.property("sample")
        if sample is not None:
            self.sampleRequested.emit(int(sample))

    def _unit_clicked(self, row: int, _col: int) -> None:
        item = self.units.item(row, 0)
        if item is not None:
            stage, unit = item.data(Qt.ItemDataRole.UserRole)
            self.unitRequested.emit(int(stage), int(unit))


class _AtlasHook:
    """Connects the gallery to the window: which atlas belongs to the open model/dataset/method, its job, and
    the references' heatmaps of the selected unit."""

    def __init__(self, window: Any, gallery: AtlasGallery) -> None:
        self.window, self.gallery = window, gallery
        self.job: Any = None
        self.key: tuple[Any, ...] | None = None  # what the shown atlas was computed for
        self.running_key: tuple[Any, ...] | None = None
        self.looked_up: tuple[Any, ...] | None = None  # the key whose cache look-up was asked for
        gallery.computeRequested.connect(self.start)
        gallery.cancelRequested.connect(self.cancel)
        gallery.sampleRequested.connect(window.set_sample)
        gallery.unitRequested.connect(lambda stage, unit: window.select_neuron(stage, unit))
        window.controller.finished.connect(self._finished)
        window.controller.failed.connect(self._failed)
        window.graph.neuronSelected.connect(self.show_unit)
        window.graph.neuronActivated.connect(self.show_unit)
        for signal in (window.state.modelChanged, window.state.weightsChanged, window.state.datasetChanged,
                       window.state.methodChanged):
            signal.connect(self.forget)

    def arguments(self) -> tuple[Any, bool | None, dict[str, Any]]:
        """(method, bias, params) of the window's LRP method (a baseline: the model's default method)."""
        state = self.window.state
        arguments = state.explain_arguments()
        method = arguments.pop("method")
        if isinstance(method, str) and method in BASELINES:
            method, arguments = default_method(state.net), {}
        bias = arguments.pop("bias", None)
        return method, bias, arguments

    def current_key(self) -> tuple[Any, ...]:
        state = self.window.state
        method, bias, params = self.arguments()
        return id(state.net), id(state.dataset), repr(method), bias, repr(sorted(params.items()))

    def start(self) -> None:
        """Start (or look up in the cache) the atlas of the open model, dataset and method."""
        state = self.window.state
        if self.job is not None or not state.fits():
            return
        method, bias, params = self.arguments()
        self.running_key = self.current_key()
        self.gallery.set_running(True, 0, len(state.dataset))
        self.gallery.status.setText("Looking for a cached atlas, else computing it in the background\u2026")
        names = (getattr(state, "model_name", "model"), state.dataset.name)
        self.job = self.window.controller.start_generator(
            atlas_job, state.net.copy(), np.asarray(state.dataset.x), TOP, method, bias, params, names,
            _connect={"yielded": self._progress, "returned": self._returned, "errored": self._errored,
                      "aborted": self._aborted})

    def cancel(self) -> None:
        if self.job is not None:
            self.job.quit()

    def forget(self) -> None:
        """The model, weights, dataset or method changed: the shown atlas no longer applies."""
        self.cancel()
        self.key = self.looked_up = None
        self.gallery.set_atlas(None)
        self.gallery.clear("The atlas of this model, dataset and method is not computed yet: Compute atlas "
                           "(cached on disk afterwards).")

    def _progress(self, value: tuple[int, int]) -> None:
        self.gallery.set_running(True, *value)

    def _ended(self) -> None:
        self.job = None
        self.gallery.set_running(False)

    def _returned(self, outcome: Any) -> None:
        self._ended()
        self._use(outcome, self.running_key)

    def _use(self, outcome: Any, key: tuple[Any, ...] | None) -> None:
        """Show a found or computed atlas (if it still belongs to what is open)."""
        if key != self.current_key():
            return  # computed for what was open before
        self.key = key
        self.gallery.set_atlas(outcome.atlas, f"Atlas {'read from the cache' if outcome.source == 'cache' else 'computed and cached'} "
                                              f"({outcome.atlas.n_samples} samples).")
        self.gallery.last_source = outcome.source
        if self.gallery.selection is not None:
            self.show_unit(*self.gallery.selection)

    def _errored(self, error: BaseException) -> None:
        self._ended()
        self.gallery.status.setText(f"The atlas could not be computed: {error_message(error)}")

    def _aborted(self) -> None:
        self._ended()
        self.gallery.status.setText("Atlas cancelled; nothing was cached.")

    def show_unit(self, stage: int, unit: int) -> None:
        """The selected unit's entry: start the atlas job the first time, then its references' heatmaps."""
        gallery, state = self.gallery, self.window.state
        gallery.selection = (stage, unit)
        gallery.cmap = getattr(self.window.inspector, "_cmap", "bwr")
        gallery.input_range = getattr(state.dataset, "input_range", None)
        if self.key != self.current_key():
            if self.job is not None:
                gallery.clear("Computing the atlas\u2026")
            elif self.looked_up != self.current_key():  # a quick look-up in the cache; computing is a click away
                self.looked_up = self.current_key()
                gallery.clear("Looking for this model's atlas in the cache\u2026")
                method, bias, params = self.arguments()
                self.window.controller.submit(LOOKUP_KEY, cached_atlas, state.net, np.asarray(state.dataset.x),
                                              TOP, method, bias, params)
            return
        layer = layer_for_stage(gallery.atlas.layers, state.net, stage)
        if layer is None:
            gallery.clear("This stage has no atlas entry: select a unit of a hidden dense or conv layer.")
            return
        if not gallery.show_unit(layer.stage, unit, stage):  # the layers between keep the unit index
            return
        entry = gallery.atlas.unit(layer.stage, unit)
        indices = np.concatenate([entry.top_relevance, entry.top_activation])
        method, bias, params = self.arguments()
        self.window.controller.submit(GALLERY_KEY, reference_heatmaps, state.net, np.asarray(state.dataset.x),
                                      indices, layer.stage, unit, method, bias, params)

    def _finished(self, key: str, _request: int, result: Any) -> None:
        if key == GALLERY_KEY:
            self.gallery.set_references(result)
        elif key == LOOKUP_KEY and result is not None:
            self._use(result, self.looked_up)
        elif key == LOOKUP_KEY and self.looked_up == self.current_key() and self.job is None:
            n = len(self.window.state.dataset)
            self.gallery.clear(f"The atlas of this model, dataset and method is not computed yet: Compute atlas "
                               f"ranks every unit over the {n} samples in the background (cancellable) and "
                               "caches it on disk.")

    def _failed(self, key: str, _request: int, message: str) -> None:
        if key == GALLERY_KEY:
            self.gallery.set_references(None, f"No conditional heatmaps: {message}")
        elif key == LOOKUP_KEY:
            self.gallery.clear(f"The atlas cache could not be read: {message.splitlines()[0]}")


def install_atlas_gallery(window: Any) -> AtlasGallery:
    """Put the atlas gallery at the end of the neuron inspector and connect it to the window."""
    gallery = AtlasGallery(window.inspector)
    gallery.last_source = None
    window.inspector.layout().addWidget(gallery)
    window.atlas_gallery = gallery
    hook = window.atlas_hook = _AtlasHook(window, gallery)
    select_neuron = window.select_neuron  # programmatic selection (no graph signal)

    def select_and_show(stage: int, unit: int) -> None:
        select_neuron(stage, unit)
        hook.show_unit(stage, unit)

    window.select_neuron = select_and_show
    return gallery
