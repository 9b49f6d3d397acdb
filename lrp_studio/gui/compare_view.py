"""The "Compare methods" dock: the current sample explained by every method, side by side.

The compared methods (a default subset of :data:`lrp_studio.lrp.METHODS` and the active method;
the "Methods..." button chooses others, :mod:`lrp_studio.gui.compare_methods`) explain the current input for the same class
(the chosen target, else the prediction), one method per job in the window's compute worker (so
an explanation request of the main view never waits for more than one method). Each cell is titled
with the method and its conservation figure (sum of input relevance / explained logit) and its
Pearson correlation with the notes' perturbation heatmap (each input pixel set to the input's mean,
drop of the target logit), which is the last cell. Colours use one shared scale or one per cell;
clicking a cell makes that method the active one. Nothing is computed while the dock is hidden.

Below the grid, the active explanation (the Input heatmap's map) is shown beside the perturbation
heatmap with their correlation.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Qt, QTimer, Signal
from PySide6.QtWidgets import QComboBox, QHBoxLayout, QLabel, QSizePolicy, QVBoxLayout, QWidget

from lrp_studio.gui.compare_methods import DEFAULT_COMPARED, compared_methods, methods_button
from lrp_studio.gui.dock_tabs import give_room, tabify_when_shown
from lrp_studio.gui.scrolling import scrolled
from lrp_studio.gui.heatmap_widget import as_image
from lrp_studio.gui.state import AppState, default_params, explain_kwargs
from lrp_studio.lrp import METHODS, explain
from lrp_studio.lrp.perturbation import correlation, perturbation_heatmap
from lrp_studio.viz import get_colormap

JOB_KEY = "compare"
PERTURBATION = "perturbation"
SCALES = {"shared": "one shared colour scale", "each": "one scale per heatmap"}
WIDE_PX = 760  # from this width on the active map and the perturbation heatmap sit beside the grid
TITLE_PX = 100  # the widest cell titles (e.g. "epsilon-alpha2-beta1" at 7 pt)
COMPACT_TITLE_PX = 60  # one-line titles elided to COMPACT_CHARS characters (the full name in the tooltip)
COMPACT_CHARS = 11
GRID_SPACING_PX = 2  # between the grid's rows and columns (pyqtgraph's default 6 ate a third of a short dock)
TITLE_LINE_PX = 15  # one line of a cell title at 7 pt (its layout included)
#: Below this heatmap side (px) the titles keep only the method's name (the sums and r go to the
#: tooltip): a short bottom dock (the graph keeps half the window) still shows usable heatmaps.
COMPACT_BELOW_PX = 56


@dataclass
class CellResult:
    """One computed cell: a method's input relevance (or the perturbation heatmap)."""

    method: str
    relevance: np.ndarray   # one sample, the input's shape
    total: float            # sum of the map
    logit: float            # the explained logit
    target: int
    seconds: float = 0.0


def explain_one(net: Any, x: np.ndarray, target: int | None, method: str, kwargs: dict[str, Any]) -> CellResult:
    """Explain ``x`` (one sample) with ``method`` (worker thread)."""
    import time

    started = time.perf_counter()
    exp = explain(net, x[None], target=target, **kwargs)
    t = int(exp.targets[0])
    return CellResult(method, np.asarray(exp.relevance[0], dtype=np.float64), float(np.sum(exp.relevance[0])),
                      float(exp.logits[0, t]), t, time.perf_counter() - started)


def perturb_one(net: Any, x: np.ndarray, target: int) -> CellResult:
    """The notes' perturbation heatmap of ``x`` for class ``target`` (worker thread)."""
    import time

    started = time.perf_counter()
    heat = perturbation_heatmap(net, x[None], target=target)[0]
    logit = float(np.asarray(net.predict(x[None]))[0, target])
    return CellResult(PERTURBATION, np.asarray(heat, dtype=np.float64), float(heat.sum()), logit, target,
                      time.perf_counter() - started)


class _ClickBox(pg.ViewBox):
    """A ViewBox that reports left clicks."""

    def __init__(self, on_click: Callable[[], None]) -> None:
        super().__init__(invertY=True, lockAspect=True, enableMouse=False, enableMenu=False)
        self._on_click = on_click

    def mouseClickEvent(self, event: Any) -> None:  # noqa: N802 (pyqtgraph API)
        if event.button() == Qt.MouseButton.LeftButton:
            event.accept()
            self._on_click()
        else:
            super().mouseClickEvent(event)


class _Cell:
    """Title label, click-aware ViewBox and ImageItem of one method."""

    def __init__(self, method: str, on_click: Callable[[str], None]) -> None:
        self.method = method
        self.title = pg.LabelItem(method, color="#222222", size="7pt")
        self.box = _ClickBox(lambda: on_click(method))
        self.image = pg.ImageItem(axisOrder="row-major")
        self.box.addItem(self.image)
        self.result: CellResult | None = None
        self.levels: tuple[float, float] | None = None
        if method != PERTURBATION:
            self.box.setToolTip(f"Click to explain with {method}")


class CompareView(QWidget):
    """Grid of every method's heatmap of the current sample (see the module docstring)."""

    comparisonFinished = Signal()

    def __init__(self, state: AppState, worker: Any, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("compareView")
        self.state = state
        self.worker = worker
        self.chosen: list[str] = list(DEFAULT_COMPARED)  # ticked in the "Methods..." menu
        self.methods: list[str] = compared_methods(self.chosen, state.method)
        self._lut = get_colormap("bwr")
        self._cells: dict[str, _Cell] = {}
        self._queue: list[str] = []
        self._request: int | None = None
        self._job: dict[str, Any] | None = None
        self._stale = True
        self._columns = 0
        self._compact = False  # one-line cell titles (see COMPACT_BELOW_PX)
        self.correlations: dict[str, float] = {}
        self.perturbation: np.ndarray | None = None
        self.perturbation_r: float | None = None
        self.n_runs = 0
        self.shown = False  # follows the dock's visibilityChanged (tabbed docks stay isVisible())

        self.scale_combo = QComboBox()
        self.scale_combo.setObjectName("compareScale")
        for key, text in SCALES.items():
            self.scale_combo.addItem(text, key)
        self.scale_combo.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon)
        self.scale_combo.setMinimumContentsLength(10)  # the dock's minimum width is not the longest entry's
        self.scale_combo.setToolTip("Shared: the same colour for the same relevance in every cell (a colour bar "
                                    "applies to all); per heatmap: each cell's own max |R| is full colour.")
        self.status = QLabel("")
        self.status.setObjectName("compareStatus")
        self.status.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
        self.status.setMaximumWidth(260)
        controls = QHBoxLayout()
        controls.addWidget(QLabel("Colour scale:"))
        controls.addWidget(self.scale_combo)
        self.methods_button = methods_button(self, self.chosen, self.set_methods)
        controls.addWidget(self.methods_button)
        controls.addWidget(self.status, 1)

        self.graphics = pg.GraphicsLayoutWidget()
        self.graphics.setObjectName("compareGrid")
        self.graphics.setBackground("w")
        self.graphics.setMinimumHeight(160)
        self.graphics.ci.layout.setSpacing(GRID_SPACING_PX)
        self.graphics.ci.setContentsMargins(2, 2, 2, 2)
        for method in [*self.methods, PERTURBATION]:
            self._cells[method] = _Cell(method, self._cell_clicked)

        # the active explanation beside the perturbation heatmap
        self.check_graphics = pg.GraphicsLayoutWidget()
        self.check_graphics.setObjectName("comparePerturbation")
        self.check_graphics.setBackground("w")
        self.check_graphics.setFixedHeight(140)
        self.check_graphics.setFixedWidth(236)
        self._lrp_title = pg.LabelItem("LRP", color="#222222", size="8pt")
        self._pert_title = pg.LabelItem("perturbation", color="#222222", size="8pt")
        self._lrp_box = pg.ViewBox(invertY=True, lockAspect=True, enableMouse=False, enableMenu=False)
        self._pert_box = pg.ViewBox(invertY=True, lockAspect=True, enableMouse=False, enableMenu=False)
        self.lrp_item = pg.ImageItem(axisOrder="row-major")
        self.pert_item = pg.ImageItem(axisOrder="row-major")
        self._lrp_box.addItem(self.lrp_item)
        self._pert_box.addItem(self.pert_item)
        layout = self.check_graphics.ci
        layout.addItem(self._lrp_title, row=0, col=0)
        layout.addItem(self._pert_title, row=0, col=1)
        layout.addItem(self._lrp_box, row=1, col=0)
        layout.addItem(self._pert_box, row=1, col=1)
        self.correlation_label = QLabel("")
        self.correlation_label.setObjectName("comparePerturbationCorrelation")
        self.correlation_label.setWordWrap(False)  # explicit line breaks: no height-for-width in the scroll area
        self.correlation_label.setToolTip(
            "Pearson correlation of the active explanation (Input heatmap) with the perturbation heatmap: "
            "each input pixel set to the input's mean, drop of the explained logit (the last cell).")
        self.correlation_label.setFixedWidth(236)
        check = QVBoxLayout()
        check.addWidget(self.check_graphics)
        check.addWidget(self.correlation_label)
        check.addStretch(1)
        self._side, self._controls = check, controls
        self._wide = True

        left = QVBoxLayout()
        left.addLayout(controls)
        left.addWidget(self.graphics, 1)
        main = QHBoxLayout(self)
        main.setContentsMargins(4, 4, 4, 4)
        main.addLayout(left, 1)
        main.addLayout(check, 0)

        self._timer = QTimer(self)
        self._timer.setSingleShot(True)
        self._timer.setInterval(60)
        self._timer.timeout.connect(self.recompute)
        self.scale_combo.currentIndexChanged.connect(lambda _: self._apply_levels())
        for signal in (state.sampleChanged, state.modelChanged, state.weightsChanged, state.targetChanged,
                       state.datasetChanged):
            signal.connect(self._inputs_changed)
        state.methodChanged.connect(self._method_changed)
        state.explanationSettled.connect(self._update_check)
        worker.finished.connect(self._job_finished)
        worker.failed.connect(self._job_failed)
        self._arrange(4)

    # ------------------------------------------------------------------ public
    @property
    def scale(self) -> str:
        return str(self.scale_combo.currentData())

    def set_scale(self, scale: str) -> None:
        index = self.scale_combo.findData(scale)
        if index >= 0:
            self.scale_combo.setCurrentIndex(index)

    def set_colormap(self, name: str) -> None:
        self._lut = get_colormap(name)
        for cell in self._cells.values():
            if cell.result is not None:
                cell.image.setLookupTable(self._lut)
        self._update_check()

    def set_methods(self, chosen: list[str]) -> None:
        """Compare ``chosen`` (and the active method); the grid is rebuilt and recomputed."""
        self.chosen = list(chosen)
        methods = compared_methods(self.chosen, self.state.method)
        if methods == self.methods:
            return
        grid = self.graphics.ci
        for cell in self._cells.values():
            for item in (cell.title, cell.box):
                if item in grid.items:
                    grid.removeItem(item)
        kept = {name: cell for name, cell in self._cells.items() if name in methods or name == PERTURBATION}
        self.methods = methods
        self._cells = {name: kept.get(name) or _Cell(name, self._cell_clicked) for name in [*methods, PERTURBATION]}
        self._columns = 0
        self._relayout_grid()
        self._inputs_changed()

    def _relayout_grid(self) -> None:
        """Columns for the current cell count at the current size."""
        width = max(40, self.width() - (self.check_graphics.width() + 16 if self._wide else 8))
        best, columns = self._best_grid(width, max(40, self.height() - 40), 1 if self._compact else 2)
        self._arrange(columns)

    def cell_names(self) -> list[str]:
        """Every cell of the grid (method names and the perturbation cell), in grid order."""
        return list(self._cells)

    def cells(self) -> dict[str, _Cell]:
        """The cells that hold a result (method name -> cell), perturbation included."""
        return {name: cell for name, cell in self._cells.items() if cell.result is not None}

    def levels(self, method: str) -> tuple[float, float] | None:
        cell = self._cells.get(method)
        return None if cell is None else cell.levels

    def is_busy(self) -> bool:
        return self._request is not None or self._timer.isActive()

    def schedule(self) -> None:
        """Recompute soon (coalesces bursts of changes)."""
        self._timer.start()

    def recompute(self) -> None:
        """Explain the current input with every method (one worker job per method)."""
        state = self.state
        self._timer.stop()
        if not self.shown:  # hidden (e.g. tabbed behind another dock): compute when shown
            self._stale = True
            return
        if not state.input_fits():
            self._stale = True
            self.status.setText("the model does not fit the current input")
            return
        self._stale = False
        self._job = {"net": state.net, "x": np.array(state.sample(), dtype=np.float32, copy=True),
                     "target": state.target, "kwargs": self._method_kwargs()}
        for cell in self._cells.values():
            cell.result = None
        self.correlations = {}
        self.perturbation = None
        self._queue = list(self.methods) + [PERTURBATION]
        self.status.setText(f"explaining with {len(self.methods)} methods\u2026")
        self._next()

    # ------------------------------------------------------------------ jobs
    def _method_kwargs(self) -> dict[str, dict[str, Any]]:
        state = self.state
        result = {}
        for method in self.methods:
            params = state.params_by_method.get(method) or default_params(method, state.net)
            result[method] = explain_kwargs(method, params, {})
        return result

    def _next(self) -> None:
        job = self._job
        if not self._queue or job is None:
            self._request = None
            return
        method = self._queue[0]
        net, x = job["net"], job["x"]
        if method == PERTURBATION:
            target = job.get("resolved", 0)
            self._request = self.worker.submit(JOB_KEY, perturb_one, net, x, target)
        else:
            target, kwargs = job.get("resolved", job["target"]), job["kwargs"][method]
            self._request = self.worker.submit(JOB_KEY, explain_one, net, x, target, method, kwargs)

    def _job_finished(self, key: str, request_id: int, result: Any) -> None:
        if key != JOB_KEY or request_id != self._request or not self.worker.is_current(key, request_id):
            return
        self._queue.pop(0)
        if self._job is not None:
            self._job.setdefault("resolved", result.target)
        cell = self._cells[result.method]
        cell.result = result
        if result.method == PERTURBATION:
            self.perturbation = result.relevance
            for name, other in self._cells.items():
                if name != PERTURBATION and other.result is not None:
                    self.correlations[name] = correlation(other.result.relevance, result.relevance)
        self._next()
        if self._request is None:
            self._finish()

    def _job_failed(self, key: str, request_id: int, message: str) -> None:
        if key != JOB_KEY or request_id != self._request:
            return
        method = self._queue.pop(0) if self._queue else "?"
        self.status.setText(f"{method} failed: {message.strip().splitlines()[-1]}")
        self._next()
        if self._request is None:
            self._finish()

    def _finish(self) -> None:
        self.n_runs += 1
        done = self.cells()
        for cell in done.values():
            image = as_image(cell.result.relevance)
            cell.image.setImage(image, autoLevels=False, lut=self._lut)
            h, w = image.shape
            cell.box.setRange(xRange=(0, w), yRange=(0, h), padding=0.02)
        self._apply_levels()
        self._update_titles()
        self._update_check()
        seconds = sum(cell.result.seconds for cell in done.values())
        if not self.status.text().endswith("failed") and "failed" not in self.status.text():
            self.status.setText(f"{len(done) - (PERTURBATION in done)} methods in {seconds:.2f} s (worker thread)")
        self.comparisonFinished.emit()

    # ------------------------------------------------------------------ drawing
    def _apply_levels(self) -> None:
        done = self.cells()
        if not done:
            return
        shared = max((float(np.max(np.abs(c.result.relevance), initial=0.0)) for c in done.values()), default=0.0)
        for cell in done.values():
            vmax = shared if self.scale == "shared" else float(np.max(np.abs(cell.result.relevance), initial=0.0))
            vmax = vmax or 1.0
            cell.levels = (-vmax, vmax)
            cell.image.setLevels(cell.levels)
        self._update_titles()

    def _best_grid(self, width: float, height: float, title_lines: int) -> tuple[float, int]:
        """(heatmap side in px, columns) of the grid that gives the largest square heatmaps."""
        count = len(self._cells)
        best, columns = -1.0, 1
        for c in range(1, count + 1):
            rows = -(-count // c)
            side = min(width / c, height / rows - title_lines * TITLE_LINE_PX - 4)
            if c > 1 and width / c < (TITLE_PX if title_lines > 1 else COMPACT_TITLE_PX):  # titles would overflow
                break
            if side > best:
                best, columns = side, c
        return best, columns

    def _update_titles(self) -> None:
        if getattr(self, "_compact", False):
            self._compact_titles()
            return
        active = self.state.method
        for name, cell in self._cells.items():
            result = cell.result
            if result is None:
                if cell.title.text != f"{name}<br>\u2026":
                    cell.title.setText(f"{name}<br>\u2026")
                continue
            ratio = result.total / result.logit if result.logit else float("nan")
            if name == PERTURBATION:
                text = f"perturbation<br>&Sigma;P/f {ratio:.2f}"
            else:
                r = self.correlations.get(name)
                text = f"{name}<br>&Sigma;R/f {ratio:.2f}"
                if r is not None:
                    text += f" &middot; r {r:.2f}" if np.isfinite(r) else " &middot; r n/a"
            if cell.levels and self.scale == "each":
                text += f" &middot; &plusmn;{cell.levels[1]:.2g}"
            if name == active:
                text = f"<b><span style='color:#c06000'>{text}</span></b>"
            if text != cell.title.text:  # a method change alters two titles; each setText re-lays out
                cell.title.setText(text)

    def _compact_titles(self) -> None:
        """One line per cell (the method's name); the sums and correlation go to the tooltip."""
        active = self.state.method
        for name, cell in self._cells.items():
            short = name if len(name) <= COMPACT_CHARS else name[: COMPACT_CHARS - 1] + "\u2026"
            text = short if name != active else f"<b><span style='color:#c06000'>{short}</span></b>"
            cell.title.setToolTip(name)
            cell.box.setToolTip(name)
            result = cell.result
            if result is not None:
                ratio = result.total / result.logit if result.logit else float("nan")
                r = self.correlations.get(name)
                tip = f"{name}: \u03a3R/f {ratio:.2f}" + ("" if r is None else f", r {r:.2f}" if np.isfinite(r) else ", r n/a")
                cell.title.setToolTip(tip)
                cell.box.setToolTip(tip)
            if text != cell.title.text:
                cell.title.setText(text)

    def _arrange(self, columns: int) -> None:
        self._wanted_columns = columns
        if columns == self._columns or not self.shown:  # a hidden grid is placed when shown (saves ~0.4 s at start)
            return
        self._columns = columns
        grid = self.graphics.ci
        for cell in self._cells.values():
            for item in (cell.title, cell.box):
                if item in grid.items:
                    grid.removeItem(item)
        for i, cell in enumerate(self._cells.values()):
            row, col = 2 * (i // columns), i % columns
            grid.addItem(cell.title, row=row, col=col)
            grid.addItem(cell.box, row=row + 1, col=col)

    def resizeEvent(self, event: Any) -> None:  # noqa: N802 (Qt API)
        wide = event.size().width() >= WIDE_PX  # room for the LRP/perturbation pair beside the grid
        if wide != self._wide:
            self._wide = wide
            QTimer.singleShot(0, self._update_check)  # line breaks follow the placement
            self.check_graphics.setVisible(wide)
            self._side.removeWidget(self.correlation_label)
            self._controls.removeWidget(self.correlation_label)
            if wide:
                self.correlation_label.setSizePolicy(QSizePolicy.Policy.Preferred, QSizePolicy.Policy.Preferred)
                self.correlation_label.setFixedWidth(236)
                self._side.insertWidget(1, self.correlation_label)
            else:
                self.correlation_label.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
                self.correlation_label.setMinimumWidth(0)
                self.correlation_label.setMaximumWidth(16777215)
                self._controls.addWidget(self.correlation_label, 2)
        width = max(40, event.size().width() - (self.check_graphics.width() + 16 if wide else 8))
        height = max(40, event.size().height() - 40)
        best, columns = self._best_grid(width, height, 2)
        compact = best < COMPACT_BELOW_PX
        if compact:
            best, columns = self._best_grid(width, height, 1)
        if compact != self._compact:
            self._compact = compact
            QTimer.singleShot(0, self._update_titles)
        self._arrange(columns)
        super().resizeEvent(event)

    def _update_check(self, *_: Any) -> None:
        """The active explanation beside the perturbation heatmap, and their correlation."""
        state = self.state
        exp = state.explanation
        current = state.index if state.custom_input is None else -1
        pert = self._cells[PERTURBATION].result
        if exp is None or pert is None or state.explained_index != current or int(exp.targets[0]) != pert.target:
            self.perturbation_r = None
            self.correlation_label.setText("Perturbation check: waiting for this sample's comparison.")
            return
        relevance = np.asarray(exp.relevance[0], dtype=np.float64)
        if relevance.size != pert.relevance.size:
            return
        self.perturbation_r = correlation(relevance, pert.relevance)
        for item, values, title, label in ((self.lrp_item, relevance, self._lrp_title, f"{exp.method} (active)"),
                                           (self.pert_item, pert.relevance, self._pert_title, "perturbation")):
            image = as_image(values)
            vmax = float(np.max(np.abs(image), initial=0.0)) or 1.0
            item.setImage(image, autoLevels=False, levels=(-vmax, vmax), lut=self._lut)
            title.setText(label)
        h, w = as_image(relevance).shape
        for box in (self._lrp_box, self._pert_box):
            box.setRange(xRange=(0, w), yRange=(0, h), padding=0.02)
        brk = "<br>" if self._wide else " "
        self.correlation_label.setText(f"<b>{exp.method}</b> (active){brk}vs the perturbation heatmap:{brk}"
                                       f"Pearson <b>r = {self.perturbation_r:.3f}</b>")

    # ------------------------------------------------------------------ reacting
    def _cell_clicked(self, method: str) -> None:
        if method in METHODS:
            self.state.set_method(method)

    def _inputs_changed(self, *_: Any) -> None:
        self._request = None
        self.worker.cancel(JOB_KEY)
        if self.shown:
            self.schedule()
        else:
            self._stale = True

    def _method_changed(self) -> None:
        if compared_methods(self.chosen, self.state.method) != self.methods:
            self.set_methods(self.chosen)  # the active method joins the grid
            return
        self._update_titles()
        if self._job is not None and self._method_kwargs() != self._job["kwargs"]:
            self._inputs_changed()  # a compared method's parameters changed

    def set_shown(self, shown: bool) -> None:
        """The dock's tab came to the front (True) or went away; a stale grid is recomputed when shown."""
        self.shown = bool(shown)
        if self.shown:
            self._arrange(getattr(self, "_wanted_columns", 4))
        if self.shown and self._stale:
            self.schedule()


def install_compare_dock(window: Any) -> CompareView:
    """Add the "Compare methods" dock, tabbed behind the conservation plot."""
    view = CompareView(window.state, window.controller)
    scroll = scrolled(view, "compareScroll")
    dock = window._dock("compare", "Compare methods", scroll, Qt.DockWidgetArea.BottomDockWidgetArea,
                        "The current sample explained by every method; click a cell to use that method.")
    dock.visibilityChanged.connect(view.set_shown)
    dock.visibilityChanged.connect(lambda shown: give_room(window, dock) if shown else None)
    front = window.docks.get("conservation")
    if front is not None:
        tabify_when_shown(window, front, dock)
    heatmap = getattr(window, "heatmap", None)
    if heatmap is not None:
        heatmap.colormapChanged.connect(view.set_colormap)
    window.compare_view = view
    return view


__all__ = ["CellResult", "CompareView", "JOB_KEY", "PERTURBATION", "explain_one", "install_compare_dock", "perturb_one"]
