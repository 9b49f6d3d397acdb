"""Sessions, recent files and model import in the File menu (a mixin of the main window).

``Open session…`` / ``Save session as…`` read and write ``.lrpsession`` files
(:mod:`lrp_studio.io.session`: the model plus the state as JSON, never pickle). ``Recent`` lists the
last 8 model, session and dataset files and built-in datasets (``mnist:test``, ``toy:moons``; kept in
QSettings; missing files are greyed out).
``Import model…`` reads ONNX graphs and state dicts with :func:`lrp_studio.io.import_model` and asks
for what the file does not say (input shape, architecture, input value range), and for the input
normalisation (per-channel mean/std, :mod:`lrp_studio.gui.import_normalization`).

Everything is checked before the state changes: a bad file ends in a one-line error dialog and the
window keeps what it showed.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import numpy as np
from PySide6.QtGui import QAction
from PySide6.QtWidgets import QInputDialog, QLineEdit, QMenu, QWidget

from lrp_studio.gui import dialogs
from lrp_studio.gui.settings import open_settings
from lrp_studio.gui.state import CUSTOM, default_params, method_names
from lrp_studio.lrp import default_method

SESSION_FILTER = "LRP Studio sessions (*.lrpsession);;All files (*)"
IMPORT_FILTER = "Models to import (*.onnx *.safetensors *.npz);;All files (*)"
RECENT_KEY = "recentFiles"
MAX_RECENT = 8
BUILTIN_DATASETS = ("mnist", "mnist:all", "mnist:train", "mnist:test")
KIND_TITLES = {"model": "model", "session": "session", "dataset": "dataset", "import": "imported model"}


def ask_text(parent: QWidget | None, title: str, label: str, default: str = "") -> str | None:
    """One line of text from the user (None when cancelled); tests patch ``QInputDialog.getText``."""
    text, ok = QInputDialog.getText(parent, title, label, QLineEdit.EchoMode.Normal, default)
    return str(text).strip() if ok else None


def dataset_spec_for(name: str, recorded: str | None) -> str | None:
    """What reopens a dataset: the spec it was opened with, or a built-in name (mnist…, toy:…)."""
    if recorded:
        return recorded
    lowered = name.lower()
    if lowered in BUILTIN_DATASETS or lowered.startswith("toy:"):
        return lowered
    return None


def spec_paths(spec: str) -> list[str]:
    """The files a dataset spec names (empty for built-in datasets)."""
    lowered = spec.lower()
    if lowered in BUILTIN_DATASETS or lowered.startswith("toy:"):
        return []
    return [part for part in spec.split(",") if part]


class SessionActionsMixin:
    """Mixed into :class:`~lrp_studio.gui.main_window.MainWindow` (uses its state, views and docks)."""

    # ------------------------------------------------------------------ menu
    def _build_session_menu(self, file_menu: QMenu) -> None:
        file_menu.addSeparator()
        self.import_model_action = self._action(file_menu, "Import &model (ONNX, safetensors)\u2026",
                                                lambda: self.import_model_file(), None,
                                                "ONNX graphs or PyTorch state dicts (.safetensors/.npz + architecture)")
        self.open_session_action = self._action(file_menu, "Open sessio&n\u2026", lambda: self.open_session(),
                                                "Ctrl+Shift+O", "Reopen a saved session (.lrpsession)")
        self.save_session_action = self._action(file_menu, "Save session &as\u2026", lambda: self.save_session_as(),
                                                "Ctrl+Shift+S",
                                                "Model, dataset, sample, method, parameters, selection and view in one file")
        self.recent_menu = file_menu.addMenu("&Recent")
        self.recent_menu.setObjectName("recentMenu")
        self.recent_menu.aboutToShow.connect(self._rebuild_recent_menu)
        self._rebuild_recent_menu()

    # ------------------------------------------------------------------ recent files
    def recent_files(self) -> list[dict[str, str]]:
        raw = open_settings().value(RECENT_KEY, "[]")
        try:
            entries = json.loads(str(raw))
        except ValueError:
            return []
        if not isinstance(entries, list):
            return []
        return [e for e in entries if isinstance(e, dict) and isinstance(e.get("path"), str)
                and e.get("kind") in KIND_TITLES][:MAX_RECENT]

    def _store_recent(self, entries: list[dict[str, str]]) -> None:
        settings = open_settings()
        settings.setValue(RECENT_KEY, json.dumps(entries[:MAX_RECENT]))
        settings.sync()
        self._rebuild_recent_menu()

    def add_recent(self, path: str, kind: str) -> None:
        """Put a model/session/dataset file first in File > Recent (at most 8 entries)."""
        if kind == "dataset":
            parts = spec_paths(path)
            path = ",".join(os.path.abspath(p) for p in parts) if parts else path.lower()  # built-in: its name
        else:
            path = os.path.abspath(path)
        entries = [e for e in self.recent_files() if not (e["path"] == path and e["kind"] == kind)]
        self._store_recent([{"path": path, "kind": kind}] + entries)

    def clear_recent(self) -> None:
        self._store_recent([])

    @staticmethod
    def _recent_exists(entry: dict[str, str]) -> bool:
        if entry["kind"] == "dataset":
            parts = spec_paths(entry["path"])  # empty for a built-in dataset (mnist, toy:moons): always there
            return all(Path(p).is_file() for p in parts)
        return Path(entry["path"]).is_file()

    def _rebuild_recent_menu(self) -> None:
        menu = getattr(self, "recent_menu", None)
        if menu is None:
            return
        menu.clear()
        entries = self.recent_files()
        if not entries:
            action = menu.addAction("(no recent files)")
            action.setEnabled(False)
        for number, entry in enumerate(entries, start=1):
            names = [Path(p).name for p in entry["path"].split(",")]
            exists = self._recent_exists(entry)
            text = f"&{number} {' + '.join(names)} \u2014 {KIND_TITLES[entry['kind']]}" + ("" if exists else " (missing)")
            action = QAction(text, menu)
            action.setToolTip(entry["path"])
            action.setStatusTip(entry["path"])
            action.setEnabled(exists)
            action.setData(json.dumps(entry))
            action.triggered.connect(lambda _=False, e=dict(entry): self.open_recent(e))
            menu.addAction(action)
        menu.addSeparator()
        clear = menu.addAction("Clear recent files")
        clear.setEnabled(bool(entries))
        clear.triggered.connect(self.clear_recent)

    def open_recent(self, entry: dict[str, str]) -> bool:
        """Open a File > Recent entry; a file that disappeared is removed from the list with a message."""
        if not self._recent_exists(entry):
            self._store_recent([e for e in self.recent_files() if e != entry])
            dialogs.show_error(self, "File not found", f"{entry['path']}: no longer exists; removed from the recent files")
            return False
        kind, path = entry["kind"], entry["path"]
        if kind == "session":
            return self.open_session(path)
        if kind == "dataset":
            return self.open_dataset(path)
        if kind == "import":
            return self.import_model_file(path)
        return self.open_model(path)

    # ------------------------------------------------------------------ sessions
    def session_state(self) -> dict[str, Any]:
        """Everything a session file keeps about the window (see :mod:`lrp_studio.io.session`)."""
        state, graph = self.state, self.graph
        selection = graph.selection()
        return {
            "model_name": state.model_name,
            "dataset": {"spec": dataset_spec_for(state.dataset.name, getattr(state, "dataset_spec", None)),
                        "name": state.dataset.name},
            "index": int(state.index),
            "method": state.method,
            "target": state.target,
            "params": {m: dict(p) for m, p in state.params_by_method.items()},
            "custom_rules": dict(state.custom_rules),
            "selection": list(selection) if selection is not None else None,
            "view": {"colormap": self.heatmap.colormap, "color_mode": getattr(graph, "_color_mode", "relevance"),
                     "scale_mode": getattr(graph, "_scale_mode", "layer"), "overlay": self.heatmap.overlay_enabled,
                     "top_k": int(getattr(graph, "_top_k", 3))},
            "custom_input": None if state.custom_input is None else np.asarray(state.custom_input).ravel(),
        }

    def save_session_as(self, path: str | None = None) -> bool:
        path = path or dialogs.get_save_path(self, "Save session as", SESSION_FILTER, "session.lrpsession")
        if not path:
            return False
        if not path.lower().endswith(".lrpsession"):
            path += ".lrpsession"
        try:
            from lrp_studio.io.session import save_session

            session = self.session_state()
            if session["dataset"]["spec"] is None:
                self.show_status(f"the dataset '{self.state.dataset.name}' was not opened from a file or by name: "
                                 "the session will reopen with the dataset shown then", 10000)
            save_session(path, self.state.net, session)
        except Exception as error:
            dialogs.show_error(self, "Cannot save session", dialogs.error_text(error))
            return False
        model_saved = getattr(self, "model_saved", None)
        if model_saved is not None:  # the session file holds the model: nothing is lost any more
            model_saved()
        self.add_recent(path, "session")
        self.show_status(f"Saved session to {path}")
        return True

    def open_session(self, path: str | None = None) -> bool:
        """Open a session file; everything is checked first, a bad file leaves the window as it was."""
        path = path or dialogs.get_open_path(self, "Open session", SESSION_FILTER)
        if not path:
            return False
        try:
            from lrp_studio.io.session import load_session

            net, session = load_session(path, default_method)
            dataset, spec = self._session_dataset(path, net, session)
            self._check_session(path, net, dataset, session)
        except Exception as error:
            dialogs.show_error(self, "Cannot open session", dialogs.error_text(error))
            return False
        if not self.state.may_replace_model(f"open the session {Path(path).name}"):
            return False
        self._apply_session(net, dataset, spec, session)
        self.add_recent(path, "session")
        self.show_status(f"Opened session {path}")
        return True

    def _session_dataset(self, path: str, net: Any, session: dict[str, Any]) -> tuple[Any, str | None]:
        from lrp_studio.data import load_dataset
        from lrp_studio.errors import DataError

        spec = session["dataset"]["spec"]
        if spec:
            try:
                return load_dataset(spec), spec
            except Exception as error:
                raise DataError(f"{path}: cannot reopen the session's dataset: {dialogs.error_text(error)}") from None
        dataset = self.state.dataset
        if int(np.prod(dataset.sample_shape)) != int(np.prod(net.input_shape)):
            raise DataError(f"{path}: the session's dataset '{session['dataset']['name']}' cannot be reopened and the "
                            f"shown dataset does not fit its model")
        return dataset, getattr(self.state, "dataset_spec", None)

    def _check_session(self, path: str, net: Any, dataset: Any, session: dict[str, Any]) -> None:
        from lrp_studio.errors import ModelFileError

        def bad(problem: str) -> ModelFileError:
            return ModelFileError(f"{path}: {problem}")

        if int(np.prod(dataset.sample_shape)) != int(np.prod(net.input_shape)):
            raise bad(f"the model's input {net.input_shape} does not fit the dataset '{dataset.name}'")
        if session["index"] >= len(dataset):
            raise bad(f"sample {session['index']} is outside the dataset '{dataset.name}' ({len(dataset)} samples)")
        if session["method"] not in method_names():
            raise bad(f"unknown method {session['method']!r}")
        if session["target"] is not None and session["target"] >= net.n_classes:
            raise bad(f"target class {session['target']} does not exist (the model has {net.n_classes} outputs)")
        linear = set(net.linear_indices)
        from lrp_studio.lrp import RULES

        for layer, rule in session["custom_rules"].items():
            if layer not in linear:
                raise bad(f"custom rule for layer {layer}, which is not a dense or conv layer")
            if rule not in RULES:
                raise bad(f"unknown rule {rule!r} for layer {layer}")
        custom = session["custom_input"]
        if custom is not None and custom.size != int(np.prod(net.input_shape)):
            raise bad(f"the drawn input has {custom.size} values, the model takes {net.input_shape}")
        view = session["view"]
        from lrp_studio.viz import COLORMAPS

        if view["colormap"] not in COLORMAPS:
            raise bad(f"unknown colour map {view['colormap']!r}")
        if view["color_mode"] not in ("relevance", "activation") or view["scale_mode"] not in ("layer", "global"):
            raise bad("unknown colour mode or scale")

    def _apply_session(self, net: Any, dataset: Any, spec: str | None, session: dict[str, Any]) -> None:
        state = self.state
        if dataset is not state.dataset:
            state.set_dataset(dataset, spec)
        state.set_network(net, session["model_name"])
        params = {}
        for method, values in session["params"].items():
            if method in method_names():
                merged = default_params(method, net)
                merged.update({k: v for k, v in values.items() if k in merged})
                params[method] = merged
        state.params_by_method = params
        rules = dict(state.custom_rules)
        rules.update(session["custom_rules"])
        state.custom_rules = rules
        fill_rules = getattr(getattr(self, "explanation_panel", None), "_fill_rule_table", None)
        if fill_rules is not None:
            fill_rules()
        state.method = session["method"]
        state.target = session["target"]
        state.methodChanged.emit()
        state.targetChanged.emit()
        state.set_index(session["index"])
        if session["custom_input"] is not None:
            state.set_custom_input(session["custom_input"])
        self._apply_view(session["view"])
        selection = session["selection"]
        if selection is not None:
            try:
                self.graph.select(*selection)
            except Exception as error:  # a stage/unit the graph does not have: keep going without it
                self.show_status(f"selection not restored: {dialogs.error_text(error)}", 8000)
        if state.method == CUSTOM:
            state.methodChanged.emit()

    def _apply_view(self, view: dict[str, Any]) -> None:
        self.heatmap.set_colormap(view["colormap"])
        self.heatmap.set_overlay(bool(view["overlay"]))
        titles = {"Colour neurons by": view["color_mode"],
                  "Colour scale": {"layer": "per layer", "global": "one for all layers"}[view["scale_mode"]],
                  "Edges per neuron (top-k)": str(view["top_k"])}
        done = set()
        for action in self.menuBar().actions():
            menu = action.menu()
            if menu is None:
                continue
            for sub in menu.actions():
                submenu = sub.menu()
                if submenu is None or submenu.title() not in titles:
                    continue
                for choice in submenu.actions():
                    if choice.text() == titles[submenu.title()]:
                        choice.trigger()
                        done.add(submenu.title())
        # values the menus do not offer (e.g. top-k 7) go to the graph directly
        if "Colour neurons by" not in done:
            self.graph.set_color_mode(view["color_mode"])
        if "Colour scale" not in done:
            self.graph.set_scale_mode(view["scale_mode"])
        if "Edges per neuron (top-k)" not in done:
            self.graph.set_top_k(view["top_k"])

    # ------------------------------------------------------------------ import
    def import_model_file(self, path: str | None = None) -> bool:
        """Import an ONNX graph or a state dict; ask for the input shape/architecture/value range when needed."""
        path = path or dialogs.get_open_path(self, "Import model", IMPORT_FILTER)
        if not path:
            return False
        from lrp_studio.io import import_model
        from lrp_studio.gui import import_normalization
        from lrp_studio.io.importing import MissingModelInfo, parse_input_range

        normalization = import_normalization.ask_import_normalization(self)  # mean/std as import --mean/--std
        if normalization is None:
            self.show_status("Import cancelled")
            return False
        answers: dict[str, str] = dict(normalization)
        try:
            for _ in range(4):
                try:
                    net = import_model(path, **answers)
                    break
                except MissingModelInfo as error:
                    if error.what in answers:
                        raise
                    answer = ask_text(self, "Import model", self._import_question(error), self._import_default(error))
                    if answer is None:
                        self.show_status("Import cancelled")
                        return False
                    answers[error.what] = answer
            else:  # pragma: no cover - import_model asks for at most two things
                return False
            if net.input_range is None:
                low, high = self.state.dataset.input_range if len(self.state.dataset) else (0.0, 1.0)
                answer = ask_text(self, "Import model", "The file does not say which values the inputs take.\n"
                                  "Input value range LOW,HIGH (the zbox rule needs it):", f"{low:g},{high:g}")
                if answer is None:
                    self.show_status("Import cancelled")
                    return False
                net.input_range = parse_input_range(answer, "input value range")
        except Exception as error:
            dialogs.show_error(self, "Cannot import model", dialogs.error_text(error))
            return False
        if not self.state.may_replace_model(f"import the model {Path(path).name}"):
            return False
        self.state.set_network(net, Path(path).name)
        self.add_recent(path, "import")
        self.show_status(f"Imported {path}: {net}")
        return True

    @staticmethod
    def _import_question(error: Any) -> str:
        if error.what == "input_shape":
            return (f"{error.problem}.\nInput shape of one sample, without the batch axis "
                    f"(e.g. 1,28,28 for MNIST images, 784 for flat vectors):")
        return (f"{error.problem}.\nArchitecture, one token per torch.nn.Sequential module, e.g.\n"
                "conv:16:5,relu,maxpool:2,flatten,dense:100,relu,dense:10\n(tokens: conv:C:K[:S[:P]], dense:N, "
                "maxpool:K, avgpool:K, flatten, relu, sigmoid, tanh, bn, dropout, softmax):")

    def _import_default(self, error: Any) -> str:
        if error.what == "input_shape":
            return ",".join(str(v) for v in self.state.dataset.sample_shape)
        return str(getattr(error, "example", ""))


__all__ = ["SessionActionsMixin", "ask_text", "dataset_spec_for", "spec_paths"]
