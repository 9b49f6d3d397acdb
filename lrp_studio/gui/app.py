"""Starting the GUI: platform checks with a helpful hint, the QApplication, screenshot mode."""

from __future__ import annotations

import argparse
import ctypes
import os
import sys
from pathlib import Path
from typing import Any, Sequence

#: Libraries Qt's xcb platform plugin loads, with the Debian/Ubuntu package that ships each.
XCB_LIBRARIES: dict[str, str] = {
    "libxcb-cursor.so.0": "libxcb-cursor0", "libxcb-icccm.so.4": "libxcb-icccm4",
    "libxcb-keysyms.so.1": "libxcb-keysyms1", "libxkbcommon-x11.so.0": "libxkbcommon-x11-0",
    "libxkbcommon.so.0": "libxkbcommon0", "libxcb-image.so.0": "libxcb-image0",
    "libxcb-render-util.so.0": "libxcb-render-util0", "libxcb-shape.so.0": "libxcb-shape0",
    "libxcb-randr.so.0": "libxcb-randr0", "libxcb-xfixes.so.0": "libxcb-xfixes0", "libxcb-xkb.so.1": "libxcb-xkb1",
    "libxcb-util.so.1": "libxcb-util1", "libxcb-sync.so.1": "libxcb-sync1", "libxcb-shm.so.0": "libxcb-shm0",
    "libX11-xcb.so.1": "libx11-xcb1", "libEGL.so.1": "libegl1", "libGL.so.1": "libgl1",
    "libfontconfig.so.1": "libfontconfig1", "libdbus-1.so.3": "libdbus-1-3",
}
HINT_PACKAGES = ("libxcb-cursor0 libxcb-icccm4 libxcb-keysyms1 libxkbcommon-x11-0 libxcb-image0 libxcb-render-util0 "
                 "libxcb-shape0 libxcb-randr0 libxcb-xfixes0 libxcb-xkb1 libegl1 libgl1 libfontconfig1 libdbus-1-3")
NO_DISPLAY_HINT = ("no display found: run under an X server (e.g. xvfb-run lrp-studio) or set QT_QPA_PLATFORM=offscreen; "
                   f"on Debian/Ubuntu install {HINT_PACKAGES}")
SCREENSHOT_SIZE = (1600, 1000)
#: What Qt's offscreen platform plugin prints each time a window's minimum or maximum size changes
#: (QPlatformWindow::propagateSizeHints is not implemented there): the main window's constraints
#: change while its docks are laid out, three times for a screenshot. Harmless, so not shown.
OFFSCREEN_NOISE = ("This plugin does not support propagateSizeHints()",)


def missing_xcb_libraries() -> list[str]:
    """Sonames of the xcb plugin's libraries that cannot be loaded."""
    missing = []
    for soname in XCB_LIBRARIES:
        try:
            ctypes.CDLL(soname)
        except OSError:
            missing.append(soname)
    return missing


def platform_problem(environ: dict[str, str] | None = None, check_libraries: bool = True) -> str | None:
    """A one-line hint when Qt would fail to open a window here, else None.

    Only the xcb platform (Linux default) is checked: other platforms (offscreen, wayland,
    minimal, Windows, macOS) are left to Qt.
    """
    env = os.environ if environ is None else environ
    if not sys.platform.startswith("linux"):
        return None
    platform = env.get("QT_QPA_PLATFORM", "").strip()
    if platform and not platform.startswith("xcb"):
        return None
    if not env.get("DISPLAY"):
        if env.get("WAYLAND_DISPLAY") and not platform:
            return None
        return NO_DISPLAY_HINT
    if check_libraries:
        missing = missing_xcb_libraries()
        if missing:
            packages = " ".join(dict.fromkeys(XCB_LIBRARIES[m] for m in missing))
            return (f"Qt's xcb platform plugin cannot load ({', '.join(missing)} missing): on Debian/Ubuntu run "
                    f"'apt-get install {packages}' (the full set: {HINT_PACKAGES}); or set QT_QPA_PLATFORM=offscreen")
    return None


def gui_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="lrp-studio gui", description="Open the LRP Studio window.")
    parser.add_argument("--model", default=None, help="model file or bundled name (mlp, cnn, resnet)")
    parser.add_argument("--dataset", default=None, help="dataset spec (mnist, mnist:test, toy:moons, a file)")
    parser.add_argument("--screenshot", metavar="PNG", help="render the window at 1600x1000 to PNG and exit")
    parser.add_argument("--sample", type=int, default=0, help="sample index shown")
    parser.add_argument("--method", default=None, help="explanation method shown")
    parser.add_argument("--select", default=None, metavar="LAYER:NEURON",
                        help="select a unit: LAYER is the graph column (0 = input, 1 = first hidden layer, -1 = output)")
    return parser


def quiet_offscreen_messages() -> None:
    """Drop :data:`OFFSCREEN_NOISE` from Qt's messages; every other message still reaches stderr."""
    from PySide6.QtCore import qInstallMessageHandler

    previous: list[Any] = []

    def handler(kind: Any, context: Any, message: str) -> None:
        if message in OFFSCREEN_NOISE:
            return
        if previous and previous[0] is not None:
            previous[0](kind, context, message)
        else:
            sys.stderr.write(message + "\n")

    previous.append(qInstallMessageHandler(handler))


def _application() -> Any:
    """The QApplication (created on first use, with the host allocator tuned once for the GUI's process)."""
    from PySide6.QtWidgets import QApplication

    from lrp_studio.backend import tune_host_allocator

    app = QApplication.instance()
    if app is None:
        tune_host_allocator()  # an explicit call of the entry point: importing lrp_studio changes nothing
        app = QApplication(sys.argv[:1] or ["lrp-studio"])
        app.setApplicationName("LRP Studio")
        app.setOrganizationName("lrp-studio")
    return app


def _load_inputs(model: Any, dataset: Any) -> tuple[Any, Any, str]:
    """Network and Dataset objects from specs (None keeps the defaults; a bundled model made for other data
    than MNIST, ``shapes``, opens with its dataset, :data:`lrp_studio.zoo.BUNDLED_DATASETS`).

    A dataset spec is loaded here only to report a bad one as one line; the window opens it with
    :func:`open_dataset_spec`, the code path of its dataset box.
    """
    name = "model"
    if dataset is None and isinstance(model, str):  # a bundled model made for other data opens with it
        from lrp_studio.zoo import BUNDLED_DATASETS

        dataset = BUNDLED_DATASETS.get(model)
    if isinstance(model, (str, os.PathLike)):
        name = Path(str(model)).name
        try:
            from lrp_studio.zoo import load_any_model
        except ImportError:
            from lrp_studio.io import load_model as load_any_model
        model = load_any_model(model)
    if isinstance(dataset, (str, os.PathLike)) or (model is not None and dataset is None):
        from lrp_studio.data import load_dataset

        loaded = load_dataset("mnist" if dataset is None else str(dataset))  # a bad spec fails here, before any window
        if model is not None:
            _check_model_fits(model, loaded, name)
    return model, dataset, name


def _check_model_fits(net: Any, data: Any, name: str) -> None:
    """A model named on the command line must fit the dataset: the window would otherwise replace it.

    Raises
    ------
    DataError
        When a sample's size differs from the model's input, or the outputs from the classes.
    """
    from lrp_studio.app.fitting import check_fits, classes_fit
    from lrp_studio.errors import DataError

    try:
        check_fits(data, net)
    except DataError as error:
        raise DataError(f"{name} does not fit the dataset ({error}); give a --dataset the model was made for") from None
    if not classes_fit(data, net):
        raise DataError(f"{name} has {net.n_classes} outputs but {data.name} has {data.n_classes} classes; "
                        "give a --dataset the model was made for")


def open_dataset_spec(window: Any, dataset: Any) -> None:
    """Open a dataset spec as picking it in the app's dataset box does (``MainWindow.open_dataset``).

    A spec no model fits (``toy:moons`` with the bundled MNIST model) then builds the notes' binary
    classifier with its status message, exactly as in the app. Dataset objects and None are left alone.
    """
    if isinstance(dataset, (str, os.PathLike)):
        window.open_dataset(str(dataset))


def parse_select(text: str, column_stages: Sequence[int]) -> tuple[int, int]:
    """``"LAYER:NEURON"`` -> (stage, unit).

    LAYER counts the columns of the network graph: 0 is the input, 1 the first hidden layer,
    -1 the output layer. NEURON is the unit (a channel for feature-map columns).
    """
    from lrp_studio.errors import ParameterError

    try:
        layer, neuron = (int(part) for part in text.split(":"))
    except ValueError:
        raise ParameterError(f"--select expects LAYER:NEURON (two integers), got {text!r}") from None
    count = len(column_stages)
    if not -count <= layer < count:
        raise ParameterError(f"--select layer must be a graph column in 0..{count - 1} (or -1 for the output), got {layer}")
    return int(column_stages[layer]), neuron


def screenshot(path: str | os.PathLike, sample: int = 0, method: str | None = None, select: str | None = None,
               model: Any = None, dataset: Any = None, size: tuple[int, int] = SCREENSHOT_SIZE) -> int:
    """Build the window at ``size``, show ``sample`` with ``method`` (and a selected unit), save a PNG.

    Works without a display: when none is available Qt's offscreen platform is used.
    Returns 0 on success, 2 on bad input (one line on stderr).
    """
    from lrp_studio.errors import LRPStudioError

    if platform_problem(check_libraries=False) is not None or (os.environ.get("DISPLAY") and missing_xcb_libraries()
                                                                 and not os.environ.get("QT_QPA_PLATFORM")):
        os.environ["QT_QPA_PLATFORM"] = "offscreen"
    if os.environ.get("QT_QPA_PLATFORM", "").startswith("offscreen"):
        quiet_offscreen_messages()
    app = _application()
    from lrp_studio.gui.main_window import MainWindow

    window = None
    try:
        net, data, name = _load_inputs(model, dataset)
        kwargs = {"model_name": name} if net is not None else {}
        window = MainWindow(net, None if isinstance(data, (str, os.PathLike)) else data, restore=False, **kwargs)
        open_dataset_spec(window, data)
        window.resize(*size)
        window.show()
        app.processEvents()
        window.apply_default_dock_sizes()
        app.processEvents()
        if not 0 <= sample < len(window.state.dataset):
            raise LRPStudioError(f"--sample must be in 0..{len(window.state.dataset) - 1}, got {sample}")
        window.set_sample(sample)
        if method:
            window.set_method(method)
        if not window.wait_idle(60.0):
            raise LRPStudioError("the explanation did not finish within 60 s")
        if select:
            stage, unit = parse_select(select, [column.stage for column in window.graph.columns()])
            window.select_neuron(stage, unit)
            if not window.wait_idle(60.0):  # the unit's conditional heatmap and perturbation, not "computing..."
                raise LRPStudioError("the selected unit's details did not finish within 60 s")
        for _ in range(3):
            app.processEvents()
        image = window.grab()
        target = Path(path)
        if target.parent and not target.parent.exists():
            raise LRPStudioError(f"{target.parent}: directory does not exist")
        if not image.save(str(target), "PNG"):
            raise LRPStudioError(f"{target}: could not write the screenshot")
    except LRPStudioError as error:
        print(f"lrp-studio: error: {error}", file=sys.stderr)
        return 2
    except Exception as error:  # a defect: one line, not a traceback
        print(f"lrp-studio: error: screenshot failed ({type(error).__name__}: {error})", file=sys.stderr)
        return 1
    finally:
        if window is not None:
            window.shutdown()
            window.close()
            window.deleteLater()
            app.processEvents()
    print(f"wrote {path}")
    return 0


def run_gui(args: Any = None) -> int:
    """Open the window (``lrp-studio`` / ``lrp-studio gui``); ``args`` is an argparse namespace or argv list.

    Returns the application's exit status; 2 with a one-line hint when no window can be opened.
    """
    if args is None or isinstance(args, (list, tuple)):
        args = gui_parser().parse_args(list(args or []))
    get = lambda key, default=None: getattr(args, key, default)  # noqa: E731
    if get("screenshot"):
        return screenshot(get("screenshot"), get("sample", 0) or 0, get("method"), get("select"),
                          model=get("model"), dataset=get("dataset"))
    problem = platform_problem()
    if problem:
        print(f"lrp-studio: {problem}", file=sys.stderr)
        return 2
    from lrp_studio.errors import LRPStudioError

    app = _application()
    from lrp_studio.gui.dialogs import install_excepthook
    from lrp_studio.gui.main_window import MainWindow

    try:
        net, data, name = _load_inputs(get("model"), get("dataset"))
    except LRPStudioError as error:
        print(f"lrp-studio: error: {error}", file=sys.stderr)
        return 2
    kwargs = {"model_name": name} if net is not None else {}
    window = MainWindow(net, None if isinstance(data, (str, os.PathLike)) else data, **kwargs)
    open_dataset_spec(window, data)
    install_excepthook(lambda: window)
    window.show()
    from PySide6.QtCore import QTimer

    QTimer.singleShot(0, window.offer_recovery)  # "Restore unsaved model from <time>?" after a crash or kill
    if get("method"):
        try:
            window.set_method(get("method"))
        except LRPStudioError as error:
            print(f"lrp-studio: error: {error}", file=sys.stderr)
    if get("sample"):
        window.set_sample(int(get("sample")))
    from lrp_studio.gui.lifecycle import exec_loop

    return exec_loop(app)  # SIGINT/SIGTERM handled, workers stopped in order (issue 17)


def main(argv: Sequence[str] | None = None) -> int:
    return run_gui(list(sys.argv[1:] if argv is None else argv))


if __name__ == "__main__":
    sys.exit(main())
