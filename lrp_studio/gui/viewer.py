"""``lrp_studio.view(...)``: open the studio from Python or a notebook, and script it (issue 17).

Modelled on ``napari.view_image``: one call opens the window on your network and samples and returns
a :class:`Viewer` handle at once when an event loop already runs (IPython/Jupyter after ``%gui qt``,
or inside another Qt application); in a plain script ``lrp_studio.run()`` (or ``view(...,
block=True)``) runs the loop until the windows are closed. Every scripted action calls the same
:class:`~lrp_studio.gui.state.AppState` setter or window slot that the corresponding click calls
(sample list, method box and parameter fields, output bars, graph nodes), so the views update
exactly as they do for a user. Qt is imported only when this module is, i.e. on the first call of
``view``/``run``: ``import lrp_studio`` stays Qt-free.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from lrp_studio.data import Dataset
from lrp_studio.errors import DataError, ParameterError
from lrp_studio.lrp import Explanation
from lrp_studio.nn import Network

#: Names of the views :meth:`Viewer.screenshot` can grab alone ("window" is the whole window).
VIEW_NAMES = ("window", "graph", "heatmap", "inspector", "samples", "method", "output", "conservation", "training")


def to_network(model: Any, x: np.ndarray | None = None, classes: Sequence[str] | None = None) -> Network:
    """The :class:`Network` for ``model``: a Network, anything :func:`lrp_studio.load_model` opens, or a torch module.

    A ``torch.nn.Module`` is converted through ONNX (:func:`lrp_studio.io.torch_convert.network_from_torch`,
    with its limits) on the sample shape of ``x``, which is then required.

    Raises
    ------
    ParameterError
        A torch module without ``x``, or a model of an unknown type.
    ModelFileError
        The file or name cannot be opened, or the torch module cannot be converted.
    """
    from lrp_studio.io.torch_convert import is_torch_module, network_from_torch

    if isinstance(model, Network):
        return model
    if isinstance(model, (str, os.PathLike)):
        from lrp_studio.zoo import load_any_model

        return load_any_model(model)
    if is_torch_module(model):
        if x is None:
            raise ParameterError("view(torch_module, x): the samples x are needed to trace the module's input shape")
        return network_from_torch(model, np.shape(x)[1:], classes=classes)
    raise ParameterError(f"view: model must be a Network, a model file or bundled name, or a torch.nn.Module; "
                         f"got {type(model).__name__}")


def to_dataset(net: Network, x: Any, y: Any = None, classes: Sequence[str] | None = None) -> Dataset | None:
    """A :class:`Dataset` of the arrays ``x`` (N, features) or (N, C, H, W) and labels ``y`` (N,).

    ``x`` of the model's input size in another layout is reshaped to ``(N, *net.input_shape)``.
    Without ``y`` the labels are the network's predictions (the sample list then shows no errors).
    ``x=None`` gives None (the window's default: the bundled MNIST subset).

    Raises
    ------
    DataError
        ``x`` is not numeric, not 2-D or 4-D, has NaN/inf, or ``y`` does not match it.
    """
    if x is None:
        if y is not None:
            raise DataError("view: labels y given without samples x")
        return None
    try:
        array = np.asarray(x, dtype=np.float32)
    except (TypeError, ValueError) as error:
        raise DataError(f"view: x is not a numeric array ({error})") from None
    if array.ndim not in (2, 4) or len(array) == 0:
        raise DataError(f"view: x must be (N, features) or (N, C, H, W) with N > 0, got shape {array.shape}")
    if not np.isfinite(array).all():
        raise DataError("view: x contains NaN or infinite values")
    shape = tuple(net.input_shape)
    if array.shape[1:] != shape and int(np.prod(array.shape[1:])) == int(np.prod(shape)) and len(shape) in (1, 3):
        array = array.reshape((len(array), *shape))
    if y is None:
        logits = net.predict(array, 512)
        labels = (logits[:, 0] > 0).astype(np.int64) if logits.shape[1] == 1 else logits.argmax(axis=1)
    else:
        labels = np.asarray(y)
        if labels.ndim != 1 or len(labels) != len(array) or not np.issubdtype(labels.dtype, np.integer):
            raise DataError(f"view: y must be {len(array)} integer labels, got shape {labels.shape} ({labels.dtype})")
    names = [str(c) for c in classes] if classes is not None else list(net.classes)
    if len(labels) and (labels.min() < 0 or labels.max() >= len(names)):
        raise DataError(f"view: labels must be in 0..{len(names) - 1}, got {labels.min()}..{labels.max()}")
    low, high = net.input_range if getattr(net, "input_range", None) else (float(array.min()), float(array.max()))
    return Dataset("arrays", array, labels.astype(np.int64), names, (float(low), float(high)))


def event_loop_running() -> bool:
    """Whether a Qt event loop runs now or is driven by IPython's input hook (``%gui qt``)."""
    from PySide6.QtCore import QCoreApplication, QThread

    app = QCoreApplication.instance()
    if app is not None and QThread.currentThread().loopLevel() > 0:
        return True
    shell = sys.modules.get("IPython")
    ipython = getattr(shell, "get_ipython", lambda: None)() if shell is not None else None
    if ipython is None:
        return False
    hook = getattr(ipython, "active_eventloop", None)  # "qt", "qt6" after %gui qt (terminal IPython)
    kernel = getattr(ipython, "kernel", None)           # ipykernel: kernel.eventloop set by %gui qt
    return bool(hook and "qt" in str(hook)) or bool(kernel is not None and getattr(kernel, "eventloop", None))


class Viewer:
    """A scriptable handle of one LRP Studio window (returned by :func:`view`).

    Each method goes through the window's application state, as the matching click does, and
    returns once the change is made; :attr:`explanation` and :meth:`screenshot` first wait until
    the worker has finished the explanation the change asked for.

    Attributes
    ----------
    window : lrp_studio.gui.main_window.MainWindow
        The Qt window (its panels are attributes: ``graph``, ``heatmap``, ``inspector``, ...).
    state : lrp_studio.gui.state.AppState
        The shared state all panels listen to.
    """

    def __init__(self, window: Any) -> None:
        self.window = window
        self.state = window.state

    # ------------------------------------------------------------------ actions
    def select_sample(self, index: int) -> "Viewer":
        """Show sample ``index`` (0-based; like a click in the sample list). Raises ParameterError out of range."""
        count = len(self.state.dataset)
        if not 0 <= int(index) < count:
            raise ParameterError(f"sample must be in 0..{count - 1}, got {index}")
        self.state.set_index(int(index))
        return self

    def set_target(self, target: int | None) -> "Viewer":
        """Explain class ``target`` (like a click on its output bar); None: the predicted class."""
        if target is not None and not 0 <= int(target) < self.state.net.n_classes:
            raise ParameterError(f"target must be in 0..{self.state.net.n_classes - 1} or None, got {target}")
        self.state.set_target(None if target is None else int(target))
        return self

    def set_method(self, method: str, **params: Any) -> "Viewer":
        """Choose ``method`` (like the method box) and then its parameters (like the fields below it).

        Example: ``viewer.set_method("epsilon", epsilon=0.25)``. Raises ParameterError for an unknown
        method or a parameter it does not declare or out of its declared range.
        """
        from lrp_studio.errors import LRPStudioError

        try:
            self.window.set_method(method)
        except LRPStudioError as error:
            raise ParameterError(str(error)) from None
        return self.set_params(**params)

    def set_params(self, **params: Any) -> "Viewer":
        """Set parameters of the current method (like editing its fields), checked against its declaration."""
        from lrp_studio.gui.state import BIAS, method_params

        declared = {p.name: p for p in method_params(self.state.method, self.state.custom_rules).params}
        for name, value in params.items():
            if name == BIAS:
                self.state.set_param(name, bool(value))
                continue
            param = declared.get(name)
            if param is None:
                raise ParameterError(f"method {self.state.method!r} has no parameter {name!r}; "
                                     f"it has {', '.join(sorted(declared)) or 'none'}")
            low, high = param.minimum, param.maximum
            if np.ndim(value) == 0 and ((low is not None and value < low) or (high is not None and value > high)):
                raise ParameterError(f"{name}={value} is outside [{low}, {high}]")
            # the parameter fields keep alpha - beta = 1 (alpha-beta rule): so does a scripted change of one
            other = {"alpha": ("beta", -1.0), "beta": ("alpha", 1.0)}.get(name)
            if other is not None and other[0] in self.state.params and other[0] not in params:
                self.state.params[other[0]] = float(value) + other[1]
            self.state.set_param(name, int(value) if param.kind == "int" else value)
        return self

    def select_neuron(self, layer: int, unit: int) -> "Viewer":
        """Select unit ``unit`` of graph column ``layer`` (0 = input, -1 = output; like a click on the node).

        The inspector shows it (activation, relevance, conditional heatmap). Raises ParameterError
        for a column or unit that does not exist.
        """
        from lrp_studio.gui.app import parse_select

        self.wait()
        stage, unit = parse_select(f"{int(layer)}:{int(unit)}", [c.stage for c in self.window.graph.columns()])
        self.window.select_neuron(stage, unit)
        return self

    # ------------------------------------------------------------------ reading back
    def wait(self, timeout: float = 60.0) -> bool:
        """Process events until the window has no computation pending; False after ``timeout`` seconds."""
        return bool(self.window.wait_idle(timeout))

    @property
    def explanation(self) -> Explanation | None:
        """The :class:`~lrp_studio.lrp.Explanation` the window shows now (after waiting for the worker)."""
        self.wait()
        return self.state.explanation

    @property
    def sample(self) -> int:
        """Index of the shown sample."""
        return int(self.state.index)

    @property
    def method(self) -> str:
        """Name of the chosen method."""
        return str(self.state.method)

    @property
    def params(self) -> dict[str, Any]:
        """The chosen method's parameters (a copy)."""
        return dict(self.state.params)

    @property
    def target(self) -> int | None:
        """The explained class, None for the predicted one."""
        return self.state.target

    def selected_neuron(self) -> tuple[int, int] | None:
        """(stage, unit) selected in the graph, or None."""
        return self.window.graph.selection()

    def _widget(self, view: str) -> Any:
        if view == "window":
            return self.window
        if view == "graph":
            return self.window.graph
        dock = self.window.docks.get(view)
        if dock is None:
            raise ParameterError(f"view must be one of {', '.join(VIEW_NAMES)}, got {view!r}")
        return dock.widget()

    def screenshot(self, path: str | os.PathLike | None = None, view: str = "window") -> np.ndarray:
        """Grab the window or one view (:data:`VIEW_NAMES`) as an RGBA array (H, W, 4) uint8; write PNG to ``path``.

        The PNG is written atomically. Raises ParameterError for an unknown view, DataError when the
        file cannot be written.
        """
        from PySide6.QtGui import QImage

        widget = self._widget(view)
        self.wait()
        image = widget.grab().toImage().convertToFormat(QImage.Format.Format_RGBA8888)
        width, height = image.width(), image.height()
        array = np.frombuffer(image.constBits(), np.uint8).reshape(height, image.bytesPerLine())[:, :width * 4]
        array = array.reshape(height, width, 4).copy()
        if path is not None:
            self._save_png(image, Path(path))
        return array

    @staticmethod
    def _save_png(image: Any, path: Path) -> None:
        from lrp_studio.io import atomic_write

        if not path.parent.is_dir():
            raise DataError(f"{path.parent}: directory does not exist")

        def write(temp_path: str) -> None:
            if not image.save(temp_path, "PNG"):
                raise OSError(f"Qt could not write {temp_path}")

        try:
            atomic_write(path, write)
        except OSError as error:
            raise DataError(f"{path}: could not write the screenshot ({error})") from None

    # ------------------------------------------------------------------ closing
    @property
    def is_open(self) -> bool:
        """Whether the window is still shown (False after :meth:`close` or a click on its close button)."""
        try:
            return bool(self.window.isVisible())
        except RuntimeError:  # the C++ window is gone
            return False

    def close(self) -> bool:
        """Close the window as its close button does; True when it closed."""
        if not self.is_open:
            return True
        closed = bool(self.window.close())
        if closed:
            self.window.deleteLater()
        return closed

    def __repr__(self) -> str:
        state = "open" if self.is_open else "closed"
        return f"<lrp_studio Viewer ({state}): sample {self.state.index}, method {self.state.method!r}>"


def view(model: Any = None, x: Any = None, y: Any = None, *, classes: Sequence[str] | None = None,
         method: str | None = None, sample: int = 0, target: int | None = None, block: bool = False,
         title: str | None = None, size: tuple[int, int] | None = None, **params: Any) -> Viewer:
    """Open LRP Studio on ``model`` and the samples ``x`` (labels ``y``); returns a :class:`Viewer`.

    Parameters
    ----------
    model : Network, str, path-like or torch.nn.Module, optional
        A :class:`Network`; a bundled name (``"mlp"``, ``"cnn"``) or model file (anything
        :func:`lrp_studio.load_model` opens); or a ``torch.nn.Module`` (needs torch and onnx;
        converted through ONNX, sequential models only: :mod:`lrp_studio.io.torch_convert`).
        Default: the bundled MLP.
    x : array, shape (N, F) or (N, C, H, W), optional
        Samples to browse. Default: the bundled MNIST subset.
    y : array of int, shape (N,), optional
        Their labels; default the network's predictions.
    classes : list of str, optional
        Class names (default the network's).
    method : str, optional
        Explanation method shown first (default the model's default composite); ``**params`` its parameters.
    sample, target : int, optional
        Sample shown first (default 0); class explained (default the predicted one).
    block : bool, default False
        Run the event loop until the window is closed (a plain script). Without a running loop and
        ``block=False`` the window appears, and stays responsive, once :func:`run` is called.
    title : str, optional
        The model's name in the window title.
    size : (width, height), optional
        Window size in pixels (default: fitted to the screen, at most 1600 x 1000).

    Raises
    ------
    ParameterError, DataError, ModelFileError
        Bad model, arrays, method or parameters (before any window opens, except method errors).
    """
    net = to_network(model if model is not None else "mlp", x, classes)
    if classes is not None and len(classes) != net.n_classes:
        raise ParameterError(f"view: {len(classes)} class names for a model with {net.n_classes} outputs")
    dataset = to_dataset(net, x, y, classes)
    from lrp_studio.gui import lifecycle
    from lrp_studio.gui.main_window import MainWindow

    app = lifecycle.ensure_application()
    name = title or (Path(str(model)).name if isinstance(model, (str, os.PathLike)) else
                     f"{type(model).__name__} (Python)" if model is not None else "bundled MLP")
    window = MainWindow(net, dataset, model_name=name, restore=False)
    if size is not None:
        window.resize(int(size[0]), int(size[1]))
    window.show()
    app.processEvents()
    handle = Viewer(window)
    if sample:
        handle.select_sample(sample)
    if method is not None:
        handle.set_method(method, **params)
    elif params:
        handle.set_params(**params)
    if target is not None:
        handle.set_target(target)
    if block:
        run()
    return handle


def run() -> int:
    """Run the Qt event loop until every LRP Studio window is closed (a plain script); returns its status.

    Does nothing (returns 0) when a loop already runs (IPython/Jupyter with ``%gui qt``) or no
    window is open. Ctrl-C closes the windows as their close buttons do (status 130).
    """
    from lrp_studio.gui import lifecycle

    app = lifecycle.ensure_application()
    if event_loop_running() or not any(w.isVisible() for w in lifecycle.main_windows()):
        return 0
    return lifecycle.exec_loop(app)


__all__ = ["VIEW_NAMES", "Viewer", "event_loop_running", "run", "to_dataset", "to_network", "view"]
