"""File > Open image and drag-and-drop of image files onto the main window.

The image is converted to the current model's input by :func:`lrp_studio.io.load_input` (colour
mode, polarity, MNIST framing or letterbox, value range) and explained as the custom input, as a
drawn digit is; what the conversion did (an inversion) and any value-range warning go to the
status bar. A bad file ends in an error dialog with one line and the window keeps its input.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from PySide6.QtCore import QEvent, QObject

from lrp_studio.gui import dialogs
from lrp_studio.io import load_input
from lrp_studio.io.images import IMAGE_SUFFIXES, is_image_file
from lrp_studio.lrp.input_check import range_warning

IMAGE_FILTER = "Images (" + " ".join(f"*{suffix}" for suffix in IMAGE_SUFFIXES) + ");;All files (*)"


def open_image(window: Any, path: str | None = None) -> bool:
    """Explain the image at ``path`` (asked for in a dialog when None) as the window's custom input.

    Returns
    -------
    bool
        True when the image became the input; False when cancelled or refused (an error dialog was shown).
    """
    path = path or dialogs.get_open_path(window, "Open image", IMAGE_FILTER)
    if not path:
        return False
    net = window.state.net
    try:
        loaded = load_input(path, net.input_shape, net.input_range)
    except Exception as error:
        dialogs.show_error(window, "Cannot open image", dialogs.error_text(error))
        return False
    window.state.set_custom_input(loaded.x[0])
    inverted = [note.split(":")[0] for note in loaded.notes if note.startswith("inverted")]
    warning = range_warning(loaded.x, net.input_range)
    text = f"Opened image {Path(path).name}" + (" (inverted: dark ink on light paper)" if inverted else "")
    window.show_status(f"{text} \u2014 warning: {warning}" if warning else text, 0 if warning else 8000)
    return True


def open_image_folder(window: Any, folder: str | None = None) -> bool:
    """Open an image folder (one sub-folder per class) as the dataset, asking for it when None."""
    folder = folder or dialogs.get_directory(window, "Open image folder (one sub-folder per class)")
    if not folder:
        return False
    return bool(window.open_dataset(folder))


def _dropped_image(event: Any) -> str | None:
    """The local image file a drag carries (the first URL), or None."""
    mime = event.mimeData()
    if not mime.hasUrls():
        return None
    for url in mime.urls():
        if url.isLocalFile() and is_image_file(url.toLocalFile()):
            return url.toLocalFile()
    return None


class ImageDropFilter(QObject):
    """Event filter on the main window: accept drags of image files, explain the dropped image."""

    def __init__(self, window: Any) -> None:
        super().__init__(window)
        self.window = window

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:  # noqa: N802 (Qt's name)
        kind = event.type()
        if kind in (QEvent.Type.DragEnter, QEvent.Type.DragMove) and _dropped_image(event):
            event.acceptProposedAction()
            return True
        if kind == QEvent.Type.Drop:
            path = _dropped_image(event)
            if path:
                event.acceptProposedAction()
                open_image(self.window, path)
                return True
        return False


def install_image_drop(window: Any) -> ImageDropFilter:
    """Let ``window`` take dropped image files (kept as ``window.image_drop``)."""
    window.setAcceptDrops(True)
    window.image_drop = ImageDropFilter(window)
    window.installEventFilter(window.image_drop)
    return window.image_drop
