"""A view that runs one core generator at a time in the controller's worker, with Run, Cancel and a progress bar.

The Sanity and Tune tabs of the Faithfulness dock derive from :class:`BackgroundRunView`: a subclass builds its
widgets, calls :meth:`start` with the generator and its arguments, and implements :meth:`on_result` (one
yielded value, in the GUI thread) and :meth:`on_end` (``"done"``, ``"cancelled"`` or ``"failed"``).
Results of a replaced or cancelled worker are ignored.
"""

from __future__ import annotations

from typing import Any, Callable

import pyqtgraph as pg
from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QHeaderView, QLabel, QListView, QListWidget, QListWidgetItem, QProgressBar, QPushButton, QSizePolicy, QSplitter,
    QTableWidget, QWidget,
)
from superqt.utils import GeneratorWorker

from lrp_studio.gui.controller import Controller, error_message
from lrp_studio.gui.heatmap_widget import style_plot


def result_table(name: str, columns: int = 0) -> QTableWidget:
    """A read-only table with compact rows and columns sized to their contents."""
    table = QTableWidget(0, columns)
    table.setObjectName(name)
    table.verticalHeader().setVisible(False)
    table.verticalHeader().setDefaultSectionSize(table.fontMetrics().height() + 8)  # compact rows
    table.setEditTriggers(QTableWidget.EditTrigger.NoEditTriggers)
    table.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
    return table


def result_plot(name: str, left: str) -> pg.PlotWidget:
    """A white plot in the app's style with a horizontal grid and the y-axis label ``left``."""
    plot = pg.PlotWidget(background="w")
    plot.setObjectName(name)
    plot.setMinimumHeight(120)
    item = plot.getPlotItem()
    style_plot(item)
    item.setLabel("left", left)
    item.showGrid(x=False, y=True, alpha=0.25)
    return plot


def table_and_plot(table: QTableWidget, plot: pg.PlotWidget) -> QSplitter:
    """The table left (3 parts of the width), the plot right (2 parts), in a splitter."""
    split = QSplitter(Qt.Orientation.Horizontal)
    split.addWidget(table)
    split.addWidget(plot)
    split.setStretchFactor(0, 3)
    split.setStretchFactor(1, 2)
    return split


class MethodChecklist(QListWidget):
    """Every method as a check box in a wrapping grid (the Faithfulness dock's method choice)."""

    def __init__(self, methods: list[str], checked: tuple[str, ...], name: str, max_height: int = 110) -> None:
        super().__init__()
        self.setObjectName(name)
        for method in methods:
            item = QListWidgetItem(method)
            item.setFlags(item.flags() | Qt.ItemFlag.ItemIsUserCheckable)
            item.setCheckState(Qt.CheckState.Checked if method in checked else Qt.CheckState.Unchecked)
            self.addItem(item)
        self.setFlow(QListView.Flow.LeftToRight)
        self.setWrapping(True)
        self.setResizeMode(QListView.ResizeMode.Adjust)
        self.setGridSize(pg.QtCore.QSize(150, 20))
        self.setMinimumWidth(0)
        self.setMinimumHeight(48)
        self.setMaximumHeight(max_height)

    def checked_methods(self) -> list[str]:
        return [self.item(i).text() for i in range(self.count()) if self.item(i).checkState() == Qt.CheckState.Checked]

    def set_methods(self, methods: list[str]) -> None:
        for i in range(self.count()):
            item = self.item(i)
            item.setCheckState(Qt.CheckState.Checked if item.text() in methods else Qt.CheckState.Unchecked)


class BackgroundRunView(QWidget):
    """Run / Cancel buttons, a progress bar and a status line around one generator run."""

    #: ``"done"``, ``"cancelled"`` or ``"failed"`` when a run has ended and the view shows its end.
    runFinished = Signal(str)

    def __init__(self, controller: Controller, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.controller = controller
        self.worker: GeneratorWorker | None = None
        self._outcome = "done"
        self.run_button = QPushButton("Run")
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.setEnabled(False)
        self.progress = QProgressBar()
        self.progress.setMinimumWidth(60)
        self.status = QLabel("")
        self.status.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
        self.run_button.clicked.connect(self.run)
        self.cancel_button.clicked.connect(self.cancel)

    def run(self) -> None:  # pragma: no cover - every subclass has its own
        raise NotImplementedError

    def on_result(self, value: Any) -> None:  # pragma: no cover
        raise NotImplementedError

    def on_end(self, outcome: str) -> None:  # pragma: no cover
        raise NotImplementedError

    def is_running(self) -> bool:
        """A run was started and its end has not been shown yet."""
        return self.worker is not None

    def start(self, steps: int, function: Callable[..., Any], *args: Any, **kwargs: Any) -> None:
        """Run the generator ``function(*args, **kwargs)``, expecting ``steps`` yielded values."""
        self.progress.setRange(0, steps)
        self.progress.setValue(0)
        self.run_button.setEnabled(False)
        self.cancel_button.setEnabled(True)
        if self.worker is not None:  # a run started from code while one runs: the new one replaces it
            self.worker.quit()
        self._outcome = "done"
        started: list[GeneratorWorker] = []  # set before any queued signal reaches a slot
        slots = {"yielded": lambda value: self._yielded(started[0], value),
                 "aborted": lambda: self._set_outcome(started[0], "cancelled"),
                 "errored": lambda error: self._failed(started[0], error),
                 "finished": lambda: self._finished(started[0])}
        started.append(self.controller.start_generator(function, *args, _connect=slots, **kwargs))
        self.worker = started[0]

    def cancel(self) -> None:
        """Stop after the step in hand."""
        if self.worker is not None:
            self.worker.quit()
            self.cancel_button.setEnabled(False)
            self.status.setText("Cancelling after the step in hand\u2026")

    def shutdown(self) -> None:
        """Ask a run to quit (window closing; the controller waits for its thread)."""
        if self.worker is not None:
            self.worker.quit()
        self.worker = None

    def _yielded(self, worker: GeneratorWorker, value: Any) -> None:
        if worker is self.worker and not worker.abort_requested:
            self.progress.setValue(self.progress.value() + 1)
            self.on_result(value)

    def _set_outcome(self, worker: GeneratorWorker, outcome: str) -> None:
        if worker is self.worker:
            self._outcome = outcome

    def _failed(self, worker: GeneratorWorker, error: BaseException) -> None:
        if worker is self.worker:
            self._outcome = "failed"
            self.status.setText(f"Failed: {error_message(error).strip().splitlines()[-1]}")

    def _finished(self, worker: GeneratorWorker) -> None:
        if worker is not self.worker:
            return
        self.worker = None
        self.run_button.setEnabled(True)
        self.cancel_button.setEnabled(False)
        if self._outcome != "failed":
            self.on_end(self._outcome)
        self.runFinished.emit(self._outcome)


__all__ = ["BackgroundRunView"]
