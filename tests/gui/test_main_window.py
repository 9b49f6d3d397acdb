"""The real main window driven offscreen: samples, keys, neuron selection, export, bad files, settings."""

from __future__ import annotations

import sys
import threading

import numpy as np
import pytest
from PySide6.QtCore import QPoint, Qt
from PySide6.QtGui import QImage
from PySide6.QtWidgets import QApplication, QDockWidget, QWidget

from lrp_studio.gui import dialogs
from lrp_studio.gui.app import NO_DISPLAY_HINT, parse_select, platform_problem, run_gui, screenshot
from lrp_studio.gui.state import compute_explanation

OBJECT_NAMES = ["networkView", "neuronInspector", "methodSelector", "heatmapView", "conservationPlot",
                "sampleBrowser", "trainingPanel"]


def _click_sample(qtbot, window, row: int) -> None:
    view = window.sample_browser.list
    rect = view.visualRect(view.model().index(row))
    qtbot.mouseClick(view.viewport(), Qt.MouseButton.LeftButton, pos=rect.center())


def test_window_has_named_views_docks_and_status(window):
    for name in OBJECT_NAMES:
        assert window.findChild(QWidget, name) is not None, name
    docks = window.findChildren(QDockWidget)
    assert len(docks) >= 9 and all(d.windowTitle() for d in docks)  # 7 + "Draw a digit" + "2-D playground"
    assert window.backend_label.text().startswith("Backend: ")
    assert ("NumPy" in window.backend_label.text()) or ("CuPy" in window.backend_label.text())
    assert "ms" in window.timing_label.text() and "\u2013" not in window.timing_label.text()
    titles = [a.text().replace("&", "") for a in window.menuBar().actions()]
    assert titles == ["File", "Sample", "View", "Help"]
    assert window.state.explanation is not None


def test_default_network_is_the_bundled_mlp(window):
    assert window.state.net.input_shape == (1, 28, 28)
    assert window.state.dataset.name == "mnist" and len(window.state.dataset) == 5000


def test_missing_bundled_model_falls_back_to_untrained_mlp(make_window, monkeypatch):
    from lrp_studio.gui import main_window

    def missing(name):
        raise FileNotFoundError(name)

    monkeypatch.setattr(main_window, "resource_path", missing)
    window = make_window()
    assert window.state.model_name == "untrained MLP"
    assert "untrained" in window.statusBar().currentMessage()
    assert window.state.explanation is not None


def test_picking_a_sample_repaints_heatmap_and_graph(qtbot, window):
    before_rgba = window.heatmap.rgba.copy()
    before_nodes = window.graph.node_colors(window.graph.columns()[-2].stage).copy()
    _click_sample(qtbot, window, 5)
    assert window.state.index == 5
    assert window.wait_idle(10)
    assert window.state.explained_index == 5
    assert not np.array_equal(before_rgba, window.heatmap.rgba)
    assert not np.array_equal(before_nodes, window.graph.node_colors(window.graph.columns()[-2].stage))
    assert "Sample #5" in window.heatmap.caption.text()


def test_next_and_previous_keys(qtbot, window):
    window.activateWindow()
    window.sample_browser.list.setFocus()
    qtbot.keyClick(window.sample_browser.list, Qt.Key.Key_N)
    assert window.state.index == 1
    qtbot.keyClick(window.sample_browser.list, Qt.Key.Key_Right, Qt.KeyboardModifier.ControlModifier)
    assert window.state.index == 2
    qtbot.keyClick(window.sample_browser.list, Qt.Key.Key_P)
    assert window.state.index == 1
    window.sample_browser.next_button.click()
    assert window.state.index == 2
    assert window.wait_idle(10) and window.state.explained_index == 2


def test_clicking_a_neuron_and_arrow_keys_fill_the_inspector(qtbot, window):
    graph = window.graph
    stage = graph.columns()[1].stage  # the first hidden layer
    active = window.state.explanation.layers[stage].activation[0] > 0
    unit = int(np.flatnonzero(active[:-1] & active[1:])[0])  # it and the one below carry relevance
    pos = graph.viewport_position(stage, unit)
    qtbot.mouseClick(graph.graphics_view().viewport(), Qt.MouseButton.LeftButton, pos=pos)
    assert graph.selection() is not None
    selected = graph.selection()
    assert "neuron" in window.inspector.summary_text()
    assert window.inspector.values()
    first_text = window.inspector.summary_text()
    graph.graphics_view().setFocus()
    qtbot.keyClick(graph.graphics_view(), Qt.Key.Key_Down)
    moved = graph.selection()
    assert moved != selected
    assert window.inspector.summary_text() != first_text
    qtbot.keyClick(graph.graphics_view(), Qt.Key.Key_Right)
    assert graph.selection()[0] != moved[0]
    assert window.inspector.values()


def test_export_heatmap_png_via_menu_is_readable(qtbot, window, tmp_path, monkeypatch):
    target = tmp_path / "heat.png"
    monkeypatch.setattr(dialogs, "get_save_path", lambda *a, **k: str(target))
    action = next(a for a in window.menuBar().actions()[0].menu().actions() if "heatmap PNG" in a.text())
    action.trigger()
    image = QImage(str(target))
    assert not image.isNull() and image.width() == 280 and image.height() == 280


def test_export_relevance_graph_and_filtered_heatmaps(window, tmp_path, error_dialogs):
    assert window.export_relevance(str(tmp_path / "r.npy"))
    relevance = np.load(tmp_path / "r.npy")
    assert relevance.shape == (1, 28, 28)
    np.testing.assert_allclose(relevance, window.state.explanation.relevance[0], rtol=1e-6)
    assert window.export_relevance(str(tmp_path / "r.csv"))
    assert np.loadtxt(tmp_path / "r.csv", delimiter=",").shape == (28, 28)
    for name in ("graph.png", "graph.svg"):
        assert window.export_graph(str(tmp_path / name))
        assert (tmp_path / name).stat().st_size > 100
    assert not QImage(str(tmp_path / "graph.png")).isNull()
    window.sample_browser.set_filter("misclassified")
    listed = window.sample_browser.visible_indices()
    assert 0 < len(listed) < 200
    count = window.export_filtered(str(tmp_path / "many"))
    assert count == len(listed)
    pngs = sorted((tmp_path / "many").glob("*.png"))
    assert len(pngs) == len(listed) and not QImage(str(pngs[0])).isNull()
    assert np.load(tmp_path / "many" / "relevance.npy").shape == (len(listed), 1, 28, 28)
    assert error_dialogs == []


def test_bad_files_from_the_menu_give_a_dialog_not_a_crash(qtbot, window, tmp_path, monkeypatch, error_dialogs):
    bad_model = tmp_path / "broken.npz"
    bad_model.write_bytes(b"this is not a zip file")
    bad_data = tmp_path / "broken.csv"
    bad_data.write_text("a,b\n1,x\n")
    net, dataset = window.state.net, window.state.dataset
    monkeypatch.setattr(dialogs, "get_open_path", lambda *a, **k: str(bad_model))
    monkeypatch.setattr(dialogs, "get_open_paths", lambda *a, **k: [str(bad_data)])
    window.open_model_action.trigger()
    window.import_dataset_action.trigger()
    assert [title for title, _ in error_dialogs] == ["Cannot open model", "Cannot open dataset"]
    assert all("\n" not in message for _, message in error_dialogs)
    assert window.state.net is net and window.state.dataset is dataset
    window.set_sample(4)
    assert window.wait_idle(10) and window.state.explained_index == 4


def test_save_and_open_model_round_trip(window, tmp_path):
    path = tmp_path / "model.npz"
    assert window.save_model(str(path))
    assert window.open_model(str(path))
    assert window.state.model_name == "model.npz"
    assert window.wait_idle(10) and window.state.explanation is not None


def test_window_state_is_remembered_and_reset(qtbot, make_window):
    first = make_window(restore=True)
    first.docks["training"].hide()
    first.heatmap.set_colormap("coldnhot")
    first.close()
    second = make_window(restore=True)
    assert not second.docks["training"].isVisible()
    assert second.heatmap.colormap == "coldnhot"
    second.reset_layout()
    assert all(dock.isVisible() or dock.isHidden() is False for dock in second.docks.values())
    assert not second.docks["training"].isHidden()


def test_worker_drops_stale_results(qtbot, window):
    """A slow explanation of sample 3 finishes after sample 5 was asked for: its result arrives and is
    dropped, and the window shows sample 5 (never sample 3)."""
    controller, state = window.controller, window.state
    release = threading.Event()
    net, x3 = state.net, np.array(state.dataset.x[3], copy=True)
    kwargs = state.explain_arguments()

    running = threading.Event()

    def slow_explanation_of_sample_3():
        running.set()
        release.wait(30)
        return compute_explanation(net, x3, None, kwargs, 3)

    shown: list[int] = []
    state.explanationChanged.connect(lambda: shown.append(state.explained_index))
    stale = controller.submit("explain", slow_explanation_of_sample_3)
    try:
        qtbot.waitUntil(running.is_set, timeout=30_000)  # it runs: it cannot be taken back from the queue
        state.set_index(5)  # the window asks for sample 5: the running request is now stale
        assert not controller.is_current("explain", stale)
        with qtbot.waitSignal(controller.dropped, timeout=30_000) as dropped:
            release.set()
    finally:
        release.set()  # never leave the worker thread blocked after a failure
    assert dropped.args == ["explain", stale]
    assert window.wait_idle(30)
    assert shown and 3 not in shown and shown[-1] == 5
    assert state.explained_index == 5
    np.testing.assert_array_equal(state.explanation.relevance.shape[1:], state.dataset.x[5].shape)
    expected = compute_explanation(net, np.array(state.dataset.x[5]), None, kwargs, 5).explanation.relevance
    np.testing.assert_allclose(state.explanation.relevance, expected, rtol=1e-5, atol=1e-7)


def test_a_waiting_job_is_replaced_by_the_newer_one_of_its_key(qtbot, window):
    """While the worker thread is busy, a second job of a key takes the first one's place in the queue."""
    controller = window.controller
    release = threading.Event()
    ran: list[str] = []
    running = threading.Event()
    controller.submit("block", lambda: running.set() or release.wait(30))
    try:
        qtbot.waitUntil(running.is_set, timeout=30_000)
        results: list[tuple[str, object]] = []
        controller.finished.connect(lambda key, rid, result: results.append((key, result)))
        controller.submit("test", lambda: ran.append("first") or "first")
        newest = controller.submit("test", lambda: ran.append("second") or "second")
    finally:
        release.set()  # never leave the worker thread blocked after a failure
    qtbot.waitUntil(controller.is_idle, timeout=10_000)
    assert ran == ["second"] and ("test", "second") in results and controller.is_current("test", newest)


def test_excepthook_shows_a_dialog_and_keeps_running(error_dialogs):
    previous = dialogs.install_excepthook()
    try:
        try:
            raise RuntimeError("boom")
        except RuntimeError:
            sys.excepthook(*sys.exc_info())
    finally:
        sys.excepthook = previous
    assert error_dialogs == [("Unexpected error", "RuntimeError: boom")]


def test_screenshot_mode_writes_a_1600x1000_png(tmp_path):
    path = tmp_path / "shot.png"
    assert screenshot(path, sample=3, method="epsilon", select="3:2") == 0
    image = QImage(str(path))
    assert (image.width(), image.height()) == (1600, 1000)
    assert screenshot(tmp_path / "bad.png", method="no-such-method") == 2


def test_parse_select():
    stages = [0, 3, 5, 6]
    assert parse_select("1:5", stages) == (3, 5)
    assert parse_select("-1:2", stages) == (6, 2)
    with pytest.raises(Exception):
        parse_select("x", stages)
    with pytest.raises(Exception):
        parse_select("4:0", stages)


def test_platform_hint_when_no_display(monkeypatch, capsys):
    assert platform_problem({"QT_QPA_PLATFORM": "offscreen"}) is None
    hint = platform_problem({})
    if sys.platform.startswith("linux"):
        assert hint == NO_DISPLAY_HINT
        assert "libxcb-cursor0 libxcb-icccm4 libxcb-keysyms1" in hint and "xvfb-run" in hint
        monkeypatch.delenv("DISPLAY", raising=False)
        monkeypatch.delenv("WAYLAND_DISPLAY", raising=False)
        monkeypatch.delenv("QT_QPA_PLATFORM", raising=False)
        assert run_gui([]) == 2
        assert "libxcb-cursor0" in capsys.readouterr().err


def test_platform_hint_names_missing_xcb_libraries(monkeypatch):
    from lrp_studio.gui import app

    monkeypatch.setattr(app, "missing_xcb_libraries", lambda: ["libxcb-icccm.so.4"])
    hint = platform_problem({"DISPLAY": ":0"})
    if sys.platform.startswith("linux"):
        assert "libxcb-icccm4" in hint and "libxcb-cursor0" in hint


def test_picking_a_sample_repaints_the_cnn_views(make_window):
    from lrp_studio.data import resource_path
    from lrp_studio.io import load_model
    from lrp_studio.nn import lenet

    try:
        net = load_model(resource_path("cnn_mnist.npz"))
    except Exception:
        net = lenet(classes=[str(d) for d in range(10)])
    window = make_window(net)
    assert window.state.method == "epsilon-plus-flat"
    before = window.heatmap.rgba.copy()
    window.sample_browser.next()
    assert window.wait_idle(10) and window.state.explained_index == 1
    assert not np.array_equal(before, window.heatmap.rgba)
    assert [c.kind for c in window.graph.columns()][:2] == ["image", "maps"]


REAL_WINDOW_SCRIPT = """
import sys
import threading
from PySide6.QtCore import QTimer
from lrp_studio.gui.app import _application, run_gui
app = _application()
def check():
    from PySide6.QtWidgets import QApplication
    windows = [w for w in QApplication.topLevelWidgets() if w.objectName() == "mainWindow"]
    ok = app.platformName() == "xcb" and len(windows) == 1 and windows[0].isVisible()
    print("REAL-WINDOW", app.platformName(), ok)
    windows[0].close()
QTimer.singleShot(3000, check)
sys.exit(run_gui([]))
"""


def test_real_window_under_xvfb(tmp_path):
    import os
    import shutil
    import subprocess

    from lrp_studio.gui.app import missing_xcb_libraries

    if not sys.platform.startswith("linux") or shutil.which("xvfb-run") is None or missing_xcb_libraries():
        pytest.skip("needs xvfb-run and the xcb platform plugin's libraries")
    env = {k: v for k, v in os.environ.items() if k not in ("QT_QPA_PLATFORM", "DISPLAY", "WAYLAND_DISPLAY")}
    env["XDG_CONFIG_HOME"] = str(tmp_path)  # settings of this run stay in tmp_path
    import lrp_studio

    root = os.path.dirname(os.path.dirname(os.path.abspath(lrp_studio.__file__)))
    env["PYTHONPATH"] = os.pathsep.join([root, env.get("PYTHONPATH", "")]).rstrip(os.pathsep)
    result = subprocess.run(["xvfb-run", "-a", sys.executable, "-c", REAL_WINDOW_SCRIPT], capture_output=True,
                            text=True, timeout=120, env=env, cwd=str(tmp_path))
    assert "REAL-WINDOW xcb True" in result.stdout, result.stderr[-2000:]
    assert result.returncode == 0


def test_a_bundled_model_for_other_data_opens_with_its_dataset():
    from lrp_studio.gui.app import _load_inputs

    net, dataset, name = _load_inputs("shapes", None)
    assert dataset == "toy:shapes:test" and net.input_shape == (3, 32, 32)
    assert _load_inputs("cnn", None)[1] is None  # MNIST models keep the default dataset
    assert _load_inputs("shapes", "toy:shapes")[1] == "toy:shapes"  # a given dataset wins
