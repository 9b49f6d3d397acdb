"""File and export actions of the main window (open/save models, open datasets, heatmaps, relevance, graph).

Kept apart from :mod:`lrp_studio.gui.main_window` as a mixin: each action asks for a path through
:mod:`lrp_studio.gui.dialogs` (tests replace those), and a bad file ends in an error dialog with one
line while the window keeps its previous state.
"""

from __future__ import annotations

import threading
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np

from PySide6.QtCore import QEventLoop, QObject, Qt, Signal
from PySide6.QtWidgets import QProgressDialog

from lrp_studio.data import load_dataset
from lrp_studio.gui import dialogs
from lrp_studio.app.batch_export import ImageOptions, export_batch
from lrp_studio.app.fitting import classes_fit
from lrp_studio.gui.export_actions import export_current_heatmap, export_relevance
from lrp_studio.gui.training_panel import build_network
from lrp_studio.lrp.input_check import range_warning

EXPORT_KEY = "batch-export"


class ProgressRelay(QObject):
    """Carries a worker's progress count to a widget of the GUI thread (a queued signal)."""

    progressed = Signal(int)


def wait_for(controller: Any, key: str, request_id: int) -> Any:
    """Run a local event loop until the controller routes request ``request_id`` of ``key``;
    returns its result, or its error message (str)."""
    loop = QEventLoop()
    outcome: dict[str, Any] = {}

    def finished(k: str, rid: int, result: Any) -> None:
        if (k, rid) == (key, request_id):
            outcome["result"] = result
            loop.quit()

    def failed(k: str, rid: int, message: str) -> None:
        if (k, rid) == (key, request_id):
            outcome["error"] = message
            loop.quit()

    controller.finished.connect(finished)
    controller.failed.connect(failed)
    try:
        loop.exec()
    finally:
        controller.finished.disconnect(finished)
        controller.failed.disconnect(failed)
    return outcome.get("result", outcome.get("error", "the export was interrupted"))


MODEL_FILTER = "LRP Studio models (*.npz);;All files (*)"
DATA_FILTER = "Datasets (*.npz *.csv *.idx *.gz *-ubyte);;All files (*)"


class FileActionsMixin:
    """Mixed into :class:`~lrp_studio.gui.main_window.MainWindow` (uses its state, docks and views)."""

    # ------------------------------------------------------------------ files
    def open_model(self, path: str | None = None) -> bool:
        path = path or dialogs.get_open_path(self, "Open model", MODEL_FILTER)
        if not path:
            return False
        try:
            from lrp_studio.io import load_model

            net = load_model(path)
        except Exception as error:
            dialogs.show_error(self, "Cannot open model", dialogs.error_text(error))
            return False
        if not self.state.may_replace_model(f"open the model {Path(path).name}"):
            return False
        self.state.set_network(net, Path(path).name)
        self.show_status(f"Opened model {path}")
        self._remember(path, "model")
        return True

    def save_model(self, path: str | None = None) -> bool:
        path = path or dialogs.get_save_path(self, "Save model as", MODEL_FILTER, "model.npz")
        if not path:
            return False
        if not path.lower().endswith(".npz"):
            path += ".npz"
        try:
            from lrp_studio.io import save_model

            save_model(self.state.net, path)
        except Exception as error:
            dialogs.show_error(self, "Cannot save model", dialogs.error_text(error))
            return False
        self.state.model_name = Path(path).name
        self.model_saved()
        self._update_title()
        self.show_status(f"Saved model to {path}")
        self._remember(path, "model")
        return True

    def open_dataset(self, spec: str = "") -> bool:
        """Open a dataset spec (``mnist:test``, ``toy:moons``) or, with ``""``, files chosen in a dialog."""
        if not spec:
            paths = dialogs.get_open_paths(self, "Import dataset (IDX: choose images and labels)", DATA_FILTER)
            if not paths:
                return False
            spec = ",".join(sorted(paths, key=lambda p: "label" in Path(p).name.lower()))
        try:
            dataset = load_dataset(spec)
        except Exception as error:
            dialogs.show_error(self, "Cannot open dataset", dialogs.error_text(error))
            self.sample_browser._dataset_changed()
            return False
        fits = self.state.fits(dataset=dataset) and classes_fit(dataset, self.state.net)
        if not fits and not self.state.may_replace_model(f"open '{dataset.name}' (the model does not fit it: "
                                                         "a new one replaces it)"):
            self.sample_browser._dataset_changed()  # the dataset box shows the dataset kept
            return False
        self.state.set_dataset(dataset, spec)
        self._remember(spec, "dataset")
        if not fits:
            hidden = [{"type": "dense", "size": 16 if len(dataset.sample_shape) == 1 else 100, "kernel": 3,
                       "activation": "relu", "pool": "none"}]
            if len(dataset.sample_shape) == 1:
                hidden = hidden * 2
            # two classes of flat points (the toy sets): the notes' binary classifier, one output trained with "bce"
            binary = len(dataset.sample_shape) == 1 and dataset.n_classes == 2
            self.state.set_network(build_network(hidden, dataset, n_outputs=1 if binary else None),
                                   "new model (untrained)")
            self.show_status(f"No model fits '{dataset.name}': built an untrained one \u2014 train it in the Training dock", 0)
            self.docks["training"].show()
            self.docks["training"].raise_()
        else:
            warning = range_warning(dataset.x, self.state.net.input_range)
            self.show_status(f"Opened dataset {dataset.name} ({len(dataset)} samples)"
                             + (f" \u2014 warning: {warning}" if warning else ""), 0 if warning else 6000)
        return True

    def _remember(self, path: str, kind: str) -> None:
        """File > Recent (when the window has it)."""
        add_recent = getattr(self, "add_recent", None)
        if add_recent is not None:
            add_recent(path, kind)

    # ------------------------------------------------------------------ export
    def export_heatmap(self, path: str | None = None) -> bool:
        path = path or dialogs.get_save_path(self, "Export heatmap", "PNG images (*.png)", f"heatmap_{self.state.index}.png")
        if not path:
            return False
        try:
            export_current_heatmap(self.state, path, self.heatmap.colormap, self.heatmap.overlay_enabled)
        except Exception as error:
            dialogs.show_error(self, "Cannot export heatmap", dialogs.error_text(error))
            return False
        self.show_status(f"Wrote {path}")
        return True

    def export_filtered(self, directory: str | None = None) -> int:
        """Export the heatmaps of the samples the browser lists, with the shown method and target.

        The work is :func:`lrp_studio.app.batch_export.export_batch` (the one batch export the CLI's
        ``export`` uses, lean explanations in chunks) run in the controller's worker; a local event
        loop keeps the window and the progress dialog (with Cancel) answering until it ends.
        Returns the number of PNGs written.
        """
        directory = directory or dialogs.get_directory(self, "Export heatmaps of the listed samples into")
        if not directory:
            return 0
        state = self.state
        indices = np.asarray(self.sample_browser.visible_indices(), dtype=np.int64)
        dialog = QProgressDialog("Explaining and writing heatmaps\u2026", "Cancel", 0, len(indices), self)
        dialog.setWindowModality(Qt.WindowModality.WindowModal)
        dialog.setMinimumDuration(300)
        cancel = threading.Event()
        dialog.canceled.connect(cancel.set)
        relay = ProgressRelay()
        relay.progressed.connect(dialog.setValue)

        def progress(done: int, total: int) -> bool:  # worker thread: only a queued signal reaches the dialog
            relay.progressed.emit(done)
            return not cancel.is_set()

        arguments = state.explain_arguments()
        method, bias = arguments.pop("method"), arguments.pop("bias", None)
        image = ImageOptions(cmap=self.heatmap.colormap, overlay=self.heatmap.overlay_enabled)
        job = partial(export_batch, method=method, target=state.target, bias=bias, params=arguments, image=image,
                      progress=progress)
        request = self.controller.submit(EXPORT_KEY, job, state.net, state.dataset, indices, directory)
        outcome = wait_for(self.controller, EXPORT_KEY, request)
        dialog.close()
        if isinstance(outcome, str):
            dialogs.show_error(self, "Cannot export heatmaps", outcome.strip().splitlines()[-1])
            return 0
        written = list(outcome.pngs)
        self.show_status(f"Wrote {len(written)} heatmaps, relevance.npy and index.csv to {directory}")
        return len(written)

    def export_relevance(self, path: str | None = None) -> bool:
        path = path or dialogs.get_save_path(self, "Export relevance", "NumPy array (*.npy);;CSV table (*.csv)",
                                             f"relevance_{self.state.index}.npy")
        if not path:
            return False
        try:
            written = export_relevance(self.state, path)
        except Exception as error:
            dialogs.show_error(self, "Cannot export relevance", dialogs.error_text(error))
            return False
        self.show_status(f"Wrote {written}")
        return True

    def export_graph(self, path: str | None = None) -> bool:
        path = path or dialogs.get_save_path(self, "Export graph", "PNG image (*.png);;SVG drawing (*.svg)", "graph.png")
        if not path:
            return False
        try:
            self.graph.export_image(path)
        except Exception as error:
            dialogs.show_error(self, "Cannot export graph", dialogs.error_text(error))
            return False
        self.show_status(f"Wrote {path}")
        return True
