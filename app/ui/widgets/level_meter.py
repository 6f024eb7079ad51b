"""The microphone's level: a bar from -60 to 0 dBFS, green, then amber, then red near clipping.

The recorder reports peak and RMS about 25 times a second
(:class:`~app.recorder.events.AudioLevel`); the bar shows the RMS and a thin line the
peak, which falls back slowly so a short sound stays visible.
"""

from __future__ import annotations

import time

from PySide6.QtCore import QRectF, QSize, Qt, QTimer
from PySide6.QtGui import QColor, QPainter, QPaintEvent
from PySide6.QtWidgets import QSizePolicy, QWidget

FLOOR_DBFS = -60.0
AMBER_DBFS = -12.0
RED_DBFS = -3.0
PEAK_FALL_DB_PER_S = 20.0


def fraction(dbfs: float) -> float:
    """Where ``dbfs`` sits on the bar (0..1)."""
    return min(1.0, max(0.0, (dbfs - FLOOR_DBFS) / -FLOOR_DBFS))


class LevelMeter(QWidget):
    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Fixed)
        self.setAccessibleName("Microphone level")
        self.rms = FLOOR_DBFS
        self.peak = FLOOR_DBFS
        self._peak_at = 0.0
        self._last = 0.0
        # Without new levels (microphone closed) the bar falls to zero by itself.
        self._decay = QTimer(self)
        self._decay.setInterval(100)
        self._decay.timeout.connect(self.on_decay_timeout)
        self._decay.start()

    def sizeHint(self) -> QSize:
        return QSize(160, 10)

    def set_level(self, peak_dbfs: float, rms_dbfs: float) -> None:
        now = time.monotonic()
        self._last = now
        self.rms = rms_dbfs
        held = self.peak - PEAK_FALL_DB_PER_S * (now - self._peak_at)
        if peak_dbfs >= held:
            self.peak, self._peak_at = peak_dbfs, now
        self.setAccessibleDescription(f"{rms_dbfs:.0f} dB")
        self.update()

    def reset(self) -> None:
        self.rms = self.peak = FLOOR_DBFS
        self.update()

    def on_decay_timeout(self) -> None:
        if self.rms > FLOOR_DBFS and time.monotonic() - self._last > 0.5:
            self.reset()

    def paintEvent(self, event: QPaintEvent) -> None:
        painter = QPainter(self)
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        r = QRectF(self.rect()).adjusted(0.5, 0.5, -0.5, -0.5)
        painter.setPen(Qt.PenStyle.NoPen)
        painter.setBrush(self.palette().alternateBase())
        painter.drawRoundedRect(r, 3, 3)
        level = fraction(self.rms)
        if level > 0:
            colour = QColor("#34a853")
            if self.rms >= RED_DBFS:
                colour = QColor("#ea4335")
            elif self.rms >= AMBER_DBFS:
                colour = QColor("#fbbc04")
            painter.setBrush(colour)
            painter.drawRoundedRect(QRectF(r.x(), r.y(), r.width() * level, r.height()), 3, 3)
        peak = fraction(self.peak)
        if peak > 0:
            x = r.x() + r.width() * peak
            painter.setPen(self.palette().text().color())
            painter.drawLine(int(x), int(r.top()), int(x), int(r.bottom()))
        painter.end()
