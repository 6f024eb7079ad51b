"""The live picture: the newest camera (or player) frame, painted at the screen's pace.

The capture thread puts each frame into a one-slot
:class:`~app.recorder.preview.LatestFrame` and never waits for the GUI. This widget looks
at the slot on a timer; when a new frame is there it wraps it in a ``QImage`` with
``Format_BGR888`` (OpenCV's byte order, so no conversion) and calls ``update()``, and
``paintEvent`` draws it scaled to fit, mirrored if asked (a painter transform: no copy).

Why no copy is needed: a frame in the slot is a numpy array its producer never writes
again (cameras and the player hand over a new array per frame), and the widget keeps a
reference to the array as long as the ``QImage`` that wraps it exists, so the buffer
cannot be freed or reused under the painter (the known use-after-free of sharing a
reused buffer across threads). Frames that arrive faster than the screen paints are
skipped, never queued: only the latest matters.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from PySide6.QtCore import QRectF, QSize, Qt, QTimer
from PySide6.QtGui import QColor, QFont, QImage, QPainter, QPaintEvent
from PySide6.QtWidgets import QSizePolicy, QWidget

if TYPE_CHECKING:  # numpy loads with the first picture, not with the window
    from app.recorder.preview import LatestFrame


class PreviewWidget(QWidget):
    """Paints the newest frame of a :class:`LatestFrame` (see the module docstring)."""

    def __init__(self, parent: QWidget | None = None, *, poll_ms: int = 15) -> None:
        super().__init__(parent)
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Expanding)
        self.setMinimumSize(240, 135)
        self.setAttribute(Qt.WidgetAttribute.WA_OpaquePaintEvent)
        self.setAccessibleName("Camera preview")
        self.mirror = False
        self.placeholder = "No camera"
        self.overlay_text = ""
        self._source: LatestFrame | None = None
        self._seq = -1
        self._image: QImage | None = None
        self._array: Any = None  # keeps the frame's buffer alive while _image wraps it
        #: Frames painted since the source was set (benchmarks/ui.py counts them).
        self.frames_painted = 0
        self.frames_seen = 0
        self._timer = QTimer(self)
        self._timer.setInterval(poll_ms)
        self._timer.timeout.connect(self.on_timer_timeout)

    def sizeHint(self) -> QSize:
        return QSize(640, 360)

    def set_source(self, source: LatestFrame | None, *, keep_last: bool = False) -> None:
        """Show the frames of ``source`` (None: stop; the last picture stays if asked)."""
        self._source = source
        self._seq = -1
        if not keep_last:
            self._image, self._array = None, None
        if source is not None:
            self._timer.start()
        else:
            self._timer.stop()
        self.update()

    @property
    def source(self) -> LatestFrame | None:
        return self._source

    def has_picture(self) -> bool:
        return self._image is not None

    def set_overlay(self, text: str) -> None:
        """Large text over the picture (the countdown)."""
        self.overlay_text = text
        self.update()

    def on_timer_timeout(self) -> None:
        source = self._source
        if source is None or source.seq == self._seq:
            return
        got = source.get()
        if got is None:
            return
        array, seq = got
        self.frames_seen += 1
        self._seq = seq
        height, width = array.shape[:2]
        self._array = array
        self._image = QImage(
            array.data, width, height, array.strides[0], QImage.Format.Format_BGR888
        )
        self.update()

    def current_image(self) -> QImage | None:
        """A copy of the picture shown (tests, screenshots)."""
        return self._image.copy() if self._image is not None else None

    def paintEvent(self, event: QPaintEvent) -> None:
        painter = QPainter(self)
        painter.fillRect(self.rect(), QColor("#111214"))
        image = self._image
        if image is None:
            painter.setPen(QColor("#9aa0a6"))
            painter.drawText(self.rect(), Qt.AlignmentFlag.AlignCenter, self.placeholder)
        else:
            w, h = image.width(), image.height()
            scale = min(self.width() / w, self.height() / h)
            tw, th = w * scale, h * scale
            target = QRectF((self.width() - tw) / 2, (self.height() - th) / 2, tw, th)
            painter.setRenderHint(QPainter.RenderHint.SmoothPixmapTransform, scale < 1.0)
            if self.mirror:
                painter.save()
                painter.translate(target.center().x() * 2, 0)
                painter.scale(-1, 1)
                painter.drawImage(target, image)
                painter.restore()
            else:
                painter.drawImage(target, image)
            self.frames_painted += 1
        if self.overlay_text:
            font = QFont(self.font())
            font.setPointSize(max(24, self.height() // 5))
            font.setBold(True)
            painter.setFont(font)
            painter.setPen(QColor(0, 0, 0, 140))
            painter.drawText(
                self.rect().translated(3, 3), Qt.AlignmentFlag.AlignCenter, self.overlay_text
            )
            painter.setPen(QColor("white"))
            painter.drawText(self.rect(), Qt.AlignmentFlag.AlignCenter, self.overlay_text)
        painter.end()
