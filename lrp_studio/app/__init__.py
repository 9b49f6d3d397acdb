"""Use cases shared by the command line and the GUI (no Qt, no argument parsing).

:mod:`.batch_export`: many samples explained in chunks and written as heatmap PNGs,
``relevance.npy`` and ``index.csv`` (``lrp-studio export`` and the GUI's batch export).
"""

from lrp_studio.app.batch_export import ExportResult, ImageOptions, export_batch

__all__ = ["ExportResult", "ImageOptions", "export_batch"]
