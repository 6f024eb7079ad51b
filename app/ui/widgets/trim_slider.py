"""Trim handles: a timeline with a start and an end handle and the play position.

Drag a handle with the mouse, or with the keyboard: Tab moves between the handles,
Left/Right move the focused one by one frame, Shift+Left/Right by a second, Home/End to
the ends. While a handle moves, :attr:`TrimSlider.handle_moved` says where, so the review
page can show the frame under it; :attr:`TrimSlider.range_changed` when it is let go.
"""

from __future__ import annotations

from PySide6.QtCore import QPointF, QRectF, QSize, Qt, Signal
from PySide6.QtGui import QColor, QKeyEvent, QMouseEvent, QPainter, QPaintEvent, QPolygonF
from PySide6.QtWidgets import QSizePolicy, QWidget

from app.ui import theme

HANDLE_W = 10.0
MIN_LENGTH_S = 0.5


def clock(seconds: float) -> str:
    """0:07.4 / 1:02.0."""
    seconds = max(0.0, seconds)
    minutes = int(seconds // 60)
    return f"{minutes}:{seconds - minutes * 60:04.1f}"


class TrimSlider(QWidget):
    #: (which: "start" | "end" | "position", seconds) while dragging.
    handle_moved = Signal(str, float)
    #: (start, end) after a handle was let go or moved by key.
    range_changed = Signal(float, float)
    #: The user clicked the timeline to play from there.
    seek_requested = Signal(float)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Fixed)
        self.setFocusPolicy(Qt.FocusPolicy.StrongFocus)
        self.setAccessibleName("Trim")
        self.duration = 0.0
        self.fps = 30.0
        self.start = 0.0
        self.end = 0.0
        self.position = 0.0
        self.active = "start"
        self._drag: str | None = None
        self._update_description()

    def sizeHint(self) -> QSize:
        return QSize(400, 36)

    # ------------------------------------------------------------------ model

    def set_duration(self, seconds: float, fps: float = 30.0) -> None:
        self.duration = max(0.0, seconds)
        self.fps = fps or 30.0
        self.start, self.end = 0.0, self.duration
        self.position = 0.0
        self._update_description()
        self.update()

    def set_position(self, seconds: float) -> None:
        self.position = min(max(0.0, seconds), self.duration)
        self.update()

    def set_range(self, start: float, end: float) -> None:
        self.start, self.end = self._clamp(start, end)
        self._update_description()
        self.update()

    @property
    def trimmed(self) -> bool:
        frame = 1.0 / self.fps
        return self.start > frame / 2 or self.end < self.duration - frame / 2

    def _clamp(self, start: float, end: float) -> tuple[float, float]:
        start = min(max(0.0, start), self.duration)
        end = min(max(0.0, end), self.duration)
        if end - start < MIN_LENGTH_S:
            if self.active == "start":
                start = max(0.0, end - MIN_LENGTH_S)
            else:
                end = min(self.duration, start + MIN_LENGTH_S)
        return start, end

    def _update_description(self) -> None:
        self.setAccessibleDescription(
            f"Keep from {clock(self.start)} to {clock(self.end)}; "
            f"{self.active} handle selected; arrows move it by a frame"
        )
        self.setToolTip(
            "Drag the handles to cut the start and the end.\n"
            "Keyboard: Tab picks a handle, ←/→ move it a frame, Shift+←/→ a second."
        )

    # ------------------------------------------------------------------ geometry

    def _track(self) -> QRectF:
        return QRectF(HANDLE_W, 8, max(1.0, self.width() - 2 * HANDLE_W), self.height() - 16)

    def _x(self, seconds: float) -> float:
        t = self._track()
        return t.x() + (t.width() * seconds / self.duration if self.duration else 0.0)

    def _seconds(self, x: float) -> float:
        t = self._track()
        if not self.duration:
            return 0.0
        frac = min(1.0, max(0.0, (x - t.x()) / t.width()))
        frame = 1.0 / self.fps
        return round(frac * self.duration / frame) * frame

    # ------------------------------------------------------------------ input

    def mousePressEvent(self, event: QMouseEvent) -> None:
        x = event.position().x()
        sx, ex = self._x(self.start), self._x(self.end)
        if abs(x - sx) <= HANDLE_W and abs(x - sx) <= abs(x - ex):
            self._drag = self.active = "start"
        elif abs(x - ex) <= HANDLE_W:
            self._drag = self.active = "end"
        else:
            self._drag = None
            self.seek_requested.emit(self._seconds(x))
        self._update_description()
        self.update()

    def mouseMoveEvent(self, event: QMouseEvent) -> None:
        if self._drag is None:
            return
        self._move(self._drag, self._seconds(event.position().x()))

    def mouseReleaseEvent(self, event: QMouseEvent) -> None:
        if self._drag is not None:
            self._drag = None
            self.range_changed.emit(self.start, self.end)

    def _move(self, which: str, seconds: float) -> None:
        self.active = which
        if which == "start":
            self.start, self.end = self._clamp(seconds, self.end)
            self.handle_moved.emit("start", self.start)
        else:
            self.start, self.end = self._clamp(self.start, seconds)
            self.handle_moved.emit("end", self.end)
        self._update_description()
        self.update()

    def focusNextPrevChild(self, next: bool) -> bool:
        # Tab moves between the two handles before leaving the widget.
        if next and self.active == "start":
            self.active = "end"
        elif not next and self.active == "end":
            self.active = "start"
        else:
            return super().focusNextPrevChild(next)
        self._update_description()
        self.update()
        return True

    def keyPressEvent(self, event: QKeyEvent) -> None:
        step = 1.0 if event.modifiers() & Qt.KeyboardModifier.ShiftModifier else 1.0 / self.fps
        value = self.start if self.active == "start" else self.end
        key = event.key()
        if key == Qt.Key.Key_Left:
            value -= step
        elif key == Qt.Key.Key_Right:
            value += step
        elif key == Qt.Key.Key_Home:
            value = 0.0
        elif key == Qt.Key.Key_End:
            value = self.duration
        else:
            super().keyPressEvent(event)
            return
        self._move(self.active, value)
        self.range_changed.emit(self.start, self.end)

    # ------------------------------------------------------------------ paint

    def paintEvent(self, event: QPaintEvent) -> None:
        painter = QPainter(self)
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        pal = self.palette()
        track = self._track()
        painter.setPen(Qt.PenStyle.NoPen)
        painter.setBrush(pal.mid())
        painter.drawRoundedRect(track, 4, 4)
        if self.duration:
            sx, ex = self._x(self.start), self._x(self.end)
            kept = QRectF(sx, track.y(), ex - sx, track.height())
            accent = theme.accent()
            fill = QColor(accent)
            fill.setAlpha(90)
            painter.setBrush(fill)
            painter.drawRect(kept)
            for which, x in (("start", sx), ("end", ex)):
                colour = (
                    accent if (which == self.active and self.hasFocus()) else pal.text().color()
                )
                painter.setBrush(colour)
                left = x - HANDLE_W if which == "start" else x
                painter.drawRoundedRect(QRectF(left, 2, HANDLE_W, self.height() - 4), 3, 3)
            px = self._x(self.position)
            painter.setBrush(QColor("#ea4335"))
            painter.drawPolygon(QPolygonF([QPointF(px - 5, 0), QPointF(px + 5, 0), QPointF(px, 7)]))
            painter.setPen(QColor("#ea4335"))
            painter.drawLine(QPointF(px, 0), QPointF(px, self.height()))
        painter.end()
