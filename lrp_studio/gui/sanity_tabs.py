"""The Faithfulness dock's "Sanity" and "Tune" tabs (:mod:`.sanity_view`, :mod:`.tune_view`), added by one hook."""

from __future__ import annotations

from typing import Any

from PySide6.QtWidgets import QTabWidget

from lrp_studio.gui.sanity_view import SanityView
from lrp_studio.gui.scrolling import scrolled
from lrp_studio.gui.tune_view import TuneView


def add_sanity_tabs(window: Any, tabs: QTabWidget, aopc_view: Any) -> None:
    """Add the "Sanity" and "Tune" tabs to ``tabs`` and stop their runs with the window's other threads.

    ``aopc_view`` is the AOPC tab's view: its last scores fill the sanity table's AOPC column.
    """
    sanity = SanityView(window.state, window.controller, aopc_view)
    tune = TuneView(window.state, window.controller)
    tabs.addTab(scrolled(sanity, "sanityScroll"), "Sanity")
    tabs.addTab(scrolled(tune, "tuneScroll"), "Tune")
    shutdown = window.shutdown

    def shutdown_all() -> None:
        sanity.shutdown()
        tune.shutdown()
        shutdown()

    window.shutdown = shutdown_all
    window.sanity_view, window.tune_view = sanity, tune


__all__ = ["add_sanity_tabs"]
