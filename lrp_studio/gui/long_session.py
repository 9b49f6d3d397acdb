"""Long-session driver: thousands of explanations and repaints in the real main window, with RSS and time.

Used by ``benchmarks/long_session_gui.py`` (2,000 explanations, the numbers in the closing notes) and by a
lighter regression test. Every step goes through the window's own code paths: models are opened with
:meth:`MainWindow.open_model` (the File > Open model path), samples are picked through the sample
browser (with class filters changing), methods cycle through every entry of the method list (LRP rules,
composites, custom and the baselines), a neuron is selected now and then (inspector and conditional
heatmap), and the graph, heatmap, output bars, conservation plot and inspector are repainted after each
explanation, plus a full window grab every few steps.
"""

from __future__ import annotations

import gc
import os
import time
from dataclasses import dataclass
from typing import Any, Callable

import numpy as np

__all__ = ["BlockRecord", "rss_mb", "run_long_session", "scene_item_count"]


def rss_mb() -> float:
    """Resident set size of this process in MiB (Linux ``/proc/self/statm``; 0 elsewhere)."""
    try:
        with open("/proc/self/statm", encoding="ascii") as handle:
            pages = int(handle.read().split()[1])
    except OSError:
        return 0.0
    return pages * os.sysconf("SC_PAGE_SIZE") / 2**20


@dataclass
class BlockRecord:
    """One block of explanations: counts, memory after the block and mean time per explanation."""

    explanations: int
    repaints: int
    rss_mb: float
    ms_per_explanation: float
    scene_items: int


def scene_item_count(window: Any) -> int:
    """Graphics items in the window's pyqtgraph scenes (graph, heatmap, plots): a leak of items shows here."""
    views = [window.graph.graphics_view(), window.heatmap.canvas, window.conservation_plot, window.output_bars.plot]
    return sum(len(view.scene().items()) for view in views)


def _repaint(window: Any) -> int:
    """Paint the graph, heatmap, output bars, conservation plot and inspector now; returns the count."""
    widgets = [window.graph.graphics_view().viewport(), window.heatmap.canvas.viewport(), window.output_bars,
               window.conservation_plot.viewport(), window.inspector]
    for widget in widgets:
        widget.repaint()
    return len(widgets)


def run_long_session(window: Any, n: int = 2000, block: int = 250, model_paths: tuple[str, ...] = (),
                     switch_every: int = 50, grab_every: int = 25, settle_ms: int | None = None,
                     repaint_rounds: int = 1, on_block: Callable[[BlockRecord], None] | None = None
                     ) -> list[BlockRecord]:
    """Drive ``window`` through ``n`` explanations; a :class:`BlockRecord` every ``block`` explanations.

    Parameters
    ----------
    window : MainWindow
        Shown, idle window.
    model_paths : tuple of str
        Model files opened in turn (every ``switch_every`` explanations) through ``window.open_model``.
    settle_ms : int, optional
        Debounce interval of the secondary views (default: the window's own, 40 ms); a test may shorten it.
    repaint_rounds : int
        How often the five views are repainted after each explanation.
    """
    from PySide6.QtCore import QCoreApplication, QEvent

    from lrp_studio.gui.state import method_names

    if settle_ms is not None:
        window._settle_timer.setInterval(settle_ms)
    methods = method_names()
    browser = window.sample_browser
    rng = np.random.default_rng(0)
    records: list[BlockRecord] = []
    repaints = 0
    start = time.perf_counter()
    for i in range(1, n + 1):
        if model_paths and (i - 1) % switch_every == 0:
            path = model_paths[((i - 1) // switch_every) % len(model_paths)]
            if not window.open_model(path):
                raise RuntimeError(f"could not open {path}")
        if i % 100 == 1:  # the class filter of the sample browser changes now and then
            browser.set_filter("all" if (i // 100) % 3 == 0 else int(rng.integers(0, 10)))
        rows = browser.visible_indices()
        index = int(rows[int(rng.integers(0, len(rows)))])
        method = methods[i % len(methods)]
        window.set_method(method)
        browser.select_sample(index)
        if not window.wait_idle(120):
            raise RuntimeError(f"explanation {i} ({method}, sample {index}) did not finish")
        state = window.state
        if state.explained_index != index or state.method != method:
            raise RuntimeError(f"explanation {i}: shows sample {state.explained_index} / {state.method}")
        if i % 10 == 0:  # select a unit of a hidden layer: inspector, conditional heatmap
            column = window.graph.columns()[1 + i % max(1, len(window.graph.columns()) - 2)]
            window.select_neuron(column.stage, int(rng.integers(0, 8)))
        for _ in range(repaint_rounds):
            repaints += _repaint(window)
        # Widgets replaced with deleteLater() are freed when control returns to the event loop; this driver
        # runs outside app.exec(), so it delivers those deletions itself (the real app does it every turn).
        QCoreApplication.sendPostedEvents(None, QEvent.Type.DeferredDelete)
        if grab_every and i % grab_every == 0:
            window.grab()
            repaints += 1
        if i % block == 0:
            elapsed = (time.perf_counter() - start) / block * 1e3
            gc.collect()
            record = BlockRecord(i, repaints, rss_mb(), elapsed, scene_item_count(window))
            records.append(record)
            if on_block is not None:
                on_block(record)
            start = time.perf_counter()
    return records
