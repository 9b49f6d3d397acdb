"""Draw a digit: a 28x28 canvas whose drawing is classified and explained live.

:class:`DrawingCanvas` holds a 28x28 float image in [0, 1] (white strokes on black, like MNIST)
painted with a soft round brush: the left button draws, the right button erases. :class:`DrawPanel`
adds the brush size, Clear and "Use current sample", and sends the drawing to
:meth:`AppState.set_custom_input` while the user draws (at most every ``SEND_MS`` and on release),
so the explanation worker explains it and the heatmap, graph and output bars follow.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from PySide6.QtCore import QPointF, QRectF, Qt, QTimer, Signal
from PySide6.QtGui import QColor, QImage, QMouseEvent, QPainter, QPaintEvent, QPen
from PySide6.QtWidgets import (
    QGridLayout, QHBoxLayout, QLabel, QPushButton, QSizePolicy, QSlider, QVBoxLayout, QWidget,
)

from lrp_studio.gui.formatting import percent
from lrp_studio.gui.dock_tabs import tabify_when_shown
from lrp_studio.gui.state import CUSTOM_INDEX, AppState
from lrp_studio.nn import sigmoid, softmax

SIDE = 28
SEND_MS = 40  # while drawing, the drawing is explained at most this often


def stroke_alpha(side: int, points: np.ndarray, size: float) -> np.ndarray:
    """Coverage (side, side) in [0, 1] of a soft round brush of diameter ``size`` pixels at ``points``.

    ``points`` (K, 2) are (x, y) in pixel units (pixel (r, c) covers [c, c+1) x [r, r+1)). A pixel
    centre within ``size / 2`` of a point is fully covered; coverage falls off linearly over the
    next pixel (anti-aliased edges, like MNIST's strokes).
    """
    centres = np.arange(side, dtype=np.float64) + 0.5
    alpha = np.zeros((side, side), np.float64)
    radius = 0.5 * float(size)
    for x, y in np.asarray(points, np.float64).reshape(-1, 2):
        d = np.sqrt((centres[None, :] - x) ** 2 + (centres[:, None] - y) ** 2)
        alpha = np.maximum(alpha, np.clip(radius + 0.5 - d, 0.0, 1.0))
    return alpha.astype(np.float32)


def segment_points(start: tuple[float, float], end: tuple[float, float], step: float = 0.25) -> np.ndarray:
    """Points every ``step`` pixels from ``start`` to ``end`` (both included)."""
    a, b = np.asarray(start, np.float64), np.asarray(end, np.float64)
    count = max(1, int(np.ceil(np.linalg.norm(b - a) / step)))
    t = np.linspace(0.0, 1.0, count + 1)[:, None]
    return a + t * (b - a)


class DrawingCanvas(QWidget):
    """A 28x28 drawing surface: left button draws, right button erases.

    Signals
    -------
    changed()
        The image changed (emitted on every stroke step).
    strokeFinished()
        A mouse button was released.
    """

    changed = Signal()
    strokeFinished = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("drawingCanvas")
        self.image = np.zeros((SIDE, SIDE), np.float32)
        self.brush_size = 2.0
        self._button: Qt.MouseButton | None = None
        self._last: tuple[float, float] | None = None
        self._hover: QPointF | None = None
        self.setMouseTracking(True)
        self.setMinimumSize(140, 140)
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Expanding)
        self.setCursor(Qt.CursorShape.CrossCursor)
        self.setToolTip("Left button: draw \u00b7 right button: erase")

    # ------------------------------------------------------------------ public
    def set_brush_size(self, size: float) -> None:
        self.brush_size = float(np.clip(size, 1.0, 4.0))
        self.update()

    def clear(self) -> None:
        self.image[:] = 0.0
        self.update()
        self.changed.emit()

    def set_image(self, image: np.ndarray) -> None:
        """Show ``image`` (28x28 values in [0, 1]; clipped)."""
        array = np.asarray(image, np.float32).reshape(SIDE, SIDE)
        self.image = np.clip(array, 0.0, 1.0).astype(np.float32)
        self.update()
        self.changed.emit()

    def is_drawing(self) -> bool:
        return self._button is not None

    def cell_rect(self) -> QRectF:
        """The square (widget coordinates) where the 28x28 image is drawn."""
        side = float(min(self.width(), self.height()) - 2)
        side = max(side, float(SIDE))
        return QRectF((self.width() - side) / 2.0, (self.height() - side) / 2.0, side, side)

    def to_image(self, pos: QPointF) -> tuple[float, float]:
        """Widget position -> (x, y) in pixel units of the 28x28 image."""
        rect = self.cell_rect()
        scale = SIDE / rect.width()
        return (pos.x() - rect.left()) * scale, (pos.y() - rect.top()) * scale

    def widget_position(self, x: float, y: float) -> QPointF:
        """(x, y) in image pixel units -> widget position (tests, scripted drawing)."""
        rect = self.cell_rect()
        scale = rect.width() / SIDE
        return QPointF(rect.left() + x * scale, rect.top() + y * scale)

    def paint_stroke(self, points: np.ndarray, erase: bool = False) -> None:
        """Apply the brush along ``points`` (K, 2) in image pixel units."""
        alpha = stroke_alpha(SIDE, points, self.brush_size)
        if erase:
            self.image = (self.image * (1.0 - alpha)).astype(np.float32)
        else:
            self.image = np.maximum(self.image, alpha)
        self.update()
        self.changed.emit()

    # ------------------------------------------------------------------ mouse
    def mousePressEvent(self, event: QMouseEvent) -> None:  # noqa: N802 (Qt API)
        if event.button() not in (Qt.MouseButton.LeftButton, Qt.MouseButton.RightButton) or not self.isEnabled():
            return
        self._button = event.button()
        self._last = self.to_image(event.position())
        self.paint_stroke(np.array([self._last]), erase=self._button == Qt.MouseButton.RightButton)
        event.accept()

    def mouseMoveEvent(self, event: QMouseEvent) -> None:  # noqa: N802 (Qt API)
        self._hover = event.position()
        if self._button is not None and self._last is not None:
            point = self.to_image(event.position())
            self.paint_stroke(segment_points(self._last, point), erase=self._button == Qt.MouseButton.RightButton)
            self._last = point
        else:
            self.update()

    def mouseReleaseEvent(self, event: QMouseEvent) -> None:  # noqa: N802 (Qt API)
        if self._button is not None and event.button() == self._button:
            self._button = None
            self._last = None
            self.strokeFinished.emit()

    def leaveEvent(self, event: Any) -> None:  # noqa: N802 (Qt API)
        self._hover = None
        self.update()
        super().leaveEvent(event)

    # ------------------------------------------------------------------ painting
    def paintEvent(self, event: QPaintEvent) -> None:  # noqa: N802 (Qt API)
        painter = QPainter(self)
        painter.fillRect(self.rect(), self.palette().window())
        rect = self.cell_rect()
        grey = np.ascontiguousarray((np.clip(self.image, 0, 1) * 255).astype(np.uint8))
        image = QImage(grey.data, SIDE, SIDE, SIDE, QImage.Format.Format_Grayscale8)
        painter.drawImage(rect, image)
        if not self.isEnabled():
            painter.fillRect(rect, QColor(128, 128, 128, 150))
        step = rect.width() / SIDE
        painter.setPen(QPen(QColor(255, 255, 255, 22), 1))
        for k in range(1, SIDE):
            offset = k * step
            painter.drawLine(QPointF(rect.left() + offset, rect.top()), QPointF(rect.left() + offset, rect.bottom()))
            painter.drawLine(QPointF(rect.left(), rect.top() + offset), QPointF(rect.right(), rect.top() + offset))
        painter.setPen(QPen(QColor("#555"), 1))
        painter.drawRect(rect)
        if self._hover is not None and self.isEnabled() and rect.contains(self._hover):
            painter.setPen(QPen(QColor("#e8872b"), 1.5))
            radius = 0.5 * self.brush_size * step + 0.5 * step
            painter.drawEllipse(self._hover, radius, radius)
        painter.end()


def fits_canvas(shape: tuple[int, ...]) -> bool:
    """Whether a model input shape takes a 28x28 drawing: (1, 28, 28), (28, 28) or (784,)."""
    return tuple(shape) in ((1, SIDE, SIDE), (SIDE, SIDE), (SIDE * SIDE,))


class DrawPanel(QWidget):
    """The canvas with brush size, Clear and "Use current sample"; sends the drawing to the state."""

    def __init__(self, state: AppState, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("drawPanel")
        self.state = state
        self.n_sent = 0
        self.canvas = DrawingCanvas()
        self.info = QLabel()
        self.info.setObjectName("drawInfo")
        self.info.setWordWrap(True)
        self.prediction = QLabel("Draw a digit: left button draws, right button erases.")
        self.prediction.setObjectName("drawPrediction")
        self.prediction.setWordWrap(True)
        self.brush_slider = QSlider(Qt.Orientation.Horizontal)
        self.brush_slider.setObjectName("brushSize")
        self.brush_slider.setRange(1, 4)
        self.brush_slider.setValue(3)
        self.brush_slider.setPageStep(1)
        self.brush_slider.setTickPosition(QSlider.TickPosition.TicksBelow)
        self.brush_slider.setToolTip("Brush diameter in pixels of the 28x28 image (MNIST strokes are about 2-3).")
        self.brush_label = QLabel()
        self.clear_button = QPushButton("Clear")
        self.clear_button.setToolTip("Empty the canvas.")
        self.sample_button = QPushButton("Use current sample")
        self.sample_button.setToolTip("Copy the selected dataset image into the canvas to edit it.")
        brush = QHBoxLayout()
        brush.addWidget(QLabel("Brush"))
        brush.addWidget(self.brush_slider, 1)
        brush.addWidget(self.brush_label)
        buttons = QGridLayout()
        buttons.addWidget(self.clear_button, 0, 0)
        buttons.addWidget(self.sample_button, 0, 1)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 4)
        layout.addWidget(self.info)
        layout.addWidget(self.canvas, 1)
        layout.addLayout(brush)
        layout.addLayout(buttons)
        layout.addWidget(self.prediction)

        self._send_timer = QTimer(self)
        self._send_timer.setSingleShot(True)
        self._send_timer.setInterval(SEND_MS)
        self._send_timer.timeout.connect(self.send)
        self.canvas.changed.connect(self._canvas_changed)
        self.canvas.strokeFinished.connect(self.send)
        self.brush_slider.valueChanged.connect(self._brush_changed)
        self.clear_button.clicked.connect(self.clear)
        self.sample_button.clicked.connect(self.use_current_sample)
        state.modelChanged.connect(self._model_changed)
        state.datasetChanged.connect(self._model_changed)
        state.explanationChanged.connect(self._explanation_changed)
        state.customInputChanged.connect(self._custom_changed)
        self._brush_changed(self.brush_slider.value())
        self._model_changed()

    # ------------------------------------------------------------------ public
    def available(self) -> bool:
        return fits_canvas(self.state.net.input_shape)

    def send(self) -> None:
        """Explain the drawing now (as the state's custom input)."""
        self._send_timer.stop()
        if not self.available():
            return
        low, high = self.state.net.input_range or (0.0, 1.0)
        self.state.set_custom_input(low + self.canvas.image * (high - low))
        self.n_sent += 1

    def clear(self) -> None:
        self.canvas.clear()
        self.send()

    def use_current_sample(self) -> None:
        """Copy the selected dataset image into the canvas (scaled from the dataset's value range)."""
        dataset = self.state.dataset
        if not len(dataset) or int(np.prod(dataset.sample_shape)) != SIDE * SIDE:
            self.prediction.setText(f"The dataset '{dataset.name}' has no 28x28 images to copy.")
            return
        low, high = dataset.input_range
        self.canvas.set_image((np.asarray(dataset.x[self.state.index], np.float32) - low) / (high - low))
        self.send()

    # ------------------------------------------------------------------ reacting
    def _canvas_changed(self) -> None:
        if self.canvas.is_drawing() and not self._send_timer.isActive():
            self._send_timer.start()

    def _brush_changed(self, value: int) -> None:
        self.canvas.set_brush_size(float(value))
        self.brush_label.setText(f"{value} px")

    def _model_changed(self) -> None:
        ok = self.available()
        for widget in (self.canvas, self.brush_slider, self.clear_button, self.sample_button):
            widget.setEnabled(ok)
        net = self.state.net
        if ok:
            self.info.setText("Draw white on black; the heatmap, graph and output bars explain your drawing "
                              "live. Pick a sample in the list to go back to the dataset.")
            self.info.setStyleSheet("")
        else:
            self.info.setText(f"Drawing needs a model with a 28x28 input (1,28,28 or 784); this model takes "
                              f"{','.join(str(v) for v in net.input_shape)}. Open an MNIST model to draw.")
            self.info.setStyleSheet("color: #b35900")
            self.canvas.update()

    def _custom_changed(self) -> None:
        custom = self.state.custom_input
        if custom is None:
            self.prediction.setText("Showing a dataset sample. Draw to explain your own digit.")
            return
        if self.available() and custom.size == SIDE * SIDE and not self.canvas.is_drawing():
            # set from elsewhere (a session): show it without sending it back
            low, high = self.state.net.input_range or (0.0, 1.0)
            image = np.clip((np.asarray(custom, np.float32).reshape(SIDE, SIDE) - low) / (high - low), 0.0, 1.0)
            if not np.allclose(image, self.canvas.image, atol=1e-6):
                self.canvas.image = image.astype(np.float32)
                self.canvas.update()

    def _explanation_changed(self) -> None:
        exp = self.state.explanation
        if exp is None or self.state.explained_index != CUSTOM_INDEX:
            return
        logits = np.asarray(exp.logits[0], np.float64)
        classes = self.state.net.classes
        if logits.size == 1:
            probability = float(sigmoid(np.asarray(logits[0], dtype=np.float64)))
            text = f"class 1 with probability {probability:.2f}"
        else:
            probabilities = softmax(np.asarray(logits, dtype=np.float64))
            order = np.argsort(-probabilities)[:3]
            text = f"<b>{classes[order[0]]}</b> ({percent(probabilities[order[0]] * 100, 0)})"
            others = [f"{classes[k]} ({percent(probabilities[k] * 100, 0)})" for k in order[1:] if probabilities[k] >= 0.01]
            if others:
                text += ", then " + ", ".join(others)
        if not self.canvas.image.any():
            text += " \u2014 the canvas is empty"
        self.prediction.setText(f"Your drawing: {text}")


def install_canvas_dock(window: Any) -> DrawPanel:
    """Add the "Draw a digit" dock to a main window, tabbed behind the sample browser."""
    panel = DrawPanel(window.state)
    dock = window._dock("canvas", "Draw a digit", panel, Qt.DockWidgetArea.LeftDockWidgetArea,
                        "Draw a digit (28x28) and see it classified and explained while you draw.")
    samples = window.docks.get("samples")
    if samples is not None:
        tabify_when_shown(window, samples, dock)
    window.draw_panel = panel
    window.canvas = panel.canvas
    return panel


__all__ = ["DrawPanel", "DrawingCanvas", "SIDE", "fits_canvas", "install_canvas_dock", "segment_points", "stroke_alpha"]
