"""File and export actions of the main window (open/save models, open datasets, heatmaps, relevance, graph).

Kept apart from :mod:`lrp_studio.gui.main_window` as a mixin: each action asks for a path through
:mod:`lrp_studio.gui.dialogs` (tests replace those), and a bad file ends in an error dialog with one
line while the window keeps its previous state.
"""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QApplication, QProgressDialog

from lrp_studio.data import load_dataset
from lrp_studio.gui import dialogs
from lrp_studio.gui.export_actions import export_current_heatmap, export_heatmaps, export_relevance
from lrp_studio.gui.training_panel import build_network

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
        n_out = self.state.net.n_classes
        fits = self.state.fits(dataset=dataset) and (n_out == dataset.n_classes or (n_out == 1 and dataset.n_classes == 2))
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
            self.show_status(f"Opened dataset {dataset.name} ({len(dataset)} samples)")
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
        directory = directory or dialogs.get_directory(self, "Export heatmaps of the listed samples into")
        if not directory:
            return 0
        indices = self.sample_browser.visible_indices()
        dialog = QProgressDialog("Explaining and writing heatmaps\u2026", "Cancel", 0, len(indices), self)
        dialog.setWindowModality(Qt.WindowModality.WindowModal)
        dialog.setMinimumDuration(300)

        def progress(done: int, total: int) -> bool:
            dialog.setValue(done)
            QApplication.processEvents()
            return not dialog.wasCanceled()

        try:
            written = export_heatmaps(self.state, indices, directory, self.heatmap.colormap,
                                      self.heatmap.overlay_enabled, progress)
        except Exception as error:
            dialogs.show_error(self, "Cannot export heatmaps", dialogs.error_text(error))
            return 0
        finally:
            dialog.close()
        self.show_status(f"Wrote {len(written)} heatmaps and relevance.npy to {directory}")
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
